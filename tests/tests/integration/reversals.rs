use anyhow::Result;
use futures::future::join_all;
use serde_json::{Value, json};
use tests::{REVERSE, TestApp, both, code_of, uuid_at};
use uuid::Uuid;

both!(
    reversals_compensate_fully_or_partly_and_never_exceed,
    concurrent_partial_reversals_never_exceed_the_original
);

fn reverse(id: Uuid, amount: Option<&str>, key: &str) -> Value {
    json!({ "i": { "transferId": id, "amount": amount, "idempotencyKey": key } })
}

async fn reversals_compensate_fully_or_partly_and_never_exceed(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "100.00", "seed").await?;
    let t = app.transfer(a, b, "40.00", "t").await?;
    let tid = uuid_at(&t["data"]["transfer"]["id"])?;
    let r1 = app.data(REVERSE, reverse(tid, Some("15.00"), "r1")).await?;
    let r = &r1["reverseTransfer"];
    assert_eq!(r["kind"], "REVERSAL");
    assert_eq!(r["reversalOf"]["id"], json!(tid.to_string()));
    assert_eq!(r["fromAccount"]["balance"], "25.00");
    assert_eq!(r["toAccount"]["balance"], "75.00");
    let over = app.post(REVERSE, reverse(tid, Some("25.01"), "r2")).await?;
    assert_eq!(code_of(&over)?, "REVERSAL_EXCEEDS_ORIGINAL");
    let rest = app.data(REVERSE, reverse(tid, None, "r3")).await?;
    assert_eq!(rest["reverseTransfer"]["amount"], "25.00");
    assert_eq!(
        rest["reverseTransfer"]["reversalOf"]["reversals"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let none_left = app.post(REVERSE, reverse(tid, None, "r4")).await?;
    assert_eq!(code_of(&none_left)?, "REVERSAL_EXCEEDS_ORIGINAL");
    let rid = uuid_at(&rest["reverseTransfer"]["id"])?;
    let twice = app.post(REVERSE, reverse(rid, None, "r5")).await?;
    assert_eq!(code_of(&twice)?, "REVERSAL_NOT_ALLOWED");
    let missing = app.post(REVERSE, reverse(Uuid::now_v7(), None, "r6")).await?;
    assert_eq!(code_of(&missing)?, "TRANSFER_NOT_FOUND");
    assert_eq!(app.balance(a).await?, "100.00");
    assert_eq!(app.balance(b).await?, "0.00");
    app.assert_invariants().await
}

async fn concurrent_partial_reversals_never_exceed_the_original(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "100.00", "seed").await?;
    let t = app.transfer(a, b, "100.00", "t").await?;
    let tid = uuid_at(&t["data"]["transfer"]["id"])?;
    let calls = (0..10).map(|i| {
        let app = &app;
        async move { app.post(REVERSE, reverse(tid, Some("30.00"), &format!("c{i}"))).await }
    });
    let mut won = 0;
    for body in join_all(calls).await {
        let body = body?;
        match body["data"]["reverseTransfer"]["id"].is_string() {
            true => won += 1,
            false => assert_eq!(code_of(&body)?, "REVERSAL_EXCEEDS_ORIGINAL"),
        }
    }
    assert_eq!(won, 3);
    assert_eq!(app.balance(b).await?, "10.00");
    app.assert_invariants().await
}
