//! Step 3: each operation applied to the book, with every rule about money.
//!
//! Rules every movement obeys: both accounts exist, differ, are ACTIVE and
//! hold the same currency; the amount is positive with at most the
//! currency's scale; the debit leaves `balance - held >= min_balance` (the
//! floor applies to the *available* balance, so holds can never be spent
//! twice); each entry extends its account's hash chain under the lock.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::book::Book;
use super::plan::Plan;
use super::{Effect, Op, Outcome, Request};
use crate::account::{STATUS_ACTIVE, STATUS_ARCHIVED};
use crate::error::{ErrorCode, LedgerError, Result};
use crate::hash::{EntryFields, entry_hash, transfer_hash};
use crate::hold::{STATUS_CAPTURED, STATUS_EXPIRED, STATUS_PENDING, STATUS_VOIDED};
use crate::money;
use crate::transfer::TransferKind;
use entity::{Money, account, entry, hold, transfer};

/// One movement to post.
struct Move<'a> {
    kind: TransferKind,
    debit: Option<Uuid>,
    credit: Option<Uuid>,
    amount: Decimal,
    req: &'a Request,
    reversal_of: Option<Uuid>,
    hold_id: Option<Uuid>,
    /// Off only for sweeping an account being closed to zero.
    enforce_floor: bool,
}

impl Book {
    pub(super) fn dispatch(&mut self, req: &Request, plan: Plan) -> Outcome {
        match &req.op {
            Op::Move { kind, amount, .. } => {
                let m = self.plain(*kind, plan.debit, plan.credit, *amount, req);
                Ok(Effect {
                    transfers: vec![self.move_money(m)?],
                    ..Effect::default()
                })
            }
            Op::Split { from, amount, parts } => self.split(req, *from, *amount, parts),
            Op::Reverse { transfer_id, amount } => self.reverse(req, *transfer_id, plan.original, *amount),
            Op::Hold {
                from,
                to,
                amount,
                expires_at,
            } => self.place_hold(req, *from, *to, *amount, *expires_at),
            Op::Capture { hold_id, amount } => self.capture(req, *hold_id, *amount),
            Op::Void { hold_id } => self.void(*hold_id),
            Op::Expire { hold_id } => self.expire(*hold_id),
            Op::Archive { account, sweep_to } => self.archive(req, *account, *sweep_to),
        }
    }

    fn plain<'a>(
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
        }
    }

    /// Checks both parties of a movement or hold; returns them and the amount at scale.
    fn parties(
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

    fn move_money(&mut self, m: Move<'_>) -> Result<transfer::Model> {
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
            kind: m.kind.as_str().to_owned(),
            debit_account_id: d.id,
            credit_account_id: c.id,
            amount: Money(amount),
            currency: d.currency.clone(),
            idempotency_key: m.req.key.as_ref().map(|k| k.as_str().to_owned()).unwrap_or_default(),
            reversal_of: m.reversal_of,
            hold_id: m.hold_id,
            description: m.req.description.clone(),
            metadata: m.req.metadata.clone(),
            created_at: at,
            hash: None,
        };
        self.post_entry(d.id, &t, -amount, debit_after)?;
        self.post_entry(c.id, &t, amount, credit_after)?;
        let legs: Vec<&[u8]> = self.entries[self.entries.len() - 2..]
            .iter()
            .map(|e| e.hash.as_slice())
            .collect();
        let t = transfer::Model {
            hash: Some(transfer_hash(&t, &legs).to_vec()),
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
        });
        let e = entry::Model {
            id: Uuid::now_v7(),
            account_id,
            transfer_id: t.id,
            amount: Money(amount),
            balance_after: Money(after),
            sequence,
            created_at: t.created_at,
            previous_hash: row.head_hash.clone(),
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
        let shares = super::allocate(amount, &weights, scale)?;
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
        let original = original.ok_or_else(|| crate::transfer::not_found(&id.to_string()))?;
        if original.kind == TransferKind::Reversal.as_str() {
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

    fn place_hold(
        &mut self,
        req: &Request,
        from: Uuid,
        to: Uuid,
        amount: Decimal,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Outcome {
        let (d, c, amount) = self.parties(Some(from), Some(to), amount)?;
        let held_after = d.held_balance.0 + amount;
        floor_holds(&d, d.balance.0 - held_after)?;
        self.account_mut(d.id)?.held_balance = Money(held_after);
        let row = hold::Model {
            id: Uuid::now_v7(),
            debit_account_id: d.id,
            credit_account_id: c.id,
            currency: d.currency.clone(),
            amount: Money(amount),
            captured_amount: Money(money::zero(self.scale(&d.currency)?)),
            status: STATUS_PENDING.to_owned(),
            expires_at,
            idempotency_key: req.key.as_ref().map(|k| k.as_str().to_owned()).unwrap_or_default(),
            version: 1,
            description: req.description.clone(),
            metadata: req.metadata.clone(),
            created_at: self.now,
            updated_at: self.now,
        };
        self.put_hold(row.clone());
        Ok(Effect {
            hold: Some(row),
            ..Effect::default()
        })
    }

    /// A pending, unexpired hold, for capturing or voiding.
    fn settleable(&self, id: Uuid) -> Result<hold::Model> {
        let h = self.hold(id)?;
        if h.status != STATUS_PENDING {
            return Err(LedgerError::client(
                ErrorCode::HoldNotPending,
                format!("hold {id} is {}", h.status),
            ));
        }
        if h.expires_at <= self.now {
            return Err(LedgerError::client(
                ErrorCode::HoldExpired,
                format!("hold {id} expired at {}", h.expires_at),
            ));
        }
        Ok(h)
    }

    /// Gives the hold's reservation back to its debit account and closes it.
    fn release(&mut self, mut h: hold::Model, status: &str, captured: Option<Decimal>) -> Result<hold::Model> {
        let debit = self.account_mut(h.debit_account_id)?;
        debit.held_balance = Money(debit.held_balance.0 - h.amount.0);
        h.status = status.to_owned();
        if let Some(captured) = captured {
            h.captured_amount = Money(captured);
        }
        h.version += 1;
        h.updated_at = self.now;
        self.put_hold(h.clone());
        Ok(h)
    }

    fn capture(&mut self, req: &Request, id: Uuid, amount: Option<Decimal>) -> Outcome {
        let h = self.settleable(id)?;
        let amount = money::amount_at_scale(amount.unwrap_or(h.amount.0), self.scale(&h.currency)?)?;
        if amount > h.amount.0 {
            return Err(LedgerError::client(
                ErrorCode::InvalidAmount,
                format!("capture of {amount} exceeds the hold's {}", h.amount),
            ));
        }
        let (debit, credit) = (h.debit_account_id, h.credit_account_id);
        let h = self.release(h, STATUS_CAPTURED, Some(amount))?;
        let m = Move {
            hold_id: Some(id),
            ..self.plain(TransferKind::Capture, Some(debit), Some(credit), amount, req)
        };
        let t = self.move_money(m)?;
        Ok(Effect {
            transfers: vec![t],
            hold: Some(h),
            ..Effect::default()
        })
    }

    fn void(&mut self, id: Uuid) -> Outcome {
        let h = self.settleable(id)?;
        let h = self.release(h, STATUS_VOIDED, None)?;
        Ok(Effect {
            hold: Some(h),
            ..Effect::default()
        })
    }

    /// The worker's release of a due hold; a no-op when someone settled it first.
    fn expire(&mut self, id: Uuid) -> Outcome {
        let Ok(h) = self.hold(id) else {
            return Ok(Effect::default());
        };
        if h.status != STATUS_PENDING || h.expires_at > self.now {
            return Ok(Effect::default());
        }
        let h = self.release(h, STATUS_EXPIRED, None)?;
        Ok(Effect {
            hold: Some(h),
            ..Effect::default()
        })
    }

    fn archive(&mut self, req: &Request, id: Uuid, sweep_to: Option<Uuid>) -> Outcome {
        let a = self.account(Some(id))?;
        active(&a)?;
        if a.is_system {
            return Err(LedgerError::client(
                ErrorCode::InvalidInput,
                "a system account cannot be archived",
            ));
        }
        let mut effect = Effect::default();
        match sweep_to {
            None if !a.balance.0.is_zero() || !a.held_balance.0.is_zero() => {
                return Err(LedgerError::client(
                    ErrorCode::AccountNotEmpty,
                    format!(
                        "account {id} has balance {} and {} held; give sweepToAccountId to empty it",
                        a.balance, a.held_balance
                    ),
                ));
            }
            None => {}
            Some(target) => effect.transfers = self.sweep(req, &a, target)?,
        }
        self.account_mut(id)?.status = STATUS_ARCHIVED.to_owned();
        effect.account = Some(a);
        Ok(effect)
    }

    /// Voids the account's pending holds and moves its whole balance to `target`
    /// (or, for a negative balance, from `target`).
    fn sweep(&mut self, req: &Request, a: &account::Model, target: Uuid) -> Result<Vec<transfer::Model>> {
        let t = self.account(Some(target))?;
        if t.id == a.id {
            return Err(LedgerError::client(
                ErrorCode::SameAccount,
                "an account cannot be swept into itself",
            ));
        }
        active(&t)?;
        same_currency(a, &t)?;
        // The account's pending holds as this run has left them (a capture
        // earlier in the run may already have settled one).
        let pending: Vec<hold::Model> = self
            .holds
            .values()
            .filter(|h| h.row.debit_account_id == a.id && h.row.status == STATUS_PENDING)
            .map(|h| h.row.clone())
            .collect();
        for h in pending {
            self.release(h, STATUS_VOIDED, None)?;
        }
        if !self.account(Some(a.id))?.held_balance.0.is_zero() {
            // A hold committed after the plan read the holds: rerun the whole run.
            return Err(LedgerError::Conflict);
        }
        let balance = a.balance.0;
        let (debit, credit, amount) = match balance.cmp(&Decimal::ZERO) {
            std::cmp::Ordering::Greater => (a.id, t.id, balance),
            std::cmp::Ordering::Less => (t.id, a.id, -balance),
            std::cmp::Ordering::Equal => return Ok(Vec::new()),
        };
        let m = Move {
            enforce_floor: debit != a.id,
            ..self.plain(TransferKind::Sweep, Some(debit), Some(credit), amount, req)
        };
        Ok(vec![self.move_money(m)?])
    }
}

fn active(a: &account::Model) -> Result<()> {
    match a.status.as_str() {
        STATUS_ACTIVE => Ok(()),
        STATUS_ARCHIVED => Err(LedgerError::client(
            ErrorCode::AccountArchived,
            format!("account {} is archived", a.id),
        )),
        other => Err(LedgerError::Internal(format!(
            "integrity: account {} has unknown status {other:?}",
            a.id
        ))),
    }
}

fn same_currency(a: &account::Model, b: &account::Model) -> Result<()> {
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
fn floor_holds(a: &account::Model, available_after: Decimal) -> Result<()> {
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
