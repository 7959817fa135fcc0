//! Step 3 for holds: placing one (a reservation of available funds),
//! capturing all or part of it, voiding it, and expiring it. A hold leaves
//! PENDING exactly once; every funds check counts what is held.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::book::Book;
use super::movements::{Move, floor_holds};
use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::money;
use crate::model::request::{Effect, Outcome, Request};
use entity::HoldStatus;
use entity::TransferKind;
use entity::{Money, hold};

impl Book {
    pub(super) fn place_hold(
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
            status: HoldStatus::Pending.to_owned(),
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
    pub(super) fn settleable(&self, id: Uuid) -> Result<hold::Model> {
        let h = self.hold(id)?;
        if h.status != HoldStatus::Pending {
            return Err(LedgerError::client(
                ErrorCode::HoldNotPending,
                format!("hold {id} is {}", h.status.as_str()),
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
    pub(super) fn release(
        &mut self,
        mut h: hold::Model,
        status: HoldStatus,
        captured: Option<Decimal>,
    ) -> Result<hold::Model> {
        let debit = self.account_mut(h.debit_account_id)?;
        debit.held_balance = Money(debit.held_balance.0 - h.amount.0);
        h.status = status;
        if let Some(captured) = captured {
            h.captured_amount = Money(captured);
        }
        h.version += 1;
        h.updated_at = self.now;
        self.put_hold(h.clone());
        Ok(h)
    }

    pub(super) fn capture(&mut self, req: &Request, id: Uuid, amount: Option<Decimal>) -> Outcome {
        let h = self.settleable(id)?;
        let amount = money::amount_at_scale(amount.unwrap_or(h.amount.0), self.scale(&h.currency)?)?;
        if amount > h.amount.0 {
            return Err(LedgerError::client(
                ErrorCode::InvalidAmount,
                format!("capture of {amount} exceeds the hold's {}", h.amount),
            ));
        }
        let (debit, credit) = (h.debit_account_id, h.credit_account_id);
        let h = self.release(h, HoldStatus::Captured, Some(amount))?;
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

    pub(super) fn void(&mut self, id: Uuid) -> Outcome {
        let h = self.settleable(id)?;
        let h = self.release(h, HoldStatus::Voided, None)?;
        Ok(Effect {
            hold: Some(h),
            ..Effect::default()
        })
    }

    /// The worker's release of a due hold; a no-op when someone settled it first.
    pub(super) fn expire(&mut self, id: Uuid) -> Outcome {
        let Ok(h) = self.hold(id) else {
            return Ok(Effect::default());
        };
        if h.status != HoldStatus::Pending || h.expires_at > self.now {
            return Ok(Effect::default());
        }
        let h = self.release(h, HoldStatus::Expired, None)?;
        Ok(Effect {
            hold: Some(h),
            ..Effect::default()
        })
    }
}
