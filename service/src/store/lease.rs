//! Leases on singleton roles (the sealer), fenced by an epoch.
//!
//! A role is held by whoever last took it (`acquire`: the row's lease had
//! expired, or nobody held it) until `expires_at`; the holder renews it
//! (`renew`) well before then. Every takeover bumps `epoch`, and the
//! holder's writes for the role renew inside their own transaction with
//! `holder` and `epoch` in the condition ([`Fence::hold`]): a holder that
//! was replaced — paused, cut off by a failover, its lease run out — finds
//! no row to renew and writes nothing. Safety rests on that compare-and-swap
//! alone, not on clocks: instances' clocks only decide when a takeover is
//! allowed (a fast clock makes an instance take over early, never two
//! writers at once). Pooled connections do the work, so an outage costs no
//! connection per attempt; nothing depends on a session, so failovers and
//! transaction-pooling proxies are fine.

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::model::error::Result;
use crate::model::time::now_micros;
use crate::store::ledger::Ledger;
use entity::lease::{self, Column};

/// The role's lease as this holder took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fence {
    pub role: &'static str,
    pub holder: Uuid,
    pub epoch: i64,
}

/// Takes `role` for `holder` if nobody holds it or its lease ran out.
pub async fn acquire(ledger: &Ledger, role: &'static str, holder: Uuid, ttl: Duration) -> Result<Option<Fence>> {
    let now = now_micros();
    let taken = lease::Entity::update_many()
        .col_expr(Column::Holder, Expr::value(holder))
        .col_expr(Column::Epoch, Expr::col(Column::Epoch).add(1))
        .col_expr(Column::ExpiresAt, Expr::value(until(now, ttl)))
        .filter(Column::Role.eq(role))
        .filter(
            Column::Holder
                .is_null()
                .or(Column::ExpiresAt.is_null())
                .or(Column::ExpiresAt.lt(now)),
        )
        .exec(ledger.connection())
        .await?;
    if taken.rows_affected != 1 {
        return Ok(None);
    }
    // The row is ours until the lease runs out: read the epoch we set.
    let row = lease::Entity::find_by_id(role.to_owned())
        .one(ledger.connection())
        .await?;
    Ok(row.filter(|r| r.holder == Some(holder)).map(|r| Fence {
        role,
        holder,
        epoch: r.epoch,
    }))
}

impl Fence {
    /// Renews the lease on `db` (a transaction writing for the role, or the
    /// pool); `false` when another holder took the role since.
    pub async fn hold(&self, db: &impl ConnectionTrait, ttl: Duration) -> Result<bool> {
        let renewed = lease::Entity::update_many()
            .col_expr(Column::ExpiresAt, Expr::value(until(now_micros(), ttl)))
            .filter(Column::Role.eq(self.role))
            .filter(Column::Holder.eq(self.holder))
            .filter(Column::Epoch.eq(self.epoch))
            .exec(db)
            .await?;
        Ok(renewed.rows_affected == 1)
    }

    /// Gives the role up at once (a clean shutdown), so another instance
    /// need not wait for the lease to run out.
    pub async fn release(&self, ledger: &Ledger) -> Result<()> {
        lease::Entity::update_many()
            .col_expr(
                Column::ExpiresAt,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .col_expr(Column::Holder, Expr::value(Option::<Uuid>::None))
            .filter(Column::Role.eq(self.role))
            .filter(Column::Holder.eq(self.holder))
            .filter(Column::Epoch.eq(self.epoch))
            .exec(ledger.connection())
            .await?;
        Ok(())
    }
}

fn until(now: chrono::DateTime<chrono::Utc>, ttl: Duration) -> chrono::DateTime<chrono::Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(5))
}
