//! Proximity groups: telling each member what changed in its group (`WIRE_PLAYER`,
//! `UNWIRE_PLAYER`, `GROUPS_SNAPSHOT`, `CLOSE_ROOM`) and the media layer, and the clients'
//! proximity claims.

use std::collections::{BTreeSet, HashMap};

use super::{MediaCommand, MediaRole, Output, SessionId, WorldEngine};
use crate::protocol::{ServerMessage, WireId};
use crate::proximity::{GroupDiff, GroupId};

/// A group and its members.
type Membership = (GroupId, BTreeSet<u32>);
/// Each member's group, on one side of a change.
type Sides = HashMap<u32, Membership>;

impl WorldEngine {
    /// `UNWIRE_PLAYER`: a claim that the client parted from these users.
    pub(super) fn unwire_player(&mut self, slot: u32, session: SessionId, users_id: Vec<WireId>) {
        // The original client closes its media for people it sees beyond the radius;
        // those still in the hysteresis band part here too, so both sides agree.
        if !self.parts_on_claim(slot, &users_id) {
            self.send_proximity_truth(slot, session);
        }
    }

    /// Applies an `UNWIRE_PLAYER` claim: the claimant parts from each named user it is still
    /// near but who is beyond the radius (the groups re-form from what is left, and everyone
    /// affected is told as after a move). True when any pair parted.
    fn parts_on_claim(&mut self, slot: u32, ids: &[WireId]) -> bool {
        let mut parted = false;
        for id in ids {
            let Some(other) = self.slot_by_wire(id).filter(|o| *o != slot) else {
                continue;
            };
            let diff = self.proximity.part(slot, other);
            if !diff.is_empty() {
                self.apply_diff(diff, None);
                parted = true;
            }
        }
        parted
    }

    /// Proximity claims are hints: the answer is the server's truth, so the client resyncs.
    pub(super) fn send_proximity_truth(&mut self, slot: u32, session: SessionId) {
        let co: Vec<String> = self.co_members(slot).into_iter().map(|s| self.uid(s)).collect();
        self.send(session, &ServerMessage::WirePlayer { merge: false, ids: co });
        let groups = self.rooms(slot);
        self.send(session, &ServerMessage::GroupsSnapshot { groups });
    }

    /// Tells every affected user what changed in its group, and the media layer too.
    /// `gone` is a player being removed (it gets no messages).
    pub(super) fn apply_diff(&mut self, diff: GroupDiff, gone: Option<u32>) {
        if diff.is_empty() {
            return;
        }
        let (before, after, closed) = Self::sides(&diff);
        let mut affected: BTreeSet<u32> = before.keys().copied().collect();
        affected.extend(after.keys().copied());
        for x in affected {
            if !self.players.contains_key(&x) {
                continue;
            }
            self.apply_member_diff(x, before.get(&x), after.get(&x), &closed, gone);
        }
        for g in closed {
            self.out
                .push(Output::Media(MediaCommand::Destroy { room: g.to_string() }));
        }
    }

    /// Each member's group before and after `diff`, and the groups it closes.
    fn sides(diff: &GroupDiff) -> (Sides, Sides, Vec<GroupId>) {
        let mut before: Sides = HashMap::new();
        let mut after: Sides = HashMap::new();
        let mut closed: Vec<GroupId> = Vec::new();
        for (g, members) in &diff.closed {
            closed.push(*g);
            for m in members {
                before.insert(*m, (*g, members.clone()));
            }
        }
        for (g, old, new) in &diff.changed {
            for m in old {
                before.insert(*m, (*g, old.clone()));
            }
            for m in new {
                after.insert(*m, (*g, new.clone()));
            }
        }
        (before, after, closed)
    }

    /// Tells member `x` (and the media layer) how its group changed.
    fn apply_member_diff(
        &mut self,
        x: u32,
        old: Option<&Membership>,
        new: Option<&Membership>,
        closed: &[GroupId],
        gone: Option<u32>,
    ) {
        let old_g = old.map(|o| o.0);
        let new_g = new.map(|n| n.0);
        let old_co: BTreeSet<u32> = old
            .map(|o| o.1.iter().copied().filter(|m| *m != x).collect())
            .unwrap_or_default();
        let new_co: BTreeSet<u32> = new
            .map(|n| n.1.iter().copied().filter(|m| *m != x).collect())
            .unwrap_or_default();
        if old_g != new_g {
            self.switch_group_media(x, old_g, new_g, closed, gone);
        }
        if Some(x) == gone {
            return;
        }
        let removed: Vec<String> = old_co
            .difference(&new_co)
            .filter(|m| self.players.contains_key(m))
            .map(|m| self.uid(*m))
            .collect();
        let removed_gone: Vec<String> = old_co
            .difference(&new_co)
            .filter(|m| Some(**m) == gone)
            .map(|m| self.uid(*m))
            .collect();
        // Nearest first: a newcomer's client connects media in this order.
        let mut added: Vec<u32> = new_co.difference(&old_co).copied().collect();
        if let Some(here) = self.players[&x].position {
            let dist = |m: &u32| self.players[m].position.map_or(f64::INFINITY, |p| p.distance(&here));
            added.sort_by(|a, b| dist(a).total_cmp(&dist(b)));
        }
        let added: Vec<String> = added.into_iter().map(|m| self.uid(m)).collect();
        let removed: Vec<String> = removed
            .into_iter()
            .chain(removed_gone)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !removed.is_empty() {
            self.send_to_slot(
                x,
                &ServerMessage::UnwirePlayer {
                    merge: true,
                    ids: removed,
                },
            );
        }
        if !added.is_empty() {
            self.send_to_slot(
                x,
                &ServerMessage::WirePlayer {
                    merge: true,
                    ids: added,
                },
            );
        }
        if old_g != new_g {
            let groups = self.rooms(x);
            self.send_to_slot(x, &ServerMessage::GroupsSnapshot { groups });
        }
    }

    /// Member `x` moved from group `old_g` to `new_g`: its media rooms follow, and it hears
    /// that the old room closed (`CLOSE_ROOM`).
    fn switch_group_media(
        &mut self,
        x: u32,
        old_g: Option<GroupId>,
        new_g: Option<GroupId>,
        closed: &[GroupId],
        gone: Option<u32>,
    ) {
        if let Some(g) = old_g {
            if !closed.contains(&g) {
                self.media_leave(x, g.to_string());
            }
            if Some(x) != gone {
                self.send_to_slot(x, &ServerMessage::CloseRoom { group: g.to_string() });
            }
        }
        if let Some(g) = new_g {
            let role = if self.players[&x].profile.role.flags.talk {
                MediaRole::Speaker
            } else {
                MediaRole::Listener
            };
            self.media_join(x, g.to_string(), role);
        }
    }
}
