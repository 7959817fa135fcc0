//! End-user tokens: a JWT signed with a shared secret (HS256/384/512, from
//! `--jwt-secret-file`) or with one of the keys of a JWKS document (RS*, PS*,
//! ES*, EdDSA; from `--jwt-jwks-file`, the key chosen by the token's `kid`).
//! `exp` and `sub` are required, `nbf` is honoured, and `iss`/`aud`, when
//! configured, are required and must match. The verified `sub` becomes [`Principal::User`].

use std::path::PathBuf;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use super::{AuthError, Principal};

/// How tokens are checked (from the command line).
#[derive(Clone, Debug, Default)]
pub struct JwtConfig {
    pub secret_file: Option<PathBuf>,
    pub jwks_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

enum Keys {
    Secret(DecodingKey),
    Set(JwkSet),
}

pub struct JwtVerifier {
    keys: Keys,
    issuer: Option<String>,
    audience: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

impl JwtVerifier {
    /// `None` when no JWT key is configured.
    pub fn load(config: &JwtConfig) -> Result<Option<Self>, String> {
        let keys = match (&config.secret_file, &config.jwks_file) {
            (Some(_), Some(_)) => return Err("give --jwt-secret-file or --jwt-jwks-file, not both".into()),
            (None, None) => return Ok(None),
            (Some(path), None) => {
                let secret = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let secret = secret.trim_ascii();
                if secret.len() < 32 {
                    return Err(format!("{}: a JWT secret needs at least 32 bytes", path.display()));
                }
                Keys::Secret(DecodingKey::from_secret(secret).map_err(|e| format!("{}: {e}", path.display()))?)
            }
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let set: JwkSet =
                    serde_json::from_str(&text).map_err(|e| format!("{}: not a JWKS: {e}", path.display()))?;
                if set.keys.is_empty() {
                    return Err(format!("{}: the JWKS has no keys", path.display()));
                }
                // The verifying algorithm comes from the key, never from the
                // token's header (which an attacker writes).
                if set.keys.iter().any(|k| algorithm_of(k).is_none()) {
                    return Err(format!("{}: every JWKS key needs a supported \"alg\"", path.display()));
                }
                Keys::Set(set)
            }
        };
        Ok(Some(Self {
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        }))
    }

    pub fn principal(&self, token: &str) -> Result<Principal, AuthError> {
        let bad = |e: jsonwebtoken::errors::Error| AuthError::BadToken(e.to_string());
        let header = decode_header(token).map_err(bad)?;
        let (key, algorithms) = match &self.keys {
            Keys::Secret(key) => (key.clone(), vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]),
            Keys::Set(set) => {
                let jwk = match &header.kid {
                    Some(kid) => set.find(kid),
                    None if set.keys.len() == 1 => set.keys.first(),
                    None => None,
                }
                .ok_or_else(|| AuthError::BadToken("no key of the JWKS matches the token's kid".into()))?;
                let alg = algorithm_of(jwk).ok_or_else(|| AuthError::BadToken("the JWKS key has no alg".into()))?;
                (DecodingKey::from_jwk(jwk).map_err(bad)?, vec![alg])
            }
        };
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        // A configured issuer or audience is required, not only checked
        // when present: a token without `aud` was meant for anyone.
        let mut required = vec!["exp", "sub"];
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        validation.validate_nbf = true;
        let data = decode::<Claims>(token, &key, &validation).map_err(bad)?;
        if data.claims.sub.is_empty() {
            return Err(AuthError::BadToken("empty sub".into()));
        }
        Ok(Principal::User {
            subject: data.claims.sub,
        })
    }
}

fn algorithm_of(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    jwk.common.key_algorithm.and_then(|a| Algorithm::try_from(a).ok())
}
