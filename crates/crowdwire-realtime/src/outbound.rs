//! Each socket's outgoing queue: bounded, and with position updates coalesced.
//!
//! Two kinds of items wait in it: single frames, and a turn's movements for this socket (a
//! [`MoveSet`]: picks from a table of the turn's movements that all its receivers share, so
//! the world's actor hands a receiver its movements without copying a byte; the socket's
//! writer assembles them). A newer position of the same mover replaces an older one still
//! waiting, so a slow but live reader gets the latest state rather than a backlog. A reader
//! whose queue grows past the bound anyway is cut off: the server never buffers without
//! limit.

use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::Notify;

use crowdwire_world::engine::Frame;

/// A frame as the socket writes it: the text in a shared buffer, so one serialisation
/// fanned out to many sockets is neither copied nor reallocated per receiver.
#[derive(Clone, Debug)]
pub struct WireFrame {
    /// The text.
    pub text: Utf8Bytes,
    /// The mover, for position updates (see [`Frame::coalesce`]).
    pub coalesce: Option<u32>,
}

impl From<Frame> for WireFrame {
    fn from(f: Frame) -> WireFrame {
        WireFrame {
            text: Utf8Bytes::from(&*f.text),
            coalesce: f.coalesce,
        }
    }
}

/// One turn's movements for one socket: indices into the turn's shared table.
#[derive(Clone, Debug)]
pub struct MoveSet {
    /// Every movement of the turn, one per mover.
    pub table: Arc<[WireFrame]>,
    /// The ones this socket gets, in order.
    pub picks: Vec<u32>,
}

impl MoveSet {
    /// The picked frames.
    pub fn frames(&self) -> impl Iterator<Item = &WireFrame> {
        self.picks.iter().filter_map(|&i| self.table.get(i as usize))
    }
}

/// Something queued for a socket.
#[derive(Clone, Debug)]
pub enum Item {
    /// One frame.
    Frame(WireFrame),
    /// A turn's movements.
    Moves(MoveSet),
}

impl From<WireFrame> for Item {
    fn from(f: WireFrame) -> Item {
        Item::Frame(f)
    }
}

/// Why a push was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// The queue is over its bound: the reader is too slow.
    Overflow,
    /// The socket is closing.
    Closed,
}

#[derive(Default)]
struct Inner {
    items: VecDeque<Item>,
    /// Where each mover's queued single position frame is in `items` (items are only
    /// appended between drains, and a drain empties the queue, so the indices stay valid).
    coalesced: FxHashMap<u32, usize>,
    /// Where the queued movement sets are in `items`.
    move_sets: Vec<usize>,
    closed: Option<(u16, String)>,
    overflowed: bool,
}

/// The close code of a reader cut off for being too slow: try again (the world keeps its place
/// for the reconnection grace).
pub const OVERFLOW_CODE: u16 = 1013;
/// The close reason that goes with [`OVERFLOW_CODE`].
pub const OVERFLOW_REASON: &str = "too slow: outgoing queue overflow; reconnect";

/// Queued movement sets that make a queue drop older movements of the same movers.
const COMPACT_AT: usize = 16;

/// A queue's capacity that a drain gives back (most of): an idle socket keeps little.
const SHRINK_ABOVE: usize = 32;

impl Inner {
    /// Keeps only the newest queued movement of each mover, and drops the movement sets
    /// left empty (the newest stays where it is: after everything that came before it).
    fn compact(&mut self) {
        let mut seen: FxHashSet<u32> = FxHashSet::default();
        for &i in self.move_sets.iter().rev() {
            if let Some(Item::Moves(set)) = self.items.get_mut(i) {
                let MoveSet { table, picks } = set;
                let mut kept: Vec<u32> = picks
                    .iter()
                    .rev()
                    .copied()
                    .filter(|&p| {
                        table
                            .get(p as usize)
                            .and_then(|f| f.coalesce)
                            .is_none_or(|m| seen.insert(m))
                    })
                    .collect();
                kept.reverse();
                *picks = kept;
            }
        }
        let items = std::mem::take(&mut self.items);
        self.coalesced.clear();
        self.move_sets.clear();
        for item in items {
            match &item {
                Item::Moves(m) if m.picks.is_empty() => continue,
                Item::Moves(_) => self.move_sets.push(self.items.len()),
                Item::Frame(WireFrame { coalesce: Some(k), .. }) => {
                    self.coalesced.insert(*k, self.items.len());
                }
                Item::Frame(_) => {}
            }
            self.items.push_back(item);
        }
    }
}

/// A socket's queue.
pub struct Outbound {
    inner: Mutex<Inner>,
    notify: Notify,
    bound: usize,
}

impl Outbound {
    /// A queue holding at most `bound` items.
    pub fn new(bound: usize) -> Outbound {
        Outbound {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            bound: bound.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame, replacing a queued position of the same mover.
    pub fn push(&self, frame: WireFrame) -> Result<(), PushError> {
        self.push_many(std::iter::once(Item::Frame(frame)))
    }

    /// Queues items in order under one lock, each replacing queued positions of the same
    /// movers, and wakes the writer at most once.
    pub fn push_many(&self, items: impl IntoIterator<Item = Item>) -> Result<(), PushError> {
        let mut guard = self.lock();
        let q = &mut *guard;
        if q.closed.is_some() {
            return Err(PushError::Closed);
        }
        let was_empty = q.items.is_empty();
        let mut result = Ok(());
        for item in items {
            let slot = match &item {
                Item::Frame(WireFrame {
                    coalesce: Some(key), ..
                }) => match q.coalesced.entry(*key) {
                    Entry::Occupied(e) => {
                        q.items[*e.get()] = item;
                        continue;
                    }
                    Entry::Vacant(e) => Some(e),
                },
                Item::Frame(_) => None,
                Item::Moves(_) => {
                    // A reader that has not drained many turns keeps only the newest
                    // movement of each mover (checked now and then, not at every push: the
                    // cost is spread over the turns).
                    if q.move_sets.len() >= COMPACT_AT {
                        q.compact();
                    }
                    None
                }
            };
            if q.items.len() >= self.bound {
                q.overflowed = true;
                // A slow link, not a misbehaving client: it may reconnect and resume (1013),
                // and its world counts the connection as dropped, not as a leave.
                q.closed = Some((OVERFLOW_CODE, OVERFLOW_REASON.into()));
                result = Err(PushError::Overflow);
                break;
            }
            if let Some(e) = slot {
                e.insert(q.items.len());
            }
            if matches!(item, Item::Moves(_)) {
                q.move_sets.push(q.items.len());
            }
            q.items.push_back(item);
        }
        let wake = result.is_err() || (was_empty && !q.items.is_empty());
        drop(guard);
        // The writer drains everything it finds, so only the first items after a drain
        // (or a close) need to wake it.
        if wake {
            self.notify.notify_one();
        }
        result
    }

    /// Asks the writer to send a close frame after what is queued.
    pub fn close(&self, code: u16, reason: String) {
        let mut q = self.lock();
        if q.closed.is_none() {
            q.closed = Some((code, reason));
        }
        drop(q);
        self.notify.notify_one();
    }

    /// Takes everything queued, and the close request if any (after an overflow the queued
    /// items are dropped: the reader is being cut off).
    pub fn drain(&self) -> (Vec<Item>, Option<(u16, String)>) {
        let mut q = self.lock();
        q.coalesced.clear();
        q.move_sets.clear();
        let items = if q.overflowed {
            q.items.clear();
            Vec::new()
        } else {
            q.items.drain(..).collect()
        };
        // A burst (a newcomer's first frames) leaves capacity that an idle socket would keep.
        if q.items.capacity() > SHRINK_ABOVE {
            q.items.shrink_to(SHRINK_ABOVE / 4);
        }
        (items, q.closed.clone())
    }

    /// Waits until something is queued or a close is requested.
    pub async fn wait(&self) {
        {
            let q = self.lock();
            if !q.items.is_empty() || q.closed.is_some() {
                return;
            }
        }
        self.notify.notified().await;
    }

    /// The queue overflowed: its reader was cut off for being too slow.
    pub fn overflowed(&self) -> bool {
        self.lock().overflowed
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(text: &str, key: Option<u32>) -> WireFrame {
        WireFrame {
            text: text.into(),
            coalesce: key,
        }
    }

    fn texts(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .flat_map(|i| match i {
                Item::Frame(f) => vec![f.text.to_string()],
                Item::Moves(m) => m.frames().map(|f| f.text.to_string()).collect(),
            })
            .collect()
    }

    #[test]
    fn newer_position_of_the_same_mover_replaces_the_older() {
        let q = Outbound::new(10);
        q.push(f("a1", Some(1))).unwrap();
        q.push(f("chat", None)).unwrap();
        q.push(f("b1", Some(2))).unwrap();
        q.push(f("a2", Some(1))).unwrap();
        let (items, closed) = q.drain();
        assert_eq!(texts(&items), ["a2", "chat", "b1"]);
        assert!(closed.is_none());
    }

    #[test]
    fn coalescing_starts_afresh_after_a_drain() {
        let q = Outbound::new(10);
        q.push(f("x", None)).unwrap();
        q.push(f("a1", Some(1))).unwrap();
        assert_eq!(q.drain().0.len(), 2);
        q.push(f("b1", Some(2))).unwrap();
        q.push(f("a2", Some(1))).unwrap();
        q.push(f("a3", Some(1))).unwrap();
        let (items, _) = q.drain();
        assert_eq!(texts(&items), ["b1", "a3"]);
    }

    #[test]
    fn overflow_cuts_the_reader_off() {
        let q = Outbound::new(2);
        q.push(f("1", None)).unwrap();
        q.push(f("2", None)).unwrap();
        assert_eq!(q.push(f("3", None)), Err(PushError::Overflow));
        let (items, closed) = q.drain();
        assert!(items.is_empty());
        assert_eq!(closed.unwrap(), (OVERFLOW_CODE, OVERFLOW_REASON.to_owned()));
        assert!(q.overflowed());
        assert_eq!(q.push(f("4", None)), Err(PushError::Closed));
    }

    #[test]
    fn a_batch_coalesces_within_itself_and_stops_at_the_bound() {
        let q = Outbound::new(3);
        q.push(f("a1", Some(1))).unwrap();
        q.push_many([f("b1", Some(2)), f("a2", Some(1)), f("b2", Some(2)), f("chat", None)].map(Item::Frame))
            .unwrap();
        let (items, _) = q.drain();
        assert_eq!(texts(&items), ["a2", "b2", "chat"]);
        // Four distinct frames against a bound of three: the reader is cut off.
        let batch = [f("1", None), f("2", None), f("3", None), f("4", None)].map(Item::Frame);
        assert_eq!(q.push_many(batch), Err(PushError::Overflow));
        assert!(q.drain().0.is_empty());
    }

    #[test]
    fn movements_of_a_few_turns_are_delivered_in_order_around_other_frames() {
        let q = Outbound::new(10);
        let turn1: Arc<[WireFrame]> = vec![f("a1", Some(1)), f("b1", Some(2)), f("c1", Some(3))].into();
        let turn2: Arc<[WireFrame]> = vec![f("b2", Some(2)), f("a2", Some(1))].into();
        q.push_many([Item::Moves(MoveSet {
            table: turn1,
            picks: vec![0, 1, 2],
        })])
        .unwrap();
        q.push(f("LEAVE c", None)).unwrap();
        // This reader hears about b and a only in the second turn.
        q.push_many([Item::Moves(MoveSet {
            table: turn2,
            picks: vec![1, 0],
        })])
        .unwrap();
        let (items, _) = q.drain();
        // Drained within a few turns, each movement is delivered once, in order.
        assert_eq!(texts(&items), ["a1", "b1", "c1", "LEAVE c", "a2", "b2"]);
    }

    #[test]
    fn a_reader_that_falls_many_turns_behind_keeps_only_the_newest_movements() {
        let q = Outbound::new(64);
        q.push(f("JOIN b", None)).unwrap();
        for turn in 0..100u32 {
            // a moves every turn, b every tenth.
            let mut frames = vec![f(&format!("a{turn}"), Some(1))];
            if turn % 10 == 0 {
                frames.push(f(&format!("b{turn}"), Some(2)));
            }
            let picks = (0..frames.len() as u32).collect();
            q.push_many([Item::Moves(MoveSet {
                table: frames.into(),
                picks,
            })])
            .expect("coalescing keeps the queue far below its bound");
        }
        assert!(q.len() <= COMPACT_AT + 2, "{} items queued", q.len());
        let (items, _) = q.drain();
        let t = texts(&items);
        assert_eq!(t[0], "JOIN b");
        assert!(t.contains(&"a99".to_owned()) && t.contains(&"b90".to_owned()), "{t:?}");
        // Each mover appears at most once per compaction window, newest last.
        let a: Vec<&String> = t.iter().filter(|x| x.starts_with('a')).collect();
        assert!(a.len() <= COMPACT_AT + 1, "{a:?}");
        assert_eq!(a.last().map(|s| s.as_str()), Some("a99"));
    }
}
