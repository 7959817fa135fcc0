//! `/graphql`: every request passes the same door, in this order — body
//! size, shape (one request or a batch of at most `limits.batch`), who is
//! calling (401), their rate (429), aliases (400), what the operation may
//! touch (403) — and only then runs, under a deadline (503).

use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, BatchResponse, Request};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use service::ErrorCode;
use tracing::Instrument;

use super::{AppState, reply, telemetry};
use crate::auth::{self, AuthError};

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let id = telemetry::request_id(&headers);
    // A browser sends a cross-site form post as text/plain without asking
    // first; JSON takes a CORS preflight this server never grants.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if !json {
        let message = "the body must be JSON (Content-Type: application/json)";
        return reply::refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::InvalidInput,
            message,
            &id,
        );
    }
    if let Err(reply) = same_machine_origin(&state, &headers, &id) {
        return *reply;
    }
    // A body trickled in slowly holds a connection as a slow header would.
    let deadline = state.options.request_timeout;
    let bytes = match tokio::time::timeout(deadline, read_body(body, state.options.limits.body_bytes)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(reply)) => return reply(&id),
        Err(_) => {
            let message = format!("the request body did not arrive within {} ms", deadline.as_millis());
            return reply::refusal(StatusCode::REQUEST_TIMEOUT, ErrorCode::InvalidInput, message, &id);
        }
    };
    match serde_json::from_slice::<BatchRequest>(&bytes) {
        Ok(batch) => run(&state, &headers, batch, id).await,
        Err(e) => reply::refusal(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidInput,
            format!("the body is not a GraphQL request (JSON with \"query\"): {e}"),
            &id,
        ),
    }
}

/// A websocket upgrade (subscriptions), a query in the URL, or GraphiQL.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let id = telemetry::request_id(&headers);
    if let Err(reply) = same_machine_origin(&state, &headers, &id) {
        return *reply;
    }
    if let Ok(upgrade) = upgrade {
        return websocket(state, &headers, upgrade, &id);
    }
    let Some(query) = uri.query().filter(|q| !q.is_empty()) else {
        return super::ide::graphiql(&state);
    };
    let mut request = match async_graphql::http::parse_query_string(query) {
        Ok(request) => request,
        Err(e) => {
            let message = format!("the URL is not a GraphQL request: {e}");
            return reply::refusal(StatusCode::BAD_REQUEST, ErrorCode::InvalidInput, message, &id);
        }
    };
    match operation_type(&mut request) {
        Some(OperationType::Mutation) => reply::refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "mutations must be sent with POST; GET may only read",
            &id,
        ),
        Some(OperationType::Subscription) => reply::refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "subscriptions need a websocket (graphql-transport-ws) on this path",
            &id,
        ),
        _ => run(&state, &headers, BatchRequest::Single(request), id).await,
    }
}

fn websocket(state: AppState, headers: &HeaderMap, upgrade: WebSocketUpgrade, id: &str) -> Response {
    let Some(protocol) = crate::ws::Protocol::of(headers) else {
        return reply::refusal(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidInput,
            "the websocket subprotocol must be graphql-transport-ws or graphql-ws",
            id,
        );
    };
    let header_credential = authorization(headers).map(str::to_owned);
    match crate::ws::upgrade(&state.ws, upgrade, protocol, header_credential) {
        Ok(response) => response,
        Err(max) => {
            let mut reply = reply::refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                format!("this instance holds its most websockets ({max}); retry later or on another instance"),
                id,
            );
            reply
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            reply
        }
    }
}

/// Reads at most `limit` bytes of body: PAYLOAD_TOO_LARGE past it.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, fn(&str) -> Response> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        match too_large {
            true => |id: &str| {
                reply::refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    "the request body is larger than the server accepts",
                    id,
                )
            },
            false => |id: &str| {
                reply::refusal(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidInput,
                    "the request body could not be read",
                    id,
                )
            },
        }
    })
}

async fn run(state: &AppState, headers: &HeaderMap, batch: BatchRequest, id: String) -> Response {
    let started = Instant::now();
    let principal = match state.auth.authenticate(authorization(headers)).await {
        Ok(principal) => principal,
        Err(e) => return unauthenticated(&e, &id),
    };
    let (mut requests, single) = match batch {
        BatchRequest::Single(r) => (vec![r], true),
        BatchRequest::Batch(v) => (v, false),
    };
    let batch_max = state.options.limits.batch;
    if requests.is_empty() || requests.len() > batch_max {
        let message = format!("a batch holds 1 to {batch_max} operations, not {}", requests.len());
        return reply::refusal(StatusCode::BAD_REQUEST, ErrorCode::QueryTooComplex, message, &id);
    }
    // Each operation of a batch is charged, as if sent alone.
    if let Err(wait) = state.limiter.check_n(&principal, requests.len().max(1)) {
        telemetry::record("any", ErrorCode::RateLimited.as_str(), started.elapsed());
        return reply::rate_limited(wait, &id);
    }
    let labels = match admit(state, &principal, &mut requests, &id) {
        Ok(labels) => labels,
        Err(reply) => return *reply,
    };
    let mut requests: Vec<Request> = requests.into_iter().map(|r| r.data(principal.clone())).collect();
    let batch = match (single, requests.len()) {
        (true, 1) => BatchRequest::Single(requests.remove(0)),
        _ => BatchRequest::Batch(requests),
    };
    let mut response = match execute(state, batch, &id, &principal).await {
        Ok(response) => response,
        Err(reply) => return reply,
    };
    let responses: Vec<&mut async_graphql::Response> = match &mut response {
        BatchResponse::Single(r) => vec![r],
        BatchResponse::Batch(rs) => rs.iter_mut().collect(),
    };
    for (r, label) in responses.into_iter().zip(&labels) {
        reply::finish(r, &id);
        let outcome = reply::outcome(r);
        telemetry::record(label, &outcome, started.elapsed());
        tracing::debug!(
            request_id = %id,
            caller = %principal.label(),
            operation = %label,
            outcome = %outcome,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "request"
        );
    }
    reply::executed(&response, &id)
}

/// The checks on what the operations ask for: aliases and text, the
/// caller's rights. Returns each operation's metrics label.
fn admit(
    state: &AppState,
    principal: &auth::Principal,
    requests: &mut [Request],
    id: &str,
) -> Result<Vec<String>, Box<Response>> {
    let refuse = |status, code, message: String| Box::new(reply::refusal(status, code, message, id));
    let limits = state.options.limits;
    let mut labels = Vec::with_capacity(requests.len());
    for request in requests.iter_mut() {
        state.documents.prepare(request);
        if let Err(e) = limits.screen(request) {
            let code = crate::error::code_of(&e).unwrap_or(ErrorCode::InvalidInput);
            return Err(refuse(StatusCode::BAD_REQUEST, code, e.message));
        }
        if let Err(e) = auth::authorize(principal, request) {
            return Err(refuse(StatusCode::FORBIDDEN, ErrorCode::Forbidden, e.message));
        }
        labels.push(state.operations.label(request));
    }
    Ok(labels)
}

/// Runs the batch in its own task under the deadline. Past the deadline
/// the client is told UNAVAILABLE, and the task still runs to its end, so a
/// transaction it began commits or rolls back as a whole, never half-way.
async fn execute(
    state: &AppState,
    batch: BatchRequest,
    id: &str,
    principal: &auth::Principal,
) -> Result<BatchResponse, Response> {
    let schema = state.schema.clone();
    let span = tracing::info_span!("request", request_id = %id, caller = %principal.label());
    let task = state
        .tasks
        .spawn(async move { schema.execute_batch(batch).await }.instrument(span));
    let deadline = state.options.request_timeout;
    match tokio::time::timeout(deadline, task).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => {
            tracing::error!(request_id = %id, error = %e, "request task failed");
            Err(reply::refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "internal error",
                id,
            ))
        }
        Err(_) => {
            tracing::warn!(request_id = %id, ?deadline, "request passed its deadline");
            telemetry::record("any", ErrorCode::Unavailable.as_str(), deadline);
            let mut reply = reply::refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                format!(
                    "the request did not finish within its deadline of {} ms; the outcome is unknown: retry with the same idempotency key",
                    deadline.as_millis()
                ),
                id,
            );
            reply
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Err(reply)
        }
    }
}

fn unauthenticated(e: &AuthError, id: &str) -> Response {
    telemetry::record("any", ErrorCode::Unauthenticated.as_str(), std::time::Duration::ZERO);
    let mut reply = reply::refusal(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated, e.to_string(), id);
    reply
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    reply
}

/// While no credential is configured (the loopback default) every request
/// may do everything, so a web page on another site must not be able to
/// make a visitor's browser send one (or, by DNS rebinding, pose as this
/// host): a request whose `Origin` is not on this machine is refused.
/// Clients other than browsers send no `Origin`.
fn same_machine_origin(state: &AppState, headers: &HeaderMap, id: &str) -> Result<(), Box<Response>> {
    if state.auth.required() {
        return Ok(());
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    match loopback_origin(origin) {
        true => Ok(()),
        false => Err(Box::new(reply::refusal(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "requests from other sites are refused while this server has no credentials configured",
            id,
        ))),
    }
}

/// Whether an `Origin` (`scheme://host[:port]`) names this machine.
fn loopback_origin(origin: &str) -> bool {
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(host, _)| host),
        None => authority.split_once(':').map_or(authority, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

/// The type of the operation `request` would run, when it parses. Without
/// a name the executor refuses a document of several operations; if any of
/// them writes, GET refuses it here already.
fn operation_type(request: &mut Request) -> Option<OperationType> {
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

#[cfg(test)]
mod tests {
    use super::loopback_origin;

    #[test]
    fn only_origins_on_this_machine_are_loopback() {
        for ok in [
            "http://localhost:5173",
            "http://127.0.0.1:8000",
            "https://[::1]:9",
            "http://LOCALHOST",
        ] {
            assert!(loopback_origin(ok), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://127.0.0.1.evil.example",
            "null",
            "http://10.0.0.1",
            "file://",
        ] {
            assert!(!loopback_origin(bad), "{bad}");
        }
    }
}
