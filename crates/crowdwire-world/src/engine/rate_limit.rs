//! Rate limiting: a token bucket per connection; refused frames count as strikes, and too many
//! end the session.

use super::{Clock, Output, SessionId, WorldEngine};
use crate::protocol::{Reason, ServerMessage};

#[derive(Debug)]
pub(super) struct Bucket {
    tokens: f64,
    at: u64,
    strikes: u32,
    strike_window: u64,
}

impl Bucket {
    /// A full bucket, as of `at` (clock ms).
    pub(super) fn new(tokens: f64, at: u64) -> Bucket {
        Bucket {
            tokens,
            at,
            strikes: 0,
            strike_window: at,
        }
    }
}

impl WorldEngine {
    /// Token bucket per connection. Refused frames count as strikes; too many end the session.
    pub(super) fn admit(&mut self, clock: Clock, slot: u32, session: SessionId, invalid: bool) -> bool {
        let (rate, burst, max_strikes) = (
            self.config.rate_per_sec,
            self.config.rate_burst,
            self.config.abuse_strikes,
        );
        let p = self.players.get_mut(&slot).expect("session indexed to a player");
        let b = &mut p.bucket;
        let elapsed = clock.ms.saturating_sub(b.at) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = clock.ms;
        if clock.ms.saturating_sub(b.strike_window) > 10_000 {
            b.strikes = 0;
            b.strike_window = clock.ms;
        }
        let limited = b.tokens < 1.0;
        if !limited {
            b.tokens -= 1.0;
        }
        if limited || invalid {
            b.strikes += 1;
        }
        let strikes = b.strikes;
        if strikes > max_strikes {
            self.send(
                session,
                &ServerMessage::Kicked {
                    d: Reason {
                        reason: "Too many invalid or rate-limited messages.".into(),
                    },
                },
            );
            self.out.push(Output::Close {
                session,
                code: 1008,
                reason: "rate limit".into(),
            });
            self.by_session.remove(&session);
            self.players.get_mut(&slot).expect("still present").session = None;
            self.leave(slot);
            return false;
        }
        if limited {
            // One notice per burst of refusals is enough.
            if strikes == 1 || strikes.is_multiple_of(10) {
                self.send(session, &ServerMessage::error(None, "rate limit exceeded: slow down"));
            }
            return false;
        }
        true
    }
}
