//! The HTTP surface.
//!
//! - `POST /graphql`: GraphQL (one request or a JSON array batch).
//! - `GET /graphql`: a websocket upgrade (subscriptions), a query sent in
//!   the URL (mutations are refused: GET may only read), or GraphiQL.
//! - `GET /playground`: GraphQL Playground; `GET /ide-assets/…`: the IDEs'
//!   scripts when served offline (`--ide-assets`).
//! - `GET /healthz` (the process is up), `GET /readyz` and `/health` (the
//!   database answers and its migrations are current), `GET /metrics`
//!   (Prometheus).
//!
//! Owns: request limits, authentication and rate limiting at the door,
//! deadlines, request ids, HTTP status codes. Uses: the schema, `auth`,
//! `limits`; it never reaches into the service beyond health checks.

mod door;
mod graphql;
mod health;
mod ide;
mod listen;
mod reply;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Router, middleware};
use service::Ledger;
use service::seal::digest::Signer;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::TallySchema;
use crate::auth::{Auth, JwtVerifier, RateLimit, RateLimiter};
use crate::documents::Documents;
use crate::limits::Limits;
pub use listen::ConnLimits;

/// How the server is set up beyond its ledger and signer.
#[derive(Clone)]
pub struct ServerOptions {
    /// Websockets: queue, timeouts, and how many per instance, caller and socket.
    pub ws: crate::ws::WsOptions,
    /// How long the batch loader gathers keys before one query loads them
    /// (async-graphql's dataloader delay, counted from the first key).
    pub loader_delay: Duration,
    pub limits: Limits,
    /// Introspection and GraphiQL (off together).
    pub introspection: bool,
    /// Longest a request may take before it is answered UNAVAILABLE (its
    /// work is not abandoned half-way: a transaction commits or not).
    pub request_timeout: Duration,
    /// Requests per second per API key or token subject.
    pub rate_limit: RateLimit,
    /// End-user tokens, when configured.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// Connections: how many at once, how long a request head may take.
    pub conn: ConnLimits,
    /// How far back a movement may be dated without the admin scope.
    pub backdating: crate::auth::Backdating,
    /// Serve the IDEs' pinned scripts from this directory instead of a CDN.
    pub ide_assets: Option<std::path::PathBuf>,
    /// Webhook deliveries: timeout, attempts, backoff.
    pub webhooks: crate::webhooks::WebhookOptions,
    /// A read replica for queries (`--replica-database-url`).
    pub replica: Option<ReplicaOptions>,
}

/// Where the read replica is and how long a read waits for it to catch up
/// with its consistency token.
#[derive(Clone, Debug)]
pub struct ReplicaOptions {
    pub url: String,
    /// How long a read with a token waits for the replica to replay it.
    pub max_wait: Duration,
    /// How far behind the primary a replica may be for reads without one.
    pub max_lag: Duration,
}

/// The defaults `ServerOptions::default()` and the command line share.
pub const DEFAULT_LOADER_DELAY_MS: u64 = 2;
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    per_second: 1000,
    burst: 2000,
};

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            ws: crate::ws::WsOptions::DEFAULT,
            loader_delay: Duration::from_millis(DEFAULT_LOADER_DELAY_MS),
            limits: Limits::DEFAULT,
            introspection: true,
            request_timeout: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            rate_limit: DEFAULT_RATE_LIMIT,
            jwt: None,
            conn: ConnLimits::DEFAULT,
            backdating: crate::auth::Backdating::DEFAULT,
            ide_assets: None,
            webhooks: crate::webhooks::WebhookOptions::DEFAULT,
            replica: None,
        }
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) schema: TallySchema,
    pub(crate) documents: Documents,
    pub(crate) options: ServerOptions,
    pub(crate) auth: Auth,
    pub(crate) limiter: RateLimiter,
    pub(crate) ledger: Ledger,
    pub(crate) operations: Arc<telemetry::Operations>,
    /// What every websocket shares (schema, checks, socket counts).
    pub(crate) ws: Arc<crate::ws::Door>,
    /// Every request's execution task, so shutdown can wait for them all
    /// (also those whose client was already told UNAVAILABLE).
    pub(crate) tasks: TaskTracker,
    /// Queries' replica, when configured.
    pub(crate) replica: Option<service::store::replica::Replica>,
    /// The delivery worker runs while the app does.
    pub(crate) _webhooks: Arc<crate::webhooks::Webhooks>,
}

/// The router, with the key cache loaded (hence async), and the tracker of
/// the request tasks it spawns.
pub async fn app(
    ledger: Ledger,
    signer: Signer,
    options: ServerOptions,
) -> service::model::error::Result<(Router, TaskTracker)> {
    let tasks = TaskTracker::new();
    let auth = Auth::start(ledger.clone(), options.jwt.as_ref().map(Arc::clone)).await?;
    let webhooks = crate::webhooks::Webhooks::start(ledger.clone(), options.webhooks).await?;
    let schema = crate::schema(ledger.clone(), signer, &options);
    let replica = match &options.replica {
        Some(replica) => Some(open_replica(&ledger, replica).await?),
        None => None,
    };
    let documents = Documents::default();
    let limiter = RateLimiter::new(options.rate_limit);
    let ws = Arc::new(crate::ws::Door {
        schema: schema.clone(),
        auth: auth.clone(),
        limiter: limiter.clone(),
        limits: options.limits,
        documents: documents.clone(),
        options: options.ws,
        registry: crate::ws::Registry::default(),
        backdating: options.backdating,
    });
    let state = AppState {
        operations: Arc::new(telemetry::Operations::of(&schema)),
        schema,
        documents,
        limiter,
        ws,
        options,
        auth,
        ledger,
        tasks: tasks.clone(),
        replica,
        _webhooks: webhooks,
    };
    telemetry::install_recorder();
    // The door's layers (`door`), innermost added first. GET is added after
    // the POST-only layers: an upgrade or a page has no JSON body and brings
    // its credential with `connection_init`, a query in the URL checks its own.
    let graphql = post(graphql::post)
        .layer(middleware::from_fn_with_state(state.clone(), door::credential::layer))
        .layer(middleware::from_fn_with_state(state.clone(), door::body::layer))
        .layer(middleware::from_fn(door::json_only::layer))
        .get(graphql::get)
        .layer(middleware::from_fn_with_state(state.clone(), door::origin::layer));
    let router = Router::new()
        .route("/graphql", graphql)
        .route("/playground", get(ide::playground))
        .route(&format!("{}/{{*path}}", ide::LOCAL), get(ide::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/health", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .layer(middleware::from_fn(door::request_id::layer))
        .with_state(state);
    Ok((router, tasks))
}

async fn open_replica(
    ledger: &Ledger,
    options: &ReplicaOptions,
) -> service::model::error::Result<service::store::replica::Replica> {
    let replica =
        service::store::replica::Replica::open(ledger, &options.url, options.max_wait, options.max_lag).await?;
    match replica.replayed() {
        Some(lsn) => tracing::info!(replayed = %lsn, "queries read from the replica"),
        None => tracing::warn!("the replica does not answer yet; queries read from the primary until it does"),
    }
    Ok(replica)
}

/// After the listener stopped: waits (at most `DRAIN`) for request tasks
/// still running, so each commits or rolls back before the process exits.
async fn drain(tasks: TaskTracker) {
    tasks.close();
    if tokio::time::timeout(DRAIN, tasks.wait()).await.is_err() {
        tracing::warn!(
            running = tasks.len(),
            "request tasks still running after {DRAIN:?}; exiting anyway"
        );
    }
}

/// The longest shutdown waits for request tasks after the last response.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves until SIGTERM or ctrl-c, then stops accepting connections and
/// lets in-flight requests finish (and with them whatever they queued in
/// the write combiner) before returning.
pub async fn serve(
    listener: TcpListener,
    ledger: Ledger,
    signer: Signer,
    options: ServerOptions,
) -> std::io::Result<()> {
    let conn = options.conn;
    let (router, tasks) = app(ledger, signer, options).await.map_err(std::io::Error::other)?;
    listen::run(listener, router, conn, None, shutdown_signal()).await;
    drain(tasks).await;
    Ok(())
}

/// Serves HTTPS with the PEM certificate chain and key at the given paths,
/// with the same limits and graceful shutdown as [`serve`].
pub async fn serve_tls(
    listener: std::net::TcpListener,
    ledger: Ledger,
    signer: Signer,
    options: ServerOptions,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> std::io::Result<()> {
    let conn = options.conn;
    let (router, tasks) = app(ledger, signer, options).await.map_err(std::io::Error::other)?;
    let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await?;
    let mut tls = (*config.get_inner()).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    listen::run(listener, router, conn, Some(acceptor), shutdown_signal()).await;
    drain(tasks).await;
    Ok(())
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: no new connections; finishing in-flight requests");
}
