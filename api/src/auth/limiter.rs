//! A token bucket per caller (API key or token subject), on this instance:
//! `per_second` requests a second sustained, bursts of up to `burst`. A
//! caller over its budget gets RATE_LIMITED (HTTP 429) with the seconds to
//! wait in `Retry-After` and `extensions.retryAfter`. `Open` callers (no
//! credentials configured: the loopback default) are not limited.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::Principal;

/// The budget each caller gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Clone)]
pub struct RateLimiter {
    buckets: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl RateLimiter {
    /// `per_second` 0 turns limiting off.
    pub fn new(limit: RateLimit) -> Self {
        let buckets = NonZeroU32::new(limit.per_second).map(|rate| {
            let burst = NonZeroU32::new(limit.burst).unwrap_or(rate);
            let limiter = Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ));
            tokio::spawn(forget_idle(Arc::downgrade(&limiter)));
            limiter
        });
        Self { buckets }
    }

    /// `Err(wait)` when `caller` must wait before its next request.
    pub fn check(&self, caller: &Principal) -> Result<(), Duration> {
        let Some(buckets) = &self.buckets else { return Ok(()) };
        if *caller == Principal::Open {
            return Ok(());
        }
        buckets
            .check_key(&caller.label())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Drops the buckets of callers that have been idle long enough to be full
/// again, so memory follows the active callers, not every caller ever seen.
async fn forget_idle(limiter: std::sync::Weak<DefaultKeyedRateLimiter<String>>) {
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let Some(limiter) = limiter.upgrade() else { return };
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}
