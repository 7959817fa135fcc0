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
    buckets: Option<Arc<DefaultKeyedRateLimiter<Principal>>>,
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
        self.check_n(caller, 1)
    }

    /// Charges `n` operations at once (a JSON batch pays for each of its
    /// operations): all or none. `Err(wait)` when the caller must wait; a
    /// batch larger than the whole burst can never pass and waits a second.
    pub fn check_n(&self, caller: &Principal, n: usize) -> Result<(), Duration> {
        let Some(buckets) = &self.buckets else { return Ok(()) };
        if *caller == Principal::Open {
            return Ok(());
        }
        let n = NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        match buckets.check_key_n(caller, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
            Err(_insufficient) => Err(Duration::from_secs(1)),
        }
    }
}

/// The whole seconds a limited caller is told to wait (at least one).
pub fn retry_after(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// RATE_LIMITED, with the seconds to wait in `extensions.retryAfter`.
pub fn rate_limited(wait: Duration) -> async_graphql::Error {
    use async_graphql::ErrorExtensions;
    let seconds = retry_after(wait);
    async_graphql::Error::new(format!("rate limit reached; retry in {seconds} s")).extend_with(|_, e| {
        e.set("code", service::ErrorCode::RateLimited.as_str());
        e.set("retryAfter", seconds);
    })
}

/// Drops the buckets of callers that have been idle long enough to be full
/// again, so memory follows the active callers, not every caller ever seen.
async fn forget_idle(limiter: std::sync::Weak<DefaultKeyedRateLimiter<Principal>>) {
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let Some(limiter) = limiter.upgrade() else { return };
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}
