//! Server-decided proximity: who is near whom, and the groups (media rooms) that follow.
//!
//! Two users are *near* when their distance is at most the radius; once near, they stay near
//! until the distance exceeds the leave radius (hysteresis, so people standing at the edge do
//! not flicker in and out). A *group* is a connected component of the near-graph with at least
//! two users, capped at a maximum size (a larger component is split into parts). Group ids
//! are numeric and stable: when components merge or split, the part holding most of an old
//! group keeps its id; the rest get new ids or close.
//!
//! The structure is incremental: a move updates only the mover's edges (found through a
//! spatial hash), and only components touching changed edges are recomputed.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

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
    positions: HashMap<Member, Position>,
    cells: HashMap<(i64, i64), BTreeSet<Member>>,
    near: HashMap<Member, BTreeSet<Member>>,
    group_of: HashMap<Member, GroupId>,
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
            if oc != self.cell(&p)
                && let Some(set) = self.cells.get_mut(&oc)
            {
                set.remove(&m);
                if set.is_empty() {
                    self.cells.remove(&oc);
                }
            }
        }
        let c = self.cell(&p);
        self.cells.entry(c).or_default().insert(m);
        let mut dirty = BTreeSet::new();
        // Existing edges: keep within the leave radius.
        let current: Vec<Member> = self.near.get(&m).into_iter().flatten().copied().collect();
        for v in current {
            let d = self.positions[&v].distance(&p);
            if d > self.config.leave_radius {
                self.unlink(m, v);
                dirty.insert(v);
            }
        }
        // New edges: within the radius.
        for dx in -1..=1 {
            for dy in -1..=1 {
                let Some(set) = self.cells.get(&(c.0 + dx, c.1 + dy)) else {
                    continue;
                };
                let candidates: Vec<Member> = set.iter().copied().filter(|v| *v != m).collect();
                for v in candidates {
                    if !self.are_near(m, v) && self.positions[&v].distance(&p) <= self.config.radius {
                        self.link(m, v);
                        dirty.insert(v);
                    }
                }
            }
        }
        if dirty.is_empty() {
            return GroupDiff::default();
        }
        dirty.insert(m);
        self.regroup(dirty)
    }

    /// Takes a member out (left, or entered a conference) and returns the group changes.
    pub fn remove(&mut self, m: Member) -> GroupDiff {
        let Some(p) = self.positions.remove(&m) else {
            return GroupDiff::default();
        };
        let c = self.cell(&p);
        if let Some(set) = self.cells.get_mut(&c) {
            set.remove(&m);
            if set.is_empty() {
                self.cells.remove(&c);
            }
        }
        let mut dirty: BTreeSet<Member> = self.near.remove(&m).unwrap_or_default();
        for v in &dirty {
            if let Some(s) = self.near.get_mut(v) {
                s.remove(&m);
            }
        }
        let old_group = self.group_of.get(&m).copied();
        if let Some(g) = old_group {
            dirty.extend(self.groups[&g].iter().copied().filter(|x| *x != m));
        }
        // Take m out of its group by hand, then regroup the rest.
        let mut diff = GroupDiff::default();
        if let Some(g) = old_group {
            let before = self.groups[&g].clone();
            self.group_of.remove(&m);
            let mut after = before.clone();
            after.remove(&m);
            self.groups.insert(g, after);
            let mut rest = self.regroup(dirty);
            // Report g once, from its state before m left.
            if let Some(pos) = rest.changed.iter().position(|(id, _, _)| *id == g) {
                rest.changed[pos].1 = before;
            } else if let Some(pos) = rest.closed.iter().position(|(id, _)| *id == g) {
                rest.closed[pos].1 = before;
            } else {
                let now = self.groups[&g].clone();
                rest.changed.push((g, before, now));
            }
            diff = rest;
        } else if !dirty.is_empty() {
            diff = self.regroup(dirty);
        }
        diff
    }

    fn link(&mut self, a: Member, b: Member) {
        self.near.entry(a).or_default().insert(b);
        self.near.entry(b).or_default().insert(a);
    }

    fn unlink(&mut self, a: Member, b: Member) {
        if let Some(s) = self.near.get_mut(&a) {
            s.remove(&b);
            if s.is_empty() {
                self.near.remove(&a);
            }
        }
        if let Some(s) = self.near.get_mut(&b) {
            s.remove(&a);
            if s.is_empty() {
                self.near.remove(&b);
            }
        }
    }

    fn component(&self, start: Member, seen: &mut BTreeSet<Member>) -> Vec<Member> {
        let mut out = Vec::new();
        let mut q = VecDeque::from([start]);
        seen.insert(start);
        while let Some(x) = q.pop_front() {
            out.push(x);
            for y in self.near.get(&x).into_iter().flatten() {
                if seen.insert(*y) {
                    q.push_back(*y);
                }
            }
        }
        out
    }

    /// Recomputes the groups of every component touching `dirty` (and of the old groups of
    /// those members), keeping ids stable.
    fn regroup(&mut self, dirty: BTreeSet<Member>) -> GroupDiff {
        // Close the affected set under "same component" and "same old group".
        let mut affected: BTreeSet<Member> = BTreeSet::new();
        let mut components: Vec<Vec<Member>> = Vec::new();
        let mut queue: Vec<Member> = dirty.into_iter().filter(|m| self.positions.contains_key(m)).collect();
        let mut old_groups: BTreeSet<GroupId> = BTreeSet::new();
        while let Some(m) = queue.pop() {
            if affected.contains(&m) {
                continue;
            }
            let comp = self.component(m, &mut affected);
            for x in &comp {
                if let Some(g) = self.group_of.get(x)
                    && old_groups.insert(*g)
                {
                    queue.extend(self.groups[g].iter().copied().filter(|y| !affected.contains(y)));
                }
            }
            components.push(comp);
        }
        // Old groups can also contain members no longer placed (removed by `remove`).
        let before: BTreeMap<GroupId, BTreeSet<Member>> =
            old_groups.iter().map(|g| (*g, self.groups[g].clone())).collect();
        // Split components into parts of at most max_group, seeded by old groups.
        let mut parts: Vec<BTreeSet<Member>> = Vec::new();
        for comp in components {
            if comp.len() < 2 {
                continue;
            }
            parts.extend(self.split(&comp));
        }
        parts.retain(|p| p.len() >= 2);
        // Stable ids: the part with the largest overlap keeps an old id.
        let mut pairs: Vec<(usize, usize, GroupId)> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            for (g, members) in &before {
                let overlap = part.intersection(members).count();
                if overlap > 0 {
                    pairs.push((overlap, i, *g));
                }
            }
        }
        pairs.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(before[&b.2].len().cmp(&before[&a.2].len()))
                .then(a.2.cmp(&b.2))
                .then(a.1.cmp(&b.1))
        });
        let mut id_of_part: Vec<Option<GroupId>> = vec![None; parts.len()];
        let mut used: BTreeSet<GroupId> = BTreeSet::new();
        for (_, i, g) in pairs {
            if id_of_part[i].is_none() && !used.contains(&g) {
                id_of_part[i] = Some(g);
                used.insert(g);
            }
        }
        // Apply.
        for g in &old_groups {
            for m in &self.groups[g] {
                if self.group_of.get(m) == Some(g) {
                    self.group_of.remove(m);
                }
            }
            self.groups.remove(g);
        }
        let mut diff = GroupDiff::default();
        for (i, part) in parts.into_iter().enumerate() {
            let id = match id_of_part[i] {
                Some(g) => g,
                None => {
                    let g = self.next_id;
                    self.next_id += 1;
                    g
                }
            };
            for m in &part {
                self.group_of.insert(*m, id);
            }
            let old = before.get(&id).cloned().unwrap_or_default();
            if old != part {
                diff.changed.push((id, old, part.clone()));
            }
            self.groups.insert(id, part);
        }
        for (g, members) in before {
            if !used.contains(&g) {
                diff.closed.push((g, members));
            }
        }
        diff
    }

    /// Splits one component into parts of at most `max_group`: old groups keep as many of
    /// their members as fit, then the rest join an adjacent part with room, or start one.
    fn split(&self, comp: &[Member]) -> Vec<BTreeSet<Member>> {
        let max = self.config.max_group;
        let in_comp: BTreeSet<Member> = comp.iter().copied().collect();
        if comp.len() <= max {
            return vec![in_comp];
        }
        let mut parts: Vec<BTreeSet<Member>> = Vec::new();
        let mut placed: BTreeSet<Member> = BTreeSet::new();
        let mut seeds: Vec<(usize, GroupId)> = Vec::new();
        let mut seen_groups = BTreeSet::new();
        for m in comp {
            if let Some(g) = self.group_of.get(m)
                && seen_groups.insert(*g)
            {
                seeds.push((self.groups[g].intersection(&in_comp).count(), *g));
            }
        }
        seeds.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, g) in seeds {
            let part: BTreeSet<Member> = self.groups[&g]
                .iter()
                .copied()
                .filter(|m| in_comp.contains(m) && !placed.contains(m))
                .take(max)
                .collect();
            if part.len() >= 2 {
                placed.extend(part.iter().copied());
                parts.push(part);
            }
        }
        // Remaining members in BFS order from the smallest id.
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for m in comp.iter().copied().collect::<BTreeSet<_>>() {
            if seen.contains(&m) {
                continue;
            }
            for x in self.component(m, &mut seen) {
                if in_comp.contains(&x) {
                    order.push(x);
                }
            }
        }
        for m in order {
            if placed.contains(&m) {
                continue;
            }
            let nb: BTreeSet<Member> = self.neighbours(m).collect();
            let target = parts
                .iter()
                .position(|p| p.len() < max && p.iter().any(|x| nb.contains(x)));
            match target {
                Some(i) => {
                    parts[i].insert(m);
                }
                None => parts.push(BTreeSet::from([m])),
            }
            placed.insert(m);
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f64, y: f64) -> Position {
        Position { x, y }
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
}
