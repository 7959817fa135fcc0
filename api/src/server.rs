//! The HTTP surface: POST /graphql executes; GET /graphql upgrades to a
//! GraphQL websocket (subscriptions) or serves GraphiQL; GET /health answers
//! when the database does. SIGTERM/ctrl-c drain in-flight requests before exit.

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use service::Ledger;
use service::seal::digest::Signer;
use tokio::net::TcpListener;

use crate::TallySchema;
use crate::documents::Documents;
use crate::error::tag_uncoded;

/// How the server is set up beyond its ledger and signer.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Outgoing websocket messages a connection may have queued before it
    /// is cut off as a slow consumer.
    pub ws_buffer: usize,
    /// How long the batch loader gathers keys before one query loads them
    /// (async-graphql's dataloader delay, counted from the first key).
    pub loader_delay: std::time::Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            ws_buffer: crate::ws::DEFAULT_BUFFER,
            loader_delay: std::time::Duration::from_millis(2),
        }
    }
}

#[derive(Clone)]
struct AppState {
    schema: TallySchema,
    documents: Documents,
    options: ServerOptions,
}

pub fn app(ledger: Ledger, signer: Signer, options: ServerOptions) -> Router {
    let state = AppState {
        schema: crate::schema(ledger.clone(), signer, &options),
        documents: Documents::default(),
        options,
    };
    Router::new()
        .route("/graphql", get(get_graphql).post(graphql))
        .with_state(state)
        .route("/health", get(health).with_state(ledger))
}

async fn graphql(State(state): State<AppState>, req: GraphQLRequest) -> GraphQLResponse {
    let mut request = req.into_inner();
    state.documents.prepare(&mut request);
    let mut response = state.schema.execute(request).await;
    tag_uncoded(&mut response.errors);
    response.into()
}

/// A websocket upgrade speaking a GraphQL subprotocol, or else GraphiQL.
async fn get_graphql(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match (upgrade, crate::ws::protocol(&headers)) {
        (Ok(upgrade), Some(protocol)) => upgrade
            .protocols(ALL_WEBSOCKET_PROTOCOLS)
            .on_upgrade(move |socket| crate::ws::serve(socket, state.schema, protocol, state.options.ws_buffer))
            .into_response(),
        (Ok(_), None) => (
            StatusCode::BAD_REQUEST,
            "websocket subprotocol must be graphql-transport-ws or graphql-ws",
        )
            .into_response(),
        (Err(_), _) => graphiql().await.into_response(),
    }
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

async fn health(State(ledger): State<Ledger>) -> impl IntoResponse {
    match ledger.connection().ping().await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Serves until SIGTERM or ctrl-c, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    ledger: Ledger,
    signer: Signer,
    options: ServerOptions,
) -> std::io::Result<()> {
    // Small responses go out at once instead of waiting on Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app(ledger, signer, options))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
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
    tracing::info!("shutting down: draining in-flight requests");
}
