//! SeaORM entities of the Tally ledger: plain rows, no logic.
//!
//! Invariants the rows carry (enforced by `service`, checked by `verifyLedger`):
//! - `transfer`, `entry` and `idempotency` rows are append-only: never updated, never deleted.
//! - `account` is the only mutable ledger row; every change bumps `version`.
//! - Money columns hold [`Money`], stored as exact decimal text on every backend.

pub mod account;
pub mod api_key;
pub mod balance_alert;
pub mod block;
pub mod currency;
pub mod entry;
pub mod hold;
pub mod idempotency;
pub mod journal;
pub mod lease;
pub mod money;
pub mod status;
pub mod transfer;
pub mod unsealed;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod webhook_event;

pub use money::Money;
pub use status::{AccountStatus, AlertCondition, DeliveryStatus, HoldStatus, TransferKind};
