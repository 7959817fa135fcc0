//! API keys as this instance knows them: every key's hash, scope and
//! revocation, reloaded every [`REFRESH`], so a key made or revoked anywhere
//! (by `tally keys`, on any instance) is in force here within that time. A
//! request never reaches the database to authenticate: a flood of invented
//! keys costs a hash and a map lookup each. Once the ledger has had a key,
//! this instance requires one from then on, even if the key table could not
//! be read again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use service::Ledger;
use service::store::api_key::{self, Scope};

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
    /// Set once any key was seen; never cleared.
    required: AtomicBool,
}

impl KeyCache {
    pub async fn start(ledger: Ledger) -> service::model::error::Result<Arc<Self>> {
        let cache = Arc::new(Self {
            ledger,
            known: RwLock::default(),
            required: AtomicBool::new(false),
        });
        cache.reload().await?;
        tokio::spawn(refresh(Arc::downgrade(&cache)));
        Ok(cache)
    }

    /// Whether the ledger has (or ever had) a key.
    pub fn any(&self) -> bool {
        self.required.load(Ordering::Relaxed)
    }

    pub fn principal(&self, secret: &str) -> Result<Principal, AuthError> {
        let hash = api_key::hash(secret);
        let known = self.known.read().ok().and_then(|k| k.get(&hash).cloned());
        match known {
            None => Err(AuthError::UnknownKey),
            Some(k) if k.revoked => Err(AuthError::Revoked),
            Some(k) => Ok(k.principal),
        }
    }

    async fn reload(&self) -> service::model::error::Result<()> {
        let rows = api_key::list(&self.ledger).await?;
        let fresh: HashMap<[u8; 32], Known> = rows
            .iter()
            .filter_map(|r| Some((r.key_hash.clone().try_into().ok()?, known(r)?)))
            .collect();
        if !fresh.is_empty() {
            self.required.store(true, Ordering::Relaxed);
        }
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

/// Reloads every [`REFRESH`]; while the database is away it keeps the last
/// copy, backs off and logs once per outage.
async fn refresh(cache: Weak<KeyCache>) {
    let mut outage = service::store::outage::Outage::new("API key reload", REFRESH);
    let mut wait = REFRESH;
    loop {
        tokio::time::sleep(wait).await;
        let Some(cache) = cache.upgrade() else { return };
        wait = match cache.reload().await {
            Ok(()) => {
                outage.succeeded();
                REFRESH
            }
            Err(e) => outage.failed(&e).max(REFRESH),
        };
    }
}
