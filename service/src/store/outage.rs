//! How a background worker (the sealer, the hold expiry, the subscription
//! poller) lives through a database outage: it backs off exponentially,
//! with jitter, from its own interval up to [`MAX_BACKOFF`], and logs one
//! line when the outage starts and one when it ends — not one per attempt.

use std::time::{Duration, Instant};

use crate::model::error::LedgerError;

/// The longest a worker waits between attempts while the database is away.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub struct Outage {
    worker: &'static str,
    base: Duration,
    since: Option<Instant>,
    failures: u32,
}

impl Outage {
    pub fn new(worker: &'static str, base: Duration) -> Self {
        Self {
            worker,
            base: base.max(Duration::from_millis(10)),
            since: None,
            failures: 0,
        }
    }

    /// After a failed pass: how long to wait before the next one.
    pub fn failed(&mut self, error: &LedgerError) -> Duration {
        self.failures = self.failures.saturating_add(1);
        match self.since {
            None => {
                self.since = Some(Instant::now());
                tracing::warn!(worker = self.worker, %error, "database unavailable; backing off until it answers");
            }
            Some(_) => tracing::debug!(worker = self.worker, %error, failures = self.failures, "still unavailable"),
        }
        let exponential = self.base.saturating_mul(1 << self.failures.min(8)).min(MAX_BACKOFF);
        exponential.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    /// After a pass that reached the database.
    pub fn succeeded(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                worker = self.worker,
                failures = self.failures,
                after_ms = since.elapsed().as_millis() as u64,
                "database answers again"
            );
        }
        self.failures = 0;
    }

    pub fn is_out(&self) -> bool {
        self.since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_resets() {
        let mut o = Outage::new("test", Duration::from_millis(100));
        let e = LedgerError::Unavailable("down".into());
        let waits: Vec<Duration> = (0..12).map(|_| o.failed(&e)).collect();
        assert!(waits[0] <= Duration::from_millis(200));
        assert!(waits.iter().all(|w| *w <= MAX_BACKOFF));
        assert!(waits[11] >= MAX_BACKOFF / 2);
        assert!(o.is_out());
        o.succeeded();
        assert!(!o.is_out());
        assert!(o.failed(&e) <= Duration::from_millis(200));
    }
}
