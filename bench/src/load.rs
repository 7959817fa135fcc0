//! The load driver: N concurrent keep-alive clients, a warm-up, then a fixed
//! measured window. Every request's outcome and latency is counted; only
//! requests that complete inside the window are measured.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Succeeded; moved `n` transfers (a batch counts its items).
    Ok(u64),
    /// A deliberate business refusal (e.g. INSUFFICIENT_FUNDS).
    Refused,
    /// Anything else: transport failure, INTERNAL, unexpected error.
    Error,
}

#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Transfers moved by every successful request, warm-up included (what
    /// the database must hold afterwards).
    pub all_transfers: u64,
    pub requests: u64,
    pub transfers: u64,
    pub refused: u64,
    pub errors: u64,
    pub seconds: f64,
    latencies_us: Vec<u32>,
}

impl Stats {
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }

    pub fn transfers_per_sec(&self) -> f64 {
        self.transfers as f64 / self.seconds.max(1e-9)
    }

    /// Latency percentile in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
    }

    fn record(&mut self, outcome: Outcome, latency: Duration) {
        self.requests += 1;
        match outcome {
            Outcome::Ok(n) => self.transfers += n,
            Outcome::Refused => self.refused += 1,
            Outcome::Error => self.errors += 1,
        }
        self.latencies_us.push(latency.as_micros().min(u32::MAX as u128) as u32);
    }

    fn merge(&mut self, other: Stats) {
        self.all_transfers += other.all_transfers;
        self.requests += other.requests;
        self.transfers += other.transfers;
        self.refused += other.refused;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
    }
}

/// Runs `clients` loops of `request(client, n)` for `warmup + duration`.
pub async fn drive<F, Fut>(label: &str, clients: usize, warmup: Duration, duration: Duration, request: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let (measure_from, end) = (start + warmup, start + warmup + duration);
    let done = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn(progress(label.to_owned(), done.clone(), start, warmup, duration));
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let (request, done) = (request.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut n = 0;
            while Instant::now() < end {
                let sent = Instant::now();
                let outcome = request(client, n).await;
                let finished = Instant::now();
                n += 1;
                if let Outcome::Ok(moved) = outcome {
                    stats.all_transfers += moved;
                }
                if sent >= measure_from && finished <= end {
                    stats.record(outcome, finished - sent);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            stats
        }));
    }
    let mut total = Stats {
        seconds: duration.as_secs_f64(),
        ..Stats::default()
    };
    for task in tasks {
        if let Ok(stats) = task.await {
            total.merge(stats);
        }
    }
    ticker.abort();
    if std::io::stderr().is_terminal() {
        eprint!("\r{:80}\r", "");
    }
    total
}

/// A progress line on a terminal: phase, elapsed, measured requests, rate.
async fn progress(label: String, done: Arc<AtomicU64>, start: Instant, warmup: Duration, duration: Duration) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let elapsed = start.elapsed();
        let phase = if elapsed < warmup { "warm-up" } else { "measuring" };
        let measured = elapsed.saturating_sub(warmup).as_secs_f64().max(1e-9);
        let n = done.load(Ordering::Relaxed);
        eprint!(
            "\r{label:<28} {phase:<9} {:>5.1}/{:.0}s  {n:>8} req  {:>8.0} req/s   ",
            elapsed.as_secs_f64(),
            (warmup + duration).as_secs_f64(),
            n as f64 / measured
        );
        let _ = std::io::stderr().flush();
    }
}
