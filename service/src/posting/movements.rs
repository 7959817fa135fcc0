//! Step 3: each operation applied to the book, with every rule about money.
//!
//! Rules every movement obeys: both accounts exist, differ, are ACTIVE and
//! hold the same currency; the amount is positive with at most the
//! currency's scale; the debit leaves `balance - held >= min_balance` (the
//! floor applies to the *available* balance, so holds can never be spent
//! twice); each entry extends its account's hash chain under the lock.
//! Holds are in `holds.rs`, archiving and sweeping in `archive.rs`.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::book::Book;
use super::plan::Plan;
use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::hash::{EntryFields, entry_hash, transfer_hash};
use crate::model::money;
use crate::model::request::{Action, Effect, Outcome, Request};
use entity::AccountStatus;
use entity::TransferKind;
use entity::{Money, account, entry, transfer};

/// One movement to post.
pub(super) struct Move<'a> {
    pub(super) kind: TransferKind,
    pub(super) debit: Option<Uuid>,
    pub(super) credit: Option<Uuid>,
    pub(super) amount: Decimal,
    pub(super) req: &'a Request,
    pub(super) reversal_of: Option<Uuid>,
    pub(super) hold_id: Option<Uuid>,
    /// Off only for sweeping an account being closed to zero.
    pub(super) enforce_floor: bool,
    /// The transfer's metadata when not the request's (an exchange records
    /// its rate and rounding beside the client's metadata).
    pub(super) metadata: Option<serde_json::Value>,
}

impl Book {
    pub(super) fn dispatch(&mut self, req: &Request, plan: Plan) -> Outcome {
        match &req.action {
            Action::Move { kind, amount, .. } => {
                let m = self.plain(*kind, plan.debit, plan.credit, *amount, req);
                Ok(Effect {
                    transfers: vec![self.move_money(m)?],
                    ..Effect::default()
                })
            }
            Action::Split { from, amount, parts } => self.split(req, *from, *amount, parts),
            Action::Reverse { transfer_id, amount } => self.reverse(req, *transfer_id, plan.original, *amount),
            Action::Hold {
                from,
                to,
                amount,
                expires_at,
            } => self.place_hold(req, *from, *to, *amount, *expires_at),
            Action::Capture { hold_id, amount } => self.capture(req, *hold_id, *amount),
            Action::Void { hold_id } => self.void(*hold_id),
            Action::Expire { hold_id } => self.expire(*hold_id),
            Action::Archive { account, sweep_to } => self.archive(req, *account, *sweep_to),
            Action::Exchange {
                from,
                to,
                amount,
                price,
                rounding,
            } => self.exchange(req, (*from, *to), *amount, *price, *rounding, plan.exchange),
        }
    }

    pub(super) fn plain<'a>(
        &self,
        kind: TransferKind,
        debit: Option<Uuid>,
        credit: Option<Uuid>,
        amount: Decimal,
        req: &'a Request,
    ) -> Move<'a> {
        Move {
            kind,
            debit,
            credit,
            amount,
            req,
            reversal_of: None,
            hold_id: None,
            enforce_floor: true,
            metadata: None,
        }
    }

    /// Checks both parties of a movement or hold; returns them and the amount at scale.
    pub(super) fn parties(
        &self,
        debit: Option<Uuid>,
        credit: Option<Uuid>,
        amount: Decimal,
    ) -> Result<(account::Model, account::Model, Decimal)> {
        let d = self.account(debit)?;
        let c = self.account(credit)?;
        if d.id == c.id {
            return Err(LedgerError::client(
                ErrorCode::SameAccount,
                "debit and credit account are the same",
            ));
        }
        active(&d)?;
        active(&c)?;
        same_currency(&d, &c)?;
        let amount = money::amount_at_scale(amount, self.scale(&d.currency)?)?;
        Ok((d, c, amount))
    }

    pub(super) fn move_money(&mut self, m: Move<'_>) -> Result<transfer::Model> {
        let (d, c, amount) = self.parties(m.debit, m.credit, m.amount)?;
        let scale = self.scale(&d.currency)?;
        let debit_after = money::checked_balance(d.balance.0.checked_sub(amount), scale)?;
        if m.enforce_floor {
            floor_holds(&d, debit_after - d.held_balance.0)?;
        }
        let credit_after = money::checked_balance(c.balance.0.checked_add(amount), scale)?;
        let at = [Some(self.now), d.last_entry_at, c.last_entry_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(self.now);
        let t = transfer::Model {
            id: Uuid::now_v7(),
            kind: m.kind,
            debit_account_id: d.id,
            credit_account_id: c.id,
            amount: Money(amount),
            currency: d.currency.clone(),
            idempotency_key: m.req.key.as_ref().map(|k| k.as_str().to_owned()).unwrap_or_default(),
            reversal_of: m.reversal_of,
            hold_id: m.hold_id,
            description: m.req.description.clone(),
            metadata: m.metadata.or_else(|| m.req.metadata.clone()),
            created_at: at,
            effective_at: m.req.effective_at,
            hash: None,
            debit_sequence: None,
            credit_sequence: None,
        };
        self.post_entry(d.id, &t, -amount, debit_after)?;
        self.post_entry(c.id, &t, amount, credit_after)?;
        let legs = &self.entries[self.entries.len() - 2..];
        let hashes: Vec<&[u8]> = legs.iter().map(|e| e.hash.as_slice()).collect();
        let t = transfer::Model {
            hash: Some(transfer_hash(&t, &hashes).to_vec()),
            // Where the entries sit: how readers find them (no index by transfer).
            debit_sequence: Some(legs[0].sequence),
            credit_sequence: Some(legs[1].sequence),
            ..t
        };
        self.transfers.push(t.clone());
        Ok(t)
    }

    /// Extends the account's hash chain by one entry, under its lock.
    fn post_entry(&mut self, account_id: Uuid, t: &transfer::Model, amount: Decimal, after: Decimal) -> Result<()> {
        let row = self.account_mut(account_id)?;
        let sequence = row.entry_count + 1;
        let hash = entry_hash(&EntryFields {
            previous_hash: &row.head_hash,
            account_id,
            sequence,
            transfer_id: t.id,
            amount: &amount.to_string(),
            balance_after: &after.to_string(),
            created_at: t.created_at,
            effective_at: t.effective_at,
        });
        let e = entry::Model {
            id: Uuid::now_v7(),
            account_id,
            transfer_id: t.id,
            amount: Money(amount),
            balance_after: Money(after),
            sequence,
            created_at: t.created_at,
            effective_at: t.effective_at,
            // Not stored: it is the previous entry's hash (32 bytes of row
            // and WAL per entry), which every reader of a chain has.
            previous_hash: Vec::new(),
            hash: hash.to_vec(),
        };
        row.balance = Money(after);
        row.entry_count = sequence;
        row.head_hash = hash.to_vec();
        row.last_entry_at = Some(t.created_at);
        self.entries.push(e);
        Ok(())
    }

    fn split(&mut self, req: &Request, from: Uuid, amount: Decimal, parts: &[(Uuid, Decimal)]) -> Outcome {
        let source = self.account(Some(from))?;
        let scale = self.scale(&source.currency)?;
        let amount = money::amount_at_scale(amount, scale)?;
        let weights: Vec<Decimal> = parts.iter().map(|(_, w)| *w).collect();
        let shares = super::allocate::allocate(amount, &weights, scale)?;
        let mut effect = Effect::default();
        for ((to, _), share) in parts.iter().zip(shares).filter(|(_, s)| !s.is_zero()) {
            let m = self.plain(TransferKind::Transfer, Some(from), Some(*to), share, req);
            effect.transfers.push(self.move_money(m)?);
        }
        Ok(effect)
    }

    fn reverse(
        &mut self,
        req: &Request,
        id: Uuid,
        original: Option<transfer::Model>,
        amount: Option<Decimal>,
    ) -> Outcome {
        let original = original.ok_or_else(|| crate::store::transfer::not_found(&id.to_string()))?;
        if original.kind == TransferKind::Reversal {
            return Err(LedgerError::client(
                ErrorCode::ReversalNotAllowed,
                "a reversal cannot be reversed",
            ));
        }
        let done = self.reversed.get(&original.id).copied().unwrap_or_default();
        let remaining = original.amount.0 - done;
        let amount = amount.unwrap_or(remaining);
        if amount > remaining || remaining.is_zero() {
            return Err(LedgerError::client(
                ErrorCode::ReversalExceedsOriginal,
                format!(
                    "{} of {} is already reversed; {amount} more would exceed it",
                    done, original.amount
                ),
            ));
        }
        let m = Move {
            reversal_of: Some(original.id),
            ..self.plain(
                TransferKind::Reversal,
                Some(original.credit_account_id),
                Some(original.debit_account_id),
                amount,
                req,
            )
        };
        let t = self.move_money(m)?;
        self.add_reversed(original.id, t.amount.0);
        Ok(Effect {
            transfers: vec![t],
            ..Effect::default()
        })
    }
}

pub(super) fn active(a: &account::Model) -> Result<()> {
    match a.status {
        AccountStatus::Active => Ok(()),
        AccountStatus::Archived => Err(LedgerError::client(
            ErrorCode::AccountArchived,
            format!("account {} is archived", a.id),
        )),
    }
}

pub(super) fn same_currency(a: &account::Model, b: &account::Model) -> Result<()> {
    if a.currency == b.currency {
        return Ok(());
    }
    Err(LedgerError::client(
        ErrorCode::CurrencyMismatch,
        format!(
            "account {} holds {} but account {} holds {}",
            a.id, a.currency, b.id, b.currency
        ),
    ))
}

/// The floor applies to what is available (balance minus holds).
pub(super) fn floor_holds(a: &account::Model, available_after: Decimal) -> Result<()> {
    match a.min_balance {
        Some(floor) if available_after < floor.0 => Err(LedgerError::client(
            ErrorCode::InsufficientFunds,
            format!(
                "account {} has {} available ({} held) and may not go below {}",
                a.id,
                a.balance.0 - a.held_balance.0,
                a.held_balance,
                floor
            ),
        )),
        _ => Ok(()),
    }
}
