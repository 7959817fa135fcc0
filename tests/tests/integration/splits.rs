use anyhow::Result;
use serde_json::{Value, json};
use tests::{SPLIT, TestApp, both, code_of};
use uuid::Uuid;

both!(
    awkward_splits_sum_exactly_to_the_amount,
    a_refused_split_writes_nothing_and_replays
);

fn split_input(from: Uuid, amount: &str, parts: &[(Uuid, &str)], key: &str) -> Value {
    let parts: Vec<Value> = parts
        .iter()
        .map(|(id, w)| json!({ "accountId": id, "weight": w }))
        .collect();
    json!({ "i": { "fromAccountId": from, "amount": amount, "idempotencyKey": key, "parts": parts } })
}

fn amounts(data: &Value) -> Vec<String> {
    data["splitTransfer"]["transfers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["amount"].as_str().map(str::to_owned))
        .collect()
}

async fn awkward_splits_sum_exactly_to_the_amount(app: TestApp) -> Result<()> {
    let src = app.open("src", "USD", None).await?;
    let p: Vec<Uuid> = vec![
        app.open("p0", "USD", None).await?,
        app.open("p1", "USD", None).await?,
        app.open("p2", "USD", None).await?,
    ];
    app.deposit(src, "1000.00", "seed").await?;
    let three: Vec<(Uuid, &str)> = p.iter().map(|id| (*id, "1")).collect();
    let d = app.data(SPLIT, split_input(src, "100.00", &three, "s1")).await?;
    assert_eq!(amounts(&d), ["33.34", "33.33", "33.33"]);
    let d = app.data(SPLIT, split_input(src, "1.00", &three, "s2")).await?;
    assert_eq!(amounts(&d), ["0.34", "0.33", "0.33"]);
    let mut seven = Vec::new();
    for i in 0..7 {
        seven.push((app.open(&format!("q{i}"), "USD", None).await?, "1"));
    }
    let d = app.data(SPLIT, split_input(src, "0.01", &seven, "s3")).await?;
    assert_eq!(amounts(&d), ["0.01"]);
    let weighted = [(p[0], "0.5"), (p[1], "0.25"), (p[2], "0.25")];
    let d = app.data(SPLIT, split_input(src, "0.05", &weighted, "s4")).await?;
    assert_eq!(amounts(&d), ["0.03", "0.01", "0.01"]);

    let ysrc = app.open("ysrc", "JPY", None).await?;
    let y: Vec<(Uuid, &str)> = vec![
        (app.open("y0", "JPY", None).await?, "1"),
        (app.open("y1", "JPY", None).await?, "1"),
        (app.open("y2", "JPY", None).await?, "1"),
    ];
    app.deposit(ysrc, "1000", "yseed").await?;
    let d = app.data(SPLIT, split_input(ysrc, "100", &y, "s5")).await?;
    assert_eq!(amounts(&d), ["34", "33", "33"]);
    assert_eq!(app.balance(ysrc).await?, "900");
    assert_eq!(app.balance(src).await?, "898.94");
    app.assert_invariants().await
}

async fn a_refused_split_writes_nothing_and_replays(app: TestApp) -> Result<()> {
    let src = app.open("src", "USD", None).await?;
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(src, "10.00", "seed").await?;
    let before = app.snapshot().await?;
    let body = app
        .post(SPLIT, split_input(src, "10.01", &[(a, "1"), (b, "1")], "big"))
        .await?;
    assert_eq!(code_of(&body)?, "INSUFFICIENT_FUNDS");
    assert_eq!(app.snapshot().await?, before);
    let body = app
        .post(SPLIT, split_input(src, "1.00", &[(a, "1"), (src, "1")], "self"))
        .await?;
    assert_eq!(code_of(&body)?, "SAME_ACCOUNT");
    let body = app.post(SPLIT, split_input(src, "1.00", &[(a, "0")], "zero")).await?;
    assert_eq!(code_of(&body)?, "INVALID_INPUT");
    assert_eq!(app.snapshot().await?, before);
    let first = app
        .data(SPLIT, split_input(src, "3.00", &[(a, "1"), (b, "2")], "ok"))
        .await?;
    let again = app
        .data(SPLIT, split_input(src, "3.00", &[(a, "1"), (b, "2")], "ok"))
        .await?;
    assert_eq!(first["splitTransfer"]["transfers"], again["splitTransfer"]["transfers"]);
    assert_eq!(app.balance(src).await?, "7.00");
    app.assert_invariants().await
}
