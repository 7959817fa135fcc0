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
    /// Apply pending migrations and exit (run it as the database owner).
    Migrate {
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite:tally.db")]
        database_url: String,
    },
    /// Walk the whole ledger (chains, balances, transfer hashes, blocks,
    /// Merkle roots) in constant memory; exit non-zero on any problem.
    Verify(VerifyArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct VerifyArgs {
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:tally.db")]
    pub database_url: String,
    /// A `ledgerDigest` saved earlier (JSON): also prove it is a prefix of today's journal.
    #[arg(long)]
    pub digest: Option<std::path::PathBuf>,
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
    /// Do not apply migrations at start (for a least-privilege role; see `tally migrate`).
    #[arg(long, env = "TALLY_SKIP_MIGRATIONS")]
    pub skip_migrations: bool,
    /// Combine concurrent requests into shared transactions (group commit).
    /// `false` runs one transaction per request (for comparison).
    #[arg(long, env = "TALLY_WRITE_COMBINING", default_value_t = true, action = clap::ArgAction::Set)]
    pub write_combining: bool,
    /// How often the sealer looks for committed transfers to seal. 0: this
    /// instance never seals (another instance on the database must).
    #[arg(long, env = "TALLY_SEAL_INTERVAL_MS", default_value_t = 250)]
    pub seal_interval_ms: u64,
    /// Where instance files live (the generated signing key).
    #[arg(long, env = "TALLY_DATA_DIR", default_value = ".")]
    pub data_dir: std::path::PathBuf,
    /// The Ed25519 key that signs digests (64 hex digits). Default:
    /// `<data-dir>/tally-signing.key`, generated on first start. Give every
    /// instance of one ledger the same key.
    #[arg(long, env = "TALLY_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<std::path::PathBuf>,
    /// How often subscriptions look for commits made by other instances
    /// (this instance's own commits reach its subscribers at once).
    #[arg(long, env = "TALLY_SUBSCRIPTION_POLL_MS", default_value_t = 200)]
    pub subscription_poll_ms: u64,
    /// Outgoing messages a websocket may have unread before it is closed as
    /// a slow consumer (close code 1013).
    #[arg(long, env = "TALLY_SUBSCRIPTION_BUFFER", default_value_t = 256)]
    pub subscription_buffer: usize,
    /// How long nested fields' keys are gathered before one batched query
    /// loads them (a wider window batches more keys per query on a busy or
    /// slow machine, at that much latency per nesting level).
    #[arg(long, env = "TALLY_LOADER_DELAY_MS", default_value_t = 2)]
    pub loader_delay_ms: u64,
}
