//! Worlds and memberships (as in the original API, with its holes closed): search and its visibility
//! filters, details and who may see them, create/update/delete, joining (registered users,
//! guests, invites), the member list, per-member profiles and world bans.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Backend, TestServer, assert_detail, assert_invalid, default_map, ids, world_body};

const NOT_AVAILABLE: &str = "World Not Found or is not currently available.";
const EDITION_FORBIDDEN: &str = "You dont have access to edit this world or it does not exist.";
const BAD_FILTER: &str = "The filter provided is not valid.";
const NAME_TAKEN: &str = "A world with this name already exists.";
const NO_ROLE_PERMISSION: &str = "Your role does not have access to this functionality.";

db_tests!(
    a_picture_data_url_is_stored_apart_and_listed_as_a_short_url,
    pictures_that_are_not_images_we_serve_are_refused,
    pictures_stored_inline_by_earlier_versions_move_out_at_start,
    worlds_per_user_are_capped,
    a_map_the_server_cannot_run_is_refused_saying_why,
    a_decompression_bomb_map_is_refused_and_the_server_stays_responsive,
    world_edits_are_rate_limited_per_user,
    search_requires_a_valid_visibility_filter,
    search_scopes_for_users_guests_and_superusers,
    search_by_tags_is_an_or_filter_with_full_pages,
    search_text_matches_percent_and_underscore_literally,
    search_pages_return_limit_plus_one_in_creation_order,
    get_world_visibility_for_registered_users,
    get_world_visibility_for_guests,
    create_world_validates_and_sets_up_roles_and_membership,
    deleted_world_frees_its_name,
    update_world_rules,
    only_superusers_change_world_status,
    delete_world_is_for_the_creator_only,
    registered_join_rules,
    guest_join_rules,
    capacity_fields_accept_unlimited_and_bounded_values,
    invite_flow_admits_users_and_guests_to_private_worlds,
    invite_generation_needs_the_invite_flag_or_being_creator,
    invites_refuse_closed_worlds_banned_members_guests_and_revoked_issuers,
    member_list_is_for_role_managers,
    own_membership_can_be_read_and_edited,
    guest_membership_rules,
    ban_role_holder_bans_members_but_cannot_edit_their_profile,
    nobody_but_a_superuser_can_ban_the_creator,
    banned_member_is_refused_on_join_and_on_get,
    banned_creator_loses_access_to_their_private_world,
    concurrent_world_creation_with_the_same_name_yields_one_world,
    concurrent_renames_to_the_same_name_yield_one_winner,
    concurrent_joins_of_one_user_make_one_membership_counting_every_join,
    names_are_unique_and_searchable_across_unicode_case,
    search_follows_renames_and_new_descriptions,
);

/// Names of the worlds in a list response, as a set.
fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected a list, got {list}"))
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `GET /worlds?<query>` as `token`, asserting 200.
async fn search(s: &TestServer, token: &str, query: &str) -> Value {
    let (st, v) = s.get(&format!("/worlds?{query}"), Some(token)).await;
    assert_eq!(st, StatusCode::OK, "search {query} failed: {v}");
    v
}

async fn search_requires_a_valid_visibility_filter(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, user) = s.user("Una").await;
    let (guest, _) = s.guest().await;
    assert_detail(&s.get("/worlds", Some(&user)).await, 400, BAD_FILTER);
    assert_detail(
        &s.get("/worlds?visibility=everything", Some(&user)).await,
        400,
        BAD_FILTER,
    );
    assert_detail(&s.get("/worlds", Some(&guest)).await, 400, BAD_FILTER);
    for v in ["joined", "owned", "bogus"] {
        assert_detail(
            &s.get(&format!("/worlds?visibility={v}"), Some(&guest)).await,
            400,
            BAD_FILTER,
        );
    }
    let admin = s.admin().await;
    assert_detail(&s.get("/worlds?visibility=bogus", Some(&admin)).await, 400, BAD_FILTER);
    assert_detail(
        &s.get("/worlds?visibility=public", None).await,
        401,
        "Not authenticated",
    );
    // Trailing slash tolerated.
    assert_eq!(s.get("/worlds/?visibility=public", Some(&user)).await.0, StatusCode::OK);
}

async fn search_scopes_for_users_guests_and_superusers(b: Backend) {
    let s = TestServer::start(b).await;
    let (owner_id, owner) = s.user("Olga").await;
    let (member_id, member) = s.user("Mia").await;
    let (_, stranger) = s.user("Sven").await;
    let (guest, _) = s.guest().await;
    let admin = s.admin().await;
    let open = s.world(&owner, "Open", true, true).await;
    let no_guests = s.world(&owner, "NoGuests", true, false).await;
    let _private = s.world(&owner, "Private", false, true).await;
    let banned = s.world(&owner, "Banned", true, true).await;
    let deleted = s.world(&owner, "Deleted", true, true).await;
    s.join(&member, open).await;
    s.join(&member, no_guests).await;
    s.join(&member, banned).await;
    assert_eq!(
        s.set_member_status(&owner, no_guests, &member_id.to_string(), 1)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        s.put(&format!("/worlds/{banned}"), Some(&admin), json!({"status": 1}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        s.delete(&format!("/worlds/{deleted}"), Some(&owner)).await.0,
        StatusCode::OK
    );

    // Public: open, public worlds only.
    assert_eq!(
        names(&search(&s, &stranger, "visibility=public").await),
        set(&["Open", "NoGuests"])
    );
    // Guests: public, guest-enabled, open worlds only.
    assert_eq!(names(&search(&s, &guest, "visibility=public").await), set(&["Open"]));
    // Joined: every world with a membership (banned worlds and bans included), not deleted.
    assert_eq!(
        names(&search(&s, &member, "visibility=joined").await),
        set(&["Open", "NoGuests", "Banned"])
    );
    assert!(
        search(&s, &stranger, "visibility=joined")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Owned: the caller's worlds, banned included, deleted not.
    let owned = set(&["Open", "NoGuests", "Private", "Banned"]);
    assert_eq!(names(&search(&s, &owner, "visibility=owned").await), owned);
    assert_eq!(names(&search(&s, &owner, "visibility=joined").await), owned);
    assert!(
        search(&s, &member, "visibility=owned")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Superusers without a visibility filter choose statuses.
    assert!(search(&s, &admin, "").await.as_array().unwrap().is_empty());
    assert_eq!(
        names(&search(&s, &admin, "normal=true").await),
        set(&["Open", "NoGuests", "Private"])
    );
    assert_eq!(names(&search(&s, &admin, "banned=true").await), set(&["Banned"]));
    assert_eq!(names(&search(&s, &admin, "deleted=true").await), set(&["Deleted"]));
    assert_eq!(
        search(&s, &admin, "normal=true&banned=true&deleted=true&limit=20")
            .await
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        names(&search(&s, &admin, &format!("normal=true&banned=1&creator={owner_id}")).await),
        set(&["Open", "NoGuests", "Private", "Banned"])
    );
    assert!(
        search(&s, &admin, &format!("normal=true&creator={member_id}"))
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    // With a visibility filter, superusers see what users see.
    assert_eq!(
        names(&search(&s, &admin, "visibility=public").await),
        set(&["Open", "NoGuests"])
    );
    // Each row is a WorldInDB without the map.
    let rows = search(&s, &stranger, "visibility=public&search=Open").await;
    let w = &rows[0];
    assert_eq!(w["world_id"], open);
    assert_eq!(w["creator"], owner_id);
    assert_eq!(w["public"], true);
    assert_eq!(w["allow_guests"], true);
    assert_eq!(w["status"], 0);
    assert_eq!(w["online_users"], 0);
    assert_eq!(w["tags"], json!([]));
    assert!(w.get("world_map").is_none(), "search rows carry no map");
}

async fn search_by_tags_is_an_or_filter_with_full_pages(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Tad").await;
    let (_, reader) = s.user("Rea").await;
    for (name, tags) in [
        ("SciFun", vec!["Science", "Fun"]),
        ("Sci", vec!["Science"]),
        ("FunOffice", vec!["Fun", "Office"]),
        ("Office", vec!["Office"]),
        ("All", vec!["Science", "Fun", "Office"]),
        ("Untagged", vec![]),
    ] {
        let mut body = world_body(name, true, true);
        body["tags"] = json!(tags);
        let r = s.create_world(&owner, body).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    }
    let q = "visibility=public&tags=Science&tags=Fun";
    let all = search(&s, &reader, &format!("{q}&limit=10")).await;
    assert_eq!(names(&all), set(&["SciFun", "Sci", "FunOffice", "All"]));
    // A world matching several of the tags appears once, with all its tags (sorted).
    let every = all.as_array().unwrap().iter().find(|w| w["name"] == "All").unwrap();
    assert_eq!(
        every["tags"],
        json!([{"name": "Fun"}, {"name": "Office"}, {"name": "Science"}])
    );
    // Pages are full: the de-duplication happens before LIMIT.
    let p1 = search(&s, &reader, &format!("{q}&limit=2&page=1")).await;
    let p2 = search(&s, &reader, &format!("{q}&limit=2&page=2")).await;
    let p3 = search(&s, &reader, &format!("{q}&limit=2&page=3")).await;
    assert_eq!(p1.as_array().unwrap().len(), 3, "limit + 1 rows: {p1}");
    assert_eq!(p2.as_array().unwrap().len(), 2, "{p2}");
    assert!(p3.as_array().unwrap().is_empty());
    let mut seen: Vec<i64> = ids(&p1, "world_id")[..2].to_vec();
    seen.extend(ids(&p2, "world_id"));
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 4, "pages overlap: {seen:?}");
    // Every offset is exact, whatever the number of matching tags per world.
    let in_order = ids(&all, "world_id");
    for page in 1..=4 {
        let one = search(&s, &reader, &format!("{q}&limit=1&page={page}")).await;
        assert_eq!(ids(&one, "world_id")[0], in_order[page - 1], "page {page}: {one}");
    }
    // One tag, and an unknown tag.
    assert_eq!(
        names(&search(&s, &reader, "visibility=public&tags=Office").await),
        set(&["FunOffice", "Office", "All"])
    );
    assert!(
        search(&s, &reader, "visibility=public&tags=Nope")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn search_text_matches_percent_and_underscore_literally(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Pat").await;
    for (name, description) in [
        ("50% Off", None),
        ("500 Offers", None),
        ("snake_case", None),
        ("snakeXcase", None),
        ("Quiet", Some("A Library_Room for full% focus")),
        ("Loud", Some("a libraryXroom")),
        ("Back\\slash", None),
    ] {
        let mut body = world_body(name, true, false);
        body["description"] = json!(description);
        assert_eq!(s.create_world(&owner, body).await.0, StatusCode::OK);
    }
    let find = |text: &str| find_worlds(&s, &owner, text.to_owned());
    assert_eq!(find("0%").await, set(&["50% Off"]));
    assert_eq!(find("%").await, set(&["50% Off", "Quiet"]));
    assert_eq!(find("e_c").await, set(&["snake_case"]));
    assert_eq!(find("_").await, set(&["snake_case", "Quiet"]));
    // Case-insensitive, on the name or the description.
    assert_eq!(find("\\").await, set(&["Back\\slash"]));
    assert_eq!(find("k\\s").await, set(&["Back\\slash"]));
    assert_eq!(find("SNAKE").await, set(&["snake_case", "snakeXcase"]));
    assert_eq!(find("library_room").await, set(&["Quiet"]));
    assert_eq!(find("LIBRARY").await, set(&["Quiet", "Loud"]));
    assert_eq!(find("off").await, set(&["50% Off", "500 Offers"]));
    assert!(find("nothing like this").await.is_empty());
    // Overlong search text is refused.
    let long = "x".repeat(101);
    assert_eq!(
        s.get(&format!("/worlds?visibility=public&search={long}"), Some(&owner))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

/// Names of the public worlds whose name or description contains `text`.
async fn find_worlds(s: &TestServer, token: &str, text: String) -> BTreeSet<String> {
    let enc = text.replace('%', "%25");
    names(&search(s, token, &format!("visibility=public&search={enc}")).await)
}

async fn search_pages_return_limit_plus_one_in_creation_order(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Pia").await;
    let mut created = Vec::new();
    for i in 1..=5 {
        created.push(s.world(&owner, &format!("Page {i}"), true, true).await);
    }
    let newest_first: Vec<i64> = created.iter().rev().copied().collect();
    let q = "visibility=owned&limit=2";
    assert_eq!(ids(&search(&s, &owner, q).await, "world_id"), newest_first[0..3]);
    assert_eq!(
        ids(&search(&s, &owner, &format!("{q}&page=2")).await, "world_id"),
        newest_first[2..5]
    );
    assert_eq!(
        ids(&search(&s, &owner, &format!("{q}&page=3")).await, "world_id"),
        newest_first[4..5]
    );
    assert_eq!(
        ids(&search(&s, &owner, &format!("{q}&order=asc")).await, "world_id"),
        created[0..3]
    );
    assert_eq!(
        ids(
            &search(&s, &owner, "visibility=owned&order_by=name&order=desc").await,
            "world_id"
        ),
        newest_first
    );
    // Default page size is 10: five worlds come back as five rows.
    assert_eq!(
        search(&s, &owner, "visibility=owned").await.as_array().unwrap().len(),
        5
    );
    assert_eq!(
        search(&s, &owner, "visibility=owned&limit=4")
            .await
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        search(&s, &owner, "visibility=owned&limit=100")
            .await
            .as_array()
            .unwrap()
            .len(),
        5
    );
    for page in ["0", "-1", "1000001"] {
        assert_detail(
            &s.get(&format!("/worlds?visibility=owned&page={page}"), Some(&owner))
                .await,
            400,
            "Invalid page number.",
        );
    }
    for limit in ["0", "101", "-5"] {
        assert_invalid(
            &s.get(&format!("/worlds?visibility=owned&limit={limit}"), Some(&owner))
                .await,
            &["query", "limit"],
        );
    }
    assert_eq!(
        s.get("/worlds?visibility=owned&page=1000000", Some(&owner)).await.0,
        StatusCode::OK
    );
}

async fn get_world_visibility_for_registered_users(b: Backend) {
    let s = TestServer::start(b).await;
    let (owner_id, owner) = s.user("Odo").await;
    let (_, stranger) = s.user("Stu").await;
    let (manager_id, manager) = s.user("Max").await;
    let admin = s.admin().await;
    let public = s.world(&owner, "Public", true, true).await;
    let private = s.world(&owner, "Private", false, false).await;

    let r = s.get(&format!("/worlds/{public}"), Some(&stranger)).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["world_id"], public);
    assert_eq!(r.1["creator"], owner_id);
    assert_eq!(r.1["is_creator"], false);
    assert_eq!(r.1["can_manage"], false);
    assert_eq!(r.1["world_map"], default_map());
    assert_eq!(r.1["online_users"], 0);

    // Private worlds: hidden from non-members (fixed from the original).
    assert_detail(
        &s.get(&format!("/worlds/{private}"), Some(&stranger)).await,
        400,
        NOT_AVAILABLE,
    );
    let mine = s.get(&format!("/worlds/{private}"), Some(&owner)).await;
    assert_eq!(mine.0, StatusCode::OK);
    assert_eq!(mine.1["is_creator"], true);
    assert_eq!(mine.1["can_manage"], true);
    let su = s.get(&format!("/worlds/{private}"), Some(&admin)).await;
    assert_eq!(su.0, StatusCode::OK);
    assert_eq!(su.1["is_creator"], false);
    assert_eq!(su.1["can_manage"], false);
    // A member admitted by invite sees it; a role manager gets can_manage.
    let invite = s.invite(&owner, private).await;
    assert_eq!(
        s.post(&format!("/worlds/invite/{invite}"), Some(&manager), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    let as_member = s.get(&format!("/worlds/{private}"), Some(&manager)).await;
    assert_eq!(as_member.0, StatusCode::OK);
    assert_eq!(as_member.1["can_manage"], false);
    let role = s
        .role(&owner, private, json!({"name": "managers", "role_manage": true}))
        .await;
    s.assign(&owner, private, role, &manager_id.to_string()).await;
    assert_eq!(
        s.get(&format!("/worlds/{private}"), Some(&manager)).await.1["can_manage"],
        true
    );

    // Banned worlds: only the creator and superusers.
    s.join(&stranger, public).await;
    assert_eq!(
        s.put(&format!("/worlds/{public}"), Some(&admin), json!({"status": 1}))
            .await
            .0,
        StatusCode::OK
    );
    assert_detail(
        &s.get(&format!("/worlds/{public}"), Some(&stranger)).await,
        400,
        NOT_AVAILABLE,
    );
    let banned = s.get(&format!("/worlds/{public}"), Some(&owner)).await;
    assert_eq!(banned.0, StatusCode::OK);
    assert_eq!(banned.1["status"], 1);
    assert_eq!(
        s.get(&format!("/worlds/{public}"), Some(&admin)).await.0,
        StatusCode::OK
    );

    // Deleted and unknown worlds: nobody.
    assert_eq!(
        s.delete(&format!("/worlds/{private}"), Some(&owner)).await.0,
        StatusCode::OK
    );
    for t in [&owner, &admin, &manager] {
        assert_detail(&s.get(&format!("/worlds/{private}"), Some(t)).await, 400, NOT_AVAILABLE);
    }
    assert_detail(&s.get("/worlds/999999", Some(&admin)).await, 400, NOT_AVAILABLE);
    assert_invalid(&s.get("/worlds/abc", Some(&admin)).await, &["path"]);
}

async fn get_world_visibility_for_guests(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Gil").await;
    let admin = s.admin().await;
    let (guest, _) = s.guest().await;
    let open = s.world(&owner, "Open", true, true).await;
    let members_only = s.world(&owner, "NoGuests", true, false).await;
    let private = s.world(&owner, "PrivateGuests", false, true).await;

    let r = s.get(&format!("/worlds/{open}"), Some(&guest)).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["is_creator"], false);
    assert_eq!(r.1["can_manage"], false);
    assert!(r.1["world_map"].is_string());
    assert_detail(
        &s.get(&format!("/worlds/{members_only}"), Some(&guest)).await,
        400,
        NOT_AVAILABLE,
    );
    assert_detail(
        &s.get(&format!("/worlds/{private}"), Some(&guest)).await,
        400,
        NOT_AVAILABLE,
    );
    // After entering by invite, the guest may see the private world.
    let invite = s.invite(&owner, private).await;
    let joined = s
        .post(&format!("/worlds/invite/{invite}"), Some(&guest), json!({}))
        .await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    assert_eq!(
        s.get(&format!("/worlds/{private}"), Some(&guest)).await.0,
        StatusCode::OK
    );
    // Banned worlds are closed to guests.
    s.put(&format!("/worlds/{open}"), Some(&admin), json!({"status": 1}))
        .await;
    assert_detail(
        &s.get(&format!("/worlds/{open}"), Some(&guest)).await,
        400,
        NOT_AVAILABLE,
    );
}

async fn create_world_validates_and_sets_up_roles_and_membership(b: Backend) {
    let s = TestServer::start(b).await;
    let (owner_id, owner) = s.user("Cara").await;
    let (guest, _) = s.guest().await;

    let mut body = world_body("  My World  ", false, true);
    body["tags"] = json!(["Fun", "Education"]);
    body["description"] = json!("A place");
    body["profile_image"] = json!(png_data_url(10).1);
    // Trailing slash, as the original client sends it.
    let r = s.post("/worlds/", Some(&owner), body.clone()).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let w = &r.1;
    let id = w["world_id"].as_i64().unwrap();
    assert_eq!(w["name"], "My World", "name is trimmed");
    assert_eq!(w["creator"], owner_id);
    assert_eq!(w["description"], "A place");
    assert_eq!(w["max_users"], Value::Null, "omitted max_users is unlimited");
    assert_eq!(w["public"], false);
    assert_eq!(w["allow_guests"], true);
    assert_eq!(w["status"], 0);
    assert!(w["profile_image"].as_str().unwrap().contains("/api/v1/images/"), "{w}");
    assert_eq!(w["tags"], json!([{"name": "Education"}, {"name": "Fun"}]));
    assert_eq!(w["world_map"], default_map());
    assert_eq!(w["online_users"], 0);
    assert_eq!(w["creation_date"], w["update_date"]);
    assert!(
        chrono::NaiveDateTime::parse_from_str(w["creation_date"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.f").is_ok(),
        "ISO datetime: {}",
        w["creation_date"]
    );

    // The world has `default` and `Admin`; the creator is a member holding `Admin`.
    let roles = s.get(&format!("/worlds/{id}/roles"), Some(&owner)).await;
    assert_eq!(roles.0, StatusCode::OK);
    let roles = roles.1.as_array().unwrap().clone();
    assert_eq!(roles.len(), 2);
    let default = roles.iter().find(|r| r["name"] == "default").unwrap();
    let admin_role = roles.iter().find(|r| r["name"] == "Admin").unwrap();
    assert_eq!(default["is_default"], true);
    assert_eq!(default["interact"], true, "members may use file boards by default");
    assert_eq!(
        (
            default["walk"].clone(),
            default["talk"].clone(),
            default["chat"].clone(),
            default["ban"].clone()
        ),
        (json!(true), json!(true), json!(true), json!(false))
    );
    assert_eq!(admin_role["is_default"], false);
    for flag in [
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
    ] {
        assert_eq!(admin_role[flag], true, "Admin has {flag}");
    }
    let me = s.get(&format!("/worlds/{id}/users/{owner_id}"), Some(&owner)).await;
    assert_eq!(me.0, StatusCode::OK, "{}", me.1);
    assert_eq!(me.1["role_id"], admin_role["role_id"]);
    assert_eq!(me.1["username"], "Cara");
    assert_eq!(me.1["status"], 0);

    // Refusals.
    assert_detail(
        &s.create_world(&guest, world_body("G", true, true)).await,
        403,
        "Access Forbidden.",
    );
    assert_detail(
        &s.create_world(&owner, world_body("my world", true, true)).await,
        400,
        NAME_TAKEN,
    );
    let (_, other) = s.user("Dan").await;
    assert_detail(
        &s.create_world(&other, world_body("MY WORLD ", true, true)).await,
        400,
        NAME_TAKEN,
    );
    let mut bad_tag = world_body("Tagged", true, true);
    bad_tag["tags"] = json!(["Fun", "NoSuchTag"]);
    assert_detail(
        &s.create_world(&owner, bad_tag).await,
        400,
        "Invalid Tag. Tag does not exist.",
    );
    let owned = s.get("/worlds?visibility=owned", Some(&owner)).await.1;
    assert_eq!(
        names(&owned),
        set(&["My World"]),
        "nothing persisted by refused creations"
    );

    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut b1 = world_body("", true, true);
    b1["name"] = json!("   ");
    cases.push((b1, "name"));
    cases.push((world_body(&"n".repeat(51), true, true), "name"));
    let mut b3 = world_body("Desc", true, true);
    b3["description"] = json!("d".repeat(301));
    cases.push((b3, "description"));
    for bad in [0, 1001, -1] {
        let mut b = world_body("Cap", true, true);
        b["max_users"] = json!(bad);
        cases.push((b, "max_users"));
    }
    let mut b5 = world_body("Map", true, true);
    b5["world_map"] = json!("not json");
    cases.push((b5, "world_map"));
    let mut b6 = world_body("Map2", true, true);
    b6["world_map"] = json!("[1, 2]");
    cases.push((b6, "world_map"));
    for (body, field) in cases {
        let r = s.create_world(&owner, body.clone()).await;
        assert_invalid(&r, &["body", field]);
    }
    let mut capacity = world_body("Cap", true, true);
    capacity["max_users"] = json!(0);
    assert_eq!(
        s.create_world(&owner, capacity).await.1["detail"][0]["msg"],
        "Max_Users should be between 1 and 1000"
    );
    // Missing required fields.
    for field in ["name", "public", "allow_guests", "tags", "world_map"] {
        let mut body = world_body("Missing", true, true);
        body.as_object_mut().unwrap().remove(field);
        let r = s.create_world(&owner, body).await;
        assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "without {field}: {}", r.1);
    }
}

async fn deleted_world_frees_its_name(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Rex").await;
    let first = s.world(&owner, "Reusable", true, true).await;
    assert_detail(
        &s.create_world(&owner, world_body("Reusable", true, true)).await,
        400,
        NAME_TAKEN,
    );
    assert_eq!(
        s.delete(&format!("/worlds/{first}"), Some(&owner)).await.0,
        StatusCode::OK
    );
    let second = s.world(&owner, "Reusable", true, true).await;
    assert_ne!(first, second);
}

async fn update_world_rules(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Uma").await;
    let (_, stranger) = s.user("Vic").await;
    let (guest, _) = s.guest().await;
    let admin = s.admin().await;
    let mut body = world_body("Editable", true, true);
    body["tags"] = json!(["Fun"]);
    let id = s.create_world(&owner, body).await.1["world_id"].as_i64().unwrap();
    let other = s.world(&owner, "Other", true, true).await;
    let path = format!("/worlds/{id}");
    let before = s.get(&path, Some(&owner)).await.1;

    assert_detail(
        &s.put(&path, Some(&guest), json!({"name": "G"})).await,
        403,
        "Access Forbidden.",
    );
    assert_detail(
        &s.put(&path, Some(&stranger), json!({"name": "S"})).await,
        400,
        EDITION_FORBIDDEN,
    );
    assert_detail(
        &s.put("/worlds/999999", Some(&admin), json!({"name": "S"})).await,
        400,
        EDITION_FORBIDDEN,
    );

    let map = serde_json::to_string(&json!({"width": 2, "height": 2, "layers": []})).unwrap();
    let r = s
        .put(
            &path,
            Some(&owner),
            json!({"name": "Edited", "description": "new", "max_users": 25, "public": false,
                   "allow_guests": false, "tags": ["Science", "Office"], "world_map": map,
                   "profile_image": "img"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["name"], "Edited");
    assert_eq!(r.1["description"], "new");
    assert_eq!(r.1["max_users"], 25);
    assert_eq!(r.1["public"], false);
    assert_eq!(r.1["allow_guests"], false);
    assert_eq!(r.1["profile_image"], "img");
    assert_eq!(
        r.1["tags"],
        json!([{"name": "Office"}, {"name": "Science"}]),
        "tags replaced"
    );
    assert_eq!(r.1["world_map"], map);
    assert_eq!(r.1["creation_date"], before["creation_date"]);
    assert!(
        r.1["update_date"].as_str().unwrap() >= before["update_date"].as_str().unwrap(),
        "update_date moves forward"
    );
    // Absent fields are left alone; an empty tag list clears the tags.
    let r = s.put(&path, Some(&owner), json!({"tags": []})).await;
    assert_eq!(r.1["tags"], json!([]));
    assert_eq!(r.1["name"], "Edited");
    assert_eq!(r.1["max_users"], 25);
    let stored = s.get(&path, Some(&owner)).await.1;
    assert_eq!(stored["world_map"], map);
    assert_eq!(stored["description"], "new");

    // Name uniqueness holds on update too (fixed from the original), case-insensitively, but a world
    // may keep (or re-case) its own name.
    assert_detail(
        &s.put(&path, Some(&owner), json!({"name": "other"})).await,
        400,
        NAME_TAKEN,
    );
    assert_detail(
        &s.put(&path, Some(&owner), json!({"name": " Other "})).await,
        400,
        NAME_TAKEN,
    );
    let recased = s.put(&path, Some(&owner), json!({"name": "EDITED"})).await;
    assert_eq!(recased.0, StatusCode::OK, "{}", recased.1);
    assert_eq!(recased.1["name"], "EDITED");
    assert_eq!(
        s.get(&format!("/worlds/{other}"), Some(&owner)).await.1["name"],
        "Other"
    );

    assert_detail(
        &s.put(&path, Some(&owner), json!({"tags": ["Fun", "Nope"]})).await,
        400,
        "Invalid Tag. Tag does not exist.",
    );
    for bad in [json!({"max_users": 0}), json!({"max_users": 1001})] {
        assert_invalid(&s.put(&path, Some(&owner), bad).await, &["body", "max_users"]);
    }
    assert_invalid(
        &s.put(&path, Some(&owner), json!({"name": ""})).await,
        &["body", "name"],
    );
    assert_invalid(
        &s.put(&path, Some(&owner), json!({"world_map": "{oops"})).await,
        &["body", "world_map"],
    );
    assert_eq!(
        s.get(&path, Some(&owner)).await.1["tags"],
        json!([]),
        "refused updates change nothing"
    );

    // A superuser may edit any world.
    let su = s.put(&path, Some(&admin), json!({"description": "by admin"})).await;
    assert_eq!(su.0, StatusCode::OK, "{}", su.1);
    assert_eq!(su.1["description"], "by admin");

    // Deleted worlds cannot be edited.
    s.delete(&path, Some(&owner)).await;
    assert_detail(
        &s.put(&path, Some(&owner), json!({"name": "Back"})).await,
        400,
        EDITION_FORBIDDEN,
    );
    assert_detail(
        &s.put(&path, Some(&admin), json!({"name": "Back"})).await,
        400,
        EDITION_FORBIDDEN,
    );
}

async fn only_superusers_change_world_status(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Sal").await;
    let admin = s.admin().await;
    let id = s.world(&owner, "Statused", true, true).await;
    let path = format!("/worlds/{id}");
    // Creators cannot set a status at all (fixed from the original).
    for status in [0, 1] {
        assert_detail(
            &s.put(&path, Some(&owner), json!({"status": status})).await,
            403,
            "Access Forbidden.",
        );
    }
    assert_detail(
        &s.put(&path, Some(&owner), json!({"status": 1, "name": "Sneaky"})).await,
        403,
        "Access Forbidden.",
    );
    assert_eq!(s.get(&path, Some(&owner)).await.1["name"], "Statused");
    // Superusers: 0 or 1 only; deleting goes through DELETE.
    for bad in [2, 3, -1] {
        assert_invalid(
            &s.put(&path, Some(&admin), json!({"status": bad})).await,
            &["body", "status"],
        );
    }
    let banned = s.put(&path, Some(&admin), json!({"status": 1})).await;
    assert_eq!(banned.0, StatusCode::OK, "{}", banned.1);
    assert_eq!(banned.1["status"], 1);
    // The creator cannot edit a banned world.
    assert_detail(
        &s.put(&path, Some(&owner), json!({"name": "X"})).await,
        403,
        "Access Forbidden.",
    );
    let unbanned = s.put(&path, Some(&admin), json!({"status": 0})).await;
    assert_eq!(unbanned.1["status"], 0);
    assert_eq!(
        s.put(&path, Some(&owner), json!({"name": "Fine"})).await.0,
        StatusCode::OK
    );
}

async fn delete_world_is_for_the_creator_only(b: Backend) {
    let s = TestServer::start(b).await;
    let (owner_id, owner) = s.user("Del").await;
    let (_, stranger) = s.user("Eve").await;
    let (guest, _) = s.guest().await;
    let admin = s.admin().await;
    let id = s.world(&owner, "Doomed", true, true).await;
    let path = format!("/worlds/{id}");
    assert_detail(&s.delete(&path, Some(&guest)).await, 403, "Access Forbidden.");
    assert_detail(&s.delete(&path, Some(&stranger)).await, 400, EDITION_FORBIDDEN);
    assert_detail(&s.delete(&path, Some(&admin)).await, 400, EDITION_FORBIDDEN);
    let r = s.delete(&path, Some(&owner)).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["world_id"], id);
    assert_eq!(r.1["creator"], owner_id);
    assert_eq!(r.1["status"], 2);
    assert!(r.1.get("world_map").is_none());
    assert_detail(&s.delete(&path, Some(&owner)).await, 400, EDITION_FORBIDDEN);
    assert_detail(&s.get(&path, Some(&owner)).await, 400, NOT_AVAILABLE);
    assert_detail(
        &s.post(&format!("{path}/users"), Some(&owner), json!({})).await,
        400,
        NOT_AVAILABLE,
    );
    assert_detail(&s.delete("/worlds/424242", Some(&owner)).await, 400, EDITION_FORBIDDEN);
    // Still on record for superusers.
    assert_eq!(
        ids(&s.get("/worlds?deleted=true", Some(&admin)).await.1, "world_id"),
        vec![id]
    );
}

async fn registered_join_rules(b: Backend) {
    let s = TestServer::start(b).await;
    let (owner_id, owner) = s.user("Jay").await;
    let (user_id, user) = s.user("Kim").await;
    let admin = s.admin().await;
    let public = s.world(&owner, "Joinable", true, false).await;
    let private = s.world(&owner, "Closed", false, false).await;

    let p = s.join(&user, public).await;
    assert_eq!(p["user_id"], user_id);
    assert_eq!(p["world_id"], public);
    assert_eq!(p["status"], 0);
    assert_eq!(p["username"], "Kim");
    let avatar = p["avatar"].as_str().unwrap();
    assert!(avatar.starts_with("avatars_"), "random avatar: {avatar}");
    assert_eq!(p["role"]["name"], "default");
    assert_eq!(p["role"]["is_default"], true);
    assert_eq!(p["role"]["world_id"], public);
    assert_eq!(p["last_pos"], json!({}));
    assert_eq!(p["world_map"], default_map());
    let m = s.db().member(public, user_id).await.unwrap().unwrap();
    assert_eq!(m.n_joins, 1);
    // Joining again keeps the profile and counts the join.
    let again = s.join(&user, public).await;
    assert_eq!(again["avatar"], p["avatar"]);
    assert_eq!(again["role"]["role_id"], p["role"]["role_id"]);
    let m2 = s.db().member(public, user_id).await.unwrap().unwrap();
    assert_eq!(m2.n_joins, 2);
    assert!(m2.last_join >= m.last_join);
    assert_eq!(m2.join_date, m.join_date);

    // Private worlds: members and the creator only.
    assert_detail(
        &s.post(&format!("/worlds/{private}/users"), Some(&user), json!({}))
            .await,
        400,
        NOT_AVAILABLE,
    );
    let creator = s.join(&owner, private).await;
    assert_eq!(creator["user_id"], owner_id);
    assert_eq!(creator["role"]["name"], "Admin");
    // A superuser is not a member of a private world.
    assert_detail(
        &s.post(&format!("/worlds/{private}/users"), Some(&admin), json!({}))
            .await,
        400,
        NOT_AVAILABLE,
    );
    // Banned, deleted and unknown worlds.
    s.put(&format!("/worlds/{public}"), Some(&admin), json!({"status": 1}))
        .await;
    for t in [&user, &owner] {
        assert_detail(
            &s.post(&format!("/worlds/{public}/users"), Some(t), json!({})).await,
            400,
            NOT_AVAILABLE,
        );
    }
    s.delete(&format!("/worlds/{private}"), Some(&owner)).await;
    assert_detail(
        &s.post(&format!("/worlds/{private}/users"), Some(&owner), json!({}))
            .await,
        400,
        NOT_AVAILABLE,
    );
    assert_detail(
        &s.post("/worlds/999999/users", Some(&user), json!({})).await,
        400,
        NOT_AVAILABLE,
    );
}

fn assert_guest_name(name: &Value) {
    let n = name.as_str().unwrap_or_else(|| panic!("no username: {name}"));
    let digits = n.strip_prefix("Guest_").unwrap_or_else(|| panic!("guest name {n}"));
    assert!(
        digits.len() <= 8 && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()),
        "guest name {n}"
    );
}

async fn guest_join_rules(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Hal").await;
    let (guest, guest_id) = s.guest().await;
    let open = s.world(&owner, "GuestsWelcome", true, true).await;
    let members_only = s.world(&owner, "MembersOnly", true, false).await;
    let private = s.world(&owner, "PrivateParty", false, true).await;

    let g = s.join(&guest, open).await;
    assert_eq!(g["user_id"], guest_id);
    assert_eq!(g["world_id"], open);
    assert_guest_name(&g["username"]);
    assert!(g["avatar"].as_str().unwrap().starts_with("avatars_"));
    assert_eq!(g["role"]["is_default"], true);
    assert_eq!(g["last_pos"], json!({}));
    assert!(g["world_map"].is_string());
    // Re-entering keeps the profile.
    let again = s.join(&guest, open).await;
    assert_eq!(again["username"], g["username"]);
    assert_eq!(again["avatar"], g["avatar"]);

    assert_detail(
        &s.post(&format!("/worlds/{members_only}/users"), Some(&guest), json!({}))
            .await,
        400,
        NOT_AVAILABLE,
    );
    assert_detail(
        &s.post(&format!("/worlds/{private}/users"), Some(&guest), json!({}))
            .await,
        400,
        NOT_AVAILABLE,
    );
    // Guests are not listed as members.
    let members = s.get(&format!("/worlds/{open}/users"), Some(&owner)).await;
    assert_eq!(members.0, StatusCode::OK);
    assert_eq!(
        members.1.as_array().unwrap().len(),
        1,
        "only the creator: {}",
        members.1
    );
}

async fn capacity_fields_accept_unlimited_and_bounded_values(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Cap").await;
    // No max_users: unlimited (the original crashed).
    let mut unlimited = world_body("Unlimited", true, true);
    unlimited["max_users"] = Value::Null;
    let r = s.create_world(&owner, unlimited).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["max_users"], Value::Null);
    let id = r.1["world_id"].as_i64().unwrap();
    for name in ["A", "B", "C"] {
        let (_, t) = s.user(name).await;
        s.join(&t, id).await;
    }
    let (guest, _) = s.guest().await;
    s.join(&guest, id).await;
    // Bounds 1 and 1000 are accepted; with nobody online a one-seat world admits one.
    let mut one = world_body("OneSeat", true, true);
    one["max_users"] = json!(1);
    let one = s.create_world(&owner, one).await;
    assert_eq!(one.1["max_users"], 1);
    let (_, solo) = s.user("Solo").await;
    s.join(&solo, one.1["world_id"].as_i64().unwrap()).await;
    let big = s
        .put(&format!("/worlds/{id}"), Some(&owner), json!({"max_users": 1000}))
        .await;
    assert_eq!(big.1["max_users"], 1000);
}

async fn invite_flow_admits_users_and_guests_to_private_worlds(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Ivo").await;
    let (friend_id, friend) = s.user("Fay").await;
    let (guest, guest_id) = s.guest().await;
    let private = s.world(&owner, "Secret", false, true).await;

    let r = s.post(&format!("/invitation/{private}"), Some(&owner), json!({})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["token_type"], "bearer");
    assert!(
        chrono::NaiveDateTime::parse_from_str(r.1["expire_date"].as_str().unwrap(), "%Y-%m-%d %H:%M:%S%.f").is_ok()
    );
    let invite = r.1["access_token"].as_str().unwrap().to_owned();

    let joined = s
        .post(&format!("/worlds/invite/{invite}"), Some(&friend), json!({}))
        .await;
    assert_eq!(joined.0, StatusCode::OK, "{}", joined.1);
    assert_eq!(joined.1["user_id"], friend_id);
    assert_eq!(joined.1["world_id"], private);
    assert_eq!(joined.1["username"], "Fay");
    assert_eq!(joined.1["role"]["is_default"], true);
    assert!(joined.1["world_map"].is_string());
    // Now a member: sees the world, joins directly, finds it under `joined`.
    assert_eq!(
        s.get(&format!("/worlds/{private}"), Some(&friend)).await.0,
        StatusCode::OK
    );
    s.join(&friend, private).await;
    assert_eq!(
        ids(&s.get("/worlds?visibility=joined", Some(&friend)).await.1, "world_id"),
        vec![private]
    );
    // The same invite serves several people, guests included.
    let g = s
        .post(&format!("/worlds/invite/{invite}"), Some(&guest), json!({}))
        .await;
    assert_eq!(g.0, StatusCode::OK, "{}", g.1);
    assert_eq!(g.1["user_id"], guest_id);
    assert_guest_name(&g.1["username"]);
    s.join(&guest, private).await;

    for bad in ["garbage", "a.b.c"] {
        assert_detail(
            &s.post(&format!("/worlds/invite/{bad}"), Some(&friend), json!({})).await,
            403,
            "Invalid Invite",
        );
    }
    // An access token is not an invite.
    assert_detail(
        &s.post(&format!("/worlds/invite/{owner}"), Some(&friend), json!({}))
            .await,
        403,
        "Invalid Invite",
    );
    assert_detail(
        &s.post(&format!("/worlds/invite/{invite}"), None, json!({})).await,
        401,
        "Not authenticated",
    );
}

async fn invite_generation_needs_the_invite_flag_or_being_creator(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Gwen").await;
    let (inviter_id, inviter) = s.user("Ian").await;
    let (manager_id, manager) = s.user("Meg").await;
    let (_, member) = s.user("Ned").await;
    let (_, stranger) = s.user("Oz").await;
    let (guest, _) = s.guest().await;
    let admin = s.admin().await;
    let w = s.world(&owner, "Inviting", true, true).await;
    for t in [&inviter, &manager, &member] {
        s.join(t, w).await;
    }
    let invite_role = s.role(&owner, w, json!({"name": "inviters", "invite": true})).await;
    let manage_role = s
        .role(&owner, w, json!({"name": "managers", "role_manage": true}))
        .await;
    s.assign(&owner, w, invite_role, &inviter_id.to_string()).await;
    s.assign(&owner, w, manage_role, &manager_id.to_string()).await;

    let path = format!("/invitation/{w}");
    assert_eq!(s.post(&path, Some(&owner), json!({})).await.0, StatusCode::OK);
    assert_eq!(s.post(&path, Some(&inviter), json!({})).await.0, StatusCode::OK);
    // `role_manage` alone no longer suffices (fixed from the original).
    let forbidden = "You do not have permission to generate invite links.";
    assert_detail(&s.post(&path, Some(&manager), json!({})).await, 403, forbidden);
    assert_detail(&s.post(&path, Some(&member), json!({})).await, 403, forbidden);
    assert_detail(&s.post(&path, Some(&stranger), json!({})).await, 403, forbidden);
    assert_detail(&s.post(&path, Some(&admin), json!({})).await, 403, forbidden);
    assert_detail(
        &s.post("/invitation/999999", Some(&owner), json!({})).await,
        403,
        forbidden,
    );
    assert_detail(&s.post(&path, Some(&guest), json!({})).await, 403, "Access Forbidden.");
}

async fn invites_refuse_closed_worlds_banned_members_guests_and_revoked_issuers(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Rae").await;
    let (inviter_id, inviter) = s.user("Ira").await;
    let (banned_id, banned) = s.user("Bo").await;
    let (fresh_id, fresh) = s.user("Fresh").await;
    let (guest, _) = s.guest().await;
    let admin = s.admin().await;

    // Guests, where guests are not allowed.
    let no_guests = s.world(&owner, "NoGuests", false, false).await;
    let inv = s.invite(&owner, no_guests).await;
    assert_detail(
        &s.post(&format!("/worlds/invite/{inv}"), Some(&guest), json!({})).await,
        404,
        NOT_AVAILABLE,
    );
    // A member banned from the world.
    s.post(&format!("/worlds/invite/{inv}"), Some(&banned), json!({})).await;
    assert_eq!(
        s.set_member_status(&owner, no_guests, &banned_id.to_string(), 1)
            .await
            .0,
        StatusCode::OK
    );
    assert_detail(
        &s.post(&format!("/worlds/invite/{inv}"), Some(&banned), json!({})).await,
        404,
        NOT_AVAILABLE,
    );
    assert_eq!(
        s.db().member(no_guests, banned_id).await.unwrap().unwrap().status,
        1,
        "the ban stands"
    );

    // An issuer who lost the permission: the invite dies with it.
    let w = s.world(&owner, "Revocable", false, true).await;
    let owner_inv = s.invite(&owner, w).await;
    s.post(&format!("/worlds/invite/{owner_inv}"), Some(&inviter), json!({}))
        .await;
    let role = s.role(&owner, w, json!({"name": "inviters", "invite": true})).await;
    s.assign(&owner, w, role, &inviter_id.to_string()).await;
    let delegated = s.invite(&inviter, w).await;
    let r = s
        .put(
            &format!("/worlds/{w}/roles/{role}"),
            Some(&owner),
            json!({"invite": false}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_detail(
        &s.post(&format!("/worlds/invite/{delegated}"), Some(&fresh), json!({}))
            .await,
        403,
        "Invalid Invite",
    );
    assert!(s.db().member(w, fresh_id).await.unwrap().is_none(), "not admitted");
    // Restoring the permission revives it; banning the issuer kills it again.
    s.put(
        &format!("/worlds/{w}/roles/{role}"),
        Some(&owner),
        json!({"invite": true}),
    )
    .await;
    assert_eq!(
        s.post(&format!("/worlds/invite/{delegated}"), Some(&guest), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    s.set_member_status(&owner, w, &inviter_id.to_string(), 1).await;
    assert_detail(
        &s.post(&format!("/worlds/invite/{delegated}"), Some(&fresh), json!({}))
            .await,
        403,
        "Invalid Invite",
    );

    // Banned and deleted worlds.
    let doomed = s.world(&owner, "Doomed", false, true).await;
    let inv = s.invite(&owner, doomed).await;
    s.put(&format!("/worlds/{doomed}"), Some(&admin), json!({"status": 1}))
        .await;
    assert_detail(
        &s.post(&format!("/worlds/{doomed}/users"), Some(&owner), json!({}))
            .await,
        400,
        NOT_AVAILABLE,
    );
    assert_detail(
        &s.post(&format!("/worlds/invite/{inv}"), Some(&fresh), json!({})).await,
        404,
        NOT_AVAILABLE,
    );
    assert_detail(
        &s.post(&format!("/invitation/{doomed}"), Some(&owner), json!({})).await,
        403,
        "You do not have permission to generate invite links.",
    );
    s.put(&format!("/worlds/{doomed}"), Some(&admin), json!({"status": 0}))
        .await;
    s.delete(&format!("/worlds/{doomed}"), Some(&owner)).await;
    assert_detail(
        &s.post(&format!("/worlds/invite/{inv}"), Some(&fresh), json!({})).await,
        404,
        NOT_AVAILABLE,
    );
}

async fn member_list_is_for_role_managers(b: Backend) {
    let s = TestServer::start(b).await;
    let (owner_id, owner) = s.user("Lea").await;
    let (manager_id, manager) = s.user("Mo").await;
    let (member_id, member) = s.user("Nia").await;
    let (_, stranger) = s.user("Ole").await;
    let (guest, _) = s.guest().await;
    let w = s.world(&owner, "Listed", true, true).await;
    s.join(&manager, w).await;
    s.join(&member, w).await;
    s.join(&guest, w).await;
    let role = s
        .role(&owner, w, json!({"name": "managers", "role_manage": true}))
        .await;
    s.assign(&owner, w, role, &manager_id.to_string()).await;
    let path = format!("/worlds/{w}/users");
    let denied = "Your role does not have permissions to access for this operation.";
    assert_detail(&s.get(&path, Some(&guest)).await, 403, "Access Forbidden.");
    assert_detail(&s.get(&path, Some(&stranger)).await, 400, denied);
    assert_detail(&s.get(&path, Some(&member)).await, 400, denied);
    assert_detail(&s.get("/worlds/999999/users", Some(&owner)).await, 400, denied);
    for t in [&owner, &manager] {
        let r = s.get(&path, Some(t)).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        assert_eq!(ids(&r.1, "user_id"), vec![owner_id, manager_id, member_id]);
    }
    let list = s.get(&path, Some(&owner)).await.1;
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == member_id)
        .unwrap();
    assert_eq!(row["world_id"], w);
    assert_eq!(row["status"], 0);
    assert_eq!(row["username"], "Nia");
    assert!(row["avatar"].as_str().unwrap().starts_with("avatars_"));
    let manager_row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == manager_id)
        .unwrap();
    assert_eq!(manager_row["role_id"], role);
}

async fn own_membership_can_be_read_and_edited(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Pam").await;
    let (user_id, user) = s.user("Quin").await;
    let (other_id, other) = s.user("Ray").await;
    let (_, outsider) = s.user("Out").await;
    let w = s.world(&owner, "Profiles", true, true).await;
    s.join(&user, w).await;
    s.join(&other, w).await;
    let me = format!("/worlds/{w}/users/{user_id}");

    let r = s.get(&me, Some(&user)).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["user_id"], user_id);
    assert_eq!(r.1["world_id"], w);
    assert_eq!(r.1["username"], "Quin");
    assert_eq!(r.1["status"], 0);
    assert!(r.1["role_id"].is_i64());
    assert_detail(&s.get(&me, Some(&other)).await, 400, "Access Forbidden.");
    let outsider_id = s.get("/users/me", Some(&outsider)).await.1["user_id"].as_i64().unwrap();
    assert_detail(
        &s.get(&format!("/worlds/{w}/users/{outsider_id}"), Some(&outsider))
            .await,
        404,
        "User is not registered in this world.",
    );
    assert_invalid(
        &s.get(&format!("/worlds/{w}/users/not-an-id"), Some(&user)).await,
        &["path", "user_id"],
    );

    let edit = s
        .put(
            &me,
            Some(&user),
            json!({"username": "  Quinny ", "avatar": "avatars_4_6"}),
        )
        .await;
    assert_eq!(edit.0, StatusCode::OK, "{}", edit.1);
    assert_eq!(edit.1["username"], "Quinny");
    assert_eq!(edit.1["avatar"], "avatars_4_6");
    assert_eq!(s.get(&me, Some(&user)).await.1["username"], "Quinny");
    // Re-stating one's own status is not a status change.
    assert_eq!(s.put(&me, Some(&user), json!({"status": 0})).await.0, StatusCode::OK);

    let bad_avatar = s.put(&me, Some(&user), json!({"avatar": "avatars_4_3"})).await;
    assert_invalid(&bad_avatar, &["body", "avatar"]);
    assert_eq!(bad_avatar.1["detail"][0]["msg"], "Avatar name not Valid!");
    assert_invalid(
        &s.put(&me, Some(&user), json!({"username": " "})).await,
        &["body", "username"],
    );
    assert_invalid(
        &s.put(&me, Some(&user), json!({"username": "u".repeat(51)})).await,
        &["body", "username"],
    );
    assert_invalid(
        &s.put(&me, Some(&user), json!({"status": 2})).await,
        &["body", "status"],
    );

    // Plain members change neither their own status nor anyone else's profile.
    assert_detail(
        &s.put(&me, Some(&user), json!({"status": 1})).await,
        400,
        NO_ROLE_PERMISSION,
    );
    assert_detail(
        &s.put(
            &format!("/worlds/{w}/users/{other_id}"),
            Some(&user),
            json!({"username": "x"}),
        )
        .await,
        400,
        NO_ROLE_PERMISSION,
    );
    assert_detail(
        &s.set_member_status(&user, w, &other_id.to_string(), 1).await,
        400,
        NO_ROLE_PERMISSION,
    );
    assert_detail(
        &s.put(
            &format!("/worlds/{w}/users/{outsider_id}"),
            Some(&outsider),
            json!({"username": "x"}),
        )
        .await,
        400,
        "User is not registered in this world.",
    );
    assert_eq!(
        s.get(&format!("/worlds/{w}/users/{other_id}"), Some(&other)).await.1["username"],
        "Ray"
    );
}

async fn guest_membership_rules(b: Backend) {
    let s = TestServer::start(b).await;
    let (owner_id, owner) = s.user("Tom").await;
    let (guest, guest_id) = s.guest().await;
    let (other_guest, other_guest_id) = s.guest().await;
    let admin = s.admin().await;
    let w = s.world(&owner, "GuestProfiles", true, true).await;
    let joined = s.join(&guest, w).await;
    let me = format!("/worlds/{w}/users/{guest_id}");

    let r = s.get(&me, Some(&guest)).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["user_id"], guest_id);
    assert_eq!(r.1["username"], joined["username"]);
    assert_detail(&s.get(&me, Some(&other_guest)).await, 400, "Access Forbidden.");
    assert_detail(&s.get(&me, Some(&owner)).await, 400, "Access Forbidden.");
    assert_detail(
        &s.get(&format!("/worlds/{w}/users/{other_guest_id}"), Some(&other_guest))
            .await,
        404,
        "User is not registered in this world.",
    );

    let edit = s.put(&me, Some(&guest), json!({"username": "Visitor"})).await;
    assert_eq!(edit.0, StatusCode::OK, "{}", edit.1);
    assert_eq!(edit.1["username"], "Visitor");
    assert_eq!(edit.1["avatar"], joined["avatar"], "avatar kept");
    assert_eq!(s.join(&guest, w).await["username"], "Visitor");

    // Guests change nobody else and cannot ban themselves; nobody edits a guest.
    assert_detail(
        &s.put(
            &format!("/worlds/{w}/users/{owner_id}"),
            Some(&guest),
            json!({"username": "x"}),
        )
        .await,
        400,
        "Access Forbidden.",
    );
    assert_detail(
        &s.put(&me, Some(&other_guest), json!({"username": "x"})).await,
        400,
        "Access Forbidden.",
    );
    for t in [&owner, &admin] {
        assert_detail(
            &s.put(&me, Some(t), json!({"username": "x"})).await,
            400,
            "You cannot change this user info.",
        );
    }
    // Moderators may ban a guest (security review F10; see realtime.rs), and unban it.
    for t in [&owner, &admin] {
        assert_eq!(s.set_member_status(t, w, &guest_id, 1).await.0, StatusCode::OK);
        assert_eq!(s.set_member_status(t, w, &guest_id, 0).await.0, StatusCode::OK);
    }
    assert_detail(
        &s.put(&me, Some(&guest), json!({"status": 1})).await,
        400,
        "You cannot ban this user.",
    );
    assert_detail(
        &s.put(
            &format!("/worlds/{w}/users/{other_guest_id}"),
            Some(&other_guest),
            json!({"username": "x"}),
        )
        .await,
        400,
        "User is not registered in this world.",
    );
}

async fn ban_role_holder_bans_members_but_cannot_edit_their_profile(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Una").await;
    let (mod_id, moderator) = s.user("Mod").await;
    let (manager_id, manager) = s.user("Man").await;
    let (target_id, target) = s.user("Tia").await;
    let admin = s.admin().await;
    let w = s.world(&owner, "Moderated", true, true).await;
    for t in [&moderator, &manager, &target] {
        s.join(t, w).await;
    }
    let ban_role = s.role(&owner, w, json!({"name": "moderators", "ban": true})).await;
    let manage_role = s
        .role(&owner, w, json!({"name": "managers", "role_manage": true}))
        .await;
    s.assign(&owner, w, ban_role, &mod_id.to_string()).await;
    s.assign(&owner, w, manage_role, &manager_id.to_string()).await;
    let tpath = format!("/worlds/{w}/users/{target_id}");

    // `ban` without `role_manage` is enough to ban (fixed from the original).
    let banned = s.set_member_status(&moderator, w, &target_id.to_string(), 1).await;
    assert_eq!(banned.0, StatusCode::OK, "{}", banned.1);
    assert_eq!(banned.1["status"], 1);
    assert_eq!(banned.1["user_id"], target_id);
    assert_eq!(s.get(&tpath, Some(&target)).await.1["status"], 1);
    // Only the status: a moderator does not rename or re-skin others.
    for body in [
        json!({"username": "Renamed"}),
        json!({"avatar": "avatars_1_1"}),
        json!({"status": 0, "username": "Renamed"}),
    ] {
        assert_detail(
            &s.put(&tpath, Some(&moderator), body).await,
            400,
            "You cannot change this user info.",
        );
    }
    assert_eq!(s.get(&tpath, Some(&target)).await.1["username"], "Tia");
    assert_eq!(s.get(&tpath, Some(&target)).await.1["status"], 1);
    // Role managers without `ban` cannot ban.
    assert_detail(
        &s.set_member_status(&manager, w, &target_id.to_string(), 0).await,
        400,
        NO_ROLE_PERMISSION,
    );
    let unbanned = s.set_member_status(&moderator, w, &target_id.to_string(), 0).await;
    assert_eq!(unbanned.0, StatusCode::OK, "{}", unbanned.1);
    assert_eq!(unbanned.1["status"], 0);
    // The creator may ban; superusers may also edit profiles.
    assert_eq!(
        s.set_member_status(&owner, w, &target_id.to_string(), 1).await.1["status"],
        1
    );
    let su = s
        .put(&tpath, Some(&admin), json!({"username": "Cleaned", "status": 0}))
        .await;
    assert_eq!(su.0, StatusCode::OK, "{}", su.1);
    assert_eq!(su.1["username"], "Cleaned");
    assert_eq!(su.1["status"], 0);
    // A moderator who is banned holds no permission.
    s.set_member_status(&owner, w, &mod_id.to_string(), 1).await;
    assert_detail(
        &s.set_member_status(&moderator, w, &target_id.to_string(), 1).await,
        400,
        NO_ROLE_PERMISSION,
    );
    assert_detail(
        &s.set_member_status(&moderator, w, &mod_id.to_string(), 0).await,
        400,
        NO_ROLE_PERMISSION,
    );
    assert_eq!(s.db().member(w, target_id).await.unwrap().unwrap().status, 0);
}

async fn nobody_but_a_superuser_can_ban_the_creator(b: Backend) {
    let s = TestServer::start(b).await;
    let (owner_id, owner) = s.user("Boss").await;
    let (mod_id, moderator) = s.user("Mod").await;
    let admin = s.admin().await;
    let w = s.world(&owner, "Protected", true, true).await;
    s.join(&moderator, w).await;
    let ban_role = s.role(&owner, w, json!({"name": "moderators", "ban": true})).await;
    s.assign(&owner, w, ban_role, &mod_id.to_string()).await;
    let creator = owner_id.to_string();
    assert_detail(
        &s.set_member_status(&moderator, w, &creator, 1).await,
        400,
        "You cannot ban this user.",
    );
    assert_detail(
        &s.set_member_status(&owner, w, &creator, 1).await,
        400,
        "You cannot ban this user.",
    );
    assert_eq!(s.db().member(w, owner_id).await.unwrap().unwrap().status, 0);
    // A role manager cannot take the creator's Admin role away either.
    let default = s.db().default_role(w).await.unwrap().unwrap().role_id;
    let manage_role = s
        .role(&owner, w, json!({"name": "managers", "role_manage": true}))
        .await;
    s.assign(&owner, w, manage_role, &mod_id.to_string()).await;
    assert_detail(
        &s.post(
            &format!("/worlds/{w}/roles/{default}/users/{owner_id}"),
            Some(&moderator),
            json!({}),
        )
        .await,
        400,
        "You cannot change this user info.",
    );
    let su = s.set_member_status(&admin, w, &creator, 1).await;
    assert_eq!(su.0, StatusCode::OK, "{}", su.1);
    assert_eq!(su.1["status"], 1);
}

async fn banned_member_is_refused_on_join_and_on_get(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Ada").await;
    let (user_id, user) = s.user("Ben").await;
    let public = s.world(&owner, "PublicBan", true, true).await;
    let private = s.world(&owner, "PrivateBan", false, true).await;
    s.join(&user, public).await;
    let inv = s.invite(&owner, private).await;
    s.post(&format!("/worlds/invite/{inv}"), Some(&user), json!({})).await;
    // A ban holder, so that the ban visibly takes the permission away.
    let role = s
        .role(
            &owner,
            private,
            json!({"name": "mods", "ban": true, "invite": true, "role_manage": true}),
        )
        .await;
    s.assign(&owner, private, role, &user_id.to_string()).await;
    assert_eq!(
        s.get(&format!("/worlds/{private}/users"), Some(&user)).await.0,
        StatusCode::OK
    );

    for w in [public, private] {
        assert_eq!(
            s.set_member_status(&owner, w, &user_id.to_string(), 1).await.0,
            StatusCode::OK
        );
        assert_detail(
            &s.post(&format!("/worlds/{w}/users"), Some(&user), json!({})).await,
            400,
            NOT_AVAILABLE,
        );
        assert_detail(&s.get(&format!("/worlds/{w}"), Some(&user)).await, 400, NOT_AVAILABLE);
        // Their own membership record stays readable, showing the ban.
        assert_eq!(
            s.get(&format!("/worlds/{w}/users/{user_id}"), Some(&user)).await.1["status"],
            1
        );
    }
    assert_detail(
        &s.post(&format!("/worlds/invite/{inv}"), Some(&user), json!({})).await,
        404,
        NOT_AVAILABLE,
    );
    // No permission survives the ban.
    assert_detail(
        &s.get(&format!("/worlds/{private}/users"), Some(&user)).await,
        400,
        "Your role does not have permissions to access for this operation.",
    );
    assert_detail(
        &s.post(&format!("/invitation/{private}"), Some(&user), json!({})).await,
        403,
        "You do not have permission to generate invite links.",
    );
    assert_eq!(
        s.get(&format!("/worlds/{private}"), Some(&owner)).await.1["can_manage"],
        true
    );
    // Lifting the ban restores access.
    s.set_member_status(&owner, private, &user_id.to_string(), 0).await;
    assert_eq!(
        s.get(&format!("/worlds/{private}"), Some(&user)).await.0,
        StatusCode::OK
    );
    s.join(&user, private).await;
}

async fn banned_creator_loses_access_to_their_private_world(b: Backend) {
    let s = TestServer::start(b).await;
    let (owner_id, owner) = s.user("Cre").await;
    let admin = s.admin().await;
    let w = s.world(&owner, "Owned", false, true).await;
    assert_eq!(
        s.set_member_status(&admin, w, &owner_id.to_string(), 1).await.0,
        StatusCode::OK
    );
    assert_detail(&s.get(&format!("/worlds/{w}"), Some(&owner)).await, 400, NOT_AVAILABLE);
    assert_detail(
        &s.post(&format!("/worlds/{w}/users"), Some(&owner), json!({})).await,
        400,
        NOT_AVAILABLE,
    );
    assert_detail(
        &s.get(&format!("/worlds/{w}/roles"), Some(&owner)).await,
        403,
        "Your role does not have permissions to access for this operation.",
    );
    assert_detail(
        &s.post(&format!("/invitation/{w}"), Some(&owner), json!({})).await,
        403,
        "You do not have permission to generate invite links.",
    );
    s.set_member_status(&admin, w, &owner_id.to_string(), 0).await;
    assert_eq!(s.get(&format!("/worlds/{w}"), Some(&owner)).await.1["can_manage"], true);
}

async fn concurrent_world_creation_with_the_same_name_yields_one_world(b: Backend) {
    let s = Arc::new(TestServer::start(b).await);
    let mut tokens = Vec::new();
    for i in 0..4 {
        tokens.push(s.user(&format!("Racer{i}")).await.1);
    }
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (s, token) = (s.clone(), tokens[i % 4].clone());
        let name = if i % 2 == 0 { "Contested" } else { "CONTESTED" };
        tasks.push(tokio::spawn(async move {
            s.create_world(&token, world_body(name, true, true)).await
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
    let admin = s.admin().await;
    let all = s
        .get("/worlds?normal=true&banned=true&deleted=true", Some(&admin))
        .await
        .1;
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
}

async fn concurrent_renames_to_the_same_name_yield_one_winner(b: Backend) {
    let s = Arc::new(TestServer::start(b).await);
    let (_, owner) = s.user("Ren").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(s.world(&owner, &format!("Before {i}"), true, true).await);
    }
    let mut tasks = Vec::new();
    for id in ids {
        let (s, owner) = (s.clone(), owner.clone());
        tasks.push(tokio::spawn(async move {
            s.put(&format!("/worlds/{id}"), Some(&owner), json!({"name": "Target"}))
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
    assert_eq!(ok, 1, "exactly one rename wins");
    let owned = s.get("/worlds?visibility=owned", Some(&owner)).await.1;
    assert_eq!(
        owned
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["name"] == "Target")
            .count(),
        1
    );
}

async fn concurrent_joins_of_one_user_make_one_membership_counting_every_join(b: Backend) {
    let s = Arc::new(TestServer::start(b).await);
    let (_, owner) = s.user("Host").await;
    let (user_id, user) = s.user("Eager").await;
    let w = s.world(&owner, "Busy", true, true).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (s, user) = (s.clone(), user.clone());
        tasks.push(tokio::spawn(async move {
            s.post(&format!("/worlds/{w}/users"), Some(&user), json!({})).await
        }));
    }
    let mut roles = BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        roles.insert(r.1["role"]["role_id"].as_i64().unwrap());
    }
    assert_eq!(roles.len(), 1, "one role for every answer");
    assert_eq!(s.db().member(w, user_id).await.unwrap().unwrap().n_joins, 8);
    let members = s.get(&format!("/worlds/{w}/users"), Some(&owner)).await.1;
    assert_eq!(ids(&members, "user_id").iter().filter(|&&u| u == user_id).count(), 1);
}

async fn names_are_unique_and_searchable_across_unicode_case(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, t) = s.user("Uni").await;
    s.world(&t, "Éclair Café", true, true).await;
    assert_detail(
        &s.post("/worlds", Some(&t), world_body("éclair café", true, true)).await,
        400,
        NAME_TAKEN,
    );
    assert_detail(
        &s.post("/worlds", Some(&t), world_body("ÉCLAIR CAFÉ", true, true)).await,
        400,
        NAME_TAKEN,
    );
    let found = s.get("/worlds?visibility=public&search=%C3%A9clair", Some(&t)).await;
    assert_eq!(names(&found.1), BTreeSet::from(["Éclair Café".to_owned()]));
    let found = s.get("/worlds?visibility=public&search=CAF%C3%89", Some(&t)).await;
    assert_eq!(names(&found.1).len(), 1);
}

async fn search_follows_renames_and_new_descriptions(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, t) = s.user("Ren").await;
    let id = s.world(&t, "Old Harbour", true, true).await;
    assert_eq!(
        s.put(&format!("/worlds/{id}"), Some(&t), json!({"name": "New Lighthouse"}))
            .await
            .0,
        StatusCode::OK
    );
    assert!(names(&s.get("/worlds?visibility=public&search=harbour", Some(&t)).await.1).is_empty());
    assert_eq!(
        names(&s.get("/worlds?visibility=public&search=lighthouse", Some(&t)).await.1).len(),
        1
    );
    assert_eq!(
        s.put(
            &format!("/worlds/{id}"),
            Some(&t),
            json!({"description": "Seagulls and ferries"})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        names(&s.get("/worlds?visibility=public&search=seagull", Some(&t)).await.1).len(),
        1
    );
    assert_eq!(
        names(&s.get("/worlds?visibility=public&search=lighthouse", Some(&t)).await.1).len(),
        1,
        "name still matches"
    );
    // The old name is free again for another world.
    s.world(&t, "Old Harbour", true, true).await;
}

/// A Tiled map the server cannot run used to be stored when it was any JSON object (the
/// original client saved `{"detail":"Not Found"}` as a map); now it is refused with why.
async fn a_map_the_server_cannot_run_is_refused_saying_why(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Maps").await;
    let mut body = world_body("Broken", true, true);
    body["world_map"] = json!(r#"{"detail":"Not Found"}"#);
    let r = s.create_world(&owner, body).await;
    assert_invalid(&r, &["body", "world_map"]);
    let why = r.1["detail"][0]["msg"].as_str().unwrap();
    assert!(why.contains("Tiled") && why.contains("width"), "{why}");
    let w = s.world(&owner, "Fine", true, true).await;
    let r = s
        .put(
            &format!("/worlds/{w}"),
            Some(&owner),
            json!({"world_map": r#"{"width": 0, "height": 3}"#}),
        )
        .await;
    assert_invalid(&r, &["body", "world_map"]);
    let stored = s.get(&format!("/worlds/{w}"), Some(&owner)).await.1;
    assert_eq!(stored["world_map"], default_map(), "a refused edit changes nothing");
}

fn zlib_collision_layer(tiles: usize) -> Value {
    use base64::Engine;
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![0u8; tiles * 4]).unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
    json!({"type": "tilelayer", "name": "Collision", "encoding": "base64", "compression": "zlib", "data": data})
}

/// Security review F4: each layer was capped but not the total, so a map of many small zlib
/// layers inflated to gigabytes, parsed on a runtime thread (and again on every edit). Now the
/// layer count and the decoded total are capped before anything is inflated, and parsing
/// runs on a blocking thread.
async fn a_decompression_bomb_map_is_refused_and_the_server_stays_responsive(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Bomber").await;
    // 1,000 × 1,000 tiles, 40 collision layers: 160 MB of tiles from a few KiB of base64.
    let layer = zlib_collision_layer(1_000_000);
    let bomb = json!({"width": 1000, "height": 1000, "tilewidth": 32, "tileheight": 32, "orientation": "orthogonal",
                      "layers": vec![layer.clone(); 40], "tilesets": []});
    let mut body = world_body("Bomb", true, true);
    body["world_map"] = json!(bomb.to_string());
    let r = s.create_world(&owner, body).await;
    assert_invalid(&r, &["body", "world_map"]);
    assert!(r.1["detail"][0]["msg"].as_str().unwrap().contains("MiB"), "{}", r.1);
    // Many small layers: the count is capped too.
    let small = json!({"type": "tilelayer", "name": "Ground", "data": [0, 0, 0, 0]});
    let many = json!({"width": 2, "height": 2, "tilewidth": 32, "tileheight": 32, "layers": vec![small; 1_450]});
    let w = s.world(&owner, "Target", true, true).await;
    let r = s
        .put(
            &format!("/worlds/{w}"),
            Some(&owner),
            json!({"world_map": many.to_string()}),
        )
        .await;
    assert_invalid(&r, &["body", "world_map"]);
    assert!(r.1["detail"][0]["msg"].as_str().unwrap().contains("layers"), "{}", r.1);
    // A large map within the caps is accepted, and the server answers other requests meanwhile.
    // (This shows the parse does not stop the server; it cannot tell a blocking thread from a
    // slow runtime thread.)
    let big = json!({"width": 1000, "height": 1000, "tilewidth": 32, "tileheight": 32, "orientation": "orthogonal",
                     "layers": vec![layer; 8], "tilesets": []});
    let path = format!("/worlds/{w}");
    let edit = s.put(&path, Some(&owner), json!({"world_map": big.to_string()}));
    let health = async {
        let mut answered = 0;
        for _ in 0..5 {
            let r = s.http.get(format!("{}/health", s.api)).send().await.unwrap();
            assert!(r.status().is_success());
            answered += 1;
        }
        answered
    };
    let (r, answered) = tokio::join!(edit, health);
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(answered, 5);
}

/// World edits (each may carry a map to parse) are limited per user.
async fn world_edits_are_rate_limited_per_user(b: Backend) {
    let s = TestServer::start_with(b, |c| c.world_edits_per_minute = 3).await;
    let (_, owner) = s.user("Busy").await;
    let (_, other) = s.user("Calm").await;
    let w = s.world(&owner, "Edited", true, true).await;
    let v = s.world(&other, "Other", true, true).await;
    for i in 0..3 {
        let r = s
            .put(
                &format!("/worlds/{w}"),
                Some(&owner),
                json!({"description": format!("take {i}")}),
            )
            .await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    }
    assert_detail(
        &s.put(
            &format!("/worlds/{w}"),
            Some(&owner),
            json!({"description": "once more"}),
        )
        .await,
        429,
        "Too many requests. Try again later.",
    );
    let r = s
        .put(&format!("/worlds/{v}"), Some(&other), json!({"description": "mine"}))
        .await;
    assert_eq!(r.0, StatusCode::OK, "another user edits freely: {}", r.1);
}

fn png_data_url(extra: usize) -> (Vec<u8>, String) {
    use base64::Engine;
    let bytes = [b"\x89PNG\r\n\x1a\n".as_slice(), &vec![7u8; extra]].concat();
    let url = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    );
    (bytes, url)
}

/// Security review F2: a picture sent as a data URL (as the original client does) was kept
/// inline and returned in every listing. It is now stored once and listed as a short URL that
/// serves the image.
async fn a_picture_data_url_is_stored_apart_and_listed_as_a_short_url(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Painter").await;
    let (bytes, url) = png_data_url(900 * 1024);
    let mut body = world_body("Gallery", true, true);
    body["profile_image"] = json!(url);
    let r = s.create_world(&owner, body).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let w = r.1["world_id"].as_i64().unwrap();
    let short = r.1["profile_image"].as_str().unwrap().to_owned();
    assert!(short.len() < 200 && short.contains("/api/v1/images/"), "{short}");
    let listing = s
        .http
        .get(format!("{}/worlds?visibility=public", s.api))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listing.len() < 10_000,
        "a listing of one world is {} bytes",
        listing.len()
    );
    assert!(listing.contains(&short));
    // The short URL serves the picture, cacheable for ever, to anyone.
    let path = &short[short.find("/api/v1/images/").unwrap()..];
    let img = s.http.get(format!("{}{path}", s.root)).send().await.unwrap();
    assert_eq!(img.status(), StatusCode::OK);
    assert_eq!(img.headers()["content-type"], "image/png");
    assert_eq!(img.headers()["x-content-type-options"], "nosniff");
    assert!(img.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(img.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // Sending the short URL back (as clients do with every edit) keeps it; a new picture
    // replaces it and the old one is gone.
    let r = s
        .put(
            &format!("/worlds/{w}"),
            Some(&owner),
            json!({"profile_image": short, "description": "same picture"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["profile_image"], short.as_str());
    let (_, other) = png_data_url(10);
    let r = s
        .put(&format!("/worlds/{w}"), Some(&owner), json!({"profile_image": other}))
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_ne!(r.1["profile_image"], short.as_str());
    let gone = s.http.get(format!("{}{path}", s.root)).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let nothing = s
        .http
        .get(format!("{}/images/{}", s.api, "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(nothing.status(), StatusCode::NOT_FOUND);
    let junk = s
        .http
        .get(format!("{}/images/..%2F..%2Fetc", s.api))
        .send()
        .await
        .unwrap();
    assert_eq!(junk.status(), StatusCode::NOT_FOUND);
    let mut body = world_body("Relative", true, true);
    body["profile_image"] = json!("../../etc/passwd");
    assert_invalid(&s.create_world(&owner, body).await, &["body", "profile_image"]);
    assert_eq!(junk.status(), StatusCode::NOT_FOUND);
}

async fn pictures_that_are_not_images_we_serve_are_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Forger").await;
    let (_, too_big) = png_data_url(1024 * 1024 + 1);
    let svg = "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+".to_owned();
    let liar = "data:image/png;base64,SGVsbG8gd29ybGQ=".to_owned();
    let long = format!("https://example.org/{}", "a".repeat(2048));
    for (i, bad) in [too_big, svg, liar, long, "javascript:alert(1)".into()]
        .into_iter()
        .enumerate()
    {
        let mut body = world_body(&format!("Bad {i}"), true, true);
        body["profile_image"] = json!(bad);
        assert_invalid(&s.create_world(&owner, body).await, &["body", "profile_image"]);
    }
    let w = s.world(&owner, "Plain", true, true).await;
    assert_invalid(
        &s.put(
            &format!("/worlds/{w}"),
            Some(&owner),
            json!({"profile_image": "data:text/html;base64,PGI+"}),
        )
        .await,
        &["body", "profile_image"],
    );
    let r = s
        .put(
            &format!("/worlds/{w}"),
            Some(&owner),
            json!({"profile_image": "https://example.org/logo.png"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["profile_image"], "https://example.org/logo.png");
}

/// Worlds made before this version keep their picture inline; the server moves them out at
/// start, so old listings shrink too.
async fn pictures_stored_inline_by_earlier_versions_move_out_at_start(b: Backend) {
    let mut s = TestServer::start(b).await;
    let (_, owner) = s.user("Old").await;
    let w = s.world(&owner, "Legacy", true, true).await;
    let v = s.world(&owner, "Junk", true, true).await;
    let (bytes, url) = png_data_url(50_000);
    s.db()
        .execute_raw(&format!(
            "UPDATE worlds SET profile_image = '{url}' WHERE world_id = {w}"
        ))
        .await
        .unwrap();
    s.db()
        .execute_raw(&format!(
            "UPDATE worlds SET profile_image = '{}' WHERE world_id = {v}",
            "x".repeat(5000)
        ))
        .await
        .unwrap();
    let config = s.config.clone();
    s.stop().await;
    let s = TestServer::start_config(config).await;
    let got = s.get(&format!("/worlds/{w}"), Some(&owner)).await.1;
    let short = got["profile_image"].as_str().unwrap();
    assert!(short.contains("/api/v1/images/"), "{short}");
    let path = &short[short.find("/api/v1/images/").unwrap()..];
    let img = s.http.get(format!("{}{path}", s.root)).send().await.unwrap();
    assert_eq!(img.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(
        s.get(&format!("/worlds/{v}"), Some(&owner)).await.1["profile_image"],
        ""
    );
}

/// Security review F2: worlds per user were unbounded.
async fn worlds_per_user_are_capped(b: Backend) {
    let s = TestServer::start_with(b, |c| c.max_worlds_per_user = 2).await;
    let (_, owner) = s.user("Many").await;
    let first = s.world(&owner, "One", true, true).await;
    s.world(&owner, "Two", true, true).await;
    assert_detail(
        &s.create_world(&owner, world_body("Three", true, true)).await,
        400,
        "You have reached the number of worlds one account may have.",
    );
    assert_eq!(
        s.delete(&format!("/worlds/{first}"), Some(&owner)).await.0,
        StatusCode::OK
    );
    s.world(&owner, "Three", true, true).await;
    // Superusers are not limited.
    let admin = s.admin().await;
    for name in ["A1", "A2", "A3"] {
        s.world(&admin, name, true, true).await;
    }
}
