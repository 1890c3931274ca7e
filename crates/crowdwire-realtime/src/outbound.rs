//! Each socket's outgoing queue: bounded, and with position updates coalesced.
//!
//! A newer position of the same mover replaces an older one still waiting, so a slow but
//! live reader gets the latest state rather than a backlog. A reader whose queue grows past
//! the bound anyway is cut off: the server never buffers without limit.

use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::sync::Mutex;

use axum::extract::ws::Utf8Bytes;
use rustc_hash::FxHashMap;
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
    frames: VecDeque<WireFrame>,
    /// Where each mover's queued position is in `frames` (frames are only appended between
    /// drains, and a drain empties the queue, so the indices stay valid).
    coalesced: FxHashMap<u32, usize>,
    closed: Option<(u16, String)>,
    overflowed: bool,
}

/// A socket's queue.
pub struct Outbound {
    inner: Mutex<Inner>,
    notify: Notify,
    bound: usize,
}

impl Outbound {
    /// A queue holding at most `bound` frames.
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
        self.push_many(std::iter::once(frame))
    }

    /// Queues frames in order under one lock, each replacing a queued position of the same
    /// mover, and wakes the writer at most once.
    pub fn push_many(&self, frames: impl IntoIterator<Item = WireFrame>) -> Result<(), PushError> {
        let mut guard = self.lock();
        let q = &mut *guard;
        if q.closed.is_some() {
            return Err(PushError::Closed);
        }
        let was_empty = q.frames.is_empty();
        let mut result = Ok(());
        for frame in frames {
            let slot = match frame.coalesce {
                Some(key) => match q.coalesced.entry(key) {
                    Entry::Occupied(e) => {
                        q.frames[*e.get()] = frame;
                        continue;
                    }
                    Entry::Vacant(e) => Some(e),
                },
                None => None,
            };
            if q.frames.len() >= self.bound {
                q.overflowed = true;
                q.closed = Some((1008, "too slow: outgoing queue overflow".into()));
                result = Err(PushError::Overflow);
                break;
            }
            if let Some(e) = slot {
                e.insert(q.frames.len());
            }
            q.frames.push_back(frame);
        }
        let wake = result.is_err() || (was_empty && !q.frames.is_empty());
        drop(guard);
        // The writer drains everything it finds, so only the first frames after a drain
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
    /// frames are dropped: the reader is being cut off).
    pub fn drain(&self) -> (Vec<WireFrame>, Option<(u16, String)>) {
        let mut q = self.lock();
        q.coalesced.clear();
        let frames = if q.overflowed {
            q.frames.clear();
            Vec::new()
        } else {
            q.frames.drain(..).collect()
        };
        (frames, q.closed.clone())
    }

    /// Waits until something is queued or a close is requested.
    pub async fn wait(&self) {
        {
            let q = self.lock();
            if !q.frames.is_empty() || q.closed.is_some() {
                return;
            }
        }
        self.notify.notified().await;
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.lock().frames.len()
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

    #[test]
    fn newer_position_of_the_same_mover_replaces_the_older() {
        let q = Outbound::new(10);
        q.push(f("a1", Some(1))).unwrap();
        q.push(f("chat", None)).unwrap();
        q.push(f("b1", Some(2))).unwrap();
        q.push(f("a2", Some(1))).unwrap();
        let (frames, closed) = q.drain();
        let texts: Vec<&str> = frames.iter().map(|f| &*f.text).collect();
        assert_eq!(texts, ["a2", "chat", "b1"]);
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
        let (frames, _) = q.drain();
        let texts: Vec<&str> = frames.iter().map(|f| &*f.text).collect();
        assert_eq!(texts, ["b1", "a3"]);
    }

    #[test]
    fn overflow_cuts_the_reader_off() {
        let q = Outbound::new(2);
        q.push(f("1", None)).unwrap();
        q.push(f("2", None)).unwrap();
        assert_eq!(q.push(f("3", None)), Err(PushError::Overflow));
        let (frames, closed) = q.drain();
        assert!(frames.is_empty());
        assert_eq!(closed.unwrap().0, 1008);
        assert_eq!(q.push(f("4", None)), Err(PushError::Closed));
    }

    #[test]
    fn a_batch_coalesces_within_itself_and_stops_at_the_bound() {
        let q = Outbound::new(3);
        q.push(f("a1", Some(1))).unwrap();
        q.push_many([f("b1", Some(2)), f("a2", Some(1)), f("b2", Some(2)), f("chat", None)])
            .unwrap();
        let (frames, _) = q.drain();
        let texts: Vec<&str> = frames.iter().map(|f| &*f.text).collect();
        assert_eq!(texts, ["a2", "b2", "chat"]);
        // Four distinct frames against a bound of three: the reader is cut off.
        let batch = [f("1", None), f("2", None), f("3", None), f("4", None)];
        assert_eq!(q.push_many(batch), Err(PushError::Overflow));
        assert!(q.drain().0.is_empty());
    }
}
