//! Which instance seals: the holder of the `sealer` lease (`store::lease`),
//! a row fenced by an epoch, not a session advisory lock (which vanishes on
//! failover and breaks behind transaction-pooling proxies). Every instance
//! runs this loop: a follower tries to take the lease every
//! [`LEASE_TTL`]/5; the holder seals every `every`, each seal renewing the
//! lease inside its own transaction with its epoch, and renews it on its
//! own when idle. A holder that was replaced finds its epoch gone, writes
//! nothing and becomes a follower. While the database is away the loop
//! backs off (one log line per outage) and keeps its epoch: whether it is
//! still the holder is settled by the next renewal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::block::{Sealed, seal_fenced};
use crate::model::error::Result;
use crate::store::lease::{self, Fence};
use crate::store::ledger::Ledger;
use crate::store::outage::Outage;

/// How long a lease lasts without renewal: a dead sealer is replaced after
/// at most this (plus a follower's try interval).
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// The role's name in the lease table.
const ROLE: &str = "sealer";

struct Loop {
    ledger: Ledger,
    me: Uuid,
    every: Duration,
    fence: Option<Fence>,
    renewed: Instant,
    is_leader: Arc<AtomicBool>,
}

impl Loop {
    /// One pass; returns how long to wait before the next.
    async fn pass(&mut self) -> Result<Duration> {
        let Some(fence) = self.fence else {
            self.fence = lease::acquire(&self.ledger, ROLE, self.me, LEASE_TTL).await?;
            if let Some(f) = self.fence {
                tracing::info!(epoch = f.epoch, "this instance is now the sealer");
                self.is_leader.store(true, Ordering::SeqCst);
                self.renewed = Instant::now();
                return Ok(Duration::ZERO);
            }
            return Ok(LEASE_TTL / 5);
        };
        let held = match seal_fenced(&self.ledger, &fence, LEASE_TTL).await? {
            Sealed::Block(b) => {
                tracing::debug!(height = b.height, transfers = b.transfer_count, "sealed a block");
                true
            }
            Sealed::Nothing if self.renewed.elapsed() >= LEASE_TTL / 5 => {
                fence.hold(self.ledger.connection(), LEASE_TTL).await?
            }
            Sealed::Nothing => {
                return Ok(self.every);
            }
            Sealed::Fenced => false,
        };
        if held {
            self.renewed = Instant::now();
            return Ok(self.every);
        }
        tracing::warn!(
            epoch = fence.epoch,
            "another instance took the sealer lease; this one stops sealing"
        );
        self.fence = None;
        self.is_leader.store(false, Ordering::SeqCst);
        Ok(self.every)
    }
}

async fn run(ledger: Ledger, every: Duration, is_leader: Arc<AtomicBool>) {
    let mut outage = Outage::new("sealer", every);
    let mut l = Loop {
        ledger,
        me: Uuid::now_v7(),
        every,
        fence: None,
        renewed: Instant::now(),
        is_leader,
    };
    loop {
        let wait = match l.pass().await {
            Ok(wait) => {
                outage.succeeded();
                wait
            }
            Err(e) => outage.failed(&e),
        };
        tokio::time::sleep(wait).await;
    }
}

/// A running sealer; `is_leader` tells whether this instance seals now.
pub struct Sealer {
    pub is_leader: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sealer {
    /// Stops sealing. The lease runs out on its own ([`LEASE_TTL`]).
    pub fn stop(self) {
        self.task.abort();
        self.is_leader.store(false, Ordering::SeqCst);
    }
}

/// Starts the background sealer: it seals within `every` of a commit.
pub fn spawn(ledger: Ledger, every: Duration) -> Sealer {
    let is_leader = Arc::new(AtomicBool::new(false));
    let flag = is_leader.clone();
    let task = tokio::spawn(async move { run(ledger, every, flag).await });
    Sealer { is_leader, task }
}
