//! Existing ledgers keep working: a ledger written under the schema of the
//! last release (migrations 1–6: every kind of movement, holds, a recorded
//! refusal, sealed blocks) is upgraded by today's migrations in place, then
//! verifies whole, replays its old keys, and takes new writes.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use migration::MigratorTrait;
use serde_json::{Value, json};
use tests::{Backend, DEPOSIT, TRANSFER, uuid_at};

tests::each_backend!(a_ledger_of_the_last_release_upgrades_in_place_and_verifies);

/// The migrations the last release shipped (through m20261202_000006_access).
const LAST_RELEASE: u32 = 6;

async fn a_ledger_of_the_last_release_upgrades_in_place_and_verifies(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = match backend {
        Backend::Sqlite => format!("sqlite:{}?mode=rwc", dir.path().join("old.db").display()),
        Backend::Postgres => tests::fresh_postgres_database().await?,
    };
    let conn = sea_orm::Database::connect(url.as_str()).await?;
    migration::Migrator::up(&conn, Some(LAST_RELEASE)).await?;
    let pending = migration::Migrator::get_pending_migrations(&conn).await?.len();
    ensure!(
        pending >= 2,
        "the test must start behind today's schema ({pending} pending)"
    );
    let ledger = service::Ledger::open_with(&url, false, None).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let signer = service::seal::digest::Signer::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
    tokio::spawn(api::serve(
        listener,
        ledger.clone(),
        signer,
        api::ServerOptions::default(),
    ));
    let gql = bench::gql::Tally::new(&base);
    let data = |q: &'static str, v: Value| {
        let gql = &gql;
        async move { gql.data(q, v).await }
    };

    // Written under the old schema: every kind of movement.
    let create = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }";
    let mut ids = Vec::new();
    for code in ["a", "b", "c"] {
        let d = data(create, json!({ "i": { "code": code, "currency": "USD" } })).await?;
        ids.push(uuid_at(&d["createAccount"]["id"])?);
    }
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    data(
        DEPOSIT,
        json!({ "i": { "accountId": a, "amount": "100.00", "idempotencyKey": "old-d" } }),
    )
    .await?;
    let t = data(
        TRANSFER,
        json!({ "i": { "fromAccountId": a, "toAccountId": b, "amount": "10.00", "idempotencyKey": "old-t" } }),
    )
    .await?;
    let old_transfer = uuid_at(&t["transfer"]["id"])?;
    data(
        "mutation($i: SplitTransferInput!) { splitTransfer(input: $i) { transfers { id } } }",
        json!({ "i": { "fromAccountId": a, "amount": "10.00", "idempotencyKey": "old-s",
                       "parts": [{ "accountId": b, "weight": "1" }, { "accountId": c, "weight": "2" }] } }),
    )
    .await?;
    data(
        "mutation($i: ReverseTransferInput!) { reverseTransfer(input: $i) { id } }",
        json!({ "i": { "transferId": old_transfer, "amount": "4.00", "idempotencyKey": "old-r" } }),
    )
    .await?;
    let expires = (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    let h = data(
        tests::CREATE_HOLD,
        json!({ "i": { "fromAccountId": a, "toAccountId": c, "amount": "20.00", "idempotencyKey": "old-h", "expiresAt": expires } }),
    )
    .await?;
    let hold = uuid_at(&h["createHold"]["id"])?;
    data(
        "mutation($i: CaptureHoldInput!) { captureHold(input: $i) { status } }",
        json!({ "i": { "holdId": hold, "amount": "5.00", "idempotencyKey": "old-c" } }),
    )
    .await?;
    let refused = gql
        .post(
            TRANSFER,
            json!({ "i": { "fromAccountId": b, "toAccountId": a, "amount": "999.00", "idempotencyKey": "old-no" } }),
        )
        .await?;
    ensure!(tests::code_of(&refused)? == "INSUFFICIENT_FUNDS", "{refused}");
    service::seal::seal_once(&ledger)
        .await?
        .context("nothing sealed before the upgrade")?;
    data(
        DEPOSIT,
        json!({ "i": { "accountId": b, "amount": "1.00", "idempotencyKey": "old-unsealed" } }),
    )
    .await?;

    // Today's migrations, on the live ledger.
    migration::Migrator::up(&conn, None).await?;
    ensure!(migration::Migrator::get_pending_migrations(&conn).await?.is_empty());
    let v = service::verify::verify(&ledger).await?;
    ensure!(v.ok(), "after the upgrade: {:?}", v.problems);

    // Old keys replay their outcomes, the recorded refusal included.
    let again = data(
        TRANSFER,
        json!({ "i": { "fromAccountId": a, "toAccountId": b, "amount": "10.00", "idempotencyKey": "old-t" } }),
    )
    .await?;
    ensure!(uuid_at(&again["transfer"]["id"])? == old_transfer, "{again}");
    data(
        DEPOSIT,
        json!({ "i": { "accountId": b, "amount": "2000.00", "idempotencyKey": "new-d" } }),
    )
    .await?;
    let refused = gql
        .post(
            TRANSFER,
            json!({ "i": { "fromAccountId": b, "toAccountId": a, "amount": "999.00", "idempotencyKey": "old-no" } }),
        )
        .await?;
    ensure!(
        tests::code_of(&refused)? == "INSUFFICIENT_FUNDS",
        "a recorded refusal flipped: {refused}"
    );

    // New writes, sealed by the new sealer (the lease), verify too.
    for i in 0..5 {
        data(
            TRANSFER,
            json!({ "i": { "fromAccountId": b, "toAccountId": c, "amount": "1.00", "idempotencyKey": format!("new-{i}") } }),
        )
        .await?;
    }
    let sealer = service::seal::spawn(ledger.clone(), Duration::from_millis(50));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while service::seal::seal_once(&ledger).await?.is_some() || !queue_empty(&conn).await? {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the sealer did not drain the queue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sealer.stop();
    let v = service::verify::verify(&ledger).await?;
    ensure!(v.ok(), "after new writes: {:?}", v.problems);
    tests::invariants::check(&conn).await
}

async fn queue_empty(conn: &sea_orm::DatabaseConnection) -> Result<bool> {
    use sea_orm::{EntityTrait, PaginatorTrait};
    Ok(service::entity::unsealed::Entity::find().count(conn).await? == 0)
}
