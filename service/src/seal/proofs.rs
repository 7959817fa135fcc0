//! RFC 9162 inclusion and consistency proofs over the sealed journal.
//!
//! Proofs are computed from the journal's leaf hashes up to the requested
//! size: O(size) reads. (Storing interior nodes would make them O(log n);
//! not needed at today's sizes.)

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::store::ledger::Ledger;
use entity::journal;

pub struct Inclusion {
    pub transfer_id: Uuid,
    pub leaf_index: i64,
    pub tree_size: i64,
    /// The transfer hash (the leaf's data).
    pub transfer_hash: Vec<u8>,
    pub audit_path: Vec<proof::Hash>,
    pub root_hash: proof::Hash,
}

pub struct Consistency {
    pub from_size: i64,
    pub to_size: i64,
    pub from_root: proof::Hash,
    pub to_root: proof::Hash,
    pub proof: Vec<proof::Hash>,
}

pub async fn inclusion(ledger: &Ledger, transfer_id: Uuid, tree_size: i64) -> Result<Inclusion> {
    check_size(ledger, tree_size).await?;
    let leaf = journal::Entity::find()
        .filter(journal::Column::TransferId.eq(transfer_id))
        .one(ledger.connection())
        .await?
        .ok_or_else(|| invalid(format!("transfer {transfer_id} is not sealed yet (or does not exist)")))?;
    if leaf.leaf_index >= tree_size {
        return Err(invalid(format!(
            "transfer {transfer_id} is leaf {}, outside a tree of {tree_size}",
            leaf.leaf_index
        )));
    }
    let leaves = leaf_hashes(ledger, tree_size).await?;
    Ok(Inclusion {
        transfer_id,
        leaf_index: leaf.leaf_index,
        tree_size,
        audit_path: proof::inclusion_path(&leaves, leaf.leaf_index as usize),
        root_hash: proof::root(&leaves),
        transfer_hash: leaf.transfer_hash,
    })
}

pub async fn consistency(ledger: &Ledger, from_size: i64, to_size: i64) -> Result<Consistency> {
    if from_size < 1 || from_size > to_size {
        return Err(invalid(format!(
            "need 1 <= fromSize <= toSize, got {from_size} and {to_size}"
        )));
    }
    check_size(ledger, to_size).await?;
    let leaves = leaf_hashes(ledger, to_size).await?;
    Ok(Consistency {
        from_size,
        to_size,
        from_root: proof::root(&leaves[..from_size as usize]),
        to_root: proof::root(&leaves),
        proof: proof::consistency_path(&leaves, from_size as usize),
    })
}

async fn check_size(ledger: &Ledger, size: i64) -> Result<()> {
    let sealed = super::block::latest_block(ledger.connection())
        .await?
        .map_or(0, |b| b.tree_size);
    if size < 1 || size > sealed {
        return Err(invalid(format!(
            "tree size must be between 1 and the sealed size {sealed}, got {size}"
        )));
    }
    Ok(())
}

/// `leaf_hash(transfer_hash)` of leaves `0..size`, in order.
async fn leaf_hashes(ledger: &Ledger, size: i64) -> Result<Vec<proof::Hash>> {
    let mut out = Vec::with_capacity(size as usize);
    while (out.len() as i64) < size {
        let rows = journal::Entity::find()
            .filter(journal::Column::LeafIndex.gte(out.len() as i64))
            .filter(journal::Column::LeafIndex.lt(size))
            .order_by_asc(journal::Column::LeafIndex)
            .limit(10_000)
            .all(ledger.connection())
            .await?;
        if rows.is_empty() {
            return Err(LedgerError::Internal("journal has a gap".into()));
        }
        out.extend(rows.iter().map(|r| proof::leaf_hash(&r.transfer_hash)));
    }
    Ok(out)
}

fn invalid(message: String) -> LedgerError {
    LedgerError::client(ErrorCode::InvalidInput, message)
}
