//! A POST body must be declared JSON (`Content-Type: application/json`,
//! else 415): a browser sends a cross-site form post as `text/plain`
//! without asking first, while JSON takes a CORS preflight this server
//! never grants.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use service::ErrorCode;

use crate::http::reply;

pub async fn layer(request: Request, next: Next) -> Response {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if json {
        return next.run(request).await;
    }
    reply::refusal(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::InvalidInput,
        "the body must be JSON (Content-Type: application/json)",
        &super::origin::id(&request),
    )
}
