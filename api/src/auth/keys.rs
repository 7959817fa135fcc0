//! API keys as this instance knows them: every key's hash, scope and
//! revocation, reloaded every [`REFRESH`], so a revocation made anywhere (by
//! `tally keys revoke`, on any instance) is in force here within that time.
//! A key this copy does not know yet (made a moment ago) is looked up in the
//! database at once; a string that is not shaped like a key never is.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use service::Ledger;
use service::api_key::{self, Scope};

use super::{AuthError, Principal};

/// How often the key list is reloaded.
pub const REFRESH: Duration = Duration::from_secs(1);

/// `tally_` and 43 base64url characters (32 bytes).
pub fn looks_like_key(credential: &str) -> bool {
    credential.len() == 49
        && credential.starts_with("tally_")
        && credential[6..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Clone)]
struct Known {
    principal: Principal,
    revoked: bool,
}

pub struct KeyCache {
    ledger: Ledger,
    known: RwLock<HashMap<[u8; 32], Known>>,
}

impl KeyCache {
    pub async fn start(ledger: Ledger) -> service::error::Result<Arc<Self>> {
        let cache = Arc::new(Self {
            ledger,
            known: RwLock::default(),
        });
        cache.reload().await?;
        tokio::spawn(refresh(Arc::downgrade(&cache)));
        Ok(cache)
    }

    /// Whether the ledger has (or ever had) a key.
    pub fn any(&self) -> bool {
        self.known.read().map(|k| !k.is_empty()).unwrap_or(true)
    }

    pub async fn principal(&self, secret: &str) -> Result<Principal, AuthError> {
        let hash = api_key::hash(secret);
        let cached = self.known.read().ok().and_then(|k| k.get(&hash).cloned());
        let known = match cached {
            Some(known) => known,
            None => {
                let row = api_key::by_hash(&self.ledger, &hash).await.map_err(|e| {
                    tracing::error!(error = %e, "API key lookup failed");
                    AuthError::Unavailable
                })?;
                let known = row.and_then(|r| known(&r)).ok_or(AuthError::UnknownKey)?;
                if let Ok(mut k) = self.known.write() {
                    k.insert(hash, known.clone());
                }
                known
            }
        };
        match known.revoked {
            true => Err(AuthError::Revoked),
            false => Ok(known.principal),
        }
    }

    async fn reload(&self) -> service::error::Result<()> {
        let rows = api_key::list(&self.ledger).await?;
        let fresh: HashMap<[u8; 32], Known> = rows
            .iter()
            .filter_map(|r| Some((r.key_hash.clone().try_into().ok()?, known(r)?)))
            .collect();
        if let Ok(mut k) = self.known.write() {
            *k = fresh;
        }
        Ok(())
    }
}

fn known(row: &service::entity::api_key::Model) -> Option<Known> {
    let Some(scope) = Scope::parse(&row.scope) else {
        tracing::error!(key = %row.name, scope = %row.scope, "API key with an unknown scope: refused");
        return None;
    };
    Some(Known {
        principal: Principal::Key {
            id: row.id,
            name: row.name.clone(),
            scope,
        },
        revoked: row.revoked_at.is_some(),
    })
}

async fn refresh(cache: Weak<KeyCache>) {
    loop {
        tokio::time::sleep(REFRESH).await;
        let Some(cache) = cache.upgrade() else { return };
        if let Err(e) = cache.reload().await {
            tracing::warn!(error = %e, "could not reload API keys; keeping the last copy");
        }
    }
}
