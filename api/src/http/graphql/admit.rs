//! What the operations of a request may ask for, checked before any of
//! them runs, in this order: how many (a batch holds 1 to `--max-batch`),
//! the caller's rate (each operation pays, as if sent alone), then per
//! operation the screen (aliases, text holding U+0000) and the scope
//! policy. One refusal refuses the whole request.

use async_graphql::{BatchRequest, Request};
use axum::http::StatusCode;
use axum::response::Response;
use service::ErrorCode;

use crate::auth::{self, Principal};
use crate::http::{AppState, reply, telemetry};

/// The requests, ready to run, and each one's metrics label.
pub struct Admitted {
    pub batch: BatchRequest,
    pub labels: Vec<String>,
}

pub fn admit(
    state: &AppState,
    principal: &Principal,
    batch: BatchRequest,
    id: &str,
) -> Result<Admitted, Box<Response>> {
    let refuse = |status, code, message: String| Box::new(reply::refusal(status, code, message, id));
    let (mut requests, single) = match batch {
        BatchRequest::Single(r) => (vec![r], true),
        BatchRequest::Batch(v) => (v, false),
    };
    let limits = state.options.limits;
    if requests.is_empty() || requests.len() > limits.batch {
        let message = format!("a batch holds 1 to {} operations, not {}", limits.batch, requests.len());
        return Err(refuse(StatusCode::BAD_REQUEST, ErrorCode::QueryTooComplex, message));
    }
    if let Err(wait) = state.limiter.check_n(principal, requests.len()) {
        telemetry::record("any", ErrorCode::RateLimited.as_str(), std::time::Duration::ZERO);
        return Err(Box::new(reply::rate_limited(wait, id)));
    }
    let mut labels = Vec::with_capacity(requests.len());
    for request in requests.iter_mut() {
        state.documents.prepare(request);
        if let Err(e) = limits.screen(request) {
            let code = crate::error::code_of(&e).unwrap_or(ErrorCode::InvalidInput);
            return Err(refuse(StatusCode::BAD_REQUEST, code, e.message));
        }
        if let Err(e) = auth::authorize(principal, request, state.options.backdating) {
            return Err(refuse(StatusCode::FORBIDDEN, ErrorCode::Forbidden, e.message));
        }
        labels.push(state.operations.label(request));
    }
    let mut requests: Vec<Request> = requests.into_iter().map(|r| r.data(principal.clone())).collect();
    let batch = match (single, requests.pop()) {
        (true, Some(only)) => BatchRequest::Single(only),
        (_, last) => BatchRequest::Batch(requests.into_iter().chain(last).collect()),
    };
    Ok(Admitted { batch, labels })
}
