use anyhow::Result;
use futures::future::join_all;
use serde_json::json;
use tests::{TestApp, both, code_of};

both!(
    a_retried_request_returns_the_original_transfer_once,
    a_refusal_is_recorded_and_replayed_so_a_retry_never_flips,
    twenty_identical_concurrent_requests_make_one_transfer,
);

async fn a_retried_request_returns_the_original_transfer_once(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let first = app.deposit(a, "10.00", "once").await?;
    let again = app.deposit(a, "10", "once").await?;
    assert_eq!(first["data"]["deposit"]["id"], again["data"]["deposit"]["id"]);
    assert_eq!(app.balance(a).await?, "10.00");
    let by_key = app
        .data("{ transferByIdempotencyKey(key: \"once\") { id amount } }", json!({}))
        .await?;
    assert_eq!(by_key["transferByIdempotencyKey"]["id"], first["data"]["deposit"]["id"]);
    let other = app.deposit(a, "10.01", "once").await?;
    assert_eq!(code_of(&other)?, "IDEMPOTENCY_KEY_REUSED");
    let other_op = app.withdraw(a, "10.00", "once").await?;
    assert_eq!(code_of(&other_op)?, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(app.balance(a).await?, "10.00");
    app.assert_invariants().await
}

async fn a_refusal_is_recorded_and_replayed_so_a_retry_never_flips(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let refused = app.withdraw(a, "50.00", "w").await?;
    assert_eq!(code_of(&refused)?, "INSUFFICIENT_FUNDS");
    app.deposit(a, "100.00", "d").await?;
    let retried = app.withdraw(a, "50.00", "w").await?;
    assert_eq!(code_of(&retried)?, "INSUFFICIENT_FUNDS");
    assert_eq!(retried["errors"][0]["message"], refused["errors"][0]["message"]);
    assert_eq!(app.balance(a).await?, "100.00");
    app.assert_invariants().await
}

async fn twenty_identical_concurrent_requests_make_one_transfer(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "100.00", "seed").await?;
    let calls = (0..20).map(|_| app.transfer(a, b, "7.00", "same-key"));
    let results = join_all(calls).await;
    let mut ids = std::collections::HashSet::new();
    for r in results {
        let body = r?;
        let id = body["data"]["transfer"]["id"].as_str().map(str::to_owned);
        assert!(id.is_some(), "a caller did not get the transfer: {body}");
        ids.extend(id);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(app.balance(a).await?, "93.00");
    assert_eq!(app.balance(b).await?, "7.00");
    app.assert_invariants().await
}
