//! The HTTP surface: POST /graphql executes, GET /graphql serves GraphiQL,
//! GET /health answers when the database does. SIGTERM/ctrl-c drain
//! in-flight requests before exit.

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::serve::ListenerExt;
use service::Ledger;
use service::seal::digest::Signer;
use tokio::net::TcpListener;

use crate::TallySchema;
use crate::documents::Documents;
use crate::error::tag_uncoded;

pub fn app(ledger: Ledger, signer: Signer) -> Router {
    let schema = crate::schema(ledger.clone(), signer);
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .with_state((schema, Documents::default()))
        .route("/health", get(health).with_state(ledger))
}

async fn graphql(State((schema, documents)): State<(TallySchema, Documents)>, req: GraphQLRequest) -> GraphQLResponse {
    let mut request = req.into_inner();
    documents.prepare(&mut request);
    let mut response = schema.execute(request).await;
    tag_uncoded(&mut response.errors);
    response.into()
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
pub async fn serve(listener: TcpListener, ledger: Ledger, signer: Signer) -> std::io::Result<()> {
    // Small responses go out at once instead of waiting on Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app(ledger, signer))
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
