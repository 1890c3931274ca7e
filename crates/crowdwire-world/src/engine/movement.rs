//! Movement: spawning, moves and heartbeat positions (speed and wall checks), who hears of
//! them (the interest grid), and the turn's batch of movements.

use super::{Clock, Frame, MoveBatch, Output, SessionId, WorldEngine};
use crate::protocol::{JoinedUser, Position, RoleSummary, ServerMessage, Velocity};

/// The longest idle spell that counts towards how far the next move may go, in seconds.
const MAX_IDLE_ALLOWANCE_S: f64 = 1.0;

/// A movement accepted this turn and not yet sent.
#[derive(Debug)]
pub(super) struct PendingMove {
    /// The mover (`None` once it left the world).
    pub(super) slot: Option<u32>,
    /// Those whose area of interest contained the mover's latest announced position.
    pub(super) receivers: Vec<u32>,
}

/// Who hears about an accepted position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Announce {
    /// Everyone whose area of interest contains the mover (a movement).
    Everyone,
    /// Only users for whom the mover just came into view (a heartbeat position).
    InView,
    /// Nobody: a spawn, already announced with `JOIN_PLAYER`.
    Spawn,
}

impl WorldEngine {
    /// `PING`: answered at once; a position it carries is a heartbeat of where the player stands.
    pub(super) fn ping(&mut self, clock: Clock, slot: u32, session: SessionId, position: Option<Position>) {
        self.out.push(Output::Send {
            to: session,
            frame: Frame::raw("PONG"),
        });
        if let Some(pos) = position
            && self.players[&slot].spawned
            && self.players[&slot].profile.role.flags.walk
            && self.players[&slot].position != Some(pos)
            && self.validate_move(clock, slot, &pos).is_ok()
        {
            self.move_to(clock, slot, pos, Velocity::default(), Announce::InView);
        }
    }

    /// `PLAYER_MOVEMENT`: a move, checked, then announced at the turn's flush.
    pub(super) fn player_movement(
        &mut self,
        clock: Clock,
        slot: u32,
        session: SessionId,
        position: Position,
        velocity: Velocity,
    ) {
        if !self.players[&slot].spawned {
            return self.error(session, "PLAYER_MOVEMENT", "send JOIN_PLAYER first");
        }
        if !self.players[&slot].profile.role.flags.walk {
            return self.error(session, "PLAYER_MOVEMENT", "your role may not walk in this world");
        }
        match self.validate_move(clock, slot, &position) {
            Ok(()) => self.move_to(clock, slot, position, velocity, Announce::Everyone),
            Err(why) => self.error(session, "PLAYER_MOVEMENT", why),
        }
    }

    /// Sends the turn's movements: each mover's latest position, serialised once, to the
    /// receivers of its latest move (see [`MoveBatch`]).
    pub(super) fn flush_moves(&mut self) {
        let moves = std::mem::take(&mut self.moves);
        if moves.is_empty() {
            return;
        }
        let mut batch = MoveBatch::default();
        let mut touched: Vec<u32> = Vec::new();
        for m in moves {
            let Some(p) = m.slot.and_then(|s| self.players.get_mut(&s)) else {
                continue;
            };
            p.pending_move = None;
            let Some(position) = p.position else { continue };
            let moved = ServerMessage::PlayerMovement {
                user_id: p.profile.user_id.clone(),
                velocity: p.velocity,
                position,
            };
            let index = batch.frames.len() as u32;
            batch.frames.push(Frame {
                text: moved.to_json().into(),
                coalesce: Some(p.slot),
            });
            for r in m.receivers {
                let Some(rp) = self.players.get_mut(&r) else { continue };
                let Some(session) = rp.session else { continue };
                let ix = *rp.batch_ix.get_or_insert_with(|| {
                    touched.push(r);
                    batch.to.push((session, Vec::new()));
                    batch.to.len() - 1
                });
                batch.to[ix].1.push(index);
            }
        }
        for r in touched {
            if let Some(p) = self.players.get_mut(&r) {
                p.batch_ix = None;
            }
        }
        if !batch.to.is_empty() {
            self.out.push(Output::Moves(batch));
        }
    }

    /// Where the avatar's body centre is, from the container position the client sends.
    pub(super) fn body_centre(p: &Position) -> (f64, f64) {
        (p.x - 1.0, p.y + 15.0)
    }

    fn validate_move(&self, clock: Clock, slot: u32, to: &Position) -> Result<(), &'static str> {
        let p = &self.players[&slot];
        if !self.map.contains(to.x, to.y) {
            return Err("position outside the map");
        }
        let (bx, by) = Self::body_centre(to);
        if self.map.is_wall(bx, by) {
            return Err("position inside a wall");
        }
        if let Some(from) = p.position.filter(|_| !p.carried_position) {
            // Standing still earns no distance beyond a second's walk: the client reports a
            // change of velocity at once, so a long idle spell is no licence to jump.
            let dt = (clock.ms.saturating_sub(p.moved_at) as f64 / 1000.0).min(MAX_IDLE_ALLOWANCE_S);
            let allowed = self.config.max_speed * self.config.speed_slack * dt + self.config.jitter_px;
            if from.distance(to) > allowed {
                return Err("moved faster than walking speed");
            }
            if self
                .map
                .crosses_wall(Self::body_centre(&from), (bx, by), self.map.half_tile())
            {
                return Err("moved through a wall");
            }
        }
        Ok(())
    }

    pub(super) fn spawn(&mut self, clock: Clock, slot: u32, session: SessionId, requested: Option<Position>) {
        let fallback = Position { x: 50.0, y: 50.0 };
        let (spawned, current, walk) = {
            let p = &self.players[&slot];
            (p.spawned, p.position, p.profile.role.flags.walk)
        };
        // The first JOIN_PLAYER sets the spawn point anywhere in the map. A later one (a scene
        // restart, a reconnection) is a move like any other, so it cannot teleport.
        let moved = match (current.filter(|_| spawned), requested) {
            (None, requested) => {
                let map = &self.map;
                // Anywhere a walker from the spawn point could get to: not in a wall, not in a
                // room closed off by walls.
                let walkable = |p: &Position| {
                    let (bx, by) = Self::body_centre(p);
                    map.contains(p.x, p.y) && map.is_reachable(bx, by)
                };
                let refused = requested.is_some_and(|p| !walkable(&p));
                let at = requested.filter(walkable).unwrap_or(fallback);
                if refused {
                    self.error(
                        session,
                        "JOIN_PLAYER",
                        "position inside a wall, outside the map or in a room closed off by walls",
                    );
                }
                Some(at)
            }
            (Some(current), Some(r)) if r != current => {
                let check = if walk {
                    self.validate_move(clock, slot, &r)
                } else {
                    Err("your role may not walk in this world")
                };
                match check {
                    Ok(()) => Some(r),
                    Err(why) => {
                        self.error(session, "JOIN_PLAYER", why);
                        None
                    }
                }
            }
            (Some(_), _) => None,
        };
        let pos = moved.or(current).unwrap_or(fallback);
        self.players.get_mut(&slot).expect("present").spawned = true;
        // Everyone learns of the newcomer (with its position) before any group or movement
        // message names it.
        let p = &self.players[&slot];
        let user = JoinedUser {
            username: p.profile.username.clone(),
            avatar: p.profile.avatar.clone(),
            role: RoleSummary {
                role_id: p.profile.role.role_id,
                name: p.profile.role.name.clone(),
            },
            user_id: p.profile.user_id.clone(),
        };
        let others = self.everyone_but(slot);
        self.fanout(others, Frame::of(&ServerMessage::JoinPlayer { user, position: pos }));
        if let Some(pos) = moved {
            self.move_to(clock, slot, pos, Velocity::default(), Announce::Spawn);
        }
    }

    /// Where a player has probably got to: its last position carried along its last reported
    /// velocity (capped at the fastest legitimate speed) for the time since. The original
    /// client reports its position only when its velocity changes.
    pub(super) fn reckoned_position(&self, clock: Clock, slot: u32, from: Position) -> Position {
        let p = &self.players[&slot];
        let Velocity { x: vx, y: vy } = p.velocity;
        let speed = vx.hypot(vy);
        if !speed.is_finite() || speed <= 0.0 {
            return from;
        }
        let dt = clock.ms.saturating_sub(p.moved_at) as f64 / 1000.0;
        let k = speed.min(self.config.max_speed * self.config.speed_slack) / speed * dt;
        Position {
            x: from.x + vx * k,
            y: from.y + vy * k,
        }
    }

    /// Accepts a position: grid, interest notifications, movement broadcast, proximity.
    pub(super) fn move_to(&mut self, clock: Clock, slot: u32, pos: Position, velocity: Velocity, announce: Announce) {
        {
            let p = self.players.get_mut(&slot).expect("present");
            p.position = Some(pos);
            p.moved_at = clock.ms;
            p.velocity = velocity;
            p.carried_position = false;
            p.carried_group = None;
        }
        let sight = self.interest.place(slot, pos);
        let pending = self.players[&slot].pending_move;
        match announce {
            // Sent at the turn's flush, once, at the latest position (a second move in the
            // same turn replaces the first, and reaches who sees it now).
            Announce::Everyone => match pending {
                Some(i) => self.moves[i].receivers = sight.receivers,
                None if !sight.receivers.is_empty() => {
                    self.players.get_mut(&slot).expect("present").pending_move = Some(self.moves.len());
                    self.moves.push(PendingMove {
                        slot: Some(slot),
                        receivers: sight.receivers,
                    });
                }
                None => {}
            },
            Announce::InView if !sight.entered.is_empty() => {
                // Where the mover stands, to those who just got it in view (a waiting
                // movement of it will carry the same, latest, position).
                let moved = ServerMessage::PlayerMovement {
                    user_id: self.uid(slot),
                    velocity,
                    position: pos,
                };
                let frame = Frame {
                    text: moved.to_json().into(),
                    coalesce: Some(slot),
                };
                self.fanout(sight.entered.clone(), frame);
            }
            Announce::InView | Announce::Spawn => {}
        }
        // Newly in view: the mover learns where they are.
        if let Some(s) = self.players[&slot].session {
            for other in sight.entered {
                if let Some(op) = self.players[&other].position {
                    let m = ServerMessage::PlayerMovement {
                        user_id: self.uid(other),
                        velocity: Velocity::default(),
                        position: op,
                    };
                    self.out.push(Output::Send {
                        to: s,
                        frame: Frame {
                            text: m.to_json().into(),
                            coalesce: Some(other),
                        },
                    });
                }
            }
        }
        if self.players[&slot].conference.is_some() {
            self.check_conference_area(slot);
        } else {
            let diff = self.proximity.set_position(slot, pos);
            self.apply_diff(diff, None);
        }
    }
}
