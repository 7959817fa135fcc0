//! Authentication and authorization: each test sends the attack (no key, a
//! revoked key, a narrow scope, another user's account) and checks the
//! coded refusal, its HTTP status, and that nothing was written.
//!
//! Over 300 lines on purpose: one capability's attacks sharing the
//! refusal helpers and token minting defined here.

use std::time::Duration;

use anyhow::{Result, bail, ensure};
use serde_json::{Value, json};
use service::store::api_key::Scope;
use tests::ws::WsClient;
use tests::{Backend, DEPOSIT, TRANSFER, TestApp, both};
use uuid::Uuid;

both!(
    requests_need_a_known_unrevoked_key_and_its_scope,
    a_websocket_needs_a_key_in_its_init_payload,
    an_open_server_refuses_other_sites_and_non_json_bodies,
);
tests::each_backend!(
    end_users_act_only_on_their_own_accounts,
    a_caller_over_its_budget_is_rate_limited
);

const CREATE: &str = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }";
const BALANCE: &str = "query($id: UUID!) { account(id: $id) { balance } }";

/// Expects `code` with `status`, and that nothing was written.
async fn refused(
    app: &TestApp,
    credential: Option<&str>,
    query: &str,
    vars: Value,
    status: u16,
    code: &str,
) -> Result<Value> {
    let before = app.snapshot().await?;
    let (got, body) = app.post_as(credential, query, vars).await?;
    ensure!(
        got == status && body["errors"][0]["extensions"]["code"] == json!(code),
        "expected {status} {code}, got {got} {body}"
    );
    ensure!(
        app.snapshot().await? == before,
        "a refused request wrote something: {body}"
    );
    Ok(body)
}

fn ok(body: &(u16, Value)) -> Result<()> {
    ensure!(
        body.0 == 200 && body.1.get("errors").is_none(),
        "expected success: {body:?}"
    );
    Ok(())
}

async fn requests_need_a_known_unrevoked_key_and_its_scope(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let keys = app
        .keys(&[
            ("reader", Scope::Read),
            ("writer", Scope::Write),
            ("admin", Scope::Admin),
        ])
        .await?;
    let (read, write, admin) = (keys[0].as_str(), keys[1].as_str(), keys[2].as_str());
    let deposit = json!({ "i": { "accountId": a, "amount": "5.00", "idempotencyKey": "d" } });
    let body = refused(&app, None, DEPOSIT, deposit.clone(), 401, "UNAUTHENTICATED").await?;
    ensure!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Bearer")),
        "{body}"
    );
    let forged = format!("tally_{}", "A".repeat(43));
    refused(&app, Some(&forged), DEPOSIT, deposit.clone(), 401, "UNAUTHENTICATED").await?;
    refused(
        &app,
        Some("not-a-key"),
        DEPOSIT,
        deposit.clone(),
        401,
        "UNAUTHENTICATED",
    )
    .await?;
    ok(&app.post_as(Some(read), BALANCE, json!({ "id": a })).await?)?;
    refused(&app, Some(read), DEPOSIT, deposit.clone(), 403, "FORBIDDEN").await?;
    refused(&app, Some(read), "{ verifyLedger { ok } }", json!({}), 403, "FORBIDDEN").await?;
    // A fragment cannot smuggle a mutation field past the check.
    let smuggled = "mutation($i: DepositInput!) { ...M } fragment M on Mutation { deposit(input: $i) { id } }";
    refused(&app, Some(read), smuggled, deposit.clone(), 403, "FORBIDDEN").await?;
    ok(&app.post_as(Some(write), DEPOSIT, deposit.clone()).await?)?;
    let new = json!({ "i": { "code": "b", "currency": "USD" } });
    refused(&app, Some(write), CREATE, new.clone(), 403, "FORBIDDEN").await?;
    ok(&app.post_as(Some(admin), CREATE, new).await?)?;
    ok(&app.post_as(Some(admin), "{ verifyLedger { ok } }", json!({})).await?)?;
    service::store::api_key::revoke(&app.ledger, "writer").await?;
    let again = json!({ "i": { "accountId": a, "amount": "5.00", "idempotencyKey": "d2" } });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = app.post_as(Some(write), DEPOSIT, again.clone()).await?;
        if status == 401 {
            ensure!(
                body["errors"][0]["extensions"]["code"] == json!("UNAUTHENTICATED"),
                "{body}"
            );
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "a revoked key still works after 5 s"
        );
        // Accepted before the revocation reached this instance; its retries
        // under the same key replay it, never apply it twice.
        ensure!(status == 200, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let balance = app.post_as(Some(read), BALANCE, json!({ "id": a })).await?;
    let b = balance.1["data"]["account"]["balance"].as_str().unwrap().to_owned();
    ensure!(b == "5.00" || b == "10.00", "{balance:?}");
    assert_invariants_as(&app, admin).await
}

async fn assert_invariants_as(app: &TestApp, admin: &str) -> Result<()> {
    tests::invariants::check(&app.db).await?;
    let (_, body) = app.post_as(Some(admin), "{ verifyLedger { ok } }", json!({})).await?;
    ensure!(body["data"]["verifyLedger"]["ok"] == json!(true), "{body}");
    app.verify_both_ways().await?;
    Ok(())
}

async fn a_websocket_needs_a_key_in_its_init_payload(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let keys = app.keys(&[("reader", Scope::Read), ("writer", Scope::Write)]).await?;
    match WsClient::connect_with_payload(&app.base, json!({})).await {
        Ok(_) => bail!("a websocket without a credential was accepted"),
        Err(e) => ensure!(e.to_string().contains("4403"), "{e}"),
    }
    let mut client =
        WsClient::connect_with_payload(&app.base, json!({ "Authorization": format!("Bearer {}", keys[0]) })).await?;
    client
        .subscribe(
            "1",
            "subscription($a: UUID!) { entryPosted(accountId: $a) { sequence } }",
            json!({ "a": a }),
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let deposit = json!({ "i": { "accountId": a, "amount": "1.00", "idempotencyKey": "d" } });
    ok(&app.post_as(Some(&keys[1]), DEPOSIT, deposit).await?)?;
    let data = client.data(Duration::from_secs(10)).await?;
    ensure!(data["entryPosted"]["sequence"] == json!(1), "{data}");
    // Nothing is written over the socket (writes go over POST, under the
    // request deadline), whatever the key: not even by an admin key.
    let before = app.snapshot().await?;
    client
        .subscribe(
            "2",
            "mutation { createCurrency(input: {code: \"X1\", scale: 0}) { code } }",
            json!({}),
        )
        .await?;
    let code = client.error_code(Duration::from_secs(10)).await?;
    ensure!(code == "METHOD_NOT_ALLOWED", "{code}");
    // A key revoked while its socket is open ends the socket (4403) within
    // the key reload and the socket's recheck, subscriptions and all.
    service::store::api_key::revoke(&app.ledger, "reader").await?;
    match client.event(Duration::from_secs(5)).await? {
        tests::ws::Event::Closed { code, reason } => {
            ensure!(code == 4403 && reason.contains("revoked"), "{code} {reason}")
        }
        other => bail!("expected the socket to close: {other:?}"),
    }
    ensure!(app.snapshot().await? == before, "the socket wrote something");
    Ok(())
}

/// With no credential configured, a browser on another site must not be
/// able to use the server through its visitor (nor by DNS rebinding); a
/// page on this machine, or a client that sends no Origin, may. A body that
/// is not declared JSON (a cross-site form post) is refused in any case.
async fn an_open_server_refuses_other_sites_and_non_json_bodies(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let before = app.snapshot().await?;
    let deposit =
        json!({ "query": DEPOSIT, "variables": { "i": { "accountId": a, "amount": "5.00", "idempotencyKey": "x" } } });
    let send = |origin: Option<&'static str>, content_type: &'static str| {
        let mut req = app
            .client
            .post(&app.endpoint)
            .header("content-type", content_type)
            .body(deposit.to_string());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    let form = send(None, "text/plain").await?;
    ensure!(form.status().as_u16() == 415, "{}", form.status());
    let foreign = send(Some("https://evil.example"), "application/json").await?;
    ensure!(foreign.status().as_u16() == 403, "{}", foreign.status());
    let body: Value = foreign.json().await?;
    ensure!(body["errors"][0]["extensions"]["code"] == json!("FORBIDDEN"), "{body}");
    ensure!(app.snapshot().await? == before, "a refused request wrote something");
    let local = send(Some("http://localhost:5173"), "application/json").await?;
    ensure!(local.status().as_u16() == 200, "{}", local.status());
    let upgrade = app
        .client
        .get(&app.endpoint)
        .header("origin", "https://evil.example")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "graphql-transport-ws")
        .send()
        .await?;
    ensure!(
        upgrade.status().as_u16() == 403,
        "a foreign page opened a socket: {}",
        upgrade.status()
    );
    Ok(())
}

fn token(secret: &[u8], sub: &str, expires_in: i64) -> Result<String> {
    tests::jwt::token(secret, sub, expires_in, json!({}))
}

async fn end_users_act_only_on_their_own_accounts(backend: Backend) -> Result<()> {
    let secret = tests::jwt::SECRET;
    let app = tests::jwt::app(backend, None, None).await?;
    let admin = app.keys(&[("admin", Scope::Admin)]).await?.remove(0);
    let open = |code: &str, owner: &str| {
        let vars = json!({ "i": { "code": code, "currency": "USD", "owner": owner } });
        app.post_as(Some(&admin), CREATE, vars)
    };
    let alice = tests::uuid_at(&open("alice", "u-alice").await?.1["data"]["createAccount"]["id"])?;
    let bob = tests::uuid_at(&open("bob", "u-bob").await?.1["data"]["createAccount"]["id"])?;
    for (account, key) in [(alice, "seed-a"), (bob, "seed-b")] {
        let vars = json!({ "i": { "accountId": account, "amount": "50.00", "idempotencyKey": key } });
        ok(&app.post_as(Some(&admin), DEPOSIT, vars).await?)?;
    }
    let user = token(secret, "u-alice", 300)?;
    let pay = |from: Uuid, to: Uuid, key: &str| json!({ "i": { "fromAccountId": from, "toAccountId": to, "amount": "10.00", "idempotencyKey": key } });
    let paid = app
        .post_as(
            Some(&user),
            "mutation($i: TransferInput!) { transfer(input: $i) { id fromAccount { balance } toAccount { code balance } } }",
            pay(alice, bob, "t1"),
        )
        .await?;
    ensure!(
        paid.1["data"]["transfer"]["fromAccount"]["balance"] == json!("40.00"),
        "{paid:?}"
    );
    ensure!(
        paid.1["data"]["transfer"]["toAccount"]["balance"].is_null(),
        "bob's balance leaked: {paid:?}"
    );
    ensure!(
        paid.1["errors"][0]["extensions"]["code"] == json!("FORBIDDEN"),
        "reading bob's balance must be refused: {paid:?}"
    );
    refused(&app, Some(&user), TRANSFER, pay(bob, alice, "t2"), 403, "FORBIDDEN").await?;
    let nobody = Uuid::now_v7();
    refused(&app, Some(&user), TRANSFER, pay(nobody, alice, "t3"), 403, "FORBIDDEN").await?;
    let deposit = json!({ "i": { "accountId": alice, "amount": "5.00", "idempotencyKey": "mint" } });
    refused(&app, Some(&user), DEPOSIT, deposit, 403, "FORBIDDEN").await?;
    refused(&app, Some(&user), BALANCE, json!({ "id": bob }), 403, "FORBIDDEN").await?;
    ok(&app.post_as(Some(&user), BALANCE, json!({ "id": alice })).await?)?;
    let listing = "{ accounts { edges { node { code } } } }";
    refused(&app, Some(&user), listing, json!({}), 403, "FORBIDDEN").await?;
    let expired = token(secret, "u-alice", -120)?;
    refused(
        &app,
        Some(&expired),
        BALANCE,
        json!({ "id": alice }),
        401,
        "UNAUTHENTICATED",
    )
    .await?;
    let forged = token(b"another-secret-another-secret-another", "u-alice", 300)?;
    refused(
        &app,
        Some(&forged),
        BALANCE,
        json!({ "id": alice }),
        401,
        "UNAUTHENTICATED",
    )
    .await?;
    assert_invariants_as(&app, &admin).await
}

async fn a_caller_over_its_budget_is_rate_limited(backend: Backend) -> Result<()> {
    let options = api::ServerOptions {
        rate_limit: api::auth::RateLimit {
            per_second: 1,
            burst: 2,
        },
        ..Default::default()
    };
    let app = tests::spawn_app_configured(backend, true, options).await?;
    let a = app.open("a", "USD", None).await?;
    let keys = app.keys(&[("busy", Scope::Write), ("calm", Scope::Read)]).await?;
    let mut statuses = Vec::new();
    for i in 0..2 {
        let vars = json!({ "i": { "accountId": a, "amount": "1.00", "idempotencyKey": format!("d{i}") } });
        statuses.push(app.post_as(Some(&keys[0]), DEPOSIT, vars).await?.0);
    }
    ensure!(statuses == [200, 200], "{statuses:?}");
    let before = app.snapshot().await?;
    let vars = json!({ "i": { "accountId": a, "amount": "1.00", "idempotencyKey": "d9" } });
    let res = app
        .client
        .post(&app.endpoint)
        .bearer_auth(&keys[0])
        .json(&json!({ "query": DEPOSIT, "variables": vars }))
        .send()
        .await?;
    ensure!(res.status().as_u16() == 429, "{}", res.status());
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body: Value = res.json().await?;
    ensure!(
        body["errors"][0]["extensions"]["code"] == json!("RATE_LIMITED"),
        "{body}"
    );
    ensure!(retry_after.is_some_and(|s| s >= 1), "no Retry-After: {retry_after:?}");
    ensure!(
        body["errors"][0]["extensions"]["retryAfter"].as_u64() == retry_after,
        "{body}"
    );
    ensure!(
        app.snapshot().await? == before,
        "a rate-limited request wrote something"
    );
    // Another key has its own bucket.
    ok(&app.post_as(Some(&keys[1]), BALANCE, json!({ "id": a })).await?)?;
    Ok(())
}
