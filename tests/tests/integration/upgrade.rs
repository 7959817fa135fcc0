//! Existing ledgers keep working: a ledger written by the last release's
//! binary (migrations 1–6: every kind of movement, a captured and a pending
//! hold, a recorded refusal, sealed blocks and an unsealed transfer; made
//! by `scripts/upgrade-fixture.py` and kept as SQL dumps in
//! `tests/fixtures/`) is upgraded by today's migrations in place, then
//! keeps its balances, verifies whole, replays its old keys, and takes new
//! writes.

use std::time::Duration;

use anyhow::{Result, ensure};
use migration::MigratorTrait;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::{Backend, DEPOSIT, TRANSFER, uuid_at};

tests::each_backend!(a_ledger_of_the_last_release_upgrades_in_place_and_verifies);

/// The last migration the last release shipped.
const LAST_RELEASE: &str = "m20261202_000006_access";

/// The dump of a ledger the last release wrote on `backend`.
fn fixture(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => include_str!("../../fixtures/last-release.sqlite.sql"),
        Backend::Postgres => include_str!("../../fixtures/last-release.postgres.sql"),
    }
}

async fn a_ledger_of_the_last_release_upgrades_in_place_and_verifies(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = match backend {
        Backend::Sqlite => format!("sqlite:{}?mode=rwc", dir.path().join("old.db").display()),
        Backend::Postgres => tests::fresh_postgres_database().await?,
    };
    // Restored on a connection of its own: the PostgreSQL dump empties the
    // session's search_path.
    let restore = sea_orm::Database::connect(url.as_str()).await?;
    restore.execute_unprepared(fixture(backend)).await?;
    restore.close().await?;
    let conn = sea_orm::Database::connect(url.as_str()).await?;
    let applied = migration::Migrator::get_applied_migrations(&conn).await?;
    ensure!(
        applied.last().map(|m| m.name()) == Some(LAST_RELEASE),
        "the fixture is not at the last release's schema"
    );
    ensure!(
        migration::Migrator::get_pending_migrations(&conn).await?.len() >= 4,
        "the test must start behind today's schema"
    );

    // Today's migrations, on the old ledger; then today's server on it.
    migration::Migrator::up(&conn, None).await?;
    ensure!(migration::Migrator::get_pending_migrations(&conn).await?.is_empty());
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
    let v = service::verify::verify(&ledger).await?;
    ensure!(v.ok(), "after the upgrade: {:?}", v.problems);

    // The balances the old release left, exactly.
    let mut ids = Vec::new();
    for (code, balance, held) in [("a", "79.00", "0.00"), ("b", "10.33", "1.00"), ("c", "11.67", "0.00")] {
        let d = data(
            "query($c: String!) { accountByCode(code: $c) { id balance heldBalance } }",
            json!({ "c": code }),
        )
        .await?;
        let account = &d["accountByCode"];
        ensure!(
            account["balance"] == balance && account["heldBalance"] == held,
            "{code}: {d}"
        );
        ids.push(uuid_at(&account["id"])?);
    }
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let t = data("query { transferByIdempotencyKey(key: \"old-t\") { id } }", json!({})).await?;
    let old_transfer = uuid_at(&t["transferByIdempotencyKey"]["id"])?;

    // Old keys replay their outcomes, the recorded refusal included.
    let again = data(
        TRANSFER,
        json!({ "i": { "fromAccountId": a, "toAccountId": b, "amount": "10.00", "idempotencyKey": "old-t" } }),
    )
    .await?;
    ensure!(uuid_at(&again["transfer"]["id"])? == old_transfer, "{again}");
    // The old split's key replays both its transfers, in order (migration 16
    // listed the second on its record before dropping the key index).
    let split = "mutation($i: SplitTransferInput!) { splitTransfer(input: $i) { transfers { id amount } } }";
    let parts = json!([{ "accountId": b, "weight": "1" }, { "accountId": c, "weight": "2" }]);
    let s = data(
        split,
        json!({ "i": { "fromAccountId": a, "amount": "10.00", "idempotencyKey": "old-s", "parts": parts } }),
    )
    .await?;
    let amounts: Vec<&Value> = s["splitTransfer"]["transfers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| &t["amount"])
        .collect();
    ensure!(amounts == [&json!("3.33"), &json!("6.67")], "{s}");
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

    // The old pending hold: its key replays it, and it settles today.
    let h = data(
        tests::CREATE_HOLD,
        json!({ "i": { "fromAccountId": b, "toAccountId": c, "amount": "1.00", "idempotencyKey": "old-h2",
                       "expiresAt": "2099-01-01T00:00:00Z" } }),
    )
    .await?;
    let voided = data(
        tests::VOID_HOLD,
        json!({ "i": { "holdId": h["createHold"]["id"], "idempotencyKey": "new-v" } }),
    )
    .await?;
    ensure!(voided["voidHold"]["status"] == "VOIDED", "{voided}");

    // New writes, sealed by the new sealer (the lease), verify too.
    for i in 0..5 {
        data(
            TRANSFER,
            json!({ "i": { "fromAccountId": b, "toAccountId": c, "amount": "1.00", "idempotencyKey": format!("new-{i}") } }),
        )
        .await?;
    }
    // Old entries store their previousHash, new ones derive it: the chain
    // reads whole across the boundary.
    let page = data(
        "query($id: UUID!) { account(id: $id) { entries(first: 100) { edges { node { sequence hash previousHash } } } } }",
        json!({ "id": b }),
    )
    .await?;
    let edges = page["account"]["entries"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(edges.len() > 6, "{page}");
    let mut previous = json!("0".repeat(64));
    for e in &edges {
        ensure!(e["node"]["previousHash"] == previous, "chain read broken at {e}");
        previous = e["node"]["hash"].clone();
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
