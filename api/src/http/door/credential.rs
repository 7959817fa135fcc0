//! Who is calling: the `Authorization: Bearer` credential checked against
//! the key copy (or as a JWT), refused with UNAUTHENTICATED (401, with
//! `WWW-Authenticate: Bearer`); the `Principal` rides on the request.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use service::ErrorCode;

use crate::auth::Principal;
use crate::http::{AppState, reply, telemetry};

pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match check(&state, request.headers(), &super::origin::id(&request)).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(refusal) => *refusal,
    }
}

/// The caller of a request with these headers, or its refusal.
pub async fn check(state: &AppState, headers: &HeaderMap, id: &str) -> Result<Principal, Box<Response>> {
    state.auth.authenticate(authorization(headers)).await.map_err(|e| {
        telemetry::record("any", ErrorCode::Unauthenticated.as_str(), std::time::Duration::ZERO);
        let mut reply = reply::refusal(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated, e.to_string(), id);
        reply
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        Box::new(reply)
    })
}

pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}
