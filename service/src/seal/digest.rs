//! Signed digests: a statement "the journal had this root at this size",
//! signed with the instance's Ed25519 key, for clients to keep outside the
//! database. A later consistency proof (or `tally verify --digest`) shows the
//! journal today still extends the one that was signed.
//!
//! Signed message: SHA-256 over the canonical encoding (see `crate::model::hash`)
//! of tag `tally.digest.v1`, height, tree size, root hash, block hash,
//! sealedAt. Keys are files holding the 32-byte secret seed as 64 hex digits.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};
use serde_json::Value;

use crate::model::error::{LedgerError, Result};
use crate::model::hash::{Canonical, HASH_LEN, ZERO_HASH};
use crate::store::ledger::Ledger;

/// The instance's signing key.
#[derive(Clone)]
pub struct Signer(SigningKey);

impl Signer {
    /// A fresh random key (tests, first start).
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| LedgerError::Internal(format!("no randomness: {e}")))?;
        Ok(Signer(SigningKey::from_bytes(&seed)))
    }

    /// Loads `path`, or creates it with a new key when it does not exist.
    /// Returns the signer and whether it was generated.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool)> {
        if path.exists() {
            return Ok((Self::load(path)?, false));
        }
        let signer = Self::generate()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        // Written whole under a private name, then linked into place: the
        // link fails if the file exists, so instances starting together on
        // one key file agree on the first key and never read a half-written one.
        let staged = path.with_extension(format!("new-{}", uuid::Uuid::new_v4().simple()));
        write_secret(&staged, &format!("{}\n", hex::encode(signer.0.to_bytes())))?;
        let linked = std::fs::hard_link(&staged, path);
        let _ = std::fs::remove_file(&staged);
        match linked {
            Ok(()) => Ok((signer, true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((Self::load(path)?, false)),
            Err(e) => Err(io(path, e)),
        }
    }

    fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| LedgerError::Internal(format!("{} does not hold a 64-hex-digit key", path.display())))?;
        Ok(Signer(SigningKey::from_bytes(&seed)))
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }
}

#[cfg(unix)]
fn write_secret(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(path, e))?;
    file.write_all(text.as_bytes()).map_err(|e| io(path, e))
}

#[cfg(not(unix))]
fn write_secret(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| io(path, e))
}

fn io(path: &Path, e: std::io::Error) -> LedgerError {
    LedgerError::Internal(format!("{}: {e}", path.display()))
}

/// The default key file: `tally-signing.key` in the data directory.
pub fn default_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("tally-signing.key")
}

/// A signed statement about the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    pub height: i64,
    pub tree_size: i64,
    pub root_hash: [u8; HASH_LEN],
    pub block_hash: [u8; HASH_LEN],
    pub sealed_at: DateTime<Utc>,
    pub signature: Vec<u8>,
    pub public_key: [u8; 32],
}

impl Digest {
    /// The bytes the signature covers.
    pub fn message(&self) -> [u8; HASH_LEN] {
        let mut c = Canonical::new(b"tally.digest.v1");
        c.int(self.height)
            .int(self.tree_size)
            .bytes(&self.root_hash)
            .bytes(&self.block_hash)
            .time(self.sealed_at);
        c.finish()
    }

    pub fn signature_is_valid(&self) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.public_key) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&self.signature) else {
            return false;
        };
        key.verify(&self.message(), &sig).is_ok()
    }

    /// Reads a saved `ledgerDigest`: the object itself, `{"ledgerDigest": …}`,
    /// or a whole GraphQL response.
    pub fn from_json(value: &Value) -> Option<Self> {
        let d = value
            .pointer("/data/ledgerDigest")
            .or_else(|| value.get("ledgerDigest"))
            .unwrap_or(value);
        let bytes = |k: &str| d.get(k)?.as_str().and_then(|s| hex::decode(s).ok());
        Some(Digest {
            height: d.get("height")?.as_i64()?,
            tree_size: d.get("treeSize")?.as_i64()?,
            root_hash: bytes("rootHash")?.try_into().ok()?,
            block_hash: bytes("blockHash")?.try_into().ok()?,
            sealed_at: d.get("sealedAt")?.as_str()?.parse().ok()?,
            signature: bytes("signature")?,
            public_key: bytes("publicKey")?.try_into().ok()?,
        })
    }
}

/// Signs the latest block (or the empty journal).
pub async fn current(ledger: &Ledger, signer: &Signer) -> Result<Digest> {
    let latest = super::block::latest_block(ledger.connection()).await?;
    let mut d = match latest {
        Some(b) => Digest {
            height: b.height,
            tree_size: b.tree_size,
            root_hash: fixed(&b.merkle_root)?,
            block_hash: fixed(&b.block_hash)?,
            sealed_at: b.sealed_at,
            signature: Vec::new(),
            public_key: [0; 32],
        },
        None => Digest {
            height: 0,
            tree_size: 0,
            root_hash: proof::empty_root(),
            block_hash: ZERO_HASH,
            sealed_at: crate::model::time::now_micros(),
            signature: Vec::new(),
            public_key: [0; 32],
        },
    };
    d.public_key = signer.0.verifying_key().to_bytes();
    d.signature = signer.0.sign(&d.message()).to_bytes().to_vec();
    Ok(d)
}

fn fixed(bytes: &[u8]) -> Result<[u8; HASH_LEN]> {
    bytes
        .try_into()
        .map_err(|_| LedgerError::Internal("stored hash is not 32 bytes".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Instances started together on one key file must all come up, with one
    /// key (the fault suite found the second one failing with "File exists").
    #[test]
    fn instances_creating_the_key_file_at_once_agree_on_one_key() -> std::result::Result<(), String> {
        let dir = std::env::temp_dir().join(format!("tally-key-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("signing.key");
        let keys: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Signer::load_or_create(&path).map(|(k, _)| k.public_key_hex())))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| "a thread died".to_owned())?
                        .map_err(|e| e.to_string())
                })
                .collect::<std::result::Result<_, _>>()
        })?;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(keys.len(), 8);
        assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
        Ok(())
    }
}
