//! Each operation sent over a socket passes the checks a POST passes: the
//! credential again (a revoked key or an expired token stops working on
//! open sockets too), the caller's rate, the request screen (aliases, NUL)
//! and the operation policy. Mutations are refused: they go over POST,
//! where the request deadline and shutdown's wait for in-flight work apply.

use async_graphql::futures_util::stream::BoxStream;
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, ErrorExtensions, Response, ServerError};
use futures::StreamExt;
use service::ErrorCode;

use super::Door;
use crate::auth::Principal;
use crate::error::{pre_execution, tag_uncoded};

/// The results of one admitted operation, each with its errors coded; or
/// why it was not admitted.
pub async fn start(
    door: &Door,
    credential: Option<&str>,
    mut request: async_graphql::Request,
) -> Result<BoxStream<'static, Response>, Vec<ServerError>> {
    let principal = admit(door, credential, &mut request).await.map_err(|e| vec![e])?;
    let stream = door
        .schema
        .execute_stream_with_session_data(request.data(principal), std::sync::Arc::new(Data::default()))
        .map(|mut response| {
            tag_uncoded(&mut response.errors);
            response
        });
    Ok(stream.boxed())
}

async fn admit(
    door: &Door,
    credential: Option<&str>,
    request: &mut async_graphql::Request,
) -> Result<Principal, ServerError> {
    let principal = door
        .auth
        .authenticate(credential)
        .await
        .map_err(|e| pre_execution(crate::auth::unauthenticated(&e)))?;
    if let Err(wait) = door.limiter.check(&principal) {
        return Err(pre_execution(crate::auth::rate_limited(wait)));
    }
    door.documents.prepare(request);
    let name = request.operation_name.clone();
    if let Ok(doc) = request.parsed_query()
        && crate::operation::selected(doc, name.as_deref()).is_some_and(|op| op.node.ty == OperationType::Mutation)
    {
        let e = async_graphql::Error::new("mutations must be sent with POST")
            .extend_with(|_, e| e.set("code", ErrorCode::MethodNotAllowed.as_str()));
        return Err(pre_execution(e));
    }
    door.limits.screen(request)?;
    crate::auth::authorize(&principal, request, door.backdating).map_err(pre_execution)?;
    Ok(principal)
}

/// Whether the first response of an operation means it never ran: no data,
/// only errors (validation, refusal, an unknown account).
pub fn refused(response: &Response) -> bool {
    matches!(response.data, async_graphql::Value::Null) && !response.errors.is_empty()
}
