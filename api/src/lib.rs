//! Tally's GraphQL API: schema, thin resolvers, the axum server and config.
//! All rules live in `service`; a resolver converts input, calls one service
//! function and converts the output.

pub mod auth;
pub mod config;
mod documents;
mod error;
pub mod http;
pub mod keys_cmd;
mod limits;
mod loaders;
mod mutation;
mod operation;
mod query;
mod scalars;
mod subscription;
mod types;
pub mod verify_cmd;
mod walk;
pub mod webhooks;
mod ws;

use async_graphql::Schema;
use async_graphql::dataloader::DataLoader;
use service::Ledger;
use service::seal::digest::Signer;

pub use http::{ServerOptions, app, serve, serve_tls};
pub use limits::Limits;
pub use ws::WsOptions;

pub type TallySchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

pub fn schema(ledger: Ledger, signer: Signer, options: &ServerOptions) -> TallySchema {
    // Nested fields of one response level (and of concurrent requests) are
    // gathered for `loader_delay` after the first, then loaded in one query.
    let loader = DataLoader::new(loaders::LedgerLoader(ledger.clone()), tokio::spawn).delay(options.loader_delay);
    let builder = Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription,
    )
    .data(ledger)
    .data(signer)
    .data(loader)
    .data(query::Audits(tokio::sync::Semaphore::new(1)))
    .data(options.backdating)
    .extension(limits::Enforce(options.limits));
    let builder = match options.introspection {
        true => builder,
        // Suggestions ("Did you mean …") would name fields that
        // introspection is off to hide.
        false => builder.disable_introspection().disable_suggestions(),
    };
    builder.finish()
}

/// The SDL that `schema.graphql` must equal (`tally schema > schema.graphql`).
pub fn sdl() -> String {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription,
    )
    .finish()
    .sdl()
}
