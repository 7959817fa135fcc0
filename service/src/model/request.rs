//! What the posting engine is asked to do and what it answers: the engine's
//! input and output types, below the engine and every operation that
//! builds requests (they are data, with no database behind them).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::model::error::{LedgerError, Result};
use crate::model::hash::HASH_LEN;
use crate::model::idempotency::IdempotencyKey;
use entity::TransferKind;
use entity::{account, hold, transfer};

/// One side of a movement: a client account, or the world account of the
/// other side's currency (deposits and withdrawals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Account(Uuid),
    World,
}

/// What one unit of an exchange's source currency buys of its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Price {
    /// Target units per source unit; the target amount is the product,
    /// rounded to the target currency's scale by the exchange's rule.
    Rate(Decimal),
    /// The exact target amount (at the target currency's scale).
    Quote(Decimal),
}

/// How an exchange's exact product is rounded to the target currency's scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Rounding {
    /// To the nearest unit, halves to the even one (banker's rounding).
    #[default]
    HalfEven,
    /// To the nearest unit, halves away from zero.
    HalfUp,
    /// Toward zero: the account receives no more than the exact product.
    Down,
    /// Away from zero.
    Up,
}

impl Rounding {
    pub const fn as_str(self) -> &'static str {
        match self {
            Rounding::HalfEven => "HALF_EVEN",
            Rounding::HalfUp => "HALF_UP",
            Rounding::Down => "DOWN",
            Rounding::Up => "UP",
        }
    }

    pub fn apply(self, exact: Decimal, scale: u32) -> Decimal {
        use rust_decimal::RoundingStrategy as S;
        let strategy = match self {
            Rounding::HalfEven => S::MidpointNearestEven,
            Rounding::HalfUp => S::MidpointAwayFromZero,
            Rounding::Down => S::ToZero,
            Rounding::Up => S::AwayFromZero,
        };
        let mut rounded = exact.round_dp_with_strategy(scale, strategy);
        rounded.rescale(scale);
        rounded
    }
}

/// What a request asks the ledger to do.
#[derive(Clone, Debug)]
pub(crate) enum Action {
    Move {
        kind: TransferKind,
        debit: Side,
        credit: Side,
        amount: Decimal,
    },
    Split {
        from: Uuid,
        amount: Decimal,
        parts: Vec<(Uuid, Decimal)>,
    },
    Reverse {
        transfer_id: Uuid,
        amount: Option<Decimal>,
    },
    Hold {
        from: Uuid,
        to: Uuid,
        amount: Decimal,
        expires_at: DateTime<Utc>,
    },
    Capture {
        hold_id: Uuid,
        amount: Option<Decimal>,
    },
    Void {
        hold_id: Uuid,
    },
    /// The expiry worker's release of a due hold (claimed with SKIP LOCKED).
    Expire {
        hold_id: Uuid,
    },
    /// Archive `account`; with `sweep_to`, move its balance there and void its holds.
    Archive {
        account: Uuid,
        sweep_to: Option<Uuid>,
    },
    /// `amount` of `from`'s currency into `to`'s currency, through each
    /// currency's exchange account.
    Exchange {
        from: Uuid,
        to: Uuid,
        amount: Decimal,
        price: Price,
        rounding: Rounding,
    },
}

/// One request: an operation, validated for shape but not yet for state.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) action: Action,
    /// `None` only for the expiry worker, whose effect is decided by the hold.
    pub(crate) key: Option<IdempotencyKey>,
    pub(crate) fingerprint: [u8; HASH_LEN],
    pub(crate) description: Option<String>,
    pub(crate) metadata: Option<Value>,
    /// When a movement took effect, if earlier than its commit (imported
    /// history); `None`: when committed.
    pub(crate) effective_at: Option<DateTime<Utc>>,
}

/// What a request did: the transfers it posted, the hold or account it
/// changed, and every account it touched as it stands afterwards.
#[derive(Clone, Debug, Default)]
pub struct Effect {
    pub transfers: Vec<transfer::Model>,
    pub hold: Option<hold::Model>,
    pub account: Option<account::Model>,
    pub accounts: Vec<account::Model>,
}

impl Effect {
    /// The single transfer of a one-transfer operation.
    pub fn into_transfer(self) -> Result<transfer::Model> {
        self.transfers
            .into_iter()
            .next()
            .ok_or_else(|| LedgerError::Internal("operation posted no transfer".into()))
    }
}

pub(crate) type Outcome = Result<Effect>;

/// All-or-nothing (the first refusal aborts the run) or one outcome per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Atomic,
    Independent,
}

/// A request waiting in a write-combining lane, with where its outcome goes.
pub(crate) struct Job {
    pub(crate) request: Request,
    pub(crate) reply: oneshot::Sender<Outcome>,
}
