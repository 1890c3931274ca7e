//! Bad input gets a clear 4xx and loses nothing: malformed and oversized bodies, wrong types,
//! missing Content-Type, huge pages, non-UTF-8, over-long strings, unknown ids and routes.

mod common;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{Backend, TestServer, assert_detail};

db_tests!(
    malformed_json_is_a_422_not_a_500,
    json_without_content_type_is_accepted,
    oversized_bodies_get_413_and_the_server_stays_up,
    huge_or_invalid_paging_is_refused_clearly,
    non_utf8_input_is_refused_clearly,
    over_long_strings_are_422,
    unknown_ids_are_4xx_never_500,
    trailing_slashes_are_tolerated,
    unknown_routes_and_methods_get_json_errors,
    null_max_users_means_unlimited,
    nul_characters_are_422_on_every_backend,
);

async fn raw(
    s: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = s
        .http
        .request(method.parse().unwrap(), format!("{}{}", s.api, path))
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn malformed_json_is_a_422_not_a_500(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, token) = s.user("Mal").await;
    for body in [
        &b"{"[..],
        b"{\"name\": }",
        b"[1,2,3]",
        b"null",
        b"\"text\"",
        b"",
        b"   ",
    ] {
        let r = raw(
            &s,
            "POST",
            "/worlds",
            Some(&token),
            Some("application/json"),
            body.to_vec(),
        )
        .await;
        assert_eq!(
            r.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?} gave {}",
            String::from_utf8_lossy(body),
            r.1
        );
        assert!(r.1["detail"].is_array());
    }
    // Wrong types, with the offending field named.
    let r = s
        .post(
            "/worlds",
            Some(&token),
            json!({"name": "W", "public": "yes", "allow_guests": true, "tags": [], "world_map": common::default_map()}),
        )
        .await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.1["detail"][0]["loc"], json!(["body", "public"]), "{}", r.1);
    let r = s
        .post(
            "/worlds",
            Some(&token),
            json!({"name": "W", "public": true, "allow_guests": true, "tags": "Fun", "world_map": common::default_map()}),
        )
        .await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY);
    // A map that is not a Tiled JSON object.
    let r = s
        .post(
            "/worlds",
            Some(&token),
            json!({"name": "W", "public": true, "allow_guests": true, "tags": [], "world_map": "not json"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY);
    // The session still works afterwards.
    assert_eq!(s.get("/users/me", Some(&token)).await.0, StatusCode::OK);
}

async fn json_without_content_type_is_accepted(b: Backend) {
    let s = TestServer::start(b).await;
    let (uid, token) = s.user("Nct").await;
    // The original client sends some PUTs as text/plain or with no content type at all.
    let r = raw(
        &s,
        "PUT",
        &format!("/users/{uid}"),
        Some(&token),
        None,
        br#"{"name": "Renamed"}"#.to_vec(),
    )
    .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["name"], "Renamed");
    let r = raw(
        &s,
        "PUT",
        &format!("/users/{uid}"),
        Some(&token),
        Some("text/plain;charset=UTF-8"),
        br#"{"name": "Again"}"#.to_vec(),
    )
    .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["name"], "Again");
}

async fn oversized_bodies_get_413_and_the_server_stays_up(b: Backend) {
    let s = TestServer::start_with(b, |c| c.max_body_bytes = 64 * 1024).await;
    let (_, token) = s.user("Big").await;
    let huge =
        json!({"name": "Huge", "public": true, "allow_guests": true, "tags": [], "world_map": "x".repeat(200_000)});
    let r = s.post("/worlds", Some(&token), huge.clone()).await;
    assert_detail(&r, 413, "Request body too large");
    // The unread body ends the connection, and the response says so (a client that reused the
    // connection got "incomplete message" on its next request).
    let raw = s
        .http
        .post(format!("{}/worlds", s.api))
        .bearer_auth(&token)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        raw.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    assert_eq!(s.get("/users/me", Some(&token)).await.0, StatusCode::OK);
    let (_, worlds) = s.get("/worlds?visibility=owned", Some(&token)).await;
    assert_eq!(worlds, json!([]), "nothing was created");
}

async fn huge_or_invalid_paging_is_refused_clearly(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin().await;
    for q in ["page=0", "page=-1", "page=1000000000000"] {
        assert_detail(
            &s.get(&format!("/worlds?visibility=public&{q}"), Some(&admin)).await,
            400,
            "Invalid page number.",
        );
        assert_detail(
            &s.get(&format!("/users?{q}"), Some(&admin)).await,
            400,
            "Invalid page number.",
        );
        assert_detail(
            &s.get(&format!("/users/reports?{q}"), Some(&admin)).await,
            400,
            "Invalid page number.",
        );
        assert_detail(
            &s.get(&format!("/worlds/reports?{q}"), Some(&admin)).await,
            400,
            "Invalid page number.",
        );
    }
    for q in [
        "limit=0",
        "limit=101",
        "limit=99999999999",
        "limit=abc",
        "page=1.5",
        "page=99999999999999999999999",
    ] {
        let r = s.get(&format!("/worlds?visibility=public&{q}"), Some(&admin)).await;
        assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {}", r.1);
    }
    assert_eq!(
        s.get("/worlds?visibility=public&page=999999&limit=100", Some(&admin))
            .await,
        (StatusCode::OK, json!([]))
    );
}

async fn non_utf8_input_is_refused_clearly(b: Backend) {
    let s = TestServer::start(b).await;
    let (uid, token) = s.user("Bytes").await;
    let r = raw(
        &s,
        "PUT",
        &format!("/users/{uid}"),
        Some(&token),
        Some("application/json"),
        vec![b'{', b'"', b'n', 0xff, 0xfe, b'"', b'}'],
    )
    .await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.1);
    let resp = s
        .http
        .post(format!("{}/login", s.api))
        .body(vec![b'u', b'=', 0xff, 0xc3])
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let r = s.get("/worlds?visibility=public&search=%ff%fe", Some(&token)).await;
    assert!(r.0.is_client_error() || r.0 == StatusCode::OK, "{}", r.0);
    assert_ne!(r.0, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(s.get("/users/me", Some(&token)).await.0, StatusCode::OK);
}

async fn over_long_strings_are_422(b: Backend) {
    let s = TestServer::start(b).await;
    let (uid, token) = s.user("Long").await;
    let w = s.world(&token, "Long World", true, true).await;
    let cases = [
        ("PUT", format!("/users/{uid}"), json!({"name": "n".repeat(51)})),
        (
            "POST",
            "/worlds".to_owned(),
            json!({"name": "w".repeat(51), "public": true, "allow_guests": true, "tags": [], "world_map": common::default_map()}),
        ),
        ("PUT", format!("/worlds/{w}"), json!({"description": "d".repeat(301)})),
        (
            "POST",
            format!("/worlds/{w}/roles"),
            json!({"name": "r".repeat(51), "world_id": w}),
        ),
        (
            "POST",
            format!("/worlds/{w}/reports"),
            json!({"comment": "c".repeat(301)}),
        ),
        (
            "PUT",
            format!("/worlds/{w}/users/{uid}"),
            json!({"username": "u".repeat(51)}),
        ),
    ];
    for (m, path, body) in cases {
        let r = s.call(m, &path, Some(&token), Some(body)).await;
        assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{m} {path}: {}", r.1);
    }
    // Exactly at the limit is fine, in any script.
    let r = s
        .put(&format!("/users/{uid}"), Some(&token), json!({"name": "é".repeat(50)}))
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
}

async fn unknown_ids_are_4xx_never_500(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = s.admin().await;
    let (_, user) = s.user("Ids").await;
    let checks: Vec<(&str, String, Option<Value>, &str)> = vec![
        (
            "GET",
            "/worlds/987654".into(),
            None,
            "World Not Found or is not currently available.",
        ),
        (
            "PUT",
            "/worlds/987654".into(),
            Some(json!({"name": "x"})),
            "You dont have access to edit this world or it does not exist.",
        ),
        (
            "DELETE",
            "/worlds/987654".into(),
            None,
            "You dont have access to edit this world or it does not exist.",
        ),
        (
            "POST",
            "/worlds/987654/users".into(),
            None,
            "World Not Found or is not currently available.",
        ),
        ("GET", "/users/987654".into(), None, "User not found"),
        (
            "PUT",
            "/users/987654".into(),
            Some(json!({"name": "x"})),
            "User with this id was not found",
        ),
        (
            "GET",
            "/statistics/worlds/987654".into(),
            None,
            "World Not Found or is not currently available.",
        ),
    ];
    for (m, path, body, detail) in checks {
        let r = s.call(m, &path, Some(&admin), body).await;
        assert_eq!(r.0, StatusCode::BAD_REQUEST, "{m} {path}: {}", r.1);
        assert_eq!(r.1["detail"], detail, "{m} {path}");
    }
    for path in ["/worlds/987654/roles", "/worlds/987654/events", "/worlds/987654/users"] {
        let r = s.get(path, Some(&user)).await;
        assert!(r.0.is_client_error(), "{path}: {}", r.0);
    }
    for path in [
        "/worlds/abc",
        "/worlds/99999999999999999999999",
        "/users/1e3",
        "/worlds/1/users/not-a-uuid",
    ] {
        let r = s.get(path, Some(&admin)).await;
        assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", r.1);
    }
}

async fn trailing_slashes_are_tolerated(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, token) = s.user("Slash").await;
    let a = s.get("/tags", Some(&token)).await;
    let b2 = s.get("/tags/", Some(&token)).await;
    assert_eq!(a.0, StatusCode::OK);
    assert_eq!(a, b2);
    let r = s
        .post(
            "/worlds/",
            Some(&token),
            json!({"name": "Slashed", "public": true, "allow_guests": false, "tags": ["Fun"], "world_map": common::default_map()}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let id = r.1["world_id"].as_i64().unwrap();
    assert_eq!(s.get(&format!("/worlds/{id}/"), Some(&token)).await.0, StatusCode::OK);
    assert_eq!(
        s.get("/worlds/?visibility=owned", Some(&token))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // `/users/reports/` (the original's form) is the reports list, not user id "reports".
    let admin = s.admin().await;
    assert_eq!(s.get("/users/reports/", Some(&admin)).await.0, StatusCode::OK);
    assert_eq!(s.get("/worlds/reports/", Some(&admin)).await.0, StatusCode::OK);
}

async fn unknown_routes_and_methods_get_json_errors(b: Backend) {
    let s = TestServer::start(b).await;
    assert_detail(&s.get("/no/such/route", None).await, 404, "Not Found");
    assert_detail(&s.call("PATCH", "/tags", None, None).await, 405, "Method Not Allowed");
    let r = s.http.get(format!("{}/nothing-here", s.root)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn null_max_users_means_unlimited(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Cap").await;
    let r = s
        .post("/worlds", Some(&owner), json!({"name": "Open Sky", "public": true, "allow_guests": true, "tags": [], "world_map": common::default_map(), "max_users": null}))
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["max_users"], Value::Null);
    let id = r.1["world_id"].as_i64().unwrap();
    let (_, other) = s.user("Visitor").await;
    assert_eq!(
        s.post(&format!("/worlds/{id}/users"), Some(&other), json!({})).await.0,
        StatusCode::OK
    );
    let (g, _) = s.guest().await;
    assert_eq!(
        s.post(&format!("/worlds/{id}/users"), Some(&g), json!({})).await.0,
        StatusCode::OK
    );
    for bad in [0, 1001, -5] {
        let r = s
            .put(&format!("/worlds/{id}"), Some(&owner), json!({"max_users": bad}))
            .await;
        assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(r.1["detail"][0]["msg"], "Max_Users should be between 1 and 1000");
    }
}

/// PostgreSQL cannot store NUL in text: such input is refused before it reaches a query
/// (schemathesis found a 500 from `POST /login` with `username=%00…` on PostgreSQL).
async fn nul_characters_are_422_on_every_backend(b: Backend) {
    let s = TestServer::start(b).await;
    let form = Some("application/x-www-form-urlencoded");
    let r = raw(
        &s,
        "POST",
        "/login",
        None,
        form,
        b"username=%00%C2%9C&password=%00x".to_vec(),
    )
    .await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.1);
    let (_, token) = s.user("Nul").await;
    let json = Some("application/json");
    let body = br#"{"name":"a\u0000b","public":true}"#.to_vec();
    let r = raw(&s, "POST", "/worlds", Some(&token), json, body).await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.1);
    let r = s.get("/worlds?search=%00", Some(&token)).await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.1);
    // The server is still fine.
    assert_eq!(s.get("/health", None).await.0, StatusCode::OK);
}
