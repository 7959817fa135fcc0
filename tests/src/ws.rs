//! A minimal graphql-transport-ws client for the tests: connect, init,
//! subscribe, read `next` payloads; and a raw mode that does not read, for
//! the slow-consumer test.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub struct WsClient {
    ws: WebSocketStream<TcpStream>,
}

/// What the server sent for a subscription.
#[derive(Debug)]
pub enum Event {
    Next(Value),
    Error(Value),
    Complete,
    Closed { code: u16, reason: String },
}

impl WsClient {
    /// Connects to `base` (`http://host:port`) and completes the handshake.
    pub async fn connect(base: &str) -> Result<Self> {
        Self::connect_with(base, None).await
    }

    /// Connects with `payload` in `connection_init` (where browsers put
    /// credentials); a refused init is an error naming the close code.
    pub async fn connect_with_payload(base: &str, payload: Value) -> Result<Self> {
        let mut client = Self::open(base, None).await?;
        client.init(payload).await?;
        Ok(client)
    }

    /// With `recv_buffer`, the socket's receive buffer is set that small, so
    /// that a client that stops reading fills the server's side quickly.
    pub async fn connect_with(base: &str, recv_buffer: Option<u32>) -> Result<Self> {
        let mut client = Self::open(base, recv_buffer).await?;
        client.init(json!({})).await?;
        Ok(client)
    }

    async fn init(&mut self, payload: Value) -> Result<()> {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await?;
        match self.event_or_ack(Duration::from_secs(5)).await? {
            None => Ok(()),
            Some(Event::Closed { code, reason }) => bail!("init refused: closed {code} {reason}"),
            Some(other) => bail!("no connection_ack: {other:?}"),
        }
    }

    /// `None` for connection_ack, else the event that came instead.
    async fn event_or_ack(&mut self, wait: Duration) -> Result<Option<Event>> {
        let frame = tokio::time::timeout(wait, self.ws.next())
            .await
            .map_err(|_| anyhow!("no answer to connection_init within {wait:?}"))?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                let m: Value = serde_json::from_str(&text)?;
                match m["type"].as_str() {
                    Some("connection_ack") => Ok(None),
                    _ => Ok(Some(Event::Next(m))),
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or_default();
                Ok(Some(Event::Closed { code, reason }))
            }
            other => bail!("unexpected answer to connection_init: {other:?}"),
        }
    }

    async fn open(base: &str, recv_buffer: Option<u32>) -> Result<Self> {
        let addr = base.trim_start_matches("http://");
        let socket = TcpSocket::new_v4()?;
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        let stream = socket.connect(addr.parse()?).await?;
        let mut request = format!("ws://{addr}/graphql").into_client_request()?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (ws, _) = tokio_tungstenite::client_async(request, stream).await?;
        Ok(Self { ws })
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) -> Result<()> {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await
    }

    /// The next event of any subscription, within `wait`.
    pub async fn event(&mut self, wait: Duration) -> Result<Event> {
        loop {
            let frame = tokio::time::timeout(wait, self.ws.next())
                .await
                .map_err(|_| anyhow!("no message within {wait:?}"))?;
            match frame {
                None => bail!("connection ended without a close frame"),
                Some(Err(e)) => bail!("websocket error: {e}"),
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or_default();
                    return Ok(Event::Closed { code, reason });
                }
                Some(Ok(Message::Text(text))) => {
                    let m: Value = serde_json::from_str(&text)?;
                    match m["type"].as_str() {
                        Some("next") => return Ok(Event::Next(m["payload"].clone())),
                        Some("error") => return Ok(Event::Error(m["payload"].clone())),
                        Some("complete") => return Ok(Event::Complete),
                        Some("ping") => self.send(json!({ "type": "pong" })).await?,
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next `next` payload's `data`; an error or close is a failure.
    pub async fn data(&mut self, wait: Duration) -> Result<Value> {
        match self.event(wait).await? {
            Event::Next(payload) if payload.get("errors").is_none() => Ok(payload["data"].clone()),
            other => bail!("expected data, got {other:?}"),
        }
    }

    /// The first error code of the subscription's error, within `wait`.
    pub async fn error_code(&mut self, wait: Duration) -> Result<String> {
        let errors = loop {
            match self.event(wait).await? {
                Event::Error(errors) => break errors,
                Event::Next(payload) => break payload["errors"].clone(),
                Event::Complete => continue, // an earlier subscription's end
                other => bail!("expected an error, got {other:?}"),
            }
        };
        errors[0]["extensions"]["code"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("uncoded error: {errors}"))
    }

    pub async fn close(mut self) -> Result<()> {
        self.ws.close(None).await?;
        Ok(())
    }

    async fn send(&mut self, message: Value) -> Result<()> {
        self.ws.send(Message::Text(message.to_string().into())).await?;
        Ok(())
    }
}
