//! Runs an admitted request in its own task under the deadline. Past the
//! deadline the client is told UNAVAILABLE (503, `Retry-After`) and the
//! task still runs to its end, so a transaction it began commits or rolls
//! back as a whole, never half-way; the client's retry under the same
//! idempotency key returns the one outcome. Each response is finished here
//! (codes, request id) and counted.

use std::time::Instant;

use async_graphql::BatchResponse;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use service::ErrorCode;
use tracing::Instrument;

use super::admit::Admitted;
use super::reads::{self, Plan};
use crate::auth::Principal;
use crate::http::{AppState, reply, telemetry};

pub async fn execute(state: &AppState, principal: &Principal, admitted: Admitted, plan: &Plan, id: &str) -> Response {
    let started = Instant::now();
    let mut response = match run(state, principal, admitted.batch, id).await {
        Ok(response) => response,
        Err(refusal) => return refusal,
    };
    let token = reads::token(state, plan).await;
    let responses: Vec<&mut async_graphql::Response> = match &mut response {
        BatchResponse::Single(r) => vec![r],
        BatchResponse::Batch(rs) => rs.iter_mut().collect(),
    };
    for (r, label) in responses.into_iter().zip(&admitted.labels) {
        reply::finish(r, id);
        if let Some(token) = &token {
            let token = async_graphql::Value::String(token.clone());
            r.extensions.insert(reads::TOKEN_EXTENSION.to_owned(), token);
        }
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
    let mut reply = reply::executed(&response);
    reads::headers(plan, token.as_deref(), &mut reply);
    reply
}

async fn run(
    state: &AppState,
    principal: &Principal,
    batch: async_graphql::BatchRequest,
    id: &str,
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
            let message = format!(
                "the request did not finish within its deadline of {} ms; the outcome is unknown: retry with the same idempotency key",
                deadline.as_millis()
            );
            let mut reply = reply::refusal(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, message, id);
            reply
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Err(reply)
        }
    }
}
