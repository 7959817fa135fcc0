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
    /// Log lines as human-readable text or as JSON objects (one per line).
    #[arg(long, global = true, env = "TALLY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply migrations and serve GraphQL (POST /graphql; GraphiQL on GET /graphql).
    Serve(Box<ServeArgs>),
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
    /// Manage API keys: `create` prints a new key once, `list`, `revoke`.
    Keys {
        /// Before or after the subcommand (`tally keys list --database-url …`).
        #[arg(long, global = true, env = "DATABASE_URL", default_value = "sqlite:tally.db")]
        database_url: String,
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum KeysAction {
    /// Create a key and print it (only its hash is stored: keep it now).
    Create {
        #[arg(long)]
        name: String,
        /// `read` (queries), `write` (also moves money) or `admin` (also
        /// creates accounts and currencies, archives, merges, verifies).
        #[arg(long)]
        scope: String,
    },
    /// List every key: id, name, scope, first characters, created, revoked.
    List,
    /// Revoke a key by name or id (in force on every instance within a second).
    Revoke { name_or_id: String },
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
    #[arg(long, env = "TALLY_SUBSCRIPTION_BUFFER", default_value_t = crate::ws::WsOptions::DEFAULT.buffer)]
    pub subscription_buffer: usize,
    /// How long a websocket may stay open without `connection_init`
    /// before it is closed (4408).
    #[arg(long, env = "TALLY_WS_INIT_TIMEOUT_MS", default_value_t = crate::ws::WsOptions::DEFAULT.init_timeout.as_millis() as u64)]
    pub ws_init_timeout_ms: u64,
    /// Websockets this instance holds at most (beyond: 503 to the upgrade).
    #[arg(long, env = "TALLY_WS_MAX_SOCKETS", default_value_t = crate::ws::WsOptions::DEFAULT.max_sockets)]
    pub ws_max_sockets: usize,
    /// Websockets one API key or token subject may hold on this instance
    /// (beyond: closed with 1008 at `connection_init`).
    #[arg(long, env = "TALLY_WS_MAX_PER_CALLER", default_value_t = crate::ws::WsOptions::DEFAULT.max_per_caller)]
    pub ws_max_per_caller: usize,
    /// Operations one websocket may run at once (beyond: TOO_MANY_SUBSCRIPTIONS).
    #[arg(long, env = "TALLY_WS_MAX_SUBSCRIPTIONS", default_value_t = crate::ws::WsOptions::DEFAULT.max_subscriptions)]
    pub ws_max_subscriptions: usize,
    /// How long nested fields' keys are gathered before one batched query
    /// loads them (a wider window batches more keys per query on a busy or
    /// slow machine, at that much latency per nesting level).
    #[arg(long, env = "TALLY_LOADER_DELAY_MS", default_value_t = crate::http::DEFAULT_LOADER_DELAY_MS)]
    pub loader_delay_ms: u64,

    /// How long a webhook endpoint has to answer a delivery.
    #[arg(long, env = "TALLY_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Attempts before a webhook delivery is dead (redeliverWebhook revives it).
    #[arg(long, env = "TALLY_WEBHOOK_MAX_ATTEMPTS", default_value_t = 12)]
    pub webhook_max_attempts: u32,
    /// The first webhook retry's delay; each next one doubles (jittered), up to an hour.
    #[arg(long, env = "TALLY_WEBHOOK_BACKOFF_MS", default_value_t = 1_000)]
    pub webhook_backoff_ms: u64,
    /// How often an idle delivery worker looks for due deliveries.
    #[arg(long, env = "TALLY_WEBHOOK_POLL_MS", default_value_t = 250)]
    pub webhook_poll_ms: u64,

    /// A streaming replica of the database (PostgreSQL; one server, not a
    /// balancer over several): queries read from it, never older than the
    /// consistency token a client sends (see the README's read replicas).
    #[arg(long, env = "TALLY_REPLICA_DATABASE_URL")]
    pub replica_database_url: Option<String>,
    /// How long a read with a consistency token waits for the replica to
    /// replay it before it reads from the primary instead.
    #[arg(long, env = "TALLY_REPLICA_MAX_WAIT_MS", default_value_t = 50)]
    pub replica_max_wait_ms: u64,
    /// How far behind the primary the replica may be for reads without a
    /// consistency token; further behind, they read from the primary.
    #[arg(long, env = "TALLY_REPLICA_MAX_LAG_MS", default_value_t = 1000)]
    pub replica_max_lag_ms: u64,

    /// Movements may be dated back (`effectiveAt`) this many hours with the
    /// write scope; further back needs the admin scope.
    #[arg(long, env = "TALLY_BACKDATE_WINDOW_HOURS", default_value_t = 24)]
    pub backdate_window_hours: u64,
    /// Connections this instance holds at most (one beyond is closed at once).
    #[arg(long, env = "TALLY_MAX_CONNECTIONS", default_value_t = crate::http::ConnLimits::DEFAULT.max_connections)]
    pub max_connections: usize,
    /// A connection must send each request's head (and finish its TLS
    /// handshake) within this, or it is closed.
    #[arg(long, env = "TALLY_HEADER_TIMEOUT_MS", default_value_t = crate::http::ConnLimits::DEFAULT.header_timeout.as_millis() as u64)]
    pub header_timeout_ms: u64,
    /// Serve the IDEs' pinned scripts and styles from this directory
    /// (made by `scripts/ide-assets.sh DIR`) instead of a public CDN.
    #[arg(long, env = "TALLY_IDE_ASSETS")]
    pub ide_assets: Option<std::path::PathBuf>,
    /// Serve introspection and GraphiQL (`false` turns both off).
    #[arg(long, env = "TALLY_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Deepest selection nesting a query may have.
    #[arg(long, env = "TALLY_MAX_DEPTH", default_value_t = crate::Limits::DEFAULT.depth)]
    pub max_depth: usize,
    /// Most work a query may ask for (fields, lists counted per item).
    #[arg(long, env = "TALLY_MAX_COMPLEXITY", default_value_t = crate::Limits::DEFAULT.complexity)]
    pub max_complexity: usize,
    /// Most aliases in one query.
    #[arg(long, env = "TALLY_MAX_ALIASES", default_value_t = crate::Limits::DEFAULT.aliases)]
    pub max_aliases: usize,
    /// Most directives on one field.
    #[arg(long, env = "TALLY_MAX_DIRECTIVES", default_value_t = crate::Limits::DEFAULT.directives)]
    pub max_directives: usize,
    /// Most operations in one JSON array batch.
    #[arg(long, env = "TALLY_MAX_BATCH", default_value_t = crate::Limits::DEFAULT.batch)]
    pub max_batch: usize,
    /// Largest request body in bytes.
    #[arg(long, env = "TALLY_MAX_BODY_BYTES", default_value_t = crate::Limits::DEFAULT.body_bytes)]
    pub max_body_bytes: usize,
    /// A request still running after this is answered UNAVAILABLE.
    #[arg(long, env = "TALLY_REQUEST_TIMEOUT_MS", default_value_t = crate::http::DEFAULT_REQUEST_TIMEOUT_MS)]
    pub request_timeout_ms: u64,
    /// PostgreSQL cancels any statement of the server's pool after this
    /// (0: no limit). Keep it below the request timeout.
    #[arg(long, env = "TALLY_STATEMENT_TIMEOUT_MS", default_value_t = 5_000)]
    pub statement_timeout_ms: u64,
    /// Requests per second each API key or token subject may make (0: no limit).
    #[arg(long, env = "TALLY_RATE_LIMIT", default_value_t = crate::http::DEFAULT_RATE_LIMIT.per_second)]
    pub rate_limit: u32,
    /// Requests a caller may make in one burst beyond the steady rate.
    #[arg(long, env = "TALLY_RATE_LIMIT_BURST", default_value_t = crate::http::DEFAULT_RATE_LIMIT.burst)]
    pub rate_limit_burst: u32,
    /// Accept end-user JWTs signed with this shared secret (HS256/384/512).
    #[arg(long, env = "TALLY_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<std::path::PathBuf>,
    /// Accept end-user JWTs signed by a key of this JWKS document.
    #[arg(long, env = "TALLY_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<std::path::PathBuf>,
    /// Required `iss` of end-user tokens.
    #[arg(long, env = "TALLY_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of end-user tokens.
    #[arg(long, env = "TALLY_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Serve a non-loopback address with no API key or JWT key configured
    /// (anyone who reaches the port may move any money).
    #[arg(long, env = "TALLY_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "TALLY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "TALLY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}
