//! Webhook endpoints, balance alerts, deliveries and their attempts: the
//! rows, and the worker's claim.
//!
//! The claim takes due deliveries under a lease: it marks them taken until
//! `leased_until` and commits, so no transaction stays open while an
//! endpoint answers. A worker that dies mid-delivery leaves its lease to
//! lapse, and another worker sends the delivery again (same event id).
//! Order per account: a delivery is claimable only when no earlier pending
//! delivery of its endpoint shares one of its accounts, so one endpoint
//! hears each account's events one at a time, in commit order, retries and
//! all; a dead delivery stops blocking the ones after it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::ExprTrait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Statement, Value,
};
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::event::transfer_posted_body;
use crate::model::time::now_micros;
use crate::store::db::{array_literal, rows_with};
use crate::store::ledger::Ledger;
use entity::{
    DeliveryStatus, balance_alert, entry, transfer, webhook_attempt, webhook_delivery, webhook_endpoint, webhook_event,
};

pub fn endpoint_not_found(id: impl std::fmt::Display) -> LedgerError {
    LedgerError::client(
        ErrorCode::WebhookNotFound,
        format!("no webhook endpoint or delivery {id}"),
    )
}

pub async fn endpoints(ledger: &Ledger) -> Result<Vec<webhook_endpoint::Model>> {
    Ok(webhook_endpoint::Entity::find()
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(ledger.connection())
        .await?)
}

pub async fn endpoint(ledger: &Ledger, id: Uuid) -> Result<webhook_endpoint::Model> {
    webhook_endpoint::Entity::find_by_id(id)
        .one(ledger.connection())
        .await?
        .ok_or_else(|| endpoint_not_found(id))
}

pub async fn insert_endpoint(ledger: &Ledger, row: webhook_endpoint::Model) -> Result<webhook_endpoint::Model> {
    webhook_endpoint::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(ledger.connection())
        .await?;
    Ok(row)
}

pub async fn update_endpoint(ledger: &Ledger, row: webhook_endpoint::Model) -> Result<webhook_endpoint::Model> {
    // Every column set: a model's active model marks its fields unchanged,
    // and an update of unchanged fields writes nothing.
    let done = webhook_endpoint::Entity::update_many()
        .set(row.clone().into_active_model().reset_all())
        .filter(webhook_endpoint::Column::Id.eq(row.id))
        .exec(ledger.connection())
        .await?;
    match done.rows_affected {
        0 => Err(endpoint_not_found(row.id)),
        _ => Ok(row),
    }
}

/// Deletes the endpoint; its undelivered deliveries end DEAD (kept, with
/// their attempts, for the record).
pub async fn delete_endpoint(ledger: &Ledger, id: Uuid) -> Result<()> {
    let w = ledger.begin_write().await?;
    let gone = webhook_endpoint::Entity::delete_by_id(id).exec(&w.txn).await?;
    if gone.rows_affected == 0 {
        return Err(endpoint_not_found(id));
    }
    webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::Status,
            Expr::value(DeliveryStatus::Dead.as_str()),
        )
        .col_expr(webhook_delivery::Column::LastError, Expr::value("endpoint deleted"))
        .filter(webhook_delivery::Column::EndpointId.eq(id))
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
        .exec(&w.txn)
        .await?;
    w.txn.commit().await?;
    Ok(())
}

pub async fn alerts(ledger: &Ledger) -> Result<Vec<balance_alert::Model>> {
    Ok(balance_alert::Entity::find()
        .order_by_asc(balance_alert::Column::Id)
        .all(ledger.connection())
        .await?)
}

pub async fn insert_alert(ledger: &Ledger, row: balance_alert::Model) -> Result<balance_alert::Model> {
    balance_alert::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(ledger.connection())
        .await?;
    Ok(row)
}

pub async fn delete_alert(ledger: &Ledger, id: Uuid) -> Result<()> {
    let gone = balance_alert::Entity::delete_by_id(id)
        .exec(ledger.connection())
        .await?;
    match gone.rows_affected {
        0 => Err(LedgerError::client(
            ErrorCode::AlertNotFound,
            format!("no balance alert {id}"),
        )),
        _ => Ok(()),
    }
}

/// A page of deliveries, oldest first, after `after` (a `seq`).
pub async fn deliveries(
    ledger: &Ledger,
    endpoint: Option<Uuid>,
    status: Option<DeliveryStatus>,
    after: Option<i64>,
    first: u64,
) -> Result<Vec<webhook_delivery::Model>> {
    use webhook_delivery::Column as C;
    let mut q = webhook_delivery::Entity::find();
    if let Some(id) = endpoint {
        q = q.filter(C::EndpointId.eq(id));
    }
    if let Some(status) = status {
        q = q.filter(C::Status.eq(status));
    }
    if let Some(after) = after {
        q = q.filter(C::Seq.gt(after));
    }
    Ok(q.order_by_asc(C::Seq).limit(first).all(ledger.connection()).await?)
}

pub async fn delivery(ledger: &Ledger, seq: i64) -> Result<webhook_delivery::Model> {
    webhook_delivery::Entity::find_by_id(seq)
        .one(ledger.connection())
        .await?
        .ok_or_else(|| endpoint_not_found(seq))
}

/// A delivery's attempt log, oldest first: the attempt rows, and a
/// delivered delivery's successful attempt derived from its own row (a
/// success on its own claim writes no attempt row; migration 13).
pub async fn attempt_log(ledger: &Ledger, delivery: &webhook_delivery::Model) -> Result<Vec<webhook_attempt::Model>> {
    use webhook_attempt::Column as C;
    let mut log = webhook_attempt::Entity::find()
        .filter(C::DeliverySeq.eq(delivery.seq))
        .all(ledger.connection())
        .await?;
    log.extend(derived_success(delivery));
    // By start: a redelivery numbers its attempts from 1 again.
    log.sort_by_key(|a| (a.started_at, a.attempt));
    Ok(log)
}

/// The successful attempt a delivered delivery's row stands for, if any.
fn derived_success(d: &webhook_delivery::Model) -> Option<webhook_attempt::Model> {
    match (d.status, d.last_started_at, d.last_latency_ms) {
        (DeliveryStatus::Delivered, Some(started_at), Some(latency_ms)) => Some(webhook_attempt::Model {
            // Stable across reads: derived from the delivery, not stored.
            id: Uuid::from_u64_pair(0, d.seq as u64),
            delivery_seq: d.seq,
            attempt: d.attempts,
            started_at,
            status_code: d.last_status_code,
            error: None,
            latency_ms,
        }),
        _ => None,
    }
}

/// The events `ids` for sending, each with its body: those this instance
/// committed from memory, the rest as [`events`] reads them.
pub async fn events_to_send(ledger: &Ledger, ids: &[Uuid]) -> Result<Vec<webhook_event::Model>> {
    let mut found = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match ledger.cache.events.get(id) {
            Some(event) => found.push(Arc::unwrap_or_clone(event)),
            None => missing.push(*id),
        }
    }
    if !missing.is_empty() {
        found.extend(events(ledger, &missing).await?);
    }
    Ok(found)
}

/// The events `ids`, each with its body: a `transfer.posted` event's is
/// derived from its transfer's and entries' rows (two queries for all).
pub async fn events(ledger: &Ledger, ids: &[Uuid]) -> Result<Vec<webhook_event::Model>> {
    let mut events = rows_with::<webhook_event::Entity>(ledger.connection(), webhook_event::Column::Id, ids).await?;
    let derived: Vec<Uuid> = events
        .iter()
        .filter(|e| e.payload.is_empty())
        .filter_map(|e| e.transfer_id)
        .collect();
    if derived.is_empty() {
        return Ok(events);
    }
    let (transfers, entries) = transfers_with_entries(ledger, &derived).await?;
    let mut by_transfer: HashMap<Uuid, Vec<&entry::Model>> = HashMap::new();
    for e in &entries {
        by_transfer.entry(e.transfer_id).or_default().push(e);
    }
    for event in events.iter_mut().filter(|e| e.payload.is_empty()) {
        let Some(t) = event.transfer_id.and_then(|id| transfers.get(&id)) else {
            return Err(LedgerError::Internal(format!(
                "integrity: event {} reports transfer {:?}, which is not there",
                event.id, event.transfer_id
            )));
        };
        let rows = by_transfer.get(&t.id).map(Vec::as_slice).unwrap_or_default();
        event.payload = transfer_posted_body(event.id, event.created_at, t, rows);
    }
    Ok(events)
}

/// The transfers `ids` by id, and their entries.
async fn transfers_with_entries(
    ledger: &Ledger,
    ids: &[Uuid],
) -> Result<(HashMap<Uuid, transfer::Model>, Vec<entry::Model>)> {
    let db = ledger.connection();
    let transfers = rows_with::<transfer::Entity>(db, transfer::Column::Id, ids).await?;
    let entries = crate::store::entry::of_transfers(db, ids).await?;
    Ok((transfers.into_iter().map(|t| (t.id, t)).collect(), entries))
}

/// Sends a delivery again now: pending, attempts from zero, no backoff. A
/// delivered one's derived successful attempt is written out as a row
/// first, so the log keeps it.
pub async fn redeliver(ledger: &Ledger, seq: i64) -> Result<webhook_delivery::Model> {
    use webhook_delivery::Column as C;
    let w = ledger.begin_write().await?;
    let current = webhook_delivery::Entity::find_by_id(seq)
        .lock_exclusive()
        .one(&w.txn)
        .await?
        .ok_or_else(|| endpoint_not_found(seq))?;
    if let Some(mut success) = derived_success(&current) {
        success.id = Uuid::now_v7();
        webhook_attempt::Entity::insert(success.into_active_model())
            .exec_without_returning(&w.txn)
            .await?;
    }
    webhook_delivery::Entity::update_many()
        .col_expr(C::Status, Expr::value(DeliveryStatus::Pending.as_str()))
        .col_expr(C::Attempts, Expr::value(0))
        .col_expr(C::NextAttemptAt, Expr::value(now_micros()))
        .col_expr(C::LeasedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::LastStartedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::LastLatencyMs, Expr::value(Option::<i64>::None))
        .filter(C::Seq.eq(seq))
        .exec(&w.txn)
        .await?;
    w.txn.commit().await?;
    delivery(ledger, seq).await
}

/// A claimed delivery: what to send where.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub seq: i64,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    pub event_id: Uuid,
    pub endpoint_id: Uuid,
    /// The accounts it concerns (world and exchange accounts left out).
    pub accounts: (Option<Uuid>, Option<Uuid>),
}

impl Claimed {
    /// What orders it: its endpoint with each of its accounts.
    pub fn keys(&self) -> impl Iterator<Item = (Uuid, Uuid)> + Clone + '_ {
        keys(self.endpoint_id, self.accounts)
    }
}

fn keys(endpoint: Uuid, accounts: (Option<Uuid>, Option<Uuid>)) -> impl Iterator<Item = (Uuid, Uuid)> + Clone {
    [accounts.0, accounts.1]
        .into_iter()
        .flatten()
        .map(move |account| (endpoint, account))
}

/// A pending delivery the claim looks at.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub(crate) seq: i64,
    pub(crate) endpoint_id: Uuid,
    pub(crate) accounts: (Option<Uuid>, Option<Uuid>),
    /// Due, and not leased by a live worker.
    pub(crate) ready: bool,
}

/// How many pending deliveries a claim reads at a time.
const WINDOW: u64 = 4096;

/// Claims up to `limit` deliveries until `now + lease`, in `seq` order,
/// such that each one's earlier pending deliveries to the same endpoint
/// about the same account are claimed with it (the worker sends those
/// first, one after the other) or already delivered: a busy account's
/// deliveries go out as a chain within one round, not one per round.
pub async fn claim(ledger: &Ledger, limit: u64, lease: std::time::Duration) -> Result<Vec<Claimed>> {
    let now = now_micros();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
    let backend = ledger.connection().get_database_backend();
    let (candidates, chosen) = window(ledger, now, usize::try_from(limit).unwrap_or(usize::MAX)).await?;
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    // PostgreSQL: one array parameter, so the text never changes and is
    // prepared once; SQLite: the numbers inline.
    let (chosen_seqs, mut values) = match backend {
        DbBackend::Postgres => ("= ANY($3::int8[])".to_owned(), vec![chosen.clone().into()]),
        _ => (
            format!(
                "IN ({})",
                chosen.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            ),
            Vec::new(),
        ),
    };
    values.splice(0..0, [now.into(), until.into()]);
    let sql = format!(
        "UPDATE webhook_delivery SET leased_until = $2, attempts = attempts + 1 \
         WHERE seq {chosen_seqs} AND status = 'PENDING' AND (leased_until IS NULL OR leased_until < $1) \
         RETURNING seq, attempts, event_id, endpoint_id, account_a, account_b"
    );
    let w = ledger.begin_write().await?;
    let rows = w
        .txn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut claimed = rows.iter().map(claimed_of).collect::<Result<Vec<_>>>()?;
    claimed.sort_by_key(|c| c.seq);
    // Another worker leased some of the chosen meanwhile: what follows
    // one of those on the same account is not ours to send. Release it.
    let (kept, dropped) = keep_ordered(&chosen, &candidates, claimed);
    if !dropped.is_empty() {
        let list = dropped.iter().map(|c| c.seq.to_string()).collect::<Vec<_>>().join(",");
        let sql = format!(
            "UPDATE webhook_delivery SET leased_until = NULL, attempts = attempts - 1 \
             WHERE seq IN ({list}) AND leased_until = $1"
        );
        w.txn
            .execute_raw(Statement::from_sql_and_values(backend, sql, vec![until.into()]))
            .await?;
    }
    w.txn.commit().await?;
    Ok(kept)
}

/// The pending deliveries in `seq` order, a window at a time, until one
/// window has something to send: that window, and what to send from it.
/// What an earlier window held up stays held up in the later ones (the
/// blocked endpoint-accounts carry over), so a backlog stuck behind one
/// account never hides the deliveries after it that wait on nothing. One
/// index serves every window: pending deliveries by `seq`.
async fn window(ledger: &Ledger, now: DateTime<Utc>, limit: usize) -> Result<(Vec<Candidate>, Vec<i64>)> {
    let backend = ledger.connection().get_database_backend();
    let sql = "SELECT d.seq, d.endpoint_id, d.account_a, d.account_b, \
         CASE WHEN d.next_attempt_at <= $1 AND (d.leased_until IS NULL OR d.leased_until < $1) \
           THEN 1 ELSE 0 END AS ready \
         FROM webhook_delivery d WHERE d.status = 'PENDING' AND d.seq > $3 \
           AND EXISTS (SELECT 1 FROM webhook_endpoint e WHERE e.id = d.endpoint_id AND e.enabled) \
         ORDER BY d.seq LIMIT $2";
    let mut blocked = HashSet::new();
    let mut after = i64::MIN;
    loop {
        let values: Vec<Value> = vec![now.into(), (WINDOW as i64).into(), after.into()];
        let rows = ledger
            .connection()
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        let candidates = rows
            .iter()
            .map(|r| {
                Ok(Candidate {
                    seq: r.try_get("", "seq")?,
                    endpoint_id: r.try_get("", "endpoint_id")?,
                    accounts: (r.try_get("", "account_a")?, r.try_get("", "account_b")?),
                    ready: r.try_get::<i32>("", "ready")? == 1,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let chosen = choose(&candidates, limit, &mut blocked);
        match candidates.last() {
            Some(last) if chosen.is_empty() && candidates.len() as u64 == WINDOW => after = last.seq,
            _ => return Ok((candidates, chosen)),
        }
    }
}

/// From the window (in `seq` order), what one worker may send this round:
/// ready deliveries none of whose endpoint-accounts is held up by an
/// earlier delivery that is not ready (backing off, or leased elsewhere),
/// in this window or in `blocked` (from the windows before).
pub(crate) fn choose(candidates: &[Candidate], limit: usize, blocked: &mut HashSet<(Uuid, Uuid)>) -> Vec<i64> {
    let mut chosen = Vec::new();
    for c in candidates {
        if chosen.len() >= limit {
            break;
        }
        let mut keys = keys(c.endpoint_id, c.accounts);
        if !c.ready || keys.clone().any(|k| blocked.contains(&k)) {
            blocked.extend(&mut keys);
            continue;
        }
        chosen.push(c.seq);
    }
    chosen
}

/// The leased deliveries that keep their order: a chosen delivery this
/// worker could not lease holds up every later one on its accounts.
pub(crate) fn keep_ordered(
    chosen: &[i64],
    candidates: &[Candidate],
    leased: Vec<Claimed>,
) -> (Vec<Claimed>, Vec<Claimed>) {
    let mut leased: std::collections::HashMap<i64, Claimed> = leased.into_iter().map(|c| (c.seq, c)).collect();
    let by_seq: std::collections::HashMap<i64, &Candidate> = candidates.iter().map(|c| (c.seq, c)).collect();
    let mut blocked = std::collections::HashSet::new();
    let (mut kept, mut dropped) = (Vec::new(), Vec::new());
    for seq in chosen {
        let Some(candidate) = by_seq.get(seq) else { continue };
        let mut keys = keys(candidate.endpoint_id, candidate.accounts);
        match leased.remove(seq) {
            Some(c) if !keys.clone().any(|k| blocked.contains(&k)) => kept.push(c),
            Some(c) => {
                blocked.extend(&mut keys);
                dropped.push(c);
            }
            None => blocked.extend(&mut keys),
        }
    }
    (kept, dropped)
}

fn claimed_of(r: &sea_orm::QueryResult) -> Result<Claimed> {
    Ok(Claimed {
        seq: r.try_get("", "seq")?,
        attempt: r.try_get("", "attempts")?,
        event_id: r.try_get("", "event_id")?,
        endpoint_id: r.try_get("", "endpoint_id")?,
        accounts: (r.try_get("", "account_a")?, r.try_get("", "account_b")?),
    })
}

/// How one attempt went.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub started_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// What became of one claimed delivery: its attempt, and when to retry a
/// failure (`None`: it was the last attempt, the delivery is dead).
pub type Settled = (Claimed, Attempt, Option<DateTime<Utc>>);

/// Records a round's attempts and their consequences in one transaction:
/// delivered; retried at the given time; or dead. A failure only counts for
/// the claim that made it: a delivery redelivered or claimed anew since is
/// left as it is. A success counts whoever claimed it since: the event got
/// through. `unsent` deliveries (held back by an earlier failure on their
/// account) are released as if never claimed.
pub async fn settle(ledger: &Ledger, settled: &[Settled], unsent: &[Claimed]) -> Result<()> {
    use webhook_delivery::Column as C;
    if settled.is_empty() && unsent.is_empty() {
        return Ok(());
    }
    let w = ledger.begin_write().await?;
    let now = now_micros();
    match w.txn.get_database_backend() {
        DbBackend::Postgres => {
            release_pg(&w.txn, unsent).await?;
            settle_successes_pg(&w.txn, settled, now).await?;
        }
        _ => {
            release(&w.txn, unsent).await?;
            settle_successes(&w.txn, settled, now).await?;
        }
    }
    for (claimed, attempt, retry_at) in settled.iter().filter(|(_, a, _)| !a.succeeded()) {
        let status = match retry_at {
            Some(_) => DeliveryStatus::Pending,
            None => DeliveryStatus::Dead,
        };
        let mut update = webhook_delivery::Entity::update_many()
            .col_expr(C::Status, Expr::value(status.as_str()))
            .col_expr(C::LeasedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(C::LastStatusCode, Expr::value(attempt.status_code))
            .col_expr(C::LastError, Expr::value(attempt.error.clone()))
            .col_expr(C::LastStartedAt, Expr::value(attempt.started_at))
            .col_expr(C::LastLatencyMs, Expr::value(attempt.latency_ms));
        if let Some(at) = retry_at {
            update = update.col_expr(C::NextAttemptAt, Expr::value(*at));
        }
        update
            .filter(C::Seq.eq(claimed.seq))
            .filter(C::Attempts.eq(claimed.attempt))
            .filter(C::Status.eq(DeliveryStatus::Pending))
            .exec(&w.txn)
            .await?;
    }
    w.txn.commit().await?;
    Ok(())
}

/// Failures' attempt rows; the deliveries answered 2xx marked delivered,
/// with their attempt on the delivery row. A success whose delivery was no
/// longer pending (delivered by an earlier claim, or redelivered since)
/// gets an attempt row instead, so the log misses no attempt.
async fn settle_successes(txn: &DatabaseTransaction, settled: &[Settled], now: DateTime<Utc>) -> Result<()> {
    use webhook_delivery::Column as C;
    let mut rows: Vec<webhook_attempt::ActiveModel> = settled
        .iter()
        .filter(|(_, a, _)| !a.succeeded())
        .map(|(claimed, attempt, _)| attempt_row(claimed, attempt).into_active_model())
        .collect();
    for (claimed, attempt, _) in settled.iter().filter(|(_, a, _)| a.succeeded()) {
        let done = webhook_delivery::Entity::update_many()
            .col_expr(C::Status, Expr::value(DeliveryStatus::Delivered.as_str()))
            .col_expr(C::LeasedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(C::LastStatusCode, Expr::value(attempt.status_code))
            .col_expr(C::LastError, Expr::value(Option::<String>::None))
            .col_expr(C::DeliveredAt, Expr::value(Some(now)))
            .col_expr(C::LastStartedAt, Expr::value(attempt.started_at))
            .col_expr(C::LastLatencyMs, Expr::value(attempt.latency_ms))
            .filter(C::Seq.eq(claimed.seq))
            .filter(C::Status.eq(DeliveryStatus::Pending))
            .exec(txn)
            .await?;
        if done.rows_affected == 0 {
            rows.push(attempt_row(claimed, attempt).into_active_model());
        }
    }
    for chunk in rows.chunks(500) {
        webhook_attempt::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// The same on PostgreSQL as two statements of array parameters, however
/// many deliveries a round settled (a batching endpoint's round settles
/// thousands: one bind parameter per value cost the server more than the
/// POSTs did): the successes' update, which inserts the attempt rows of
/// those it found no longer pending, and the failures' attempt rows.
async fn settle_successes_pg(txn: &DatabaseTransaction, settled: &[Settled], now: DateTime<Utc>) -> Result<()> {
    let (ok, failed): (Vec<&Settled>, Vec<&Settled>) = settled.iter().partition(|(_, a, _)| a.succeeded());
    if !ok.is_empty() {
        let rows: Vec<webhook_attempt::Model> = ok.iter().map(|(c, a, _)| attempt_row(c, a)).collect();
        let mut values = attempt_columns(&rows);
        values.push(now.into());
        let sql = "WITH v AS ( \
               SELECT * FROM unnest($1::uuid[], $2::int8[], $3::int4[], $4::timestamptz[], $5::int4[], $6::text[], \
                 $7::int8[]) AS v(id, seq, attempt, started_at, code, error, latency_ms) \
             ), d AS ( \
               UPDATE webhook_delivery d SET status = 'DELIVERED', leased_until = NULL, last_status_code = v.code, \
                 last_error = NULL, delivered_at = $8, last_started_at = v.started_at, last_latency_ms = v.latency_ms \
               FROM v WHERE d.seq = v.seq AND d.status = 'PENDING' RETURNING d.seq \
             ) \
             INSERT INTO webhook_attempt (id, delivery_seq, attempt, started_at, status_code, error, latency_ms) \
             SELECT * FROM v WHERE v.seq NOT IN (SELECT seq FROM d)";
        txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
            .await?;
    }
    if !failed.is_empty() {
        let rows: Vec<webhook_attempt::Model> = failed.iter().map(|(c, a, _)| attempt_row(c, a)).collect();
        let sql = "INSERT INTO webhook_attempt (id, delivery_seq, attempt, started_at, status_code, error, latency_ms) \
             SELECT * FROM unnest($1::uuid[], $2::int8[], $3::int4[], $4::timestamptz[], $5::int4[], $6::text[], \
               $7::int8[])";
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            attempt_columns(&rows),
        ))
        .await?;
    }
    Ok(())
}

/// Attempt rows as seven array parameters, in the table's column order.
fn attempt_columns(rows: &[webhook_attempt::Model]) -> Vec<Value> {
    let nullable = |v: Vec<Option<String>>| -> Value { array_literal(v.into_iter()).into() };
    vec![
        rows.iter().map(|r| r.id).collect::<Vec<Uuid>>().into(),
        rows.iter().map(|r| r.delivery_seq).collect::<Vec<i64>>().into(),
        rows.iter().map(|r| r.attempt).collect::<Vec<i32>>().into(),
        rows.iter().map(|r| r.started_at).collect::<Vec<DateTime<Utc>>>().into(),
        nullable(rows.iter().map(|r| r.status_code.map(|c| c.to_string())).collect()),
        nullable(rows.iter().map(|r| r.error.clone()).collect()),
        rows.iter().map(|r| r.latency_ms).collect::<Vec<i64>>().into(),
    ]
}

/// Releases unsent deliveries: their claim undone, the attempt never happened.
async fn release(txn: &DatabaseTransaction, unsent: &[Claimed]) -> Result<()> {
    use webhook_delivery::Column as C;
    for claimed in unsent {
        webhook_delivery::Entity::update_many()
            .col_expr(C::LeasedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(C::Attempts, Expr::col(C::Attempts).sub(1))
            .filter(C::Seq.eq(claimed.seq))
            .filter(C::Attempts.eq(claimed.attempt))
            .filter(C::Status.eq(DeliveryStatus::Pending))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// [`release`] on PostgreSQL (their claim undone: the attempt never
/// happened) in one statement.
async fn release_pg(txn: &DatabaseTransaction, unsent: &[Claimed]) -> Result<()> {
    if unsent.is_empty() {
        return Ok(());
    }
    let values: Vec<Value> = vec![
        unsent.iter().map(|c| c.seq).collect::<Vec<i64>>().into(),
        unsent.iter().map(|c| c.attempt).collect::<Vec<i32>>().into(),
    ];
    let sql = "UPDATE webhook_delivery d SET leased_until = NULL, attempts = d.attempts - 1 \
         FROM unnest($1::int8[], $2::int4[]) AS v(seq, attempt) \
         WHERE d.seq = v.seq AND d.attempts = v.attempt AND d.status = 'PENDING'";
    txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
        .await?;
    Ok(())
}

fn attempt_row(claimed: &Claimed, attempt: &Attempt) -> webhook_attempt::Model {
    webhook_attempt::Model {
        id: Uuid::now_v7(),
        delivery_seq: claimed.seq,
        attempt: claimed.attempt,
        started_at: attempt.started_at,
        status_code: attempt.status_code,
        error: attempt.error.clone(),
        latency_ms: attempt.latency_ms,
    }
}

/// Balance alert events of `accounts` after `after` (a `seq`), in order.
pub async fn alert_events(ledger: &Ledger, accounts: &[Uuid], after: i64) -> Result<Vec<webhook_event::Model>> {
    use webhook_event::Column as C;
    Ok(webhook_event::Entity::find()
        .filter(C::AccountA.is_in(accounts.iter().copied()))
        .filter(C::Seq.gt(after))
        // A literal, not a parameter: the partial index `ix_event_alert`
        // (migration 12) matches this exact predicate, and a generic plan
        // of a parameter could not use it.
        .filter(Expr::cust("kind = 'balance.alert'"))
        .order_by_asc(C::Seq)
        .limit(1000)
        .all(ledger.connection())
        .await?)
}

/// The last event `seq` now (0 before the first).
pub async fn last_event_seq(ledger: &Ledger) -> Result<i64> {
    let last: Option<Option<i64>> = webhook_event::Entity::find()
        .select_only()
        .column_as(webhook_event::Column::Seq.max(), "m")
        .into_tuple()
        .one(ledger.connection())
        .await?;
    Ok(last.flatten().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use std::collections::HashSet;

    use super::{Candidate, Claimed, choose, keep_ordered};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn candidate(seq: i64, endpoint: u128, a: u128, b: Option<u128>, ready: bool) -> Candidate {
        Candidate {
            seq,
            endpoint_id: id(endpoint),
            accounts: (Some(id(a)), b.map(id)),
            ready,
        }
    }

    #[test]
    fn a_busy_account_goes_out_as_a_chain_and_waits_behind_what_is_not_ready() {
        let window = [
            candidate(1, 1, 10, Some(11), true),
            candidate(2, 1, 10, Some(12), true),  // after 1 on account 10: same chain
            candidate(3, 1, 13, Some(14), false), // backing off
            candidate(4, 1, 14, Some(15), true),  // waits behind 3 (account 14)
            candidate(5, 1, 15, Some(16), true),  // waits behind 4 (account 15), held up transitively
            candidate(6, 2, 14, None, true),      // another endpoint: 3 does not hold it up
            candidate(7, 1, 12, None, true),      // after 2 (account 12): same chain
        ];
        assert_eq!(choose(&window, 100, &mut HashSet::new()), vec![1, 2, 6, 7]);
        assert_eq!(choose(&window, 2, &mut HashSet::new()), vec![1, 2]);
    }

    #[test]
    fn what_an_earlier_window_held_up_stays_held_up_in_the_next() {
        let first = [candidate(1, 1, 10, None, false), candidate(2, 1, 10, Some(11), true)];
        let mut blocked = HashSet::new();
        assert_eq!(choose(&first, 100, &mut blocked), Vec::<i64>::new());
        let next = [
            candidate(3, 1, 11, None, true), // after 2 (account 11), which waits behind 1
            candidate(4, 1, 12, None, true), // waits on nothing
            candidate(5, 2, 10, None, true), // another endpoint
        ];
        assert_eq!(choose(&next, 100, &mut blocked), vec![4, 5]);
        assert_eq!(choose(&next, 100, &mut HashSet::new()), vec![3, 4, 5]);
    }

    #[test]
    fn what_another_worker_leased_holds_up_what_follows_it_here() {
        let window = [
            candidate(1, 1, 10, None, true),
            candidate(2, 1, 10, Some(11), true),
            candidate(3, 1, 11, None, true),
            candidate(4, 1, 20, None, true),
        ];
        let chosen = choose(&window, 100, &mut HashSet::new());
        assert_eq!(chosen, vec![1, 2, 3, 4]);
        let leased = |seq: i64| Claimed {
            seq,
            attempt: 1,
            event_id: id(seq as u128),
            endpoint_id: window[(seq - 1) as usize].endpoint_id,
            accounts: window[(seq - 1) as usize].accounts,
        };
        // Another worker took 1 first: 2 (account 10) and then 3 (account
        // 11, after 2) must wait; 4 is unrelated.
        let (kept, dropped) = keep_ordered(&chosen, &window, vec![leased(2), leased(3), leased(4)]);
        assert_eq!(kept.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![4]);
        assert_eq!(dropped.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![2, 3]);
    }
}
