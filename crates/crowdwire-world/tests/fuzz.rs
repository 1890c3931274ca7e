//! Robustness: thousands of random and mutated frames against a populated world.
//!
//! Frames are random JSON objects with known and unknown topics, valid frames with fields
//! removed or replaced by values of the wrong type, truncated frames, non-object JSON and
//! plain text. The engine must never panic; a frame that does not parse, or has an unknown
//! topic, is answered with an `error` frame and the session goes on; every frame the engine
//! sends is a JSON object with a topic (or the bare `PONG`); and afterwards everyone can still
//! leave without a trace.

mod common;

use common::*;
use crowdwire_world::engine::{EngineConfig, Output, Permissions, Profile, SessionId};
use crowdwire_world::protocol::ClientMessage;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Cases: 64, or `CROWDWIRE_PROPTEST_CASES` for a deeper run.
fn cases() -> u32 {
    std::env::var("CROWDWIRE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// Every client topic, some server-only ones, and near misses.
const TOPICS: &[&str] = &[
    "PING",
    "PLAYER_MOVEMENT",
    "JOIN_PLAYER",
    "SEND_MESSAGE",
    "WIRE_PLAYER",
    "UNWIRE_PLAYER",
    "JOIN_CONFERENCE",
    "LEAVE_CONFERENCE",
    "REQUEST_TO_SPEAK",
    "PERMISSION_TO_SPEAK",
    "close-media",
    "toggle-producer",
    "speaking_change",
    "@connect-transport",
    "@get-recv-tracks",
    "@send-track",
    "@send-file",
    "@connect-transport-send-done",
    "ADD_USER_FILES",
    "REMOVE_USER_FILE",
    "REMOVE_ALL_USER_FILES",
    "GET_ROOM_USERS_FILES",
    "DOWNLOAD_REQUEST",
    "DENY_DOWNLOAD_REQUEST",
    "ACCEPT_DOWNLOAD_REQUEST",
    "START_DOWNLOAD",
    "KICK_PLAYER",
    "PONG",
    "LEAVE_PLAYER",
    "PLAYERS_SNAPSHOT",
    "KICKED",
    "CLOSE_ROOM",
    "active_speaker",
    "error",
    "ping",
    "",
];

/// Field names the parser looks at, at the top level or in `d`.
const KEYS: &[&str] = &[
    "topic",
    "position",
    "velocity",
    "x",
    "y",
    "text",
    "to",
    "users_id",
    "conference_id",
    "conference",
    "permission",
    "user_requested",
    "d",
    "kind",
    "pause",
    "peerId",
    "roomId",
    "value",
    "files",
    "file",
    "owner",
    "user_id",
    "reason",
    "ban",
    "id",
    "name",
];

/// Strings worth guessing: this world's users and rooms, another world's, chat targets.
const WORDS: &[&str] = &[
    "1", "2", "3", "5", "guest-d", "9", "C1-7", "C2-7", "C1-8", "C1", "ALL", "NEARBY", "audio", "video", "send",
];

/// Valid frames of every topic, as the original client sends them.
fn templates() -> Vec<Value> {
    let file = json!({"id": 1, "name": "a.txt", "size": 10, "owner": "2"});
    vec![
        json!({"topic": "PING", "position": {"x": 600, "y": 600}}),
        json!({"topic": "PLAYER_MOVEMENT", "position": {"x": 610, "y": 600}, "velocity": {"x": 200, "y": 0}}),
        json!({"topic": "JOIN_PLAYER", "position": {"x": 600, "y": 600}}),
        json!({"topic": "SEND_MESSAGE", "text": "hi", "to": "NEARBY"}),
        json!({"topic": "WIRE_PLAYER", "users_id": ["2", 3]}),
        json!({"topic": "UNWIRE_PLAYER", "users_id": ["3"]}),
        json!({"topic": "JOIN_CONFERENCE", "conference_id": "C1-7"}),
        json!({"topic": "LEAVE_CONFERENCE", "conference_id": "C1-7"}),
        json!({"topic": "REQUEST_TO_SPEAK", "conference": "C1-7"}),
        json!({"topic": "PERMISSION_TO_SPEAK", "conference": "C1-7", "permission": true, "user_requested": "2"}),
        json!({"topic": "close-media", "d": {}}),
        json!({"topic": "toggle-producer", "d": {"kind": "audio", "pause": true, "peerId": "3"}}),
        json!({"topic": "speaking_change", "d": {"roomId": "1", "value": true}}),
        json!({"topic": "@connect-transport", "d": {"roomId": "1", "transportId": "t", "direction": "send"}}),
        json!({"topic": "@get-recv-tracks", "d": {"roomId": "C1-7", "rtpCapabilities": {}}}),
        json!({"topic": "@send-track", "d": {"roomId": "1", "kind": "audio", "appData": {"mediaTag": "audio"}}}),
        json!({"topic": "@send-file", "d": {"roomId": "1", "appData": {"mediaTag": "file"}}}),
        json!({"topic": "ADD_USER_FILES", "files": [file]}),
        json!({"topic": "REMOVE_USER_FILE", "file": file}),
        json!({"topic": "REMOVE_ALL_USER_FILES"}),
        json!({"topic": "GET_ROOM_USERS_FILES"}),
        json!({"topic": "DOWNLOAD_REQUEST", "file": file}),
        json!({"topic": "DENY_DOWNLOAD_REQUEST", "d": {"user_id": "3", "reason": "no"}}),
        json!({"topic": "ACCEPT_DOWNLOAD_REQUEST", "d": {"user_id": "3", "file": file}}),
        json!({"topic": "START_DOWNLOAD", "d": {"user_id": "2"}}),
        json!({"topic": "KICK_PLAYER", "user_id": "guest-d", "ban": false}),
    ]
}

/// A populated world: an admin in conference C1, a group of three (one without any
/// permission) sharing a file, and a guest on its own.
struct Fuzz {
    w: World,
    people: Vec<(Profile, (f64, f64))>,
    sessions: Vec<SessionId>,
    next: SessionId,
}

impl Fuzz {
    fn new() -> Fuzz {
        let config = EngineConfig {
            rate_per_sec: 1e9,
            rate_burst: 1e9,
            abuse_strikes: u32::MAX,
            reconnect_grace_ms: 1_000,
            // Whoever is kicked comes straight back (see `step`), so the world stays populated.
            kick_cooldown_ms: 0,
            ..World::config()
        };
        let nobody = Permissions {
            role_id: 3,
            name: "Muted".into(),
            ..Permissions::default()
        };
        let people = vec![
            (member_with(1, admin_role()), IN_C1),
            (member(2), (600.0, 600.0)),
            (member(3), (700.0, 600.0)),
            (guest("d"), (1000.0, 1000.0)),
            (member_with(5, nobody), (650.0, 650.0)),
        ];
        let mut f = Fuzz {
            w: World::new(config, small_map()),
            people,
            sessions: Vec::new(),
            next: 0,
        };
        for i in 0..f.people.len() {
            f.sessions.push(0);
            f.enter(i);
        }
        f.w.frame(
            f.sessions[0],
            json!({"topic": "JOIN_CONFERENCE", "conference_id": "C1-7"}),
        );
        f.w.frame(
            f.sessions[1],
            json!({"topic": "ADD_USER_FILES", "files": [{"id": 1, "name": "a.txt", "size": 10}]}),
        );
        assert_eq!(f.w.engine.conference_members("C1-7").len(), 1);
        assert!(f.w.group_of("2").is_some());
        f.w.clear();
        f
    }

    /// (Re)connects person `i` and spawns it at home.
    fn enter(&mut self, i: usize) {
        self.next += 1;
        let s = self.next;
        let (profile, (x, y)) = self.people[i].clone();
        self.w.join(s, profile, x, y);
        self.sessions[i] = s;
    }

    /// Sends one text frame from person `i` and checks the answer.
    fn send(&mut self, i: usize, text: &str) -> Result<(), TestCaseError> {
        let s = self.sessions[i];
        let parsed = ClientMessage::parse(text);
        let bad = matches!(parsed, Err(_) | Ok(ClientMessage::Unknown));
        let out = self
            .w
            .input(crowdwire_world::engine::Input::Frame {
                session: s,
                message: parsed,
            })
            .to_vec();
        let mut answered = false;
        let frames = out.iter().flat_map(|o| match o {
            Output::Send { to, frame } => vec![(vec![*to], frame)],
            Output::Fanout { to, frame } => vec![(to.clone(), frame)],
            Output::Moves(b) => {
                b.to.iter()
                    .flat_map(|(s, picks)| picks.iter().map(|&i| (vec![*s], &b.frames[i as usize])))
                    .collect()
            }
            _ => Vec::new(),
        });
        for (to, frame) in frames {
            if &*frame.text != "PONG" {
                let v: Value = serde_json::from_str(&frame.text)
                    .map_err(|e| TestCaseError::fail(format!("frame is not JSON ({e}): {}", frame.text)))?;
                prop_assert!(
                    v.get("topic").is_some_and(Value::is_string),
                    "frame without a topic: {}",
                    frame.text
                );
                if to.contains(&s) && v["topic"] == "error" {
                    answered = true;
                }
            }
        }
        if bad {
            prop_assert!(answered, "no error for {:?}: {:?}", text, out);
        }
        // Whoever was closed (kicked, replaced) comes back, so the world stays populated.
        for j in 0..self.people.len() {
            if !self.w.open.contains(&self.sessions[j]) {
                self.enter(j);
            }
        }
        self.w.inbox.clear();
        self.w.take_media();
        self.w.take_records();
        Ok(())
    }

    /// Everyone leaves; nothing remains.
    fn finish(mut self) -> Result<(), TestCaseError> {
        for (i, s) in self.sessions.clone().into_iter().enumerate() {
            self.w.close(s, i % 2 == 0);
        }
        self.w.advance(1_000);
        self.w.tick();
        prop_assert_eq!(self.w.engine.population(), 0);
        prop_assert!(self.w.engine.groups().is_empty());
        prop_assert!(self.w.engine.conference_members("C1-7").is_empty());
        Ok(())
    }
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-3000..3000i64).prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        (0..3000usize).prop_map(|n| Value::from("x".repeat(n))),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![3 => prop::sample::select(KEYS).prop_map(str::to_owned), 1 => "[a-zA-Z_@-]{0,8}"].boxed()
}

fn value() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .boxed()
}

fn topic_string() -> BoxedStrategy<String> {
    prop_oneof![4 => prop::sample::select(TOPICS).prop_map(str::to_owned), 1 => "[A-Za-z_@-]{0,16}"].boxed()
}

/// How to damage a valid frame.
#[derive(Clone, Debug)]
enum Mutation {
    /// Remove a top-level field.
    Remove(usize),
    /// Replace a top-level field's value.
    Replace(usize, Value),
    /// Replace (or add) a field inside `d`, `position` or `file`.
    Nested(usize, String, Value),
    /// Cut the text at some byte.
    Truncate(usize),
}

fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        (any::<usize>()).prop_map(Mutation::Remove),
        (any::<usize>(), value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        (any::<usize>(), key(), value()).prop_map(|(i, k, v)| Mutation::Nested(i, k, v)),
        (any::<usize>()).prop_map(Mutation::Truncate),
    ]
    .boxed()
}

fn mutate(template: &Value, m: &Mutation) -> String {
    let mut obj: Map<String, Value> = template.as_object().cloned().unwrap_or_default();
    let keys: Vec<String> = obj.keys().cloned().collect();
    match m {
        Mutation::Remove(i) => {
            obj.remove(&keys[i % keys.len()]);
        }
        Mutation::Replace(i, v) => {
            obj.insert(keys[i % keys.len()].clone(), v.clone());
        }
        Mutation::Nested(i, k, v) => {
            let nested: Vec<String> = keys.iter().filter(|k| obj[*k].is_object()).cloned().collect();
            if let Some(n) = nested.get(i % nested.len().max(1))
                && let Some(inner) = obj.get_mut(n).and_then(Value::as_object_mut)
            {
                inner.insert(k.clone(), v.clone());
            }
        }
        Mutation::Truncate(i) => {
            let text = Value::Object(obj).to_string();
            let mut cut = i % (text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return text[..cut].to_owned();
        }
    }
    Value::Object(obj).to_string()
}

fn frame() -> BoxedStrategy<String> {
    let n = templates().len();
    prop_oneof![
        4 => (topic_string(), prop::collection::btree_map(key(), value(), 0..6)).prop_map(|(t, fields)| {
            let mut obj: Map<String, Value> = fields.into_iter().collect();
            obj.insert("topic".into(), Value::from(t));
            Value::Object(obj).to_string()
        }),
        5 => (0..n, mutation()).prop_map(|(i, m)| mutate(&templates()[i], &m)),
        2 => (0..n).prop_map(|i| templates()[i].to_string()),
        1 => value().prop_map(|v| v.to_string()),
        1 => "\\PC{0,40}",
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_and_mutated_frames_never_break_the_engine(
        frames in prop::collection::vec((0..5usize, frame(), 0..400u64), 1..64),
    ) {
        let mut f = Fuzz::new();
        for (sender, text, wait) in &frames {
            f.w.advance(*wait);
            f.send(*sender, text)?;
            if *wait > 300 {
                f.w.tick();
            }
        }
        f.finish()?;
    }
}

/// Every field of every valid frame, removed or given a value of each JSON type.
#[test]
fn every_field_with_every_wrong_type_is_answered() {
    let wrong = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(1e300),
        json!(""),
        json!("C1-7"),
        json!([]),
        json!([1, "2", null]),
        json!({}),
        json!({"x": "1", "y": []}),
    ];
    let mut f = Fuzz::new();
    let mut sent = 0;
    for t in templates() {
        let obj = t.as_object().expect("templates are objects").clone();
        for (k, v) in &obj {
            for i in 0..5 {
                let mut removed = obj.clone();
                removed.remove(k);
                f.send(i, &Value::Object(removed).to_string()).unwrap();
                for w in &wrong {
                    let mut changed = obj.clone();
                    changed.insert(k.clone(), w.clone());
                    f.send(i, &Value::Object(changed).to_string()).unwrap();
                    if let Some(inner) = v.as_object() {
                        for ik in inner.keys() {
                            let mut nested = obj.clone();
                            nested[k][ik] = w.clone();
                            f.send(i, &Value::Object(nested).to_string()).unwrap();
                            sent += 1;
                        }
                    }
                    sent += 2;
                }
            }
        }
    }
    assert!(sent > 2_000, "only {sent} frames");
    // Hostile shapes: deep nesting, huge arrays, a wall of text.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!(
        r#"{{"topic":"PING","position":{}0{}}}"#,
        r#"{"x":"#.repeat(5_000),
        "}".repeat(5_000)
    );
    let many_ids = json!({"topic": "WIRE_PLAYER", "users_id": (0..100_000).collect::<Vec<u32>>()}).to_string();
    let long_chat = json!({"topic": "SEND_MESSAGE", "text": "y".repeat(1_000_000), "to": "ALL"}).to_string();
    for text in [
        deep.as_str(),
        deep_obj.as_str(),
        many_ids.as_str(),
        long_chat.as_str(),
        "\u{0}",
        "\"\\ud800\"",
    ] {
        f.send(1, text).unwrap();
    }
    f.finish().unwrap();
}
