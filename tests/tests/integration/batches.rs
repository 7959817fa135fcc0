use anyhow::Result;
use futures::future::join_all;
use serde_json::json;
use tests::{POST_TRANSFERS, TestApp, both, code_of, item, result_codes};

both!(
    an_atomic_batch_posts_everything_and_returns_balances,
    an_atomic_failure_names_the_item_and_leaves_no_trace,
    a_non_atomic_batch_reports_each_item,
    opposite_order_batches_never_deadlock,
    batches_are_bounded,
);

async fn an_atomic_batch_posts_everything_and_returns_balances(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    let c = app.open("c", "USD", None).await?;
    app.deposit(a, "100.00", "seed").await?;
    let items = json!([
        item(a, b, "30.00", "i0"),
        item(b, c, "10.00", "i1"),
        item(a, c, "5.00", "i2")
    ]);
    let data = app.data(POST_TRANSFERS, json!({ "i": { "transfers": items } })).await?;
    let p = &data["postTransfers"];
    assert_eq!(p["transfers"].as_array().map(Vec::len), Some(3));
    let balance = |id: uuid::Uuid| {
        p["accounts"]
            .as_array()
            .and_then(|v| v.iter().find(|x| x["id"] == json!(id.to_string())).cloned())
    };
    assert_eq!(balance(a).map(|x| x["balance"].clone()), Some(json!("65.00")));
    assert_eq!(balance(b).map(|x| x["balance"].clone()), Some(json!("20.00")));
    assert_eq!(balance(c).map(|x| x["balance"].clone()), Some(json!("15.00")));
    let again = app.data(POST_TRANSFERS, json!({ "i": { "transfers": items } })).await?;
    assert_eq!(again["postTransfers"]["transfers"], p["transfers"]);
    assert_eq!(
        again["postTransfers"], *p,
        "a retried batch answers exactly as the first time"
    );
    assert_eq!(app.balance(a).await?, "65.00");
    app.assert_invariants().await
}

async fn an_atomic_failure_names_the_item_and_leaves_no_trace(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "10.00", "seed").await?;
    let before = app.snapshot().await?;
    let items = json!([
        item(a, b, "6.00", "x0"),
        item(a, b, "6.00", "x1"),
        item(b, a, "1.00", "x2")
    ]);
    let body = app.post(POST_TRANSFERS, json!({ "i": { "transfers": items } })).await?;
    assert_eq!(code_of(&body)?, "INSUFFICIENT_FUNDS");
    assert_eq!(body["errors"][0]["extensions"]["index"], 1);
    assert_eq!(app.snapshot().await?, before);
    let bad = json!([item(a, b, "1.00", "y0"), item(a, a, "1.00", "y1")]);
    let body = app.post(POST_TRANSFERS, json!({ "i": { "transfers": bad } })).await?;
    assert_eq!(code_of(&body)?, "SAME_ACCOUNT");
    assert_eq!(body["errors"][0]["extensions"]["index"], 1);
    assert_eq!(app.snapshot().await?, before);
    // No trace: the keys are still free.
    let ok = app.transfer(a, b, "6.00", "x0").await?;
    assert!(ok["data"]["transfer"]["id"].is_string(), "{ok}");
    app.assert_invariants().await
}

async fn a_non_atomic_batch_reports_each_item(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "10.00", "seed").await?;
    let items = json!([
        item(a, b, "4.00", "n0"),
        item(a, b, "7.00", "n1"),
        item(a, a, "1.00", "n2"),
        item(a, b, "6.00", "n3"),
        item(a, b, "1.001", "n4"),
    ]);
    let data = app
        .data(POST_TRANSFERS, json!({ "i": { "transfers": items, "atomic": false } }))
        .await?;
    let results = data["postTransfers"]["results"].as_array().cloned().unwrap();
    let summary: Vec<(bool, Option<&str>)> = results
        .iter()
        .map(|r| (r["ok"] == json!(true), r["code"].as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (true, None),
            (false, Some("INSUFFICIENT_FUNDS")),
            (false, Some("SAME_ACCOUNT")),
            (true, None),
            (false, Some("INVALID_AMOUNT")),
        ]
    );
    // Retrying the whole batch replays every recorded outcome and posts nothing new.
    let again = app
        .data(POST_TRANSFERS, json!({ "i": { "transfers": items, "atomic": false } }))
        .await?;
    assert_eq!(again["postTransfers"]["results"], data["postTransfers"]["results"]);
    assert_eq!(app.balance(a).await?, "0.00");
    assert_eq!(app.balance(b).await?, "10.00");
    // A malformed item leaves its key free, even for the next item of the same batch.
    app.deposit(a, "1.00", "refill").await?;
    let retry = json!([item(a, b, "1.001", "fix"), item(a, b, "1.00", "fix")]);
    let data = app
        .data(POST_TRANSFERS, json!({ "i": { "transfers": retry, "atomic": false } }))
        .await?;
    let codes = result_codes(&data);
    assert_eq!(codes, vec![Some("INVALID_AMOUNT"), None]);
    // The recorded refusal replays; the malformed item's key stays free.
    let replay = app.transfer(a, b, "7.00", "n1").await?;
    assert_eq!(code_of(&replay)?, "INSUFFICIENT_FUNDS");
    app.deposit(a, "5.00", "top").await?;
    let fresh = app.transfer(a, b, "1.00", "n4").await?;
    assert!(fresh["data"]["transfer"]["id"].is_string(), "{fresh}");
    app.assert_invariants().await
}

async fn opposite_order_batches_never_deadlock(app: TestApp) -> Result<()> {
    let ids = [
        app.open("a", "USD", None).await?,
        app.open("b", "USD", None).await?,
        app.open("c", "USD", None).await?,
    ];
    for (i, id) in ids.iter().enumerate() {
        app.deposit(*id, "1000.00", &format!("seed{i}")).await?;
    }
    let batches = (0..12).map(|n| {
        let app = &app;
        async move {
            let items: Vec<_> = (0..20)
                .map(|k| {
                    let (from, to) = if n % 2 == 0 {
                        (ids[k % 3], ids[(k + 1) % 3])
                    } else {
                        (ids[(k + 1) % 3], ids[k % 3])
                    };
                    item(from, to, "1.00", &format!("b{n}-{k}"))
                })
                .collect();
            app.post(POST_TRANSFERS, json!({ "i": { "transfers": items } })).await
        }
    });
    for body in join_all(batches).await {
        let body = body?;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let total: rust_decimal::Decimal = [
        app.balance(ids[0]).await?,
        app.balance(ids[1]).await?,
        app.balance(ids[2]).await?,
    ]
    .iter()
    .filter_map(|b| b.parse::<rust_decimal::Decimal>().ok())
    .sum();
    assert_eq!(total.to_string(), "3000.00");
    app.assert_invariants().await
}

async fn batches_are_bounded(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    let items: Vec<_> = (0..1001).map(|k| item(a, b, "1.00", &format!("k{k}"))).collect();
    let body = app.post(POST_TRANSFERS, json!({ "i": { "transfers": items } })).await?;
    assert_eq!(code_of(&body)?, "INVALID_INPUT");
    let empty = app.post(POST_TRANSFERS, json!({ "i": { "transfers": [] } })).await?;
    assert_eq!(code_of(&empty)?, "INVALID_INPUT");
    Ok(())
}
