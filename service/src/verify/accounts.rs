//! The account side of the walk: loading accounts (in memory, or a page at
//! a time when there are too many), walking each account's entries in
//! sequence order, and checking held balances against pending holds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use super::chains::{Account, Chains, Entry};
use crate::model::error::Result;
use crate::model::report::{Verification, problem};
use crate::store::db::Cols;
use entity::{Money, account, entry, hold};

const ACCOUNT_PAGE: u64 = 2000;
const ENTRY_PAGE: u64 = 20_000;

/// Loads the first `limit` accounts in id order.
pub(super) async fn accounts(txn: &DatabaseTransaction, limit: u64) -> Result<Vec<Account>> {
    let mut out = Vec::new();
    let mut cursor = None;
    while (out.len() as u64) < limit {
        let page = account_page(txn, cursor, Ord::min(ACCOUNT_PAGE, limit - out.len() as u64)).await?;
        let Some(last) = page.last() else { break };
        cursor = Some(last.id);
        out.extend(page);
    }
    Ok(out)
}

/// Walks the chains of every account (id order), a page at a time;
/// `entries_seen` counts entries as they are checked (the progress line
/// reads it). Returns whether some chain had a gap.
pub(super) async fn walk(
    txn: &DatabaseTransaction,
    entries_seen: &AtomicU64,
    sums: &mut BTreeMap<String, Decimal>,
    v: &mut Verification,
) -> Result<bool> {
    let mut cursor = None;
    let mut gaps = false;
    loop {
        let page = account_page(txn, cursor, ACCOUNT_PAGE).await?;
        let Some(last) = page.last() else { break };
        cursor = Some(last.id);
        check_held(txn, &page, v).await?;
        v.accounts_checked += page.len() as u64;
        let range = (page[0].id, last.id);
        let mut chains = Chains::new(page);
        let mut from: Option<(Uuid, i64)> = None;
        loop {
            let rows = entry_page(txn, range, from).await?;
            let Some(tail) = rows.last() else { break };
            from = Some((tail.account_id, tail.sequence));
            entries_seen.fetch_add(rows.len() as u64, Ordering::Relaxed);
            for e in rows {
                chains.offer(e, v);
            }
        }
        gaps |= chains.finish(sums, v);
    }
    Ok(gaps)
}

async fn account_page(txn: &DatabaseTransaction, after: Option<Uuid>, limit: u64) -> Result<Vec<Account>> {
    use account::Column as C;
    let mut q = account::Entity::find()
        .select_only()
        .columns([C::Id, C::Currency, C::Balance, C::HeldBalance, C::EntryCount])
        .order_by_asc(C::Id)
        .limit(limit);
    if let Some(after) = after {
        q = q.filter(C::Id.gt(after));
    }
    let rows = txn.query_all(&q.into_query()).await?;
    rows.iter()
        .map(|row| {
            let mut c = Cols::new(row);
            Ok(Account {
                id: c.next()?,
                currency: c.next()?,
                balance: c.next::<Money>()?.0,
                held_balance: c.next::<Money>()?.0,
                entry_count: c.next()?,
            })
        })
        .collect()
}

/// The next entries of the accounts in [first, last], by keyset on the
/// (account_id, sequence) index: one index range scan per page.
async fn entry_page(txn: &DatabaseTransaction, ids: (Uuid, Uuid), cursor: Option<(Uuid, i64)>) -> Result<Vec<Entry>> {
    use entry::Column as C;
    let mut q = entry::Entity::find()
        .select_only()
        .columns([
            C::AccountId,
            C::Sequence,
            C::TransferId,
            C::Amount,
            C::BalanceAfter,
            C::CreatedAt,
            C::EffectiveAt,
            C::PreviousHash,
            C::Hash,
        ])
        .filter(C::AccountId.gte(ids.0))
        .filter(C::AccountId.lte(ids.1));
    if let Some((account, seq)) = cursor {
        let key = Expr::tuple([Expr::col(C::AccountId), Expr::col(C::Sequence)]);
        q = q.filter(key.gt(Expr::tuple([Expr::value(account), Expr::value(seq)])));
    }
    let q = q.order_by_asc(C::AccountId).order_by_asc(C::Sequence).limit(ENTRY_PAGE);
    let rows = txn.query_all(&q.into_query()).await?;
    rows.iter().map(|row| Entry::decode(&mut Cols::new(row))).collect()
}

/// An account's `held_balance` must be the sum of its pending holds
/// (`accounts` in id order).
pub(super) async fn check_held(txn: &DatabaseTransaction, accounts: &[Account], v: &mut Verification) -> Result<()> {
    let (Some(first), Some(last)) = (accounts.first(), accounts.last()) else {
        return Ok(());
    };
    let pending = hold::Entity::find()
        .select_only()
        .columns([hold::Column::DebitAccountId, hold::Column::Amount])
        .filter(hold::Column::DebitAccountId.between(first.id, last.id))
        .filter(hold::Column::Status.eq(entity::HoldStatus::Pending))
        .into_tuple::<(Uuid, Money)>()
        .all(txn)
        .await?;
    let mut held: BTreeMap<Uuid, Decimal> = BTreeMap::new();
    for (account, amount) in pending {
        *held.entry(account).or_default() += amount.0;
    }
    for a in accounts {
        let expected = held.get(&a.id).copied().unwrap_or_default();
        if a.held_balance != expected {
            let message = format!(
                "held balance {} differs from its pending holds, {expected}",
                a.held_balance
            );
            v.report(problem(Some(a.id), None, message));
        }
    }
    Ok(())
}
