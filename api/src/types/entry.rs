use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use service::entity::entry;

use super::{Account, Transfer};
use crate::error::{GqlResult, integrity};
use crate::loaders::{AccountKey, EntryHashKey, LedgerLoader, TransferKey};
use crate::scalars::{Id, Money};

pub struct Entry(pub entry::Model);

#[Object]
impl Entry {
    async fn id(&self) -> Id {
        Id(self.0.id)
    }
    /// This entry's position as an entries cursor: the same cursor as its
    /// edge in `Account.entries`, and what `entryPosted(after:)` resumes from.
    async fn cursor(&self, ctx: &Context<'_>) -> GqlResult<String> {
        self.private(ctx).await?;
        Ok(super::encode_cursor("entry", &self.0.sequence.to_string()))
    }
    async fn account_id(&self) -> Id {
        Id(self.0.account_id)
    }
    async fn account(&self, ctx: &Context<'_>) -> GqlResult<Account> {
        let loader = ctx.data::<DataLoader<LedgerLoader>>()?;
        let row = loader.load_one(AccountKey(self.0.account_id)).await?;
        row.map(Account)
            .ok_or_else(|| integrity(format!("account of entry {} is missing", self.0.id)))
    }
    async fn transfer_id(&self) -> Id {
        Id(self.0.transfer_id)
    }
    async fn transfer(&self, ctx: &Context<'_>) -> GqlResult<Transfer> {
        let loader = ctx.data::<DataLoader<LedgerLoader>>()?;
        let row = loader.load_one(TransferKey(self.0.transfer_id)).await?;
        row.map(Transfer)
            .ok_or_else(|| integrity(format!("transfer of entry {} is missing", self.0.id)))
    }
    /// Signed: negative = money out of the account.
    async fn amount(&self) -> Money {
        Money(self.0.amount.0)
    }
    /// The account's balance right after this entry. Private to the
    /// account's owner for an end user, like `sequence`, `cursor`, `hash`
    /// and `previousHash`: they tell the account's balance, entry count and
    /// chain head.
    async fn balance_after(&self, ctx: &Context<'_>) -> GqlResult<Money> {
        self.private(ctx).await?;
        Ok(Money(self.0.balance_after.0))
    }
    /// 1, 2, 3… per account, no gaps.
    async fn sequence(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        self.private(ctx).await?;
        Ok(self.0.sequence)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When its movement took effect (`Transfer.effectiveAt`).
    async fn effective_at(&self) -> DateTime<Utc> {
        self.0.effective_at.unwrap_or(self.0.created_at)
    }
    /// Hex SHA-256 of this entry (see README, "Hash chain").
    async fn hash(&self, ctx: &Context<'_>) -> GqlResult<String> {
        self.private(ctx).await?;
        Ok(hex::encode(&self.0.hash))
    }
    /// Hex hash of the account's previous entry; 64 zeros for the first.
    async fn previous_hash(&self, ctx: &Context<'_>) -> GqlResult<String> {
        self.private(ctx).await?;
        let e = &self.0;
        // Entries posted before 2026-12-05 store it; later ones store it
        // empty: it is the previous entry's hash, read from there.
        if !e.previous_hash.is_empty() {
            return Ok(hex::encode(&e.previous_hash));
        }
        if e.sequence <= 1 {
            return Ok(hex::encode(service::model::hash::ZERO_HASH));
        }
        let loader = ctx.data::<DataLoader<LedgerLoader>>()?;
        let hash = loader.load_one(EntryHashKey(e.account_id, e.sequence - 1)).await?;
        let hash = hash.ok_or_else(|| integrity(format!("entry {} has no predecessor", e.id)))?;
        Ok(hex::encode(hash))
    }
}

impl Entry {
    /// Refuses an end user a field of another account's entry (FORBIDDEN);
    /// its id, amount, time and links stay visible, so a transfer's other
    /// leg can be shown.
    async fn private(&self, ctx: &Context<'_>) -> GqlResult<()> {
        if !matches!(crate::auth::principal(ctx)?, crate::auth::Principal::User { .. }) {
            return Ok(());
        }
        let loader = ctx.data::<DataLoader<LedgerLoader>>()?;
        let account = loader.load_one(AccountKey(self.0.account_id)).await?;
        let account = account.ok_or_else(|| integrity(format!("account of entry {} is missing", self.0.id)))?;
        crate::auth::sees(ctx, &account)
    }
}
