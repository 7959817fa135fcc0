//! How the audit reads: several connections that all see one snapshot, and
//! rows decoded by position (no column-name lookups per value).

use std::sync::Arc;

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseTransaction, DbBackend, IsolationLevel, Statement, TransactionOptions,
    TransactionTrait,
};

use crate::model::error::{LedgerError, Result};
use crate::store::ledger::Ledger;

/// `n` read views of one and the same ledger state. On PostgreSQL: `n`
/// read-only REPEATABLE READ transactions, the first exporting its snapshot
/// (`pg_export_snapshot`) and the others adopting it, so walks can run side
/// by side and still never see a writer's half-done work. On SQLite: one read
/// transaction shared `n` ways (the walks then take turns on its connection).
pub(super) async fn views(ledger: &Ledger, n: usize) -> Result<Vec<Arc<DatabaseTransaction>>> {
    let db = ledger.connection();
    if db.get_database_backend() != DbBackend::Postgres {
        let txn = Arc::new(db.begin().await?);
        return Ok(vec![txn; n]);
    }
    let options = TransactionOptions {
        isolation_level: Some(IsolationLevel::RepeatableRead),
        access_mode: Some(AccessMode::ReadOnly),
        ..Default::default()
    };
    let first = db.begin_with_options(options).await?;
    no_statement_timeout(&first).await?;
    let exported = first
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_export_snapshot()",
        ))
        .await?
        .ok_or_else(|| LedgerError::Internal("pg_export_snapshot returned no row".into()))?;
    let snapshot: String = exported.try_get_by_index(0)?;
    if !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(LedgerError::Internal(format!("unexpected snapshot id {snapshot:?}")));
    }
    let mut views = vec![Arc::new(first)];
    for _ in 1..n {
        let txn = db.begin_with_options(options).await?;
        txn.execute_unprepared(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
            .await?;
        no_statement_timeout(&txn).await?;
        views.push(Arc::new(txn));
    }
    Ok(views)
}

/// An audit reads the whole ledger, so its statements run as long as that
/// takes: the pool's statement timeout (meant for the request path's lock
/// waits) does not apply inside its read-only transactions. What bounds a
/// `verifyLedger` request is its deadline; `tally verify` has none.
async fn no_statement_timeout(txn: &DatabaseTransaction) -> Result<()> {
    txn.execute_unprepared("SET LOCAL statement_timeout = 0").await?;
    Ok(())
}
