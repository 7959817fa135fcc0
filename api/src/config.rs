//! Command line and environment: `tally serve [--listen ADDR] [--database-url URL]`.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "tally",
    version,
    about = "Tally: a tamper-evident double-entry money ledger over GraphQL"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply migrations and serve GraphQL (POST /graphql; GraphiQL on GET /graphql).
    Serve(ServeArgs),
    /// Print the GraphQL schema (SDL); `schema.graphql` is this output.
    Schema,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TALLY_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: String,
    /// `sqlite:PATH` (embedded, the default) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:tally.db")]
    pub database_url: String,
    /// How often this instance releases expired holds (every instance does,
    /// sharing the work through `SKIP LOCKED`).
    #[arg(long, env = "TALLY_EXPIRY_INTERVAL_MS", default_value_t = 1000)]
    pub expiry_interval_ms: u64,
}
