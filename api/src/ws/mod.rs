//! GraphQL over WebSocket on `GET /graphql`: graphql-transport-ws (the
//! `graphql-ws` library's protocol, used by Apollo Client, urql and
//! GraphiQL) and the legacy subscriptions-transport-ws (GraphQL Playground).
//!
//! Owns: the protocols' rules and close codes (`connection`, `protocol`,
//! `close`), the bounded outgoing queue that cuts off slow consumers
//! (`outbox`), the socket counts (`registry`) and the per-operation checks
//! (`operations`). Uses: the schema, `auth`, `limits`.

mod close;
mod connection;
mod operations;
mod outbox;
mod protocol;
mod registry;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;

use crate::TallySchema;
use crate::auth::{Auth, RateLimiter};
use crate::documents::Documents;
use crate::limits::Limits;

pub use close::truncate;
pub use protocol::Protocol;
pub use registry::Registry;

/// The websocket settings of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsOptions {
    /// Outgoing messages a connection may have queued before it is cut off
    /// as a slow consumer.
    pub buffer: usize,
    /// How long a connection may wait before `connection_init`.
    pub init_timeout: Duration,
    /// How often an open connection's credential is checked again.
    pub recheck: Duration,
    /// The legacy protocol's keep-alive interval.
    pub keep_alive: Duration,
    /// Websockets this instance holds at most.
    pub max_sockets: usize,
    /// Websockets one caller (API key or token subject) may hold at most.
    pub max_per_caller: usize,
    /// Operations one websocket may run at once.
    pub max_subscriptions: usize,
}

impl WsOptions {
    pub const DEFAULT: WsOptions = WsOptions {
        buffer: 256,
        init_timeout: Duration::from_secs(10),
        recheck: Duration::from_secs(1),
        keep_alive: Duration::from_secs(15),
        max_sockets: 10_000,
        max_per_caller: 100,
        max_subscriptions: 100,
    };
}

impl Default for WsOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What every websocket of one server shares.
pub struct Door {
    pub schema: TallySchema,
    pub auth: Auth,
    pub limiter: RateLimiter,
    pub limits: Limits,
    pub documents: Documents,
    pub options: WsOptions,
    pub registry: Registry,
    pub backdating: crate::auth::Backdating,
}

/// Upgrades to a websocket speaking `protocol`, or refuses when this
/// instance holds its most sockets already.
pub fn upgrade(
    door: &Arc<Door>,
    upgrade: WebSocketUpgrade,
    protocol: Protocol,
    header_credential: Option<String>,
) -> Result<Response, usize> {
    let max = door.options.max_sockets;
    let slot = door.registry.open(max).ok_or(max)?;
    let door = Arc::clone(door);
    let max_message = door.limits.body_bytes;
    Ok(upgrade
        .protocols([protocol.name()])
        .max_message_size(max_message)
        .on_upgrade(move |socket| {
            connection::Connection {
                protocol,
                door,
                slot,
                header_credential,
            }
            .run(socket)
        }))
}
