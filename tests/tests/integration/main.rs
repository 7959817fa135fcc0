//! Black-box tests over real HTTP, each on SQLite and on PostgreSQL.

mod accounts;
mod errors;
mod http;
mod idempotency;
mod movements;
mod queries;
mod races;
mod schema;
mod tamper;
