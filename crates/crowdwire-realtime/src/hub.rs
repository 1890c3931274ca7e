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

use crowdwire_access::live::{ClusterStatus, Eviction, LiveSessions};
use crowdwire_access::wire_id;
use crowdwire_auth::Principal;
use crowdwire_store::Db;
use crowdwire_store::Timestamp;
use crowdwire_store::blocks::BlockKind;
use crowdwire_store::roles::Role;
use crowdwire_world::engine::{
    Clock, EngineConfig, Input, MoveBatch, Output, Permissions, Profile, Record, SessionId, WorldEngine,
};
use crowdwire_world::map::WorldMap;
use crowdwire_world::protocol::ClientMessage as Parsed;
use crowdwire_world::protocol::{ClientMessage, ParseError};
use crowdwire_world::proximity::ProximityConfig;

use crate::bus::{Control, ReplicaBus};
use crate::lease::{Lease, Leases, Renewal};
use crate::media::MediaBackend;
use crate::outbound::{Item, MoveSet, Outbound, PushError, WireFrame};
use crate::presence::{Presence, PresenceEntry};
use crate::wire::{Body, Delivery, Envelope, WireText};
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
    /// Every socket gets a WebSocket Ping this often. Browsers answer in their network stack,
    /// without the page's script (a busy page or a background tab answers too), so a live
    /// client is never silent for much longer than this. Not zero.
    pub ping_interval: Duration,
    /// A socket from which nothing has arrived this long (no frame of any kind, pongs
    /// included) is a dropped connection: a network path that died without a FIN or RST,
    /// found this long after it died. Two or three ping intervals.
    pub idle_timeout: Duration,
    /// An upgraded socket must be admitted (token, world and place checked) within this long,
    /// or it is closed with 1013 and the client tries again.
    pub handshake_timeout: Duration,
    /// A world hands its sockets what its turns produced at most this often (movements
    /// once per mover, at their latest positions): a message waits at most this long, and a
    /// busy socket gets one write per interval however many turns the world takes.
    pub flush_interval: Duration,
    /// A world's lease lives this long unless its owner renews it (a dead owner's worlds are
    /// taken over after at most this long).
    pub lease_ttl: Duration,
    /// How often a world's owner rewrites its presence entries (which live three times this).
    pub presence_refresh: Duration,
    /// Someone kicked may not come back into the world for this long.
    pub kick_cooldown: Duration,
    /// A guest banned live is kept out of the world this long (guests have no account to
    /// carry a lasting ban; a new guest identity is a new guest).
    pub guest_ban: Duration,
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
            ping_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            flush_interval: Duration::from_millis(16),
            lease_ttl: Duration::from_secs(3),
            presence_refresh: Duration::from_secs(2),
            kick_cooldown: Duration::from_secs(60),
            guest_ban: Duration::from_secs(24 * 3600),
        }
    }
}

/// What sockets and the hub tell an actor.
pub(crate) enum ActorMsg {
    Connect {
        session: SessionId,
        profile: Profile,
        sink: Sink,
        /// See `Input::Connect`.
        resumed: bool,
    },
    Frame {
        session: SessionId,
        message: Result<ClientMessage, ParseError>,
        /// When the socket received it: moves are checked against the time between their
        /// arrivals, not between their (possibly delayed) processing.
        at: Clock,
        /// Its count on a socket of another replica, acknowledged to it (0: none).
        seq: u64,
    },
    Closed {
        session: SessionId,
        clean: bool,
    },
    Control(Control),
    /// Another replica holds the world's lease now: stop at once, leaving presence to it.
    Fenced,
    /// The world's lease was retaken under a new fencing token.
    Refenced(u64),
    /// This replica is stopping: write presence, send the clients elsewhere, give the lease up.
    Handover,
}

/// Where a session's frames go.
#[derive(Clone)]
pub(crate) enum Sink {
    /// A socket on this replica.
    Local(Arc<Outbound>),
    /// A socket on another replica (its id), reached over the bus.
    Remote(Arc<str>),
}

/// Where a socket's world runs.
pub(crate) enum Place {
    /// Here: its actor's mailbox.
    Local(mpsc::Sender<ActorMsg>),
    /// On another replica.
    Remote(Lease),
}

/// A socket on this replica whose world runs on another (or whose world moved here after it
/// connected): when the world's owner changes, the hub re-attaches it to the new owner, so
/// the socket stays open.
struct RemoteSocket {
    world: i64,
    /// The world's owner as this socket knows it; deliveries from any other are dropped.
    owner: Lease,
    /// Who the session is, to connect it again at a new owner.
    profile: Profile,
    outbound: Arc<Outbound>,
    /// The owner answered that it does not run the world: connect again at whoever does.
    stale: bool,
    /// An owner has sent this socket something: its client has the world (and perhaps its
    /// media) from it, and is resumed, not welcomed afresh, by the next owner.
    welcomed: bool,
    /// Frames sent so far.
    seq: u64,
    /// Frames sent to a remote owner that it has not acknowledged (or, while `holding`, not
    /// yet sent), oldest first: the next owner gets them if this one dies or leaves first.
    unacked: std::collections::VecDeque<(u64, Arc<str>)>,
    /// Their bytes.
    unacked_bytes: usize,
    /// Being connected to a new owner: frames wait in `unacked` until that is done, so they
    /// reach it after the connection and the frames it replays.
    holding: bool,
}

/// Most frames, and bytes of frames, a socket keeps for a possible replay to a next owner.
/// An owner acknowledges within a flush interval and a bus hop: these bound what a socket
/// sends in the seconds a dead owner takes to be replaced (under the message rate limit),
/// not what it keeps in normal operation.
const UNACKED_FRAMES: usize = 256;
/// See [`UNACKED_FRAMES`].
const UNACKED_BYTES: usize = 64 * 1024;

impl RemoteSocket {
    fn new(world: i64, owner: Lease, profile: Profile, outbound: Arc<Outbound>) -> RemoteSocket {
        RemoteSocket {
            world,
            owner,
            profile,
            outbound,
            stale: false,
            welcomed: false,
            seq: 0,
            unacked: std::collections::VecDeque::new(),
            unacked_bytes: 0,
            holding: false,
        }
    }

    /// Keeps a frame until an owner acknowledges it; past the bounds the oldest go.
    fn keep(&mut self, seq: u64, text: Arc<str>) {
        self.unacked_bytes += text.len();
        self.unacked.push_back((seq, text));
        while self.unacked.len() > UNACKED_FRAMES || (self.unacked_bytes > UNACKED_BYTES && self.unacked.len() > 1) {
            if let Some((_, t)) = self.unacked.pop_front() {
                self.unacked_bytes -= t.len();
                metrics::counter!("crowdwire_unacked_frames_dropped_total").increment(1);
            }
        }
    }

    /// The owner took every frame up to `seq`.
    fn acked(&mut self, seq: u64) {
        while let Some((s, t)) = self.unacked.front() {
            if *s > seq {
                break;
            }
            self.unacked_bytes -= t.len();
            self.unacked.pop_front();
        }
    }

    /// What to send a new owner of the frames kept: in order, with only the last movement
    /// (an owner takes moves at the pace they arrive, and only where the walker is now
    /// matters; the others are coalesced as a busy socket's are).
    fn replay(&self) -> Vec<(u64, Arc<str>)> {
        let is_move = |t: &str| {
            #[derive(serde::Deserialize)]
            struct Topic<'a> {
                #[serde(borrow)]
                topic: std::borrow::Cow<'a, str>,
            }
            serde_json::from_str::<Topic>(t).is_ok_and(|m| m.topic == "PLAYER_MOVEMENT")
        };
        let last_move = self.unacked.iter().rposition(|(_, t)| is_move(t));
        self.unacked
            .iter()
            .enumerate()
            .filter(|(i, (_, t))| Some(*i) == last_move || !is_move(t))
            .map(|(_, f)| f.clone())
            .collect()
    }
}

/// A world whose actor runs here.
struct Owned {
    tx: mpsc::Sender<ActorMsg>,
    fence: u64,
}

/// The backends a hub runs on.
pub struct Backends {
    /// Presence.
    pub presence: Arc<dyn Presence>,
    /// The replica bus.
    pub bus: Arc<dyn ReplicaBus>,
    /// World leases.
    pub leases: Arc<dyn Leases>,
    /// The media server.
    pub media: Arc<dyn MediaBackend>,
}

/// The hub.
pub struct Hub {
    pub(crate) db: Db,
    pub(crate) keys: crowdwire_auth::TokenKeys,
    pub(crate) settings: RealtimeSettings,
    pub(crate) presence: Arc<dyn Presence>,
    pub(crate) bus: Arc<dyn ReplicaBus>,
    leases: Arc<dyn Leases>,
    media: Arc<dyn MediaBackend>,
    replica: Arc<str>,
    worlds: Mutex<HashMap<i64, Owned>>,
    remote: Mutex<FxHashMap<SessionId, RemoteSocket>>,
    next_session: AtomicU64,
    started: Instant,
}

impl Hub {
    /// A hub over these backends; starts listening to the bus and renewing leases.
    /// `replica_number` is unique among live replicas (see [`Leases::replica_number`]): it
    /// prefixes session ids, so they are unique across replicas.
    pub fn new(
        db: Db,
        keys: crowdwire_auth::TokenKeys,
        settings: RealtimeSettings,
        backends: Backends,
        replica_number: u32,
    ) -> Arc<Hub> {
        let replica: Arc<str> = backends.bus.replica().into();
        let hub = Arc::new(Hub {
            db,
            keys,
            settings,
            presence: backends.presence,
            bus: backends.bus,
            leases: backends.leases,
            media: backends.media,
            replica,
            worlds: Mutex::new(HashMap::new()),
            remote: Mutex::new(FxHashMap::default()),
            next_session: AtomicU64::new((u64::from(replica_number) << 40) | 1),
            started: Instant::now(),
        });
        let weak = Arc::downgrade(&hub);
        let mut rx = hub.bus.subscribe();
        tokio::spawn(async move {
            while let Some(envelope) = rx.recv().await {
                let Some(hub) = weak.upgrade() else { return };
                hub.on_envelope(envelope).await;
            }
        });
        let weak = Arc::downgrade(&hub);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(OWNER_CHECK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut store_up_since = Some(Instant::now());
            loop {
                tick.tick().await;
                let Some(hub) = weak.upgrade() else { return };
                hub.watch_remote_owners(&mut store_up_since).await;
            }
        });
        let weak = Arc::downgrade(&hub);
        let every = hub.settings.lease_ttl / 4;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                let Some(hub) = weak.upgrade() else { return };
                match hub.renew_leases().await {
                    Ok(()) if failing => {
                        tracing::info!("lease store reachable again; leases renewed");
                        failing = false;
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        // Nobody else can claim our worlds while the store is away either:
                        // keep serving them, and renew (or reclaim) when it returns.
                        tracing::warn!(error = %e, "cannot renew world leases; serving the worlds held");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        });
        hub
    }

    /// Names of the presence, bus and media backends.
    pub fn backends(&self) -> (&'static str, &'static str, &'static str) {
        (self.presence.backend(), self.bus.backend(), self.media.backend())
    }

    /// Before this replica stops: every world it runs writes its presence, sends its clients
    /// here elsewhere (close code [`MOVED_CODE`]: they reconnect, through the load balancer, to
    /// a replica that takes the world over with everyone in place) and gives its lease up; the
    /// sockets here whose world runs elsewhere are sent away the same way. Sockets on other
    /// replicas stay open: their replicas re-attach them to the world's next owner. Waits (up
    /// to 5 s) until the worlds have stopped.
    pub async fn hand_over(&self) {
        for (_, tx) in self.local_worlds() {
            let _ = tx.send(ActorMsg::Handover).await;
        }
        // These sessions are forgotten first, so their readers, ending, do not report a clean
        // close (a leave): to their world they are dropped connections, resumed when their
        // clients reconnect elsewhere.
        let sent_away: Vec<(SessionId, RemoteSocket)> =
            self.remote.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for (session, r) in sent_away {
            r.outbound.close(MOVED_CODE, MOVED_REASON.into());
            self.tell_closed(&r, session, false).await;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !self.worlds.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn next_session(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// The mailbox of `world`'s actor, if it runs here.
    fn owned(&self, world: i64) -> Option<mpsc::Sender<ActorMsg>> {
        self.worlds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&world)
            .filter(|o| !o.tx.is_closed())
            .map(|o| o.tx.clone())
    }

    fn local_worlds(&self) -> Vec<(i64, mpsc::Sender<ActorMsg>)> {
        self.worlds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(w, o)| (*w, o.tx.clone()))
            .collect()
    }

    /// Where `world` runs: here (claiming its lease and starting its actor if nobody holds
    /// it), or on the replica that holds its lease.
    pub(crate) async fn place(self: &Arc<Self>, world: i64) -> Result<Place, &'static str> {
        if let Some(tx) = self.owned(world) {
            return Ok(Place::Local(tx));
        }
        let lease = self.leases.claim(world, &self.replica).await.map_err(|e| {
            tracing::warn!(world, error = %e, "cannot claim a world");
            "the server cannot reach its presence store; try again shortly"
        })?;
        if *lease.replica != *self.replica {
            return Ok(Place::Remote(lease));
        }
        let mut worlds = self.worlds.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = worlds.get(&world)
            && !o.tx.is_closed()
        {
            return Ok(Place::Local(o.tx.clone()));
        }
        let (tx, rx) = mpsc::channel(4096);
        worlds.insert(
            world,
            Owned {
                tx: tx.clone(),
                fence: lease.fence,
            },
        );
        let hub = self.clone();
        let me = tx.downgrade();
        let fence = lease.fence;
        tokio::spawn(async move {
            run_actor(hub.clone(), world, fence, rx).await;
            // Only forget the actor if a newer one has not taken its place.
            let mut worlds = hub.worlds.lock().unwrap_or_else(|p| p.into_inner());
            if worlds
                .get(&world)
                .is_some_and(|o| me.upgrade().is_none_or(|m| m.same_channel(&o.tx)))
            {
                worlds.remove(&world);
            }
        });
        Ok(Place::Local(tx))
    }

    async fn renew_leases(&self) -> Result<(), crate::lease::LeaseError> {
        self.leases.heartbeat(&self.replica).await?;
        let held: Vec<(i64, u64)> = self
            .worlds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(w, o)| (*w, o.fence))
            .collect();
        if held.is_empty() {
            return Ok(());
        }
        let results = self.leases.renew(&self.replica, &held).await?;
        for ((world, _), r) in held.into_iter().zip(results) {
            match r {
                Renewal::Held => {}
                Renewal::Reclaimed(fence) => {
                    tracing::info!(world, fence, "world lease had lapsed; reclaimed");
                    if let Some(o) = self.worlds.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&world) {
                        o.fence = fence;
                        let _ = o.tx.try_send(ActorMsg::Refenced(fence));
                    }
                }
                Renewal::Lost => {
                    tracing::warn!(world, "world lease taken by another replica; stopping the world here");
                    if let Some(tx) = self.owned(world) {
                        let _ = tx.send(ActorMsg::Fenced).await;
                    }
                }
            }
        }
        Ok(())
    }

    /// A socket here joins a world that runs on `owner`.
    pub(crate) fn attach_remote(
        &self,
        session: SessionId,
        world: i64,
        owner: Lease,
        profile: Profile,
        outbound: Arc<Outbound>,
    ) {
        self.remote
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(session, RemoteSocket::new(world, owner, profile, outbound));
    }

    /// The socket closed: forgets it and tells its world's current owner.
    pub(crate) async fn detach_remote(&self, session: SessionId, clean: bool) {
        let Some(r) = self.remote.lock().unwrap_or_else(|p| p.into_inner()).remove(&session) else {
            return;
        };
        self.tell_closed(&r, session, clean).await;
    }

    /// Tells the world's current owner that a socket attached here closed.
    async fn tell_closed(&self, r: &RemoteSocket, session: SessionId, clean: bool) {
        let world = r.world;
        if *r.owner.replica == *self.replica {
            if let Some(tx) = self.owned(world) {
                let _ = tx.send(ActorMsg::Closed { session, clean }).await;
            }
        } else {
            self.bus.send(&r.owner.replica, Body::Closed { world, session, clean });
        }
    }

    /// A socket's text frame, parsed, for the actor of its world here.
    fn frame_msg(&self, session: SessionId, text: &str, seq: u64) -> ActorMsg {
        ActorMsg::Frame {
            session,
            message: Parsed::parse(text),
            at: self.clock(),
            seq,
        }
    }

    /// A client frame of a socket attached with [`Hub::attach_remote`], to its world's
    /// current owner (which may have become this replica). A frame for a remote owner is
    /// kept until that owner acknowledges it; one sent while the socket is being connected to
    /// a new owner waits until that is done.
    pub(crate) async fn forward_frame(&self, world: i64, session: SessionId, text: &str) {
        {
            let mut remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
            let Some(r) = remote.get_mut(&session) else { return };
            r.seq += 1;
            let seq = r.seq;
            if r.holding {
                r.keep(seq, text.into());
                return;
            }
            if *r.owner.replica != *self.replica {
                r.keep(seq, text.into());
                // Sent under the lock (a send never waits), so a re-attachment cannot
                // slip in between keeping a frame and sending it.
                self.bus.send(
                    &r.owner.replica,
                    Body::Frame {
                        world,
                        session,
                        text: text.to_owned(),
                        seq,
                    },
                );
                return;
            }
        }
        if let Some(tx) = self.owned(world) {
            let _ = tx.send(self.frame_msg(session, text, 0)).await;
        }
    }

    /// Whether `session` is a socket here attached through [`Hub::attach_remote`] (its
    /// world may run here after an owner change).
    fn reattachable(&self, session: SessionId) -> bool {
        self.remote
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&session)
    }

    /// Re-attaches the sockets here whose world no longer runs on the replica they were sent
    /// to: the world is placed again (this replica may take it over) and each session connects
    /// to the new owner, which has their players from presence and resumes them silently, so
    /// the sockets stay open. One lease lookup per (world, owner), however many sockets. When
    /// the bus is away, sockets of other replicas' worlds cannot be served: they are closed
    /// (with [`MOVED_CODE`]) and their clients reconnect.
    ///
    /// `store_up_since`: since when the lease store has answered without a break. After an
    /// outage (a Redis restart loses every lease) the owner needs one renewal to put its lease
    /// back: until then a missing lease is no sign of a dead owner.
    async fn watch_remote_owners(self: &Arc<Self>, store_up_since: &mut Option<Instant>) {
        let owners: HashMap<(i64, String), bool> = {
            let remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
            let mut owners = HashMap::new();
            for r in remote.values() {
                *owners.entry((r.world, r.owner.replica.clone())).or_insert(false) |= r.stale;
            }
            owners
        };
        if owners.is_empty() {
            return;
        }
        let settle = self.settings.lease_ttl / 4 + OWNER_CHECK;
        let bus_ok = self.bus.healthy();
        for ((world, replica), stale) in owners {
            if !bus_ok && *replica != *self.replica {
                for r in self.remote.lock().unwrap_or_else(|p| p.into_inner()).values() {
                    if r.world == world && r.owner.replica == replica {
                        r.outbound.close(MOVED_CODE, MOVED_REASON.into());
                    }
                }
                continue;
            }
            let moved = match self.leases.holder(world).await {
                // A new token for the same replica (it retook a lapsed lease) is no move.
                Ok(Some(h)) => {
                    store_up_since.get_or_insert_with(Instant::now);
                    h.replica != replica
                }
                // Nobody holds it: the owner died (or stopped the world), unless the store has
                // only just come back.
                Ok(None) => store_up_since.get_or_insert_with(Instant::now).elapsed() >= settle,
                // The store is away: nobody can take the world over meanwhile.
                Err(_) => {
                    *store_up_since = None;
                    false
                }
            };
            if moved || stale {
                self.reattach(world, &replica).await;
            }
        }
    }

    /// Connects the sockets here of `world` that were attached to `old` to its owner now.
    async fn reattach(self: &Arc<Self>, world: i64, old: &str) {
        let (owner, actor) = match self.place(world).await {
            Ok(Place::Local(tx)) => {
                let fence = self
                    .worlds
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&world)
                    .map_or(0, |o| o.fence);
                let lease = Lease {
                    replica: self.replica.to_string(),
                    fence,
                };
                (lease, Some(tx))
            }
            Ok(Place::Remote(lease)) => (lease, None),
            // The store is away: try again at the next check.
            Err(_) => return,
        };
        let sessions: Vec<(SessionId, Profile, Arc<Outbound>, bool)> = {
            let mut remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
            remote
                .iter_mut()
                .filter(|(_, r)| r.world == world && *r.owner.replica == *old)
                .map(|(session, r)| {
                    r.owner = owner.clone();
                    r.stale = false;
                    r.holding = true;
                    (*session, r.profile.clone(), r.outbound.clone(), r.welcomed)
                })
                .collect()
        };
        if sessions.is_empty() {
            return;
        }
        tracing::info!(
            world,
            from = old,
            to = %owner.replica,
            sessions = sessions.len(),
            "world moved; sessions re-attached"
        );
        for (session, profile, outbound, resumed) in sessions {
            match &actor {
                Some(tx) => {
                    let sink = Sink::Local(outbound);
                    let _ = tx
                        .send(ActorMsg::Connect {
                            session,
                            profile,
                            sink,
                            resumed,
                        })
                        .await;
                }
                None => self.bus.send(
                    &owner.replica,
                    Body::Connect {
                        world,
                        session,
                        profile,
                        resumed,
                    },
                ),
            }
            self.replay(world, session, actor.as_ref()).await;
        }
    }

    /// After a session connected to its world's new owner: sends it the frames the previous
    /// owner did not acknowledge (it died or left first) and those that waited meanwhile,
    /// then lets frames flow directly again.
    async fn replay(&self, world: i64, session: SessionId, actor: Option<&mpsc::Sender<ActorMsg>>) {
        loop {
            let batch = {
                let mut remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
                let Some(r) = remote.get_mut(&session) else { return };
                let frames = r.replay();
                if *r.owner.replica != *self.replica {
                    // Kept until the new owner acknowledges them; sent under the lock, before
                    // any later frame.
                    for (seq, text) in frames {
                        self.bus.send(
                            &r.owner.replica,
                            Body::Frame {
                                world,
                                session,
                                text: text.to_string(),
                                seq,
                            },
                        );
                    }
                    r.holding = false;
                    return;
                }
                r.unacked.clear();
                r.unacked_bytes = 0;
                if frames.is_empty() {
                    r.holding = false;
                    return;
                }
                frames
            };
            // The world runs here: its mailbox loses nothing. Frames that arrive while these
            // are handed over wait, and go in the next round.
            let Some(tx) = actor else { return };
            for (_, text) in batch {
                let _ = tx.send(self.frame_msg(session, &text, 0)).await;
            }
        }
    }

    async fn on_envelope(&self, e: Envelope) {
        let from = e.from;
        match e.body {
            Body::Control { control: c } => {
                let target = c.world();
                for (w, tx) in self.local_worlds() {
                    if target.is_none_or(|t| t == w) {
                        let _ = tx.send(ActorMsg::Control(c.clone())).await;
                    }
                }
            }
            Body::Connect {
                world,
                session,
                profile,
                resumed,
            } => match self.owned(world) {
                Some(tx) => {
                    let sink = Sink::Remote(from.into());
                    let _ = tx
                        .send(ActorMsg::Connect {
                            session,
                            profile,
                            sink,
                            resumed,
                        })
                        .await;
                }
                None => self.bus.send(&from, Body::Moved { world, session }),
            },
            Body::Frame {
                world,
                session,
                text,
                seq,
            } => match self.owned(world) {
                Some(tx) => {
                    let _ = tx.send(self.frame_msg(session, &text, seq)).await;
                }
                None => self.bus.send(&from, Body::Moved { world, session }),
            },
            Body::Closed { world, session, clean } => {
                if let Some(tx) = self.owned(world) {
                    let _ = tx.send(ActorMsg::Closed { session, clean }).await;
                }
            }
            Body::Deliver {
                world,
                fence,
                frames,
                items,
                acks,
            } => {
                // Each distinct frame becomes one shared buffer, whichever sockets get it.
                let frames: Vec<WireFrame> = frames
                    .into_iter()
                    .map(|f| WireFrame {
                        text: f.t.into(),
                        coalesce: f.c,
                    })
                    .collect();
                let mut remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
                // Output of a deposed owner (or about another world) is not this socket's.
                let current =
                    |r: &RemoteSocket| r.world == world && *r.owner.replica == *from && fence >= r.owner.fence;
                for (session, seq) in acks {
                    if let Some(r) = remote.get_mut(&session).filter(|r| current(r)) {
                        r.acked(seq);
                    }
                }
                for item in items {
                    let Some(r) = remote.get_mut(&item.session) else {
                        continue;
                    };
                    if !current(r) {
                        continue;
                    }
                    r.welcomed = true;
                    let frames = item
                        .frames
                        .iter()
                        .filter_map(|&i| frames.get(i as usize).cloned().map(Item::Frame));
                    if r.outbound.push_many(frames).is_ok()
                        && let Some((code, reason)) = item.close
                    {
                        r.outbound.close(code, reason);
                    }
                }
            }
            Body::Moved { world, session } => {
                // The owner does not run the world (any more): the next owner check connects
                // the session again at whoever does. A late answer of a former owner is moot.
                let mut remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(r) = remote
                    .get_mut(&session)
                    .filter(|r| r.world == world && *r.owner.replica == *from)
                {
                    r.stale = true;
                }
            }
        }
    }

    /// Sends a control message to the replica running its world (to every replica when it
    /// concerns every world, or when the lease store cannot say who runs it).
    async fn control(&self, c: Control) {
        let owner = match c.world() {
            Some(w) => self.leases.holder(w).await.ok().flatten(),
            None => None,
        };
        match owner {
            Some(lease) => self.bus.send(&lease.replica, Body::Control { control: c }),
            None => self.bus.broadcast(Body::Control { control: c }),
        }
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

/// A world's capacity and status.
async fn load_settings(db: &Db, world: i64) -> (Option<u32>, i32) {
    let w = db.world_by_id(world).await.ok().flatten();
    let max = w.as_ref().and_then(|w| w.max_users).map(|m| m.max(0) as u32);
    let status = w
        .as_ref()
        .map(|w| w.status)
        .unwrap_or(crowdwire_store::worlds::status::DELETED);
    (max, status)
}

/// A world's map, parsed on a blocking thread (a large map takes a while); an open field
/// when it has none the server can use.
async fn load_map(db: &Db, world: i64) -> WorldMap {
    let open_field = || WorldMap::open_field(32_000.0, 32_000.0);
    let Ok(Some(text)) = db.world_map(world).await else {
        return open_field();
    };
    match tokio::task::spawn_blocking(move || WorldMap::parse(&text)).await {
        Ok(Ok(map)) => map,
        Ok(Err(e)) => {
            tracing::warn!(world, error = %e, "world map unusable for the server; using an open field");
            open_field()
        }
        Err(e) => {
            tracing::warn!(world, error = %e, "map parser failed; using an open field");
            open_field()
        }
    }
}

/// Persists one engine record.
async fn persist(db: &Db, settings: &RealtimeSettings, world: i64, record: Record) {
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
        Record::Removed {
            user_id,
            member_id,
            ban,
        } => {
            let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
            let banned = match (ban, member_id) {
                (true, Some(member_id)) => {
                    let changes = crowdwire_store::members::MemberChanges {
                        status: Some(crowdwire_store::members::status::BANNED),
                        ..Default::default()
                    };
                    db.update_member(world, member_id, &changes).await.map(|_| ())
                }
                (true, None) => {
                    db.block(world, &user_id, BlockKind::Ban, micros(settings.guest_ban))
                        .await
                }
                (false, _) => Ok(()),
            };
            match banned {
                Ok(()) => {
                    db.block(world, &user_id, BlockKind::Kick, micros(settings.kick_cooldown))
                        .await
                }
                Err(e) => Err(e),
            }
        }
    };
    if let Err(e) = result {
        tracing::warn!(world, error = %e, "could not persist a world record");
    }
}

/// How often the sockets whose world runs on another replica have their owner checked.
const OWNER_CHECK: Duration = Duration::from_millis(500);

/// How long an empty world's actor waits before stopping.
const IDLE_STOP: Duration = Duration::from_secs(60);

/// The close code and reason for sockets whose world moved away from the replica holding
/// them, which is stopping or was deposed (or whose owner cannot be reached over the bus):
/// the client reconnects, and reaches the world's new owner.
pub const MOVED_CODE: u16 = 1012;
/// See [`MOVED_CODE`].
pub const MOVED_REASON: &str = "the world moved to another server; reconnecting";

async fn run_actor(hub: Arc<Hub>, world: i64, mut fence: u64, mut rx: mpsc::Receiver<ActorMsg>) {
    let (max_users, _) = load_settings(&hub.db, world).await;
    let map = load_map(&hub.db, world).await;
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
        kick_cooldown_ms: u64::try_from(s.kick_cooldown.as_millis()).unwrap_or(u64::MAX),
        max_users,
        // Above every id an earlier owner of the world handed out: fencing tokens grow, and
        // each is at least the Unix time in ms of its claim, so an owner would have to form
        // over a thousand groups a millisecond to reach the next one's ids. (They stay below
        // 2^53, exact in a JavaScript number.)
        first_group_id: fence.saturating_sub(1).saturating_mul(1000).saturating_add(1),
        media_outlives_owner: hub.media.outlives_owner(),
        ..EngineConfig::default()
    };
    let mut engine = WorldEngine::new(config, map);
    // Players the world had on the replica that ran it before (it died, or lost its lease):
    // they wait for their clients to reconnect, in the same place, groups and conference.
    let carried = hub.presence.carried(world).await;
    if !carried.is_empty() {
        tracing::info!(
            world,
            players = carried.len(),
            "world taken over; restoring its players"
        );
    }
    for r in carried {
        let _ = engine.handle(hub.clock(), Input::Restore(Box::new(r)));
    }
    let (media_tx, mut media_rx) = mpsc::unbounded_channel();
    hub.media.attach(world, media_tx);
    let (rec_tx, mut rec_rx) = mpsc::unbounded_channel::<Record>();
    let db = hub.db.clone();
    let settings = hub.settings.clone();
    let recorder = tokio::spawn(async move {
        while let Some(r) = rec_rx.recv().await {
            persist(&db, &settings, world, r).await;
        }
    });
    let mut sockets = Sockets::new(world, fence, hub.bus.clone());
    let mut online: HashSet<String> = HashSet::new();
    sync_presence(&hub, world, &engine, &mut online).await;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refresh = tokio::time::interval(hub.settings.presence_refresh);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut empty_since: Option<Instant> = Some(Instant::now());
    // The world's output goes out at most once per `flush_interval`: at once when the last
    // flush is that old, else at `flush_at`.
    let flush_every = hub.settings.flush_interval;
    let mut last_flush = tokio::time::Instant::now() - flush_every;
    let mut flush_at: Option<tokio::time::Instant> = None;
    let mut fenced = false;
    let mut handover = false;
    loop {
        let mut input = tokio::select! {
            msg = rx.recv() => match msg {
                None => break,
                Some(ActorMsg::Fenced) => {
                    fenced = true;
                    break;
                }
                Some(ActorMsg::Handover) => {
                    (fenced, handover) = (true, true);
                    break;
                }
                Some(ActorMsg::Refenced(f)) => {
                    fence = f;
                    sockets.fence = f;
                    continue;
                }
                Some(msg) => mailbox_inputs(&hub, world, msg, &mut sockets).await,
            },
            _ = refresh.tick() => {
                if !refresh_presence(&hub, world, fence, &engine).await {
                    tracing::warn!(world, "another replica owns this world now; stopping it here");
                    fenced = true;
                    break;
                }
                // Sessions held by a replica that died are dropped connections: their players
                // keep their place for the reconnection grace, then leave.
                let dead = sockets.on_dead_replicas(&hub).await;
                let now = hub.clock();
                dead.into_iter().map(|session| (Input::Closed { session, clean: false }, now)).collect()
            }
            Some((peer, text)) = media_rx.recv() => {
                // Group changes come in bursts, each with media replies: take what else
                // waits in the same turn.
                let now = hub.clock();
                let mut inputs = vec![(media_input(peer, text), now)];
                while inputs.len() < TURN_INPUTS {
                    match media_rx.try_recv() {
                        Ok((peer, text)) => inputs.push((media_input(peer, text), now)),
                        Err(_) => break,
                    }
                }
                inputs
            }
            _ = tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)), if flush_at.is_some() => {
                // A turn with no input: the movements' flush below.
                Vec::new()
            }
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
                Ok(ActorMsg::Fenced) => {
                    fenced = true;
                    break;
                }
                Ok(ActorMsg::Handover) => {
                    (fenced, handover) = (true, true);
                    break;
                }
                Ok(ActorMsg::Refenced(f)) => {
                    fence = f;
                    sockets.fence = f;
                }
                Ok(msg) => input.extend(mailbox_inputs(&hub, world, msg, &mut sockets).await),
                Err(_) => break,
            }
        }
        if fenced {
            break;
        }
        let flush_due = flush_at.is_some_and(|t| t <= tokio::time::Instant::now());
        if input.is_empty() && !flush_due {
            continue;
        }
        let presence_may_change = input
            .iter()
            .any(|(i, _)| !matches!(i, Input::Frame { .. } | Input::MediaMessage { .. }));
        let mut pending: Vec<(Input, Clock)> = input.into_iter().rev().collect();
        let mut any_close = false;
        let mut crashed = false;
        let mut flushed = false;
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
                        Output::Moves(batch) => sockets.stage_moves(batch),
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
            if !flushed {
                let now = tokio::time::Instant::now();
                if now < last_flush + flush_every {
                    // Staged until the world's next flush.
                    break;
                }
                // The movements accepted since the last flush, once per mover, then
                // everything staged goes to the sockets.
                flushed = true;
                last_flush = now;
                pending.push((Input::Flush, hub.clock()));
                continue;
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
        if flushed {
            flush_at = None;
        }
        if flush_at.is_none() && (sockets.has_staged() || engine.has_pending_moves()) {
            flush_at = Some(last_flush + flush_every);
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
    hub.media.detach(world);
    if fenced {
        // The new owner has the players (restored from presence): the clients of sockets
        // here reconnect there; sockets re-attached by a hub (on other replicas, or here after
        // the world moved here) stay open and connect to it again. Presence and the lease are
        // its to keep (a stopping replica writes presence once more and gives the lease up, so
        // the world moves at once).
        if handover {
            refresh_presence(&hub, world, fence, &engine).await;
        }
        sockets.hand_off(&hub, handover);
        if handover && let Err(e) = hub.leases.release(world, &hub.replica, fence).await {
            tracing::debug!(world, error = %e, "world lease not released; it lapses by itself");
        }
    } else {
        // Stopping: nobody is left (or the hub is gone, or the engine failed).
        sockets.close_all(1001, "world closing");
        for u in online.drain() {
            hub.presence.leave(world, &u).await;
        }
        if let Err(e) = hub.leases.release(world, &hub.replica, fence).await {
            tracing::debug!(world, error = %e, "world lease not released; it lapses by itself");
        }
    }
    drop(rec_tx);
    let _ = recorder.await;
}

/// Most mailbox messages one actor turn takes.
const TURN_INPUTS: usize = 256;

/// The engine input of a message from the media layer: for a peer, or (the empty peer) for
/// the world itself.
fn media_input(peer: String, text: String) -> Input {
    if peer.is_empty()
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && v["topic"] == crate::media::ROOM_LOST
        && let Some(room) = v["roomId"].as_str()
    {
        return Input::MediaRoomLost { room: room.to_owned() };
    }
    Input::MediaMessage { peer, text }
}

/// The engine inputs of one mailbox message (keeping `sockets` in step).
async fn mailbox_inputs(hub: &Hub, world: i64, msg: ActorMsg, sockets: &mut Sockets) -> Vec<(Input, Clock)> {
    let now = hub.clock();
    match msg {
        ActorMsg::Connect {
            session,
            profile,
            sink,
            resumed,
        } => {
            sockets.insert(session, sink);
            vec![(
                Input::Connect {
                    session,
                    profile,
                    resumed,
                },
                now,
            )]
        }
        ActorMsg::Frame {
            session,
            message,
            at,
            seq,
        } => {
            if seq > 0 {
                sockets.ack(session, seq);
            }
            vec![(Input::Frame { session, message }, at)]
        }
        ActorMsg::Closed { session, clean } => {
            sockets.remove(session);
            vec![(Input::Closed { session, clean }, now)]
        }
        ActorMsg::Control(c) => control_inputs(hub, world, c)
            .await
            .into_iter()
            .map(|i| (i, now))
            .collect(),
        ActorMsg::Fenced | ActorMsg::Refenced(_) | ActorMsg::Handover => Vec::new(),
    }
}

/// The sockets of a world's sessions, and the frames the current turn has produced for
/// each. The frames are handed to a socket's queue together at the end of the turn: one
/// lock and at most one wake-up per socket per turn, however many frames it gets. Sockets on
/// other replicas get theirs in one bus message per replica per turn.
struct Sockets {
    world: i64,
    fence: u64,
    bus: Arc<dyn ReplicaBus>,
    by_session: FxHashMap<SessionId, Socket>,
    /// Sessions with staged frames.
    dirty: Vec<SessionId>,
    /// What the turn has for sockets on other replicas, by replica.
    remote: HashMap<Arc<str>, RemoteBatch>,
    /// Sessions on other replicas with frames taken since their last acknowledgement.
    acks_due: Vec<SessionId>,
}

/// One turn's frames for the sessions of one other replica: a frame fanned out to several of
/// them is copied and serialised once.
#[derive(Default)]
struct RemoteBatch {
    /// Held until the batch is sent, so no buffer in `index` is freed and its address reused.
    frames: Vec<WireFrame>,
    /// A frame's shared buffer (address, length) → its index in `frames`.
    index: HashMap<(usize, usize), u32>,
    items: Vec<Delivery>,
    acks: Vec<(SessionId, u64)>,
}

impl RemoteBatch {
    fn add(&mut self, session: SessionId, items: impl IntoIterator<Item = Item>, close: Option<(u16, String)>) {
        let mut ids = Vec::new();
        let frames = items.into_iter().flat_map(|i| match i {
            Item::Frame(f) => vec![f],
            Item::Moves(m) => m.frames().cloned().collect(),
        });
        for f in frames {
            let key = (f.text.as_str().as_ptr() as usize, f.text.len());
            let next = self.frames.len() as u32;
            let id = *self.index.entry(key).or_insert(next);
            if id == next {
                self.frames.push(f);
            }
            ids.push(id);
        }
        self.items.push(Delivery {
            session,
            frames: ids,
            close,
        });
    }
}

struct Socket {
    sink: Sink,
    staged: Vec<Item>,
    /// The count of its last frame taken, to acknowledge (a socket on another replica).
    ack: u64,
}

impl Sockets {
    fn new(world: i64, fence: u64, bus: Arc<dyn ReplicaBus>) -> Sockets {
        Sockets {
            world,
            fence,
            bus,
            by_session: FxHashMap::default(),
            dirty: Vec::new(),
            remote: HashMap::new(),
            acks_due: Vec::new(),
        }
    }

    fn insert(&mut self, session: SessionId, sink: Sink) {
        self.by_session.insert(
            session,
            Socket {
                sink,
                staged: Vec::new(),
                ack: 0,
            },
        );
    }

    fn remove(&mut self, session: SessionId) {
        self.by_session.remove(&session);
    }

    fn stage(&mut self, session: SessionId, frame: WireFrame) {
        self.stage_item(session, Item::Frame(frame));
    }

    /// Something waits for the next flush.
    fn has_staged(&self) -> bool {
        !self.dirty.is_empty() || !self.remote.is_empty() || !self.acks_due.is_empty()
    }

    /// The frame counted `seq` of a socket on another replica was taken: acknowledged at the
    /// next flush, with what it produced.
    fn ack(&mut self, session: SessionId, seq: u64) {
        if let Some(s) = self.by_session.get_mut(&session)
            && matches!(s.sink, Sink::Remote(_))
        {
            if s.ack == 0 {
                self.acks_due.push(session);
            }
            s.ack = s.ack.max(seq);
        }
    }

    /// Puts the acknowledgements due into their replicas' batches.
    fn stage_acks(&mut self) {
        for session in std::mem::take(&mut self.acks_due) {
            if let Some(s) = self.by_session.get_mut(&session)
                && let Sink::Remote(replica) = &s.sink
                && s.ack > 0
            {
                self.remote
                    .entry(replica.clone())
                    .or_default()
                    .acks
                    .push((session, std::mem::take(&mut s.ack)));
            }
        }
    }

    fn stage_item(&mut self, session: SessionId, item: Item) {
        if let Some(s) = self.by_session.get_mut(&session) {
            if s.staged.is_empty() {
                self.dirty.push(session);
            }
            s.staged.push(item);
        }
    }

    /// A turn's movements: one shared table, and each receiver's picks from it (the bytes of
    /// a receiver's frames are assembled by its socket's writer, on any core).
    fn stage_moves(&mut self, batch: MoveBatch) {
        let table: Arc<[WireFrame]> = batch.frames.into_iter().map(WireFrame::from).collect();
        for (session, picks) in batch.to {
            self.stage_item(
                session,
                Item::Moves(MoveSet {
                    table: table.clone(),
                    picks,
                }),
            );
        }
    }

    /// Hands every staged frame to its queue (or to the bus); returns (and forgets) the
    /// sessions whose queue overflowed.
    fn flush(&mut self) -> Vec<SessionId> {
        let mut overflowed = Vec::new();
        for session in std::mem::take(&mut self.dirty) {
            let Some(s) = self.by_session.get_mut(&session) else {
                continue;
            };
            if s.staged.is_empty() {
                continue;
            }
            match &s.sink {
                Sink::Local(q) => {
                    if q.push_many(s.staged.drain(..)) == Err(PushError::Overflow) {
                        overflowed.push(session);
                    }
                    // A burst (a newcomer's first frames) leaves capacity an idle socket keeps.
                    if s.staged.capacity() > 32 {
                        s.staged.shrink_to(8);
                    }
                }
                Sink::Remote(replica) => {
                    self.remote
                        .entry(replica.clone())
                        .or_default()
                        .add(session, s.staged.drain(..), None)
                }
            }
        }
        for session in &overflowed {
            self.by_session.remove(session);
        }
        self.stage_acks();
        self.send_remote();
        overflowed
    }

    fn send_remote(&mut self) {
        for (replica, batch) in self.remote.drain() {
            self.bus.send(
                &replica,
                Body::Deliver {
                    world: self.world,
                    fence: self.fence,
                    frames: batch
                        .frames
                        .into_iter()
                        .map(|f| WireText {
                            t: f.text.as_str().to_owned(),
                            c: f.coalesce,
                        })
                        .collect(),
                    items: batch.items,
                    acks: batch.acks,
                },
            );
        }
    }

    /// Sends what is staged for `session`, then a close frame.
    fn close(&mut self, session: SessionId, code: u16, reason: String) {
        if let Some(mut s) = self.by_session.remove(&session) {
            match s.sink {
                Sink::Local(q) => {
                    let _ = q.push_many(s.staged.drain(..));
                    q.close(code, reason);
                }
                Sink::Remote(replica) => {
                    self.remote
                        .entry(replica)
                        .or_default()
                        .add(session, s.staged.drain(..), Some((code, reason)))
                }
            }
        }
    }

    /// Forgets (and returns) the sessions whose replica is no longer alive.
    async fn on_dead_replicas(&mut self, hub: &Hub) -> Vec<SessionId> {
        let remote: HashSet<Arc<str>> = self
            .by_session
            .values()
            .filter_map(|s| match &s.sink {
                Sink::Remote(r) => Some(r.clone()),
                Sink::Local(_) => None,
            })
            .collect();
        if remote.is_empty() {
            return Vec::new();
        }
        let Ok(Some(live)) = hub.leases.live_replicas().await else {
            return Vec::new();
        };
        let dead: Vec<SessionId> = self
            .by_session
            .iter()
            .filter(|(_, s)| matches!(&s.sink, Sink::Remote(r) if !live.contains(&**r)))
            .map(|(id, _)| *id)
            .collect();
        for session in &dead {
            self.by_session.remove(session);
        }
        if !dead.is_empty() {
            tracing::warn!(
                world = self.world,
                sessions = dead.len(),
                "sessions of a replica that died dropped"
            );
        }
        dead
    }

    /// The world moves to another owner: sockets on this replica that only the world knows
    /// close (with [`MOVED_CODE`]); the others (attached through a hub, here or on other
    /// replicas) get what is staged for them, stay open and are re-attached to the new owner
    /// by their hub. What is staged for those goes out only on an orderly hand-over (`flush`):
    /// a deposed owner's output is nobody's any more.
    fn hand_off(&mut self, hub: &Hub, flush: bool) {
        // The frames it took are acknowledged only on an orderly hand-over: what a deposed
        // owner took is void, and its sockets' replicas send it to the next owner.
        if flush {
            self.stage_acks();
        } else {
            self.acks_due.clear();
        }
        for (session, mut s) in std::mem::take(&mut self.by_session) {
            match s.sink {
                Sink::Local(q) if hub.reattachable(session) => {
                    if flush {
                        let _ = q.push_many(s.staged.drain(..));
                    }
                }
                Sink::Local(q) => {
                    let _ = q.push_many(s.staged.drain(..));
                    q.close(MOVED_CODE, MOVED_REASON.into());
                }
                Sink::Remote(replica) if flush => {
                    self.remote
                        .entry(replica)
                        .or_default()
                        .add(session, s.staged.drain(..), None)
                }
                Sink::Remote(_) => {}
            }
        }
        self.dirty.clear();
        self.send_remote();
    }

    fn close_all(&mut self, code: u16, reason: &str) {
        let sessions: Vec<SessionId> = self.by_session.keys().copied().collect();
        for session in sessions {
            self.close(session, code, reason.to_owned());
        }
        self.dirty.clear();
        self.send_remote();
    }
}

fn presence_entry(hub: &Hub, engine: &WorldEngine, user: &str) -> Option<PresenceEntry> {
    Some(PresenceEntry {
        player: engine.restorable(user)?,
        replica: hub.replica.to_string(),
    })
}

async fn sync_presence(hub: &Hub, world: i64, engine: &WorldEngine, online: &mut HashSet<String>) {
    let now: HashSet<String> = engine.user_ids().map(str::to_owned).collect();
    for gone in online.difference(&now) {
        hub.presence.leave(world, gone).await;
    }
    for new in now.difference(online) {
        if let Some(entry) = presence_entry(hub, engine, new) {
            hub.presence.join(world, new, entry).await;
        }
    }
    *online = now;
}

/// Rewrites the world's presence (positions, conferences); false when the world's lease
/// belongs to another replica now. A store that cannot be reached is not a lost lease: the
/// world goes on, and the next refresh after the store returns rewrites everything.
async fn refresh_presence(hub: &Hub, world: i64, fence: u64, engine: &WorldEngine) -> bool {
    let entries: Vec<(String, PresenceEntry)> = engine
        .user_ids()
        .filter_map(|u| presence_entry(hub, engine, u).map(|e| (u.to_owned(), e)))
        .collect();
    match hub.presence.refresh(world, fence, &entries).await {
        Ok(held) => held,
        Err(e) => {
            tracing::debug!(world, error = %e, "presence not refreshed");
            true
        }
    }
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
        Control::WorldUpdated { map_changed, .. } => {
            let (max, status) = load_settings(&hub.db, world).await;
            if status != crowdwire_store::worlds::status::NORMAL {
                return vec![Input::CloseWorld {
                    reason: "This world is no longer available.".into(),
                }];
            }
            let mut inputs = vec![Input::MaxUsersChanged(max)];
            if map_changed {
                inputs.push(Input::MapChanged(Box::new(load_map(&hub.db, world).await)));
            }
            inputs
        }
    }
}

fn eviction_text(why: Eviction) -> &'static str {
    match why {
        Eviction::BannedFromWorld => "You were banned from this world.",
        Eviction::AccountBanned => "Your account has been banned.",
        Eviction::WorldClosed => "This world is no longer available.",
        Eviction::SignedOut => "You were signed out; sign in again.",
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
        self.control(Control::Evict {
            world: world_id,
            user: wire_id(who),
            reason: eviction_text(why).into(),
        })
        .await;
    }

    async fn close_world(&self, world_id: i64, why: Eviction) {
        self.control(Control::CloseWorld {
            world: world_id,
            reason: eviction_text(why).into(),
        })
        .await;
    }

    async fn role_changed(&self, world_id: i64, who: Principal, role: &Role) {
        self.control(Control::RoleChanged {
            world: world_id,
            user: wire_id(who),
            role_id: role.role_id,
        })
        .await;
    }

    async fn role_updated(&self, role: &Role) {
        self.control(Control::RoleUpdated {
            world: role.world_id,
            role_id: role.role_id,
        })
        .await;
    }

    async fn world_updated(&self, world_id: i64, map_changed: bool) {
        self.control(Control::WorldUpdated {
            world: world_id,
            map_changed,
        })
        .await;
    }

    fn backend(&self) -> &'static str {
        self.presence.backend()
    }

    fn cluster(&self) -> Option<ClusterStatus> {
        if self.leases.backend() == "memory" {
            return None;
        }
        Some(ClusterStatus {
            replica: self.replica.to_string(),
            presence_ok: self.presence.healthy() && self.leases.healthy(),
            bus_ok: self.bus.healthy(),
            worlds_owned: self.worlds.lock().unwrap_or_else(|p| p.into_inner()).len(),
            remote_sessions: self.remote.lock().unwrap_or_else(|p| p.into_inner()).len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str, coalesce: Option<u32>) -> WireFrame {
        WireFrame {
            text: text.to_owned().into(),
            coalesce,
        }
    }

    fn socket() -> RemoteSocket {
        let owner = Lease {
            replica: "r0".into(),
            fence: 1,
        };
        let profile = Profile {
            user_id: "7".into(),
            member_id: None,
            username: "Ada".into(),
            avatar: "a1".into(),
            role: Permissions::default(),
            creator: false,
        };
        RemoteSocket::new(1, owner, profile, Arc::new(Outbound::new(8)))
    }

    fn texts(frames: &[(u64, Arc<str>)]) -> Vec<(u64, &str)> {
        frames.iter().map(|(s, t)| (*s, &**t)).collect()
    }

    #[test]
    fn a_socket_keeps_its_unacknowledged_frames_and_replays_them_with_only_the_last_move() {
        let mut r = socket();
        let mv = |x: u32| format!(r#"{{"topic":"PLAYER_MOVEMENT","position":{{"x":{x},"y":1}}}}"#);
        let chat = r#"{"topic":"SEND_MESSAGE","text":"hi","to":"ALL"}"#;
        r.keep(1, mv(1).into());
        r.keep(2, chat.into());
        r.acked(1);
        r.keep(3, mv(3).into());
        r.keep(4, mv(4).into());
        r.keep(5, r#"{"topic":"PING"}"#.into());
        assert_eq!(
            texts(&r.replay()),
            vec![(2, chat), (4, mv(4).as_str()), (5, r#"{"topic":"PING"}"#)]
        );
        r.acked(4);
        assert_eq!(texts(&r.replay()), vec![(5, r#"{"topic":"PING"}"#)]);
        r.acked(9);
        assert!(r.replay().is_empty() && r.unacked_bytes == 0);
    }

    #[test]
    fn an_owner_that_never_acknowledges_costs_a_socket_a_bounded_amount() {
        let mut r = socket();
        for seq in 1..=1000 {
            r.keep(seq, "x".repeat(100).into());
        }
        assert_eq!(r.unacked.len(), UNACKED_FRAMES);
        assert_eq!(r.unacked.front().map(|f| f.0), Some(1000 - UNACKED_FRAMES as u64 + 1));
        r.keep(1001, "y".repeat(UNACKED_BYTES).into());
        assert_eq!(r.unacked.len(), 1, "a huge frame keeps at least itself");
        assert_eq!(r.unacked_bytes, UNACKED_BYTES);
    }

    #[test]
    fn a_frame_fanned_out_to_several_remote_sessions_travels_once() {
        let moved = frame(r#"{"topic":"PLAYER_MOVEMENT"}"#, Some(7));
        let own = frame(r#"{"topic":"PONG"}"#, None);
        let mut batch = RemoteBatch::default();
        batch.add(1, [Item::Frame(moved.clone()), Item::Frame(own)], None);
        batch.add(2, [Item::Frame(moved.clone())], None);
        batch.add(3, [Item::Frame(moved)], Some((4001, "bye".into())));
        assert_eq!(batch.frames.len(), 2);
        let ids: Vec<&[u32]> = batch.items.iter().map(|d| d.frames.as_slice()).collect();
        assert_eq!(ids, [&[0, 1][..], &[0], &[0]]);
        assert_eq!(batch.items[2].close, Some((4001, "bye".into())));
        assert_eq!(batch.frames[0].coalesce, Some(7));
    }
}
