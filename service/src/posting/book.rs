//! Steps 3 and 4 of the engine: postings applied in memory against the locked
//! rows, then written back in one go.
//!
//! Each posting is checked against the state left by the postings before it
//! in the same run (so a batch behaves exactly like the same transfers one by
//! one). A refused posting changes nothing in the book.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{DatabaseTransaction, EntityTrait, IntoActiveModel};
use uuid::Uuid;

use super::{Outcome, Posting, replay::key_reused};
use crate::account::{self as accounts, repo};
use crate::error::{ErrorCode, LedgerError, Result};
use crate::hash::{EntryFields, entry_hash};
use crate::money;
use crate::time::now_micros;
use entity::{Money, account, entry, idempotency, transfer};

struct Tracked {
    row: account::Model,
    read_version: i64,
    changed: bool,
}

/// What a key led to earlier in this run, to answer a repeat of it.
#[derive(Clone)]
enum Seen {
    Posted(transfer::Model),
    Refused(ErrorCode, String),
    Unrecorded,
}

pub(super) struct Book {
    accounts: HashMap<Uuid, Tracked>,
    scales: HashMap<String, u32>,
    transfers: Vec<transfer::Model>,
    entries: Vec<entry::Model>,
    records: Vec<idempotency::Model>,
    seen: HashMap<String, ([u8; 32], Seen)>,
    now: DateTime<Utc>,
}

impl Book {
    pub(super) fn new(locked: Vec<account::Model>, scales: HashMap<String, u32>) -> Self {
        let accounts = locked
            .into_iter()
            .map(|row| {
                (
                    row.id,
                    Tracked {
                        read_version: row.version,
                        row,
                        changed: false,
                    },
                )
            })
            .collect();
        Book {
            accounts,
            scales,
            transfers: Vec::new(),
            entries: Vec::new(),
            records: Vec::new(),
            seen: HashMap::new(),
            now: now_micros(),
        }
    }

    pub(super) fn apply(
        &mut self,
        p: &Posting,
        debit: Option<Uuid>,
        credit: Option<Uuid>,
    ) -> Outcome {
        if let Some((fingerprint, seen)) = self.seen.get(p.key.as_str()) {
            return repeat(p, fingerprint, seen);
        }
        let outcome = self.try_apply(p, debit, credit);
        self.record(p, &outcome);
        outcome
    }

    fn record(&mut self, p: &Posting, outcome: &Outcome) {
        let (transfer_id, error) = match outcome {
            Ok(t) => (Some(t.id), None),
            Err(e) if e.code().is_recorded() => (None, Some((e.code(), e.to_string()))),
            Err(_) => {
                self.seen
                    .insert(p.key.as_str().to_owned(), (p.fingerprint, Seen::Unrecorded));
                return;
            }
        };
        let seen = match (outcome, &error) {
            (Ok(t), _) => Seen::Posted(t.clone()),
            (_, Some((code, msg))) => Seen::Refused(*code, msg.clone()),
            _ => Seen::Unrecorded,
        };
        self.seen
            .insert(p.key.as_str().to_owned(), (p.fingerprint, seen));
        self.records.push(idempotency::Model {
            key: p.key.as_str().to_owned(),
            fingerprint: p.fingerprint.to_vec(),
            transfer_id,
            error_code: error.as_ref().map(|(c, _)| c.as_str().to_owned()),
            error_message: error.map(|(_, m)| m),
            created_at: self.now,
        });
    }

    fn try_apply(&mut self, p: &Posting, debit: Option<Uuid>, credit: Option<Uuid>) -> Outcome {
        let d = self.current(debit)?;
        let c = self.current(credit)?;
        if d.id == c.id {
            return Err(LedgerError::client(
                ErrorCode::SameAccount,
                "debit and credit account are the same",
            ));
        }
        if d.currency != c.currency {
            return Err(LedgerError::client(
                ErrorCode::CurrencyMismatch,
                format!(
                    "account {} holds {} but account {} holds {}",
                    d.id, d.currency, c.id, c.currency
                ),
            ));
        }
        let scale = self.scales.get(&d.currency).copied().unwrap_or(0);
        let amount = money::amount_at_scale(p.amount, scale)?;
        let debit_after = money::checked_balance(d.balance.0.checked_sub(amount))?;
        if let Some(floor) = d.min_balance.filter(|f| debit_after < f.0) {
            return Err(LedgerError::client(
                ErrorCode::InsufficientFunds,
                format!(
                    "account {} has {} and may not go below {}",
                    d.id, d.balance, floor
                ),
            ));
        }
        let credit_after = money::checked_balance(c.balance.0.checked_add(amount))?;
        let at = [Some(self.now), d.last_entry_at, c.last_entry_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(self.now);
        let t = transfer::Model {
            id: Uuid::now_v7(),
            kind: p.kind.as_str().to_owned(),
            debit_account_id: d.id,
            credit_account_id: c.id,
            amount: Money(amount),
            currency: d.currency.clone(),
            idempotency_key: p.key.as_str().to_owned(),
            description: p.description.clone(),
            metadata: p.metadata.clone(),
            created_at: at,
        };
        self.post_entry(d.id, &t, -amount, debit_after);
        self.post_entry(c.id, &t, amount, credit_after);
        self.transfers.push(t.clone());
        Ok(t)
    }

    fn current(&self, id: Option<Uuid>) -> Result<account::Model> {
        let found = id.and_then(|id| self.accounts.get(&id));
        match (found, id) {
            (Some(t), _) => Ok(t.row.clone()),
            (None, Some(id)) => Err(accounts::not_found(&id.to_string())),
            (None, None) => Err(accounts::not_found("(for this currency)")),
        }
    }

    /// Extends the account's hash chain by one entry, under its lock.
    fn post_entry(
        &mut self,
        account_id: Uuid,
        t: &transfer::Model,
        amount: Decimal,
        after: Decimal,
    ) {
        let Some(tracked) = self.accounts.get_mut(&account_id) else {
            return;
        };
        let row = &mut tracked.row;
        let sequence = row.entry_count + 1;
        let hash = entry_hash(&EntryFields {
            previous_hash: &row.head_hash,
            account_id,
            sequence,
            transfer_id: t.id,
            amount,
            balance_after: after,
            created_at: t.created_at,
        });
        self.entries.push(entry::Model {
            id: Uuid::now_v7(),
            account_id,
            transfer_id: t.id,
            amount: Money(amount),
            balance_after: Money(after),
            sequence,
            created_at: t.created_at,
            previous_hash: row.head_hash.clone(),
            hash: hash.to_vec(),
        });
        row.balance = Money(after);
        row.entry_count = sequence;
        row.head_hash = hash.to_vec();
        row.last_entry_at = Some(t.created_at);
        tracked.changed = true;
    }

    /// Step 4: compare-and-swap every changed account, then the inserts.
    pub(super) async fn write(self, txn: &DatabaseTransaction) -> Result<()> {
        let mut changed: Vec<Tracked> = self.accounts.into_values().filter(|t| t.changed).collect();
        changed.sort_by_key(|t| t.row.id);
        for mut t in changed {
            t.row.version = t.read_version + 1;
            repo::compare_and_swap(txn, &t.row, t.read_version).await?;
        }
        insert_all::<transfer::Entity, _>(txn, self.transfers).await?;
        insert_all::<entry::Entity, _>(txn, self.entries).await?;
        insert_all::<idempotency::Entity, _>(txn, self.records).await
    }
}

async fn insert_all<E, M>(txn: &DatabaseTransaction, rows: Vec<M>) -> Result<()>
where
    E: EntityTrait,
    M: IntoActiveModel<E::ActiveModel>,
{
    if rows.is_empty() {
        return Ok(());
    }
    E::insert_many(rows.into_iter().map(IntoActiveModel::into_active_model))
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

fn repeat(p: &Posting, fingerprint: &[u8; 32], seen: &Seen) -> Outcome {
    if fingerprint != &p.fingerprint {
        return Err(key_reused(p.key.as_str()));
    }
    match seen {
        Seen::Posted(t) => Ok(t.clone()),
        Seen::Refused(code, msg) => Err(LedgerError::client(*code, msg.clone())),
        Seen::Unrecorded => Err(LedgerError::client(
            ErrorCode::InvalidInput,
            "an earlier item with this idempotency key was refused as malformed",
        )),
    }
}
