//! One timer structure for many `Rtc`s: a min-heap of (deadline, key).
//!
//! Each transport's `Rtc` says when it next needs [`str0m::Input::Timeout`]. Scanning every
//! transport for the earliest deadline costs as much as the SFU holds, on every wake-up, and
//! an idle SFU with thousands of transports would spend its time doing that. Here a transport
//! is pushed when its deadline changes and popped when that deadline comes; an entry whose key
//! has since been given another deadline (or has gone) is stale and skipped. So a transport
//! wakes the SFU only at its real deadlines, and the cost of a wake-up grows with the log of
//! the number of deadlines, not with the number of transports.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Deadlines keyed by `K`; the caller keeps each key's current deadline (see
/// [`Deadlines::pop_due`]).
#[derive(Debug)]
pub struct Deadlines<K: Ord + Copy> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord + Copy> Default for Deadlines<K> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> Deadlines<K> {
    /// Schedules `key` at `at`. A deadline it had before goes stale; the caller records `at`
    /// as the key's current one.
    pub fn schedule(&mut self, key: K, at: Instant) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest current deadline. `current(key)` is the deadline the caller holds for a
    /// key (`None` when the key is gone or has none); stale entries at the top are dropped.
    pub fn next(&mut self, current: impl Fn(K) -> Option<Instant>) -> Option<Instant> {
        while let Some(Reverse((at, key))) = self.heap.peek().copied() {
            if current(key) == Some(at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes every key whose current deadline is at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant, current: impl Fn(K) -> Option<Instant>) -> Vec<K> {
        let mut due = Vec::new();
        while let Some(Reverse((at, key))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if current(key) == Some(at) {
                due.push(key);
            }
        }
        due
    }

    /// Entries held, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Drops stale entries when they outnumber the live keys (`live`) by far: a deadline
    /// that keeps moving later leaves one stale entry per move until its old time comes.
    pub fn compact(&mut self, live: usize, current: impl Fn(K) -> Option<Instant>) {
        if self.heap.len() <= 4 * live + 64 {
            return;
        }
        let entries = std::mem::take(&mut self.heap).into_vec();
        self.heap = entries
            .into_iter()
            .filter(|Reverse((at, key))| current(*key) == Some(*at))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    #[test]
    fn due_keys_come_out_in_deadline_order_and_stale_entries_are_skipped() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = Deadlines::default();
        let mut current: HashMap<u32, Instant> = HashMap::new();
        for (k, at) in [(1, 30), (2, 10), (3, 20)] {
            d.schedule(k, ms(at));
            current.insert(k, ms(at));
        }
        // Key 3 moves later; key 2 goes away.
        d.schedule(3, ms(50));
        current.insert(3, ms(50));
        current.remove(&2);
        assert_eq!(d.next(|k| current.get(&k).copied()), Some(ms(30)));
        assert_eq!(d.pop_due(ms(40), |k| current.get(&k).copied()), vec![1]);
        assert!(d.pop_due(ms(45), |k| current.get(&k).copied()).is_empty());
        assert_eq!(d.pop_due(ms(50), |k| current.get(&k).copied()), vec![3]);
        assert!(d.is_empty());
    }

    #[test]
    fn compaction_keeps_only_current_deadlines() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        let mut current = HashMap::new();
        for i in 0..1000u64 {
            let at = t0 + Duration::from_millis(1000 + i);
            d.schedule(7u32, at);
            current.insert(7u32, at);
        }
        d.compact(1, |k| current.get(&k).copied());
        assert_eq!(d.len(), 1);
        assert_eq!(d.next(|k| current.get(&k).copied()), current.get(&7).copied());
    }
}
