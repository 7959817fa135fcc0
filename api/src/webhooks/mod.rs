//! Webhooks: the GraphQL fields that manage endpoints, deliveries and
//! balance alerts, and the worker that delivers events.

mod resolvers;
pub mod types;
mod worker;

pub use resolvers::{WebhookMutation, WebhookQuery};
pub use worker::{WebhookOptions, Webhooks};
