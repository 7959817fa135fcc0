//! GraphQL responses over HTTP: the JSON body, the request id in every
//! response's `extensions`, and the status code a refusal earns.
//!
//! Statuses: 200 for results and business refusals (GraphQL's own way);
//! 400 for a body that is not a GraphQL request and for QUERY_TOO_COMPLEX;
//! 401 UNAUTHENTICATED; 403 FORBIDDEN (the whole request refused); 405 a
//! mutation over GET; 413 PAYLOAD_TOO_LARGE; 429 RATE_LIMITED; 503
//! UNAVAILABLE when nothing of the request succeeded.

use std::time::Duration;

use async_graphql::{BatchResponse, ErrorExtensions, Response as GqlResponse, ServerError};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use service::ErrorCode;

const JSON: &str = "application/graphql-response+json";

/// A response carrying one coded error.
pub fn refusal(status: StatusCode, code: ErrorCode, message: impl Into<String>, request_id: &str) -> Response {
    let error = async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str()));
    one_error(status, error, request_id)
}

/// RATE_LIMITED with the wait in `Retry-After` and `extensions.retryAfter`.
pub fn rate_limited(wait: Duration, request_id: &str) -> Response {
    let mut reply = one_error(
        StatusCode::TOO_MANY_REQUESTS,
        crate::auth::rate_limited(wait),
        request_id,
    );
    reply
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(crate::auth::retry_after(wait)));
    reply
}

fn one_error(status: StatusCode, error: async_graphql::Error, request_id: &str) -> Response {
    let mut response = GqlResponse::from_errors(vec![crate::error::pre_execution(error)]);
    finish(&mut response, request_id);
    body(status, &BatchResponse::Single(response))
}

/// Codes every uncoded error and adds the request id to each response.
pub fn finish(response: &mut GqlResponse, request_id: &str) {
    crate::error::tag_uncoded(&mut response.errors);
    response.extensions.insert(
        "requestId".to_owned(),
        async_graphql::Value::String(request_id.to_owned()),
    );
}

/// The executed request(s) as an HTTP response.
pub fn executed(batch: &BatchResponse) -> Response {
    let status = match batch {
        BatchResponse::Single(r) => status_of(r),
        BatchResponse::Batch(_) => StatusCode::OK,
    };
    let mut reply = body(status, batch);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        reply
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    reply
}

/// The first error's code, or `ok`.
pub fn outcome(response: &GqlResponse) -> String {
    response.errors.first().map_or("ok", code_of).to_owned()
}

fn code_of(err: &ServerError) -> &str {
    match err.extensions.as_ref().and_then(|e| e.get("code")) {
        Some(async_graphql::Value::String(code)) => code,
        _ => "INVALID_INPUT",
    }
}

/// A request that produced no data at all gets the status of its error.
fn status_of(response: &GqlResponse) -> StatusCode {
    if !matches!(response.data, async_graphql::Value::Null) || response.errors.is_empty() {
        return StatusCode::OK;
    }
    match response.errors.first().map(code_of) {
        Some("UNAVAILABLE") => StatusCode::SERVICE_UNAVAILABLE,
        Some("QUERY_TOO_COMPLEX") => StatusCode::BAD_REQUEST,
        Some("UNAUTHENTICATED") => StatusCode::UNAUTHORIZED,
        Some("FORBIDDEN") => StatusCode::FORBIDDEN,
        _ => StatusCode::OK,
    }
}

fn body(status: StatusCode, batch: &BatchResponse) -> Response {
    let text = serde_json::to_string(batch)
        .unwrap_or_else(|_| r#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#.to_owned());
    let mut reply = (status, text).into_response();
    let headers = reply.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    reply
}
