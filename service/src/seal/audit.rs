//! The journal's part of verification: replays every leaf into a frontier
//! (O(log n) memory), checks each block's root, size and hash chain, and,
//! given a digest saved earlier, that its root is the root of today's
//! journal at its size — which catches even a rewrite that recomputed every
//! hash in the database. (That each sealed transfer still has the hash it
//! was sealed with is checked by the transfer walk, which joins each
//! transfer to its leaf; leaves whose transfer is gone are named by
//! [`leaves_without_transfer`].)

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Statement,
};
use uuid::Uuid;

use super::digest::Digest;
use crate::model::error::Result;
use crate::model::hash::{ZERO_HASH, block_hash};
use crate::model::report::{Problem, Verification};
use crate::store::db::Cols;
use entity::{block, journal};

const PAGE: u64 = 20_000;

/// A journal leaf as the walk reads it.
struct Leaf {
    leaf_index: i64,
    transfer_id: Uuid,
    transfer_hash: Vec<u8>,
}

pub(crate) async fn journal(txn: &DatabaseTransaction, digest: Option<&Digest>) -> Result<Verification> {
    let mut verification = Verification::default();
    let v = &mut verification;
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
    Ok(verification)
}

/// Names the journal leaves whose transfer no longer exists (deleted after
/// sealing). Run only when the walks' counts say some leaf lost its transfer.
pub(crate) async fn leaves_without_transfer(txn: &DatabaseTransaction, v: &mut Verification) -> Result<u64> {
    let sql = "SELECT j.leaf_index, j.transfer_id FROM journal j \
        WHERE NOT EXISTS (SELECT 1 FROM transfer t WHERE t.id = j.transfer_id) ORDER BY j.leaf_index";
    let rows = txn
        .query_all_raw(Statement::from_string(txn.get_database_backend(), sql))
        .await?;
    for row in &rows {
        let mut c = Cols::new(row);
        let index: i64 = c.next()?;
        let transfer_id: Uuid = c.next()?;
        report(
            v,
            Some(transfer_id),
            format!("transfer sealed at leaf {index} is missing (deleted after sealing)"),
        );
    }
    Ok(rows.len() as u64)
}

struct Walk<'a> {
    frontier: proof::Frontier,
    digest: Option<&'a Digest>,
    digest_checked: bool,
}

impl Walk<'_> {
    /// Replays journal leaves until the tree has `size` leaves (or the journal ends).
    async fn advance_to(&mut self, txn: &DatabaseTransaction, size: i64, v: &mut Verification) -> Result<()> {
        use journal::Column as C;
        while (self.frontier.size() as i64) < size {
            let from = self.frontier.size() as i64;
            let q = journal::Entity::find()
                .select_only()
                .columns([C::LeafIndex, C::TransferId, C::TransferHash])
                .filter(C::LeafIndex.gte(from))
                .filter(C::LeafIndex.lt(size))
                .order_by_asc(C::LeafIndex)
                .limit(PAGE);
            let rows = txn.query_all(&q.into_query()).await?;
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
            for row in &rows {
                let mut c = Cols::new(row);
                let leaf = Leaf {
                    leaf_index: c.next()?,
                    transfer_id: c.next()?,
                    transfer_hash: c.next()?,
                };
                self.leaf(&leaf, v);
            }
        }
        Ok(())
    }

    fn leaf(&mut self, leaf: &Leaf, v: &mut Verification) {
        let index = self.frontier.size() as i64;
        if leaf.leaf_index != index {
            report(
                v,
                Some(leaf.transfer_id),
                format!("journal leaf {index} is missing (found leaf {} next)", leaf.leaf_index),
            );
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

fn report(v: &mut Verification, transfer_id: Option<Uuid>, message: String) {
    v.report(Problem {
        account_id: None,
        transfer_id,
        sequence: None,
        message,
    });
}
