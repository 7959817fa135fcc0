//! One seal: queued transfers into the journal and a new block, in one
//! transaction (the invariants are in `seal`).

use std::collections::HashMap;
use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::model::error::{LedgerError, Result};
use crate::model::hash::{ZERO_HASH, block_hash};
use crate::model::time::now_micros;
use crate::store::db::rows_with;
use crate::store::lease::Fence;
use crate::store::ledger::Ledger;
use entity::{block, journal, transfer, unsealed};

/// The most transfers one block seals (give or take its last queue row's).
const MAX_BLOCK: u64 = 20_000;

/// What a fenced seal did.
pub enum Sealed {
    Block(block::Model),
    /// Nothing was queued.
    Nothing,
    /// The lease has another holder now: nothing was written.
    Fenced,
}

/// Seals every queued transfer (up to a block's worth); returns the new
/// block. Unfenced: for tools and tests; the running sealer holds the
/// lease ([`seal_fenced`]).
pub async fn seal_once(ledger: &Ledger) -> Result<Option<block::Model>> {
    match seal(ledger, None).await? {
        Sealed::Block(b) => Ok(Some(b)),
        Sealed::Nothing | Sealed::Fenced => Ok(None),
    }
}

/// Seals as the holder of `fence`: the seal's own transaction renews the
/// lease first, and writes nothing if another holder took it.
pub async fn seal_fenced(ledger: &Ledger, fence: &Fence, ttl: Duration) -> Result<Sealed> {
    seal(ledger, Some((fence, ttl))).await
}

async fn seal(ledger: &Ledger, fence: Option<(&Fence, Duration)>) -> Result<Sealed> {
    // A plain read first: an idle ledger costs the sealer no write transaction
    // (on SQLite that would take the database's one write lock).
    if unsealed::Entity::find().one(ledger.connection()).await?.is_none() {
        return Ok(Sealed::Nothing);
    }
    crate::store::db::retrying(|| seal_attempt(ledger, fence)).await
}

async fn seal_attempt(ledger: &Ledger, fence: Option<(&Fence, Duration)>) -> Result<Sealed> {
    let w = ledger.begin_write().await?;
    let txn = &w.txn;
    // The lease row first: it serialises this seal with any takeover.
    if let Some((fence, ttl)) = fence
        && !fence.hold(txn, ttl).await?
    {
        return Ok(Sealed::Fenced);
    }
    let (rows, queued) = take_queue(txn).await?;
    if queued.is_empty() {
        w.txn.commit().await?;
        return Ok(Sealed::Nothing);
    }
    let previous = latest_block(txn).await?;
    let mut frontier = match &previous {
        Some(b) => proof::Frontier::from_bytes(&b.frontier)
            .ok_or_else(|| LedgerError::Internal(format!("block {} has a malformed frontier", b.height)))?,
        None => proof::Frontier::default(),
    };
    let height = previous.as_ref().map_or(1, |b| b.height + 1);
    let hashes = transfer_hashes(txn, &queued).await?;
    let mut leaves = Vec::with_capacity(queued.len());
    for id in &queued {
        let hash = hashes.get(id).cloned();
        let hash = hash.ok_or_else(|| LedgerError::Internal(format!("queued transfer {id} has no hash")))?;
        leaves.push(journal::Model {
            leaf_index: frontier.size() as i64,
            transfer_id: *id,
            transfer_hash: hash.clone(),
            height,
        });
        frontier.push(proof::leaf_hash(&hash));
    }
    let mut b = block::Model {
        height,
        previous_hash: previous.map_or(ZERO_HASH.to_vec(), |p| p.block_hash),
        merkle_root: frontier.root().to_vec(),
        tree_size: frontier.size() as i64,
        transfer_count: leaves.len() as i64,
        sealed_at: now_micros(),
        block_hash: Vec::new(),
        frontier: frontier.to_bytes(),
    };
    b.block_hash = block_hash(&b).to_vec();
    let oldest = queued.first().and_then(|id| id.get_timestamp()).map(|t| t.to_unix());
    write_block(txn, leaves, &b, rows).await?;
    w.txn.commit().await?;
    if let Some((secs, nanos)) = oldest {
        // Ids are UUID v7: the oldest queued transfer's id carries its time.
        let waited = b.sealed_at.timestamp() as f64 - secs as f64
            + (f64::from(b.sealed_at.timestamp_subsec_nanos()) - f64::from(nanos)) / 1e9;
        metrics::histogram!("tally_seal_lag_seconds").record(waited.max(0.0));
    }
    metrics::counter!("tally_sealed_transfers_total").increment(b.transfer_count.max(0) as u64);
    Ok(Sealed::Block(b))
}

async fn write_block(
    txn: &DatabaseTransaction,
    leaves: Vec<journal::Model>,
    b: &block::Model,
    rows: Vec<Vec<u8>>,
) -> Result<()> {
    use sea_orm::IntoActiveModel;
    block::Entity::insert(b.clone().into_active_model())
        .exec_without_returning(txn)
        .await?;
    for chunk in leaves.chunks(1000) {
        let rows = chunk.iter().cloned().map(IntoActiveModel::into_active_model);
        journal::Entity::insert_many(rows).exec_without_returning(txn).await?;
    }
    for chunk in rows.chunks(1000) {
        unsealed::Entity::delete_many()
            .filter(unsealed::Column::TransferIds.is_in(chunk.iter().cloned()))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// The queue rows this seal takes — the oldest first (ids are UUID v7),
/// whole rows until they hold [`MAX_BLOCK`] transfers — and their transfers
/// in id order.
async fn take_queue(txn: &DatabaseTransaction) -> Result<(Vec<Vec<u8>>, Vec<Uuid>)> {
    let mut queue: Vec<_> = queue_rows(txn)
        .await?
        .into_iter()
        .map(|(row, ids)| (ids.iter().min().copied(), row, ids))
        .collect();
    queue.sort_unstable_by_key(|(oldest, ..)| *oldest);
    let (mut rows, mut queued) = (Vec::new(), Vec::new());
    for (_, row, ids) in queue {
        if queued.len() as u64 >= MAX_BLOCK {
            break;
        }
        rows.push(row);
        queued.extend(ids);
    }
    queued.sort_unstable();
    Ok((rows, queued))
}

/// Every seal-queue row, as stored and as the transfers it lists.
pub(crate) async fn queue_rows(db: &impl sea_orm::ConnectionTrait) -> Result<Vec<(Vec<u8>, Vec<Uuid>)>> {
    unsealed::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| match row.ids() {
            Some(ids) => Ok((row.transfer_ids, ids)),
            None => Err(LedgerError::Internal(
                "a seal-queue row is not a list of transfer ids".into(),
            )),
        })
        .collect()
}

/// The queued transfers' hashes, read by `rows_with` (on PostgreSQL one
/// array parameter instead of a thousand bound ids, which cost the database
/// more than the lookups: 12.6 ms per thousand under postTransfers load, by
/// pg_stat_statements).
async fn transfer_hashes(txn: &DatabaseTransaction, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<u8>>> {
    let rows = rows_with::<transfer::Entity>(txn, transfer::Column::Id, ids).await?;
    Ok(rows.into_iter().filter_map(|t| Some((t.id, t.hash?))).collect())
}

pub async fn latest_block(db: &impl sea_orm::ConnectionTrait) -> Result<Option<block::Model>> {
    Ok(block::Entity::find()
        .order_by_desc(block::Column::Height)
        .one(db)
        .await?)
}
