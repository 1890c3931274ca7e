//! The hub: one actor task per live world around its [`WorldEngine`], and the bridge from
//! REST calls (through [`LiveSessions`]) and the replica bus to those actors.
//!
//! An actor is the single writer of its world: sockets send it parsed frames, it feeds them
//! to the engine and carries out the outputs (queue frames, close sockets, media commands,
//! database records). It stops when its world has been empty for a while.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crowdwire_api::live::{Eviction, LiveSessions};
use crowdwire_auth::Principal;
use crowdwire_store::Db;
use crowdwire_store::Timestamp;
use crowdwire_store::roles::Role;
use crowdwire_world::engine::{
    Clock, EngineConfig, Input, Output, Permissions, Profile, Record, SessionId, WorldEngine,
};
use crowdwire_world::map::WorldMap;
use crowdwire_world::protocol::{ClientMessage, ParseError};
use crowdwire_world::proximity::ProximityConfig;

use crate::bus::{Control, ReplicaBus};
use crate::media::MediaBackend;
use crate::outbound::{Outbound, PushError, WireFrame};
use crate::presence::{Presence, PresenceEntry};
use rustc_hash::FxHashMap;

/// Settings of the realtime layer.
#[derive(Clone, Debug)]
pub struct RealtimeSettings {
    /// Proximity radius, px.
    pub proximity_radius: f64,
    /// Parting distance as a multiple of the radius.
    pub proximity_hysteresis: f64,
    /// Largest proximity group.
    pub max_group_size: usize,
    /// Area of interest (a viewport), px.
    pub interest_area: (f64, f64),
    /// Longest chat message, characters.
    pub chat_max_chars: usize,
    /// Largest incoming frame, bytes.
    pub max_frame_bytes: usize,
    /// Frames a socket may have queued before it is cut off.
    pub outbound_bound: usize,
    /// Sustained messages per second per connection, and burst.
    pub rate: (f64, f64),
    /// A dropped connection keeps its place this long.
    pub reconnect_grace: Duration,
    /// A socket silent this long is considered dropped.
    pub idle_timeout: Duration,
    /// Batched frames are flushed at least this often.
    pub batch_interval: Duration,
}

impl Default for RealtimeSettings {
    fn default() -> RealtimeSettings {
        RealtimeSettings {
            proximity_radius: 150.0,
            proximity_hysteresis: 1.2,
            max_group_size: 16,
            interest_area: (1920.0, 1080.0),
            chat_max_chars: 1000,
            max_frame_bytes: 64 * 1024,
            outbound_bound: 2048,
            rate: (40.0, 80.0),
            reconnect_grace: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            batch_interval: Duration::from_millis(50),
        }
    }
}

/// What sockets and the hub tell an actor.
pub(crate) enum ActorMsg {
    Connect {
        session: SessionId,
        profile: Profile,
        outbound: Arc<Outbound>,
    },
    Frame {
        session: SessionId,
        message: Result<ClientMessage, ParseError>,
        /// When the socket received it: moves are checked against the time between their
        /// arrivals, not between their (possibly delayed) processing.
        at: Clock,
    },
    Closed {
        session: SessionId,
        clean: bool,
    },
    Control(Control),
}

/// The hub.
pub struct Hub {
    pub(crate) db: Db,
    pub(crate) keys: crowdwire_auth::TokenKeys,
    pub(crate) settings: RealtimeSettings,
    presence: Arc<dyn Presence>,
    bus: Arc<dyn ReplicaBus>,
    media: Arc<dyn MediaBackend>,
    worlds: Mutex<HashMap<i64, mpsc::Sender<ActorMsg>>>,
    next_session: AtomicU64,
    started: Instant,
}

impl Hub {
    /// A hub over these backends; starts listening to the bus.
    pub fn new(
        db: Db,
        keys: crowdwire_auth::TokenKeys,
        settings: RealtimeSettings,
        presence: Arc<dyn Presence>,
        bus: Arc<dyn ReplicaBus>,
        media: Arc<dyn MediaBackend>,
    ) -> Arc<Hub> {
        let hub = Arc::new(Hub {
            db,
            keys,
            settings,
            presence,
            bus,
            media,
            worlds: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            started: Instant::now(),
        });
        let weak = Arc::downgrade(&hub);
        let mut rx = hub.bus.subscribe();
        tokio::spawn(async move {
            loop {
                let msg = match rx.recv().await {
                    Ok(m) => m,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "replica bus lagged");
                        continue;
                    }
                    Err(_) => return,
                };
                let Some(hub) = weak.upgrade() else { return };
                hub.deliver(msg).await;
            }
        });
        hub
    }

    /// Names of the presence, bus and media backends.
    pub fn backends(&self) -> (&'static str, &'static str, &'static str) {
        (self.presence.backend(), self.bus.backend(), self.media.backend())
    }

    pub(crate) fn next_session(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    fn local_worlds(&self) -> Vec<(i64, mpsc::Sender<ActorMsg>)> {
        self.worlds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(w, t)| (*w, t.clone()))
            .collect()
    }

    async fn deliver(&self, msg: Control) {
        let target = match &msg {
            Control::Evict { world: None, .. } => None,
            Control::Evict { world: Some(w), .. }
            | Control::CloseWorld { world: w, .. }
            | Control::RoleChanged { world: w, .. }
            | Control::RoleUpdated { world: w, .. }
            | Control::WorldUpdated { world: w } => Some(*w),
        };
        for (w, tx) in self.local_worlds() {
            if target.is_none_or(|t| t == w) {
                let _ = tx.send(ActorMsg::Control(msg.clone())).await;
            }
        }
    }

    /// The actor of `world`, started if needed.
    pub(crate) fn actor(self: &Arc<Self>, world: i64) -> mpsc::Sender<ActorMsg> {
        let mut worlds = self.worlds.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = worlds.get(&world)
            && !tx.is_closed()
        {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(4096);
        worlds.insert(world, tx.clone());
        let hub = self.clone();
        let me = tx.downgrade();
        tokio::spawn(async move {
            run_actor(hub.clone(), world, rx).await;
            // Only forget the actor if a newer one has not taken its place.
            let mut worlds = hub.worlds.lock().unwrap_or_else(|p| p.into_inner());
            if worlds
                .get(&world)
                .is_some_and(|t| me.upgrade().is_none_or(|m| m.same_channel(t)))
            {
                worlds.remove(&world);
            }
        });
        tx
    }

    pub(crate) fn clock(&self) -> Clock {
        Clock {
            ms: self.started.elapsed().as_millis() as u64,
            unix_ms: Timestamp::now().0 / 1000,
        }
    }
}

/// The permissions of a role, as a live session uses them.
pub fn permissions(role: &Role) -> Permissions {
    Permissions {
        role_id: role.role_id,
        name: role.name.clone(),
        walk: role.walk,
        talk: role.talk,
        chat: role.chat,
        interact: role.interact,
        world_mute: role.world_mute,
        ban: role.ban,
        conference_manage: role.conference_manage,
        talk_conference: role.talk_conference,
    }
}

/// The wire id of a principal.
pub fn wire_id(p: Principal) -> String {
    match p {
        Principal::User(id) => id.to_string(),
        Principal::Guest(g) => g.hyphenated().to_string(),
    }
}

async fn load_map(db: &Db, world: i64) -> (WorldMap, Option<u32>, i32) {
    let w = db.world_by_id(world).await.ok().flatten();
    let max = w.as_ref().and_then(|w| w.max_users).map(|m| m.max(0) as u32);
    let status = w
        .as_ref()
        .map(|w| w.status)
        .unwrap_or(crowdwire_store::worlds::status::DELETED);
    let map = match db.world_map(world).await {
        Ok(Some(text)) => WorldMap::parse(&text).unwrap_or_else(|e| {
            tracing::warn!(world, error = %e, "world map unusable for the server; using an open field");
            WorldMap::open_field(32_000.0, 32_000.0)
        }),
        _ => WorldMap::open_field(32_000.0, 32_000.0),
    };
    (map, max, status)
}

/// Persists one engine record.
async fn persist(db: &Db, world: i64, record: Record) {
    let result = match record {
        Record::Event { member_id, kind } => db.insert_event(world, member_id, kind, Timestamp::now()).await,
        Record::Position {
            user_id,
            member_id,
            position,
        } => match member_id {
            Some(id) => db.save_member_position(world, id, position.x, position.y).await,
            None => db.save_guest_position(world, &user_id, position.x, position.y).await,
        },
        Record::Ban { member_id } => {
            let changes = crowdwire_store::members::MemberChanges {
                status: Some(crowdwire_store::members::status::BANNED),
                ..Default::default()
            };
            db.update_member(world, member_id, &changes).await.map(|_| ())
        }
    };
    if let Err(e) = result {
        tracing::warn!(world, error = %e, "could not persist a world record");
    }
}

/// How long an empty world's actor waits before stopping.
const IDLE_STOP: Duration = Duration::from_secs(60);

async fn run_actor(hub: Arc<Hub>, world: i64, mut rx: mpsc::Receiver<ActorMsg>) {
    let (map, max_users, _) = load_map(&hub.db, world).await;
    let s = &hub.settings;
    let config = EngineConfig {
        world_id: world,
        proximity: ProximityConfig {
            radius: s.proximity_radius,
            leave_radius: s.proximity_radius * s.proximity_hysteresis,
            max_group: s.max_group_size,
        },
        interest_area: s.interest_area,
        chat_max_chars: s.chat_max_chars,
        rate_per_sec: s.rate.0,
        rate_burst: s.rate.1,
        reconnect_grace_ms: s.reconnect_grace.as_millis() as u64,
        max_users,
        ..EngineConfig::default()
    };
    let mut engine = WorldEngine::new(config, map);
    let (media_tx, mut media_rx) = mpsc::unbounded_channel();
    hub.media.attach(world, media_tx);
    let (rec_tx, mut rec_rx) = mpsc::unbounded_channel::<Record>();
    let db = hub.db.clone();
    let recorder = tokio::spawn(async move {
        while let Some(r) = rec_rx.recv().await {
            persist(&db, world, r).await;
        }
    });
    let mut sockets = Sockets::default();
    let mut online: HashSet<String> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut empty_since: Option<Instant> = Some(Instant::now());
    loop {
        let mut input = tokio::select! {
            msg = rx.recv() => match msg {
                None => break,
                Some(msg) => mailbox_inputs(&hub, world, msg, &mut sockets).await,
            },
            Some((peer, message)) = media_rx.recv() => vec![(Input::MediaMessage { peer, message }, hub.clock())],
            _ = tick.tick() => {
                if engine.population() == 0 && empty_since.is_some_and(|t| t.elapsed() >= IDLE_STOP) {
                    break;
                }
                vec![(Input::Tick, hub.clock())]
            }
        };
        // Take what else waits (up to a bound) in the same turn: under load a turn then
        // covers many moves, and each socket gets their frames in one hand-over.
        while input.len() < TURN_INPUTS {
            match rx.try_recv() {
                Ok(msg) => input.extend(mailbox_inputs(&hub, world, msg, &mut sockets).await),
                Err(_) => break,
            }
        }
        if input.is_empty() {
            continue;
        }
        let presence_may_change = input
            .iter()
            .any(|(i, _)| !matches!(i, Input::Frame { .. } | Input::MediaMessage { .. }));
        let mut pending: Vec<(Input, Clock)> = input.into_iter().rev().collect();
        let mut any_close = false;
        let mut crashed = false;
        'turn: loop {
            while let Some((input, clock)) = pending.pop() {
                // A bug in the engine must not strand the world's sessions: catch it, close
                // every socket so clients reconnect to a fresh actor, and clear presence below.
                let outputs =
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.handle(clock, input))) {
                        Ok(o) => o,
                        Err(_) => {
                            tracing::error!(world, "world engine panicked; restarting the world");
                            crashed = true;
                            break 'turn;
                        }
                    };
                for out in outputs {
                    match out {
                        Output::Send { to, frame } => sockets.stage(to, frame.into()),
                        Output::Fanout { to, frame } => {
                            let frame = WireFrame::from(frame);
                            for s in to {
                                sockets.stage(s, frame.clone());
                            }
                        }
                        Output::Close { session, code, reason } => {
                            any_close = true;
                            sockets.close(session, code, reason);
                        }
                        Output::Media(cmd) => hub.media.command(world, cmd),
                        Output::Record(r) => {
                            let _ = rec_tx.send(r);
                        }
                    }
                }
            }
            // Readers too slow for their queue's bound are cut off, and leave the world.
            let overflowed = sockets.flush();
            if overflowed.is_empty() {
                break;
            }
            pending.extend(
                overflowed
                    .into_iter()
                    .map(|session| (Input::Closed { session, clean: true }, hub.clock())),
            );
        }
        if crashed {
            sockets.close_all(1011, "internal error; please reconnect");
            break;
        }
        if presence_may_change || any_close {
            sync_presence(&hub, world, &engine, &mut online).await;
        }
        empty_since = if engine.population() == 0 {
            empty_since.or(Some(Instant::now()))
        } else {
            None
        };
    }
    // Stopping: nobody is left (or the hub is gone).
    sockets.close_all(1001, "world closing");
    for u in online.drain() {
        hub.presence.leave(world, &u).await;
    }
    hub.media.detach(world);
    drop(rec_tx);
    let _ = recorder.await;
}

/// Most mailbox messages one actor turn takes.
const TURN_INPUTS: usize = 256;

/// The engine inputs of one mailbox message (keeping `sockets` in step).
async fn mailbox_inputs(hub: &Hub, world: i64, msg: ActorMsg, sockets: &mut Sockets) -> Vec<(Input, Clock)> {
    let now = hub.clock();
    match msg {
        ActorMsg::Connect {
            session,
            profile,
            outbound,
        } => {
            sockets.insert(session, outbound);
            vec![(Input::Connect { session, profile }, now)]
        }
        ActorMsg::Frame { session, message, at } => vec![(Input::Frame { session, message }, at)],
        ActorMsg::Closed { session, clean } => {
            sockets.remove(session);
            vec![(Input::Closed { session, clean }, now)]
        }
        ActorMsg::Control(c) => control_inputs(hub, world, c)
            .await
            .into_iter()
            .map(|i| (i, now))
            .collect(),
    }
}

/// The sockets of a world's sessions, and the frames the current turn has produced for
/// each. The frames are handed to a socket's queue together at the end of the turn: one
/// lock and at most one wake-up per socket per turn, however many frames it gets.
#[derive(Default)]
struct Sockets {
    by_session: FxHashMap<SessionId, Socket>,
    /// Sessions with staged frames.
    dirty: Vec<SessionId>,
}

struct Socket {
    queue: Arc<Outbound>,
    staged: Vec<WireFrame>,
}

impl Sockets {
    fn insert(&mut self, session: SessionId, queue: Arc<Outbound>) {
        self.by_session.insert(
            session,
            Socket {
                queue,
                staged: Vec::new(),
            },
        );
    }

    fn remove(&mut self, session: SessionId) {
        self.by_session.remove(&session);
    }

    fn stage(&mut self, session: SessionId, frame: WireFrame) {
        if let Some(s) = self.by_session.get_mut(&session) {
            if s.staged.is_empty() {
                self.dirty.push(session);
            }
            s.staged.push(frame);
        }
    }

    /// Hands every staged frame to its queue; returns (and forgets) the sessions whose
    /// queue overflowed.
    fn flush(&mut self) -> Vec<SessionId> {
        let mut overflowed = Vec::new();
        for session in std::mem::take(&mut self.dirty) {
            if let Some(s) = self.by_session.get_mut(&session)
                && !s.staged.is_empty()
                && s.queue.push_many(s.staged.drain(..)) == Err(PushError::Overflow)
            {
                overflowed.push(session);
            }
        }
        for session in &overflowed {
            self.by_session.remove(session);
        }
        overflowed
    }

    /// Sends what is staged for `session`, then a close frame.
    fn close(&mut self, session: SessionId, code: u16, reason: String) {
        if let Some(mut s) = self.by_session.remove(&session) {
            let _ = s.queue.push_many(s.staged.drain(..));
            s.queue.close(code, reason);
        }
    }

    fn close_all(&mut self, code: u16, reason: &str) {
        for (_, s) in self.by_session.drain() {
            s.queue.close(code, reason.to_owned());
        }
        self.dirty.clear();
    }
}

async fn sync_presence(hub: &Hub, world: i64, engine: &WorldEngine, online: &mut HashSet<String>) {
    let now: HashSet<String> = engine.user_ids().map(str::to_owned).collect();
    for gone in online.difference(&now) {
        hub.presence.leave(world, gone).await;
    }
    for new in now.difference(online) {
        let profile = engine.profile_of(new);
        let entry = PresenceEntry {
            username: profile.map(|p| p.username.clone()).unwrap_or_default(),
            avatar: profile.map(|p| p.avatar.clone()).unwrap_or_default(),
            position: engine.position_of(new),
        };
        hub.presence.join(world, new, entry).await;
    }
    *online = now;
}

async fn control_inputs(hub: &Hub, world: i64, c: Control) -> Vec<Input> {
    match c {
        Control::Evict { user, reason, .. } => vec![Input::Evict { user_id: user, reason }],
        Control::CloseWorld { reason, .. } => vec![Input::CloseWorld { reason }],
        Control::RoleChanged { user, role_id, .. } => match hub.db.role_in_world(world, role_id).await {
            Ok(Some(role)) => vec![Input::RoleChanged {
                user_id: user,
                role: permissions(&role),
            }],
            _ => Vec::new(),
        },
        Control::RoleUpdated { role_id, .. } => match hub.db.role_in_world(world, role_id).await {
            Ok(Some(role)) => vec![Input::RoleUpdated {
                role: permissions(&role),
            }],
            _ => Vec::new(),
        },
        Control::WorldUpdated { .. } => {
            let (map, max, status) = load_map(&hub.db, world).await;
            if status != crowdwire_store::worlds::status::NORMAL {
                return vec![Input::CloseWorld {
                    reason: "This world is no longer available.".into(),
                }];
            }
            vec![Input::MaxUsersChanged(max), Input::MapChanged(Box::new(map))]
        }
    }
}

fn eviction_text(why: Eviction) -> &'static str {
    match why {
        Eviction::BannedFromWorld => "You were banned from this world.",
        Eviction::AccountBanned => "Your account has been banned.",
        Eviction::WorldClosed => "This world is no longer available.",
    }
}

#[async_trait]
impl LiveSessions for Hub {
    async fn online_count(&self, world_id: i64) -> u64 {
        self.presence.online_count(world_id).await
    }

    async fn online_total(&self) -> u64 {
        self.presence.online_total().await
    }

    async fn is_online(&self, world_id: i64, who: Principal) -> bool {
        self.presence.is_online(world_id, &wire_id(who)).await
    }

    async fn evict(&self, world_id: Option<i64>, who: Principal, why: Eviction) {
        self.bus
            .publish(Control::Evict {
                world: world_id,
                user: wire_id(who),
                reason: eviction_text(why).into(),
            })
            .await;
    }

    async fn close_world(&self, world_id: i64, why: Eviction) {
        self.bus
            .publish(Control::CloseWorld {
                world: world_id,
                reason: eviction_text(why).into(),
            })
            .await;
    }

    async fn role_changed(&self, world_id: i64, who: Principal, role: &Role) {
        self.bus
            .publish(Control::RoleChanged {
                world: world_id,
                user: wire_id(who),
                role_id: role.role_id,
            })
            .await;
    }

    async fn role_updated(&self, role: &Role) {
        self.bus
            .publish(Control::RoleUpdated {
                world: role.world_id,
                role_id: role.role_id,
            })
            .await;
    }

    async fn world_updated(&self, world_id: i64) {
        self.bus.publish(Control::WorldUpdated { world: world_id }).await;
    }

    fn backend(&self) -> &'static str {
        self.presence.backend()
    }
}
