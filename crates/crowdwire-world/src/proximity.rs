//! Server-decided proximity: who is near whom, and the groups (media rooms) that follow.
//!
//! Two users are *near* when their distance is at most the radius; once near, they stay near
//! until the distance exceeds the leave radius (hysteresis, so people standing at the edge do
//! not flicker in and out). Groups follow the near-graph under a size cap:
//!
//! - every group is connected through near edges, with 2 to `max_group` members;
//! - nothing more can join: no two lone users are near, no lone user is near a group with
//!   room, and no two near groups fit together under the cap.
//!
//! So a component of the near-graph no larger than the cap is exactly one group, and a crowd
//! larger than the cap is covered by several groups that keep their members as people move
//! (like a conversation circle, a group does not reshuffle because someone walks past). Ids
//! are numeric and stable: on a merge the larger group keeps its id, on a split the largest
//! part does, and only the parts left over get new ids.
//!
//! Updates are local: a move changes only the mover's edges (found through a spatial hash),
//! a lost edge re-checks the connectivity of one group (at most `max_group` members), and new
//! edges are settled by looking at the neighbours of the members involved. Nothing walks a
//! whole component, so a dense crowd costs the same per move as a small one.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::protocol::Position;

/// A participant, by the engine's dense index.
pub type Member = u32;
/// A group id.
pub type GroupId = u64;

/// What changed in the groups after one update.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GroupDiff {
    /// Groups that no longer exist, with the members they had.
    pub closed: Vec<(GroupId, BTreeSet<Member>)>,
    /// Groups created or whose membership changed: (id, members before, members now).
    pub changed: Vec<(GroupId, BTreeSet<Member>, BTreeSet<Member>)>,
}

impl GroupDiff {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.closed.is_empty() && self.changed.is_empty()
    }
}

/// Proximity settings.
#[derive(Clone, Copy, Debug)]
pub struct ProximityConfig {
    /// Users come near at this distance (px).
    pub radius: f64,
    /// Near users part only beyond this distance (px), ≥ `radius`.
    pub leave_radius: f64,
    /// Largest group.
    pub max_group: usize,
}

impl Default for ProximityConfig {
    fn default() -> ProximityConfig {
        ProximityConfig {
            radius: 150.0,
            leave_radius: 180.0,
            max_group: 16,
        }
    }
}

/// The near-graph and its groups.
#[derive(Debug, Default)]
pub struct ProximityGroups {
    config: ProximityConfig,
    positions: FxHashMap<Member, Position>,
    cells: FxHashMap<(i64, i64), BTreeSet<Member>>,
    near: FxHashMap<Member, BTreeSet<Member>>,
    group_of: FxHashMap<Member, GroupId>,
    groups: BTreeMap<GroupId, BTreeSet<Member>>,
    next_id: GroupId,
}

impl ProximityGroups {
    /// An empty world.
    pub fn new(config: ProximityConfig) -> ProximityGroups {
        let leave = config.leave_radius.max(config.radius);
        ProximityGroups {
            config: ProximityConfig {
                leave_radius: leave,
                max_group: config.max_group.max(2),
                ..config
            },
            next_id: 1,
            ..Default::default()
        }
    }

    /// Ids handed out from now on start at `first` (never going back).
    pub fn start_ids_at(&mut self, first: GroupId) {
        self.next_id = self.next_id.max(first);
    }

    /// Gives group `from` the id `to` (unused), as between updates; false if it cannot.
    pub fn rename(&mut self, from: GroupId, to: GroupId) -> bool {
        if self.groups.contains_key(&to) {
            return false;
        }
        let Some(members) = self.groups.remove(&from) else {
            return false;
        };
        for m in &members {
            self.group_of.insert(*m, to);
        }
        self.groups.insert(to, members);
        self.next_id = self.next_id.max(to + 1);
        true
    }

    fn cell(&self, p: &Position) -> (i64, i64) {
        let s = self.config.leave_radius.max(1.0);
        ((p.x / s).floor() as i64, (p.y / s).floor() as i64)
    }

    /// The group a member is in.
    pub fn group_of(&self, m: Member) -> Option<GroupId> {
        self.group_of.get(&m).copied()
    }

    /// Members of a group.
    pub fn members(&self, g: GroupId) -> Option<&BTreeSet<Member>> {
        self.groups.get(&g)
    }

    /// All groups.
    pub fn groups(&self) -> &BTreeMap<GroupId, BTreeSet<Member>> {
        &self.groups
    }

    /// Users near `m`.
    pub fn neighbours(&self, m: Member) -> impl Iterator<Item = Member> + '_ {
        self.near.get(&m).into_iter().flatten().copied()
    }

    /// True when `a` and `b` are near each other.
    pub fn are_near(&self, a: Member, b: Member) -> bool {
        self.near.get(&a).is_some_and(|s| s.contains(&b))
    }

    /// Whether a member takes part (has a position here).
    pub fn contains(&self, m: Member) -> bool {
        self.positions.contains_key(&m)
    }

    /// Places or moves a member and returns the group changes.
    pub fn set_position(&mut self, m: Member, p: Position) -> GroupDiff {
        if let Some(old) = self.positions.insert(m, p) {
            let oc = self.cell(&old);
            if oc != self.cell(&p) {
                self.leave_cell(m, oc);
            }
        }
        let c = self.cell(&p);
        self.cells.entry(c).or_default().insert(m);
        // Existing edges: kept within the leave radius.
        let lost: Vec<Member> = self
            .neighbours(m)
            .filter(|v| self.positions[v].distance(&p) > self.config.leave_radius)
            .collect();
        // New edges: within the radius.
        let mut gained = Vec::new();
        for dx in -1..=1 {
            for dy in -1..=1 {
                for v in self.cells.get(&(c.0 + dx, c.1 + dy)).into_iter().flatten() {
                    if *v != m && !self.are_near(m, *v) && self.positions[v].distance(&p) <= self.config.radius {
                        gained.push(*v);
                    }
                }
            }
        }
        if lost.is_empty() && gained.is_empty() {
            return GroupDiff::default();
        }
        let mut tx = self.tx();
        for v in lost {
            self.unlink(m, v);
            if let Some(g) = self.group_of(m)
                && self.group_of(v) == Some(g)
            {
                self.resplit(g, &mut tx);
            }
        }
        for v in &gained {
            self.link(m, *v);
            tx.work.insert(*v);
        }
        tx.work.insert(m);
        self.settle(&mut tx);
        self.finish(tx)
    }

    /// Parts two near members who are farther apart than the radius (inside the hysteresis
    /// band), as a client may ask when it sees them apart: their edge goes, groups re-form from
    /// the edges left, and they come near again only within the radius. Members closer than
    /// the radius stay near (the claim is only a hint). Returns the group changes.
    pub fn part(&mut self, a: Member, b: Member) -> GroupDiff {
        let apart = match (self.positions.get(&a), self.positions.get(&b)) {
            (Some(pa), Some(pb)) => pa.distance(pb) > self.config.radius,
            _ => false,
        };
        if !apart || !self.are_near(a, b) {
            return GroupDiff::default();
        }
        let mut tx = self.tx();
        self.unlink(a, b);
        if let Some(g) = self.group_of(a)
            && self.group_of(b) == Some(g)
        {
            self.resplit(g, &mut tx);
        }
        tx.work.insert(a);
        tx.work.insert(b);
        self.settle(&mut tx);
        self.finish(tx)
    }

    /// Makes two placed members near when they stand within the leave radius, as if they had
    /// met closer and drifted apart into the hysteresis band. A new owner rebuilding groups
    /// from positions uses it to keep together a pair its previous owner kept. Returns the
    /// group changes.
    pub fn keep_near(&mut self, a: Member, b: Member) -> GroupDiff {
        let within = match (self.positions.get(&a), self.positions.get(&b)) {
            (Some(pa), Some(pb)) => pa.distance(pb) <= self.config.leave_radius,
            _ => false,
        };
        if a == b || !within || self.are_near(a, b) {
            return GroupDiff::default();
        }
        let mut tx = self.tx();
        self.link(a, b);
        tx.work.insert(a);
        tx.work.insert(b);
        self.settle(&mut tx);
        self.finish(tx)
    }

    /// Takes a member out (left, or entered a conference) and returns the group changes.
    pub fn remove(&mut self, m: Member) -> GroupDiff {
        let Some(p) = self.positions.remove(&m) else {
            return GroupDiff::default();
        };
        self.leave_cell(m, self.cell(&p));
        for v in self.near.remove(&m).unwrap_or_default() {
            if let Some(s) = self.near.get_mut(&v) {
                s.remove(&m);
                if s.is_empty() {
                    self.near.remove(&v);
                }
            }
        }
        let mut tx = self.tx();
        if let Some(g) = self.group_of.remove(&m) {
            self.touch(g, &mut tx);
            self.groups.get_mut(&g).expect("group of a member").remove(&m);
            self.resplit(g, &mut tx);
        }
        self.settle(&mut tx);
        self.finish(tx)
    }

    fn leave_cell(&mut self, m: Member, c: (i64, i64)) {
        if let Some(set) = self.cells.get_mut(&c) {
            set.remove(&m);
            if set.is_empty() {
                self.cells.remove(&c);
            }
        }
    }

    fn link(&mut self, a: Member, b: Member) {
        self.near.entry(a).or_default().insert(b);
        self.near.entry(b).or_default().insert(a);
    }

    fn unlink(&mut self, a: Member, b: Member) {
        for (x, y) in [(a, b), (b, a)] {
            if let Some(s) = self.near.get_mut(&x) {
                s.remove(&y);
                if s.is_empty() {
                    self.near.remove(&x);
                }
            }
        }
    }

    fn tx(&self) -> Tx {
        Tx {
            first_new_id: self.next_id,
            before: BTreeMap::new(),
            work: BTreeSet::new(),
        }
    }

    /// Remembers how `g` looked before this update first changed it.
    fn touch(&self, g: GroupId, tx: &mut Tx) {
        tx.before
            .entry(g)
            .or_insert_with(|| self.groups.get(&g).cloned().unwrap_or_default());
    }

    fn new_group(&mut self, members: BTreeSet<Member>, tx: &mut Tx) -> GroupId {
        let g = self.next_id;
        self.next_id += 1;
        self.touch(g, tx);
        for m in &members {
            self.group_of.insert(*m, g);
        }
        self.groups.insert(g, members);
        g
    }

    /// After `g` lost an edge or a member: if it fell apart, the largest part keeps the id,
    /// other parts of two or more get new ids, and lone members leave. Everyone in it may now
    /// fit somewhere else, so all of them are queued for [`Self::settle`].
    fn resplit(&mut self, g: GroupId, tx: &mut Tx) {
        self.touch(g, tx);
        let members = self.groups[&g].clone();
        tx.work.extend(members.iter().copied());
        let mut parts: Vec<BTreeSet<Member>> = Vec::new();
        let mut seen = BTreeSet::new();
        for &start in &members {
            if !seen.insert(start) {
                continue;
            }
            let mut part = BTreeSet::from([start]);
            let mut stack = vec![start];
            while let Some(x) = stack.pop() {
                for y in self.neighbours(x) {
                    if members.contains(&y) && seen.insert(y) {
                        part.insert(y);
                        stack.push(y);
                    }
                }
            }
            parts.push(part);
        }
        if parts.len() == 1 && members.len() >= 2 {
            return;
        }
        // The largest part keeps the id; on a tie, the part with the smallest member (first).
        let keep = (0..parts.len()).max_by(|a, b| parts[*a].len().cmp(&parts[*b].len()).then(b.cmp(a)));
        for m in &members {
            self.group_of.remove(m);
        }
        self.groups.remove(&g);
        for (i, part) in parts.into_iter().enumerate() {
            if part.len() < 2 {
                continue;
            }
            if Some(i) == keep {
                for m in &part {
                    self.group_of.insert(*m, g);
                }
                self.groups.insert(g, part);
            } else {
                self.new_group(part, tx);
            }
        }
    }

    /// Brings the queued members' surroundings back to the rule: two near users who are
    /// both alone form a group, a lone user joins a near group with room, and two near
    /// groups that fit together under the cap merge (the larger keeps its id; on a tie, the
    /// smaller id). Every step removes a group or a lone user, so this ends; each step looks
    /// only at the queued members' neighbours, so its cost is local.
    fn settle(&mut self, tx: &mut Tx) {
        let cap = self.config.max_group;
        while let Some(x) = tx.work.pop_first() {
            if !self.positions.contains_key(&x) {
                continue;
            }
            let around: Vec<Member> = self.neighbours(x).collect();
            for y in around {
                match (self.group_of(x), self.group_of(y)) {
                    (None, None) => {
                        self.new_group(BTreeSet::from([x, y]), tx);
                        tx.work.insert(y);
                    }
                    (None, Some(g)) | (Some(g), None) => {
                        let lone = if self.group_of(x).is_none() { x } else { y };
                        if self.groups[&g].len() < cap {
                            self.touch(g, tx);
                            self.groups.get_mut(&g).expect("exists").insert(lone);
                            self.group_of.insert(lone, g);
                            tx.work.insert(lone);
                        }
                    }
                    (Some(a), Some(b)) if a != b => {
                        let (la, lb) = (self.groups[&a].len(), self.groups[&b].len());
                        if la + lb > cap {
                            continue;
                        }
                        let (keep, gone) = if (la, std::cmp::Reverse(a)) >= (lb, std::cmp::Reverse(b)) {
                            (a, b)
                        } else {
                            (b, a)
                        };
                        self.touch(keep, tx);
                        self.touch(gone, tx);
                        let moved = self.groups.remove(&gone).expect("exists");
                        for m in &moved {
                            self.group_of.insert(*m, keep);
                        }
                        tx.work.extend(moved.iter().copied());
                        self.groups.get_mut(&keep).expect("exists").extend(moved);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Settles the ids of every group this update touched, then reports each group once
    /// against its state before the update. Ids follow the members: the part holding most of
    /// an old group keeps its id (ties: the larger old group, then the smaller id), so a pair
    /// that breaks up while one of them joins someone else carries its id along. Parts left
    /// without an old id get fresh ones.
    fn finish(&mut self, tx: Tx) -> GroupDiff {
        let mut diff = GroupDiff::default();
        if tx.before.is_empty() {
            return diff;
        }
        let mut parts: Vec<BTreeSet<Member>> = tx.before.keys().filter_map(|g| self.groups.remove(g)).collect();
        parts.sort_by_key(|p| p.first().copied());
        let old: Vec<(GroupId, &BTreeSet<Member>)> = tx
            .before
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(g, m)| (*g, m))
            .collect();
        let mut pairs: Vec<(usize, usize, usize, GroupId)> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            for (g, members) in &old {
                let overlap = part.intersection(members).count();
                if overlap > 0 {
                    pairs.push((overlap, members.len(), i, *g));
                }
            }
        }
        pairs.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(b.1.cmp(&a.1))
                .then(a.3.cmp(&b.3))
                .then(a.2.cmp(&b.2))
        });
        let mut id_of: Vec<Option<GroupId>> = vec![None; parts.len()];
        let mut used = BTreeSet::new();
        for (_, _, i, g) in pairs {
            if id_of[i].is_none() && used.insert(g) {
                id_of[i] = Some(g);
            }
        }
        self.next_id = tx.first_new_id;
        for (i, part) in parts.into_iter().enumerate() {
            let g = id_of[i].unwrap_or_else(|| {
                let g = self.next_id;
                self.next_id += 1;
                g
            });
            for m in &part {
                self.group_of.insert(*m, g);
            }
            let before = tx
                .before
                .get(&g)
                .filter(|_| g < tx.first_new_id)
                .cloned()
                .unwrap_or_default();
            if before != part {
                diff.changed.push((g, before, part.clone()));
            }
            self.groups.insert(g, part);
        }
        for (g, members) in old {
            if g < tx.first_new_id && !self.groups.contains_key(&g) {
                diff.closed.push((g, members.clone()));
            }
        }
        diff
    }
}

/// What one update has touched so far.
struct Tx {
    /// The first id this update may hand out.
    first_new_id: GroupId,
    /// Each touched group as it was before the update (empty for groups it created).
    before: BTreeMap<GroupId, BTreeSet<Member>>,
    /// Members whose neighbourhood must be brought back to the rule.
    work: BTreeSet<Member>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f64, y: f64) -> Position {
        Position { x, y }
    }

    #[test]
    fn a_pair_in_the_hysteresis_band_parts_when_asked_and_meets_again_within_the_radius() {
        let mut p = ProximityGroups::new(ProximityConfig::default());
        p.set_position(1, at(0.0, 0.0));
        p.set_position(2, at(100.0, 0.0));
        p.set_position(3, at(60.0, 60.0));
        assert_eq!(p.groups().len(), 1);
        // A claim about someone within the radius is ignored.
        assert!(p.part(1, 3).is_empty());
        // 2 walks to 170 px from 1: still near (hysteresis), and still near 3, so parting 1
        // from 2 keeps the three together through 3.
        p.set_position(2, at(170.0, 0.0));
        assert!(p.are_near(1, 2));
        assert!(p.part(1, 2).is_empty());
        assert!(!p.are_near(1, 2));
        assert_eq!(p.groups().len(), 1);
        // Without 3, the pair's group closes.
        p.set_position(3, at(60.0, 50.0));
        p.set_position(2, at(100.0, 0.0));
        p.remove(3);
        p.set_position(2, at(170.0, 0.0));
        assert!(p.are_near(1, 2) && p.group_of(1).is_some());
        let d = p.part(1, 2);
        assert_eq!(d.closed.len(), 1, "{d:?}");
        assert_eq!((p.group_of(1), p.group_of(2)), (None, None));
        // Within the band they stay apart; within the radius they meet again.
        p.set_position(2, at(160.0, 0.0));
        assert!(!p.are_near(1, 2));
        p.set_position(2, at(140.0, 0.0));
        assert!(p.are_near(1, 2));
    }

    #[test]
    fn a_pair_kept_near_in_the_hysteresis_band_groups_and_parts_beyond_it() {
        let mut g = ProximityGroups::new(ProximityConfig::default());
        g.set_position(1, at(0.0, 0.0));
        g.set_position(2, at(170.0, 0.0));
        assert_eq!(g.group_of(1), None, "170 px: too far to meet");
        let d = g.keep_near(1, 2);
        assert_eq!(d.changed.len(), 1, "one group made");
        assert_eq!(g.group_of(1), g.group_of(2));
        assert!(g.keep_near(1, 2).is_empty(), "already near");
        g.set_position(3, at(0.0, 500.0));
        assert!(g.keep_near(1, 3).is_empty(), "beyond the leave radius");
        assert_eq!(g.group_of(3), None);
        g.set_position(2, at(185.0, 0.0));
        assert_eq!(g.group_of(1), None, "past the leave radius they part as usual");
    }

    #[test]
    fn two_users_group_and_part_with_hysteresis() {
        let mut p = ProximityGroups::new(ProximityConfig::default());
        assert!(p.set_position(1, at(0.0, 0.0)).is_empty());
        let d = p.set_position(2, at(140.0, 0.0));
        assert_eq!(d.changed.len(), 1);
        let g = p.group_of(1).unwrap();
        assert_eq!(p.group_of(2), Some(g));
        // 170 px apart: beyond the radius but within 1.2×, still together.
        assert!(p.set_position(2, at(170.0, 0.0)).is_empty());
        assert_eq!(p.group_of(2), Some(g));
        let d = p.set_position(2, at(200.0, 0.0));
        assert_eq!(d.closed, vec![(g, BTreeSet::from([1, 2]))]);
        assert_eq!(p.group_of(1), None);
    }

    #[test]
    fn merge_keeps_the_larger_groups_id_and_split_keeps_it_for_the_larger_part() {
        let mut p = ProximityGroups::new(ProximityConfig::default());
        // Group A: 1,2,3 in a row; group B: 10,11.
        p.set_position(1, at(0.0, 0.0));
        p.set_position(2, at(100.0, 0.0));
        p.set_position(3, at(200.0, 0.0));
        let a = p.group_of(1).unwrap();
        p.set_position(10, at(600.0, 0.0));
        p.set_position(11, at(700.0, 0.0));
        let b = p.group_of(10).unwrap();
        assert_ne!(a, b);
        // 12 bridges 3 and 10.
        let d = p.set_position(12, at(400.0, 0.0));
        assert!(d.is_empty(), "12 is alone at 400");
        p.set_position(12, at(300.0, 0.0));
        assert_eq!(p.group_of(12), Some(a));
        let d = p.set_position(10, at(420.0, 0.0));
        assert_eq!(p.group_of(10), Some(a), "merged into the larger group");
        assert!(d.closed.iter().any(|(g, _)| *g == b) || p.members(b).is_some_and(|m| m.contains(&11)));
        // Cut the chain: 1,2,3 keep `a` (larger part).
        p.set_position(12, at(1200.0, 0.0));
        assert_eq!(p.group_of(1), Some(a));
        assert_ne!(p.group_of(10), Some(a));
    }

    #[test]
    fn ids_compare_as_numbers() {
        let mut p = ProximityGroups::new(ProximityConfig::default());
        let mut x = 0.0;
        for pair in 0..12u32 {
            p.set_position(pair * 2, at(x, 0.0));
            p.set_position(pair * 2 + 1, at(x + 10.0, 0.0));
            x += 1000.0;
        }
        // Groups 1..=12 exist; merging group 10 and 9 keeps... the larger, ties to the smaller id.
        let g9 = p.group_of(16).unwrap();
        let g10 = p.group_of(18).unwrap();
        assert_eq!((g9, g10), (9, 10));
        p.set_position(18, at(8000.0 + 100.0, 0.0));
        p.set_position(19, at(8000.0 + 120.0, 0.0));
        assert_eq!(p.group_of(18), Some(9), "9 < 10 numerically");
    }

    #[test]
    fn large_crowds_are_split_at_the_cap() {
        let mut p = ProximityGroups::new(ProximityConfig {
            max_group: 4,
            ..Default::default()
        });
        for m in 0..10u32 {
            p.set_position(m, at(f64::from(m) * 10.0, 0.0));
        }
        for members in p.groups().values() {
            assert!(members.len() <= 4 && members.len() >= 2);
        }
        let grouped: usize = p.groups().values().map(|g| g.len()).sum();
        assert!(grouped >= 8);
    }

    #[test]
    fn removal_closes_a_pair_and_reports_it_once() {
        let mut p = ProximityGroups::new(ProximityConfig::default());
        p.set_position(1, at(0.0, 0.0));
        p.set_position(2, at(10.0, 0.0));
        let g = p.group_of(1).unwrap();
        let d = p.remove(2);
        assert_eq!(d.closed, vec![(g, BTreeSet::from([1, 2]))]);
        assert!(d.changed.is_empty());
        assert!(p.groups().is_empty());
    }

    #[test]
    fn walking_past_a_full_group_leaves_it_as_it_is() {
        let mut p = ProximityGroups::new(ProximityConfig {
            max_group: 3,
            ..Default::default()
        });
        for m in 0..3u32 {
            p.set_position(m, at(f64::from(m) * 40.0, 0.0));
        }
        let g = p.group_of(0).unwrap();
        assert_eq!(p.members(g).unwrap().len(), 3);
        // 9 walks along the group, near all of it: the full group does not change.
        for step in 0..10 {
            let d = p.set_position(9, at(f64::from(step) * 10.0, 60.0));
            assert!(d.changed.iter().all(|(id, _, _)| *id != g), "step {step}: {d:?}");
            assert!(d.closed.is_empty());
        }
        assert_eq!(p.members(g).unwrap(), &BTreeSet::from([0, 1, 2]));
        assert_eq!(p.group_of(9), None, "no room, and nobody else to pair with");
        // Once someone leaves, 9 takes the place.
        let d = p.remove(2);
        assert_eq!(
            d.changed,
            vec![(g, BTreeSet::from([0, 1, 2]), BTreeSet::from([0, 1, 9]))]
        );
    }
}
