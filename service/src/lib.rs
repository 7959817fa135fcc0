//! Every rule about money in Tally, with no GraphQL and no HTTP.
//!
//! Invariants this crate keeps (and [`verify::verify`] checks):
//! - Σ entry amounts of a transfer = 0; Σ account balances of a currency = 0.
//! - account.balance = its last entry's balance_after = Σ of its entry amounts.
//! - Entry sequences are 1..n per account with no gaps; each entry's
//!   previous_hash is the hash of the account's previous entry.
//! - One idempotency key, at most one outcome.
//! - Money is `rust_decimal::Decimal`, never a float, never rounded.
//!
//! ```no_run
//! # async fn demo() -> service::error::Result<()> {
//! use service::{Ledger, account, transfer};
//! let ledger = Ledger::connect("sqlite::memory:").await?;
//! let alice = account::create(&ledger, account::NewAccount {
//!     code: "alice".into(), currency: "USD".into(), min_balance: None, metadata: None, owner: None,
//! }).await?;
//! transfer::deposit(&ledger, transfer::Movement {
//!     account_id: alice.id,
//!     amount: "12.50".parse().unwrap_or_default(),
//!     details: transfer::Details { idempotency_key: "dep-1".into(), ..Default::default() },
//! }).await?;
//! # Ok(()) }
//! ```

pub mod account;
pub mod api_key;
mod cache;
pub mod currency;
pub mod db;
pub mod entry;
pub mod error;
pub mod feed;
pub mod hash;
pub mod hold;
pub mod idempotency;
pub mod ledger;
pub mod money;
pub mod page;
mod posting;
mod report;
mod request;
pub mod seal;
pub use request::Effect;
pub mod time;
pub mod transfer;
pub mod validate;
pub mod verify;

pub use entity;
pub use error::{ErrorCode, LedgerError};
pub use ledger::Ledger;
