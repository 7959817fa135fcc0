use anyhow::Result;
use futures::future::join_all;
use serde_json::json;
use tests::{CAPTURE_HOLD, TestApp, VOID_HOLD, both, code_of, uuid_at};
use uuid::Uuid;

both!(
    a_hold_reserves_funds_and_capture_posts_part_and_releases_the_rest,
    a_void_releases_and_settled_holds_refuse_again,
    an_expired_hold_cannot_be_captured_and_the_worker_releases_it,
    concurrent_holds_never_push_available_below_the_floor,
    capture_void_and_expiry_racing_have_exactly_one_winner,
    two_instances_expire_each_hold_once,
);

fn capture(hold: Uuid, amount: Option<&str>, key: &str) -> serde_json::Value {
    json!({ "i": { "holdId": hold, "amount": amount, "idempotencyKey": key } })
}

fn void(hold: Uuid, key: &str) -> serde_json::Value {
    json!({ "i": { "holdId": hold, "idempotencyKey": key } })
}

async fn a_hold_reserves_funds_and_capture_posts_part_and_releases_the_rest(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "100.00", "seed").await?;
    let h = app.hold(a, b, "80.00", "h", 60_000).await?;
    let hold = &h["data"]["createHold"];
    assert_eq!(hold["status"], "PENDING");
    assert_eq!(hold["fromAccount"]["heldBalance"], "80.00");
    assert_eq!(hold["fromAccount"]["availableBalance"], "20.00");
    let id = uuid_at(&hold["id"])?;
    // Every funds check uses the available balance.
    assert_eq!(code_of(&app.withdraw(a, "20.01", "w").await?)?, "INSUFFICIENT_FUNDS");
    assert_eq!(
        code_of(&app.hold(a, b, "20.01", "h2", 60_000).await?)?,
        "INSUFFICIENT_FUNDS"
    );
    let too_much = app.post(CAPTURE_HOLD, capture(id, Some("80.01"), "c0")).await?;
    assert_eq!(code_of(&too_much)?, "INVALID_AMOUNT");
    let c = app.data(CAPTURE_HOLD, capture(id, Some("50.00"), "c1")).await?;
    let c = &c["captureHold"];
    assert_eq!(c["status"], "CAPTURED");
    assert_eq!(c["capturedAmount"], "50.00");
    assert_eq!(c["fromAccount"]["balance"], "50.00");
    assert_eq!(c["fromAccount"]["heldBalance"], "0.00");
    assert_eq!(c["toAccount"]["balance"], "50.00");
    let replay = app.data(CAPTURE_HOLD, capture(id, Some("50.00"), "c1")).await?;
    assert_eq!(replay["captureHold"]["capturedAmount"], "50.00");
    assert_eq!(app.balance(a).await?, "50.00");
    let listed = app
        .data(
            "query($id: UUID!) { transfers(accountId: $id, kind: CAPTURE) { edges { node { amount hold { id } } } } }",
            json!({ "id": a }),
        )
        .await?;
    assert_eq!(
        listed["transfers"]["edges"][0]["node"]["hold"]["id"],
        json!(id.to_string())
    );
    app.assert_invariants().await
}

async fn a_void_releases_and_settled_holds_refuse_again(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "10.00", "seed").await?;
    let id = uuid_at(&app.hold(a, b, "10.00", "h", 60_000).await?["data"]["createHold"]["id"])?;
    let v = app.data(VOID_HOLD, void(id, "v")).await?;
    assert_eq!(v["voidHold"]["status"], "VOIDED");
    assert_eq!(v["voidHold"]["fromAccount"]["availableBalance"], "10.00");
    let before = app.snapshot().await?;
    assert_eq!(
        code_of(&app.post(CAPTURE_HOLD, capture(id, None, "c")).await?)?,
        "HOLD_NOT_PENDING"
    );
    assert_eq!(
        code_of(&app.post(VOID_HOLD, void(id, "v2")).await?)?,
        "HOLD_NOT_PENDING"
    );
    assert_eq!(
        code_of(&app.post(VOID_HOLD, void(Uuid::now_v7(), "v3")).await?)?,
        "HOLD_NOT_FOUND"
    );
    assert_eq!(code_of(&app.hold(a, b, "1.00", "past", -1000).await?)?, "INVALID_INPUT");
    assert_eq!(app.snapshot().await?, before);
    app.assert_invariants().await
}

async fn an_expired_hold_cannot_be_captured_and_the_worker_releases_it(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "10.00", "seed").await?;
    let id = uuid_at(&app.hold(a, b, "4.00", "h", 300).await?["data"]["createHold"]["id"])?;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let before = app.snapshot().await?;
    assert_eq!(
        code_of(&app.post(CAPTURE_HOLD, capture(id, None, "c")).await?)?,
        "HOLD_EXPIRED"
    );
    assert_eq!(app.snapshot().await?, before);
    let released = service::operations::hold::expire_due(&app.ledger).await?;
    assert_eq!(released, 1);
    let h = app
        .data("query($id: UUID!) { hold(id: $id) { status } }", json!({ "id": id }))
        .await?;
    assert_eq!(h["hold"]["status"], "EXPIRED");
    assert_eq!(app.available(a).await?, "10.00");
    app.assert_invariants().await
}

async fn concurrent_holds_never_push_available_below_the_floor(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "100.00", "seed").await?;
    let calls = (0..25).map(|i| {
        let app = &app;
        async move { app.hold(a, b, "10.00", &format!("h{i}"), 60_000).await }
    });
    let mut won = 0;
    for body in join_all(calls).await {
        let body = body?;
        match body["data"]["createHold"]["id"].is_string() {
            true => won += 1,
            false => assert_eq!(code_of(&body)?, "INSUFFICIENT_FUNDS"),
        }
    }
    assert_eq!(won, 10);
    assert_eq!(app.available(a).await?, "0.00");
    app.assert_invariants().await
}

async fn capture_void_and_expiry_racing_have_exactly_one_winner(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "500.00", "seed").await?;
    for round in 0..6 {
        let expires_ms = [60_000, 150][round % 2];
        let id =
            uuid_at(&app.hold(a, b, "10.00", &format!("h{round}"), expires_ms).await?["data"]["createHold"]["id"])?;
        if expires_ms < 1000 {
            tokio::time::sleep(std::time::Duration::from_millis(140)).await;
        }
        let (c, v, e) = tokio::join!(
            app.post(CAPTURE_HOLD, capture(id, None, &format!("c{round}"))),
            app.post(VOID_HOLD, void(id, &format!("v{round}"))),
            service::operations::hold::expire_due(&app.ledger),
        );
        let captured = c?["data"]["captureHold"]["id"].is_string();
        let voided = v?["data"]["voidHold"]["id"].is_string();
        let expired = e? == 1;
        let winners = [captured, voided, expired].iter().filter(|w| **w).count();
        // A hold that expired before anyone settled it may also be released by the next pass.
        let late = service::operations::hold::expire_due(&app.ledger).await? == 1;
        assert_eq!(
            winners + usize::from(late),
            1,
            "round {round}: capture {captured} void {voided} expire {expired} late {late}"
        );
    }
    assert_eq!(app.available(a).await?, app.balance(a).await?);
    app.assert_invariants().await
}

async fn two_instances_expire_each_hold_once(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "1000.00", "seed").await?;
    for i in 0..40 {
        app.hold(a, b, "1.00", &format!("h{i}"), 200).await?;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let other = app.second_instance().await?;
    let mut released = 0;
    for _ in 0..3 {
        let (x, y) = tokio::join!(
            service::operations::hold::expire_due(&app.ledger),
            service::operations::hold::expire_due(&other)
        );
        released += x? + y?;
    }
    assert_eq!(released, 40);
    assert_eq!(app.available(a).await?, "1000.00");
    app.assert_invariants().await
}
