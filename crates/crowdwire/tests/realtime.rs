//! The WebSocket protocol over real sockets: several clients in a world, server-decided
//! proximity, chat, media fallbacks, live moderation from REST, duplicate sessions, capacity,
//! and dropped connections: what the others are told (`PLAYER_PRESENCE`), and how a socket
//! that went silent is found.

mod common;

use std::time::Duration;

use futures::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use common::ws::Client;
use common::{Backend, TestServer, assert_detail};

async fn joined(s: &TestServer, world: i64, token: &str) -> Client {
    let r = s.post(&format!("/worlds/{world}/users"), Some(token), json!({})).await;
    assert_eq!(r.0, StatusCode::OK, "REST join: {}", r.1);
    let mut c = Client::connect(s, world, token).await;
    c.expect("PLAYERS_SNAPSHOT").await;
    c
}

db_tests!(
    a_first_spawn_in_a_room_closed_off_by_walls_is_refused,
    a_guest_banned_live_stays_out_with_the_same_token,
    a_guest_banned_through_the_api_stays_out_until_unbanned,
    a_kicked_person_waits_out_the_cooldown,
    two_players_see_each_other_and_group_when_near,
    chat_everyone_and_nearby,
    the_creator_keeps_every_power_live,
    a_long_idle_spell_is_no_licence_to_jump,
    ping_gets_pong_and_bad_frames_get_errors,
    media_signalling_without_a_media_server_gets_error_replies,
    rest_ban_kicks_the_live_session,
    a_second_session_replaces_the_first,
    capacity_is_enforced_at_connect,
    refused_connections_close_with_1008,
    online_users_and_events_follow_sessions,
    batched_frames_are_json_arrays,
    conference_join_speak_requests_and_grants,
    live_role_changes_apply_at_once_and_files_need_interact,
    a_flood_is_rate_limited_then_disconnected,
    a_dropped_connection_keeps_its_place_within_the_grace,
    a_reader_too_slow_for_its_queue_is_closed_with_1013_and_keeps_its_place,
    an_edited_map_reaches_live_sessions_and_its_new_conference_opens,
    a_drop_is_told_as_reconnecting_a_return_as_online_and_a_clean_close_as_a_leave,
    a_dropped_player_who_does_not_return_leaves_after_the_grace,
    a_batched_socket_is_told_of_presence_too,
    a_silent_socket_is_found_by_its_missing_pongs,
);

async fn two_players_see_each_other_and_group_when_near(b: Backend) {
    let s = TestServer::start(b).await;
    let (a_id, a) = s.user("Alice").await;
    let (b_id, bt) = s.user("Bob").await;
    let w = s.world(&a, "Plaza", true, true).await;
    let mut ca = joined(&s, w, &a).await;
    ca.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    let mut cb = joined(&s, w, &bt).await;
    let snap = &cb.seen[0];
    assert_eq!(snap["snapshot"][a_id.to_string()], json!({"x": 100.0, "y": 100.0}));
    assert_eq!(snap["players_data"][a_id.to_string()]["username"], "Alice");
    cb.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 150, "y": 100}}))
        .await;
    let j = ca.expect("JOIN_PLAYER").await;
    assert_eq!(j["user"]["user_id"], b_id.to_string());
    // 50 px apart: the server groups them.
    let wa = ca.expect("WIRE_PLAYER").await;
    assert_eq!(wa["ids"], json!([b_id.to_string()]));
    let ga = ca.expect("GROUPS_SNAPSHOT").await;
    let wb = cb.expect("WIRE_PLAYER").await;
    assert_eq!(wb["ids"], json!([a_id.to_string()]));
    let gb = cb.expect("GROUPS_SNAPSHOT").await;
    assert_eq!(ga["groups"], gb["groups"]);
    assert!(
        ga["groups"][0].as_str().unwrap().parse::<u64>().is_ok(),
        "numeric group id: {ga}"
    );
    // Bob walks away (within walking speed over time).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    cb.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 450, "y": 100}, "velocity": {"x": 200, "y": 0}}))
        .await;
    // The group changes at once; movements go out at the end of the world's turn.
    assert_eq!(ca.expect("CLOSE_ROOM").await["group"], ga["groups"][0]);
    let u = ca.expect("UNWIRE_PLAYER").await;
    assert_eq!(u["ids"], json!([b_id.to_string()]));
    assert_eq!(ca.expect("GROUPS_SNAPSHOT").await["groups"], json!([]));
    let m = ca.expect("PLAYER_MOVEMENT").await;
    assert_eq!(m["user_id"], b_id.to_string());
    assert_eq!(m["position"]["x"], 450.0);
    // A teleport is refused and not relayed.
    cb.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 1900, "y": 1200}, "velocity": {"x": 0, "y": 0}}))
        .await;
    let e = cb.expect("error").await;
    assert_eq!(e["d"]["topic"], "PLAYER_MOVEMENT");
    ca.expect_no("PLAYER_MOVEMENT", 300).await;
    // A client's claim does not create a group.
    ca.send(json!({"topic": "WIRE_PLAYER", "users_id": [b_id.to_string()]}))
        .await;
    let resync = ca.expect("WIRE_PLAYER").await;
    assert_eq!(resync["ids"], json!([]));
    // Leaving is seen by the other.
    cb.ws.close(None).await.unwrap();
    let l = ca.expect("LEAVE_PLAYER").await;
    assert_eq!(l["user_id"], b_id.to_string());
}

async fn chat_everyone_and_nearby(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, a) = s.user("Ann").await;
    let (_, bt) = s.user("Ben").await;
    let (_, c) = s.user("Cid").await;
    let w = s.world(&a, "Chatty", true, true).await;
    let mut ca = joined(&s, w, &a).await;
    let mut cb = joined(&s, w, &bt).await;
    let mut cc = joined(&s, w, &c).await;
    ca.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    cb.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 140, "y": 100}}))
        .await;
    cc.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 1500, "y": 1200}}))
        .await;
    ca.expect("GROUPS_SNAPSHOT").await;
    ca.send(json!({"topic": "SEND_MESSAGE", "text": "hello all", "to": "ALL"}))
        .await;
    for cl in [&mut ca, &mut cb, &mut cc] {
        let m = cl.expect("SEND_MESSAGE").await;
        assert_eq!(m["text"], "hello all");
        assert!(m["date"].as_str().unwrap().len() == 5);
    }
    ca.send(json!({"topic": "SEND_MESSAGE", "text": "psst", "to": "NEARBY"}))
        .await;
    assert_eq!(cb.expect("SEND_MESSAGE").await["text"], "psst");
    assert_eq!(ca.expect("SEND_MESSAGE").await["text"], "psst");
    cc.expect_no("SEND_MESSAGE", 300).await;
    cb.expect_no("SEND_MESSAGE", 200).await;
    ca.send(json!({"topic": "SEND_MESSAGE", "text": "x".repeat(1001), "to": "ALL"}))
        .await;
    assert_eq!(ca.expect("error").await["d"]["topic"], "SEND_MESSAGE");
    // Only the chat's fields are relayed: a sender's extra fields (here 20 KB) reach nobody,
    // and a forged `from` or `date` is replaced.
    ca.send(json!({"topic": "SEND_MESSAGE", "text": "with luggage", "to": "ALL",
        "blob": "y".repeat(20_000), "from": "999", "date": "forged"}))
        .await;
    let a_id = ca.expect("SEND_MESSAGE").await["from"].clone();
    for cl in [&mut cb, &mut cc] {
        let m = cl.expect("SEND_MESSAGE").await;
        let mut keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["date", "from", "text", "to", "topic"], "{m}");
        assert_eq!(m["text"], "with luggage");
        assert_eq!(m["from"], a_id);
        assert_ne!(m["from"], "999");
        assert_eq!(m["date"].as_str().unwrap().len(), 5);
    }
}

async fn ping_gets_pong_and_bad_frames_get_errors(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, a) = s.user("Pia").await;
    let w = s.world(&a, "Pingy", true, true).await;
    let mut c = joined(&s, w, &a).await;
    c.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    c.send(json!({"topic": "PING", "position": {"x": 100, "y": 100}})).await;
    assert_eq!(c.expect("PONG").await, "PONG");
    for bad in [
        "not json",
        "[1]",
        r#"{"topic": 3}"#,
        r#"{"topic": "PLAYER_MOVEMENT"}"#,
        r#"{"topic": "NO_SUCH_TOPIC"}"#,
    ] {
        c.send_text(bad).await;
        c.expect("error").await;
    }
    // Still connected and working.
    c.send(json!({"topic": "PING", "position": {"x": 100, "y": 100}})).await;
    assert_eq!(c.expect("PONG").await, "PONG");
}

async fn media_signalling_without_a_media_server_gets_error_replies(b: Backend) {
    let s = TestServer::start_with(b, |c| c.media = None).await;
    let (_, a) = s.user("Med").await;
    let (_, bt) = s.user("Ia").await;
    let w = s.world(&a, "Quiet", true, true).await;
    let mut ca = joined(&s, w, &a).await;
    let mut cb = joined(&s, w, &bt).await;
    ca.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    cb.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 120, "y": 100}}))
        .await;
    let g = ca.expect("GROUPS_SNAPSHOT").await["groups"][0]
        .as_str()
        .unwrap()
        .to_owned();
    ca.send(json!({"topic": "@connect-transport", "d": {"roomId": g, "transportId": "t", "dtlsParameters": {}, "direction": "send"}})).await;
    let done = ca.expect("@connect-transport-send-done").await;
    assert!(done["d"]["error"].is_string(), "{done}");
    ca.expect("error").await;
    // Not in that room: refused, not forwarded, and the request the client awaits settles
    // (a mediasoup-client `produce` would otherwise hang).
    ca.send(json!({"topic": "@send-track", "d": {"roomId": "999999", "kind": "audio"}}))
        .await;
    let done = ca.expect("@send-track-send-done").await;
    assert_eq!(done["d"]["error"], "you are not in that room", "{done}");
    let e = ca.expect("error").await;
    assert_eq!(e["d"]["topic"], "@send-track");
}

async fn rest_ban_kicks_the_live_session(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Own").await;
    let (vid, v) = s.user("Vic").await;
    let w = s.world(&owner, "Strict", true, true).await;
    let mut cv = joined(&s, w, &v).await;
    cv.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    let r = s
        .put(&format!("/worlds/{w}/users/{vid}"), Some(&owner), json!({"status": 1}))
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let k = cv.expect("KICKED").await;
    assert!(k["d"]["reason"].as_str().unwrap().contains("banned"));
    assert_ne!(cv.closed_with().await, 1000);
    // And cannot come back.
    let again = s.post(&format!("/worlds/{w}/users"), Some(&v), json!({})).await;
    assert_eq!(again.0, StatusCode::BAD_REQUEST);
    let mut c2 = Client::connect(&s, w, &v).await;
    assert_eq!(c2.closed_with().await, 1008);
}

async fn a_second_session_replaces_the_first(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, a) = s.user("Two").await;
    let w = s.world(&a, "Twice", true, true).await;
    let mut first = joined(&s, w, &a).await;
    first
        .send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    let mut second = joined(&s, w, &a).await;
    first.expect("KICKED").await;
    first.closed_with().await;
    second
        .send(json!({"topic": "PING", "position": {"x": 100, "y": 100}}))
        .await;
    assert_eq!(second.expect("PONG").await, "PONG");
}

async fn capacity_is_enforced_at_connect(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, a) = s.user("Cap").await;
    let (_, bt) = s.user("Bee").await;
    let r = s
        .post("/worlds", Some(&a), json!({"name": "Tiny", "public": true, "allow_guests": true, "tags": [], "world_map": common::default_map(), "max_users": 1}))
        .await;
    let w = r.1["world_id"].as_i64().unwrap();
    let _ca = joined(&s, w, &a).await;
    // REST refuses once the world is full...
    let full = s.post(&format!("/worlds/{w}/users"), Some(&bt), json!({})).await;
    assert_eq!(full.1["detail"], "World is currently full");
    // ...and so does the socket, atomically.
    let mut cb = Client::connect(&s, w, &bt).await;
    let k = cb.expect("KICKED").await;
    assert_eq!(k["d"]["reason"], "World is currently full.");
}

async fn refused_connections_close_with_1008(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, a) = s.user("Ref").await;
    let w = s.world(&a, "Private", false, false).await;
    let (_, outsider) = s.user("Out").await;
    let (guest, _) = s.guest().await;
    for token in ["garbage", outsider.as_str(), guest.as_str()] {
        let mut c = Client::connect(&s, w, token).await;
        assert_eq!(c.closed_with().await, 1008);
    }
    let mut c = Client::connect(&s, 987654, &a).await;
    assert_eq!(c.closed_with().await, 1008);
}

async fn online_users_and_events_follow_sessions(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, a) = s.user("Eve").await;
    let w = s.world(&a, "Counted", true, true).await;
    let mut c = joined(&s, w, &a).await;
    c.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    c.send(json!({"topic": "PING", "position": {"x": 100, "y": 100}})).await;
    c.expect("PONG").await;
    let (_, info) = s.get(&format!("/worlds/{w}"), Some(&a)).await;
    assert_eq!(info["online_users"], 1);
    let metrics = s.metrics().await;
    assert!(metrics.lines().any(|l| l == "crowdwire_connected_users 1"), "{metrics}");
    let admin = s.admin().await;
    assert_eq!(s.get("/statistics", Some(&admin)).await.1["online_users"], 1);
    c.ws.close(None).await.unwrap();
    let mut online = 1;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        online = s.get(&format!("/worlds/{w}"), Some(&a)).await.1["online_users"]
            .as_i64()
            .unwrap();
        if online == 0 {
            break;
        }
    }
    assert_eq!(online, 0);
    let mut kinds = Vec::new();
    for _ in 0..50 {
        let (_, ev) = s.get(&format!("/worlds/{w}/events?order_desc=false"), Some(&a)).await;
        kinds = ev
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_type"].as_str().unwrap().to_owned())
            .collect();
        if kinds.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kinds, ["JOIN_PLAYER", "LEAVE_PLAYER"], "one of each per session");
    // The last position was kept for the next visit.
    let again = s.post(&format!("/worlds/{w}/users"), Some(&a), json!({})).await;
    assert_eq!(again.1["last_pos"], json!({"x": 100.0, "y": 100.0}));
}

async fn batched_frames_are_json_arrays(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, a) = s.user("Bat").await;
    let w = s.world(&a, "Batched", true, true).await;
    s.post(&format!("/worlds/{w}/users"), Some(&a), json!({})).await;
    let mut c = Client::connect_batched(&s, w, &a).await;
    let first = c.next(2000).await.unwrap();
    assert!(first.is_array(), "{first}");
    assert_eq!(first[0]["topic"], "PLAYERS_SNAPSHOT");
}

/// Inside conference C1 of the default map (tiles 6..19 × 5..14).
const IN_C1: (f64, f64) = (300.0, 250.0);

async fn conference_join_speak_requests_and_grants(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, host) = s.user("Host").await;
    let (lid, listener) = s.user("Lis").await;
    let w = s.world(&host, "Conf", true, true).await;
    let mut ch = joined(&s, w, &host).await;
    let mut cl = joined(&s, w, &listener).await;
    ch.send(json!({"topic": "JOIN_PLAYER", "position": {"x": IN_C1.0, "y": IN_C1.1}}))
        .await;
    cl.send(json!({"topic": "JOIN_PLAYER", "position": {"x": IN_C1.0, "y": 540}}))
        .await;
    let conf = format!("C1-{w}");
    // Not inside the area: refused.
    cl.send(json!({"topic": "JOIN_CONFERENCE", "conference_id": conf}))
        .await;
    assert_eq!(cl.expect("error").await["d"]["topic"], "JOIN_CONFERENCE");
    // Another world's conference, or an unknown one: refused.
    ch.send(json!({"topic": "JOIN_CONFERENCE", "conference_id": format!("C1-{}", w + 1)}))
        .await;
    ch.expect("error").await;
    ch.send(json!({"topic": "JOIN_CONFERENCE", "conference_id": format!("C9-{w}")}))
        .await;
    ch.expect("error").await;
    ch.send(json!({"topic": "JOIN_CONFERENCE", "conference_id": conf}))
        .await;
    assert_eq!(ch.expect("GROUPS_SNAPSHOT").await["groups"], json!([conf]));
    // The listener walks in, through the stage's door (the gap in its south wall at x 384-480).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    cl.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 432, "y": 540}, "velocity": {"x": 200, "y": 0}}))
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    cl.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 432, "y": IN_C1.1}, "velocity": {"x": 0, "y": -200}}))
        .await;
    cl.send(json!({"topic": "JOIN_CONFERENCE", "conference_id": conf}))
        .await;
    let w1 = cl.expect("WIRE_PLAYER").await;
    assert_eq!(w1["merge"], false);
    assert_eq!(ch.expect("WIRE_PLAYER").await["ids"], json!([lid.to_string()]));
    // The listener asks; the host (Admin: conference_manage) hears it.
    cl.send(json!({"topic": "REQUEST_TO_SPEAK", "conference": conf})).await;
    assert_eq!(
        ch.expect("REQUEST_TO_SPEAK").await["d"]["user_requested"],
        lid.to_string()
    );
    // A listener cannot grant the floor.
    cl.send(json!({"topic": "PERMISSION_TO_SPEAK", "conference": conf, "permission": true, "user_requested": lid.to_string()})).await;
    assert_eq!(cl.expect("error").await["d"]["topic"], "PERMISSION_TO_SPEAK");
    ch.send(json!({"topic": "PERMISSION_TO_SPEAK", "conference": conf, "permission": true, "user_requested": lid.to_string()})).await;
    assert_eq!(cl.expect("PERMISSION_TO_SPEAK").await["d"]["permission"], true);
    // Leaving.
    cl.send(json!({"topic": "LEAVE_CONFERENCE", "conference_id": conf}))
        .await;
    let u = cl.expect("UNWIRE_PLAYER").await;
    assert_eq!((u["merge"].clone(), u["ids"].clone()), (json!(false), json!([])));
    assert_eq!(ch.expect("UNWIRE_PLAYER").await["ids"], json!([lid.to_string()]));
}

/// Sends `message` until the session answers it with an `error` (a role change made over REST
/// has reached the world), and returns that error.
async fn refused_once_applied(c: &mut Client, message: Value) -> Value {
    for _ in 0..40 {
        c.send(message.clone()).await;
        match c.next(500).await {
            Some(v) if v["topic"] == "error" => return v,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("{message} was never refused: the role change did not reach the session");
}

async fn live_role_changes_apply_at_once_and_files_need_interact(b: Backend) {
    let s = TestServer::start(b).await;
    let (oid, owner) = s.user("Boss").await;
    let (mid, member) = s.user("Mem").await;
    let w = s.world(&owner, "Roles Live", true, true).await;
    let mut co = joined(&s, w, &owner).await;
    let mut cm = joined(&s, w, &member).await;
    co.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    cm.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 130, "y": 100}}))
        .await;
    cm.expect("GROUPS_SNAPSHOT").await;
    // The default role may use file boards (as everyone could in the original)...
    cm.send(json!({"topic": "GET_ROOM_USERS_FILES"})).await;
    cm.expect("GET_ROOM_USERS_FILES").await;
    // ...unless the world takes it away; that applies at once.
    let default = s.role_id(&owner, w, "default").await;
    let r = s
        .put(
            &format!("/worlds/{w}/roles/{default}"),
            Some(&owner),
            json!({"interact": false}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let e = refused_once_applied(&mut cm, json!({"topic": "GET_ROOM_USERS_FILES"})).await;
    assert_eq!(e["d"]["topic"], "GET_ROOM_USERS_FILES", "{e}");
    // The owner (Admin) offers a file; the nearby member is told.
    co.send(json!({"topic": "ADD_USER_FILES", "files": [{"id": "f1", "name": "notes.pdf", "size": 10, "owner": "someone-else"}]})).await;
    let added = cm.expect("ADD_USER_FILES").await;
    assert_eq!(
        added["d"]["files"][0]["owner"],
        oid.to_string(),
        "the owner is forced to the sender"
    );
    // A role with interact but without chat, assigned over REST, applies at once.
    let r = s
        .post(
            &format!("/worlds/{w}/roles"),
            Some(&owner),
            json!({"name": "Quiet", "world_id": w, "walk": true, "interact": true}),
        )
        .await;
    let role = r.1["role_id"].as_i64().unwrap();
    let a = s
        .post(
            &format!("/worlds/{w}/roles/{role}/users/{mid}"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(a.0, StatusCode::OK, "{}", a.1);
    let mut files = Value::Null;
    for _ in 0..40 {
        cm.send(json!({"topic": "GET_ROOM_USERS_FILES"})).await;
        let v = cm.next(500).await.unwrap_or(Value::Null);
        if v["topic"] == "GET_ROOM_USERS_FILES" {
            files = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files["d"]["files"][0]["name"], "notes.pdf");
    cm.send(json!({"topic": "SEND_MESSAGE", "text": "can I talk?", "to": "ALL"}))
        .await;
    assert_eq!(cm.expect("error").await["d"]["topic"], "SEND_MESSAGE");
    // Download handshake between co-members only.
    cm.send(json!({"topic": "DOWNLOAD_REQUEST", "file": {"id": "f1", "name": "notes.pdf", "owner": oid.to_string()}}))
        .await;
    assert_eq!(co.expect("DOWNLOAD_REQUEST").await["d"]["user_id"], mid.to_string());
    co.send(json!({"topic": "ACCEPT_DOWNLOAD_REQUEST", "d": {"user_id": mid.to_string(), "file": {"id": "f1"}}}))
        .await;
    cm.expect("ACCEPT_DOWNLOAD_REQUEST").await;
    cm.send(json!({"topic": "START_DOWNLOAD", "d": {"user_id": oid.to_string()}}))
        .await;
    co.expect("START_DOWNLOAD").await;
    // Aimed at a user who is not near (or not in this world): refused.
    co.send(json!({"topic": "START_DOWNLOAD", "d": {"user_id": "424242"}}))
        .await;
    assert_eq!(co.expect("error").await["d"]["topic"], "START_DOWNLOAD");
}

/// Security review F11: a role manager who strips the Admin role's flags takes them from
/// everyone holding it live, but not from the world's creator (who holds every flag, in the
/// engine as over REST).
async fn the_creator_keeps_every_power_live(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Maker").await;
    let (mid, manager) = s.user("Manager").await;
    let (xid, deputy) = s.user("Deputy").await;
    let w = s.world(&owner, "Keep", true, true).await;
    let mut co = joined(&s, w, &owner).await;
    let _cm = joined(&s, w, &manager).await;
    let mut cx = joined(&s, w, &deputy).await;
    co.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    co.send(json!({"topic": "PING"})).await;
    co.expect("PONG").await;
    cx.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 900, "y": 600}}))
        .await;
    // The deputy is told where the creator stands: both have spawned.
    cx.expect("PLAYER_MOVEMENT").await;
    let managers = s
        .role(
            &owner,
            w,
            json!({"name": "Managers", "world_id": w, "role_manage": true}),
        )
        .await;
    let admin = s.role_id(&owner, w, "Admin").await;
    s.assign(&owner, w, managers, &mid.to_string()).await;
    s.assign(&owner, w, admin, &xid.to_string()).await;
    // The manager strips the Admin role.
    let r = s
        .put(
            &format!("/worlds/{w}/roles/{admin}"),
            Some(&manager),
            json!({"walk": false, "chat": false, "ban": false, "world_mute": false}),
        )
        .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    // The deputy (Admin, not the creator) loses chat as soon as the change lands...
    let e = refused_once_applied(
        &mut cx,
        json!({"topic": "SEND_MESSAGE", "text": "still here?", "to": "NEARBY"}),
    )
    .await;
    assert_eq!(e["d"]["topic"], "SEND_MESSAGE", "{e}");
    // ...while the creator still chats, walks and may kick.
    co.send(json!({"topic": "SEND_MESSAGE", "text": "mine still", "to": "ALL"}))
        .await;
    let m = co.expect("SEND_MESSAGE").await;
    assert_eq!(m["text"], "mine still");
    co.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 110, "y": 100}, "velocity": {"x": 0, "y": 0}}))
        .await;
    co.send(json!({"topic": "KICK_PLAYER", "user_id": xid.to_string()}))
        .await;
    let kicked = cx.expect("KICKED").await;
    assert!(kicked["d"]["reason"].is_string(), "{kicked}");
    co.expect_no("error", 300).await;
}

/// Security review F7: the speed allowance grew with idle time, so a client that stood still
/// could jump across the map; now an idle spell counts for at most a second's walk.
async fn a_long_idle_spell_is_no_licence_to_jump(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, a) = s.user("Still").await;
    let (_, bt) = s.user("Watcher").await;
    let w = s.world(&a, "Jumpy", true, true).await;
    let mut ca = joined(&s, w, &a).await;
    let mut cb = joined(&s, w, &bt).await;
    ca.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 200, "y": 200}}))
        .await;
    // A has spawned before B does, so B is told where A stands.
    ca.send(json!({"topic": "PING"})).await;
    ca.expect("PONG").await;
    cb.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 500, "y": 300}}))
        .await;
    cb.expect("PLAYER_MOVEMENT").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    ca.send(json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 800, "y": 200}, "velocity": {"x": 0, "y": 0}}))
        .await;
    let e = ca.expect("error").await;
    assert_eq!(e["d"]["topic"], "PLAYER_MOVEMENT", "{e}");
    assert_eq!(e["d"]["message"], "moved faster than walking speed", "{e}");
    cb.expect_no("PLAYER_MOVEMENT", 300).await;
}

async fn a_flood_is_rate_limited_then_disconnected(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, a) = s.user("Flood").await;
    let w = s.world(&a, "Floody", true, true).await;
    let mut c = joined(&s, w, &a).await;
    for _ in 0..400 {
        if c.ws
            .send(Message::Text(r#"{"topic":"GET_ROOM_USERS_FILES"}"#.into()))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut limited = false;
    for _ in 0..600 {
        match c.next(200).await {
            Some(v) if v["topic"] == "error" && v["d"]["message"].as_str().unwrap_or("").contains("rate limit") => {
                limited = true
            }
            Some(_) => {}
            None => break,
        }
    }
    assert!(
        limited,
        "rate-limit errors were sent: {:?}",
        c.seen.iter().rev().take(3).collect::<Vec<_>>()
    );
    assert_eq!(c.closed, Some(1008), "sustained abuse ends the session");
}

async fn a_dropped_connection_keeps_its_place_within_the_grace(b: Backend) {
    let s = TestServer::start_with(b, |c| c.realtime.reconnect_grace = Duration::from_secs(2)).await;
    let (did, d) = s.user("Drop").await;
    let (_, o) = s.user("Other").await;
    let w = s.world(&d, "Flaky", true, true).await;
    let mut cd = joined(&s, w, &d).await;
    let mut co = joined(&s, w, &o).await;
    cd.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    co.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 130, "y": 100}}))
        .await;
    let group = co.expect("GROUPS_SNAPSHOT").await["groups"].clone();
    // The network drops: no close frame.
    drop(cd);
    co.expect_no("LEAVE_PLAYER", 700).await;
    // Back within the grace: same groups, told at once.
    let mut again = joined(&s, w, &d).await;
    let wire = again.expect("WIRE_PLAYER").await;
    assert_eq!(wire["merge"], false);
    assert_eq!(again.expect("GROUPS_SNAPSHOT").await["groups"], group);
    // Dropped again and not back: gone after the grace.
    drop(again);
    let l = co.expect_within("LEAVE_PLAYER", 5000).await;
    assert_eq!(l["user_id"], did.to_string());
}

async fn a_reader_too_slow_for_its_queue_is_closed_with_1013_and_keeps_its_place(b: Backend) {
    // A queue of three items: what a reconnecting user's first turn brings (its snapshot, a
    // presence for each of three people whose connection dropped, its groups) is more than
    // its socket may hold, as for a reader on a link too slow for its world's traffic.
    let s = TestServer::start_with(b, |c| c.realtime.outbound_bound = 3).await;
    let (_, owner) = s.user("Owner").await;
    let w = s.world(&owner, "Busy", true, true).await;
    let spawn = |x: u32, y: u32| json!({"topic": "JOIN_PLAYER", "position": {"x": x, "y": y}});
    let mut co = joined(&s, w, &owner).await;
    co.send(spawn(100, 100)).await;
    let mut away = Vec::new();
    for (name, x, y) in [("Away1", 500, 300), ("Away2", 900, 600), ("Away3", 1500, 1200)] {
        let (_, t) = s.user(name).await;
        let mut c = joined(&s, w, &t).await;
        c.send(spawn(x, y)).await;
        co.expect("JOIN_PLAYER").await;
        away.push(c);
    }
    let (slow_id, slow) = s.user("Slow").await;
    let mut c = joined(&s, w, &slow).await;
    c.send(spawn(450, 100)).await;
    co.expect("JOIN_PLAYER").await;
    // Their connections drop (no close frame): each is kept, reconnecting.
    for c in away {
        c.reset();
        assert_eq!(co.expect("PLAYER_PRESENCE").await["state"], "reconnecting");
    }
    c.reset();
    assert_eq!(co.expect("PLAYER_PRESENCE").await["state"], "reconnecting");
    // Back, its first turn overflows its queue.
    let mut c = Client::connect(&s, w, &slow).await;
    while c.next(3000).await.is_some() {}
    assert_eq!(
        c.closed,
        Some(1013),
        "cut off with try-again-later, so its client reconnects"
    );
    // Its world counts a dropped connection, not a leave: the others see it reconnecting.
    let online = co.expect("PLAYER_PRESENCE").await;
    assert_eq!(
        (online["user_id"].clone(), online["state"].clone()),
        (json!(slow_id.to_string()), json!("online"))
    );
    let dropped = co.expect("PLAYER_PRESENCE").await;
    assert_eq!(
        (dropped["user_id"].clone(), dropped["state"].clone()),
        (json!(slow_id.to_string()), json!("reconnecting"))
    );
    co.expect_no("LEAVE_PLAYER", 500).await;
}

/// The default map with a fourth conference area, "Garden", on the corridor tiles 8..=11 ×
/// 17..=19 (what the web client's editor saves).
fn map_with_a_garden() -> String {
    let mut m: Value = serde_json::from_str(&common::default_map()).expect("the default map is JSON");
    let width = m["width"].as_u64().expect("width") as usize;
    m["tilesets"].as_array_mut().expect("tilesets").push(json!({
        "firstgid": 100_004, "name": "__CONFERENCE_C4", "image": "tilesets/conference.png",
        "imagewidth": 32, "imageheight": 32, "tilewidth": 32, "tileheight": 32, "tilecount": 1, "columns": 1,
        "margin": 0, "spacing": 0,
        "properties": [{"name": "name", "type": "string", "value": "Garden"}],
        "tiles": [{"id": 0, "properties": [{"name": "conference", "type": "string", "value": "C4"}]}],
    }));
    let layer = m["layers"]
        .as_array_mut()
        .expect("layers")
        .iter_mut()
        .find(|l| l["name"] == "__Conference")
        .expect("a conference layer");
    for row in 17..=19 {
        for col in 8..=11 {
            layer["data"][row * width + col] = json!(100_004);
        }
    }
    m.to_string()
}

async fn an_edited_map_reaches_live_sessions_and_its_new_conference_opens(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Owner").await;
    let (_, visitor) = s.user("Visitor").await;
    let w = s.world(&owner, "Editable", true, true).await;
    let mut c = joined(&s, w, &visitor).await;
    c.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 320, "y": 560}}))
        .await;
    let garden = format!("C4-{w}");
    // Not a conference yet.
    c.send(json!({"topic": "JOIN_CONFERENCE", "conference_id": garden}))
        .await;
    assert_eq!(c.expect("error").await["d"]["topic"], "JOIN_CONFERENCE");
    // A settings edit that leaves the map alone is not announced.
    edit_world(&s, &owner, w, json!({"description": "Now with a garden"})).await;
    c.expect_no("MAP_UPDATED", 500).await;
    // Only the creator may change the map.
    let r = s
        .put(
            &format!("/worlds/{w}"),
            Some(&visitor),
            json!({"world_map": map_with_a_garden()}),
        )
        .await;
    assert_eq!(r.0, StatusCode::BAD_REQUEST, "{}", r.1);
    c.expect_no("MAP_UPDATED", 300).await;
    edit_world(&s, &owner, w, json!({"world_map": map_with_a_garden()})).await;
    c.expect("MAP_UPDATED").await;
    // The session goes on, and the new area is a conference the visitor (standing in it) joins.
    c.send(json!({"topic": "JOIN_CONFERENCE", "conference_id": garden}))
        .await;
    assert_eq!(c.expect("GROUPS_SNAPSHOT").await["groups"], json!([garden]));
    let (_, detail) = s.get(&format!("/worlds/{w}"), Some(&visitor)).await;
    assert!(
        detail["world_map"]
            .as_str()
            .is_some_and(|m| m.contains("__CONFERENCE_C4")),
        "GET returns the saved map"
    );
    // Erasing it again takes the visitor out.
    edit_world(&s, &owner, w, json!({"world_map": common::default_map()})).await;
    c.expect("MAP_UPDATED").await;
    c.send(json!({"topic": "PING"})).await;
    c.expect("PONG").await; // the session survived both edits
}

/// `PUT /worlds/{w}` that must succeed.
async fn edit_world(s: &TestServer, token: &str, w: i64, body: Value) {
    let r = s.put(&format!("/worlds/{w}"), Some(token), body).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
}

/// The REST join of someone the world just kicked or banned, once the world's store has the
/// block: the world refuses their socket at once (its own memory), the store's row is written
/// a moment later, and REST reads the store. Waits up to a second for a refusal.
async fn rest_join_once_recorded(s: &TestServer, w: i64, token: &str) -> (StatusCode, Value) {
    let path = format!("/worlds/{w}/users");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let r = s.post(&path, Some(token), json!({})).await;
        if r.0 != StatusCode::OK || tokio::time::Instant::now() >= deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Security review F10: guests could not be banned, and a kicked guest was back at once with
/// the same token. A live ban now keeps that guest id out (socket and REST join).
async fn a_guest_banned_live_stays_out_with_the_same_token(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Host").await;
    let w = s.world(&owner, "Door", true, true).await;
    let mut co = joined(&s, w, &owner).await;
    co.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    co.send(json!({"topic": "PING"})).await;
    co.expect("PONG").await;
    let (gt, gid) = s.guest().await;
    let mut cg = joined(&s, w, &gt).await;
    cg.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 130, "y": 100}}))
        .await;
    co.expect("JOIN_PLAYER").await;
    co.send(json!({"topic": "KICK_PLAYER", "user_id": gid, "ban": true}))
        .await;
    let k = cg.expect("KICKED").await;
    assert!(k["d"]["reason"].as_str().unwrap().contains("banned"), "{k}");
    cg.closed_with().await;
    co.expect_no("error", 300).await;
    let mut again = Client::connect(&s, w, &gt).await;
    assert_eq!(again.closed_with().await, 1008);
    let refused = rest_join_once_recorded(&s, w, &gt).await;
    assert_detail(&refused, 400, "World Not Found or is not currently available.");
    // Other guests still come in.
    let (other, _) = s.guest().await;
    let mut co2 = joined(&s, w, &other).await;
    co2.send(json!({"topic": "PING"})).await;
    co2.expect("PONG").await;
}

async fn a_guest_banned_through_the_api_stays_out_until_unbanned(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Host").await;
    let (_, bystander) = s.user("Plain").await;
    let w = s.world(&owner, "Lobby", true, true).await;
    let (gt, gid) = s.guest().await;
    let mut cg = joined(&s, w, &gt).await;
    let path = format!("/worlds/{w}/users/{gid}");
    s.join(&bystander, w).await;
    assert_detail(
        &s.put(&path, Some(&bystander), json!({"status": 1})).await,
        400,
        "Your role does not have access to this functionality.",
    );
    let r = s.put(&path, Some(&owner), json!({"status": 1})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    assert_eq!(r.1["status"], 1);
    cg.expect("KICKED").await;
    cg.closed_with().await;
    assert_eq!(Client::connect(&s, w, &gt).await.closed_with().await, 1008);
    let r = s.put(&path, Some(&owner), json!({"status": 0})).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let mut back = joined(&s, w, &gt).await;
    back.send(json!({"topic": "PING"})).await;
    back.expect("PONG").await;
}

/// Security review F10: a kicked person waits out a cooldown before coming back.
async fn a_kicked_person_waits_out_the_cooldown(b: Backend) {
    let s = TestServer::start_with(b, |c| c.realtime.kick_cooldown = Duration::from_secs(2)).await;
    let (_, owner) = s.user("Host").await;
    let (vid, v) = s.user("Loud").await;
    let w = s.world(&owner, "Hall", true, true).await;
    let mut co = joined(&s, w, &owner).await;
    co.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    co.send(json!({"topic": "PING"})).await;
    co.expect("PONG").await;
    let mut cv = joined(&s, w, &v).await;
    cv.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 130, "y": 100}}))
        .await;
    co.expect("JOIN_PLAYER").await;
    co.send(json!({"topic": "KICK_PLAYER", "user_id": vid.to_string()}))
        .await;
    cv.expect("KICKED").await;
    cv.closed_with().await;
    assert_eq!(Client::connect(&s, w, &v).await.closed_with().await, 1008);
    let refused = rest_join_once_recorded(&s, w, &v).await;
    assert_detail(
        &refused,
        400,
        "You were removed from this world a moment ago; try again later.",
    );
    // Not banned: after the cooldown they are welcome again.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let mut back = joined(&s, w, &v).await;
    back.send(json!({"topic": "PING"})).await;
    back.expect("PONG").await;
}

/// The default map with a closed room: a ring of wall tiles around columns and rows 21–23.
fn map_with_a_closed_room() -> String {
    let mut m: Value = serde_json::from_str(&common::default_map()).expect("the default map is JSON");
    let width = m["width"].as_u64().expect("width") as usize;
    let layer = m["layers"]
        .as_array_mut()
        .expect("layers")
        .iter_mut()
        .find(|l| l["name"].as_str().is_some_and(|n| n.contains("Collision")) && l["data"].is_array())
        .expect("a collision layer");
    for i in 20..=24 {
        for (col, row) in [(i, 20), (i, 24), (20, i), (24, i)] {
            layer["data"][row * width + col] = json!(1);
        }
    }
    m.to_string()
}

/// Security review F7: the first JOIN_PLAYER was accepted anywhere, so a client could appear
/// inside a room closed off by walls. Now a first spawn must be somewhere a walker from the
/// spawn point could reach; otherwise it is refused and the player starts at the spawn point.
async fn a_first_spawn_in_a_room_closed_off_by_walls_is_refused(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, owner) = s.user("Owner").await;
    let (vid, visitor) = s.user("Sneak").await;
    let mut body = common::world_body("Vault", true, true);
    body["world_map"] = json!(map_with_a_closed_room());
    let r = s.create_world(&owner, body).await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    let w = r.1["world_id"].as_i64().unwrap();
    let mut co = joined(&s, w, &owner).await;
    co.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 100, "y": 100}}))
        .await;
    co.send(json!({"topic": "PING"})).await;
    co.expect("PONG").await;
    let mut cv = joined(&s, w, &visitor).await;
    // Body centre at the middle of tile (22, 22), inside the ring.
    cv.send(json!({"topic": "JOIN_PLAYER", "position": {"x": 721, "y": 705}}))
        .await;
    let e = cv.expect("error").await;
    assert_eq!(e["d"]["topic"], "JOIN_PLAYER", "{e}");
    let j = co.expect("JOIN_PLAYER").await;
    assert_eq!(j["user"]["user_id"], vid.to_string(), "{j}");
    let pos = &j["position"];
    assert_eq!((pos["x"].as_f64(), pos["y"].as_f64()), (Some(50.0), Some(50.0)), "{j}");
}

/// `PLAYER_PRESENCE` as the server sends it.
fn presence(user_id: &Value, state: &str) -> Value {
    json!({"topic": "PLAYER_PRESENCE", "user_id": user_id, "state": state})
}

/// Opens `token`'s socket in `world` (entered over REST before) and spawns its avatar at
/// (`x`, 100).
async fn spawned(s: &TestServer, world: i64, token: &str, x: i32) -> Client {
    let mut c = Client::connect(s, world, token).await;
    c.expect("PLAYERS_SNAPSHOT").await;
    c.send(json!({"topic": "JOIN_PLAYER", "position": {"x": x, "y": 100}}))
        .await;
    c
}

/// Ava and Ben in a new world of Ava's.
struct AvaSeesBen {
    w: i64,
    /// Ben's token.
    bt: String,
    /// Ava's socket (not spawned).
    ca: Client,
    /// Ben's socket, spawned at (500, 100).
    cb: Client,
    /// Ben's id as Ava's `JOIN_PLAYER` of him carried it.
    ben: Value,
}

/// Users created (before any socket opens: a socket must be read to answer pings), then Ava
/// connects, Ben spawns and Ava sees him join.
async fn ava_sees_ben(s: &TestServer, world: &str) -> AvaSeesBen {
    let (_, a) = s.user("Ava").await;
    let (_, bt) = s.user("Ben").await;
    let w = s.world(&a, world, true, true).await;
    s.join(&bt, w).await;
    let mut ca = joined(s, w, &a).await;
    let cb = spawned(s, w, &bt, 500).await;
    let ben = ca.expect("JOIN_PLAYER").await["user"]["user_id"].clone();
    AvaSeesBen { w, bt, ca, cb, ben }
}

async fn a_drop_is_told_as_reconnecting_a_return_as_online_and_a_clean_close_as_a_leave(b: Backend) {
    let s = TestServer::start(b).await;
    let AvaSeesBen { w, bt, mut ca, cb, ben } = ava_sees_ben(&s, "Ghosts").await;
    // Ben's network fails: his connection is reset, with no close frame.
    cb.reset();
    assert_eq!(
        ca.expect_within("PLAYER_PRESENCE", 5000).await,
        presence(&ben, "reconnecting")
    );
    ca.expect_no("LEAVE_PLAYER", 500).await;
    // He is back with the same token: the others are told, and he never left nor joined.
    let mut again = Client::connect(&s, w, &bt).await;
    again.expect("PLAYERS_SNAPSHOT").await;
    assert_eq!(ca.expect("PLAYER_PRESENCE").await, presence(&ben, "online"));
    ca.expect_no("JOIN_PLAYER", 300).await;
    assert!(ca.seen_with("LEAVE_PLAYER").is_empty(), "{:?}", ca.seen);
    assert_eq!(ca.seen_with("JOIN_PLAYER").len(), 1, "{:?}", ca.seen);
    assert!(
        again.seen_with("PLAYER_PRESENCE").is_empty(),
        "Ava is online: {:?}",
        again.seen
    );
    // Leaving on purpose is a leave at once, with no presence news.
    again.ws.close(None).await.unwrap();
    assert_eq!(ca.expect("LEAVE_PLAYER").await["user_id"], ben);
    assert_eq!(ca.seen_with("PLAYER_PRESENCE").len(), 2, "{:?}", ca.seen);
}

async fn a_dropped_player_who_does_not_return_leaves_after_the_grace(b: Backend) {
    let s = TestServer::start_with(b, |c| c.realtime.reconnect_grace = Duration::from_secs(1)).await;
    let AvaSeesBen { mut ca, cb, ben, .. } = ava_sees_ben(&s, "Gone").await;
    cb.reset();
    let away = ca.expect_within("PLAYER_PRESENCE", 5000).await;
    assert_eq!(away, presence(&ben, "reconnecting"));
    let left = ca.expect_within("LEAVE_PLAYER", 10_000).await;
    assert_eq!(left["user_id"], ben);
    assert_eq!(ca.seen_with("PLAYER_PRESENCE").len(), 1, "{:?}", ca.seen);
}

async fn a_batched_socket_is_told_of_presence_too(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, a) = s.user("Ava").await;
    let (guest, uuid) = s.guest().await;
    let w = s.world(&a, "Arrays", true, true).await;
    s.join(&a, w).await;
    s.join(&guest, w).await;
    let mut ca = Client::connect_batched(&s, w, &a).await;
    ca.expect_batched("PLAYERS_SNAPSHOT", 3000).await;
    let cg = spawned(&s, w, &guest, 500).await;
    let joined = ca.expect_batched("JOIN_PLAYER", 3000).await;
    assert_eq!(joined["user"]["user_id"], uuid, "a guest is named by its UUID");
    cg.reset();
    assert_eq!(
        ca.expect_batched("PLAYER_PRESENCE", 5000).await,
        presence(&json!(uuid), "reconnecting")
    );
    let mut again = Client::connect(&s, w, &guest).await;
    again.expect("PLAYERS_SNAPSHOT").await;
    assert_eq!(
        ca.expect_batched("PLAYER_PRESENCE", 3000).await,
        presence(&json!(uuid), "online")
    );
}

async fn a_silent_socket_is_found_by_its_missing_pongs(b: Backend) {
    // Pings every 300 ms; silence for 1.5 s ends a socket. Ava keeps reading (her client
    // answers the pings as it reads); Ben's client stops reading after his spawn, so his
    // connection stays open while nothing comes from it: a path that died without a FIN.
    let s = TestServer::start_with(b, |c| {
        c.realtime.ping_interval = Duration::from_millis(300);
        c.realtime.idle_timeout = Duration::from_millis(1500);
    })
    .await;
    let AvaSeesBen {
        mut ca,
        cb: stalled,
        ben,
        ..
    } = ava_sees_ben(&s, "Silence").await;
    assert_eq!(
        ca.expect_within("PLAYER_PRESENCE", 10_000).await,
        presence(&ben, "reconnecting")
    );
    // Ava, who answered every ping, is still connected; Ben keeps his place for the grace.
    ca.send(json!({"topic": "PING"})).await;
    ca.expect("PONG").await;
    ca.expect_no("LEAVE_PLAYER", 500).await;
    drop(stalled);
}
