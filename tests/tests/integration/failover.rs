//! What a failover is made of, one piece at a time, on a single database:
//! the sealer's lease (a replaced holder can no longer write a block), the
//! leader loop taking over from a dead sealer, a database that turns
//! read-only under the server (a standby being promoted, a demoted
//! primary: UNAVAILABLE, never INTERNAL, and the retry under the same key
//! resolves once it is writable), and compare-and-swap misses that cost no
//! aborted transaction. The whole cluster under faults is `scripts/chaos.sh
//! --cluster`.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use sea_orm::ConnectionTrait;
use serde_json::json;
use service::seal::block::{Sealed, seal_fenced};
use service::seal::{LEASE_TTL, spawn};
use service::store::lease;
use tests::{Backend, TestApp, both, code_of};
use uuid::Uuid;

both!(
    a_replaced_sealer_cannot_write_a_block,
    a_follower_takes_the_sealer_lease_when_the_holder_stops,
);
tests::each_backend!(compare_and_swap_misses_abort_no_transaction);

async fn movements(app: &TestApp, n: usize, tag: &str) -> Result<()> {
    let a = app.open(&format!("{tag}-a"), "USD", None).await?;
    let b = app.open(&format!("{tag}-b"), "USD", None).await?;
    app.deposit(a, "100.00", &format!("{tag}-d")).await?;
    for i in 0..n {
        let body = app.transfer(a, b, "1.00", &format!("{tag}-{i}")).await?;
        ensure!(body["data"]["transfer"]["id"].is_string(), "{body}");
    }
    Ok(())
}

async fn blocks(app: &TestApp) -> Result<Vec<(i64, i64)>> {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT height, tree_size FROM block ORDER BY height",
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "height")?, r.try_get("", "tree_size")?)))
        .collect()
}

async fn a_replaced_sealer_cannot_write_a_block(app: TestApp) -> Result<()> {
    movements(&app, 3, "x").await?;
    let other = app.second_instance().await?;
    let first = lease::acquire(&app.ledger, "sealer", Uuid::now_v7(), LEASE_TTL)
        .await?
        .context("a free lease was not taken")?;
    ensure!(
        lease::acquire(&other, "sealer", Uuid::now_v7(), LEASE_TTL)
            .await?
            .is_none(),
        "a held lease was taken"
    );
    ensure!(matches!(
        seal_fenced(&app.ledger, &first, LEASE_TTL).await?,
        Sealed::Block(_)
    ));
    movements(&app, 2, "y").await?;
    // The holder is cut off (paused, partitioned) until its lease runs out.
    app.sql("UPDATE lease SET expires_at = '2000-01-01T00:00:00Z' WHERE role = 'sealer'")
        .await?;
    let second = lease::acquire(&other, "sealer", Uuid::now_v7(), LEASE_TTL)
        .await?
        .context("an expired lease was not taken over")?;
    ensure!(second.epoch == first.epoch + 1, "{first:?} then {second:?}");
    let before = blocks(&app).await?;
    ensure!(
        matches!(seal_fenced(&app.ledger, &first, LEASE_TTL).await?, Sealed::Fenced),
        "the replaced holder sealed"
    );
    ensure!(blocks(&app).await? == before, "the replaced holder wrote a block");
    ensure!(
        !first.hold(app.ledger.connection(), LEASE_TTL).await?,
        "the replaced holder renewed"
    );
    ensure!(matches!(
        seal_fenced(&other, &second, LEASE_TTL).await?,
        Sealed::Block(_)
    ));
    // One gap-free journal: the new holder sealed what was left.
    let all = blocks(&app).await?;
    // 3 transfers and a deposit, then 2 and a deposit, in order.
    ensure!(all == [(1, 4), (2, 7)], "{all:?}");
    app.verify_both_ways().await?;
    Ok(())
}

async fn a_follower_takes_the_sealer_lease_when_the_holder_stops(app: TestApp) -> Result<()> {
    let other = app.second_instance().await?;
    let a = spawn(app.ledger.clone(), Duration::from_millis(100));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !a.is_leader.load(std::sync::atomic::Ordering::SeqCst) {
        ensure!(tokio::time::Instant::now() < deadline, "the first sealer never led");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = spawn(other, Duration::from_millis(100));
    movements(&app, 2, "p").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ensure!(!b.is_leader.load(std::sync::atomic::Ordering::SeqCst), "two leaders");
    a.stop(); // its lease runs out on its own
    let deadline = tokio::time::Instant::now() + LEASE_TTL + Duration::from_secs(5);
    while !b.is_leader.load(std::sync::atomic::Ordering::SeqCst) {
        ensure!(tokio::time::Instant::now() < deadline, "no takeover within the lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    movements(&app, 2, "q").await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if blocks(&app).await?.last().is_some_and(|b| b.1 == 6) {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the new sealer did not seal: {:?}",
            blocks(&app).await?
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.stop();
    app.verify_both_ways().await?;
    Ok(())
}

/// With one transaction per request, concurrent transfers on two accounts
/// miss their compare-and-swap over and over; each miss must be a row
/// count the engine retries on, not a statement aborted with an ERROR
/// (which the database logs with the whole statement). On PostgreSQL the
/// database's own rollback counter must not move.
async fn compare_and_swap_misses_abort_no_transaction(backend: Backend) -> Result<()> {
    let app = tests::spawn_app_with(backend, false).await?;
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "1000.00", "d").await?;
    let rollbacks = || async {
        if backend == Backend::Sqlite {
            return Ok::<i64, anyhow::Error>(0);
        }
        // Backends flush their counters when idle (within 10 s in 15).
        tokio::time::sleep(Duration::from_secs(11)).await;
        let row = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()",
            ))
            .await?
            .context("no stats row")?;
        Ok(row.try_get("", "xact_rollback")?)
    };
    let counter = |name: &'static str| {
        let app = &app;
        async move {
            let text = app
                .client
                .get(format!("{}/metrics", app.base))
                .send()
                .await?
                .text()
                .await?;
            Ok::<f64, anyhow::Error>(
                text.lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_whitespace().last()?.parse().ok())
                    .unwrap_or(0.0),
            )
        }
    };
    let misses = || counter("tally_cas_misses_total");
    // A locked run that waited for a row another run changed reads that
    // row's chain head again (its entry was not in the lock's snapshot).
    let rereads = || counter("tally_head_rereads_total");
    let (rolled_back, missed, reread) = (rollbacks().await?, misses().await?, rereads().await?);
    // Bursts of opposite transfers on two accounts until one of them makes
    // a compare-and-swap miss (most bursts do; a quiet scheduler may not).
    for round in 0..20 {
        let mut tasks = Vec::new();
        for i in 0..48 {
            let (app_base, key) = (app.base.clone(), format!("t{round}-{i}"));
            let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
            tasks.push(tokio::spawn(async move {
                let gql = bench::gql::Tally::new(&app_base);
                let input =
                    json!({ "fromAccountId": from, "toAccountId": to, "amount": "0.01", "idempotencyKey": key });
                gql.post(tests::TRANSFER, json!({ "i": input })).await
            }));
        }
        for t in tasks {
            let body = t.await??;
            if body.get("errors").is_some() && code_of(&body)? != "INSUFFICIENT_FUNDS" {
                bail!("{body}");
            }
        }
        if backend == Backend::Sqlite || (misses().await? > missed && rereads().await? > reread) {
            break;
        }
    }
    if backend == Backend::Postgres {
        ensure!(
            misses().await? > missed,
            "no compare-and-swap missed: the test proves nothing"
        );
        ensure!(
            rereads().await? > reread,
            "no locked run waited for a changed row: the chain-head re-read went untested"
        );
        let now = rollbacks().await?;
        ensure!(now == rolled_back, "{} transactions rolled back", now - rolled_back);
    }
    app.assert_invariants().await
}

/// A write reaching a node that is read-only — a standby being promoted,
/// a primary being demoted — fails with 25006: the outcome is unknown to
/// the client (UNAVAILABLE, never INTERNAL), and the retry under the same
/// key resolves once the database takes writes again, in the same process.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_only_database_is_unavailable_and_recovers() -> Result<()> {
    let app = tests::spawn_app(Backend::Postgres).await?;
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "10.00", "d").await?;
    let db = app.database_url().rsplit('/').next().unwrap_or_default().to_owned();
    let reconnect = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    );
    app.sql(&format!("ALTER DATABASE {db} SET default_transaction_read_only = on"))
        .await?;
    app.sql(&reconnect).await?;
    let before = app.snapshot().await?;
    for attempt in 0..4 {
        let body = app.transfer(a, b, "1.00", "t").await?;
        let code = code_of(&body)?;
        ensure!(code == "UNAVAILABLE", "attempt {attempt}: {body}");
    }
    ensure!(app.snapshot().await? == before, "a read-only database took a write");
    // This connection is read-only too by now: lift it for this session first.
    app.db
        .execute_unprepared(&format!(
            "BEGIN READ WRITE; ALTER DATABASE {db} RESET default_transaction_read_only; COMMIT; {reconnect}"
        ))
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let body = app.transfer(a, b, "1.00", "t").await?;
        if body["data"]["transfer"]["id"].is_string() {
            break;
        }
        ensure!(code_of(&body)? == "UNAVAILABLE", "{body}");
        ensure!(tokio::time::Instant::now() < deadline, "no recovery: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ensure!(app.balance(b).await? == "1.00", "applied other than once");
    app.assert_invariants().await
}
