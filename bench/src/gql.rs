//! A minimal GraphQL-over-HTTP client for the harness.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::load::Outcome;

/// Business refusals: deliberate outcomes, not failures.
const REFUSALS: &[&str] = &["INSUFFICIENT_FUNDS", "IDEMPOTENCY_KEY_REUSED", "ACCOUNT_ARCHIVED"];

#[derive(Clone)]
pub struct Tally {
    client: reqwest::Client,
    endpoint: String,
    /// Sent as `Authorization: Bearer …` when set (an API key or a token).
    bearer: Option<String>,
}

impl Tally {
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(512)
            .build()
            .unwrap_or_default();
        Tally {
            client,
            endpoint: format!("{}/graphql", base.trim_end_matches('/')),
            bearer: None,
        }
    }

    /// The same client, sending `credential` with every request.
    pub fn with_bearer(mut self, credential: Option<String>) -> Self {
        self.bearer = credential;
        self
    }

    pub async fn post(&self, query: &str, variables: Value) -> Result<Value> {
        let body = json!({ "query": query, "variables": variables });
        let mut req = self.client.post(&self.endpoint).json(&body);
        if let Some(bearer) = &self.bearer {
            req = req.bearer_auth(bearer);
        }
        Ok(req.send().await?.json().await?)
    }

    /// A request that must succeed; returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Result<Value> {
        let body = self.post(query, variables).await?;
        if body.get("errors").is_some() {
            bail!("request failed: {body}");
        }
        Ok(body["data"].clone())
    }

    /// Sends a request and classifies it; `transfers` is what success moved.
    pub async fn outcome(&self, query: &str, variables: Value, transfers: u64) -> Outcome {
        match self.post(query, variables).await {
            Ok(body) => classify(&body, transfers),
            Err(_) => Outcome::Error,
        }
    }

    pub async fn open(&self, code: &str, currency: &str) -> Result<Uuid> {
        let data = self
            .data(
                "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
                json!({ "i": { "code": code, "currency": currency } }),
            )
            .await?;
        let id = data["createAccount"]["id"].as_str().context("no id")?;
        Ok(Uuid::parse_str(id)?)
    }
}

pub fn classify(body: &Value, transfers: u64) -> Outcome {
    match body["errors"][0]["extensions"]["code"].as_str() {
        None if body.get("data").is_some_and(|d| !d.is_null()) => Outcome::Ok(transfers),
        Some(code) if REFUSALS.contains(&code) => Outcome::Refused,
        _ => Outcome::Error,
    }
}

pub const TRANSFER: &str = "mutation($i: TransferInput!) { transfer(input: $i) { id } }";
pub const DEPOSIT: &str = "mutation($i: DepositInput!) { deposit(input: $i) { id } }";
pub const BATCH: &str = "mutation($i: PostTransfersInput!) { postTransfers(input: $i) { transfers { id } } }";
pub const ENTRIES: &str = "query($id: UUID!, $after: String) { account(id: $id) { entries(first: 10, after: $after) { edges { node { sequence amount balanceAfter } } } } }";
pub const BALANCE_AT: &str = "query($id: UUID!, $at: DateTime!) { account(id: $id) { balanceAt(at: $at) } }";

pub fn transfer_input(from: Uuid, to: Uuid, amount: &str, key: &str) -> Value {
    json!({ "fromAccountId": from, "toAccountId": to, "amount": amount, "idempotencyKey": key })
}

/// The opaque cursor of entry `sequence` (base64url of "entry:<n>").
pub fn entry_cursor(sequence: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("entry:{sequence}"))
}
