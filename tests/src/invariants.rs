//! An independent check of the ledger invariants, written against the rows
//! without reusing the service's verifier (so a bug there cannot hide here).

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Result, ensure};
use rust_decimal::Decimal;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use service::entity::{account, entry, hold, idempotency, transfer};
use uuid::Uuid;

pub async fn check(db: &DatabaseConnection) -> Result<()> {
    let accounts = account::Entity::find().all(db).await?;
    let entries = entry::Entity::find()
        .order_by_asc(entry::Column::AccountId)
        .order_by_asc(entry::Column::Sequence)
        .all(db)
        .await?;
    let transfers = transfer::Entity::find().all(db).await?;
    let records = idempotency::Entity::find().all(db).await?;
    let holds = hold::Entity::find().all(db).await?;
    holds_match_held_balances(&accounts, &holds)?;
    currencies_sum_to_zero(&accounts)?;
    chains_and_running_balances(&accounts, &entries)?;
    transfers_balance(&transfers, &entries)?;
    one_outcome_per_key(&transfers, &records)
}

fn currencies_sum_to_zero(accounts: &[account::Model]) -> Result<()> {
    let mut sums: BTreeMap<&str, Decimal> = BTreeMap::new();
    for a in accounts {
        *sums.entry(&a.currency).or_default() += a.balance.0;
    }
    for (currency, sum) in sums {
        ensure!(sum.is_zero(), "{currency} sums to {sum}");
    }
    Ok(())
}

fn chains_and_running_balances(accounts: &[account::Model], entries: &[entry::Model]) -> Result<()> {
    let mut by_account: HashMap<Uuid, Vec<&entry::Model>> = HashMap::new();
    for e in entries {
        by_account.entry(e.account_id).or_default().push(e);
    }
    for a in accounts {
        let list = by_account.remove(&a.id).unwrap_or_default();
        let mut running = Decimal::ZERO;
        let mut previous = vec![0u8; 32];
        for (i, e) in list.iter().enumerate() {
            ensure!(
                e.sequence == i as i64 + 1,
                "account {} sequence gap at {}",
                a.code,
                e.sequence
            );
            // Each hash recomputed over its predecessor's (an entry stores an
            // empty previous_hash; older ones store it, and it must match).
            let recomputed = service::model::hash::entry_hash(&service::model::hash::EntryFields {
                previous_hash: &previous,
                account_id: e.account_id,
                sequence: e.sequence,
                transfer_id: e.transfer_id,
                amount: &e.amount.0.to_string(),
                balance_after: &e.balance_after.0.to_string(),
                created_at: e.created_at,
                effective_at: e.effective_at,
            });
            ensure!(
                (e.previous_hash.is_empty() || e.previous_hash == previous) && e.hash == recomputed,
                "account {} chain broken at {}",
                a.code,
                e.sequence
            );
            running += e.amount.0;
            ensure!(
                running == e.balance_after.0,
                "account {} running balance off at {}",
                a.code,
                e.sequence
            );
            if let Some(floor) = a.min_balance {
                ensure!(
                    e.balance_after.0 >= floor.0,
                    "account {} below its floor at {}",
                    a.code,
                    e.sequence
                );
            }
            previous = e.hash.clone();
        }
        ensure!(
            a.balance.0 == running,
            "account {} balance {} != Σ entries {running}",
            a.code,
            a.balance
        );
        ensure!(a.entry_count == list.len() as i64, "account {} entry count off", a.code);
    }
    ensure!(by_account.is_empty(), "entries of unknown accounts");
    Ok(())
}

fn transfers_balance(transfers: &[transfer::Model], entries: &[entry::Model]) -> Result<()> {
    let mut sums: HashMap<Uuid, (Decimal, usize)> = HashMap::new();
    let mut at: HashMap<(Uuid, i64), Uuid> = HashMap::new();
    for e in entries {
        let s = sums.entry(e.transfer_id).or_default();
        s.0 += e.amount.0;
        s.1 += 1;
        at.insert((e.account_id, e.sequence), e.transfer_id);
    }
    for t in transfers {
        let (sum, n) = sums.remove(&t.id).unwrap_or_default();
        ensure!(
            n == 2 && sum.is_zero(),
            "transfer {} has {n} entries summing to {sum}",
            t.id
        );
        // Readers find the entries by the positions the transfer records.
        for (account, sequence) in [
            (t.debit_account_id, t.debit_sequence),
            (t.credit_account_id, t.credit_sequence),
        ] {
            let found = sequence.and_then(|s| at.get(&(account, s)));
            ensure!(found == Some(&t.id), "transfer {} records a wrong entry position", t.id);
        }
    }
    ensure!(sums.is_empty(), "entries of unknown transfers");
    Ok(())
}

/// Every transfer's key has exactly one record, listing exactly the key's
/// transfers in id order (the first in `transfer_id`, the rest in
/// `more_transfer_ids`): replay reads them from there.
fn one_outcome_per_key(transfers: &[transfer::Model], records: &[idempotency::Model]) -> Result<()> {
    let mut by_key: HashMap<&str, Vec<Uuid>> = HashMap::new();
    for t in transfers {
        by_key.entry(t.idempotency_key.as_str()).or_default().push(t.id);
    }
    let recorded: HashSet<&str> = records.iter().map(|r| r.key.as_str()).collect();
    ensure!(recorded.len() == records.len(), "a key has two records");
    for (key, mut ids) in by_key {
        ids.sort();
        let record = records.iter().find(|r| r.key == key);
        let listed: Option<Vec<Uuid>> = record.and_then(|r| {
            let more = r.more_transfer_ids.as_deref().unwrap_or_default();
            let rest = more
                .chunks(16)
                .map(Uuid::from_slice)
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            Some(r.transfer_id.into_iter().chain(rest).collect())
        });
        ensure!(
            listed.as_ref() == Some(&ids),
            "key {key}: the record lists {listed:?}, the transfers are {ids:?}"
        );
    }
    Ok(())
}

/// held_balance = Σ PENDING holds debiting the account; available never below the floor.
fn holds_match_held_balances(accounts: &[account::Model], holds: &[hold::Model]) -> Result<()> {
    let mut held: HashMap<Uuid, Decimal> = HashMap::new();
    for h in holds
        .iter()
        .filter(|h| h.status == service::entity::HoldStatus::Pending)
    {
        *held.entry(h.debit_account_id).or_default() += h.amount.0;
    }
    for a in accounts {
        let expected = held.get(&a.id).copied().unwrap_or_default();
        ensure!(
            a.held_balance.0 == expected,
            "account {} holds {} but its pending holds sum to {expected}",
            a.code,
            a.held_balance
        );
        if let Some(floor) = a.min_balance {
            ensure!(
                a.balance.0 - a.held_balance.0 >= floor.0,
                "account {} available below its floor",
                a.code
            );
        }
    }
    Ok(())
}
