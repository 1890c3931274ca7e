//! Property tests of the world engine and of its proximity groups.
//!
//! Random sequences of connections, spawns, walks (and impossible jumps), conference joins
//! and leaves, clean and dropped disconnections and ticks run against two engines (two
//! worlds with the same user ids and disjoint session ids). After every step the groups must
//! be the components of the near-graph, nobody is in two rooms of a kind, conference members
//! are out of proximity, the media layer has been told exactly who is in which room, no frame
//! goes to a closed session, and events come in session order. When everyone has gone, no
//! trace is left.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::*;
use crowdwire_world::engine::{EngineConfig, Input, MediaCommand, Profile, Record, SessionId};
use crowdwire_world::map::WorldMap;
use crowdwire_world::protocol::Position;
use crowdwire_world::proximity::{GroupDiff, GroupId, Member, ProximityConfig, ProximityGroups};
use proptest::prelude::*;
use serde_json::json;

const USERS: usize = 5;

/// Cases per property: 64, or `CROWDWIRE_PROPTEST_CASES` for a deeper run.
fn cases() -> u32 {
    std::env::var("CROWDWIRE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// Places where things happen: the conferences, just below C1, the open middle, the wall.
/// (Repeated entries make clusters, hence groups, likelier.)
const HOTSPOTS: [(f64, f64); 8] = [
    IN_C1,
    IN_C1,
    IN_C2,
    (1376.0, 380.0),
    (1376.0, 380.0),
    (700.0, 600.0),
    (700.0, 600.0),
    (300.0, 300.0),
];

#[derive(Clone, Debug)]
enum Op {
    /// Open a session for a user (a reconnection or a second window if present).
    Connect { user: usize },
    /// `JOIN_PLAYER` near a hotspot, connecting first if the user has no session.
    Spawn { user: usize, spot: usize, dx: i32, dy: i32 },
    /// A move of at most 45 px per axis (always within the jitter allowance).
    Step {
        user: usize,
        dx: i32,
        dy: i32,
        vx: i32,
        vy: i32,
    },
    /// A move to anywhere (often far too fast, sometimes off the map).
    Jump { user: usize, x: i32, y: i32 },
    /// A heartbeat at a nearby point.
    Ping { user: usize, dx: i32, dy: i32 },
    /// `JOIN_CONFERENCE` C1/C2 of this world, or C1 of the other world.
    JoinConference { user: usize, which: usize },
    /// `LEAVE_CONFERENCE` of the conference the user is in.
    LeaveConference { user: usize },
    /// `SEND_MESSAGE` to NEARBY or ALL.
    Chat { user: usize, nearby: bool },
    /// The socket closed.
    Close { user: usize, clean: bool },
    /// Time passes.
    Advance { ms: u64 },
    /// Housekeeping.
    Tick,
    /// The admin (user 0) kicks someone, maybe banning them.
    Kick { user: usize, ban: bool },
    /// The REST API changes a user's speaking rights.
    Role {
        user: usize,
        talk: bool,
        talk_conference: bool,
    },
    /// The REST API ends a user's session.
    Evict { user: usize },
    /// The map is edited: conference C2 disappears, or comes back.
    SwapMap,
    /// The world is closed.
    CloseWorld,
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS;
    prop_oneof![
        3 => user.clone().prop_map(|user| Op::Connect { user }),
        8 => (user.clone(), 0..HOTSPOTS.len(), -90..=90i32, -90..=90i32)
            .prop_map(|(user, spot, dx, dy)| Op::Spawn { user, spot, dx, dy }),
        12 => (user.clone(), -45..=45i32, -45..=45i32, -2..=2i32, -2..=2i32)
            .prop_map(|(user, dx, dy, vx, vy)| Op::Step { user, dx, dy, vx, vy }),
        2 => (user.clone(), -100..2100i32, -100..1400i32).prop_map(|(user, x, y)| Op::Jump { user, x, y }),
        1 => (user.clone(), -40..=40i32, -40..=40i32).prop_map(|(user, dx, dy)| Op::Ping { user, dx, dy }),
        5 => (user.clone(), prop_oneof![2 => Just(0usize), 2 => Just(1), 1 => Just(2)])
            .prop_map(|(user, which)| Op::JoinConference { user, which }),
        1 => user.clone().prop_map(|user| Op::LeaveConference { user }),
        1 => (user.clone(), any::<bool>()).prop_map(|(user, nearby)| Op::Chat { user, nearby }),
        1 => (user, any::<bool>()).prop_map(|(user, clean)| Op::Close { user, clean }),
        2 => (0..2500u64).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Tick),
        1 => (1..USERS, any::<bool>()).prop_map(|(user, ban)| Op::Kick { user, ban }),
        1 => (0..USERS, any::<bool>(), any::<bool>())
            .prop_map(|(user, talk, talk_conference)| Op::Role { user, talk, talk_conference }),
        1 => (0..USERS).prop_map(|user| Op::Evict { user }),
        1 => Just(Op::SwapMap),
        1 => Just(Op::CloseWorld),
    ]
}

/// One world under test and what the test knows about it.
struct Case {
    w: World,
    world_id: i64,
    map: WorldMap,
    config: EngineConfig,
    session_base: SessionId,
    next_session: SessionId,
    /// The open session of each user.
    session: HashMap<usize, SessionId>,
    /// When each present user's position last changed (≤ the engine's own move time).
    moved_at: HashMap<usize, u64>,
    /// (room, peer) pairs the media layer was told to join and not yet to leave.
    media: BTreeSet<(String, String)>,
    /// Per member: the event kinds recorded so far.
    events: BTreeMap<i64, Vec<&'static str>>,
    /// Every slot ever seen.
    slots: BTreeSet<u32>,
    /// The map in use lacks conference C2.
    without_c2: bool,
}

fn uid(user: usize) -> String {
    if user == USERS - 1 {
        "guest-x".into()
    } else {
        (user + 1).to_string()
    }
}

fn profile(user: usize) -> Profile {
    match user {
        0 => member_with(1, admin_role()),
        u if u == USERS - 1 => guest("x"),
        u => member(u as i64 + 1),
    }
}

impl Case {
    fn new(world_id: i64, session_base: SessionId, max_group: usize, max_users: Option<u32>) -> Case {
        let config = EngineConfig {
            world_id,
            reconnect_grace_ms: 5_000,
            max_users,
            proximity: ProximityConfig {
                max_group,
                ..ProximityConfig::default()
            },
            ..EngineConfig::default()
        };
        Case {
            w: World::new(config.clone(), small_map()),
            world_id,
            map: small_map(),
            config,
            session_base,
            next_session: session_base,
            session: HashMap::new(),
            moved_at: HashMap::new(),
            media: BTreeSet::new(),
            events: BTreeMap::new(),
            slots: BTreeSet::new(),
            without_c2: false,
        }
    }

    fn legal_spot(&self, p: Position) -> bool {
        let (bx, by) = body_centre(p.x, p.y);
        self.map.contains(p.x, p.y) && !self.map.is_wall(bx, by)
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let before: HashMap<usize, Option<Position>> =
            (0..USERS).map(|u| (u, self.w.engine.position_of(&uid(u)))).collect();
        match *op {
            Op::Connect { user } => {
                self.next_session += 1;
                let s = self.next_session;
                self.w.connect(s, profile(user));
                // A refused connection is closed at once.
                if self.w.open.contains(&s) {
                    self.session.insert(user, s);
                }
            }
            Op::Spawn { user, spot, dx, dy } => {
                if !self.session.contains_key(&user) {
                    self.apply(&Op::Connect { user })?;
                }
                if let Some(&s) = self.session.get(&user) {
                    let (x, y) = HOTSPOTS[spot];
                    self.w.frame(
                        s,
                        json!({"topic": "JOIN_PLAYER", "position": {"x": x + f64::from(dx), "y": y + f64::from(dy)}}),
                    );
                }
            }
            Op::Step { user, dx, dy, vx, vy } => {
                if let (Some(&s), Some(Some(p))) = (self.session.get(&user), before.get(&user)) {
                    let to = Position {
                        x: p.x + f64::from(dx),
                        y: p.y + f64::from(dy),
                    };
                    self.w.frame(
                        s,
                        json!({"topic": "PLAYER_MOVEMENT", "position": {"x": to.x, "y": to.y},
                               "velocity": {"x": vx * 100, "y": vy * 100}}),
                    );
                    let now = self.w.engine.position_of(&uid(user));
                    // Within the jitter allowance: accepted exactly when the spot is legal and
                    // the straight line there does not go through a wall.
                    let through =
                        self.map
                            .crosses_wall(body_centre(p.x, p.y), body_centre(to.x, to.y), self.map.half_tile());
                    if self.legal_spot(to) && !through {
                        prop_assert_eq!(now, Some(to), "a legal step was refused");
                    } else {
                        prop_assert_eq!(
                            now,
                            Some(*p),
                            "a step into or through a wall, or off the map, was accepted"
                        );
                    }
                }
            }
            Op::Jump { user, x, y } => {
                if let (Some(&s), Some(Some(p))) = (self.session.get(&user), before.get(&user)) {
                    let to = Position {
                        x: f64::from(x),
                        y: f64::from(y),
                    };
                    self.w.take(s);
                    self.w.step(s, to.x, to.y);
                    // Standing still counts for at most a second's walk.
                    let dt = (self.w.clock.ms.saturating_sub(self.moved_at[&user]) as f64 / 1000.0).min(1.0);
                    let reach = self.config.max_speed * self.config.speed_slack * dt + self.config.jitter_px;
                    if !self.legal_spot(to) || p.distance(&to) > reach + 1e-6 {
                        prop_assert_eq!(
                            self.w.engine.position_of(&uid(user)),
                            Some(*p),
                            "an impossible jump was accepted"
                        );
                        let replies = self.w.take(s);
                        prop_assert!(
                            replies
                                .iter()
                                .any(|m| topic(m) == "error" && m["d"]["topic"] == "PLAYER_MOVEMENT"),
                            "a refused move got no error: {:?}",
                            replies
                        );
                    }
                }
            }
            Op::Ping { user, dx, dy } => {
                if let (Some(&s), Some(Some(p))) = (self.session.get(&user), before.get(&user)) {
                    self.w.take(s);
                    let (x, y) = (p.x + f64::from(dx), p.y + f64::from(dy));
                    self.w.frame(s, json!({"topic": "PING", "position": {"x": x, "y": y}}));
                    let replies = self.w.take(s);
                    prop_assert_eq!(replies.first(), Some(&json!("PONG")));
                }
            }
            Op::JoinConference { user, which } => {
                if let Some(&s) = self.session.get(&user) {
                    let id = match which {
                        0 => format!("C1-{}", self.world_id),
                        1 => format!("C2-{}", self.world_id),
                        _ => format!("C1-{}", self.world_id + 1),
                    };
                    self.w
                        .frame(s, json!({"topic": "JOIN_CONFERENCE", "conference_id": id}));
                    if which == 2 {
                        prop_assert!(
                            self.w.engine.conference_members(&id).is_empty(),
                            "joined another world's conference"
                        );
                    }
                }
            }
            Op::LeaveConference { user } => {
                if let Some(&s) = self.session.get(&user) {
                    let c = self
                        .w
                        .engine
                        .rooms_of(&uid(user))
                        .into_iter()
                        .find(|r| r.starts_with('C'));
                    if let Some(c) = c {
                        self.w
                            .frame(s, json!({"topic": "LEAVE_CONFERENCE", "conference_id": c}));
                    }
                }
            }
            Op::Chat { user, nearby } => {
                if let Some(&s) = self.session.get(&user) {
                    let to = if nearby { "NEARBY" } else { "ALL" };
                    self.w
                        .frame(s, json!({"topic": "SEND_MESSAGE", "text": "hello", "to": to}));
                }
            }
            Op::Close { user, clean } => {
                if let Some(s) = self.session.remove(&user) {
                    self.w.close(s, clean);
                }
            }
            Op::Advance { ms } => self.w.advance(ms),
            Op::Tick => self.w.tick(),
            Op::Kick { user, ban } => {
                if let Some(&s) = self.session.get(&0) {
                    self.w
                        .frame(s, json!({"topic": "KICK_PLAYER", "user_id": uid(user), "ban": ban}));
                }
            }
            Op::Role {
                user,
                talk,
                talk_conference,
            } => {
                let base = if user == 0 { admin_role() } else { member_role() };
                let mut role = base;
                role.flags.talk = talk;
                role.flags.talk_conference = talk_conference;
                self.w.input(Input::RoleChanged {
                    user_id: uid(user),
                    role,
                });
            }
            Op::Evict { user } => {
                self.w.input(Input::Evict {
                    user_id: uid(user),
                    reason: "evicted".into(),
                });
            }
            Op::SwapMap => {
                self.without_c2 = !self.without_c2;
                let map = if self.without_c2 {
                    small_map_without_c2()
                } else {
                    small_map()
                };
                self.w.input(Input::MapChanged(Box::new(map)));
            }
            Op::CloseWorld => {
                self.w.input(Input::CloseWorld {
                    reason: "closed".into(),
                });
                prop_assert_eq!(self.w.engine.population(), 0);
            }
        }
        // Sessions the engine closed (replaced, kicked, flooded) are no longer the user's.
        let open = self.w.open.clone();
        self.session.retain(|_, s| open.contains(s));
        let now = self.w.clock.ms;
        for u in 0..USERS {
            let p = self.w.engine.position_of(&uid(u));
            match p {
                None => {
                    self.moved_at.remove(&u);
                }
                Some(p) if before[&u] != Some(p) => {
                    self.moved_at.insert(u, now);
                }
                Some(_) => {}
            }
        }
        self.absorb_outputs()?;
        self.check()
    }

    /// Folds the media commands and records of the last input into the ledgers.
    fn absorb_outputs(&mut self) -> Result<(), TestCaseError> {
        for m in self.w.take_media() {
            match m {
                MediaCommand::Join { room, peer, .. } => {
                    self.media.insert((room, peer));
                }
                MediaCommand::Leave { rooms, peer } => {
                    for r in rooms {
                        self.media.remove(&(r, peer.clone()));
                    }
                }
                MediaCommand::Destroy { room } => self.media.retain(|(r, _)| *r != room),
                _ => {}
            }
        }
        for r in self.w.take_records() {
            if let Record::Event { member_id, kind } = r {
                let seq = self.events.entry(member_id).or_default();
                let expected: &[&str] = match seq.last().copied() {
                    None | Some("LEAVE_PLAYER") => &["JOIN_PLAYER"],
                    Some("JOIN_PLAYER") | Some("LEAVE_CONFERENCE") => &["JOIN_CONFERENCE", "LEAVE_PLAYER"],
                    Some("JOIN_CONFERENCE") => &["LEAVE_CONFERENCE"],
                    Some(other) => return Err(TestCaseError::fail(format!("unknown event {other}"))),
                };
                prop_assert!(
                    expected.contains(&kind),
                    "member {} recorded {} after {:?}",
                    member_id,
                    kind,
                    seq
                );
                seq.push(kind);
            }
        }
        Ok(())
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        let e = &self.w.engine;
        let prox = e.proximity();
        let present: Vec<String> = e.user_ids().map(str::to_owned).collect();
        let slot: HashMap<String, u32> = present
            .iter()
            .map(|u| (u.clone(), e.slot_of(u).expect("present")))
            .collect();
        self.slots.extend(slot.values().copied());
        let user_of: HashMap<u32, String> = slot.iter().map(|(u, s)| (*s, u.clone())).collect();

        // Who takes part in proximity: spawned users outside conferences.
        let conferences: Vec<String> = ["C1", "C2"].iter().map(|c| format!("{c}-{}", self.world_id)).collect();
        let mut members: BTreeSet<u32> = BTreeSet::new();
        for u in &present {
            let s = slot[u];
            let rooms = e.rooms_of(u);
            let in_conf: Vec<&String> = conferences
                .iter()
                .filter(|c| e.conference_members(c).contains(u))
                .collect();
            prop_assert!(in_conf.len() <= 1, "{} is in two conferences", u);
            prop_assert_eq!(rooms.iter().filter(|r| r.starts_with('C')).count(), in_conf.len());
            if let Some(c) = in_conf.first() {
                prop_assert!(rooms.contains(c));
                prop_assert!(
                    !prox.contains(s) && prox.group_of(s).is_none(),
                    "{} is in a conference and in proximity",
                    u
                );
            } else if e.position_of(u).is_some() {
                prop_assert!(prox.contains(s), "{} is spawned but out of proximity", u);
                members.insert(s);
            } else {
                prop_assert!(!prox.contains(s));
            }
            prop_assert!(rooms.len() <= 2);
        }

        // Near relation: symmetric, within the radii.
        let radius = self.config.proximity.radius;
        let leave = self.config.proximity.leave_radius;
        for &a in &members {
            let pa = e.position_of(&user_of[&a]).expect("member has a position");
            for &b in &members {
                if a >= b {
                    continue;
                }
                let pb = e.position_of(&user_of[&b]).expect("member has a position");
                let d = pa.distance(&pb);
                prop_assert_eq!(prox.are_near(a, b), prox.are_near(b, a), "near is not symmetric");
                if prox.are_near(a, b) {
                    prop_assert!(d <= leave + 1e-9, "near at {} px", d);
                }
                if d <= radius {
                    prop_assert!(prox.are_near(a, b), "not near at {} px", d);
                }
            }
            for n in prox.neighbours(a) {
                prop_assert!(members.contains(&n), "a neighbour outside proximity");
            }
        }

        // Groups: a partition of some members; the components when none exceeds the cap.
        check_groups(prox, &members, self.config.proximity.max_group)?;

        // The media layer knows exactly who is in which room, for everyone connected; someone
        // whose connection is away is in no room it is not in (it joins the others when back).
        let online: BTreeSet<String> = self.session.keys().map(|u| uid(*u)).collect();
        let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
        for u in &present {
            for r in e.rooms_of(u) {
                expected.insert((r, u.clone()));
            }
        }
        let of = |set: &BTreeSet<(String, String)>, away: bool| -> BTreeSet<(String, String)> {
            set.iter()
                .filter(|(_, u)| online.contains(u) != away)
                .cloned()
                .collect()
        };
        prop_assert_eq!(
            of(&self.media, false),
            of(&expected, false),
            "media rooms differ from the engine's rooms"
        );
        let stray: Vec<_> = of(&self.media, true)
            .difference(&of(&expected, true))
            .cloned()
            .collect();
        prop_assert!(
            stray.is_empty(),
            "someone away is in media rooms it is not in: {:?}",
            stray
        );

        prop_assert_eq!(e.online(), self.session.len());
        prop_assert!(e.population() >= e.online());
        if let Some(max) = self.config.max_users {
            prop_assert!(e.population() <= max as usize);
        }
        Ok(())
    }

    /// Everyone leaves; nothing must remain.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        let sessions: Vec<(usize, SessionId)> = self.session.iter().map(|(u, s)| (*u, *s)).collect();
        for (i, (user, _)) in sessions.into_iter().enumerate() {
            self.apply(&Op::Close {
                user,
                clean: i % 2 == 0,
            })?;
        }
        self.apply(&Op::Advance {
            ms: self.config.reconnect_grace_ms,
        })?;
        self.apply(&Op::Tick)?;
        let e = &self.w.engine;
        prop_assert_eq!(e.population(), 0);
        prop_assert_eq!(e.online(), 0);
        prop_assert!(e.groups().is_empty() && e.proximity().groups().is_empty());
        for c in ["C1", "C2"] {
            let id = format!("{c}-{}", self.world_id);
            prop_assert!(e.conference_members(&id).is_empty());
        }
        for s in &self.slots {
            prop_assert!(!e.proximity().contains(*s) && e.proximity().neighbours(*s).next().is_none());
        }
        prop_assert!(self.media.is_empty(), "media joins never left: {:?}", self.media);
        prop_assert!(self.w.open.is_empty());
        for (m, seq) in &self.events {
            prop_assert_eq!(
                seq.last().copied(),
                Some("LEAVE_PLAYER"),
                "member {} events {:?}",
                m,
                seq
            );
        }
        let _ = self.session_base;
        Ok(())
    }
}

/// Groups are disjoint, sized 2..=cap, consistent with `group_of`, made of `members`,
/// internally connected and maximal (nothing near could still join or merge), and — when no
/// component of the near-graph exceeds the cap — exactly its components of 2 or more.
fn check_groups(prox: &ProximityGroups, members: &BTreeSet<Member>, cap: usize) -> Result<(), TestCaseError> {
    let mut seen: BTreeSet<Member> = BTreeSet::new();
    for (g, ms) in prox.groups() {
        prop_assert!(ms.len() >= 2 && ms.len() <= cap, "group {} has {} members", g, ms.len());
        for m in ms {
            prop_assert!(seen.insert(*m), "{} is in two groups", m);
            prop_assert!(members.contains(m), "{} is grouped but not in proximity", m);
            prop_assert_eq!(prox.group_of(*m), Some(*g));
        }
    }
    for m in members {
        if !seen.contains(m) {
            prop_assert_eq!(prox.group_of(*m), None);
        }
    }
    // Each group hangs together through near edges among its own members.
    for (g, ms) in prox.groups() {
        let first = *ms.first().expect("non-empty");
        let mut reached = BTreeSet::from([first]);
        let mut stack = vec![first];
        while let Some(x) = stack.pop() {
            for y in prox.neighbours(x) {
                if ms.contains(&y) && reached.insert(y) {
                    stack.push(y);
                }
            }
        }
        prop_assert_eq!(&reached, ms, "group {} is not connected", g);
    }
    // Nothing more fits: no near edge joins two lone users, a lone user and a group with
    // room, or two groups that fit together under the cap.
    let size = |m: Member| prox.group_of(m).map(|g| prox.members(g).map_or(0, |x| x.len()));
    for &a in members {
        for b in prox.neighbours(a) {
            match (prox.group_of(a), prox.group_of(b)) {
                (None, None) => prop_assert!(false, "{} and {} are near and both alone", a, b),
                (None, Some(_)) => prop_assert!(size(b) == Some(cap), "{} is alone next to a group with room", a),
                (Some(x), Some(y)) if x != y => {
                    let total = size(a).unwrap_or(0) + size(b).unwrap_or(0);
                    prop_assert!(
                        total > cap,
                        "near groups {} and {} fit together ({} members)",
                        x,
                        y,
                        total
                    );
                }
                _ => {}
            }
        }
    }
    let comps = components(prox, members);
    let groups: BTreeSet<BTreeSet<Member>> = prox.groups().values().cloned().collect();
    if comps.iter().all(|c| c.len() <= cap) {
        prop_assert_eq!(groups, comps, "groups are not the components of the near-graph");
    } else {
        for g in &groups {
            prop_assert!(comps.iter().any(|c| g.is_subset(c)), "a group spans components");
        }
    }
    Ok(())
}

/// Components of the near-graph with at least two members.
fn components(prox: &ProximityGroups, members: &BTreeSet<Member>) -> BTreeSet<BTreeSet<Member>> {
    let mut seen = BTreeSet::new();
    let mut out = BTreeSet::new();
    for &m in members {
        if !seen.insert(m) {
            continue;
        }
        let mut comp = BTreeSet::from([m]);
        let mut stack = vec![m];
        while let Some(x) = stack.pop() {
            for y in prox.neighbours(x) {
                if seen.insert(y) {
                    comp.insert(y);
                    stack.push(y);
                }
            }
        }
        if comp.len() >= 2 {
            out.insert(comp);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn engine_invariants_hold_over_random_sessions(
        ops in prop::collection::vec((prop::bool::weighted(0.3), op()), 30..60),
        small_groups in any::<bool>(),
        capped in any::<bool>(),
    ) {
        let max_group = if small_groups { 3 } else { 16 };
        let max_users = if capped { Some(4) } else { None };
        let mut worlds = [Case::new(7, 1_000, max_group, max_users), Case::new(8, 2_000, max_group, max_users)];
        for (second, op) in &ops {
            worlds[usize::from(*second)].apply(op)?;
        }
        for w in &mut worlds {
            w.finish()?;
        }
        // No session of one world ever received a frame from the other.
        for (i, w) in worlds.iter().enumerate() {
            let base = w.session_base;
            for s in w.w.inbox.keys() {
                prop_assert!(*s > base && *s < base + 1_000, "world {} sent to session {}", i, s);
            }
        }
    }
}

// ----- ProximityGroups alone -----

#[derive(Clone, Debug)]
enum ProxOp {
    Place { m: Member, x: i32, y: i32 },
    Nudge { m: Member, dx: i32, dy: i32 },
    Remove { m: Member },
}

fn prox_op() -> impl Strategy<Value = ProxOp> {
    prop_oneof![
        2 => (0..8u32, 0..700i32, 0..500i32).prop_map(|(m, x, y)| ProxOp::Place { m, x, y }),
        6 => (0..8u32, -90..=90i32, -90..=90i32).prop_map(|(m, dx, dy)| ProxOp::Nudge { m, dx, dy }),
        1 => (0..8u32).prop_map(|m| ProxOp::Remove { m }),
    ]
}

/// Applies a diff to a copy of the groups, checking it against what it claims.
fn apply_diff(
    shadow: &mut BTreeMap<GroupId, BTreeSet<Member>>,
    diff: &GroupDiff,
    removed: Option<Member>,
) -> Result<(), TestCaseError> {
    for (g, members) in &diff.closed {
        let had = shadow.remove(g);
        prop_assert_eq!(had.as_ref(), Some(members), "closed group {} had other members", g);
    }
    for (g, old, new) in &diff.changed {
        prop_assert_ne!(old, new, "group {} reported without a change", g);
        let had = shadow.get(g).cloned().unwrap_or_default();
        prop_assert_eq!(&had, old, "group {} reported with the wrong old members", g);
        shadow.insert(*g, new.clone());
    }
    if let Some(m) = removed {
        prop_assert!(
            shadow.values().all(|ms| !ms.contains(&m)),
            "a removed member is still grouped"
        );
    }
    Ok(())
}

/// Ids are stable: a closed group's members now sit in parts that carry an old id with at
/// least as much of their own old group; a part that kept an old id has at least as much of
/// it as any part with a fresh id.
fn check_ids(
    before: &BTreeMap<GroupId, BTreeSet<Member>>,
    after: &BTreeMap<GroupId, BTreeSet<Member>>,
    highest_before: GroupId,
) -> Result<(), TestCaseError> {
    let overlap = |a: &BTreeSet<Member>, b: &BTreeSet<Member>| a.intersection(b).count();
    for (p, part) in after {
        let fresh = !before.contains_key(p);
        if fresh {
            prop_assert!(*p > highest_before, "id {} reused", p);
        }
        for (g, old) in before {
            let o = overlap(old, part);
            if o == 0 || g == p {
                continue;
            }
            if fresh {
                // g's id must have gone to a part holding at least as much of g.
                let kept = after.get(g).map(|q| overlap(old, q)).unwrap_or(0);
                prop_assert!(
                    after.contains_key(g) && kept >= o,
                    "group {} lost its id to nothing though part {} holds {} of it",
                    g,
                    p,
                    o
                );
            } else if !after.contains_key(g) {
                // p kept its id over the closed g: p's own old members weigh at least as much.
                prop_assert!(
                    overlap(&before[p], part) >= o,
                    "part {} kept id {} over the larger group {}",
                    p,
                    p,
                    g
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn proximity_groups_follow_the_near_graph(
        ops in prop::collection::vec(prox_op(), 1..60),
        cap in prop_oneof![Just(2usize), Just(3), Just(4), Just(16)],
    ) {
        let config = ProximityConfig { max_group: cap, ..ProximityConfig::default() };
        let mut prox = ProximityGroups::new(config);
        let mut at: BTreeMap<Member, Position> = BTreeMap::new();
        let mut shadow: BTreeMap<GroupId, BTreeSet<Member>> = BTreeMap::new();
        let mut highest: GroupId = 0;
        for op in &ops {
            let before = prox.groups().clone();
            let (diff, touched, removed) = match *op {
                ProxOp::Place { m, x, y } => {
                    let p = Position { x: f64::from(x), y: f64::from(y) };
                    at.insert(m, p);
                    (prox.set_position(m, p), m, None)
                }
                ProxOp::Nudge { m, dx, dy } => {
                    let Some(old) = at.get(&m).copied() else { continue };
                    let p = Position { x: old.x + f64::from(dx), y: old.y + f64::from(dy) };
                    at.insert(m, p);
                    (prox.set_position(m, p), m, None)
                }
                ProxOp::Remove { m } => {
                    at.remove(&m);
                    (prox.remove(m), m, Some(m))
                }
            };
            apply_diff(&mut shadow, &diff, removed)?;
            prop_assert_eq!(&shadow, prox.groups(), "the diff does not describe the change");
            check_ids(&before, prox.groups(), highest)?;
            highest = highest.max(prox.groups().keys().copied().max().unwrap_or(0));
            for (g, _) in &diff.closed {
                highest = highest.max(*g);
            }

            let members: BTreeSet<Member> = at.keys().copied().collect();
            for m in 0..8u32 {
                prop_assert_eq!(prox.contains(m), members.contains(&m));
            }
            if removed.is_some() {
                prop_assert!(prox.neighbours(touched).next().is_none());
            }
            for (&a, pa) in &at {
                for (&b, pb) in &at {
                    if a == b {
                        continue;
                    }
                    let d = pa.distance(pb);
                    prop_assert_eq!(prox.are_near(a, b), prox.are_near(b, a));
                    if prox.are_near(a, b) {
                        prop_assert!(d <= config.leave_radius + 1e-9, "{}–{} near at {} px", a, b, d);
                    } else {
                        prop_assert!(d > config.radius, "{}–{} apart at {} px", a, b, d);
                    }
                }
            }
            check_groups(&prox, &members, cap)?;
        }
    }
}
