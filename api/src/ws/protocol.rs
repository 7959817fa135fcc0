//! The two GraphQL-over-WebSocket protocols, as messages.
//!
//! - `graphql-transport-ws` (the `graphql-ws` library's protocol:
//!   <https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>):
//!   `connection_init`/`connection_ack`, `ping`/`pong`, `subscribe`,
//!   `next`, `error`, `complete`.
//! - `graphql-ws`, the legacy subscriptions-transport-ws protocol (GraphQL
//!   Playground): `connection_init`/`connection_ack`/`connection_error`,
//!   `ka`, `start`, `data`, `error`, `complete`, `stop`,
//!   `connection_terminate`.
//!
//! A message that is not valid for the connection's protocol is reported as
//! the reason for closing with 4400.

use std::str::FromStr;

use async_graphql::{Request, Response, ServerError};
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// graphql-transport-ws
    Modern,
    /// graphql-ws (subscriptions-transport-ws)
    Legacy,
}

impl Protocol {
    /// The subprotocol a client asked for, if it is one we speak (the
    /// first we know, in the client's order).
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        headers
            .get(header::SEC_WEBSOCKET_PROTOCOL)?
            .to_str()
            .ok()?
            .split(',')
            .find_map(|p| p.trim().parse().ok())
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Modern => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        }
    }
}

impl FromStr for Protocol {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "graphql-transport-ws" => Ok(Protocol::Modern),
            "graphql-ws" => Ok(Protocol::Legacy),
            _ => Err(()),
        }
    }
}

/// What a client may send.
#[derive(Debug)]
pub enum Incoming {
    Init(Value),
    Ping(Option<Value>),
    Pong,
    /// `subscribe` (modern) or `start` (legacy).
    Subscribe(String, Box<Request>),
    /// `complete` (modern) or `stop` (legacy).
    Stop(String),
    /// `connection_terminate` (legacy).
    Terminate,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<Value>,
}

/// Parses one text frame, or says why it is not a valid message.
pub fn parse(protocol: Protocol, text: &str) -> Result<Incoming, String> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| format!("Invalid message received: not a protocol message ({e})"))?;
    let id = || match &envelope.id {
        Some(id) if !id.is_empty() => Ok(id.clone()),
        _ => Err(format!(
            "Invalid message received: `{}` needs a non-empty `id`",
            envelope.kind
        )),
    };
    let message = match (protocol, envelope.kind.as_str()) {
        (_, "connection_init") => match envelope.payload {
            None | Some(Value::Null) => Incoming::Init(Value::Object(Default::default())),
            Some(payload @ Value::Object(_)) => Incoming::Init(payload),
            Some(_) => return Err("Invalid message received: the `connection_init` payload must be an object".into()),
        },
        (Protocol::Modern, "ping") => Incoming::Ping(envelope.payload),
        (Protocol::Modern, "pong") => Incoming::Pong,
        (Protocol::Modern, "subscribe") | (Protocol::Legacy, "start") => {
            let id = id()?;
            let payload = envelope.payload.unwrap_or(Value::Null);
            if !payload.get("query").is_some_and(Value::is_string) {
                return Err("Invalid message received: the payload needs a `query` string".into());
            }
            let request: Request = serde_json::from_value(payload)
                .map_err(|e| format!("Invalid message received: the payload is not a GraphQL request ({e})"))?;
            Incoming::Subscribe(id, Box::new(request))
        }
        (Protocol::Modern, "complete") | (Protocol::Legacy, "stop") => Incoming::Stop(id()?),
        (Protocol::Legacy, "connection_terminate") => Incoming::Terminate,
        (_, kind) => {
            return Err(format!(
                "Invalid message received: unknown type `{kind}` for {}",
                protocol.name()
            ));
        }
    };
    Ok(message)
}

/// What the server sends, as text.
pub fn ack() -> String {
    json!({ "type": "connection_ack" }).to_string()
}

pub fn pong(payload: Option<Value>) -> String {
    match payload {
        Some(p) => json!({ "type": "pong", "payload": p }),
        None => json!({ "type": "pong" }),
    }
    .to_string()
}

/// The legacy protocol's keep-alive.
pub fn keep_alive() -> String {
    json!({ "type": "ka" }).to_string()
}

/// The legacy protocol's refusal of `connection_init`.
pub fn connection_error(message: &str) -> String {
    json!({ "type": "connection_error", "payload": { "message": message } }).to_string()
}

/// One result of an operation.
pub fn next(protocol: Protocol, id: &str, response: &Response) -> String {
    let kind = match protocol {
        Protocol::Modern => "next",
        Protocol::Legacy => "data",
    };
    json!({ "id": id, "type": kind, "payload": response }).to_string()
}

/// The operation failed before producing any result (validation, a
/// refused credential, an unknown account): it is over, with no `complete`
/// in graphql-transport-ws. The legacy protocol gets the errors as data,
/// then `complete` (what its clients display).
pub fn error(protocol: Protocol, id: &str, errors: &[ServerError]) -> Vec<String> {
    match protocol {
        Protocol::Modern => vec![json!({ "id": id, "type": "error", "payload": errors }).to_string()],
        Protocol::Legacy => vec![
            json!({ "id": id, "type": "data", "payload": { "data": null, "errors": errors } }).to_string(),
            complete(id),
        ],
    }
}

pub fn complete(id: &str) -> String {
    json!({ "id": id, "type": "complete" }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_accepts_only_its_own_messages() {
        let sub = r#"{"id":"1","type":"subscribe","payload":{"query":"{ a }"}}"#;
        assert!(matches!(parse(Protocol::Modern, sub), Ok(Incoming::Subscribe(id, _)) if id == "1"));
        assert!(parse(Protocol::Legacy, sub).is_err());
        let start = r#"{"id":"1","type":"start","payload":{"query":"{ a }"}}"#;
        assert!(matches!(parse(Protocol::Legacy, start), Ok(Incoming::Subscribe(..))));
        assert!(parse(Protocol::Modern, start).is_err());
    }

    #[test]
    fn malformed_messages_say_what_is_wrong() {
        for (text, says) in [
            ("not json", "not a protocol message"),
            (r#"{"id":"1"}"#, "not a protocol message"),
            (r#"{"type":"subscribe","payload":{"query":"{ a }"}}"#, "non-empty `id`"),
            (
                r#"{"type":"subscribe","id":"1","payload":{"variables":{}}}"#,
                "needs a `query` string",
            ),
            (
                r#"{"type":"subscribe","id":"1","payload":{"query":"{ a }","variables":[]}}"#,
                "not a GraphQL request",
            ),
            (r#"{"type":"connection_init","payload":[1]}"#, "must be an object"),
            (r#"{"type":"next","id":"1"}"#, "unknown type `next`"),
        ] {
            match parse(Protocol::Modern, text) {
                Err(reason) => assert!(reason.contains(says), "{text}: {reason}"),
                Ok(m) => panic!("{text} parsed as {m:?}"),
            }
        }
    }
}
