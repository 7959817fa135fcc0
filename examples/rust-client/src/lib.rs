//! A typed Rust client of Tally, generated at compile time by `graphql_client`
//! from the repository's `schema.graphql` and the documents in `queries/`.
//! A schema change that breaks these documents (a renamed field, a changed
//! input type) stops this crate compiling, so CI catches it before clients do.
//!
//! Tally's scalars travel as JSON strings (`Decimal` is `"12.50"`, never a
//! number) and are typed here as `String`; `JSON` is any JSON value.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let report = tally_client_example::run("http://127.0.0.1:8000/graphql", "demo").await?;
//! println!("alice has {} after {} entries", report.alice_balance, report.alice_entries.len());
//! # Ok(()) }
//! ```

use anyhow::{Context, Result, bail};
use graphql_client::{GraphQLQuery, Response};
use serde::Serialize;

#[allow(clippy::upper_case_acronyms)]
type UUID = String;
type Decimal = String;
/// RFC 3339 text.
type DateTime = String;
#[allow(clippy::upper_case_acronyms)]
type JSON = serde_json::Value;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema.graphql",
    query_path = "queries/create_account.graphql",
    response_derives = "Debug"
)]
pub struct CreateAccount;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema.graphql",
    query_path = "queries/deposit.graphql",
    response_derives = "Debug"
)]
pub struct Deposit;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema.graphql",
    query_path = "queries/transfer.graphql",
    response_derives = "Debug"
)]
pub struct Transfer;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema.graphql",
    query_path = "queries/history.graphql",
    response_derives = "Debug"
)]
pub struct History;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema.graphql",
    query_path = "queries/exchange.graphql",
    response_derives = "Debug"
)]
pub struct Exchange;

/// A GraphQL endpoint and an HTTP client.
pub struct Client {
    endpoint: String,
    http: reqwest::Client,
}

/// A coded GraphQL error (`extensions.code`), e.g. `INSUFFICIENT_FUNDS`.
#[derive(Debug)]
pub struct CodedError {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for CodedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for CodedError {}

impl Client {
    pub fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Sends one typed operation; a GraphQL error becomes a [`CodedError`].
    pub async fn send<Q: GraphQLQuery>(&self, variables: Q::Variables) -> Result<Q::ResponseData>
    where
        Q::Variables: Serialize,
    {
        let body = Q::build_query(variables);
        let response: Response<Q::ResponseData> =
            self.http.post(&self.endpoint).json(&body).send().await?.json().await?;
        if let Some(error) = response.errors.as_deref().and_then(<[_]>::first) {
            let code = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .and_then(|c| c.as_str())
                .unwrap_or("UNKNOWN");
            return Err(CodedError {
                code: code.to_owned(),
                message: error.message.clone(),
            }
            .into());
        }
        response.data.context("a response with neither data nor errors")
    }
}

/// What [`run`] did: the two accounts and alice's history.
#[derive(Debug)]
pub struct Report {
    pub alice_id: String,
    pub bob_id: String,
    pub alice_balance: String,
    pub bob_balance: String,
    /// (sequence, amount, balance after, transfer kind) in sequence order.
    pub alice_entries: Vec<(i64, String, String, String)>,
    /// The code of the overdraft attempt's refusal.
    pub overdraft_code: String,
    /// Carol's EUR balance after alice's 10.00 USD were exchanged to her.
    pub carol_balance: String,
    /// The exchange's (target amount, exact target amount, remainder, kinds of its legs).
    pub exchange: (String, String, String, Vec<String>),
}

/// Creates two USD accounts named after `run_id`, deposits 100.00 into the
/// first, moves 30.00 to the second (twice under one key: one effect), tries
/// an overdraft, reads the first account's whole history page by page, then
/// exchanges 10.00 of the second's USD into a EUR account at 0.9137
/// (rounded half-even to 9.14, the remainder recorded).
pub async fn run(endpoint: &str, run_id: &str) -> Result<Report> {
    let client = Client::new(endpoint);
    let alice = open(&client, &format!("alice-{run_id}"), "USD").await?;
    let bob = open(&client, &format!("bob-{run_id}"), "USD").await?;
    client
        .send::<Deposit>(deposit::Variables {
            input: deposit::DepositInput {
                account_id: alice.clone(),
                amount: "100.00".into(),
                idempotency_key: format!("{run_id}-deposit"),
                description: Some("typed client".into()),
                metadata: None,
                effective_at: None,
            },
        })
        .await?;
    let move_30 = || transfer::Variables {
        input: transfer::TransferInput {
            from_account_id: alice.clone(),
            to_account_id: bob.clone(),
            amount: "30.00".into(),
            idempotency_key: format!("{run_id}-transfer"),
            description: None,
            metadata: None,
            effective_at: None,
        },
    };
    let first = client.send::<Transfer>(move_30()).await?;
    let retried = client.send::<Transfer>(move_30()).await?;
    if first.transfer.id != retried.transfer.id {
        bail!("a retry under the same key made a second transfer");
    }
    let overdraft = client
        .send::<Transfer>(transfer::Variables {
            input: transfer::TransferInput {
                amount: "1000.00".into(),
                idempotency_key: format!("{run_id}-overdraft"),
                ..move_30().input
            },
        })
        .await;
    let overdraft_code = match overdraft {
        Ok(_) => bail!("an overdraft went through"),
        Err(e) => e.downcast::<CodedError>()?.code,
    };
    let (alice_balance, alice_entries) = history(&client, &alice).await?;
    let (bob_balance, _) = history(&client, &bob).await?;
    let carol = open(&client, &format!("carol-{run_id}"), "EUR").await?;
    let exchanged = client
        .send::<Exchange>(exchange::Variables {
            input: exchange::ExchangeInput {
                from_account_id: bob.clone(),
                to_account_id: carol.clone(),
                amount: "10.00".into(),
                rate: Some("0.9137".into()),
                quote_amount: None,
                rounding: exchange::RoundingRule::HALF_EVEN,
                idempotency_key: format!("{run_id}-exchange"),
                description: None,
                metadata: None,
            },
        })
        .await?
        .exchange;
    let (carol_balance, _) = history(&client, &carol).await?;
    let x = exchanged.exchange;
    let kinds = exchanged.transfers.iter().map(|t| format!("{:?}", t.kind)).collect();
    Ok(Report {
        alice_id: alice,
        bob_id: bob,
        alice_balance,
        bob_balance,
        alice_entries,
        overdraft_code,
        carol_balance,
        exchange: (x.target_amount, x.exact_target_amount, x.remainder, kinds),
    })
}

async fn open(client: &Client, code: &str, currency: &str) -> Result<String> {
    let data = client
        .send::<CreateAccount>(create_account::Variables {
            input: create_account::CreateAccountInput {
                code: code.to_owned(),
                currency: currency.into(),
                min_balance: None,
                metadata: None,
                owner: None,
            },
        })
        .await?;
    Ok(data.create_account.id)
}

type Entries = Vec<(i64, String, String, String)>;

/// The account's balance and every entry, following `endCursor` two at a time.
async fn history(client: &Client, id: &str) -> Result<(String, Entries)> {
    let mut entries = Vec::new();
    let mut after = None;
    loop {
        let data = client
            .send::<History>(history::Variables {
                id: id.to_owned(),
                first: Some(2),
                after: after.take(),
            })
            .await?;
        let account = data.account.with_context(|| format!("account {id} not found"))?;
        for edge in account.entries.edges {
            let e = edge.node;
            entries.push((e.sequence, e.amount, e.balance_after, format!("{:?}", e.transfer.kind)));
        }
        if !account.entries.page_info.has_next_page {
            return Ok((account.balance, entries));
        }
        after = account.entries.page_info.end_cursor;
    }
}
