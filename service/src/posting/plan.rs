//! Step 2a of the engine: what each request needs before accounts are locked.
//!
//! Resolves world accounts, reads the transfer a reversal compensates
//! (transfers never change, so no lock is needed), and locks every hold the
//! run settles: holds are always locked before accounts, all in id order.

use std::collections::{BTreeSet, HashMap};

use rust_decimal::Decimal;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::model::error::Result;
use crate::model::request::{Action, Request, Side};
use crate::store::account as repo;
use crate::store::ledger::Ledger;
use entity::HoldStatus;
use entity::{account, hold, transfer};

/// Everything a request needs from the database to be applied in memory.
#[derive(Default)]
pub(super) struct Plan {
    /// Accounts to lock.
    pub(super) accounts: Vec<Uuid>,
    /// For a movement: the resolved sides (`None` = no world account found).
    pub(super) debit: Option<Uuid>,
    pub(super) credit: Option<Uuid>,
    /// For a reversal: the transfer it compensates, when it exists.
    pub(super) original: Option<transfer::Model>,
    /// For an exchange: the exchange accounts of its source and target
    /// currencies (`None` when an account does not exist).
    pub(super) exchange: Option<(Uuid, Uuid)>,
}

pub(super) async fn prepare(
    ledger: &Ledger,
    txn: &DatabaseTransaction,
    requests: &[Request],
    pending: &[usize],
) -> Result<(Vec<Plan>, Vec<hold::Model>)> {
    let currencies = currencies_for_world_sides(ledger, txn, requests, pending).await?;
    let holds = lock_holds(txn, requests, pending).await?;
    let mut plans = Vec::with_capacity(pending.len());
    for &i in pending {
        plans.push(plan(ledger, txn, &requests[i].action, &currencies, &holds).await?);
    }
    Ok((plans, holds.into_values().collect()))
}

async fn plan(
    ledger: &Ledger,
    txn: &DatabaseTransaction,
    action: &Action,
    currencies: &HashMap<Uuid, String>,
    holds: &HashMap<Uuid, hold::Model>,
) -> Result<Plan> {
    let mut p = Plan::default();
    let hold_accounts = |id: &Uuid| {
        holds
            .get(id)
            .map(|h| vec![h.debit_account_id, h.credit_account_id])
            .unwrap_or_default()
    };
    match action {
        Action::Move { debit, credit, .. } => {
            let other = |side: &Side| match side {
                Side::Account(id) => currencies.get(id).cloned(),
                Side::World => None,
            };
            p.debit = resolve(ledger, txn, *debit, other(credit)).await?;
            p.credit = resolve(ledger, txn, *credit, other(debit)).await?;
            p.accounts = [p.debit, p.credit].into_iter().flatten().collect();
        }
        Action::Split { from, parts, .. } => return Ok(split(*from, parts)),
        Action::Reverse { transfer_id, .. } => {
            p.original = transfer::Entity::find_by_id(*transfer_id).one(txn).await?;
            p.accounts = p
                .original
                .iter()
                .flat_map(|t| [t.debit_account_id, t.credit_account_id])
                .collect();
        }
        Action::Hold { from, to, .. } => p.accounts = vec![*from, *to],
        Action::Capture { hold_id, .. } | Action::Void { hold_id } | Action::Expire { hold_id } => {
            p.accounts = hold_accounts(hold_id)
        }
        Action::Archive { account, sweep_to } => p.accounts = std::iter::once(*account).chain(*sweep_to).collect(),
        Action::Exchange { from, to, .. } => {
            p.accounts = vec![*from, *to];
            // Currencies never change: an unlocked read picks the exchange accounts.
            let (a, b) = (
                repo::currency_of(ledger, txn, *from).await?,
                repo::currency_of(ledger, txn, *to).await?,
            );
            if let (Some(a), Some(b)) = (a, b) {
                let pair = (
                    repo::exchange_id(ledger, txn, &a).await?,
                    repo::exchange_id(ledger, txn, &b).await?,
                );
                p.accounts.extend([pair.0, pair.1]);
                p.exchange = Some(pair);
            }
        }
    }
    Ok(p)
}

/// The plan of a movement or split from this instance's caches alone, for
/// the optimistic path; `None` for any other operation, or when a world
/// account's id or an account's currency is not cached yet.
pub(super) fn from_cache(ledger: &Ledger, action: &Action) -> Option<Plan> {
    let world = |id: &Uuid| {
        let currency = ledger.cache.currencies.get(id)?;
        ledger.cache.worlds.get(currency.as_str())
    };
    let (debit, credit) = match action {
        Action::Move { debit, credit, .. } => match (debit, credit) {
            (Side::Account(d), Side::Account(c)) => (*d, *c),
            (Side::World, Side::Account(c)) => (world(c)?, *c),
            (Side::Account(d), Side::World) => (*d, world(d)?),
            (Side::World, Side::World) => return None,
        },
        Action::Split { from, parts, .. } => return Some(split(*from, parts)),
        _ => return None,
    };
    Some(Plan {
        accounts: vec![debit, credit],
        debit: Some(debit),
        credit: Some(credit),
        ..Plan::default()
    })
}

/// A split touches its source and every part's account.
fn split(from: Uuid, parts: &[(Uuid, Decimal)]) -> Plan {
    Plan {
        accounts: std::iter::once(from).chain(parts.iter().map(|(id, _)| *id)).collect(),
        ..Plan::default()
    }
}

/// Every account the plans touch, once each, in ascending id order (the lock order).
pub(super) fn accounts_of(plans: &[Plan]) -> BTreeSet<Uuid> {
    plans.iter().flat_map(|p| p.accounts.iter().copied()).collect()
}

async fn resolve(
    ledger: &Ledger,
    txn: &DatabaseTransaction,
    side: Side,
    other_currency: Option<String>,
) -> Result<Option<Uuid>> {
    match (side, other_currency) {
        (Side::Account(id), _) => Ok(Some(id)),
        (Side::World, Some(cur)) => Ok(Some(repo::world_id(ledger, txn, &cur).await?)),
        (Side::World, None) => Ok(None),
    }
}

/// An account's currency never changes, so an unlocked (or cached) read is
/// enough to pick a world account.
async fn currencies_for_world_sides(
    ledger: &Ledger,
    txn: &DatabaseTransaction,
    requests: &[Request],
    pending: &[usize],
) -> Result<HashMap<Uuid, String>> {
    let ids: Vec<Uuid> = pending
        .iter()
        .filter_map(|i| match &requests[*i].action {
            Action::Move {
                debit: Side::World,
                credit: Side::Account(id),
                ..
            }
            | Action::Move {
                debit: Side::Account(id),
                credit: Side::World,
                ..
            } => Some(*id),
            _ => None,
        })
        .collect();
    let (mut found, mut missing) = (HashMap::new(), Vec::new());
    for id in ids {
        match ledger.cache.currencies.get(&id) {
            Some(currency) => {
                found.insert(id, currency);
            }
            None => missing.push(id),
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let rows = account::Entity::find()
        .filter(account::Column::Id.is_in(missing))
        .all(txn)
        .await?;
    ledger
        .cache
        .currencies
        .insert(rows.iter().map(|a| (a.id, a.currency.clone())));
    found.extend(rows.into_iter().map(|a| (a.id, a.currency)));
    Ok(found)
}

/// Locks every hold the requests settle — captures, voids, and the pending
/// holds of accounts being archived — in one `FOR UPDATE` ordered by id, so
/// runs never lock holds in opposite orders. The expiry worker's holds are
/// claimed with `SKIP LOCKED`: someone else settling one means skip it.
async fn lock_holds(
    txn: &DatabaseTransaction,
    requests: &[Request],
    pending: &[usize],
) -> Result<HashMap<Uuid, hold::Model>> {
    let (mut ids, mut expiring, mut archived) = (BTreeSet::new(), Vec::new(), Vec::new());
    for &i in pending {
        match &requests[i].action {
            Action::Capture { hold_id, .. } | Action::Void { hold_id } => {
                ids.insert(*hold_id);
            }
            Action::Expire { hold_id } => expiring.push(*hold_id),
            Action::Archive { account, .. } => archived.push(*account),
            _ => {}
        }
    }
    if !archived.is_empty() {
        let held = hold::Entity::find()
            .filter(hold::Column::DebitAccountId.is_in(archived))
            .filter(hold::Column::Status.eq(HoldStatus::Pending))
            .all(txn)
            .await?;
        ids.extend(held.into_iter().map(|h| h.id));
    }
    let mut locked = Vec::new();
    if !ids.is_empty() {
        let query = hold::Entity::find()
            .filter(hold::Column::Id.is_in(ids))
            .order_by_asc(hold::Column::Id);
        locked.extend(query.lock_exclusive().all(txn).await?);
    }
    if !expiring.is_empty() {
        let query = hold::Entity::find()
            .filter(hold::Column::Id.is_in(expiring))
            .order_by_asc(hold::Column::Id);
        locked.extend(
            query
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .all(txn)
                .await?,
        );
    }
    Ok(locked.into_iter().map(|h| (h.id, h)).collect())
}

/// How much of each reversed transfer is already reversed. Read after the
/// accounts are locked: every reversal of a transfer touches the same two
/// accounts, so concurrent reversals of one transfer are serialised by then.
pub(super) async fn reversed_totals(txn: &DatabaseTransaction, plans: &[Plan]) -> Result<HashMap<Uuid, Decimal>> {
    let ids: Vec<Uuid> = plans.iter().filter_map(|p| p.original.as_ref().map(|t| t.id)).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let reversals = transfer::Entity::find()
        .filter(transfer::Column::ReversalOf.is_in(ids))
        .all(txn)
        .await?;
    let mut totals: HashMap<Uuid, Decimal> = HashMap::new();
    for r in reversals {
        if let Some(original) = r.reversal_of {
            *totals.entry(original).or_default() += r.amount.0;
        }
    }
    Ok(totals)
}
