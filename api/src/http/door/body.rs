//! The body is read here, whole: at most `--max-body-bytes`
//! (PAYLOAD_TOO_LARGE, 413 beyond) and within the request deadline (a body
//! trickled in slowly holds a connection as a slow header would: 408).
//! The handler gets it as `Bytes`.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use service::ErrorCode;

use crate::http::{AppState, reply};

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = super::origin::id(&request);
    let (parts, body) = request.into_parts();
    let limit = state.options.limits.body_bytes;
    let deadline = state.options.request_timeout;
    let refusal = match tokio::time::timeout(deadline, read(body, limit)).await {
        Ok(Ok(bytes)) => return next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Ok(Err(Unread::TooLarge)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "the request body is larger than the server accepts".to_owned(),
        ),
        Ok(Err(Unread::Broken)) => (
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidInput,
            "the request body could not be read".to_owned(),
        ),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::InvalidInput,
            format!("the request body did not arrive within {} ms", deadline.as_millis()),
        ),
    };
    reply::refusal(refusal.0, refusal.1, refusal.2, &id)
}

enum Unread {
    TooLarge,
    Broken,
}

async fn read(body: Body, limit: usize) -> Result<Bytes, Unread> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // Decided on the error's type: the limit's own error, wrapped.
        match std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
            true => Unread::TooLarge,
            false => Unread::Broken,
        }
    })
}
