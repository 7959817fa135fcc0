//! `/graphql`: the handlers behind the door (`http::door`).
//!
//! - `POST`: one request or a JSON array batch → [`admit`] → [`execute`].
//! - `GET`: a websocket upgrade (the `ws` module), a query in the URL (it
//!   may only read), or GraphiQL for a browser.
//! - Either: queries may read from a replica ([`reads`]).

mod admit;
mod execute;
mod reads;

use async_graphql::BatchRequest;
use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use service::ErrorCode;

use super::door::{RequestId, credential};
use super::{AppState, reply};
use crate::auth::Principal;

pub async fn post(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match serde_json::from_slice::<BatchRequest>(&body) {
        Ok(batch) => run(&state, &principal, &headers, batch, &id.0).await,
        Err(e) => reply::refusal(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidInput,
            format!("the body is not a GraphQL request (JSON with \"query\"): {e}"),
            &id.0,
        ),
    }
}

/// A websocket upgrade (subscriptions), a query in the URL, or GraphiQL.
pub async fn get(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Ok(upgrade) = upgrade {
        return websocket(&state, &headers, upgrade, &id.0);
    }
    let Some(query) = uri.query().filter(|q| !q.is_empty()) else {
        return super::ide::graphiql(&state);
    };
    let principal = match credential::check(&state, &headers, &id.0).await {
        Ok(principal) => principal,
        Err(refusal) => return *refusal,
    };
    let mut request = match async_graphql::http::parse_query_string(query) {
        Ok(request) => request,
        Err(e) => {
            let message = format!("the URL is not a GraphQL request: {e}");
            return reply::refusal(StatusCode::BAD_REQUEST, ErrorCode::InvalidInput, message, &id.0);
        }
    };
    let refuse = |message| {
        reply::refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            message,
            &id.0,
        )
    };
    match reads::operation_type(&mut request) {
        Some(OperationType::Mutation) => refuse("mutations must be sent with POST; GET may only read"),
        Some(OperationType::Subscription) => {
            refuse("subscriptions need a websocket (graphql-transport-ws) on this path")
        }
        _ => run(&state, &principal, &headers, BatchRequest::Single(request), &id.0).await,
    }
}

/// Admits the operations, picks the server they read from, then runs them
/// under the deadline.
async fn run(state: &AppState, principal: &Principal, headers: &HeaderMap, batch: BatchRequest, id: &str) -> Response {
    let mut admitted = match admit::admit(state, principal, batch, id) {
        Ok(admitted) => admitted,
        Err(refusal) => return *refusal,
    };
    match reads::plan(state, headers, &mut admitted.batch).await {
        Ok(plan) => execute::execute(state, principal, admitted, &plan, id).await,
        Err(message) => reply::refusal(StatusCode::BAD_REQUEST, ErrorCode::InvalidInput, message, id),
    }
}

fn websocket(state: &AppState, headers: &HeaderMap, upgrade: WebSocketUpgrade, id: &str) -> Response {
    let Some(protocol) = crate::ws::Protocol::of(headers) else {
        let message = "the websocket subprotocol must be graphql-transport-ws or graphql-ws";
        return reply::refusal(StatusCode::BAD_REQUEST, ErrorCode::InvalidInput, message, id);
    };
    let header_credential = credential::authorization(headers).map(str::to_owned);
    match crate::ws::upgrade(&state.ws, upgrade, protocol, header_credential) {
        Ok(response) => response,
        Err(max) => {
            let message =
                format!("this instance holds its most websockets ({max}); retry later or on another instance");
            let mut reply = reply::refusal(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, message, id);
            reply
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            reply
        }
    }
}
