//! The sockets of one world's sessions, and what each turn produced for them.

use super::{Hub, MOVED_CODE, MOVED_REASON, Sink};
use crate::bus::ReplicaBus;
use crate::outbound::{Item, MoveSet, PushError, WireFrame};
use crate::wire::{Body, Delivery, WireText};
use crowdwire_world::engine::{MoveBatch, SessionId};
use rustc_hash::FxHashMap;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The sockets of a world's sessions, and the frames the current turn has produced for
/// each. The frames are handed to a socket's queue together at the end of the turn: one
/// lock and at most one wake-up per socket per turn, however many frames it gets. Sockets on
/// other replicas get theirs in one bus message per replica per turn.
pub(super) struct Sockets {
    world: i64,
    pub(super) fence: u64,
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
    pub(super) fn new(world: i64, fence: u64, bus: Arc<dyn ReplicaBus>) -> Sockets {
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

    pub(super) fn insert(&mut self, session: SessionId, sink: Sink) {
        self.by_session.insert(
            session,
            Socket {
                sink,
                staged: Vec::new(),
                ack: 0,
            },
        );
    }

    pub(super) fn remove(&mut self, session: SessionId) {
        self.by_session.remove(&session);
    }

    pub(super) fn stage(&mut self, session: SessionId, frame: WireFrame) {
        self.stage_item(session, Item::Frame(frame));
    }

    /// Something waits for the next flush.
    pub(super) fn has_staged(&self) -> bool {
        !self.dirty.is_empty() || !self.remote.is_empty() || !self.acks_due.is_empty()
    }

    /// The frame counted `seq` of a socket on another replica was taken: acknowledged at the
    /// next flush, with what it produced.
    pub(super) fn ack(&mut self, session: SessionId, seq: u64) {
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
    pub(super) fn stage_acks(&mut self) {
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

    pub(super) fn stage_item(&mut self, session: SessionId, item: Item) {
        if let Some(s) = self.by_session.get_mut(&session) {
            if s.staged.is_empty() {
                self.dirty.push(session);
            }
            s.staged.push(item);
        }
    }

    /// A turn's movements: one shared table, and each receiver's picks from it (the bytes of
    /// a receiver's frames are assembled by its socket's writer, on any core).
    pub(super) fn stage_moves(&mut self, batch: MoveBatch) {
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
    pub(super) fn flush(&mut self) -> Vec<SessionId> {
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

    pub(super) fn send_remote(&mut self) {
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
    pub(super) fn close(&mut self, session: SessionId, code: u16, reason: String) {
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
    pub(super) async fn on_dead_replicas(&mut self, hub: &Hub) -> Vec<SessionId> {
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
    pub(super) fn hand_off(&mut self, hub: &Hub, flush: bool) {
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

    pub(super) fn close_all(&mut self, code: u16, reason: &str) {
        let sessions: Vec<SessionId> = self.by_session.keys().copied().collect();
        for session in sessions {
            self.close(session, code, reason.to_owned());
        }
        self.dirty.clear();
        self.send_remote();
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
