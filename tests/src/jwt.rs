//! End-user tokens for the tests: a server that accepts JWTs signed with a
//! test secret (optionally requiring an issuer and audience), and tokens
//! with whatever claims a test needs.

use std::sync::Arc;

use anyhow::Result;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::{Backend, TestApp};

pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";

/// A test app that accepts end-user tokens signed with [`SECRET`].
pub async fn app(backend: Backend, issuer: Option<&str>, audience: Option<&str>) -> Result<TestApp> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("jwt.secret");
    std::fs::write(&path, SECRET)?;
    let jwt = api::auth::JwtVerifier::load(&api::auth::JwtConfig {
        secret_file: Some(path),
        issuer: issuer.map(str::to_owned),
        audience: audience.map(str::to_owned),
        ..Default::default()
    })
    .map_err(anyhow::Error::msg)?
    .map(Arc::new);
    let options = api::ServerOptions {
        jwt,
        ..Default::default()
    };
    crate::spawn_app_configured(backend, true, options).await
}

/// A token for `sub` that expires in `expires_in` seconds, with `extra`
/// claims (an object) merged in.
pub fn token(secret: &[u8], sub: &str, expires_in: i64, extra: Value) -> Result<String> {
    let mut claims = json!({ "sub": sub, "exp": chrono::Utc::now().timestamp() + expires_in });
    if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    Ok(encode(&Header::default(), &claims, &EncodingKey::from_secret(secret)?)?)
}
