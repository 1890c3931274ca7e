//! The activity log (as in the original, with its hole closed), statistics (counters,
//! hourly charts in the original's shape, range limits) and tags.

mod common;

use chrono::{Duration, NaiveDate, NaiveDateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Backend, TestServer, assert_detail, assert_invalid};
use crowdwire_store::Timestamp;

const CHART_RANGE: &str =
    "Invalid date range: end_date must not precede start_date, and the range may span at most 366 days.";

db_tests!(
    events_are_readable_by_superusers_creators_and_role_managers,
    event_filters_order_and_pagination,
    event_query_validation,
    global_statistics_count_users_worlds_and_unreviewed_reports,
    world_statistics_are_for_superusers_and_the_creator,
    world_chart_counts_distinct_entering_users_per_hour,
    platform_active_users_chart_counts_each_user_once_per_hour,
    new_users_chart_counts_registrations_per_hour,
    non_superusers_cannot_rewrite_their_register_date_or_status,
    chart_ranges_are_limited,
    chart_end_date_defaults_to_now,
    tags_are_listed_for_users_and_guests,
);

/// 2024-03-10 08:00:00 UTC, the origin of every fixture time.
fn t0() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 3, 10)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap()
}

/// `t0 + minutes`, as stored.
fn at(minutes: i64) -> Timestamp {
    Timestamp::from_naive(t0() + Duration::minutes(minutes))
}

/// `t0 + minutes` as an ISO query value.
fn iso(minutes: i64) -> String {
    (t0() + Duration::minutes(minutes))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

async fn event(s: &TestServer, world: i64, user: i64, kind: &str, when: Timestamp) {
    s.db().insert_event(world, user, kind, when).await.unwrap();
}

/// `(event_type, user_id, timestamp)` of each row.
fn events(v: &Value) -> Vec<(String, i64, String)> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list: {v}"))
        .iter()
        .map(|e| {
            (
                e["event_type"].as_str().unwrap().to_owned(),
                e["user_id"].as_i64().unwrap(),
                e["timestamp"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A world with a plain member, a role manager and five events, and a second world with one
/// event.
struct EventFixture {
    owner: String,
    member: String,
    member_id: i64,
    manager: String,
    manager_id: i64,
    world: i64,
    world2: i64,
}

async fn event_fixture(s: &TestServer) -> EventFixture {
    let (_, owner) = s.user("Owner").await;
    let (member_id, member) = s.user("Member").await;
    let (manager_id, manager) = s.user("Manager").await;
    let world = s.world(&owner, "Logged", true, true).await;
    let world2 = s.world(&owner, "Logged too", true, true).await;
    s.join(&member, world).await;
    s.join(&manager, world).await;
    let role = s
        .role(&owner, world, json!({"name": "managers", "role_manage": true}))
        .await;
    s.assign(&owner, world, role, &manager_id.to_string()).await;
    event(s, world, member_id, "JOIN_PLAYER", at(0)).await;
    event(s, world, member_id, "LEAVE_PLAYER", at(10)).await;
    event(s, world, manager_id, "JOIN_CONFERENCE", at(20)).await;
    event(s, world, manager_id, "LEAVE_CONFERENCE", at(30)).await;
    event(s, world, manager_id, "JOIN_PLAYER", at(40)).await;
    event(s, world2, member_id, "JOIN_PLAYER", at(5)).await;
    EventFixture {
        owner,
        member,
        member_id,
        manager,
        manager_id,
        world,
        world2,
    }
}

async fn events_are_readable_by_superusers_creators_and_role_managers(b: Backend) {
    let s = TestServer::start(b).await;
    let f = event_fixture(&s).await;
    let admin = s.admin().await;
    let (_, stranger) = s.user("Stranger").await;
    let (guest, _) = s.guest().await;
    let path = format!("/worlds/{}/events/", f.world);
    for t in [&f.owner, &f.manager, &admin] {
        let r = s.get(&path, Some(t)).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        assert_eq!(r.1.as_array().unwrap().len(), 5);
    }
    // Any registered user could read them in the original (fixed from the original).
    for t in [&f.member, &stranger, &guest] {
        assert_detail(&s.get(&path, Some(t)).await, 403, "Access Forbidden.");
    }
    assert_detail(
        &s.get("/worlds/999999/events", Some(&f.owner)).await,
        403,
        "Access Forbidden.",
    );
    assert_eq!(s.get("/worlds/999999/events", Some(&admin)).await.1, json!([]));
    // A banned role manager holds no permission.
    s.set_member_status(&f.owner, f.world, &f.manager_id.to_string(), 1)
        .await;
    assert_detail(&s.get(&path, Some(&f.manager)).await, 403, "Access Forbidden.");
    // World 2's creator reads world 2's log only.
    let other = s.get(&format!("/worlds/{}/events", f.world2), Some(&f.owner)).await;
    assert_eq!(events(&other.1), vec![("JOIN_PLAYER".into(), f.member_id, iso(5))]);
}

async fn event_filters_order_and_pagination(b: Backend) {
    let s = TestServer::start(b).await;
    let f = event_fixture(&s).await;
    let (m, r) = (f.member_id, f.manager_id);
    let get = |q: String| {
        let (s, owner, world) = (&s, f.owner.clone(), f.world);
        async move {
            let resp = s.get(&format!("/worlds/{world}/events?{q}"), Some(&owner)).await;
            assert_eq!(resp.0, StatusCode::OK, "{q}: {}", resp.1);
            events(&resp.1)
        }
    };
    let e = |kind: &str, user: i64, minutes: i64| (kind.to_owned(), user, iso(minutes));
    let all_desc = vec![
        e("JOIN_PLAYER", r, 40),
        e("LEAVE_CONFERENCE", r, 30),
        e("JOIN_CONFERENCE", r, 20),
        e("LEAVE_PLAYER", m, 10),
        e("JOIN_PLAYER", m, 0),
    ];
    assert_eq!(get(String::new()).await, all_desc, "newest first by default");
    let raw = s.get(&format!("/worlds/{}/events", f.world), Some(&f.owner)).await.1;
    assert_eq!(
        raw[0],
        json!({"event_type": "JOIN_PLAYER", "timestamp": "2024-03-10T08:40:00", "world_id": f.world, "user_id": r})
    );
    let mut asc = all_desc.clone();
    asc.reverse();
    assert_eq!(get("order_desc=false".into()).await, asc);
    assert_eq!(
        get("event_type=JOIN_PLAYER&event_type=LEAVE_PLAYER".into()).await,
        vec![
            e("JOIN_PLAYER", r, 40),
            e("LEAVE_PLAYER", m, 10),
            e("JOIN_PLAYER", m, 0)
        ]
    );
    assert_eq!(
        get("event_type=JOIN_CONFERENCE".into()).await,
        vec![e("JOIN_CONFERENCE", r, 20)]
    );
    assert_eq!(
        get(format!("user_id={m}")).await,
        vec![e("LEAVE_PLAYER", m, 10), e("JOIN_PLAYER", m, 0)]
    );
    assert_eq!(
        get(format!("user_id={m}&event_type=JOIN_PLAYER")).await,
        vec![e("JOIN_PLAYER", m, 0)]
    );
    // Both bounds are inclusive; zones are honoured.
    assert_eq!(
        get(format!("start_date={}&end_date={}", iso(10), iso(30))).await,
        all_desc[1..4].to_vec()
    );
    assert_eq!(
        get("start_date=2024-03-10T10:10:00%2B02:00&end_date=2024-03-10 08:30:00".into()).await,
        all_desc[1..4].to_vec()
    );
    assert_eq!(get(format!("start_date={}", iso(35))).await, all_desc[0..1].to_vec());
    assert_eq!(get(format!("end_date={}", iso(5))).await, all_desc[4..5].to_vec());
    assert!(get(format!("start_date={}", iso(41))).await.is_empty());
    // Pages of `limit` plus one (the original returned `limit`).
    assert_eq!(get("limit=2".into()).await, all_desc[0..3].to_vec());
    assert_eq!(get("limit=2&page=2".into()).await, all_desc[2..5].to_vec());
    assert_eq!(get("limit=2&page=3".into()).await, all_desc[4..5].to_vec());
    assert!(get("limit=2&page=4".into()).await.is_empty());
    assert_eq!(get("limit=4".into()).await, all_desc);
}

async fn event_query_validation(b: Backend) {
    let s = TestServer::start(b).await;
    let f = event_fixture(&s).await;
    let path = format!("/worlds/{}/events", f.world);
    for page in ["0", "-3", "1000001"] {
        assert_detail(
            &s.get(&format!("{path}?page={page}"), Some(&f.owner)).await,
            400,
            "Invalid page number.",
        );
    }
    for limit in ["0", "101"] {
        assert_invalid(
            &s.get(&format!("{path}?limit={limit}"), Some(&f.owner)).await,
            &["query", "limit"],
        );
    }
    assert_invalid(
        &s.get(&format!("{path}?event_type=TELEPORT"), Some(&f.owner)).await,
        &["query", "event_type"],
    );
    assert_invalid(
        &s.get(&format!("{path}?start_date=yesterday"), Some(&f.owner)).await,
        &["query", "start_date"],
    );
    assert_invalid(
        &s.get(&format!("{path}?end_date=2024-13-01"), Some(&f.owner)).await,
        &["query", "end_date"],
    );
    assert_eq!(
        s.get(&format!("{path}?user_id=abc"), Some(&f.owner)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        s.get(&format!("{path}?order_desc=sideways"), Some(&f.owner)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn global_statistics_count_users_worlds_and_unreviewed_reports(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin().await;
    let (guest, _) = s.guest().await;
    let (u1_id, u1) = s.user("One").await;
    let (u2_id, u2) = s.user("Two").await;
    let (u3_id, _) = s.user("Three").await;
    let stats = || async { s.get("/statistics", Some(&admin)).await };
    let empty = stats().await;
    assert_eq!(empty.0, StatusCode::OK, "{}", empty.1);
    assert_eq!(
        empty.1,
        json!({"users": 4, "worlds": 0, "user_reports": 0, "world_reports": 0, "online_users": 0}),
        "the superuser and three users"
    );

    let w1 = s.world(&u1, "W1", true, true).await;
    let w2 = s.world(&u1, "W2", true, true).await;
    let w3 = s.world(&u1, "W3", true, true).await;
    s.join(&u2, w1).await;
    s.join(&u2, w3).await;
    for (t, reported) in [(&u2, u1_id), (&u1, u2_id)] {
        let r = s
            .post(
                &format!("/users/{reported}/reports-received"),
                Some(t),
                json!({"world_id": w1, "comment": "x"}),
            )
            .await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    }
    for (t, w) in [(&u1, w1), (&u2, w1), (&u2, w3)] {
        assert_eq!(
            s.post(&format!("/worlds/{w}/reports"), Some(t), json!({"comment": "x"}))
                .await
                .0,
            StatusCode::OK
        );
    }
    // One of each kind reviewed; world 3 banned, world 2 deleted; user 3 banned.
    s.put(
        &format!("/users/{u2_id}/reports-sent/{w1}/{u1_id}"),
        Some(&admin),
        json!({"reviewed": true}),
    )
    .await;
    s.put(
        &format!("/worlds/{w1}/reports"),
        Some(&admin),
        json!({"reporter": u1_id, "reviewed": true}),
    )
    .await;
    s.put(&format!("/worlds/{w3}"), Some(&admin), json!({"status": 1}))
        .await;
    s.delete(&format!("/worlds/{w2}"), Some(&u1)).await;
    s.put(&format!("/users/{u3_id}"), Some(&admin), json!({"status": 1}))
        .await;

    assert_eq!(
        stats().await.1,
        json!({"users": 3, "worlds": 3, "user_reports": 1, "world_reports": 1, "online_users": 0})
    );
    assert_detail(&s.get("/statistics", Some(&u1)).await, 403, "Access Forbidden.");
    assert_detail(&s.get("/statistics/", Some(&guest)).await, 403, "Access Forbidden.");
    assert_detail(&s.get("/statistics", None).await, 401, "Not authenticated");
}

async fn world_statistics_are_for_superusers_and_the_creator(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin().await;
    let (guest, _) = s.guest().await;
    let (_, owner) = s.user("Owner").await;
    let (m1_id, m1) = s.user("M1").await;
    let (m2_id, m2) = s.user("M2").await;
    let (manager_id, manager) = s.user("Manager").await;
    let world = s.world(&owner, "Counted", true, true).await;
    let other = s.world(&owner, "Not counted", true, true).await;
    s.join(&m1, world).await;
    s.join(&m1, world).await;
    s.join(&m2, world).await;
    s.join(&manager, world).await;
    s.join(&m1, other).await;
    s.join(&m2, other).await;
    let role = s
        .role(
            &owner,
            world,
            json!({"name": "managers", "role_manage": true, "ban": true}),
        )
        .await;
    s.assign(&owner, world, role, &manager_id.to_string()).await;
    for (t, reported, w) in [(&m1, m2_id, world), (&m2, m1_id, world), (&m1, m2_id, other)] {
        let r = s
            .post(
                &format!("/users/{reported}/reports-received"),
                Some(t),
                json!({"world_id": w, "comment": "x"}),
            )
            .await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    }
    // Reviewed reports still count here.
    s.put(
        &format!("/users/{m1_id}/reports-sent/{world}/{m2_id}"),
        Some(&admin),
        json!({"reviewed": true}),
    )
    .await;
    let expected =
        json!({"world_id": world, "total_users": 4, "online_users": 0, "reports_users": 2, "total_n_joins": 5});
    let path = format!("/statistics/worlds/{world}");
    for t in [&owner, &admin] {
        let r = s.get(&path, Some(t)).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        assert_eq!(r.1, expected);
    }
    assert_eq!(
        s.get(&format!("/statistics/worlds/{other}"), Some(&owner)).await.1,
        json!({"world_id": other, "total_users": 3, "online_users": 0, "reports_users": 1, "total_n_joins": 3})
    );
    for t in [&m1, &manager] {
        assert_detail(&s.get(&path, Some(t)).await, 403, "Access Forbidden.");
    }
    assert_detail(&s.get(&path, Some(&guest)).await, 403, "Access Forbidden.");
    // Unknown world: 400, not the original's 500.
    for t in [&admin, &owner] {
        assert_detail(
            &s.get("/statistics/worlds/999999", Some(t)).await,
            400,
            "World Not Found or is not currently available.",
        );
    }
}

/// `[(key, count)]` of a chart, checking every element has exactly one key.
fn chart(v: &Value) -> Vec<(String, i64)> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a chart: {v}"))
        .iter()
        .map(|bucket| {
            let obj = bucket.as_object().unwrap_or_else(|| panic!("bucket {bucket}"));
            assert_eq!(obj.len(), 1, "one key per bucket: {bucket}");
            let (k, n) = obj.iter().next().unwrap();
            (k.clone(), n.as_i64().unwrap())
        })
        .collect()
}

/// The expected chart from `t0` with these counts per hour.
fn hours(counts: &[i64]) -> Vec<(String, i64)> {
    counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let key = (t0() + Duration::hours(i as i64))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            (key, n)
        })
        .collect()
}

async fn world_chart_counts_distinct_entering_users_per_hour(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin().await;
    let (_, owner) = s.user("Owner").await;
    let (u1, member) = s.user("U1").await;
    let (u2, _) = s.user("U2").await;
    let world = s.world(&owner, "Charted", true, true).await;
    let other = s.world(&owner, "Elsewhere", true, true).await;
    s.join(&member, world).await;
    event(&s, world, u1, "JOIN_PLAYER", at(5)).await;
    event(&s, world, u1, "JOIN_PLAYER", at(10)).await; // the same user again: still 1
    event(&s, world, u2, "JOIN_PLAYER", at(20)).await;
    event(
        &s,
        world,
        u1,
        "JOIN_PLAYER",
        Timestamp::from_naive(t0() + Duration::seconds(3601)),
    )
    .await;
    event(&s, world, u2, "LEAVE_PLAYER", at(125)).await; // not an entry
    event(&s, world, u2, "JOIN_CONFERENCE", at(126)).await; // not an entry
    event(&s, other, u1, "JOIN_PLAYER", at(130)).await; // another world
    event(&s, world, u2, "JOIN_PLAYER", at(180)).await; // exactly at end_date: included
    event(
        &s,
        world,
        u2,
        "JOIN_PLAYER",
        Timestamp::from_naive(t0() - Duration::seconds(1)),
    )
    .await; // before start

    let path = |q: String| format!("/statistics/worlds/{world}/charts?{q}");
    let r = s
        .get(
            &path(format!("start_date={}&end_date={}", iso(0), iso(180))),
            Some(&owner),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(chart(&r.1), hours(&[2, 1, 0, 1]));
    assert_eq!(r.1[0], json!({"2024-03-10 08:00:00": 2}), "the original's shape");
    // The last bucket is the hour end_date falls in.
    let r = s
        .get(
            &path(format!("start_date={}&end_date={}", iso(0), iso(179))),
            Some(&admin),
        )
        .await;
    assert_eq!(chart(&r.1), hours(&[2, 1, 0]));
    let r = s
        .get(
            &path(format!("start_date={}&end_date={}", iso(0), iso(0))),
            Some(&owner),
        )
        .await;
    assert_eq!(chart(&r.1), hours(&[0]), "a single instant is one bucket");
    let r = s
        .get(
            &path(format!("start_date={}&end_date={}", iso(0), iso(59))),
            Some(&owner),
        )
        .await;
    assert_eq!(chart(&r.1), hours(&[2]));

    let q = format!("start_date={}&end_date={}", iso(0), iso(180));
    assert_detail(&s.get(&path(q.clone()), Some(&member)).await, 403, "Access Forbidden.");
    assert_detail(
        &s.get(&format!("/statistics/worlds/999999/charts?{q}"), Some(&admin))
            .await,
        400,
        "World Not Found or is not currently available.",
    );
}

async fn platform_active_users_chart_counts_each_user_once_per_hour(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin().await;
    let (u1, owner) = s.user("U1").await;
    let (u2, _) = s.user("U2").await;
    let w1 = s.world(&owner, "One", true, true).await;
    let w2 = s.world(&owner, "Two", true, true).await;
    event(&s, w1, u1, "JOIN_PLAYER", at(5)).await;
    event(&s, w2, u1, "JOIN_PLAYER", at(10)).await; // same user, other world, same hour
    event(&s, w2, u2, "JOIN_PLAYER", at(30)).await;
    event(&s, w1, u2, "JOIN_CONFERENCE", at(70)).await;
    event(&s, w1, u2, "JOIN_PLAYER", at(150)).await;
    event(&s, w2, u1, "JOIN_PLAYER", at(170)).await;
    let q = format!("start_date={}&end_date={}", iso(0), iso(180));
    let r = s
        .get(&format!("/statistics/charts/active-users?{q}"), Some(&admin))
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(chart(&r.1), hours(&[2, 0, 2, 0]));
    assert_detail(
        &s.get(&format!("/statistics/charts/active-users?{q}"), Some(&owner))
            .await,
        403,
        "Access Forbidden.",
    );
}

async fn new_users_chart_counts_registrations_per_hour(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin().await;
    let mut ids = Vec::new();
    for name in ["A", "B", "C"] {
        ids.push(s.user(name).await.0);
    }
    let (_, user) = s.user("D").await;
    for (id, minutes) in ids.iter().zip([10, 50, 130]) {
        let r = s
            .put(
                &format!("/users/{id}"),
                Some(&admin),
                json!({"register_date": iso(minutes)}),
            )
            .await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        assert_eq!(r.1["register_date"], iso(minutes));
    }
    let q = format!("start_date={}&end_date={}", iso(0), iso(180));
    let r = s.get(&format!("/statistics/charts/new-users?{q}"), Some(&admin)).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(chart(&r.1), hours(&[2, 0, 1, 0]));
    assert_detail(
        &s.get(&format!("/statistics/charts/new-users?{q}"), Some(&user)).await,
        403,
        "Access Forbidden.",
    );
}

async fn non_superusers_cannot_rewrite_their_register_date_or_status(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin().await;
    let (id, user) = s.user("Sneaky").await;
    let before = s.get("/users/me", Some(&user)).await.1;
    // The original let users rewrite their own register_date.
    let r = s
        .put(
            &format!("/users/{id}"),
            Some(&user),
            json!({"register_date": iso(10), "status": 1, "name": "Renamed"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["name"], "Renamed", "the rest of the edit applies");
    assert_eq!(r.1["register_date"], before["register_date"]);
    assert_eq!(r.1["status"], 0);
    let after = s.get("/users/me", Some(&user)).await;
    assert_eq!(after.0, StatusCode::OK, "still active: {}", after.1);
    assert_eq!(after.1["register_date"], before["register_date"]);
    let q = format!("start_date={}&end_date={}", iso(0), iso(60));
    assert_eq!(
        chart(
            &s.get(&format!("/statistics/charts/new-users?{q}"), Some(&admin))
                .await
                .1
        ),
        hours(&[0, 0])
    );
}

async fn chart_ranges_are_limited(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin().await;
    let (_, owner) = s.user("Owner").await;
    let world = s.world(&owner, "Ranged", true, true).await;
    let charts = [
        format!("/statistics/worlds/{world}/charts"),
        "/statistics/charts/active-users".to_owned(),
        "/statistics/charts/new-users".to_owned(),
    ];
    let day = 24 * 60;
    for c in &charts {
        // end before start.
        assert_detail(
            &s.get(
                &format!("{c}?start_date={}&end_date={}", iso(60), iso(59)),
                Some(&admin),
            )
            .await,
            400,
            CHART_RANGE,
        );
        // More than 366 days, by a second.
        let over = (t0() + Duration::days(366) + Duration::seconds(1)).format("%Y-%m-%dT%H:%M:%S");
        assert_detail(
            &s.get(&format!("{c}?start_date={}&end_date={over}", iso(0)), Some(&admin))
                .await,
            400,
            CHART_RANGE,
        );
        // Instants at the ends of what the parser can read: a clear 4xx each (security review
        // F9: the span overflowed, a 500 and a backtrace per call).
        for q in [
            "start_date=-200000-01-01T00:00:00&end_date=%2B200000-01-01T00:00:00",
            "start_date=-262000-01-01T00:00:00",
            "start_date=%2B262000-01-01T00:00:00&end_date=-262000-01-01T00:00:00",
            "start_date=0000-12-31T00:00:00&end_date=0001-01-01T00:00:00",
        ] {
            let r = s.get(&format!("{c}?{q}"), Some(&admin)).await;
            assert!(r.0.is_client_error(), "{q}: {} {}", r.0, r.1);
        }
        let r = s
            .get(
                &format!("{c}?start_date=9999-12-31T22:00:00&end_date=9999-12-31T23:59:59"),
                Some(&admin),
            )
            .await;
        assert_eq!(r.0, StatusCode::OK, "the last hours of year 9999: {}", r.1);
        assert_invalid(
            &s.get(&format!("{c}?end_date={}", iso(0)), Some(&admin)).await,
            &["query"],
        );
        assert_invalid(
            &s.get(&format!("{c}?start_date=soon"), Some(&admin)).await,
            &["query", "start_date"],
        );
        assert_invalid(
            &s.get(&format!("{c}?start_date={}&end_date=later", iso(0)), Some(&admin))
                .await,
            &["query", "end_date"],
        );
    }
    // Exactly 366 days is allowed: one bucket per hour, both ends included.
    let r = s
        .get(
            &format!("{}?start_date={}&end_date={}", charts[1], iso(0), iso(366 * day)),
            Some(&admin),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let buckets = chart(&r.1);
    assert_eq!(buckets.len(), 366 * 24 + 1);
    assert_eq!(buckets[0].0, "2024-03-10 08:00:00");
    assert_eq!(buckets.last().unwrap().0, "2025-03-11 08:00:00");
    assert!(buckets.iter().all(|(_, n)| *n == 0));
}

async fn chart_end_date_defaults_to_now(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin().await;
    let (id, _) = s.user("Recent").await;
    // Whole seconds, so that the keys carry no fraction.
    let start = (Utc::now().naive_utc() - Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let r = s
        .get(
            &format!("/statistics/charts/new-users?start_date={start}"),
            Some(&admin),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let buckets = chart(&r.1);
    assert_eq!(buckets.len(), 3, "two hours ago until now: {buckets:?}");
    assert_eq!(buckets[0].0, start.replace('T', " "));
    // The superuser and this user registered in the last hour bucket (or the one before it,
    // if the hour turned between registration and the request).
    assert_eq!(
        buckets.iter().map(|(_, n)| n).sum::<i64>(),
        2,
        "{buckets:?} (user {id})"
    );
    // A start in the future is an end before the start.
    let future = (Utc::now().naive_utc() + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S");
    assert_detail(
        &s.get(
            &format!("/statistics/charts/new-users?start_date={future}"),
            Some(&admin),
        )
        .await,
        400,
        CHART_RANGE,
    );
}

async fn tags_are_listed_for_users_and_guests(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, user) = s.user("Tagger").await;
    let (guest, _) = s.guest().await;
    let expected = json!([
        {"name": "Education"}, {"name": "Fun"}, {"name": "Office"},
        {"name": "Science"}, {"name": "Social"}, {"name": "Technology"}
    ]);
    for t in [&user, &guest] {
        for path in ["/tags", "/tags/"] {
            let r = s.get(path, Some(t)).await;
            assert_eq!(r.0, StatusCode::OK, "{path}: {}", r.1);
            assert_eq!(r.1, expected, "{path}");
        }
    }
    assert_detail(&s.get("/tags/", None).await, 401, "Not authenticated");
    assert_detail(
        &s.get("/tags", Some("not-a-token")).await,
        401,
        "Could not validate credentials",
    );
}
