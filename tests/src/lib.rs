//! Test harness: a real server on a real port over a fresh database per test,
//! on SQLite (a temp file) or PostgreSQL (a new database on the throwaway
//! server that `scripts/test.sh` starts; `TALLY_TEST_PG_URL` points at it).
//! A PostgreSQL test without that server fails; it is never skipped.

// Test code: a failed assumption is the test failing, so it may unwrap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod documents;
mod helpers;
pub mod invariants;
pub mod jwt;
pub mod process;
pub mod raw_ws;
pub mod receiver;
pub mod replica;
pub mod ws;

pub use documents::*;

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, ensure};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait, QuerySelect, Statement};
use serde_json::{Value, json};
use service::Ledger;
use service::entity::{account, entry, transfer};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub backend: Backend,
    pub endpoint: String,
    pub base: String,
    /// For raw HTTP; GraphQL goes through `gql`.
    pub client: reqwest::Client,
    /// The harness's GraphQL client (one client for tests and benchmarks).
    pub gql: bench::gql::Tally,
    pub ledger: Ledger,
    /// A second, independent connection for inspecting and tampering.
    pub db: DatabaseConnection,
    _dir: Option<tempfile::TempDir>,
}

/// Runs a test body on both backends: `both!(name)` expects `async fn name(app: TestApp) -> Result<()>`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$name(tests::spawn_app(tests::Backend::Sqlite).await?).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() -> anyhow::Result<()> {
                super::$name(tests::spawn_app(tests::Backend::Postgres).await?).await
            }
        }
    )*};
}

/// Runs `async fn name(backend: Backend) -> Result<()>` on both backends,
/// for tests that build their own app (other options, the real binary).
#[macro_export]
macro_rules! each_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$name(tests::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() -> anyhow::Result<()> {
                super::$name(tests::Backend::Postgres).await
            }
        }
    )*};
}

pub async fn spawn_app(backend: Backend) -> Result<TestApp> {
    spawn_app_with(backend, true).await
}

/// `combining: false` runs every request in its own transaction (no group commit).
pub async fn spawn_app_with(backend: Backend, combining: bool) -> Result<TestApp> {
    spawn_app_configured(backend, combining, api::ServerOptions::default()).await
}

/// A test app whose server runs with `options`.
pub async fn spawn_app_configured(backend: Backend, combining: bool, options: api::ServerOptions) -> Result<TestApp> {
    spawn_app_full(backend, combining, options, None).await
}

/// A test app whose PostgreSQL pool cancels statements after `statement_timeout`.
pub async fn spawn_app_full(
    backend: Backend,
    combining: bool,
    options: api::ServerOptions,
    statement_timeout: Option<std::time::Duration>,
) -> Result<TestApp> {
    let (url, dir): (String, Option<tempfile::TempDir>) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir()?;
            (format!("sqlite:{}", dir.path().join("tally.db").display()), Some(dir))
        }
        Backend::Postgres => (fresh_postgres_database().await?, None),
    };
    serve_at(backend, url, dir, combining, options, statement_timeout).await
}

/// A test app on the PostgreSQL database at `url` (from [`fresh_postgres_database`]).
pub async fn spawn_postgres_app_at(url: String, options: api::ServerOptions) -> Result<TestApp> {
    serve_at(Backend::Postgres, url, None, true, options, None).await
}

async fn serve_at(
    backend: Backend,
    url: String,
    dir: Option<tempfile::TempDir>,
    combining: bool,
    options: api::ServerOptions,
    statement_timeout: Option<std::time::Duration>,
) -> Result<TestApp> {
    let ledger = Ledger::open_with(&url, true, statement_timeout)
        .await
        .map_err(|e| anyhow!("connect {url}: {e}"))?;
    let ledger = if combining { ledger } else { ledger.without_combining() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let signer = service::seal::digest::Signer::generate().map_err(|e| anyhow!("{e}"))?;
    tokio::spawn(api::serve(listener, ledger.clone(), signer, options));
    let db = Database::connect(url.as_str()).await?;
    Ok(TestApp {
        backend,
        endpoint: format!("{base}/graphql"),
        gql: bench::gql::Tally::new(&base),
        base,
        client: reqwest::Client::new(),
        ledger,
        db,
        _dir: dir,
    })
}

/// The connection URL of a brand-new database on the test PostgreSQL server.
pub async fn fresh_postgres_database() -> Result<String> {
    let admin = std::env::var("TALLY_TEST_PG_URL")
        .context("TALLY_TEST_PG_URL is not set: PostgreSQL tests need the server that `bash scripts/test.sh` starts")?;
    let name = format!("tally_test_{}", Uuid::new_v4().simple());
    let conn = Database::connect(admin.as_str()).await?;
    conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    conn.close().await?;
    let (prefix, _) = admin
        .rsplit_once('/')
        .context("TALLY_TEST_PG_URL has no database part")?;
    Ok(format!("{prefix}/{name}"))
}

/// What "nothing was written" compares: every account row and the row counts.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub accounts: BTreeMap<Uuid, (String, i64, i64)>,
    pub transfers: u64,
    pub entries: u64,
}

impl TestApp {
    /// POSTs a GraphQL request; returns the whole response body.
    pub async fn post(&self, query: &str, variables: Value) -> Result<Value> {
        self.gql.post(query, variables).await
    }

    /// A request that must succeed; returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Result<Value> {
        self.gql.data(query, variables).await
    }

    /// A request that must fail; returns its first error's `extensions.code`.
    pub async fn error_code(&self, query: &str, variables: Value) -> Result<String> {
        let body = self.post(query, variables).await?;
        code_of(&body)
    }

    pub async fn open(&self, code: &str, currency: &str, min_balance: Option<&str>) -> Result<Uuid> {
        let data = self
            .data(
                "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
                json!({ "i": { "code": code, "currency": currency, "minBalance": min_balance } }),
            )
            .await?;
        uuid_at(&data["createAccount"]["id"])
    }

    pub async fn deposit(&self, account: Uuid, amount: &str, key: &str) -> Result<Value> {
        self.post(
            DEPOSIT,
            json!({ "i": { "accountId": account, "amount": amount, "idempotencyKey": key } }),
        )
        .await
    }

    pub async fn withdraw(&self, account: Uuid, amount: &str, key: &str) -> Result<Value> {
        self.post(
            WITHDRAW,
            json!({ "i": { "accountId": account, "amount": amount, "idempotencyKey": key } }),
        )
        .await
    }

    pub async fn transfer(&self, from: Uuid, to: Uuid, amount: &str, key: &str) -> Result<Value> {
        let input = json!({ "fromAccountId": from, "toAccountId": to, "amount": amount, "idempotencyKey": key });
        self.post(TRANSFER, json!({ "i": input })).await
    }

    pub async fn balance(&self, account: Uuid) -> Result<String> {
        let data = self
            .data(
                "query($id: UUID!) { account(id: $id) { balance } }",
                json!({ "id": account }),
            )
            .await?;
        data["account"]["balance"]
            .as_str()
            .map(str::to_owned)
            .context("no balance")
    }

    pub async fn snapshot(&self) -> Result<Snapshot> {
        // Only the columns compared, so a row tampered into a state no
        // version writes can still be counted.
        let accounts: Vec<(Uuid, service::entity::Money, i64, i64)> = account::Entity::find()
            .select_only()
            .columns([
                account::Column::Id,
                account::Column::Balance,
                account::Column::EntryCount,
                account::Column::Version,
            ])
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(Snapshot {
            accounts: accounts
                .into_iter()
                .map(|(id, balance, entries, version)| (id, (balance.to_string(), entries, version)))
                .collect(),
            transfers: transfer::Entity::find().count(&self.db).await?,
            entries: entry::Entity::find().count(&self.db).await?,
        })
    }

    /// SQL that takes the transfer `id_sql` (an SQL expression for its id)
    /// off the seal queue: deletes the queue row that lists it.
    pub fn unqueue_sql(&self, id_sql: &str) -> String {
        match self.backend {
            Backend::Postgres => {
                format!("DELETE FROM unsealed WHERE position(uuid_send({id_sql}) IN transfer_ids) > 0")
            }
            Backend::Sqlite => format!("DELETE FROM unsealed WHERE instr(transfer_ids, {id_sql}) > 0"),
        }
    }

    /// Tampers as a database administrator would: with the append-only
    /// triggers out of the way (PostgreSQL: replica mode for this session;
    /// SQLite: the triggers dropped).
    pub async fn tamper(&self, sql: &str) -> Result<()> {
        let script = match self.backend {
            Backend::Postgres => {
                format!("SET session_replication_role = replica; {sql}; SET session_replication_role = DEFAULT")
            }
            Backend::Sqlite => {
                let drops: Vec<String> = ["transfer", "entry", "idempotency", "journal", "block"]
                    .iter()
                    .flat_map(|t| {
                        [
                            format!("DROP TRIGGER IF EXISTS {t}_no_update"),
                            format!("DROP TRIGGER IF EXISTS {t}_no_delete"),
                        ]
                    })
                    .collect();
                format!("PRAGMA foreign_keys = OFF; {}; {sql}", drops.join("; "))
            }
        };
        self.db.execute_unprepared(&script).await?;
        Ok(())
    }

    /// Runs raw SQL on the inspection connection, as any client of the database could.
    pub async fn sql(&self, sql: &str) -> Result<()> {
        let stmt = Statement::from_string(self.db.get_database_backend(), sql.to_owned());
        self.db.execute_raw(stmt).await?;
        Ok(())
    }

    /// Every ARCHITECTURE.md invariant, checked twice: by an independent
    /// walk of the rows here, and by the server's own `verifyLedger`.
    pub async fn assert_invariants(&self) -> Result<()> {
        invariants::check(&self.db).await?;
        let data = self
            .data(
                "{ verifyLedger { ok problems { accountId sequence message } } }",
                json!({}),
            )
            .await?;
        ensure!(
            data["verifyLedger"]["ok"] == json!(true),
            "verifyLedger found problems: {data}"
        );
        self.verify_both_ways().await?;
        Ok(())
    }

    /// The service's verification run both ways, which must agree problem
    /// for problem: the single pass (every account's chain in memory, each
    /// entry read once) and the paged walk that ledgers with more accounts
    /// than `ACCOUNTS_IN_MEMORY` take (forced here by room for one account).
    pub async fn verify_both_ways(&self) -> Result<service::verify::Verification> {
        use service::verify::{Verification, verify, verify_within};
        let single = verify(&self.ledger).await?;
        let paged = verify_within(&self.ledger, None, None, 1).await?;
        let sorted = |v: &Verification| {
            let mut p: Vec<String> = v.problems.iter().map(|p| format!("{p:?}")).collect();
            p.sort();
            p
        };
        ensure!(
            sorted(&single) == sorted(&paged),
            "single-pass and paged verification disagree:\n{:#?}\n{:#?}",
            single.problems,
            paged.problems
        );
        let counts = |v: &Verification| {
            (
                v.accounts_checked,
                v.entries_checked,
                v.transfers_checked,
                v.leaves_checked,
            )
        };
        ensure!(
            counts(&single) == counts(&paged),
            "single-pass and paged verification counted differently: {:?} vs {:?}",
            counts(&single),
            counts(&paged)
        );
        Ok(single)
    }
}
