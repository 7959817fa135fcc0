//! Signed digests and Merkle proofs (hex-encoded hashes).

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use service::seal::digest::Digest;
use service::seal::proofs::{Consistency, Inclusion};

use crate::scalars::Id;

/// A signed statement: the journal had `rootHash` at `treeSize` leaves.
/// Keep it outside the database; `tally verify --digest FILE` or a
/// `consistencyProof` later shows the journal still extends it.
#[derive(SimpleObject)]
pub struct LedgerDigest {
    pub height: i64,
    pub tree_size: i64,
    pub root_hash: String,
    pub block_hash: String,
    pub sealed_at: DateTime<Utc>,
    /// Ed25519 over SHA-256 of the canonical encoding (README, "Signed digests").
    pub signature: String,
    pub public_key: String,
    pub algorithm: String,
}

impl From<Digest> for LedgerDigest {
    fn from(d: Digest) -> Self {
        LedgerDigest {
            height: d.height,
            tree_size: d.tree_size,
            root_hash: hex::encode(d.root_hash),
            block_hash: hex::encode(d.block_hash),
            sealed_at: d.sealed_at,
            signature: hex::encode(d.signature),
            public_key: hex::encode(d.public_key),
            algorithm: "Ed25519".to_owned(),
        }
    }
}

/// RFC 9162 inclusion proof of one transfer in the tree of `treeSize` leaves.
#[derive(SimpleObject)]
pub struct InclusionProof {
    pub transfer_id: Id,
    pub leaf_index: i64,
    pub tree_size: i64,
    /// The leaf's data: the transfer's hash.
    pub transfer_hash: String,
    /// SHA-256(0x00 || transferHash).
    pub leaf_hash: String,
    pub audit_path: Vec<String>,
    pub root_hash: String,
}

impl From<Inclusion> for InclusionProof {
    fn from(p: Inclusion) -> Self {
        InclusionProof {
            transfer_id: Id(p.transfer_id),
            leaf_index: p.leaf_index,
            tree_size: p.tree_size,
            leaf_hash: hex::encode(proof::leaf_hash(&p.transfer_hash)),
            transfer_hash: hex::encode(&p.transfer_hash),
            audit_path: p.audit_path.iter().map(hex::encode).collect(),
            root_hash: hex::encode(p.root_hash),
        }
    }
}

/// RFC 9162 consistency proof: the tree of `fromSize` is a prefix of the tree of `toSize`.
#[derive(SimpleObject)]
pub struct ConsistencyProof {
    pub from_size: i64,
    pub to_size: i64,
    pub from_root: String,
    pub to_root: String,
    pub proof: Vec<String>,
}

impl From<Consistency> for ConsistencyProof {
    fn from(c: Consistency) -> Self {
        ConsistencyProof {
            from_size: c.from_size,
            to_size: c.to_size,
            from_root: hex::encode(c.from_root),
            to_root: hex::encode(c.to_root),
            proof: c.proof.iter().map(hex::encode).collect(),
        }
    }
}
