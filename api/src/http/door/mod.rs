//! The door every GraphQL request passes, as axum middleware, one check a
//! file, in this order (outermost first):
//!
//! 1. [`request_id`]: the request's id (the client's `X-Request-Id` when it
//!    is sane), on the request for everything after and on the response.
//! 2. [`origin`]: while no credential is configured, a browser page from
//!    another site may not use the server (403).
//! 3. [`json_only`]: a POST body must be declared JSON (415).
//! 4. [`body`]: at most `--max-body-bytes`, arriving within the request
//!    deadline (413, 408).
//! 5. [`credential`]: who is calling (401); the `Principal` goes on the
//!    request.
//!
//! What the operations themselves may ask for — batch size, the caller's
//! rate, aliases and text, the scope policy — needs the parsed request and
//! is `graphql::admit`; the run under the deadline is `graphql::execute`.
//! Websocket upgrades pass 1 and 2 here; their credential comes with
//! `connection_init` (the `ws` module).

pub mod body;
pub mod credential;
pub mod json_only;
pub mod origin;
pub mod request_id;

pub use request_id::RequestId;
