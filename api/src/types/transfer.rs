use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, Json, Object};
use chrono::{DateTime, Utc};
use service::entity::transfer;
use service::transfer::TransferKind;

use super::{Account, Entry};
use crate::error::GqlResult;
use crate::loaders::{AccountKey, LedgerLoader, TransferEntriesKey};
use crate::scalars::{Id, Money};

pub struct Transfer(pub transfer::Model);

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "TransferKind")]
pub enum TransferKindGql {
    Deposit,
    Withdrawal,
    Transfer,
}

#[Object]
impl Transfer {
    async fn id(&self) -> Id {
        Id(self.0.id)
    }
    async fn idempotency_key(&self) -> &str {
        &self.0.idempotency_key
    }
    async fn kind(&self) -> TransferKindGql {
        match TransferKind::parse(&self.0.kind) {
            Some(TransferKind::Deposit) => TransferKindGql::Deposit,
            Some(TransferKind::Withdrawal) => TransferKindGql::Withdrawal,
            _ => TransferKindGql::Transfer,
        }
    }
    async fn amount(&self) -> Money {
        Money(self.0.amount.0)
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn metadata(&self) -> Option<Json<serde_json::Value>> {
        self.0.metadata.clone().map(Json)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn from_account_id(&self) -> Id {
        Id(self.0.debit_account_id)
    }
    /// The debited account (the world account for a deposit).
    async fn from_account(&self, ctx: &Context<'_>) -> GqlResult<Account> {
        load_account(ctx, self.0.debit_account_id).await
    }
    async fn to_account_id(&self) -> Id {
        Id(self.0.credit_account_id)
    }
    /// The credited account (the world account for a withdrawal).
    async fn to_account(&self, ctx: &Context<'_>) -> GqlResult<Account> {
        load_account(ctx, self.0.credit_account_id).await
    }
    /// The two entries: the debit (negative) and the credit (positive).
    async fn entries(&self, ctx: &Context<'_>) -> GqlResult<Vec<Entry>> {
        let loader = ctx.data::<DataLoader<LedgerLoader>>()?;
        let mut rows = loader
            .load_one(TransferEntriesKey(self.0.id))
            .await?
            .unwrap_or_default();
        rows.sort_by_key(|e| e.amount.0);
        Ok(rows.into_iter().map(Entry).collect())
    }
}

async fn load_account(ctx: &Context<'_>, id: uuid::Uuid) -> GqlResult<Account> {
    let loader = ctx.data::<DataLoader<LedgerLoader>>()?;
    let row = loader.load_one(AccountKey(id)).await?;
    row.map(Account)
        .ok_or_else(|| "account of transfer missing".into())
}
