//! Black-box tests over real HTTP, each on SQLite and on PostgreSQL.

mod accounts;
mod batches;
mod bench_smoke;
mod errors;
mod holds;
mod http;
mod idempotency;
mod instances;
mod lifecycle;
mod limits;
mod loaders;
mod movements;
mod operations;
mod process;
mod property;
mod queries;
mod races;
mod replays;
mod reversals;
mod schema;
mod sealing;
mod security;
mod splits;
mod subscriptions;
mod tamper;
mod typed_client;
