//! Which server a request reads from, and the consistency token every
//! response carries when a replica is configured (`service::store::replica`
//! holds the rule).
//!
//! - A request holding a mutation runs on the primary.
//! - A request of queries only may bring the latest token it was given (the
//!   `Tally-Consistency-Token` header, or `extensions.consistencyToken` in
//!   the request; the greatest wins) and is then read from the replica only
//!   once the replica has replayed that far, else from the primary.
//!   `Tally-Read-From` says which.
//! - Every response then carries the token of what it may have seen, in
//!   `extensions.consistencyToken` and the header.
//! - A malformed token is INVALID_INPUT, with or without a replica.

use async_graphql::BatchRequest;
use async_graphql::dataloader::DataLoader;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use service::store::replica::{Lsn, Route};

use crate::http::AppState;
use crate::loaders::LedgerLoader;

pub const TOKEN_HEADER: &str = "tally-consistency-token";
pub const READ_FROM_HEADER: &str = "tally-read-from";
pub const TOKEN_EXTENSION: &str = "consistencyToken";

/// Where a request runs.
pub enum Plan {
    /// No replica: the one database, as ever.
    Primary,
    /// It writes: the primary.
    Writes,
    /// It only reads: from here, having been told `token`.
    Reads { route: Route, token: Option<Lsn> },
}

/// Reads the tokens, decides the server, and points the requests' ledger
/// and batch loader at the replica when they read from it.
pub async fn plan(state: &AppState, headers: &HeaderMap, batch: &mut BatchRequest) -> Result<Plan, String> {
    let mut token = match headers.get(TOKEN_HEADER) {
        Some(value) => Some(parse(value.to_str().unwrap_or("\u{fffd}"))?),
        None => None,
    };
    let mut writes = false;
    for request in batch.iter_mut() {
        if let Some(value) = request.extensions.get(TOKEN_EXTENSION) {
            let async_graphql::Value::String(text) = value else {
                return Err(format!("extensions.{TOKEN_EXTENSION} must be a string"));
            };
            token = token.max(Some(parse(text)?));
        }
        writes |= operation_type(request) != Some(OperationType::Query);
    }
    let Some(replica) = &state.replica else {
        return Ok(Plan::Primary);
    };
    if writes {
        return Ok(Plan::Writes);
    }
    let route = replica.route(token).await;
    if route == Route::Replica {
        let ledger = replica.ledger();
        for request in batch.iter_mut() {
            request.data.insert(ledger.clone());
            let loader = DataLoader::new(LedgerLoader(ledger.clone()), tokio::spawn).delay(state.options.loader_delay);
            request.data.insert(loader);
        }
    }
    Ok(Plan::Reads { route, token })
}

fn parse(text: &str) -> Result<Lsn, String> {
    text.trim().parse()
}

/// The token the request's responses carry: the primary's position after
/// a write or a read it served; the replica's after a read it served
/// (never less than the token the read brought).
pub async fn token(state: &AppState, plan: &Plan) -> Option<String> {
    let replica = state.replica.as_ref()?;
    let lsn = match plan {
        Plan::Primary => return None,
        Plan::Writes
        | Plan::Reads {
            route: Route::Primary, ..
        } => replica.primary_token().await,
        Plan::Reads {
            route: Route::Replica,
            token,
        } => replica.replica_token().await.map(|lsn| lsn.max(token.unwrap_or(lsn))),
    };
    match lsn {
        Ok(lsn) => Some(lsn.to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "no consistency token: the database did not say its WAL position");
            None
        }
    }
}

/// The headers that tell a client where it read and what to send next.
pub fn headers(plan: &Plan, token: Option<&str>, reply: &mut Response) {
    let headers = reply.headers_mut();
    if let Plan::Reads { route, .. } = plan {
        headers.insert(READ_FROM_HEADER, HeaderValue::from_static(route.as_str()));
    }
    if let Some(token) = token.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(TOKEN_HEADER, token);
    }
}

/// The type of the operation `request` would run, when it parses. Without
/// a name the executor refuses a document of several operations; if any of
/// them writes, this says so.
pub fn operation_type(request: &mut async_graphql::Request) -> Option<OperationType> {
    let name = request.operation_name.clone();
    let doc = request.parsed_query().ok()?;
    if let Some(op) = crate::operation::selected(doc, name.as_deref()) {
        return Some(op.node.ty);
    }
    match (&doc.operations, name) {
        (DocumentOperations::Multiple(ops), None) => ops
            .values()
            .map(|op| op.node.ty)
            .find(|ty| *ty != OperationType::Query)
            .or(Some(OperationType::Query)),
        _ => None,
    }
}
