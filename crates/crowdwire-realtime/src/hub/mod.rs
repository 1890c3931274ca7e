//! The hub: one actor task per live world around its [`WorldEngine`], and the bridge from
//! REST calls (through [`LiveSessions`]) and the replica bus to those actors.
//!
//! An actor is the single writer of its world: sockets send it parsed frames, it feeds them
//! to the engine and carries out the outputs (queue frames, close sockets, media commands,
//! database records). It stops when its world has been empty for a while.

use std::collections::HashMap;
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
use crowdwire_store::roles::Role;
use crowdwire_world::engine::{Clock, Permissions, Profile, SessionId};
use crowdwire_world::protocol::{ClientMessage, ParseError};

use crate::bus::{Control, ReplicaBus};
use crate::lease::{Lease, Leases, Renewal};
use crate::media::MediaBackend;
use crate::outbound::Outbound;
use crate::presence::Presence;
use crate::wire::Body;
use rustc_hash::FxHashMap;

mod actor;
mod remote;
mod settings;
mod sockets;

use actor::run_actor;
use remote::RemoteSocket;

pub use settings::RealtimeSettings;

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
    /// The replica holding this session's socket is stopping: close the socket (after what is
    /// staged for it) so its client reconnects elsewhere.
    Moving(SessionId),
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
    /// This replica is stopping: it takes no world on (see [`Hub::hand_over`]).
    stopping: std::sync::atomic::AtomicBool,
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
            stopping: std::sync::atomic::AtomicBool::new(false),
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
        // From now on this replica claims no world: not for a new socket (refused for now, so
        // the client tries again through another replica), nor for a socket here whose world
        // moves.
        self.stopping.store(true, Ordering::SeqCst);
        for (_, tx) in self.local_worlds() {
            let _ = tx.send(ActorMsg::Handover).await;
        }
        // Sockets here whose world runs on another replica: each world's owner closes its
        // socket (1012) after everything it has for it, so nothing in flight is lost; the
        // socket's end reaches the world as a dropped connection, resumed when the client
        // comes back through another replica.
        let leaving: Vec<(SessionId, i64, Lease)> = self
            .remote
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
            .filter(|(_, r)| *r.owner.replica != *self.replica)
            .map(|(session, r)| {
                r.leaving = true;
                (*session, r.world, r.owner.clone())
            })
            .collect();
        for (session, world, owner) in &leaving {
            self.bus.send(
                &owner.replica,
                Body::Moving {
                    world: *world,
                    session: *session,
                },
            );
        }
        let deadline = Instant::now() + LEAVING_DRAIN;
        while Instant::now() < deadline
            && self
                .remote
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .any(|r| r.leaving)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !self.worlds.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // What is left: sockets of worlds that ran here (their world has moved), and any whose
        // owner did not close them in time. They are forgotten first, so their readers, ending,
        // report nothing more; the owners of the latter hear of a dropped connection.
        let sent_away: Vec<(SessionId, RemoteSocket)> =
            self.remote.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for (session, r) in sent_away {
            r.outbound.close(MOVED_CODE, MOVED_REASON.into());
            if r.leaving {
                self.tell_closed(&r, session, false).await;
            }
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
        if self.stopping.load(Ordering::SeqCst) {
            return Err("this server is stopping; try again");
        }
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
        flags: role.flags,
    }
}

/// How often the sockets whose world runs on another replica have their owner checked.
const OWNER_CHECK: Duration = Duration::from_millis(500);

/// How long a stopping replica waits for the owners of its sockets' worlds to close those
/// sockets (a turn's flush and a bus hop, normally) before closing the rest itself.
const LEAVING_DRAIN: Duration = Duration::from_millis(1500);

/// How long an empty world's actor waits before stopping.
const IDLE_STOP: Duration = Duration::from_secs(60);

/// The close code and reason for sockets whose world moved away from the replica holding
/// them, which is stopping or was deposed (or whose owner cannot be reached over the bus):
/// the client reconnects, and reaches the world's new owner.
pub const MOVED_CODE: u16 = 1012;
/// See [`MOVED_CODE`].
pub const MOVED_REASON: &str = "the world moved to another server; reconnecting";

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
