//! Every rule about money in Tally, with no GraphQL and no HTTP.
//!
//! Invariants this crate keeps (and [`verify::verify`] checks):
//! - Σ entry amounts of a transfer = 0; Σ account balances of a currency = 0.
//! - account.balance = its last entry's balance_after = Σ of its entry amounts.
//! - Entry sequences are 1..n per account with no gaps; each entry's hash
//!   covers the hash of the account's previous entry (stored as its
//!   previous_hash by entries of older versions, empty since).
//! - One idempotency key, at most one outcome.
//! - Money is `rust_decimal::Decimal`, never a float, never rounded.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use service::Ledger;
//! use service::operations::{account, transfer};
//! use service::store::account::NewAccount;
//! let ledger = Ledger::connect("sqlite::memory:").await?;
//! let alice = account::create(&ledger, NewAccount {
//!     code: "alice".into(), currency: "USD".into(), min_balance: None, metadata: None, owner: None,
//! }).await?;
//! transfer::deposit(&ledger, transfer::Movement {
//!     account_id: alice.id,
//!     amount: "12.50".parse()?,
//!     details: transfer::Details { idempotency_key: "dep-1".into(), ..Default::default() },
//! }).await?;
//! # Ok(()) }
//! ```

// The layers, bottom up: a module may use only layers below it (or its
// own); `tests/layers.rs` reads every `use` and path as written and fails
// on an import up a layer or a cycle between files.
pub mod model; // 0 rules: types and checks, no database
pub mod operations; // 3 operations: requests into the engine, per aggregate
mod posting; // 2 the engine: the only code that moves money
pub mod seal; // 4 journal, blocks, digests, proofs
pub mod store; // 1 storage: Ledger, db, caches, one repo per aggregate, the feed
pub mod verify; // 5 the full audit

pub use entity;
pub use model::error::{ErrorCode, LedgerError};
pub use model::request::Effect;
pub use store::ledger::Ledger;
