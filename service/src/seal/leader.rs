//! Electing the one sealer among instances sharing a PostgreSQL database:
//! whoever holds the session advisory lock seals. The lock lives on a
//! dedicated connection; if the process dies the connection closes and the
//! lock frees itself. SQLite needs no election: `BEGIN IMMEDIATE` serialises
//! sealers and block heights are unique.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::DbBackend;
use sea_orm::sqlx::{self, Connection, PgConnection};

use crate::store::ledger::Ledger;

/// The advisory lock key: "tally" in ASCII.
const LOCK_KEY: i64 = 0x74_61_6c_6c_79;

async fn run(ledger: Ledger, every: Duration, is_leader: Arc<AtomicBool>) {
    if ledger.connection().get_database_backend() != DbBackend::Postgres {
        is_leader.store(true, Ordering::SeqCst);
        return seal_forever(&ledger, every, None).await;
    }
    loop {
        match elect(ledger.url()).await {
            Ok(Some(conn)) => {
                is_leader.store(true, Ordering::SeqCst);
                tracing::info!("this instance is now the sealer");
                seal_forever(&ledger, every, Some(conn)).await;
                is_leader.store(false, Ordering::SeqCst);
                tracing::warn!("sealer lost its leader connection; re-electing");
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "sealer election failed"),
        }
        tokio::time::sleep(every).await;
    }
}

async fn elect(url: &str) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut conn)
        .await?;
    Ok(won.then_some(conn))
}

/// Seals every `every` until the leader connection (if any) fails.
async fn seal_forever(ledger: &Ledger, every: Duration, mut leader: Option<PgConnection>) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Some(conn) = leader.as_mut()
            && conn.ping().await.is_err()
        {
            return;
        }
        match super::block::seal_once(ledger).await {
            Ok(Some(b)) => tracing::debug!(height = b.height, transfers = b.transfer_count, "sealed a block"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "sealing failed; will retry"),
        }
    }
}

/// A running sealer; `is_leader` tells whether this instance seals now.
pub struct Sealer {
    pub is_leader: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sealer {
    /// Stops sealing (and, on PostgreSQL, gives up leadership).
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
