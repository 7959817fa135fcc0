//! Layer 0, the rules: types and checks with no database and no `Ledger`
//! (errors and their codes, money, hashing, validation, idempotency keys
//! and fingerprints, pages, the engine's requests and results, the audit
//! report). Uses nothing above it; everything else uses it.

pub mod error;
pub mod event;
pub mod hash;
pub mod idempotency;
pub mod money;
pub mod page;
pub mod report;
pub mod request;
pub mod time;
pub mod validate;
