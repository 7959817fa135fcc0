use anyhow::Result;
use futures::future::join_all;
use serde_json::json;
use tests::{POST_TRANSFERS, TestApp, both, code_of, item, result_codes};

both!(
    a_retried_request_returns_the_original_transfer_once,
    a_retry_replays_the_original_where_a_fresh_attempt_would_be_refused,
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

/// The engine's first attempt applies requests without looking their keys
/// up; a retry that would now be refused must still replay the original.
async fn a_retry_replays_the_original_where_a_fresh_attempt_would_be_refused(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "10.00", "seed").await?;
    let first = app.transfer(a, b, "10.00", "all").await?;
    let again = app.transfer(a, b, "10.00", "all").await?;
    assert!(first["data"]["transfer"]["id"].is_string(), "{first}");
    assert_eq!(
        (&again["data"], &again["errors"]),
        (&first["data"], &first["errors"]),
        "the retry answers exactly as the first time (only extensions.requestId differs)"
    );
    let malformed = app.transfer(a, b, "1.001", "all").await?;
    assert_eq!(code_of(&malformed)?, "IDEMPOTENCY_KEY_REUSED", "{malformed}");
    app.deposit(a, "5.00", "seed-2").await?;
    let items = json!([item(a, b, "2.00", "b0"), item(a, b, "3.00", "b1")]);
    let batch = app.data(POST_TRANSFERS, json!({ "i": { "transfers": items } })).await?;
    let retried = app.data(POST_TRANSFERS, json!({ "i": { "transfers": items } })).await?;
    assert_eq!(retried, batch, "a retried all-or-nothing batch replays, not refuses");
    let mixed = json!([item(a, b, "1.00", "fresh"), item(a, b, "10.00", "all")]);
    let body = app
        .data(POST_TRANSFERS, json!({ "i": { "transfers": mixed, "atomic": false } }))
        .await?;
    let codes = result_codes(&body);
    assert_eq!(codes, vec![Some("INSUFFICIENT_FUNDS"), None], "{body}");
    assert_eq!(
        body["postTransfers"]["results"][1]["transfer"]["id"], first["data"]["transfer"]["id"],
        "the recorded key replays beside a fresh refusal"
    );
    assert_eq!(app.balance(a).await?, "0.00");
    assert_eq!(app.balance(b).await?, "15.00");
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
