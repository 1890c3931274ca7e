//! Per-world roles: list, create, edit, delete, assign; the default role's
//! constraints, the `Admin` role's protection, switching the default, roles of guests, and
//! the original's cross-world role manipulation hole closed.

mod common;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Backend, TestServer, assert_detail, assert_invalid, ids};

const NO_PERMISSION: &str = "Your role does not have permissions to access for this operation.";
const NOT_FOUND: &str = "Role(s) Not Found for this World";
const NAME_TAKEN: &str = "There is already a Role in this World, with this name ";
const DEFAULT_FLAGS: &str = "cannot give this permissions to default role";

const FLAGS: [&str; 10] = [
    "interact",
    "walk",
    "talk",
    "talk_conference",
    "world_mute",
    "role_manage",
    "conference_manage",
    "chat",
    "invite",
    "ban",
];

db_tests!(
    listing_roles_is_for_role_managers,
    creating_roles_rules,
    updating_roles_rules,
    admin_role_cannot_be_renamed_or_made_default,
    default_role_constraints,
    making_another_role_default_switches_the_default,
    deleting_roles_moves_holders_to_the_default_role,
    assigning_roles_rules,
    guests_can_be_assigned_roles,
    role_manager_cannot_delete_another_worlds_role,
    role_manager_cannot_assign_or_edit_another_worlds_role,
    concurrent_role_creation_with_the_same_name_yields_one_role,
    concurrent_default_switches_leave_exactly_one_default,
);

/// A world owned by a fresh user, with a member holding a `role_manage` role and a plain
/// member. Returns (owner, manager, member, world, manager role id) tokens and ids.
struct Fixture {
    owner: String,
    manager: String,
    manager_id: i64,
    member: String,
    member_id: i64,
    world: i64,
    manage_role: i64,
}

async fn fixture(s: &TestServer, name: &str) -> Fixture {
    let (_, owner) = s.user(&format!("{name}Owner")).await;
    let (manager_id, manager) = s.user(&format!("{name}Manager")).await;
    let (member_id, member) = s.user(&format!("{name}Member")).await;
    let world = s.world(&owner, name, true, true).await;
    s.join(&manager, world).await;
    s.join(&member, world).await;
    let manage_role = s
        .role(&owner, world, json!({"name": "managers", "role_manage": true}))
        .await;
    s.assign(&owner, world, manage_role, &manager_id.to_string()).await;
    Fixture {
        owner,
        manager,
        manager_id,
        member,
        member_id,
        world,
        manage_role,
    }
}

async fn roles_of(s: &TestServer, token: &str, world: i64) -> Value {
    let (st, v) = s.get(&format!("/worlds/{world}/roles"), Some(token)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

fn role_named<'a>(roles: &'a Value, name: &str) -> &'a Value {
    roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no role {name} in {roles}"))
}

async fn member_role(s: &TestServer, world: i64, user_id: i64) -> i64 {
    s.db().member(world, user_id).await.unwrap().expect("a member").role_id
}

async fn listing_roles_is_for_role_managers(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s, "Listing").await;
    let (_, stranger) = s.user("Stranger").await;
    let (guest, _) = s.guest().await;
    let path = format!("/worlds/{}/roles", f.world);
    assert_detail(&s.get(&path, Some(&guest)).await, 403, "Access Forbidden.");
    assert_detail(&s.get(&path, Some(&stranger)).await, 403, NO_PERMISSION);
    assert_detail(&s.get(&path, Some(&f.member)).await, 403, NO_PERMISSION);
    assert_detail(&s.get("/worlds/999999/roles", Some(&f.owner)).await, 403, NO_PERMISSION);
    for t in [&f.owner, &f.manager] {
        let roles = roles_of(&s, t, f.world).await;
        let names: Vec<&str> = roles
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["default", "Admin", "managers"], "ordered by id");
    }
    // Trailing slash, as the original routes are spelt.
    assert_eq!(s.get(&format!("{path}/"), Some(&f.owner)).await.0, StatusCode::OK);
    let roles = roles_of(&s, &f.owner, f.world).await;
    let managers = role_named(&roles, "managers");
    assert_eq!(managers["world_id"], f.world);
    assert_eq!(managers["role_id"], f.manage_role);
    for flag in FLAGS {
        assert_eq!(managers[flag], flag == "role_manage", "{flag} of {managers}");
    }
    assert_eq!(managers["is_default"], false);
}

async fn creating_roles_rules(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s, "Creating").await;
    let other = s.world(&f.owner, "OtherWorld", true, true).await;
    let (_, stranger) = s.user("Stranger").await;
    let (guest, _) = s.guest().await;
    let path = format!("/worlds/{}/roles/", f.world);
    let body = json!({"name": "speakers", "talk_conference": true, "world_id": other});

    assert_detail(
        &s.post(&path, Some(&guest), body.clone()).await,
        403,
        "Access Forbidden.",
    );
    assert_detail(&s.post(&path, Some(&stranger), body.clone()).await, 400, NO_PERMISSION);
    assert_detail(&s.post(&path, Some(&f.member), body.clone()).await, 400, NO_PERMISSION);

    let r = s.post(&path, Some(&f.manager), body.clone()).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["name"], "speakers");
    assert_eq!(r.1["world_id"], f.world, "the path's world, not the body's");
    assert_eq!(r.1["is_default"], false);
    for flag in FLAGS {
        assert_eq!(r.1[flag], flag == "talk_conference", "{flag}: unset flags are false");
    }
    assert!(roles_of(&s, &f.owner, other).await.as_array().unwrap().len() == 2);

    assert_detail(
        &s.post(&path, Some(&f.owner), json!({"name": "speakers"})).await,
        400,
        NAME_TAKEN,
    );
    assert_detail(
        &s.post(&path, Some(&f.owner), json!({"name": " speakers "})).await,
        400,
        NAME_TAKEN,
    );
    assert_detail(
        &s.post(&path, Some(&f.owner), json!({"name": "default"})).await,
        400,
        NAME_TAKEN,
    );
    assert_detail(
        &s.post(
            &path,
            Some(&f.owner),
            json!({"name": "second default", "is_default": true}),
        )
        .await,
        400,
        "There is a default role for this World",
    );
    // The same name is free in another world.
    assert_eq!(
        s.post(
            &format!("/worlds/{other}/roles"),
            Some(&f.owner),
            json!({"name": "speakers"})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_invalid(
        &s.post(&path, Some(&f.owner), json!({"name": "r".repeat(51)})).await,
        &["body", "name"],
    );
    assert_invalid(
        &s.post(&path, Some(&f.owner), json!({"name": "  "})).await,
        &["body", "name"],
    );
    assert_eq!(
        s.post(&path, Some(&f.owner), json!({"ban": true})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.post(&path, Some(&f.owner), json!({"name": "typed", "ban": "yes"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(roles_of(&s, &f.owner, f.world).await.as_array().unwrap().len(), 4);
}

async fn updating_roles_rules(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s, "Updating").await;
    let (_, stranger) = s.user("Stranger").await;
    let (guest, _) = s.guest().await;
    let role = s
        .role(&f.owner, f.world, json!({"name": "helpers", "chat": true}))
        .await;
    let path = format!("/worlds/{}/roles/{role}", f.world);

    assert_detail(
        &s.put(&path, Some(&guest), json!({"ban": true})).await,
        403,
        "Access Forbidden.",
    );
    assert_detail(
        &s.put(&path, Some(&stranger), json!({"ban": true})).await,
        403,
        NO_PERMISSION,
    );
    assert_detail(
        &s.put(&path, Some(&f.member), json!({"ban": true})).await,
        403,
        NO_PERMISSION,
    );
    assert_detail(
        &s.put(
            &format!("/worlds/{}/roles/999999", f.world),
            Some(&f.owner),
            json!({"ban": true}),
        )
        .await,
        400,
        NOT_FOUND,
    );

    let r = s
        .put(
            &path,
            Some(&f.manager),
            json!({"name": "moderators", "ban": true, "chat": false, "world_id": 12345}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["role_id"], role);
    assert_eq!(r.1["world_id"], f.world);
    assert_eq!(r.1["name"], "moderators");
    assert_eq!(r.1["ban"], true);
    assert_eq!(r.1["chat"], false);
    assert_eq!(r.1["is_default"], false);
    // Absent fields stay as they are.
    let r = s.put(&path, Some(&f.owner), json!({"invite": true})).await;
    assert_eq!(r.1["name"], "moderators");
    assert_eq!(r.1["ban"], true);
    assert_eq!(r.1["invite"], true);
    assert_eq!(role_named(&roles_of(&s, &f.owner, f.world).await, "moderators"), &r.1);

    // Name uniqueness on update too (fixed from the original); keeping one's own name is fine.
    assert_detail(
        &s.put(&path, Some(&f.owner), json!({"name": "managers"})).await,
        400,
        NAME_TAKEN,
    );
    assert_detail(
        &s.put(&path, Some(&f.owner), json!({"name": "Admin"})).await,
        400,
        NAME_TAKEN,
    );
    assert_eq!(
        s.put(&path, Some(&f.owner), json!({"name": "moderators"})).await.0,
        StatusCode::OK
    );
    assert_invalid(
        &s.put(&path, Some(&f.owner), json!({"name": ""})).await,
        &["body", "name"],
    );
    assert_eq!(
        role_named(&roles_of(&s, &f.owner, f.world).await, "moderators")["role_id"],
        role
    );
}

async fn admin_role_cannot_be_renamed_or_made_default(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s, "AdminRole").await;
    let roles = roles_of(&s, &f.owner, f.world).await;
    let admin = role_named(&roles, "Admin")["role_id"].as_i64().unwrap();
    let path = format!("/worlds/{}/roles/{admin}", f.world);
    assert_detail(
        &s.put(&path, Some(&f.owner), json!({"name": "Boss"})).await,
        400,
        "Cannot Change the name of the World Creator Role",
    );
    // Re-stating the same name is not a rename (the original refused it).
    let same = s
        .put(&path, Some(&f.owner), json!({"name": "Admin", "world_mute": false}))
        .await;
    assert_eq!(same.0, StatusCode::OK, "{}", same.1);
    assert_eq!(same.1["name"], "Admin");
    assert_eq!(same.1["world_mute"], false);
    assert_detail(
        &s.put(&path, Some(&f.owner), json!({"is_default": true})).await,
        400,
        DEFAULT_FLAGS,
    );
    assert_detail(
        &s.delete(&path, Some(&f.manager)).await,
        400,
        "Cannot delete the World Creator Role",
    );
    let after = roles_of(&s, &f.owner, f.world).await;
    assert_eq!(role_named(&after, "Admin")["is_default"], false);
    assert_eq!(role_named(&after, "default")["is_default"], true);
}

async fn default_role_constraints(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s, "Defaults").await;
    let roles = roles_of(&s, &f.owner, f.world).await;
    let default = role_named(&roles, "default")["role_id"].as_i64().unwrap();
    let path = format!("/worlds/{}/roles/{default}", f.world);
    assert_detail(
        &s.put(&path, Some(&f.owner), json!({"is_default": false})).await,
        400,
        "cannot remove default role",
    );
    for flag in [
        "talk_conference",
        "world_mute",
        "role_manage",
        "conference_manage",
        "invite",
        "ban",
    ] {
        assert_detail(
            &s.put(&path, Some(&f.owner), json!({flag: true})).await,
            400,
            DEFAULT_FLAGS,
        );
    }
    // talk, walk, chat and interact are fine, on or off; so is a rename.
    let r = s
        .put(
            &path,
            Some(&f.manager),
            json!({"walk": false, "talk": false, "chat": true, "interact": false, "name": "visitors"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["is_default"], true);
    assert_eq!(r.1["walk"], false);
    assert_eq!(r.1["interact"], false);
    assert_eq!(r.1["name"], "visitors");
    let r = s.put(&path, Some(&f.manager), json!({"interact": true})).await;
    assert_eq!(
        r.0,
        StatusCode::OK,
        "interact may be given to the default role: {}",
        r.1
    );
    assert_eq!(r.1["interact"], true);
    let stored = role_named(&roles_of(&s, &f.owner, f.world).await, "visitors").clone();
    for flag in [
        "talk_conference",
        "world_mute",
        "role_manage",
        "conference_manage",
        "invite",
        "ban",
    ] {
        assert_eq!(stored[flag], false, "{flag} stayed off");
    }
    assert_detail(
        &s.delete(&path, Some(&f.owner)).await,
        400,
        "Cannot delete the default role of a role",
    );
}

async fn making_another_role_default_switches_the_default(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s, "Switching").await;
    let roles = roles_of(&s, &f.owner, f.world).await;
    let old_default = role_named(&roles, "default")["role_id"].as_i64().unwrap();
    let walkers = s
        .role(&f.owner, f.world, json!({"name": "walkers", "walk": true}))
        .await;
    let banners = s
        .role(&f.owner, f.world, json!({"name": "banners", "ban": true, "walk": true}))
        .await;

    // A role with a forbidden flag cannot become the default; nothing changes.
    assert_detail(
        &s.put(
            &format!("/worlds/{}/roles/{banners}", f.world),
            Some(&f.owner),
            json!({"is_default": true}),
        )
        .await,
        400,
        DEFAULT_FLAGS,
    );
    assert_eq!(
        role_named(&roles_of(&s, &f.owner, f.world).await, "default")["is_default"],
        true
    );

    let r = s
        .put(
            &format!("/worlds/{}/roles/{walkers}", f.world),
            Some(&f.manager),
            json!({"is_default": true}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["is_default"], true);
    let after = roles_of(&s, &f.owner, f.world).await;
    let defaults: Vec<i64> = after
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["is_default"] == true)
        .map(|r| r["role_id"].as_i64().unwrap())
        .collect();
    assert_eq!(defaults, vec![walkers], "exactly one default role");

    // Newcomers, registered or guests, get the new default.
    let (newbie_id, newbie) = s.user("Newbie").await;
    assert_eq!(s.join(&newbie, f.world).await["role"]["role_id"], walkers);
    assert_eq!(member_role(&s, f.world, newbie_id).await, walkers);
    let (guest, _) = s.guest().await;
    assert_eq!(s.join(&guest, f.world).await["role"]["role_id"], walkers);
    // Existing members keep their role.
    assert_eq!(member_role(&s, f.world, f.member_id).await, old_default);

    // The old default is an ordinary role now: deletable, its holders move to the new one.
    let del = s
        .delete(&format!("/worlds/{}/roles/{old_default}", f.world), Some(&f.owner))
        .await;
    assert_eq!(del.0, StatusCode::OK, "{}", del.1);
    assert_eq!(member_role(&s, f.world, f.member_id).await, walkers);

    // Clearing the forbidden flag in the same request makes it eligible.
    let r = s
        .put(
            &format!("/worlds/{}/roles/{banners}", f.world),
            Some(&f.owner),
            json!({"is_default": true, "ban": false}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["ban"], false);
    let after = roles_of(&s, &f.owner, f.world).await;
    assert_eq!(role_named(&after, "banners")["is_default"], true);
    assert_eq!(role_named(&after, "walkers")["is_default"], false);
}

async fn deleting_roles_moves_holders_to_the_default_role(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s, "Deleting").await;
    let (_, stranger) = s.user("Stranger").await;
    let (guest, guest_id) = s.guest().await;
    s.join(&guest, f.world).await;
    let roles = roles_of(&s, &f.owner, f.world).await;
    let default = role_named(&roles, "default")["role_id"].as_i64().unwrap();
    let doomed = s
        .role(&f.owner, f.world, json!({"name": "doomed", "chat": true, "ban": true}))
        .await;
    s.assign(&f.owner, f.world, doomed, &f.member_id.to_string()).await;
    s.assign(&f.owner, f.world, doomed, &guest_id).await;
    let path = format!("/worlds/{}/roles/{doomed}", f.world);

    assert_detail(&s.delete(&path, Some(&guest)).await, 403, "Access Forbidden.");
    assert_detail(&s.delete(&path, Some(&stranger)).await, 403, NO_PERMISSION);
    assert_detail(&s.delete(&path, Some(&f.member)).await, 403, NO_PERMISSION);
    assert_detail(
        &s.delete(&format!("/worlds/{}/roles/999999", f.world), Some(&f.owner))
            .await,
        400,
        NOT_FOUND,
    );

    let r = s.delete(&path, Some(&f.manager)).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["role_id"], doomed);
    assert_eq!(r.1["name"], "doomed");
    assert_eq!(r.1["ban"], true);
    assert_eq!(member_role(&s, f.world, f.member_id).await, default);
    let g = s
        .get(&format!("/worlds/{}/users/{guest_id}", f.world), Some(&guest))
        .await;
    assert_eq!(g.1["role_id"], default, "{}", g.1);
    assert_eq!(
        member_role(&s, f.world, f.manager_id).await,
        f.manage_role,
        "others untouched"
    );
    let names: Vec<String> = roles_of(&s, &f.owner, f.world)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["default", "Admin", "managers"]);
    assert_detail(&s.delete(&path, Some(&f.owner)).await, 400, NOT_FOUND);
}

async fn assigning_roles_rules(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s, "Assigning").await;
    let (outsider_id, stranger) = s.user("Stranger").await;
    let (guest, _) = s.guest().await;
    let role = s
        .role(&f.owner, f.world, json!({"name": "speakers", "talk_conference": true}))
        .await;
    let path = |user: &str| format!("/worlds/{}/roles/{role}/users/{user}", f.world);
    let member = f.member_id.to_string();

    assert_detail(
        &s.post(&path(&member), Some(&guest), json!({})).await,
        403,
        "Access Forbidden.",
    );
    assert_detail(
        &s.post(&path("999999"), Some(&f.owner), json!({})).await,
        400,
        "User with this id was not found",
    );
    assert_detail(
        &s.post(&path(&member), Some(&stranger), json!({})).await,
        400,
        "Access Forbidden.",
    );
    assert_detail(
        &s.post(&path(&member), Some(&f.member), json!({})).await,
        400,
        "Access Forbidden.",
    );
    assert_detail(
        &s.post(
            &format!("/worlds/{}/roles/999999/users/{member}", f.world),
            Some(&f.owner),
            json!({}),
        )
        .await,
        400,
        NOT_FOUND,
    );
    assert_detail(
        &s.post(&path(&outsider_id.to_string()), Some(&f.owner), json!({})).await,
        400,
        "User is not registered in this world.",
    );
    assert_invalid(
        &s.post(&path("someone"), Some(&f.owner), json!({})).await,
        &["path", "user_id"],
    );
    let default = s.db().default_role(f.world).await.unwrap().unwrap().role_id;
    assert_eq!(
        member_role(&s, f.world, f.member_id).await,
        default,
        "refusals change nothing"
    );

    let r = s.post(&path(&member), Some(&f.manager), json!({})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(
        r.1,
        json!({"user_id": f.member_id, "world_id": f.world, "role_id": role, "username": "AssigningMember",
               "avatar": s.db().member(f.world, f.member_id).await.unwrap().unwrap().avatar})
    );
    assert_eq!(member_role(&s, f.world, f.member_id).await, role);
    assert_eq!(
        s.get(&format!("/worlds/{}/users/{member}", f.world), Some(&f.member))
            .await
            .1["role_id"],
        role
    );
    // The new role's permissions apply at once.
    assert_eq!(
        s.get(&format!("/worlds/{}/roles", f.world), Some(&f.member)).await.0,
        StatusCode::FORBIDDEN
    );
    s.assign(&f.owner, f.world, f.manage_role, &member).await;
    assert_eq!(
        s.get(&format!("/worlds/{}/roles", f.world), Some(&f.member)).await.0,
        StatusCode::OK
    );
}

async fn guests_can_be_assigned_roles(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s, "GuestRoles").await;
    let (guest, guest_id) = s.guest().await;
    let (_, absent_guest_id) = s.guest().await;
    let joined = s.join(&guest, f.world).await;
    let role = s
        .role(
            &f.owner,
            f.world,
            json!({"name": "guest speakers", "talk_conference": true}),
        )
        .await;

    let r = s
        .post(
            &format!("/worlds/{}/roles/{role}/users/{guest_id}", f.world),
            Some(&f.manager),
            json!({}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["user_id"], guest_id);
    assert_eq!(r.1["world_id"], f.world);
    assert_eq!(r.1["role_id"], role);
    assert_eq!(r.1["username"], joined["username"]);
    assert_eq!(r.1["avatar"], joined["avatar"]);
    let mine = s
        .get(&format!("/worlds/{}/users/{guest_id}", f.world), Some(&guest))
        .await;
    assert_eq!(mine.1["role_id"], role);
    let again = s.join(&guest, f.world).await;
    assert_eq!(again["role"]["role_id"], role);
    assert_eq!(again["role"]["name"], "guest speakers");
    assert_eq!(again["role"]["talk_conference"], true);
    // A guest who never entered the world has no profile to change.
    assert_detail(
        &s.post(
            &format!("/worlds/{}/roles/{role}/users/{absent_guest_id}", f.world),
            Some(&f.owner),
            json!({}),
        )
        .await,
        400,
        "User is not registered in this world.",
    );
}

/// Two worlds: the attacker manages roles in world A only; the victim world B has its own
/// custom role held by one of its members.
struct TwoWorlds {
    attacker: String,
    attacker_id: i64,
    world_a: i64,
    victim_owner: String,
    world_b: i64,
    b_role: i64,
    b_member_id: i64,
}

async fn two_worlds(s: &TestServer) -> TwoWorlds {
    let (_, a_owner) = s.user("AOwner").await;
    let (attacker_id, attacker) = s.user("Attacker").await;
    let (_, victim_owner) = s.user("VOwner").await;
    let (b_member_id, b_member) = s.user("VMember").await;
    let world_a = s.world(&a_owner, "World A", true, true).await;
    let world_b = s.world(&victim_owner, "World B", true, true).await;
    s.join(&attacker, world_a).await;
    let manage = s
        .role(&a_owner, world_a, json!({"name": "managers", "role_manage": true}))
        .await;
    s.assign(&a_owner, world_a, manage, &attacker_id.to_string()).await;
    s.join(&b_member, world_b).await;
    let b_role = s
        .role(
            &victim_owner,
            world_b,
            json!({"name": "vip", "talk_conference": true, "chat": true}),
        )
        .await;
    s.assign(&victim_owner, world_b, b_role, &b_member_id.to_string()).await;
    TwoWorlds {
        attacker,
        attacker_id,
        world_a,
        victim_owner,
        world_b,
        b_role,
        b_member_id,
    }
}

/// Everything a role manager could damage in world B.
async fn snapshot(s: &TestServer, t: &TwoWorlds) -> (Value, Value) {
    let roles = roles_of(s, &t.victim_owner, t.world_b).await;
    let members = s
        .get(&format!("/worlds/{}/users", t.world_b), Some(&t.victim_owner))
        .await;
    assert_eq!(members.0, StatusCode::OK);
    (roles, members.1)
}

async fn role_manager_cannot_delete_another_worlds_role(b: Backend) {
    let s = TestServer::start(b).await;
    let t = two_worlds(&s).await;
    let before = snapshot(&s, &t).await;
    // Through the attacker's own world: the role is not found there.
    assert_detail(
        &s.delete(&format!("/worlds/{}/roles/{}", t.world_a, t.b_role), Some(&t.attacker))
            .await,
        400,
        NOT_FOUND,
    );
    // Through the victim's world: no permission there.
    assert_detail(
        &s.delete(&format!("/worlds/{}/roles/{}", t.world_b, t.b_role), Some(&t.attacker))
            .await,
        403,
        NO_PERMISSION,
    );
    let after = snapshot(&s, &t).await;
    assert_eq!(after, before, "world B unchanged");
    assert_eq!(role_named(&after.0, "vip")["role_id"], t.b_role);
    assert_eq!(member_role(&s, t.world_b, t.b_member_id).await, t.b_role);
    assert_eq!(ids(&after.1, "user_id").len(), 2);
}

async fn role_manager_cannot_assign_or_edit_another_worlds_role(b: Backend) {
    let s = TestServer::start(b).await;
    let t = two_worlds(&s).await;
    let before = snapshot(&s, &t).await;
    let a_default = member_role(&s, t.world_a, t.attacker_id).await;
    // Assigning world B's role to oneself, or to B's member, through world A.
    for target in [t.attacker_id, t.b_member_id] {
        assert_detail(
            &s.post(
                &format!("/worlds/{}/roles/{}/users/{target}", t.world_a, t.b_role),
                Some(&t.attacker),
                json!({}),
            )
            .await,
            400,
            NOT_FOUND,
        );
    }
    // Editing it through world A.
    assert_detail(
        &s.put(
            &format!("/worlds/{}/roles/{}", t.world_a, t.b_role),
            Some(&t.attacker),
            json!({"name": "pwned", "ban": true, "role_manage": true}),
        )
        .await,
        400,
        NOT_FOUND,
    );
    // Through world B directly.
    assert_detail(
        &s.post(
            &format!("/worlds/{}/roles/{}/users/{}", t.world_b, t.b_role, t.b_member_id),
            Some(&t.attacker),
            json!({}),
        )
        .await,
        400,
        "Access Forbidden.",
    );
    assert_detail(
        &s.put(
            &format!("/worlds/{}/roles/{}", t.world_b, t.b_role),
            Some(&t.attacker),
            json!({"ban": true}),
        )
        .await,
        403,
        NO_PERMISSION,
    );
    assert_eq!(snapshot(&s, &t).await, before, "world B unchanged");
    assert_eq!(member_role(&s, t.world_a, t.attacker_id).await, a_default);
    assert!(s.db().member(t.world_b, t.attacker_id).await.unwrap().is_none());
}

async fn concurrent_role_creation_with_the_same_name_yields_one_role(b: Backend) {
    let s = Arc::new(TestServer::start(b).await);
    let (_, owner) = s.user("Racer").await;
    let world = s.world(&owner, "Race", true, true).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (s, owner) = (s.clone(), owner.clone());
        tasks.push(tokio::spawn(async move {
            s.post(
                &format!("/worlds/{world}/roles"),
                Some(&owner),
                json!({"name": "racers"}),
            )
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.0 {
            StatusCode::OK => ok += 1,
            _ => assert_detail(&r, 400, NAME_TAKEN),
        }
    }
    assert_eq!(ok, 1, "exactly one of the racing creations wins");
    let roles = roles_of(&s, &owner, world).await;
    assert_eq!(
        roles
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["name"] == "racers")
            .count(),
        1
    );
}

async fn concurrent_default_switches_leave_exactly_one_default(b: Backend) {
    let s = Arc::new(TestServer::start(b).await);
    let (_, owner) = s.user("Switcher").await;
    let world = s.world(&owner, "Switches", true, true).await;
    let mut candidates = Vec::new();
    for i in 0..6 {
        candidates.push(
            s.role(&owner, world, json!({"name": format!("candidate {i}"), "walk": true}))
                .await,
        );
    }
    for round in 0..3 {
        let mut tasks = Vec::new();
        for &role in &candidates {
            let (s, owner) = (s.clone(), owner.clone());
            tasks.push(tokio::spawn(async move {
                s.put(
                    &format!("/worlds/{world}/roles/{role}"),
                    Some(&owner),
                    json!({"is_default": true}),
                )
                .await
            }));
        }
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r.0, StatusCode::OK, "round {round}: {}", r.1);
        }
        let roles = roles_of(&s, &owner, world).await;
        let defaults = roles
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["is_default"] == true)
            .count();
        assert_eq!(defaults, 1, "round {round}: {roles}");
    }
}
