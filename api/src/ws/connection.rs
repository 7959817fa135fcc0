//! One websocket connection, from upgrade to close: one loop that reads the
//! client's messages, forwards its operations' results to the outbox, and
//! enforces the protocol's rules (close codes in `close`):
//!
//! - no `connection_init` within `init_timeout`: 4408; a second one: 4429;
//!   a refused credential: 4403 (the legacy protocol gets
//!   `connection_error` first);
//! - `subscribe` before the acknowledgement: 4401; with the id of a running
//!   operation: 4409; an invalid message: 4400;
//! - the credential is checked again every `recheck`: once it is revoked
//!   or expired the connection ends with 4403, so no subscription outlives
//!   the right to read it;
//! - a caller may hold `max_per_caller` sockets (1008 beyond) and a socket
//!   `max_subscriptions` operations (an `error` for the one beyond).

use std::sync::Arc;

use async_graphql::Response;
use async_graphql::futures_util::stream::BoxStream;
use axum::extract::ws::{Message, WebSocket};
use futures::stream::SplitStream;
use futures::{StreamExt, stream};
use service::ErrorCode;
use tokio_stream::StreamMap;

use super::close::{self, Close};
use super::outbox::Outbox;
use super::protocol::{self, Incoming, Protocol};
use super::registry::Slot;
use super::{Door, operations};

/// An operation's results; `None` marks its end.
type Results = BoxStream<'static, Option<Response>>;

enum Stage {
    /// Waiting for `connection_init`.
    Opened,
    /// Acknowledged, with the credential it presented.
    Ready { credential: Option<String> },
}

pub struct Connection {
    pub protocol: Protocol,
    pub door: Arc<Door>,
    pub slot: Slot,
    /// The `Authorization` header of the upgrade, if any (browsers cannot
    /// set one; they put the credential in `connection_init`).
    pub header_credential: Option<String>,
}

impl Connection {
    pub async fn run(self, socket: WebSocket) {
        let (sink, incoming) = socket.split();
        let (outbox, writer) = Outbox::start(sink, self.door.options.buffer);
        let session = Session {
            connection: self,
            stage: Stage::Opened,
            operations: StreamMap::new(),
            outbox,
        };
        tokio::join!(session.run(incoming), writer);
    }
}

struct Session {
    connection: Connection,
    stage: Stage,
    operations: StreamMap<String, Results>,
    outbox: Outbox,
}

impl Session {
    async fn run(mut self, mut incoming: SplitStream<WebSocket>) {
        let options = self.connection.door.options;
        let init_deadline = tokio::time::sleep(options.init_timeout);
        tokio::pin!(init_deadline);
        let start = tokio::time::Instant::now();
        let mut recheck = tokio::time::interval_at(start + options.recheck, options.recheck);
        let mut keep_alive = tokio::time::interval_at(start + options.keep_alive, options.keep_alive);
        let ended = loop {
            let ready = matches!(self.stage, Stage::Ready { .. });
            let step = tokio::select! {
                biased;
                frame = incoming.next() => match frame {
                    Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => Err(Close::new(
                        close::BAD_REQUEST,
                        "Invalid message received: messages are JSON text frames",
                    )),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    // The client closed or the connection broke: nobody to tell.
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
                },
                () = &mut init_deadline, if !ready => {
                    Err(Close::new(close::INIT_TIMEOUT, "Connection initialisation timeout"))
                }
                _ = recheck.tick(), if ready => self.recheck().await,
                _ = keep_alive.tick(), if ready && self.connection.protocol == Protocol::Legacy => {
                    self.outbox.send(protocol::keep_alive()).await
                }
                Some((id, result)) = self.operations.next(), if !self.operations.is_empty() => {
                    self.on_result(id, result).await
                }
            };
            if let Err(close) = step {
                break Some(close);
            }
        };
        // Operations end first: they stop reading the database at once.
        drop(self.operations);
        if let Some(close) = ended {
            self.outbox.close(close).await;
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), Close> {
        let protocol = self.connection.protocol;
        let message = protocol::parse(protocol, text).map_err(|reason| Close::new(close::BAD_REQUEST, reason))?;
        match message {
            Incoming::Init(payload) => self.init(&payload).await,
            Incoming::Ping(payload) => self.outbox.send(protocol::pong(payload)).await,
            Incoming::Pong => Ok(()),
            Incoming::Subscribe(id, request) => self.subscribe(id, *request).await,
            Incoming::Stop(id) => {
                let was_running = self.operations.remove(&id).is_some();
                match (protocol, was_running) {
                    // The legacy protocol confirms a stop; the modern one
                    // sends nothing more for an id the client completed.
                    (Protocol::Legacy, true) => self.outbox.send(protocol::complete(&id)).await,
                    _ => Ok(()),
                }
            }
            Incoming::Terminate => Err(Close::new(close::NORMAL, "terminated by the client")),
        }
    }

    async fn init(&mut self, payload: &serde_json::Value) -> Result<(), Close> {
        if matches!(self.stage, Stage::Ready { .. }) {
            return Err(Close::new(close::TOO_MANY_INITS, "Too many initialisation requests"));
        }
        let door = Arc::clone(&self.connection.door);
        let from_payload = ["Authorization", "authorization"]
            .iter()
            .find_map(|k| payload.get(*k).and_then(|v| v.as_str()).map(str::to_owned));
        let credential = from_payload.or_else(|| self.connection.header_credential.clone());
        let principal = match door.auth.authenticate(credential.as_deref()).await {
            Ok(principal) => principal,
            Err(e) => {
                let reason = format!("Forbidden: {e}");
                if self.connection.protocol == Protocol::Legacy {
                    self.outbox.send(protocol::connection_error(&reason)).await?;
                }
                return Err(Close::new(close::FORBIDDEN, reason));
            }
        };
        if !self.connection.slot.claim(&principal, door.options.max_per_caller) {
            return Err(Close::new(
                close::POLICY,
                format!(
                    "too many websockets for this caller (at most {} per caller)",
                    door.options.max_per_caller
                ),
            ));
        }
        self.stage = Stage::Ready { credential };
        self.outbox.send(protocol::ack()).await?;
        if self.connection.protocol == Protocol::Legacy {
            self.outbox.send(protocol::keep_alive()).await?;
        }
        Ok(())
    }

    async fn subscribe(&mut self, id: String, request: async_graphql::Request) -> Result<(), Close> {
        let Stage::Ready { credential } = &self.stage else {
            return Err(Close::new(close::UNAUTHORIZED, "Unauthorized"));
        };
        if self.operations.contains_key(&id) {
            return Err(Close::new(
                close::DUPLICATE_ID,
                format!("Subscriber for {} already exists", close::truncate(&id, 64)),
            ));
        }
        let protocol = self.connection.protocol;
        let max = self.connection.door.options.max_subscriptions;
        if self.operations.len() >= max {
            let message = format!("a websocket may run at most {max} operations at once; complete one first");
            let error = crate::error::coded(ErrorCode::TooManySubscriptions, message);
            return self.send_all(protocol::error(protocol, &id, &[error])).await;
        }
        match operations::start(&self.connection.door, credential.as_deref(), request).await {
            Ok(results) => {
                let results: Results = results.map(Some).chain(stream::once(async { None })).boxed();
                self.operations.insert(id, results);
                Ok(())
            }
            Err(errors) => self.send_all(protocol::error(protocol, &id, &errors)).await,
        }
    }

    async fn on_result(&mut self, id: String, result: Option<Response>) -> Result<(), Close> {
        let protocol = self.connection.protocol;
        match result {
            Some(response) if operations::refused(&response) => {
                self.operations.remove(&id);
                self.send_all(protocol::error(protocol, &id, &response.errors)).await
            }
            Some(response) => self.outbox.send(protocol::next(protocol, &id, &response)).await,
            None => {
                self.operations.remove(&id);
                self.outbox.send(protocol::complete(&id)).await
            }
        }
    }

    /// The credential the connection was accepted with, checked again.
    async fn recheck(&mut self) -> Result<(), Close> {
        let Stage::Ready { credential } = &self.stage else {
            return Ok(());
        };
        match self.connection.door.auth.authenticate(credential.as_deref()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::info!(error = %e, "closing a websocket whose credential is no longer valid");
                Err(Close::new(close::FORBIDDEN, format!("Forbidden: {e}")))
            }
        }
    }

    async fn send_all(&mut self, messages: Vec<String>) -> Result<(), Close> {
        for m in messages {
            self.outbox.send(m).await?;
        }
        Ok(())
    }
}
