//! The journal's part of verification: replays every leaf into a frontier
//! (O(log n) memory), checks each block's root, size and hash chain, that
//! every sealed transfer still exists with the hash it was sealed with, and,
//! given a digest saved earlier, that its root is the root of today's
//! journal at its size — which catches even a rewrite that recomputed every
//! hash in the database.

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::digest::Digest;
use crate::error::Result;
use crate::hash::{ZERO_HASH, block_hash};
use crate::verify::{Problem, Verification};
use entity::{block, journal, transfer, unsealed};

const PAGE: u64 = 5000;

pub(crate) async fn journal(txn: &DatabaseTransaction, v: &mut Verification, digest: Option<&Digest>) -> Result<()> {
    let mut walk = Walk {
        frontier: proof::Frontier::default(),
        digest,
        digest_checked: false,
    };
    if let Some(d) = digest.filter(|d| d.tree_size == 0) {
        walk.digest_checked = true;
        if d.root_hash != proof::empty_root() {
            report(
                v,
                None,
                "the saved digest claims an empty journal with a non-empty root".to_owned(),
            );
        }
    }
    let mut previous_hash = ZERO_HASH.to_vec();
    let mut after_height = 0;
    loop {
        let blocks = block::Entity::find()
            .filter(block::Column::Height.gt(after_height))
            .order_by_asc(block::Column::Height)
            .limit(1000)
            .all(txn)
            .await?;
        let Some(last) = blocks.last() else { break };
        after_height = last.height;
        for b in &blocks {
            walk.advance_to(txn, b.tree_size, v).await?;
            check_block(b, &previous_hash, &walk.frontier, v);
            if let Some(d) = digest.filter(|d| d.height == b.height && d.block_hash[..] != b.block_hash[..]) {
                report(
                    v,
                    None,
                    format!("block {} differs from the saved digest's block hash", d.height),
                );
            }
            previous_hash = b.block_hash.clone();
            v.blocks_checked += 1;
        }
    }
    walk.advance_to(txn, i64::MAX, v).await?;
    if let Some(d) = digest.filter(|_| !walk.digest_checked) {
        report(
            v,
            None,
            format!(
                "the journal has {} leaves, fewer than the saved digest's {}: history was truncated",
                walk.frontier.size(),
                d.tree_size
            ),
        );
    }
    Ok(())
}

struct Walk<'a> {
    frontier: proof::Frontier,
    digest: Option<&'a Digest>,
    digest_checked: bool,
}

impl Walk<'_> {
    /// Replays journal leaves until the tree has `size` leaves (or the journal ends).
    async fn advance_to(&mut self, txn: &DatabaseTransaction, size: i64, v: &mut Verification) -> Result<()> {
        while (self.frontier.size() as i64) < size {
            let from = self.frontier.size() as i64;
            let rows = journal::Entity::find()
                .filter(journal::Column::LeafIndex.gte(from))
                .filter(journal::Column::LeafIndex.lt(size))
                .order_by_asc(journal::Column::LeafIndex)
                .limit(PAGE)
                .all(txn)
                .await?;
            if rows.is_empty() {
                if size != i64::MAX {
                    report(
                        v,
                        None,
                        format!("journal ends at leaf {from} but a block claims {size} leaves"),
                    );
                }
                return Ok(());
            }
            let stored = transfer_hashes(txn, &rows).await?;
            for leaf in rows {
                self.leaf(&leaf, stored.get(&leaf.transfer_id), v);
            }
        }
        Ok(())
    }

    fn leaf(&mut self, leaf: &journal::Model, stored: Option<&Option<Vec<u8>>>, v: &mut Verification) {
        let index = self.frontier.size() as i64;
        if leaf.leaf_index != index {
            report(
                v,
                Some(leaf.transfer_id),
                format!("journal leaf {index} is missing (found leaf {} next)", leaf.leaf_index),
            );
        }
        match stored {
            None => report(
                v,
                Some(leaf.transfer_id),
                format!("transfer sealed at leaf {index} is missing (deleted after sealing)"),
            ),
            Some(h) if h.as_deref() != Some(&leaf.transfer_hash[..]) => report(
                v,
                Some(leaf.transfer_id),
                format!("transfer sealed at leaf {index} was changed after sealing"),
            ),
            Some(_) => {}
        }
        self.frontier.push(proof::leaf_hash(&leaf.transfer_hash));
        v.leaves_checked += 1;
        if let Some(d) = self.digest.filter(|d| d.tree_size == self.frontier.size() as i64) {
            self.digest_checked = true;
            if self.frontier.root() != d.root_hash {
                report(
                    v,
                    None,
                    format!(
                        "the journal's first {} leaves do not match the saved digest: history was rewritten",
                        d.tree_size
                    ),
                );
            }
        }
    }
}

fn check_block(b: &block::Model, previous_hash: &[u8], frontier: &proof::Frontier, v: &mut Verification) {
    let problem = if b.previous_hash != previous_hash {
        Some("does not chain to the previous block")
    } else if frontier.size() as i64 != b.tree_size || frontier.root()[..] != b.merkle_root[..] {
        Some("Merkle root or tree size does not match the journal")
    } else if block_hash(b)[..] != b.block_hash[..] {
        Some("block hash does not match the block's content (the block was edited)")
    } else {
        None
    };
    if let Some(p) = problem {
        report(v, None, format!("block {}: {p}", b.height));
    }
}

async fn transfer_hashes(txn: &DatabaseTransaction, rows: &[journal::Model]) -> Result<HashMap<Uuid, Option<Vec<u8>>>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.transfer_id).collect();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let found = transfer::Entity::find()
            .filter(transfer::Column::Id.is_in(chunk.iter().copied()))
            .all(txn)
            .await?;
        out.extend(found.into_iter().map(|t| (t.id, t.hash)));
    }
    Ok(out)
}

/// Which of `ids` are journaled or waiting in the sealer's queue.
pub(crate) async fn sealed_or_queued(txn: &DatabaseTransaction, ids: &[Uuid]) -> Result<HashSet<Uuid>> {
    let mut known = HashSet::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let sealed = journal::Entity::find()
            .filter(journal::Column::TransferId.is_in(chunk.iter().copied()))
            .all(txn)
            .await?;
        known.extend(sealed.into_iter().map(|j| j.transfer_id));
        let queued = unsealed::Entity::find()
            .filter(unsealed::Column::TransferId.is_in(chunk.iter().copied()))
            .all(txn)
            .await?;
        known.extend(queued.into_iter().map(|u| u.transfer_id));
    }
    Ok(known)
}

fn report(v: &mut Verification, transfer_id: Option<Uuid>, message: String) {
    v.report(Problem {
        account_id: None,
        transfer_id,
        sequence: None,
        message,
    });
}
