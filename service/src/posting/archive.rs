//! Step 3 for archiving: an archived account never moves money again; with
//! a sweep target its pending holds are voided and its whole balance moves
//! there first (a negative balance is settled from the target).

use rust_decimal::Decimal;
use uuid::Uuid;

use super::book::Book;
use super::movements::{Move, active, same_currency};
use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::request::{Effect, Outcome, Request};
use entity::AccountStatus;
use entity::HoldStatus;
use entity::TransferKind;
use entity::{account, hold, transfer};

impl Book {
    pub(super) fn archive(&mut self, req: &Request, id: Uuid, sweep_to: Option<Uuid>) -> Outcome {
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
        self.account_mut(id)?.status = AccountStatus::Archived.to_owned();
        effect.account = Some(a);
        Ok(effect)
    }

    /// Voids the account's pending holds and moves its whole balance to `target`
    /// (or, for a negative balance, from `target`).
    pub(super) fn sweep(&mut self, req: &Request, a: &account::Model, target: Uuid) -> Result<Vec<transfer::Model>> {
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
            .filter(|h| h.row.debit_account_id == a.id && h.row.status == HoldStatus::Pending)
            .map(|h| h.row.clone())
            .collect();
        for h in pending {
            self.release(h, HoldStatus::Voided, None)?;
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
