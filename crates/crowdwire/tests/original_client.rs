//! The original web client, unchanged, against our server: each test sends exactly what that
//! client sends (issue 19: its world form's strings, its default map and editor tile, its
//! cross-origin preflights, and its proximity claims).

mod common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::ws::Client;
use common::{Backend, TestServer, default_map};

db_tests!(
    its_world_form_sends_booleans_and_numbers_as_strings,
    its_default_map_and_editor_tile_are_served,
    its_cross_origin_preflights_cover_authorization,
    its_unwire_claim_parts_a_pair_in_the_hysteresis_band,
);

/// I1, I2: the original's create and edit forms send `"public":"true"`, `"allow_guests":"true"`
/// and `"max_users":"50"`; pydantic coerced them, so do we (and only the original's forms).
async fn its_world_form_sends_booleans_and_numbers_as_strings(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Orig").await;
    let body = json!({"name": "From the old client", "public": "true", "allow_guests": "true", "max_users": "50",
                      "tags": [], "description": "made by the original", "world_map": default_map()});
    let r = s.post("/worlds/", Some(&owner), body).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(
        (&r.1["public"], &r.1["allow_guests"], &r.1["max_users"]),
        (&json!(true), &json!(true), &json!(50))
    );
    let w = r.1["world_id"].as_i64().unwrap();
    let edit = json!({"name": "From the old client", "public": "false", "allow_guests": "0", "max_users": "20",
                      "tags": [], "description": "edited"});
    let r = s.put(&format!("/worlds/{w}"), Some(&owner), edit).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(
        (&r.1["public"], &r.1["allow_guests"], &r.1["max_users"]),
        (&json!(false), &json!(false), &json!(20))
    );
    let r = s
        .put(
            &format!("/worlds/{w}"),
            Some(&owner),
            json!({"public": 1, "allow_guests": "1"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!((&r.1["public"], &r.1["allow_guests"]), (&json!(true), &json!(true)));
    // Nothing beyond the original's coercions.
    for bad in [
        json!({"public": "yes"}),
        json!({"public": "True"}),
        json!({"max_users": "20 people"}),
        json!({"max_users": 2.5}),
    ] {
        let r = s.put(&format!("/worlds/{w}"), Some(&owner), bad.clone()).await;
        assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", r.1);
    }
    // Role flags too (its role editor sends the same strings).
    let r = s
        .post(
            &format!("/worlds/{w}/roles"),
            Some(&owner),
            json!({"name": "Helpers", "talk": "true", "walk": "true", "chat": "1", "ban": "false"}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(
        (&r.1["talk"], &r.1["chat"], &r.1["ban"]),
        (&json!(true), &json!(true), &json!(false))
    );
}

/// I3, I4: its create form loads `static/maps/deti.json` (a 404 was saved as the map), and its
/// editor draws conference areas with `static/maps/tilesets/tiles/conference.png`.
async fn its_default_map_and_editor_tile_are_served(b: Backend) {
    let s = TestServer::start(b).await;
    let map = s
        .http
        .get(format!("{}/static/maps/deti.json", s.api))
        .send()
        .await
        .unwrap();
    assert_eq!(map.status(), StatusCode::OK);
    let served: Value = map.json().await.unwrap();
    let ours: Value = serde_json::from_str(&default_map()).unwrap();
    assert_eq!(served, ours);
    let tile = s
        .http
        .get(format!("{}/static/maps/tilesets/tiles/conference.png", s.api))
        .send()
        .await
        .unwrap();
    assert_eq!(tile.status(), StatusCode::OK);
    assert_eq!(tile.headers()["content-type"], "image/png");
    assert!(tile.bytes().await.unwrap().starts_with(b"\x89PNG"));
    // And what it saved when the map was missing is refused, saying why.
    let (_, owner) = s.user("Orig").await;
    let body = json!({"name": "Black screen", "public": "true", "allow_guests": "true", "tags": [],
                      "world_map": r#"{"detail":"Not Found"}"#});
    let r = s.post("/worlds/", Some(&owner), body).await;
    assert_eq!(r.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.1);
    assert_eq!(r.1["detail"][0]["loc"], json!(["body", "world_map"]));
}

/// CORS: a client served from another origin sends `Authorization` on every call; a preflight
/// answered with `Access-Control-Allow-Headers: *` does not cover it.
async fn its_cross_origin_preflights_cover_authorization(b: Backend) {
    let s = TestServer::start(b).await;
    let r = s
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/worlds/", s.api))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
}

async fn spawned(s: &TestServer, w: i64, token: &str, x: f64, y: f64) -> Client {
    let r = s.post(&format!("/worlds/{w}/users"), Some(token), json!({})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let mut c = Client::connect(s, w, token).await;
    c.expect("PLAYERS_SNAPSHOT").await;
    c.send(json!({"topic": "JOIN_PLAYER", "position": {"x": x, "y": y}}))
        .await;
    c.send(json!({"topic": "PING"})).await;
    c.expect("PONG").await;
    c
}

/// I5: the original client closes its media for anyone beyond 150 px and says so with
/// `UNWIRE_PLAYER`; the server kept such a pair grouped up to 180 px (hysteresis), so the two
/// sides disagreed. A claim about someone beyond the radius now parts the pair on both sides;
/// a claim about someone within it stays a hint.
async fn its_unwire_claim_parts_a_pair_in_the_hysteresis_band(b: Backend) {
    let s = TestServer::start(b).await;
    let (aid, a) = s.user("Ann").await;
    let (bid, bt) = s.user("Ben").await;
    let w = s.world(&a, "Plaza", true, true).await;
    let mut ca = spawned(&s, w, &a, 200.0, 200.0).await;
    let mut cb = spawned(&s, w, &bt, 300.0, 200.0).await;
    assert!(
        cb.seen
            .iter()
            .any(|m| m["topic"] == "GROUPS_SNAPSHOT" && m["groups"].as_array().map(Vec::len) == Some(1)),
        "Ben is grouped with Ann: {:?}",
        cb.seen
    );
    ca.expect("WIRE_PLAYER").await;
    // Within the radius a claim is a hint: the answer is the truth.
    cb.send(json!({"topic": "UNWIRE_PLAYER", "users_id": [aid]})).await;
    let truth = cb.expect("WIRE_PLAYER").await;
    assert_eq!(
        truth,
        json!({"topic": "WIRE_PLAYER", "merge": false, "ids": [aid.to_string()]})
    );
    // Ben steps to 165 px from Ann: still grouped (the band is 150–180 px)...
    tokio::time::sleep(Duration::from_millis(400)).await;
    cb.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 365, "y": 200}, "velocity": {"x": 0, "y": 0}}))
        .await;
    ca.expect("PLAYER_MOVEMENT").await;
    ca.expect_no("CLOSE_ROOM", 300).await;
    // ...until his client, which uses 150 px, says Ann is gone.
    cb.send(json!({"topic": "UNWIRE_PLAYER", "users_id": [aid]})).await;
    let u = cb.expect("UNWIRE_PLAYER").await;
    assert_eq!(
        u,
        json!({"topic": "UNWIRE_PLAYER", "merge": true, "ids": [aid.to_string()]})
    );
    assert!(cb.seen.iter().any(|m| m["topic"] == "CLOSE_ROOM"), "{:?}", cb.seen);
    let snap = cb.expect("GROUPS_SNAPSHOT").await;
    assert_eq!(snap["groups"], json!([]));
    let u = ca.expect("UNWIRE_PLAYER").await;
    assert_eq!(
        u,
        json!({"topic": "UNWIRE_PLAYER", "merge": true, "ids": [bid.to_string()]})
    );
    assert!(ca.seen.iter().any(|m| m["topic"] == "CLOSE_ROOM"), "{:?}", ca.seen);
    // Back within 150 px they meet again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    cb.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 320, "y": 200}, "velocity": {"x": 0, "y": 0}}))
        .await;
    let again = cb.expect("WIRE_PLAYER").await;
    assert_eq!(again["ids"], json!([aid.to_string()]), "{again}");
}
