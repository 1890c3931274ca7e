//! Per-client-IP rate limiting of the endpoints that create identities or check passwords
//! (sign-up, log-in, guest tokens, refresh, Google sign-in).

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota};

/// A keyed token bucket: `per_minute` requests per IP, with that many in a burst.
pub struct RateLimiter {
    inner: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per minute per IP (at least one).
    pub fn per_minute(per_minute: u32) -> RateLimiter {
        let n = NonZeroU32::new(per_minute.max(1)).expect("max(1) is non-zero");
        RateLimiter {
            inner: DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// True when `ip` may make one more request now.
    pub fn check(&self, ip: IpAddr) -> bool {
        let ok = self.inner.check_key(&ip).is_ok();
        if self.inner.len() > 100_000 {
            self.inner.retain_recent();
        }
        ok
    }
}
