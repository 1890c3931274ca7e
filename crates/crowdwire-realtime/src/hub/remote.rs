//! Sockets held here whose world runs on another replica: how their frames reach its owner,
//! are kept until acknowledged, and are re-attached (and replayed) when the owner changes;
//! and what arrives from other replicas over the bus.

use super::{ActorMsg, Hub, MOVED_CODE, MOVED_REASON, OWNER_CHECK, Place, Sink};
use crate::lease::Lease;
use crate::outbound::{Item, Outbound, WireFrame};
use crate::wire::{Body, Envelope};
use crowdwire_world::engine::{Profile, SessionId};
use crowdwire_world::protocol::ClientMessage as Parsed;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// A socket on this replica whose world runs on another (or whose world moved here after it
/// connected): when the world's owner changes, the hub re-attaches it to the new owner, so
/// the socket stays open.
pub(super) struct RemoteSocket {
    pub(super) world: i64,
    /// The world's owner as this socket knows it; deliveries from any other are dropped.
    pub(super) owner: Lease,
    /// Who the session is, to connect it again at a new owner.
    profile: Profile,
    pub(super) outbound: Arc<Outbound>,
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
    /// This replica is stopping: the owner was asked to close the socket after what it has
    /// for it (see [`Hub::hand_over`]); its end is a dropped connection, not a leave.
    pub(super) leaving: bool,
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
            leaving: false,
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
        // A PING may carry a position too: of the frames that place the walker, only the
        // last counts (an older one replayed after it would walk it back).
        let is_move = |t: &str| {
            #[derive(serde::Deserialize)]
            struct Topic<'a> {
                #[serde(borrow)]
                topic: std::borrow::Cow<'a, str>,
            }
            serde_json::from_str::<Topic>(t).is_ok_and(|m| m.topic == "PLAYER_MOVEMENT" || m.topic == "PING")
        };
        // Each frame's topic is read once.
        let moves: Vec<bool> = self.unacked.iter().map(|(_, t)| is_move(t)).collect();
        let last_move = moves.iter().rposition(|&m| m);
        self.unacked
            .iter()
            .zip(&moves)
            .enumerate()
            .filter(|&(i, (_, &m))| !m || Some(i) == last_move)
            .map(|(_, (f, _))| f.clone())
            .collect()
    }
}

impl Hub {
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
        // A socket sent away while this replica stops is a dropped connection, not a leave.
        self.tell_closed(&r, session, clean && !r.leaving).await;
    }

    /// Tells the world's current owner that a socket attached here closed.
    pub(super) async fn tell_closed(&self, r: &RemoteSocket, session: SessionId, clean: bool) {
        self.tell_closed_to(r.world, &r.owner, session, clean).await;
    }

    /// Tells `owner`, which runs `world`, that a socket attached here closed.
    pub(super) async fn tell_closed_to(&self, world: i64, owner: &Lease, session: SessionId, clean: bool) {
        if *owner.replica == *self.replica {
            if let Some(tx) = self.owned(world) {
                let _ = tx.send(ActorMsg::Closed { session, clean }).await;
            }
        } else {
            self.bus.send(&owner.replica, Body::Closed { world, session, clean });
        }
    }

    /// A socket's text frame, parsed, for the actor of its world here.
    pub(super) fn frame_msg(&self, session: SessionId, text: &str, seq: u64) -> ActorMsg {
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
                // One copy of the text, kept until acknowledged and sent. Sent under the lock
                // (a send never waits), so a re-attachment cannot slip in between keeping a
                // frame and sending it.
                let text: Arc<str> = text.into();
                r.keep(seq, text.clone());
                self.bus.send(
                    &r.owner.replica,
                    Body::Frame {
                        world,
                        session,
                        text,
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
    pub(super) fn reattachable(&self, session: SessionId) -> bool {
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
    pub(super) async fn watch_remote_owners(self: &Arc<Self>, store_up_since: &mut Option<Instant>) {
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
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
                                text,
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

    pub(super) async fn on_envelope(&self, e: Envelope) {
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
            Body::Moving { world, session } => match self.owned(world) {
                Some(tx) => {
                    let _ = tx.send(ActorMsg::Moving(session)).await;
                }
                None => self.bus.send(&from, Body::Moved { world, session }),
            },
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowdwire_world::engine::Permissions;

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
    fn a_socket_keeps_its_unacknowledged_frames_and_replays_them_with_only_the_last_position() {
        let mut r = socket();
        let mv = |x: u32| format!(r#"{{"topic":"PLAYER_MOVEMENT","position":{{"x":{x},"y":1}}}}"#);
        let chat = r#"{"topic":"SEND_MESSAGE","text":"hi","to":"ALL"}"#;
        r.keep(1, mv(1).into());
        r.keep(2, chat.into());
        r.acked(1);
        r.keep(3, mv(3).into());
        r.keep(4, mv(4).into());
        let ping = r#"{"topic":"PING","position":{"x":4,"y":1}}"#;
        r.keep(5, ping.into());
        r.keep(6, mv(6).into());
        // A PING places the walker too: only the last of those frames is replayed.
        assert_eq!(texts(&r.replay()), vec![(2, chat), (6, mv(6).as_str())]);
        r.acked(5);
        assert_eq!(texts(&r.replay()), vec![(6, mv(6).as_str())]);
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
}
