//! Layer 1, storage: the database handle and its retries (`db`), the
//! `Ledger` that owns the pool and the instance's caches, and one repository
//! per aggregate — every SQL statement outside the engine's write-back and
//! the audits lives here. Also the subscription feed, which reads committed
//! rows. Uses: `model`.

pub mod account;
pub mod account_query;
pub mod api_key;
pub(crate) mod cache;
pub mod currency;
pub mod db;
pub mod entry;
pub mod feed;
pub mod hold;
pub mod hooks;
pub mod lease;
pub mod ledger;
pub mod outage;
pub(crate) mod outbox;
pub mod replica;
pub mod subscriptions;
pub mod transfer;
pub mod transfer_list;
pub mod webhook;
