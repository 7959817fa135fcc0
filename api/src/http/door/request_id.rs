//! Every request gets an id: the client's own `X-Request-Id` when it is
//! 1–64 characters of `A–Z a–z 0–9 - _ .`, else a fresh one. It rides on
//! the request (for logs and response bodies) and comes back in the
//! response's `X-Request-Id` header.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The id of the request being served.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub async fn layer(mut request: Request, next: Next) -> Response {
    let id = of(request.headers());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn of(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .filter(|v| {
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}
