//! Rate limits of the endpoints that create identities, check passwords or do heavy work.
//!
//! The model (documented in SECURITY.md):
//! - **Per client address**, one token bucket for sign-ups, guest tokens, log-ins and Google
//!   sign-ins: `auth_rate_per_minute` tokens a minute, holding up to `auth_burst`, so a class
//!   or a venue behind one NAT can arrive at once. A failed log-in costs
//!   [`FAILURE_COST`] tokens, a success one. Refreshing a valid token costs nothing; a refresh
//!   with a bad token counts as a failure.
//! - **Per account** (the e-mail, case-insensitively), log-in attempts:
//!   `login_attempts_per_account` in a row, then one more a minute, so guessing one account's password from many
//!   addresses is as slow as from one. (While someone hammers an account, its owner is refused
//!   too, for minutes at most after it stops; that is the price of the bound.)
//! - **Per user**, world edits (`PUT /worlds/{id}`): `world_edits_per_minute`, with that many in
//!   a burst; each may carry a map that has to be parsed.
//!
//! Buckets are per replica and in memory; idle ones are forgotten.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota};

use crate::state::ApiSettings;

/// Tokens a failed log-in (or a refresh with a bad token) takes from its address's bucket.
pub const FAILURE_COST: u32 = 5;

/// One more log-in attempt is allowed per account after this long.
pub const ACCOUNT_REFILL: Duration = Duration::from_secs(60);

/// A keyed token bucket.
pub struct Bucket<K: Hash + Eq + Clone> {
    inner: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    /// `per_minute` tokens a minute (at least one), holding up to `burst` (at least one).
    pub fn per_minute(per_minute: u32, burst: u32) -> Bucket<K> {
        let rate = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Bucket {
            inner: DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)),
        }
    }

    /// One token every `period`, holding up to `burst`.
    pub fn every(period: Duration, burst: u32) -> Bucket<K> {
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Bucket {
            inner: DefaultKeyedRateLimiter::keyed(quota),
        }
    }

    /// Takes one token; false when the bucket is empty.
    pub fn check(&self, key: K) -> bool {
        let ok = self.inner.check_key(&key).is_ok();
        if self.inner.len() > 100_000 {
            self.inner.retain_recent();
        }
        ok
    }

    /// Takes up to `n` more tokens, as many as are left (an extra charge after the fact).
    pub fn charge(&self, key: &K, n: u32) {
        for _ in 0..n {
            if self.inner.check_key(key).is_err() {
                break;
            }
        }
    }
}

/// Every rate limit of the API.
pub struct Limits {
    /// Per client address: sign-ups, guest tokens, log-ins, Google sign-ins.
    pub address: Bucket<IpAddr>,
    /// Per account (lower-cased e-mail): log-in attempts.
    pub account: Bucket<String>,
    /// Per user: world edits.
    pub world_edits: Bucket<i64>,
}

impl Limits {
    /// The limits for these settings.
    pub fn new(s: &ApiSettings) -> Limits {
        Limits {
            address: Bucket::per_minute(s.auth_rate_per_minute, s.auth_burst),
            account: Bucket::every(ACCOUNT_REFILL, s.login_attempts_per_account),
            world_edits: Bucket::per_minute(s.world_edits_per_minute, s.world_edits_per_minute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let b: Bucket<u8> = Bucket::per_minute(1, 3);
        assert!(b.check(1) && b.check(1) && b.check(1));
        assert!(!b.check(1), "the burst is spent");
        assert!(b.check(2), "keys are independent");
    }

    #[test]
    fn a_charge_takes_what_is_left() {
        let b: Bucket<u8> = Bucket::per_minute(1, 6);
        assert!(b.check(1));
        b.charge(&1, FAILURE_COST - 1);
        assert!(b.check(1), "one left of six");
        assert!(!b.check(1));
        b.charge(&1, 10);
    }
}
