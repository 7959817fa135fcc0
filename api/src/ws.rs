//! GraphQL over WebSocket on `GET /graphql`: graphql-transport-ws (the
//! `graphql-ws` library's protocol, used by Apollo Client and urql) and the
//! older subscriptions-transport-ws.
//!
//! Each connection's outgoing messages pass through a queue of at most
//! `buffer` messages. A subscriber that stops reading fills its socket, then
//! the queue; when the queue has stayed full for `QUEUE_GRACE` (a slow link
//! drains it sooner), its subscriptions are dropped at once (they stop
//! reading the database and free their memory) and the connection is closed
//! with code 1013 ("try again later") and a reason naming the limit, so a
//! client can resubscribe from its last cursor. The close frame waits up to
//! `CLOSE_GRACE` for the client to read what precedes it, then the
//! connection is dropped.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::futures_util::stream::BoxStream;
use async_graphql::http::{WebSocketProtocols, WsMessage};
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, ErrorExtensions, Executor, ServerError};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::{HeaderMap, header};
use futures::{SinkExt, StreamExt, future};
use service::ErrorCode;
use tokio::sync::mpsc;

use crate::TallySchema;
use crate::auth::{Auth, AuthError, RateLimiter};
use crate::error::tag_uncoded;
use crate::limits::Limits;

/// Close code for a subscriber cut off for not reading (RFC 6455: try again later).
pub const SLOW_CONSUMER: u16 = 1013;

/// How long a message may wait for room in a full queue before the
/// subscriber is cut off.
const QUEUE_GRACE: Duration = Duration::from_secs(2);

/// How long a cut-off connection may take to read up to its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(30);

/// Default bound of a connection's outgoing queue, in messages.
pub const DEFAULT_BUFFER: usize = 256;

/// The subprotocol a client asked for, if it is one we speak.
pub fn protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
}

/// What a websocket connection must pass: a credential (in the upgrade's
/// `Authorization` header, or in `connection_init`'s payload as
/// `{"Authorization": "Bearer …"}`, which browsers can send), then for every
/// operation: the credential again (a revoked key or an expired token stops
/// working on open sockets too), the caller's rate, the alias limit and the
/// operation policy. Mutations are refused: they go over POST, where the
/// request deadline and shutdown's wait for in-flight work apply.
#[derive(Clone)]
pub struct Door {
    pub auth: Auth,
    pub limiter: RateLimiter,
    pub limits: Limits,
    pub header_credential: Option<String>,
}

/// The schema as the websocket's executor: every operation passes the
/// door's checks first, and every response's errors get their code.
#[derive(Clone)]
struct Coded {
    schema: TallySchema,
    door: Door,
    /// The credential `connection_init` was accepted with.
    credential: Arc<OnceLock<Option<String>>>,
}

impl Coded {
    async fn admit(&self, mut request: async_graphql::Request) -> Result<async_graphql::Request, ServerError> {
        let pos = async_graphql::Pos::default();
        let Some(credential) = self.credential.get() else {
            return Err(crate::auth::unauthenticated(&AuthError::Missing).into_server_error(pos));
        };
        let principal = match self.door.auth.authenticate(credential.as_deref()).await {
            Ok(principal) => principal,
            Err(e) => return Err(crate::auth::unauthenticated(&e).into_server_error(pos)),
        };
        if let Err(wait) = self.door.limiter.check(&principal) {
            return Err(crate::auth::rate_limited(wait).into_server_error(pos));
        }
        let name = request.operation_name.clone();
        if let Ok(doc) = request.parsed_query()
            && crate::operation::selected(doc, name.as_deref()).is_some_and(|op| op.node.ty == OperationType::Mutation)
        {
            let e = async_graphql::Error::new("mutations must be sent with POST")
                .extend_with(|_, e| e.set("code", ErrorCode::MethodNotAllowed.as_str()));
            return Err(e.into_server_error(pos));
        }
        self.door.limits.check_aliases(&mut request)?;
        crate::auth::authorize(&principal, &mut request).map_err(|e| e.into_server_error(pos))?;
        Ok(request.data(principal))
    }
}

impl Executor for Coded {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        let mut response = match self.admit(request).await {
            Ok(request) => self.schema.execute(request).await,
            Err(e) => async_graphql::Response::from_errors(vec![e]),
        };
        tag_uncoded(&mut response.errors);
        response
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        let this = self.clone();
        futures::stream::once(async move {
            match this.admit(request).await {
                Ok(request) => this
                    .schema
                    .execute_stream_with_session_data(request, session_data.unwrap_or_default())
                    .boxed(),
                Err(e) => futures::stream::once(future::ready(async_graphql::Response::from_errors(vec![e]))).boxed(),
            }
        })
        .flatten()
        .map(|mut response| {
            tag_uncoded(&mut response.errors);
            response
        })
        .boxed()
    }
}

/// graphql-transport-ws's close code for a refused `connection_init`.
const FORBIDDEN_INIT: u16 = 4403;

/// Serves one upgraded connection until either side ends it.
pub async fn serve(socket: WebSocket, schema: TallySchema, protocol: WebSocketProtocols, buffer: usize, door: Door) {
    let (mut sink, incoming) = socket.split();
    let incoming = incoming.take_while(|m| future::ready(m.is_ok())).filter_map(|m| {
        future::ready(match m {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => Some(m.into_data()),
            _ => None,
        })
    });
    let credential: Arc<OnceLock<Option<String>>> = Arc::default();
    let executor = Coded {
        schema,
        door: door.clone(),
        credential: Arc::clone(&credential),
    };
    let on_init = move |payload: serde_json::Value| {
        let (auth, header, credential) = (
            door.auth.clone(),
            door.header_credential.clone(),
            Arc::clone(&credential),
        );
        async move {
            let from_payload = ["Authorization", "authorization"]
                .iter()
                .find_map(|k| payload.get(*k).and_then(|v| v.as_str()).map(str::to_owned));
            let presented = from_payload.or(header);
            match auth.authenticate(presented.as_deref()).await {
                Ok(_) => {
                    let _ = credential.set(presented);
                    Ok(Data::default())
                }
                Err(e) => Err(async_graphql::Error::new(format!("UNAUTHENTICATED: {e}"))),
            }
        }
    };
    let mut outgoing = async_graphql::http::WebSocket::new(executor, incoming, protocol)
        .on_connection_init(on_init)
        .map(|m| match m {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => {
                let code = match reason.starts_with("UNAUTHENTICATED") {
                    true => FORBIDDEN_INIT,
                    false => code,
                };
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                }))
            }
        });
    let (queue, mut queued) = mpsc::channel::<Message>(buffer.max(1));
    let (cut, cut_off) = tokio::sync::oneshot::channel::<Message>();
    let writer = async move {
        let close = {
            let deliver = async {
                while let Some(m) = queued.recv().await {
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
            };
            // A send blocked on a full socket must not hold up the cut-off.
            tokio::select! {
                biased;
                Ok(close) = cut_off => Some(close),
                () = deliver => None,
            }
        };
        if let Some(close) = close {
            let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(close)).await;
        }
    };
    let producer = async move {
        while let Some(m) = outgoing.next().await {
            // A full queue is waited on a little (a client catching up over
            // a slow link drains it), then the subscriber is cut off.
            match tokio::time::timeout(QUEUE_GRACE, queue.send(m)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return, // the writer is gone: the connection closed
                Err(_) => {
                    tracing::info!(buffer, "websocket subscriber is not reading; closing its connection");
                    drop(outgoing); // ends its subscriptions now, not after the grace period
                    let reason =
                        format!("slow consumer: more than {buffer} messages unread; resubscribe from your last cursor");
                    let _ = cut.send(Message::Close(Some(CloseFrame {
                        code: SLOW_CONSUMER,
                        reason: reason.into(),
                    })));
                    return;
                }
            }
        }
    };
    tokio::join!(writer, producer);
}
