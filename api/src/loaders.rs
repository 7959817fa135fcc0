//! Batch loaders for nested objects: every `fromAccount`, `entries` or
//! `transfer` field of one response level costs one query, not one per row.
//! No cache: balances change between requests and must be read fresh.

use std::collections::HashMap;

use service::Ledger;
use uuid::Uuid;

use crate::error::gql;
use service::entity::{account, entry, hold, transfer};

pub struct LedgerLoader(pub Ledger);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AccountKey(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransferKey(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransferEntriesKey(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReversalsKey(pub Uuid);
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HoldKey(pub Uuid);
/// The hash of an account's entry by sequence (an entry's `previousHash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntryHashKey(pub Uuid, pub i64);

fn ids<K: Copy>(keys: &[K], id: impl Fn(K) -> Uuid) -> Vec<Uuid> {
    keys.iter().map(|k| id(*k)).collect()
}

impl async_graphql::dataloader::Loader<AccountKey> for LedgerLoader {
    type Value = account::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[AccountKey]) -> Result<HashMap<AccountKey, Self::Value>, Self::Error> {
        let rows = service::store::account::by_ids(&self.0, &ids(keys, |k| k.0))
            .await
            .map_err(gql)?;
        Ok(rows.into_iter().map(|r| (AccountKey(r.id), r)).collect())
    }
}

impl async_graphql::dataloader::Loader<TransferKey> for LedgerLoader {
    type Value = transfer::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[TransferKey]) -> Result<HashMap<TransferKey, Self::Value>, Self::Error> {
        let rows = service::store::transfer::by_ids(&self.0, &ids(keys, |k| k.0))
            .await
            .map_err(gql)?;
        Ok(rows.into_iter().map(|r| (TransferKey(r.id), r)).collect())
    }
}

impl async_graphql::dataloader::Loader<TransferEntriesKey> for LedgerLoader {
    type Value = Vec<entry::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[TransferEntriesKey]) -> Result<HashMap<TransferEntriesKey, Self::Value>, Self::Error> {
        let rows = service::store::entry::by_transfer_ids(&self.0, &ids(keys, |k| k.0))
            .await
            .map_err(gql)?;
        let mut grouped: HashMap<TransferEntriesKey, Vec<entry::Model>> = HashMap::new();
        for row in rows {
            grouped
                .entry(TransferEntriesKey(row.transfer_id))
                .or_default()
                .push(row);
        }
        Ok(grouped)
    }
}

impl async_graphql::dataloader::Loader<ReversalsKey> for LedgerLoader {
    type Value = Vec<transfer::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ReversalsKey]) -> Result<HashMap<ReversalsKey, Self::Value>, Self::Error> {
        let rows = service::store::transfer::reversals_of(&self.0, &ids(keys, |k| k.0))
            .await
            .map_err(gql)?;
        let mut grouped: HashMap<ReversalsKey, Vec<transfer::Model>> = HashMap::new();
        for row in rows {
            if let Some(original) = row.reversal_of {
                grouped.entry(ReversalsKey(original)).or_default().push(row);
            }
        }
        Ok(grouped)
    }
}

impl async_graphql::dataloader::Loader<HoldKey> for LedgerLoader {
    type Value = hold::Model;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[HoldKey]) -> Result<HashMap<HoldKey, Self::Value>, Self::Error> {
        let rows = service::store::hold::by_ids(&self.0, &ids(keys, |k| k.0))
            .await
            .map_err(gql)?;
        Ok(rows.into_iter().map(|r| (HoldKey(r.id), r)).collect())
    }
}

impl async_graphql::dataloader::Loader<EntryHashKey> for LedgerLoader {
    type Value = Vec<u8>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[EntryHashKey]) -> Result<HashMap<EntryHashKey, Self::Value>, Self::Error> {
        let positions: Vec<(Uuid, i64)> = keys.iter().map(|k| (k.0, k.1)).collect();
        let rows = service::store::entry::hashes_at(&self.0, &positions)
            .await
            .map_err(gql)?;
        Ok(rows
            .into_iter()
            .map(|(account, sequence, hash)| (EntryHashKey(account, sequence), hash))
            .collect())
    }
}
