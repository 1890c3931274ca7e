//! A small deterministic harness around [`WorldEngine`] for the integration tests.
//!
//! It feeds inputs with a fake clock, routes every output into per-session inboxes (frames
//! decoded from JSON; the bare `PONG` kept as a JSON string), collects media commands,
//! records and closes, and checks on every output that no frame is addressed to a session
//! that is not open (never connected, closed by the engine, or reported closed).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crowdwire_world::engine::{
    Clock, EngineConfig, Input, MediaCommand, Output, Permissions, Profile, Record, SessionId, WorldEngine,
};
use crowdwire_world::map::WorldMap;
use crowdwire_world::protocol::{ClientMessage, MediaMessage, Position, ServerMessage};
use crowdwire_world::roles::RoleFlags;
use serde_json::{Value, json};

/// The world id used by the small map's worlds (conference ids are `C<n>-7`).
pub const WORLD: i64 = 7;

/// Inside conference area `C1` of the small map (container position).
pub const IN_C1: (f64, f64) = (1376.0, 240.0);
/// Inside conference area `C2` of the small map (container position).
pub const IN_C2: (f64, f64) = (1376.0, 880.0);
/// A container position whose body centre is on the small map's wall block.
pub const IN_WALL: (f64, f64) = (350.0, 330.0);

/// A hand-written Tiled map: 60×40 tiles of 32 px (1920×1280 px), a 2×2 wall block at
/// columns 10–11, rows 10–11, conference `C1` at columns 40–45, rows 5–10 and `C2` at
/// columns 40–45, rows 25–30.
pub fn small_map_json() -> Value {
    let (w, h) = (60usize, 40usize);
    let ground = vec![1u32; w * h];
    let mut collision = vec![0u32; w * h];
    for r in 10..=11 {
        for c in 10..=11 {
            collision[r * w + c] = 2;
        }
    }
    let mut conference = vec![0u32; w * h];
    for r in 5..=10 {
        for c in 40..=45 {
            conference[r * w + c] = 100_001;
        }
    }
    for r in 25..=30 {
        for c in 40..=45 {
            conference[r * w + c] = 100_002;
        }
    }
    json!({
        "width": w, "height": h, "tilewidth": 32, "tileheight": 32,
        "orientation": "orthogonal", "renderorder": "right-down", "infinite": false,
        "layers": [
            {"type": "tilelayer", "name": "Ground", "width": w, "height": h, "data": ground},
            {"type": "tilelayer", "name": "__Collision", "width": w, "height": h, "data": collision},
            {"type": "tilelayer", "name": "__Conference", "width": w, "height": h, "data": conference},
            {"type": "objectgroup", "name": "Object", "objects": []},
        ],
        "tilesets": [
            {"firstgid": 1, "name": "Floors", "tilecount": 1},
            {"firstgid": 2, "name": "Walls", "tilecount": 1, "properties": [{"name": "isWall", "type": "string", "value": "true"}]},
            {"firstgid": 100_001, "name": "__CONFERENCE_C1",
             "properties": [{"name": "name", "type": "string", "value": "Main stage"}],
             "tiles": [{"id": 0, "properties": [{"name": "conference", "type": "string", "value": "C1"}]}]},
            {"firstgid": 100_002, "name": "__CONFERENCE_C2",
             "properties": [{"name": "name", "type": "string", "value": "Side room"}],
             "tiles": [{"id": 0, "properties": [{"name": "conference", "type": "string", "value": "C2"}]}]},
        ]
    })
}

/// The small map, parsed.
pub fn small_map() -> WorldMap {
    WorldMap::parse(&small_map_json().to_string()).expect("the test map is valid")
}

/// The small map with conference `C2` erased (an edit in the map editor).
pub fn small_map_without_c2() -> WorldMap {
    let mut m = small_map_json();
    for layer in m["layers"].as_array_mut().expect("the test map has layers") {
        if layer["name"] == "__Conference" {
            for t in layer["data"].as_array_mut().expect("tile layers have data") {
                if *t == 100_002 {
                    *t = json!(0);
                }
            }
        }
    }
    WorldMap::parse(&m.to_string()).expect("still a valid map")
}

/// The real default map shipped with the server.
pub fn default_map() -> WorldMap {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/static/maps/default.json");
    let text = std::fs::read_to_string(path).expect("the default map is in the repository");
    WorldMap::parse(&text).expect("the default map parses")
}

/// Where the engine considers the avatar's body to be, for a container position.
pub fn body_centre(x: f64, y: f64) -> (f64, f64) {
    (x - 1.0, y + 15.0)
}

/// A role with the everyday flags: walk, talk, chat, interact.
pub fn member_role() -> Permissions {
    Permissions {
        role_id: 1,
        name: "Member".into(),
        flags: RoleFlags {
            walk: true,
            talk: true,
            chat: true,
            interact: true,
            ..RoleFlags::default()
        },
    }
}

/// A role with every flag.
pub fn admin_role() -> Permissions {
    Permissions {
        role_id: 2,
        name: "Admin".into(),
        ..Permissions::default()
    }
    .with_every_flag()
}

/// A registered member with the member role; user id = member id.
pub fn member(id: i64) -> Profile {
    Profile {
        user_id: id.to_string(),
        member_id: Some(id),
        username: format!("user{id}"),
        avatar: "avatar1".into(),
        role: member_role(),
        creator: false,
    }
}

/// A registered member with a given role.
pub fn member_with(id: i64, role: Permissions) -> Profile {
    Profile { role, ..member(id) }
}

/// A guest (no member id).
pub fn guest(name: &str) -> Profile {
    Profile {
        user_id: format!("guest-{name}"),
        member_id: None,
        username: name.into(),
        avatar: "avatar2".into(),
        role: member_role(),
        creator: false,
    }
}

/// One engine, a fake clock and everything it said.
pub struct World {
    /// The engine under test.
    pub engine: WorldEngine,
    /// The fake clock.
    pub clock: Clock,
    /// Decoded frames per session, oldest first.
    pub inbox: BTreeMap<SessionId, Vec<Value>>,
    /// Media commands, in order.
    pub media: Vec<MediaCommand>,
    /// Records, in order.
    pub records: Vec<Record>,
    /// Closes: (session, code, reason).
    pub closes: Vec<(SessionId, u16, String)>,
    /// The outputs of the last input.
    pub last: Vec<Output>,
    /// Sessions connected and not closed.
    pub open: BTreeSet<SessionId>,
    user_of: HashMap<SessionId, String>,
}

impl World {
    /// A world with this config and map.
    pub fn new(config: EngineConfig, map: WorldMap) -> World {
        World {
            engine: WorldEngine::new(config, map),
            clock: Clock {
                ms: 1_000_000,
                unix_ms: 49_500_000,
            },
            inbox: BTreeMap::new(),
            media: Vec::new(),
            records: Vec::new(),
            closes: Vec::new(),
            last: Vec::new(),
            open: BTreeSet::new(),
            user_of: HashMap::new(),
        }
    }

    /// The default config for world [`WORLD`].
    pub fn config() -> EngineConfig {
        EngineConfig {
            world_id: WORLD,
            ..EngineConfig::default()
        }
    }

    /// World [`WORLD`] on the small map with the default config.
    pub fn small() -> World {
        World::new(World::config(), small_map())
    }

    /// World [`WORLD`] on the small map with a tweaked config.
    pub fn small_with(tweak: impl FnOnce(&mut EngineConfig)) -> World {
        let mut c = World::config();
        tweak(&mut c);
        World::new(c, small_map())
    }

    /// Applies one input, ends the turn there (as the hub does after each batch of inputs;
    /// here every input is a turn of its own) and routes the outputs of both.
    pub fn input(&mut self, input: Input) -> &[Output] {
        if let Input::Closed { session, .. } = &input {
            self.open.remove(session);
        }
        let mut out = self.engine.handle(self.clock, input);
        out.extend(self.engine.handle(self.clock, Input::Flush));
        for o in &out {
            self.route(o);
        }
        self.last = out;
        &self.last
    }

    fn deliver(&mut self, to: SessionId, text: &str) {
        assert!(
            self.open.contains(&to),
            "frame {text} sent to session {to}, which is not open"
        );
        let v = match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => Value::String(text.to_owned()),
        };
        // Everything a client receives is a message the protocol defines (and the web client's
        // generated types describe).
        if v.is_object() {
            assert!(
                serde_json::from_str::<ServerMessage>(text).is_ok()
                    || serde_json::from_str::<MediaMessage>(text).is_ok(),
                "frame {text} is not a message of the protocol"
            );
        }
        self.inbox.entry(to).or_default().push(v);
    }

    fn route(&mut self, o: &Output) {
        match o {
            Output::Send { to, frame } => self.deliver(*to, &frame.text.clone()),
            Output::Fanout { to, frame } => {
                let unique: BTreeSet<_> = to.iter().collect();
                assert_eq!(unique.len(), to.len(), "a fan-out names a receiver twice: {to:?}");
                for s in to {
                    self.deliver(*s, &frame.text.clone());
                }
            }
            Output::Moves(batch) => {
                let unique: BTreeSet<_> = batch.to.iter().map(|(s, _)| s).collect();
                assert_eq!(unique.len(), batch.to.len(), "a receiver is named twice in one batch");
                for (s, picks) in &batch.to {
                    for &i in picks {
                        self.deliver(*s, &batch.frames[i as usize].text.clone());
                    }
                }
            }
            Output::Close { session, code, reason } => {
                assert!(
                    self.open.remove(session),
                    "close of session {session}, which is not open"
                );
                self.closes.push((*session, *code, reason.clone()));
            }
            Output::Media(m) => self.media.push(m.clone()),
            Output::Record(r) => self.records.push(r.clone()),
        }
    }

    /// Opens a session for a profile.
    pub fn connect(&mut self, session: SessionId, profile: Profile) {
        self.open_session(session, profile, false);
    }

    /// Re-attaches a socket that stayed open through an owner change (see `Input::Connect`).
    pub fn resume(&mut self, session: SessionId, profile: Profile) {
        self.open_session(session, profile, true);
    }

    fn open_session(&mut self, session: SessionId, profile: Profile, resumed: bool) {
        self.open.insert(session);
        self.user_of.insert(session, profile.user_id.clone());
        self.input(Input::Connect {
            session,
            profile,
            resumed,
        });
    }

    /// Connects and sends `JOIN_PLAYER` at a position.
    pub fn join(&mut self, session: SessionId, profile: Profile, x: f64, y: f64) {
        self.connect(session, profile);
        self.frame(session, json!({"topic": "JOIN_PLAYER", "position": {"x": x, "y": y}}));
    }

    /// Sends a JSON frame from a session (parsed as the gateway does).
    pub fn frame(&mut self, session: SessionId, v: Value) -> &[Output] {
        self.text(session, &v.to_string())
    }

    /// Sends a text frame from a session.
    pub fn text(&mut self, session: SessionId, text: &str) -> &[Output] {
        let message = ClientMessage::parse(text);
        self.input(Input::Frame { session, message })
    }

    /// Sends one `PLAYER_MOVEMENT`.
    pub fn step(&mut self, session: SessionId, x: f64, y: f64) -> &[Output] {
        self.frame(
            session,
            json!({"topic": "PLAYER_MOVEMENT", "position": {"x": x, "y": y}, "velocity": {"x": 0, "y": 0}}),
        )
    }

    /// Walks a session's avatar to a point in legal steps (about 60 px per 300 ms).
    pub fn walk_to(&mut self, session: SessionId, x: f64, y: f64) {
        let user = self.user_of[&session].clone();
        loop {
            let p = self.engine.position_of(&user).expect("walking user has a position");
            let (dx, dy) = (x - p.x, y - p.y);
            let d = (dx * dx + dy * dy).sqrt();
            if d < 1e-9 {
                return;
            }
            let k = (60.0 / d).min(1.0);
            self.advance(300);
            // Whole pixels: JSON floats need not round-trip exactly.
            let to = Position {
                x: (p.x + dx * k).round(),
                y: (p.y + dy * k).round(),
            };
            self.step(session, to.x, to.y);
            let now = self.engine.position_of(&user).expect("still present");
            assert_eq!(
                now,
                to,
                "walk step to {to:?} was refused: {:?}",
                self.inbox.get(&session).and_then(|m| m.last())
            );
        }
    }

    /// Moves the clock on.
    pub fn advance(&mut self, ms: u64) {
        self.clock.ms += ms;
        self.clock.unix_ms += ms as i64;
    }

    /// Sends a housekeeping tick.
    pub fn tick(&mut self) {
        self.input(Input::Tick);
    }

    /// Reports a session closed (clean or dropped).
    pub fn close(&mut self, session: SessionId, clean: bool) {
        self.input(Input::Closed { session, clean });
    }

    /// Takes a session's frames.
    pub fn take(&mut self, session: SessionId) -> Vec<Value> {
        self.inbox.remove(&session).unwrap_or_default()
    }

    /// Takes a session's frames and keeps those with these topics.
    pub fn take_topics(&mut self, session: SessionId, topics: &[&str]) -> Vec<Value> {
        self.take(session)
            .into_iter()
            .filter(|m| topics.contains(&topic(m)))
            .collect()
    }

    /// Takes a session's proximity and room frames (`WIRE_PLAYER`, `UNWIRE_PLAYER`,
    /// `GROUPS_SNAPSHOT`, `CLOSE_ROOM`).
    pub fn take_rooms(&mut self, session: SessionId) -> Vec<Value> {
        self.take_topics(
            session,
            &["WIRE_PLAYER", "UNWIRE_PLAYER", "GROUPS_SNAPSHOT", "CLOSE_ROOM"],
        )
    }

    /// Takes the media commands so far.
    pub fn take_media(&mut self) -> Vec<MediaCommand> {
        std::mem::take(&mut self.media)
    }

    /// Takes the records so far.
    pub fn take_records(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }

    /// Forgets every frame, command and record so far.
    pub fn clear(&mut self) {
        self.inbox.clear();
        self.media.clear();
        self.records.clear();
        self.closes.clear();
    }

    /// The proximity group id of a user, as the string the client sees.
    pub fn group_of(&self, user: &str) -> Option<String> {
        let slot = self.engine.slot_of(user)?;
        self.engine.proximity().group_of(slot).map(|g| g.to_string())
    }
}

/// A frame's topic (or the raw text).
pub fn topic(m: &Value) -> &str {
    match m {
        Value::String(s) => s,
        _ => m["topic"].as_str().unwrap_or(""),
    }
}

/// The topics of some frames.
pub fn topics(ms: &[Value]) -> Vec<String> {
    ms.iter().map(|m| topic(m).to_owned()).collect()
}

/// `WIRE_PLAYER`.
pub fn wire(merge: bool, ids: &[&str]) -> Value {
    json!({"topic": "WIRE_PLAYER", "merge": merge, "ids": ids})
}

/// `UNWIRE_PLAYER`.
pub fn unwire(merge: bool, ids: &[&str]) -> Value {
    json!({"topic": "UNWIRE_PLAYER", "merge": merge, "ids": ids})
}

/// `PLAYER_PRESENCE` of a user whose connection dropped.
pub fn reconnecting(user: &str) -> Value {
    json!({"topic": "PLAYER_PRESENCE", "user_id": user, "state": "reconnecting"})
}

/// `PLAYER_PRESENCE` of a user who is back.
pub fn online(user: &str) -> Value {
    json!({"topic": "PLAYER_PRESENCE", "user_id": user, "state": "online"})
}

/// `GROUPS_SNAPSHOT`.
pub fn groups_snapshot(groups: &[&str]) -> Value {
    json!({"topic": "GROUPS_SNAPSHOT", "groups": groups})
}

/// `CLOSE_ROOM`.
pub fn close_room(group: &str) -> Value {
    json!({"topic": "CLOSE_ROOM", "group": group})
}

/// Asserts frames are exactly one `error` about `about` (the offending topic). A refused media
/// request (`@…`) gets the `-done` reply it awaits first, carrying the same `error`.
pub fn assert_error(ms: &[Value], about: &str) {
    let ms = match ms {
        [done, rest @ ..] if about.starts_with('@') && topic(done).ends_with("-done") => {
            assert!(done["d"]["error"].is_string(), "a -done refusal carries error: {done}");
            rest
        }
        _ => ms,
    };
    assert_eq!(ms.len(), 1, "expected one error about {about}, got {ms:?}");
    assert_eq!(topic(&ms[0]), "error", "expected an error about {about}, got {ms:?}");
    assert_eq!(ms[0]["d"]["topic"], about, "error about the wrong topic: {ms:?}");
    assert!(
        ms[0]["d"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error without a message: {ms:?}"
    );
}
