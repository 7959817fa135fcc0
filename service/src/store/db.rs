//! Connections, write transactions and the bounded retry around whole operations.
//!
//! PostgreSQL: row locks (`SELECT … FOR UPDATE`) serialise writers per account.
//! SQLite has no row locks: a write transaction starts with `BEGIN IMMEDIATE`,
//! which takes the database write lock up front, so a read-then-write can never
//! fail half-way with SQLITE_BUSY_SNAPSHOT (517) as a deferred BEGIN does.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::sqlx;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::model::error::Result;
use sea_orm::{ConnectionTrait, EntityTrait, IdenStatic, QueryResult, Statement, TryGetable, Value};

/// How many times a transient failure reruns an operation before giving up.
const MAX_ATTEMPTS: u32 = 30;

/// Opens a pool for `url` (`sqlite:…` or `postgres://…`) with ledger-safe settings.
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    connect_with(url, None).await
}

/// As [`connect`]; on PostgreSQL every statement of the pool is cancelled
/// after `statement_timeout` (the server's `statement_timeout` setting, so a
/// stuck lock wait or runaway query ends in the database itself, and its
/// transaction rolls back).
pub async fn connect_with(url: &str, statement_timeout: Option<Duration>) -> Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    // Ping a pooled connection only when it has sat idle (when a server,
    // proxy or firewall may have dropped it), not on every checkout: that
    // ping was a round trip in front of every transaction and every read.
    options
        .sqlx_logging(false)
        .test_before_acquire_if_idle_for(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // WAL lets readers proceed beside the one writer; FULL makes every
        // commit durable; the busy timeout makes waiting writers queue.
        options.max_connections(8).min_connections(1).map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
        });
    } else {
        options
            .max_connections(32)
            .min_connections(1)
            // Long enough for a busy pool, short enough that a request does
            // not sit out its deadline waiting for a database that is down.
            .acquire_timeout(Duration::from_secs(5));
        if let Some(timeout) = statement_timeout {
            // The bound goes on lock waits (`lock_timeout`), not on whole
            // statements: a `statement_timeout` that fires while a COMMIT
            // waits for its synchronous standby does not undo the commit —
            // PostgreSQL keeps it, locally only, with just a WARNING — so a
            // write would be acknowledged that is on one node, and with every
            // standby down strict synchronous replication would stop
            // blocking writes. A write can only be stuck on a row lock (a
            // lock wait past the bound fails with 55P03 and rolls back
            // whole); reads are bounded pages, and the request deadline
            // answers the client in any case.
            let ms = timeout.as_millis().max(1).to_string();
            options.map_sqlx_postgres_opts(move |o| o.options([("lock_timeout", ms.clone())]));
        }
    }
    Ok(Database::connect(options).await?)
}

/// What a pool executed, fed by SeaORM's per-statement callback.
#[derive(Default)]
pub struct Stats {
    statements: AtomicU64,
}

impl Stats {
    pub(crate) fn record(&self, info: &sea_orm::metric::Info<'_>) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("tally_db_statements_total", "failed" => if info.failed { "true" } else { "false" })
            .increment(1);
        metrics::histogram!("tally_db_statement_duration_seconds").record(info.elapsed.as_secs_f64());
    }

    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
}

/// Begins a transaction that will write: `BEGIN IMMEDIATE` on SQLite.
pub(crate) async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    let options = TransactionOptions {
        sqlite_transaction_mode: (db.get_database_backend() == DbBackend::Sqlite)
            .then_some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    Ok(db.begin_with_options(options).await?)
}

/// Runs `op` until it succeeds or fails for a reason a rerun cannot change.
/// Reruns start from scratch (a fresh transaction), with jittered backoff.
pub(crate) async fn retrying<T, F, Fut>(mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match op().await {
            Err(err) if err.is_retryable() && attempt < MAX_ATTEMPTS => {
                tracing::debug!(attempt, error = %err, "transient failure; retrying");
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    let ceiling_us = 500_u64 << attempt.min(7);
    Duration::from_micros(fastrand::u64(ceiling_us / 2..=ceiling_us))
}

/// The columns of one row, taken left to right.
pub(crate) struct Cols<'a> {
    row: &'a QueryResult,
    at: usize,
}

impl<'a> Cols<'a> {
    pub(crate) fn new(row: &'a QueryResult) -> Self {
        Cols { row, at: 0 }
    }

    pub(crate) fn next<T: TryGetable>(&mut self) -> Result<T> {
        let value = self.row.try_get_by_index(self.at)?;
        self.at += 1;
        Ok(value)
    }

    /// Jumps to column `at` (to skip columns a row does not need decoded).
    pub(crate) fn seek(&mut self, at: usize) -> &mut Self {
        self.at = at;
        self
    }
}

/// The rows of `E` whose uuid `column` is one of `ids` (see [`one_of`]).
pub(crate) async fn rows_with<E: EntityTrait>(
    db: &impl ConnectionTrait,
    column: E::Column,
    ids: &[uuid::Uuid],
) -> Result<Vec<E::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let (condition, values) = one_of(backend, ids);
    let sql = format!(
        "SELECT * FROM \"{}\" WHERE \"{}\" {condition}",
        E::default().table_name(),
        column.as_str()
    );
    let stmt = Statement::from_sql_and_values(backend, sql, values);
    Ok(E::find().from_raw_sql(stmt).all(db).await?)
}

/// The tail of a condition "uuid column is one of `ids`", and its values:
/// on PostgreSQL `= ANY($1::uuid[])`, one array parameter however many ids
/// (a webhook round reads thousands: one bind parameter each cost more than
/// the query); elsewhere `IN (?, …)`, one each.
pub(crate) fn one_of(backend: DbBackend, ids: &[uuid::Uuid]) -> (String, Vec<Value>) {
    match backend {
        DbBackend::Postgres => ("= ANY($1::uuid[])".into(), vec![ids.to_vec().into()]),
        _ => (
            format!("IN ({})", vec!["?"; ids.len()].join(", ")),
            ids.iter().map(|id| (*id).into()).collect(),
        ),
    }
}

/// A PostgreSQL array literal of text, for array parameters that may hold
/// NULLs (the binding refuses NULL elements in binary arrays; the SQL casts
/// the text to the column's array type): `{NULL,"a","b \"c\""}`, every
/// value quoted, so no text is mistaken for NULL.
pub(crate) fn array_literal(values: impl Iterator<Item = Option<String>>) -> String {
    let mut out = String::from("{");
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            None => out.push_str("NULL"),
            Some(text) => {
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::array_literal;

    #[test]
    fn literals_quote_every_value_and_escape_quotes_and_backslashes() {
        let values = [
            None,
            Some("NULL".to_owned()),
            Some(r#"a "b" \c"#.to_owned()),
            Some(String::new()),
        ];
        assert_eq!(array_literal(values.into_iter()), r#"{NULL,"NULL","a \"b\" \\c",""}"#);
        assert_eq!(array_literal(std::iter::empty()), "{}");
    }
}
