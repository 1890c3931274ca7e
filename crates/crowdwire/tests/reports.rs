//! Reports: users reporting users within a
//! world, users reporting worlds, and who may read, delete and review them.

mod common;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Backend, TestServer, assert_detail, assert_invalid, ids};

db_tests!(
    reporting_a_user_rules,
    user_report_with_null_comment_is_accepted,
    reports_sent_are_for_the_reporter_and_superusers,
    reports_received_are_for_superusers_and_paginated,
    reports_received_in_a_world_need_the_ban_permission,
    deleting_user_reports_rules,
    user_report_search_rules_and_filters,
    reviewing_user_reports_is_for_superusers,
    reporting_a_world_rules,
    withdrawing_a_world_report,
    reviewing_world_reports_is_for_superusers,
    world_report_list_is_for_superusers_with_filters,
    concurrent_duplicate_reports_file_one_report,
);

/// One world with a creator, three plain members, a holder of `ban`, a holder of
/// `role_manage` only, and a second world where A and B are members too.
struct Fixture {
    owner: String,
    owner_id: i64,
    a: String,
    a_id: i64,
    b: String,
    b_id: i64,
    c: String,
    c_id: i64,
    moderator: String,
    manager: String,
    stranger: String,
    stranger_id: i64,
    world: i64,
    world2: i64,
}

async fn fixture(s: &TestServer) -> Fixture {
    let (owner_id, owner) = s.user("Owner").await;
    let (a_id, a) = s.user("Alice").await;
    let (b_id, b) = s.user("Bob").await;
    let (c_id, c) = s.user("Carol").await;
    let (mod_id, moderator) = s.user("Mod").await;
    let (manager_id, manager) = s.user("Manager").await;
    let (stranger_id, stranger) = s.user("Stranger").await;
    let world = s.world(&owner, "Reported", true, true).await;
    let world2 = s.world(&owner, "Elsewhere", true, true).await;
    for t in [&a, &b, &c, &moderator, &manager] {
        s.join(t, world).await;
    }
    s.join(&a, world2).await;
    s.join(&b, world2).await;
    let ban = s.role(&owner, world, json!({"name": "moderators", "ban": true})).await;
    let manage = s
        .role(&owner, world, json!({"name": "managers", "role_manage": true}))
        .await;
    s.assign(&owner, world, ban, &mod_id.to_string()).await;
    s.assign(&owner, world, manage, &manager_id.to_string()).await;
    Fixture {
        owner,
        owner_id,
        a,
        a_id,
        b,
        b_id,
        c,
        c_id,
        moderator,
        manager,
        stranger,
        stranger_id,
        world,
        world2,
    }
}

/// `reporter` reports `reported` in `world`, asserting 200.
async fn report(s: &TestServer, reporter: &str, reported: i64, world: i64, comment: &str) -> Value {
    let r = s
        .post(
            &format!("/users/{reported}/reports-received/"),
            Some(reporter),
            json!({"world_id": world, "comment": comment}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "report failed: {}", r.1);
    r.1
}

fn len(v: &Value) -> usize {
    v.as_array().unwrap_or_else(|| panic!("expected a list: {v}")).len()
}

async fn reporting_a_user_rules(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    let (guest, _) = s.guest().await;
    let path = format!("/users/{}/reports-received", f.b_id);
    let body = json!({"world_id": f.world, "comment": "spam", "reporter": f.c_id, "reviewed": true});

    let r = s.post(&path, Some(&f.a), body.clone()).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["reporter"], f.a_id, "the caller, not the body's reporter");
    assert_eq!(r.1["reported"], f.b_id);
    assert_eq!(r.1["world_id"], f.world);
    assert_eq!(r.1["comment"], "spam");
    assert_eq!(r.1["reviewed"], false);
    assert!(
        chrono::NaiveDateTime::parse_from_str(r.1["timestamp"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.f").is_ok(),
        "{}",
        r.1["timestamp"]
    );

    assert_detail(
        &s.post(&path, Some(&f.a), body.clone()).await,
        400,
        "You have already reported this user in this world.",
    );
    // The same pair in another world is another report.
    assert_eq!(
        s.post(&path, Some(&f.a), json!({"world_id": f.world2, "comment": "again"}))
            .await
            .0,
        StatusCode::OK
    );
    assert_detail(
        &s.post(&format!("/users/{}/reports-received", f.a_id), Some(&f.a), body.clone())
            .await,
        400,
        "Cannot report yourself.",
    );
    let not_joined = "One of the users has not joined this world.";
    assert_detail(&s.post(&path, Some(&f.stranger), body.clone()).await, 400, not_joined);
    assert_detail(
        &s.post(
            &format!("/users/{}/reports-received", f.stranger_id),
            Some(&f.a),
            body.clone(),
        )
        .await,
        400,
        not_joined,
    );
    assert_detail(
        &s.post(&path, Some(&f.c), json!({"world_id": f.world2, "comment": "x"}))
            .await,
        400,
        not_joined,
    );
    assert_detail(
        &s.post(&path, Some(&f.c), json!({"world_id": 999999, "comment": "x"}))
            .await,
        400,
        not_joined,
    );
    assert_detail(
        &s.post(&path, Some(&guest), body.clone()).await,
        403,
        "Access Forbidden.",
    );
    assert_invalid(
        &s.post(
            &path,
            Some(&f.c),
            json!({"world_id": f.world, "comment": "c".repeat(301)}),
        )
        .await,
        &["body", "comment"],
    );
    assert_eq!(
        s.post(&path, Some(&f.c), json!({"comment": "no world"})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.db()
            .user_report(f.c_id, f.world, f.b_id)
            .await
            .unwrap()
            .map(|r| r.reporter),
        None
    );
}

async fn user_report_with_null_comment_is_accepted(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    // The original stored it, then failed to serialise the response.
    let r = s
        .post(
            &format!("/users/{}/reports-received", f.b_id),
            Some(&f.a),
            json!({"world_id": f.world, "comment": null}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["comment"], Value::Null);
    assert_eq!(r.1["reporter"], f.a_id);
    // An absent comment too.
    let r = s
        .post(
            &format!("/users/{}/reports-received", f.c_id),
            Some(&f.a),
            json!({"world_id": f.world}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["comment"], Value::Null);
    let sent = s.get(&format!("/users/{}/reports-sent", f.a_id), Some(&f.a)).await;
    assert_eq!(sent.0, StatusCode::OK, "{}", sent.1);
    assert_eq!(len(&sent.1), 2);
    assert!(sent.1.as_array().unwrap().iter().all(|r| r["comment"].is_null()));
    let admin = s.admin().await;
    let detailed = s.get("/users/reports", Some(&admin)).await;
    assert_eq!(detailed.0, StatusCode::OK, "{}", detailed.1);
    assert_eq!(len(&detailed.1), 2);
}

async fn reports_sent_are_for_the_reporter_and_superusers(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    let admin = s.admin().await;
    for target in [f.b_id, f.c_id, f.owner_id] {
        report(&s, &f.a, target, f.world, "r").await;
    }
    report(&s, &f.b, f.a_id, f.world, "not mine").await;
    let path = format!("/users/{}/reports-sent", f.a_id);
    for t in [&f.a, &admin] {
        let r = s.get(&path, Some(t)).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        assert_eq!(len(&r.1), 3);
        assert!(r.1.as_array().unwrap().iter().all(|r| r["reporter"] == f.a_id));
    }
    let mut reported = ids(&s.get(&path, Some(&f.a)).await.1, "reported");
    reported.sort();
    let mut expected = vec![f.b_id, f.c_id, f.owner_id];
    expected.sort();
    assert_eq!(reported, expected);
    // Pages of `limit` plus one.
    assert_eq!(len(&s.get(&format!("{path}?limit=2"), Some(&f.a)).await.1), 3);
    assert_eq!(len(&s.get(&format!("{path}?limit=1"), Some(&f.a)).await.1), 2);
    assert_eq!(len(&s.get(&format!("{path}?limit=2&page=2"), Some(&f.a)).await.1), 1);
    assert_detail(
        &s.get(&format!("{path}?page=0"), Some(&f.a)).await,
        400,
        "Invalid page number.",
    );
    assert_invalid(
        &s.get(&format!("{path}?limit=0"), Some(&f.a)).await,
        &["query", "limit"],
    );
    let forbidden = "You do not have permissions to access reports made by that user";
    assert_detail(&s.get(&path, Some(&f.b)).await, 400, forbidden);
    assert_detail(&s.get(&path, Some(&f.moderator)).await, 400, forbidden);
    let (guest, _) = s.guest().await;
    assert_detail(&s.get(&path, Some(&guest)).await, 403, "Access Forbidden.");
}

async fn reports_received_are_for_superusers_and_paginated(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    let admin = s.admin().await;
    report(&s, &f.b, f.a_id, f.world, "1").await;
    report(&s, &f.c, f.a_id, f.world, "2").await;
    report(&s, &f.owner, f.a_id, f.world, "3").await;
    report(&s, &f.b, f.a_id, f.world2, "4").await;
    report(&s, &f.a, f.b_id, f.world, "other").await;
    let path = format!("/users/{}/reports-received", f.a_id);
    let all = s.get(&path, Some(&admin)).await;
    assert_eq!(all.0, StatusCode::OK, "{}", all.1);
    assert_eq!(len(&all.1), 4);
    assert!(all.1.as_array().unwrap().iter().all(|r| r["reported"] == f.a_id));
    // Like every list: `limit + 1` rows (the original returned 10).
    assert_eq!(len(&s.get(&format!("{path}?limit=2"), Some(&admin)).await.1), 3);
    assert_eq!(len(&s.get(&format!("{path}?limit=3&page=2"), Some(&admin)).await.1), 1);
    assert_detail(
        &s.get(&format!("{path}?page=0"), Some(&admin)).await,
        400,
        "Invalid page number.",
    );
    let forbidden = "You do not have permissions to access reports received by that user";
    for t in [&f.a, &f.moderator, &f.owner] {
        assert_detail(&s.get(&path, Some(t)).await, 400, forbidden);
    }
}

async fn reports_received_in_a_world_need_the_ban_permission(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    let admin = s.admin().await;
    report(&s, &f.b, f.a_id, f.world, "in world").await;
    report(&s, &f.c, f.a_id, f.world, "in world too").await;
    report(&s, &f.b, f.a_id, f.world2, "elsewhere").await;
    let path = format!("/users/{}/reports-received/{}", f.a_id, f.world);
    for t in [&f.moderator, &f.owner, &admin] {
        let r = s.get(&path, Some(t)).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        assert_eq!(len(&r.1), 2);
        assert!(
            r.1.as_array()
                .unwrap()
                .iter()
                .all(|r| r["world_id"] == f.world && r["reported"] == f.a_id)
        );
    }
    assert_eq!(len(&s.get(&format!("{path}?limit=1"), Some(&f.moderator)).await.1), 2);
    assert_eq!(
        len(&s.get(&format!("{path}?limit=1&page=2"), Some(&f.moderator)).await.1),
        1
    );
    // The moderator of one world reads nothing of another.
    assert_detail(
        &s.get(
            &format!("/users/{}/reports-received/{}", f.a_id, f.world2),
            Some(&f.moderator),
        )
        .await,
        400,
        "Access Forbidden.",
    );
    for t in [&f.manager, &f.b, &f.a, &f.stranger] {
        assert_detail(&s.get(&path, Some(t)).await, 400, "Access Forbidden.");
    }
    // A banned moderator holds no permission.
    let mod_id = s.get("/users/me", Some(&f.moderator)).await.1["user_id"]
        .as_i64()
        .unwrap();
    s.set_member_status(&f.owner, f.world, &mod_id.to_string(), 1).await;
    assert_detail(&s.get(&path, Some(&f.moderator)).await, 400, "Access Forbidden.");
}

async fn deleting_user_reports_rules(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    let admin = s.admin().await;
    report(&s, &f.a, f.b_id, f.world, "by a").await;
    report(&s, &f.c, f.b_id, f.world, "by c").await;
    report(&s, &f.a, f.b_id, f.world2, "by a elsewhere").await;
    report(&s, &f.b, f.c_id, f.world, "by b").await;
    let path = |reporter: i64, world: i64, reported: i64| format!("/users/{reporter}/reports-sent/{world}/{reported}");

    // The reported user, other members, role managers and strangers may not.
    for t in [&f.b, &f.c, &f.manager, &f.stranger] {
        assert_detail(
            &s.delete(&path(f.a_id, f.world, f.b_id), Some(t)).await,
            400,
            "Access Forbidden.",
        );
    }
    // The moderator of one world cannot delete reports filed in another.
    assert_detail(
        &s.delete(&path(f.a_id, f.world2, f.b_id), Some(&f.moderator)).await,
        400,
        "Access Forbidden.",
    );
    // The reporter may.
    let r = s.delete(&path(f.a_id, f.world, f.b_id), Some(&f.a)).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(
        (
            r.1["reporter"].clone(),
            r.1["reported"].clone(),
            r.1["world_id"].clone(),
            r.1["comment"].clone()
        ),
        (json!(f.a_id), json!(f.b_id), json!(f.world), json!("by a"))
    );
    assert!(s.db().user_report(f.a_id, f.world, f.b_id).await.unwrap().is_none());
    assert_detail(
        &s.delete(&path(f.a_id, f.world, f.b_id), Some(&f.a)).await,
        400,
        "This report does not exist.",
    );
    // A holder of `ban` in the world, the creator, and superusers may.
    assert_eq!(
        s.delete(&path(f.c_id, f.world, f.b_id), Some(&f.moderator)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        s.delete(&path(f.b_id, f.world, f.c_id), Some(&f.owner)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        s.delete(&path(f.a_id, f.world2, f.b_id), Some(&admin)).await.0,
        StatusCode::OK
    );
    assert_detail(
        &s.delete(&path(f.a_id, f.world2, f.b_id), Some(&admin)).await,
        400,
        "This report does not exist.",
    );
    let (guest, _) = s.guest().await;
    assert_detail(
        &s.delete(&path(f.a_id, f.world, f.b_id), Some(&guest)).await,
        403,
        "Access Forbidden.",
    );
}

async fn user_report_search_rules_and_filters(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    let admin = s.admin().await;
    // Per-world display names show in the detailed rows.
    s.put(
        &format!("/worlds/{}/users/{}", f.world, f.a_id),
        Some(&f.a),
        json!({"username": "Alpha"}),
    )
    .await;
    report(&s, &f.a, f.b_id, f.world, "first").await;
    report(&s, &f.c, f.b_id, f.world, "second").await;
    report(&s, &f.b, f.a_id, f.world, "third").await;
    report(&s, &f.a, f.b_id, f.world2, "other world").await;

    let denied = "Your role does not have permissions to access for this operation.";
    assert_detail(&s.get("/users/reports", Some(&f.moderator)).await, 400, denied);
    for t in [&f.a, &f.manager, &f.stranger] {
        assert_detail(
            &s.get(&format!("/users/reports?world_id={}", f.world), Some(t)).await,
            400,
            denied,
        );
    }
    assert_detail(
        &s.get(&format!("/users/reports?world_id={}", f.world2), Some(&f.moderator))
            .await,
        400,
        denied,
    );

    let r = s
        .get(&format!("/users/reports/?world_id={}", f.world), Some(&f.moderator))
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(len(&r.1), 3);
    let comments: Vec<&str> =
        r.1.as_array()
            .unwrap()
            .iter()
            .map(|r| r["comment"].as_str().unwrap())
            .collect();
    assert_eq!(comments, ["third", "second", "first"], "newest first");
    let first =
        r.1.as_array()
            .unwrap()
            .iter()
            .find(|r| r["comment"] == "first")
            .unwrap();
    assert_eq!(first["reporter"], f.a_id);
    assert_eq!(first["reported"], f.b_id);
    assert_eq!(first["world_id"], f.world);
    assert_eq!(first["reviewed"], false);
    assert_eq!(first["reporter_name"], "Alpha");
    assert_eq!(first["reported_name"], "Bob");
    assert_eq!(first["world_name"], "Reported");
    // E-mail addresses are for platform superusers only (security review F3): a world's
    // moderator, or its creator, sees names.
    for t in [&f.moderator, &f.owner] {
        let rows = s.get(&format!("/users/reports?world_id={}", f.world), Some(t)).await.1;
        for row in rows.as_array().unwrap() {
            assert!(row["reporter_email"].is_null(), "{row}");
            assert!(row["reported_email"].is_null(), "{row}");
            assert!(row["reporter_name"].is_string(), "{row}");
        }
    }
    let a_email = s.db().user_by_id(f.a_id).await.unwrap().unwrap().email;
    let b_email = s.db().user_by_id(f.b_id).await.unwrap().unwrap().email;
    let by_admin = s
        .get(&format!("/users/reports?world_id={}", f.world), Some(&admin))
        .await
        .1;
    let first = by_admin
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["comment"] == "first")
        .unwrap();
    assert_eq!(first["reporter_email"], a_email);
    assert_eq!(first["reported_email"], b_email);

    let q = |extra: &str| format!("/users/reports?world_id={}&{extra}", f.world);
    let asc = s.get(&q("order=asc"), Some(&f.owner)).await.1;
    let comments: Vec<&str> = asc
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["comment"].as_str().unwrap())
        .collect();
    assert_eq!(comments, ["first", "second", "third"]);
    assert_eq!(
        ids(
            &s.get(&q(&format!("reporter_id={}", f.a_id)), Some(&f.owner)).await.1,
            "reported"
        ),
        vec![f.b_id]
    );
    assert_eq!(
        len(&s.get(&q(&format!("reported_id={}", f.b_id)), Some(&f.owner)).await.1),
        2
    );
    assert_eq!(len(&s.get(&q("limit=1"), Some(&f.owner)).await.1), 2);
    assert_eq!(len(&s.get(&q("limit=2&page=2"), Some(&f.owner)).await.1), 1);
    assert_detail(&s.get(&q("page=0"), Some(&f.owner)).await, 400, "Invalid page number.");
    assert_invalid(&s.get(&q("limit=101"), Some(&f.owner)).await, &["query", "limit"]);

    // `reviewed` filters on equality, default false.
    let review = s
        .put(
            &format!("/users/{}/reports-sent/{}/{}/", f.a_id, f.world, f.b_id),
            Some(&admin),
            json!({"reviewed": true}),
        )
        .await;
    assert_eq!(review.0, StatusCode::OK, "{}", review.1);
    assert_eq!(len(&s.get(&q(""), Some(&f.owner)).await.1), 2);
    let reviewed = s.get(&q("reviewed=true"), Some(&f.owner)).await.1;
    assert_eq!(len(&reviewed), 1);
    assert_eq!(reviewed[0]["comment"], "first");
    assert_eq!(reviewed[0]["reviewed"], true);

    // Superusers need no world.
    let all = s.get("/users/reports", Some(&admin)).await;
    assert_eq!(all.0, StatusCode::OK);
    assert_eq!(len(&all.1), 3, "unreviewed reports of every world: {}", all.1);
    assert_eq!(
        len(&s
            .get(&format!("/users/reports?world_id={}", f.world2), Some(&admin))
            .await
            .1),
        1
    );
}

async fn reviewing_user_reports_is_for_superusers(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    let admin = s.admin().await;
    report(&s, &f.a, f.b_id, f.world, "review me").await;
    let path = format!("/users/{}/reports-sent/{}/{}", f.a_id, f.world, f.b_id);
    for t in [&f.a, &f.moderator, &f.owner] {
        assert_detail(
            &s.put(&path, Some(t), json!({"reviewed": true})).await,
            403,
            "Access Forbidden.",
        );
    }
    let r = s
        .put(&format!("{path}/"), Some(&admin), json!({"reviewed": true}))
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["reviewed"], true);
    assert_eq!(r.1["comment"], "review me");
    assert!(
        s.db()
            .user_report(f.a_id, f.world, f.b_id)
            .await
            .unwrap()
            .unwrap()
            .reviewed
    );
    // Setting the same value again is harmless.
    assert_eq!(
        s.put(&path, Some(&admin), json!({"reviewed": true})).await.1["reviewed"],
        true
    );
    let r = s.put(&path, Some(&admin), json!({"reviewed": false})).await;
    assert_eq!(r.1["reviewed"], false);
    assert_detail(
        &s.put(
            &format!("/users/{}/reports-sent/{}/{}", f.c_id, f.world, f.b_id),
            Some(&admin),
            json!({"reviewed": true}),
        )
        .await,
        400,
        "This report does not exist.",
    );
    assert_eq!(
        s.put(&path, Some(&admin), json!({"reviewed": "maybe"})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.put(&path, Some(&admin), json!({})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn reporting_a_world_rules(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    let (guest, _) = s.guest().await;
    let path = format!("/worlds/{}/reports/", f.world);
    let r = s
        .post(
            &path,
            Some(&f.a),
            json!({"comment": "offensive map", "reporter": f.b_id, "reviewed": true}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["reported"], f.world);
    assert_eq!(r.1["reporter"], f.a_id);
    assert_eq!(r.1["comment"], "offensive map");
    assert_eq!(r.1["reviewed"], false);
    assert!(r.1["timestamp"].is_string());
    assert_detail(
        &s.post(&path, Some(&f.a), json!({"comment": "again"})).await,
        400,
        "This world has already been reported by the user.",
    );
    let must_join = "You must join the world in order to report it.";
    assert_detail(
        &s.post(&path, Some(&f.stranger), json!({"comment": "x"})).await,
        400,
        must_join,
    );
    assert_detail(
        &s.post("/worlds/999999/reports", Some(&f.a), json!({"comment": "x"}))
            .await,
        400,
        must_join,
    );
    assert_detail(
        &s.post(&path, Some(&guest), json!({"comment": "x"})).await,
        403,
        "Access Forbidden.",
    );
    assert_eq!(
        s.post(&path, Some(&f.b), json!({})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_invalid(
        &s.post(&path, Some(&f.b), json!({"comment": "c".repeat(301)})).await,
        &["body", "comment"],
    );
    // Other members may report it too.
    assert_eq!(
        s.post(&path, Some(&f.b), json!({"comment": "me too"})).await.0,
        StatusCode::OK
    );
}

async fn withdrawing_a_world_report(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    let (guest, _) = s.guest().await;
    let path = format!("/worlds/{}/reports", f.world);
    s.post(&path, Some(&f.a), json!({"comment": "bad"})).await;
    s.post(&path, Some(&f.b), json!({"comment": "worse"})).await;
    assert_detail(&s.delete(&path, Some(&guest)).await, 403, "Access Forbidden.");
    assert_detail(
        &s.delete(&path, Some(&f.c)).await,
        400,
        "This world was not reported by the user.",
    );
    let r = s.delete(&format!("{path}/"), Some(&f.a)).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["reporter"], f.a_id);
    assert_eq!(r.1["comment"], "bad");
    assert_detail(
        &s.delete(&path, Some(&f.a)).await,
        400,
        "This world was not reported by the user.",
    );
    // Only one's own report goes.
    assert!(s.db().world_report(f.world, f.b_id).await.unwrap().is_some());
    // A withdrawn report may be filed again.
    assert_eq!(
        s.post(&path, Some(&f.a), json!({"comment": "bad"})).await.0,
        StatusCode::OK
    );
}

async fn reviewing_world_reports_is_for_superusers(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    let admin = s.admin().await;
    let path = format!("/worlds/{}/reports", f.world);
    s.post(&path, Some(&f.a), json!({"comment": "bad"})).await;
    let body = json!({"reporter": f.a_id, "reviewed": true});
    for t in [&f.a, &f.owner, &f.moderator] {
        assert_detail(&s.put(&path, Some(t), body.clone()).await, 403, "Access Forbidden.");
    }
    let r = s.put(&format!("{path}/"), Some(&admin), body.clone()).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["reviewed"], true);
    assert_eq!(r.1["reporter"], f.a_id);
    assert_eq!(r.1["reported"], f.world);
    assert_detail(
        &s.put(&path, Some(&admin), body.clone()).await,
        403,
        "This request has no effect.",
    );
    assert_detail(
        &s.put(&path, Some(&admin), json!({"reporter": f.b_id, "reviewed": true}))
            .await,
        403,
        "This world was not reported by the user.",
    );
    assert_eq!(
        s.put(&path, Some(&admin), json!({"reporter": f.a_id, "reviewed": false}))
            .await
            .1["reviewed"],
        false
    );
    assert_eq!(
        s.put(&path, Some(&admin), json!({"reviewed": true})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn world_report_list_is_for_superusers_with_filters(b: Backend) {
    let s = TestServer::start(b).await;
    let f = fixture(&s).await;
    let admin = s.admin().await;
    let (guest, _) = s.guest().await;
    let banned = s.world(&f.owner, "ToBan", true, true).await;
    let deleted = s.world(&f.owner, "ToDelete", true, true).await;
    for w in [banned, deleted] {
        s.join(&f.a, w).await;
    }
    for (t, w, c) in [
        (&f.a, f.world, "a on world"),
        (&f.b, f.world, "b on world"),
        (&f.a, f.world2, "a on world2"),
        (&f.a, banned, "a on banned"),
        (&f.a, deleted, "a on deleted"),
    ] {
        let r = s
            .post(&format!("/worlds/{w}/reports"), Some(t), json!({"comment": c}))
            .await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    }
    s.put(&format!("/worlds/{banned}"), Some(&admin), json!({"status": 1}))
        .await;
    s.delete(&format!("/worlds/{deleted}"), Some(&f.owner)).await;

    assert_detail(&s.get("/worlds/reports", Some(&guest)).await, 403, "Access Forbidden.");
    for t in [&f.owner, &f.a, &f.moderator] {
        assert_detail(
            &s.get("/worlds/reports/", Some(t)).await,
            403,
            "You do not have permissions to access the reports of the world.",
        );
    }
    // Default: unreviewed reports on open worlds, newest first.
    let r = s.get("/worlds/reports/", Some(&admin)).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let comments: Vec<&str> =
        r.1.as_array()
            .unwrap()
            .iter()
            .map(|r| r["comment"].as_str().unwrap())
            .collect();
    assert_eq!(comments, ["a on world2", "b on world", "a on world"]);
    let row = &r.1[2];
    assert_eq!(row["reported"], f.world);
    assert_eq!(row["reporter"], f.a_id);
    assert_eq!(row["reviewed"], false);
    assert_eq!(row["world_name"], "Reported");
    assert_eq!(row["banned"], 0);
    assert_eq!(
        row["reporter_email"],
        s.db().user_by_id(f.a_id).await.unwrap().unwrap().email
    );
    assert!(row["timestamp"].is_string());

    let get = |q: String| {
        let (s, admin) = (&s, admin.clone());
        async move {
            let r = s.get(&format!("/worlds/reports?{q}"), Some(&admin)).await;
            assert_eq!(r.0, StatusCode::OK, "{q}: {}", r.1);
            r.1
        }
    };
    let asc = get("order=asc".into()).await;
    assert_eq!(asc[0]["comment"], "a on world");
    assert_eq!(len(&get(format!("world={}", f.world)).await), 2);
    assert_eq!(len(&get(format!("reporter={}", f.b_id)).await), 1);
    assert_eq!(len(&get(format!("world={}&reporter={}", f.world2, f.a_id)).await), 1);
    let on_banned = get("banned=true".into()).await;
    assert_eq!(len(&on_banned), 1);
    assert_eq!(on_banned[0]["comment"], "a on banned");
    assert_eq!(on_banned[0]["banned"], 1);
    assert!(
        get(format!("world={deleted}")).await.as_array().unwrap().is_empty(),
        "reports on deleted worlds are never listed"
    );
    assert_eq!(len(&get("limit=1".into()).await), 2);
    assert_eq!(len(&get("limit=2&page=2".into()).await), 1);
    assert_detail(
        &s.get("/worlds/reports?page=0", Some(&admin)).await,
        400,
        "Invalid page number.",
    );
    assert_invalid(
        &s.get("/worlds/reports?limit=0", Some(&admin)).await,
        &["query", "limit"],
    );

    s.put(
        &format!("/worlds/{}/reports", f.world),
        Some(&admin),
        json!({"reporter": f.b_id, "reviewed": true}),
    )
    .await;
    let reviewed = get("reviewed=true".into()).await;
    assert_eq!(len(&reviewed), 1);
    assert_eq!(reviewed[0]["comment"], "b on world");
    assert_eq!(reviewed[0]["reviewed"], true);
    assert_eq!(len(&get(String::new()).await), 2);
}

async fn concurrent_duplicate_reports_file_one_report(b: Backend) {
    let s = Arc::new(TestServer::start(b).await);
    let f = fixture(&s).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = s.clone();
        let (token, path, body, dup) = if i % 2 == 0 {
            (
                f.a.clone(),
                format!("/users/{}/reports-received", f.b_id),
                json!({"world_id": f.world, "comment": "race"}),
                "You have already reported this user in this world.",
            )
        } else {
            (
                f.a.clone(),
                format!("/worlds/{}/reports", f.world),
                json!({"comment": "race"}),
                "This world has already been reported by the user.",
            )
        };
        tasks.push(tokio::spawn(
            async move { (s.post(&path, Some(&token), body).await, dup) },
        ));
    }
    let mut ok = 0;
    for t in tasks {
        let (r, dup) = t.await.unwrap();
        match r.0 {
            StatusCode::OK => ok += 1,
            _ => assert_detail(&r, 400, dup),
        }
    }
    assert_eq!(ok, 2, "one user report and one world report");
    let sent = s.get(&format!("/users/{}/reports-sent", f.a_id), Some(&f.a)).await.1;
    assert_eq!(len(&sent), 1);
}
