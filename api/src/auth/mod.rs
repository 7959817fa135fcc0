//! Who is calling and what they may do.
//!
//! Owns: authentication (API keys, optional end-user JWTs), the operation
//! policy (which scope each root field needs) and the per-caller rate limit.
//! Uses: `service::store::api_key` for the keys, nothing else of the service.
//!
//! A request carries `Authorization: Bearer <credential>`. A credential that
//! starts with `tally_` is an API key; anything else is tried as a JWT when
//! a JWT key is configured. While the ledger has never had an API key and no
//! JWT key is configured, the server is open (every caller is `Open`, with
//! every right): the embedded default, which `tally serve` only allows on a
//! loopback address.

mod jwt;
mod keys;
mod limiter;
mod policy;

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions};
use service::store::api_key::Scope;
use service::{ErrorCode, Ledger};
use uuid::Uuid;

pub use jwt::{JwtConfig, JwtVerifier};
pub use limiter::{RateLimit, RateLimiter, rate_limited, retry_after};
pub use policy::{Backdating, Policy, authorize, sees, touches};

/// The caller of one request (or websocket connection); also the key of its
/// rate-limit bucket.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// No credential is configured anywhere: every right (loopback default).
    Open,
    /// An API key.
    Key { id: Uuid, name: String, scope: Scope },
    /// An end user, by the `sub` of a verified JWT: may act only on
    /// accounts whose `owner` is this subject.
    User { subject: String },
}

impl Principal {
    /// The name the rate limiter and the logs know the caller by.
    pub fn label(&self) -> String {
        match self {
            Principal::Open => "open".to_owned(),
            Principal::Key { name, .. } => format!("key:{name}"),
            Principal::User { subject } => format!("user:{subject}"),
        }
    }
}

/// Why a credential was not accepted (always UNAUTHENTICATED, HTTP 401).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("this server requires `Authorization: Bearer <API key or token>`")]
    Missing,
    #[error("the Authorization header must be `Bearer <credential>`")]
    Malformed,
    #[error("unknown API key")]
    UnknownKey,
    #[error("this API key was revoked")]
    Revoked,
    #[error("invalid token: {0}")]
    BadToken(String),
}

/// Authentication for one server: the key cache and the optional JWT key.
#[derive(Clone)]
pub struct Auth {
    keys: Arc<keys::KeyCache>,
    jwt: Option<Arc<JwtVerifier>>,
}

impl Auth {
    /// Loads the keys and starts refreshing them (revocations and keys made
    /// by `tally keys` elsewhere are seen within [`keys::REFRESH`]).
    pub async fn start(ledger: Ledger, jwt: Option<Arc<JwtVerifier>>) -> service::model::error::Result<Self> {
        let keys = keys::KeyCache::start(ledger).await?;
        Ok(Self { keys, jwt })
    }

    /// Whether requests must carry a credential.
    pub fn required(&self) -> bool {
        self.jwt.is_some() || self.keys.any()
    }

    /// The caller of a request whose `Authorization` header is `header`.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let Some(header) = header else {
            return match self.required() {
                true => Err(AuthError::Missing),
                false => Ok(Principal::Open),
            };
        };
        let credential = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or(AuthError::Malformed)?;
        if keys::looks_like_key(credential) {
            return self.keys.principal(credential);
        }
        match &self.jwt {
            Some(jwt) => jwt.principal(credential),
            None => Err(AuthError::UnknownKey),
        }
    }
}

/// The coded GraphQL error for a refused credential.
pub fn unauthenticated(err: &AuthError) -> async_graphql::Error {
    async_graphql::Error::new(err.to_string()).extend_with(|_, e| e.set("code", ErrorCode::Unauthenticated.as_str()))
}

pub fn forbidden(message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", ErrorCode::Forbidden.as_str()))
}

/// The caller of the request a resolver runs for. Every entry point (HTTP,
/// websocket) sets one; a request without is refused, never let through.
pub fn principal<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data_opt::<Principal>()
        .ok_or_else(|| crate::error::integrity("a request reached a resolver without a principal".to_owned()))
}
