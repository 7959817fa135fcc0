use anyhow::Result;
use futures::future::join_all;
use serde_json::json;
use tests::{TestApp, both, code_of};

both!(
    two_hundred_withdrawals_race_and_exactly_one_hundred_win,
    opposite_transfers_race_without_deadlock_and_conserve_money,
    an_accounts_page_is_one_snapshot_under_concurrent_writes,
);

/// The same race with one transaction per request (no write combining).
mod without_combining {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() -> anyhow::Result<()> {
        let app = tests::spawn_app_with(tests::Backend::Sqlite, false).await?;
        super::two_hundred_withdrawals_race_and_exactly_one_hundred_win(app).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() -> anyhow::Result<()> {
        let app = tests::spawn_app_with(tests::Backend::Postgres, false).await?;
        super::two_hundred_withdrawals_race_and_exactly_one_hundred_win(app).await?;
        let app = tests::spawn_app_with(tests::Backend::Postgres, false).await?;
        super::opposite_transfers_race_without_deadlock_and_conserve_money(app).await
    }
}

async fn two_hundred_withdrawals_race_and_exactly_one_hundred_win(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    app.deposit(a, "1000.00", "seed").await?;
    let calls = (0..200).map(|i| {
        let key = format!("w-{i}");
        let app = &app;
        async move { app.withdraw(a, "10.00", &key).await }
    });
    let (mut won, mut refused) = (0, 0);
    for r in join_all(calls).await {
        let body = r?;
        if body["data"]["withdraw"]["id"].is_string() {
            won += 1;
        } else {
            assert_eq!(code_of(&body)?, "INSUFFICIENT_FUNDS", "{body}");
            refused += 1;
        }
    }
    assert_eq!((won, refused), (100, 100));
    assert_eq!(app.balance(a).await?, "0.00");
    app.assert_invariants().await
}

async fn opposite_transfers_race_without_deadlock_and_conserve_money(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "1000.00", "sa").await?;
    app.deposit(b, "1000.00", "sb").await?;
    let calls = (0..200).map(|i| {
        let app = &app;
        async move {
            let key = format!("x-{i}");
            match i % 2 {
                0 => app.transfer(a, b, "1.25", &key).await,
                _ => app.transfer(b, a, "1.25", &key).await,
            }
        }
    });
    for r in join_all(calls).await {
        let body = r?;
        assert!(body["data"]["transfer"]["id"].is_string(), "{body}");
    }
    assert_eq!(app.balance(a).await?, "1000.00");
    assert_eq!(app.balance(b).await?, "1000.00");
    app.assert_invariants().await
}

async fn an_accounts_page_is_one_snapshot_under_concurrent_writes(app: TestApp) -> Result<()> {
    let mut ids = Vec::new();
    for i in 0..6 {
        let id = app.open(&format!("acct-{i}"), "USD", None).await?;
        app.deposit(id, "100.00", &format!("seed-{i}")).await?;
        ids.push(id);
    }
    let writes = async {
        let calls = (0..120).map(|i| {
            let (from, to) = (ids[i % 6], ids[(i + 1) % 6]);
            let app = &app;
            async move { app.transfer(from, to, "3.00", &format!("r-{i}")).await }
        });
        join_all(calls).await
    };
    let reads = async {
        let mut sums = Vec::new();
        for _ in 0..30 {
            let page = app
                .data("{ accounts(first: 100) { edges { node { balance } } } }", json!({}))
                .await?;
            let sum: rust_decimal::Decimal = page["accounts"]["edges"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["node"]["balance"].as_str()?.parse::<rust_decimal::Decimal>().ok())
                .sum();
            sums.push(sum);
        }
        anyhow::Ok(sums)
    };
    let (written, sums) = tokio::join!(writes, reads);
    for w in written {
        w?;
    }
    assert!(sums?.iter().all(|s| s.is_zero()), "a page mixed two moments");
    app.assert_invariants().await
}
