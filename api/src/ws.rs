//! GraphQL over WebSocket on `GET /graphql`: graphql-transport-ws (the
//! `graphql-ws` library's protocol, used by Apollo Client and urql) and the
//! older subscriptions-transport-ws.
//!
//! Each connection's outgoing messages pass through a queue of at most
//! `buffer` messages. A subscriber that stops reading fills its socket, then
//! the queue; at that point its subscriptions are dropped at once (they stop
//! reading the database and free their memory) and the connection is closed
//! with code 1013 ("try again later") and a reason naming the limit, so a
//! client can resubscribe from its last cursor. The close frame waits up to
//! `CLOSE_GRACE` for the client to read what precedes it, then the
//! connection is dropped.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::futures_util::stream::BoxStream;
use async_graphql::http::{WebSocketProtocols, WsMessage};
use async_graphql::{Data, Executor};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::{HeaderMap, header};
use futures::{SinkExt, StreamExt, future};
use tokio::sync::mpsc;

use crate::TallySchema;
use crate::error::tag_uncoded;

/// Close code for a subscriber cut off for not reading (RFC 6455: try again later).
pub const SLOW_CONSUMER: u16 = 1013;

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

/// The schema as the websocket's executor: every response's errors get
/// their code, as they do over HTTP.
#[derive(Clone)]
struct Coded(TallySchema);

impl Executor for Coded {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        let mut response = self.0.execute(request).await;
        tag_uncoded(&mut response.errors);
        response
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        self.0
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(|mut response| {
                tag_uncoded(&mut response.errors);
                response
            })
            .boxed()
    }
}

/// Serves one upgraded connection until either side ends it.
pub async fn serve(socket: WebSocket, schema: TallySchema, protocol: WebSocketProtocols, buffer: usize) {
    let (mut sink, incoming) = socket.split();
    let incoming = incoming.take_while(|m| future::ready(m.is_ok())).filter_map(|m| {
        future::ready(match m {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => Some(m.into_data()),
            _ => None,
        })
    });
    let mut outgoing = async_graphql::http::WebSocket::new(Coded(schema), incoming, protocol).map(|m| match m {
        WsMessage::Text(text) => Message::Text(text.into()),
        WsMessage::Close(code, reason) => Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })),
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
            match queue.try_send(m) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
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
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    };
    tokio::join!(writer, producer);
}
