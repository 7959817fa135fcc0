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

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    Statement, Value,
};
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::time::now_micros;
use crate::store::ledger::Ledger;
use entity::{DeliveryStatus, balance_alert, webhook_attempt, webhook_delivery, webhook_endpoint, webhook_event};

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
    let done = webhook_endpoint::Entity::update_many()
        .set(row.clone().into_active_model())
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

pub async fn attempts(ledger: &Ledger, seqs: &[i64]) -> Result<Vec<webhook_attempt::Model>> {
    use webhook_attempt::Column as C;
    Ok(webhook_attempt::Entity::find()
        .filter(C::DeliverySeq.is_in(seqs.iter().copied()))
        .order_by_asc(C::DeliverySeq)
        .order_by_asc(C::Attempt)
        .all(ledger.connection())
        .await?)
}

pub async fn events(ledger: &Ledger, ids: &[Uuid]) -> Result<Vec<webhook_event::Model>> {
    Ok(webhook_event::Entity::find()
        .filter(webhook_event::Column::Id.is_in(ids.iter().copied()))
        .all(ledger.connection())
        .await?)
}

/// Sends a delivery again now: pending, attempts from zero, no backoff.
pub async fn redeliver(ledger: &Ledger, seq: i64) -> Result<webhook_delivery::Model> {
    use webhook_delivery::Column as C;
    let done = webhook_delivery::Entity::update_many()
        .col_expr(C::Status, Expr::value(DeliveryStatus::Pending.as_str()))
        .col_expr(C::Attempts, Expr::value(0))
        .col_expr(C::NextAttemptAt, Expr::value(now_micros()))
        .col_expr(C::LeasedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(C::Seq.eq(seq))
        .exec(ledger.connection())
        .await?;
    if done.rows_affected == 0 {
        return Err(endpoint_not_found(seq));
    }
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
}

/// Claims up to `limit` due deliveries until `now + lease`.
pub async fn claim(ledger: &Ledger, limit: u64, lease: std::time::Duration) -> Result<Vec<Claimed>> {
    let now = now_micros();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
    let backend = ledger.connection().get_database_backend();
    let skip_locked = match backend {
        DbBackend::Postgres => "FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let sql = format!(
        "UPDATE webhook_delivery SET leased_until = $2, attempts = attempts + 1 \
         WHERE seq IN (SELECT d.seq FROM webhook_delivery d \
           WHERE d.status = 'PENDING' AND d.next_attempt_at <= $1 \
             AND (d.leased_until IS NULL OR d.leased_until < $1) \
             AND EXISTS (SELECT 1 FROM webhook_endpoint e WHERE e.id = d.endpoint_id AND e.enabled) \
             AND NOT EXISTS (SELECT 1 FROM webhook_delivery p \
               WHERE p.endpoint_id = d.endpoint_id AND p.status = 'PENDING' \
                 AND p.account_a IN (d.account_a, d.account_b) AND p.seq < d.seq) \
             AND NOT EXISTS (SELECT 1 FROM webhook_delivery p \
               WHERE p.endpoint_id = d.endpoint_id AND p.status = 'PENDING' \
                 AND p.account_b IN (d.account_a, d.account_b) AND p.seq < d.seq) \
           ORDER BY d.seq LIMIT $3 {skip_locked}) \
         RETURNING seq, attempts, event_id, endpoint_id"
    );
    let values: Vec<Value> = vec![now.into(), until.into(), (limit as i64).into()];
    let w = ledger.begin_write().await?;
    let rows = w
        .txn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    w.txn.commit().await?;
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok(Claimed {
                seq: r.try_get("", "seq")?,
                attempt: r.try_get("", "attempts")?,
                event_id: r.try_get("", "event_id")?,
                endpoint_id: r.try_get("", "endpoint_id")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    claimed.sort_by_key(|c| c.seq);
    Ok(claimed)
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
/// through.
pub async fn settle(ledger: &Ledger, settled: &[Settled]) -> Result<()> {
    use webhook_delivery::Column as C;
    if settled.is_empty() {
        return Ok(());
    }
    let w = ledger.begin_write().await?;
    let rows: Vec<webhook_attempt::ActiveModel> = settled
        .iter()
        .map(|(claimed, attempt, _)| {
            webhook_attempt::Model {
                id: Uuid::now_v7(),
                delivery_seq: claimed.seq,
                attempt: claimed.attempt,
                started_at: attempt.started_at,
                status_code: attempt.status_code,
                error: attempt.error.clone(),
                latency_ms: attempt.latency_ms,
            }
            .into_active_model()
        })
        .collect();
    for chunk in rows.chunks(500) {
        webhook_attempt::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&w.txn)
            .await?;
    }
    // Successes, one statement per status code.
    let mut delivered: std::collections::BTreeMap<Option<i32>, Vec<i64>> = std::collections::BTreeMap::new();
    for (claimed, attempt, _) in settled.iter().filter(|(_, a, _)| a.succeeded()) {
        delivered.entry(attempt.status_code).or_default().push(claimed.seq);
    }
    let now = now_micros();
    for (code, seqs) in delivered {
        webhook_delivery::Entity::update_many()
            .col_expr(C::Status, Expr::value(DeliveryStatus::Delivered.as_str()))
            .col_expr(C::LeasedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(C::LastStatusCode, Expr::value(code))
            .col_expr(C::LastError, Expr::value(Option::<String>::None))
            .col_expr(C::DeliveredAt, Expr::value(Some(now)))
            .filter(C::Seq.is_in(seqs))
            .filter(C::Status.eq(DeliveryStatus::Pending))
            .exec(&w.txn)
            .await?;
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
            .col_expr(C::LastError, Expr::value(attempt.error.clone()));
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

/// Balance alert events of `accounts` after `after` (a `seq`), in order.
pub async fn alert_events(ledger: &Ledger, accounts: &[Uuid], after: i64) -> Result<Vec<webhook_event::Model>> {
    use webhook_event::Column as C;
    Ok(webhook_event::Entity::find()
        .filter(C::AccountA.is_in(accounts.iter().copied()))
        .filter(C::Seq.gt(after))
        .filter(C::Kind.eq(crate::model::event::EventKind::BalanceAlert.as_str()))
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
