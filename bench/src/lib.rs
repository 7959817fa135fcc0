//! Tally's benchmark harness (see `main.rs` and BENCHMARKS.md): drives
//! GraphQL over HTTP with N concurrent keep-alive clients and compares each
//! figure with the raw-SQL ceiling measured in the same run.

pub mod ceiling;
pub mod cost;
pub mod gql;
pub mod load;
pub mod plot;
pub mod report;
pub mod scenarios;
pub mod server;
