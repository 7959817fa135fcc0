//! Black-box tests over real HTTP, each on SQLite and on PostgreSQL.

// Test code: a failed assumption is the test failing, so it may unwrap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_queries;
mod accounts;
mod alerts;
mod batches;
mod bench_smoke;
mod cli;
mod effective_dates;
mod errors;
mod exchange;
mod failover;
mod hardening;
mod holds;
mod http;
mod ide;
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
mod replicas;
mod reversals;
mod schema;
mod sealing;
mod security;
mod splits;
mod subscriptions;
mod tamper;
mod tokens;
mod typed_client;
mod upgrade;
mod webhook_restart;
mod webhooks;
mod websockets;
