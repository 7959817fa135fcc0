//! Entries: an account's history in sequence order, read by keyset pages, and
//! balances at a point in time.
//!
//! Invariants: sequences are 1..n per account with no gaps; `created_at`
//! never decreases along an account's sequence (the engine writes
//! max(now, previous entry's time), and verify checks it), so "the last entry
//! at or before t" is a binary search over the (account_id, sequence) key.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement};
use uuid::Uuid;

use crate::model::error::Result;
use crate::model::money;
use crate::model::page::{Page, Window};
use crate::store::ledger::Ledger;
use entity::entry::{self, Column};

pub async fn page(ledger: &Ledger, account_id: Uuid, window: Window) -> Result<Page<entry::Model>> {
    let query = entry::Entity::find().filter(Column::AccountId.eq(account_id));
    let db = ledger.connection();
    match window {
        Window::Forward { after, first } => {
            let query = match after {
                Some(seq) => query.filter(Column::Sequence.gt(seq)),
                None => query,
            };
            let rows = query.order_by_asc(Column::Sequence).limit(first + 1).all(db).await?;
            Ok(Page::forward(rows, first, after.is_some_and(|s| s >= 1)))
        }
        Window::Backward { before, last } => {
            let query = match before {
                Some(seq) => query.filter(Column::Sequence.lt(seq)),
                None => query,
            };
            let rows = query.order_by_desc(Column::Sequence).limit(last + 1).all(db).await?;
            Ok(Page::backward(rows, last, before.is_some()))
        }
    }
}

/// "The last entry at or before $2" of account $1, as a binary search over
/// the primary key: (lo, hi) brackets its sequence (0: none) and halves
/// with one probe per step, so an account of a million entries costs about
/// twenty probes. Correct because entry times never decrease along an
/// account's sequence.
const LAST_AT_OR_BEFORE: &str = "\
WITH RECURSIVE s(lo, hi) AS (
  SELECT CAST(0 AS BIGINT), COALESCE(MAX(sequence), 0) FROM entry WHERE account_id = $1
  UNION ALL
  SELECT CASE WHEN m.created_at <= $2 THEN m.sequence ELSE s.lo END,
    CASE WHEN m.created_at <= $2 THEN s.hi ELSE m.sequence - 1 END
  FROM s JOIN entry m ON m.account_id = $1 AND m.sequence = (s.lo + s.hi + 1) / 2
  WHERE s.lo < s.hi
)
SELECT e.balance_after FROM s JOIN entry e ON e.account_id = $1 AND e.sequence = s.lo WHERE s.lo = s.hi";

/// The account's balance just after its last entry at or before `at`
/// (zero before its first entry), at the currency's scale.
pub async fn balance_at(ledger: &Ledger, account_id: Uuid, at: DateTime<Utc>, scale: u32) -> Result<Decimal> {
    let db = ledger.connection();
    let stmt = Statement::from_sql_and_values(
        db.get_database_backend(),
        LAST_AT_OR_BEFORE,
        [account_id.into(), at.into()],
    );
    let Some(row) = db.query_one_raw(stmt).await? else {
        return Ok(money::zero(scale));
    };
    let balance: entity::Money = row.try_get("", "balance_after")?;
    Ok(balance.0)
}

/// The account's balance at `at` by effective time: every movement that
/// took effect at or before `at`, however late it was committed. Exact:
/// the balance committed by then (above), plus the backdated entries
/// committed after `at` that took effect by it. Backdated entries are the
/// only ones with an `effective_at` (never later than their commit), so a
/// partial index holds just them and ordinary entries cost nothing here.
pub async fn balance_at_effective(ledger: &Ledger, account_id: Uuid, at: DateTime<Utc>, scale: u32) -> Result<Decimal> {
    let committed = balance_at(ledger, account_id, at, scale).await?;
    let late: Vec<entity::Money> = entry::Entity::find()
        .select_only()
        .column(Column::Amount)
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::EffectiveAt.is_not_null())
        .filter(Column::EffectiveAt.lte(at))
        .filter(Column::CreatedAt.gt(at))
        .into_tuple()
        .all(ledger.connection())
        .await?;
    late.into_iter().try_fold(committed, |sum, amount| {
        sum.checked_add(amount.0)
            .ok_or_else(|| crate::model::error::LedgerError::Internal("balance out of range".into()))
    })
}

/// The hashes of the entries at (account, sequence) positions: an entry
/// stores an empty `previous_hash` (it is its predecessor's hash; the chain
/// walk knows it), so this is how a reader shows it. One statement.
pub async fn hashes_at(ledger: &Ledger, positions: &[(Uuid, i64)]) -> Result<Vec<(Uuid, i64, Vec<u8>)>> {
    hashes_on(ledger.connection(), positions).await
}

/// [`hashes_at`] on any connection (the engine's transaction among them).
pub(crate) async fn hashes_on(
    db: &impl ConnectionTrait,
    positions: &[(Uuid, i64)],
) -> Result<Vec<(Uuid, i64, Vec<u8>)>> {
    if positions.is_empty() {
        return Ok(Vec::new());
    }
    let any = positions.iter().fold(Condition::any(), |any, (account, sequence)| {
        any.add(
            Condition::all()
                .add(Column::AccountId.eq(*account))
                .add(Column::Sequence.eq(*sequence)),
        )
    });
    let rows = entry::Entity::find()
        .select_only()
        .columns([Column::AccountId, Column::Sequence, Column::Hash])
        .filter(any)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows)
}

/// The entries of the transfers `ids` (debit entry first, then credit, per
/// transfer). A transfer records where its entries sit (migration 21), so
/// this is one statement of primary-key lookups, not an index by transfer.
pub async fn by_transfer_ids(ledger: &Ledger, ids: &[Uuid]) -> Result<Vec<entry::Model>> {
    of_transfers(ledger.connection(), ids).await
}

/// [`by_transfer_ids`] on any connection.
pub(crate) async fn of_transfers(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<entry::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let (which, values) = crate::store::db::one_of(backend, ids);
    let sql = format!(
        "SELECT e.* FROM transfer t JOIN entry e \
         ON (e.account_id = t.debit_account_id AND e.sequence = t.debit_sequence) \
         OR (e.account_id = t.credit_account_id AND e.sequence = t.credit_sequence) \
         WHERE t.id {which} ORDER BY e.id"
    );
    let stmt = Statement::from_sql_and_values(backend, sql, values);
    Ok(entry::Entity::find().from_raw_sql(stmt).all(db).await?)
}
