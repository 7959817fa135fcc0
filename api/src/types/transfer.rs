use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, Json, Object};
use chrono::{DateTime, Utc};
use service::entity::TransferKind;
use service::entity::transfer;

use super::{Account, Entry, Hold};
use crate::error::{GqlResult, integrity};
use crate::loaders::{AccountKey, HoldKey, LedgerLoader, ReversalsKey, TransferEntriesKey, TransferKey};
use crate::scalars::{Id, Money};

pub struct Transfer(pub transfer::Model);

// The service's kinds, variant for variant: `remote` derives the
// conversions both ways, so a kind added there fails to compile here.
/// What kind of movement a transfer is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "TransferKind", remote = "TransferKind")]
pub enum TransferKindGql {
    Deposit,
    Withdrawal,
    Transfer,
    /// A compensating transfer (see `reversalOf`).
    Reversal,
    /// The settlement of a hold (see `hold`).
    Capture,
    /// The balance of an archived or merged account moved out.
    Sweep,
    /// One leg of a currency exchange (see `exchange`).
    Exchange,
}

/// The conversion an exchange leg records (both legs record the same).
#[derive(async_graphql::SimpleObject, Clone, Debug)]
pub struct ExchangeDetails {
    pub source_currency: String,
    pub source_amount: Money,
    pub target_currency: String,
    /// What the target account received.
    pub target_amount: Money,
    /// Target units per source unit: as given, or implied by a quote.
    pub rate: Money,
    /// `RATE` when a rate was given, `QUOTE` when the target amount was.
    pub priced: String,
    /// The rule the exact product was rounded by (`HALF_EVEN`, `HALF_UP`, `DOWN`, `UP`).
    pub rounding: String,
    /// `sourceAmount × rate`, exactly.
    pub exact_target_amount: Money,
    /// `exactTargetAmount − targetAmount`: what rounding left, recorded rather than lost.
    pub remainder: Money,
}

impl ExchangeDetails {
    /// The record of an exchange leg (`None` for any other transfer).
    pub fn of(t: &transfer::Model) -> Option<Self> {
        if t.kind != TransferKind::Exchange {
            return None;
        }
        let e = t.metadata.as_ref()?.get("exchange")?;
        let text = |k: &str| e.get(k)?.as_str().map(str::to_owned);
        let money = |k: &str| text(k)?.parse().ok().map(Money);
        Some(ExchangeDetails {
            source_currency: text("sourceCurrency")?,
            source_amount: money("sourceAmount")?,
            target_currency: text("targetCurrency")?,
            target_amount: money("targetAmount")?,
            rate: money("rate")?,
            priced: text("priced")?.to_uppercase(),
            rounding: text("rounding")?,
            exact_target_amount: money("exactTarget")?,
            remainder: money("remainder")?,
        })
    }
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
        self.0.kind.into()
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
    /// For an exchange leg: the conversion it records.
    async fn exchange(&self) -> Option<ExchangeDetails> {
        ExchangeDetails::of(&self.0)
    }
    /// When it was committed (the order of chains, sequences and the journal).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it took effect: the date it was imported with, or its commit time.
    async fn effective_at(&self) -> DateTime<Utc> {
        self.0.effective_at.unwrap_or(self.0.created_at)
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
    /// Hex SHA-256 over the transfer's canonical content and its entries' hashes
    /// (the journal leaf's data; README, "Transfer hash").
    async fn hash(&self) -> Option<String> {
        self.0.hash.as_deref().map(hex::encode)
    }
    /// For a REVERSAL: the transfer it compensates.
    async fn reversal_of(&self, ctx: &Context<'_>) -> GqlResult<Option<Transfer>> {
        let Some(id) = self.0.reversal_of else { return Ok(None) };
        let loader = ctx.data::<DataLoader<LedgerLoader>>()?;
        Ok(loader.load_one(TransferKey(id)).await?.map(Transfer))
    }
    /// Reversals of this transfer, oldest first (their amounts never exceed it).
    async fn reversals(&self, ctx: &Context<'_>) -> GqlResult<Vec<Transfer>> {
        let loader = ctx.data::<DataLoader<LedgerLoader>>()?;
        let rows = loader.load_one(ReversalsKey(self.0.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Transfer).collect())
    }
    /// For a CAPTURE: the hold it settled.
    async fn hold(&self, ctx: &Context<'_>) -> GqlResult<Option<Hold>> {
        let Some(id) = self.0.hold_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<LedgerLoader>>()?;
        Ok(loader.load_one(HoldKey(id)).await?.map(Hold))
    }
    /// The two entries: the debit (negative) and the credit (positive).
    async fn entries(&self, ctx: &Context<'_>) -> GqlResult<Vec<Entry>> {
        let loader = ctx.data::<DataLoader<LedgerLoader>>()?;
        let mut rows = loader
            .load_one(TransferEntriesKey(self.0.id))
            .await?
            .ok_or_else(|| integrity(format!("transfer {} has no entries", self.0.id)))?;
        rows.sort_by_key(|e| e.amount.0);
        Ok(rows.into_iter().map(Entry).collect())
    }
}

pub(super) async fn load_account(ctx: &Context<'_>, id: uuid::Uuid) -> GqlResult<Account> {
    let loader = ctx.data::<DataLoader<LedgerLoader>>()?;
    let row = loader.load_one(AccountKey(id)).await?;
    row.map(Account)
        .ok_or_else(|| integrity(format!("account {id} of a transfer is missing")))
}
