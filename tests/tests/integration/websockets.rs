//! The websocket protocols held to their own texts with a raw RFC 6455
//! client (`tests::raw_ws`): graphql-transport-ws's close codes (4400,
//! 4401, 4403, 4408, 4409, 4429), close frames within 125 bytes, the legacy
//! protocol's messages, subscriptions that end with their credential, and
//! the per-caller, per-instance and per-socket caps.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use service::store::api_key::Scope;
use tests::raw_ws::{Frame, RawWs};
use tests::{Backend, TestApp};
use uuid::Uuid;

tests::each_backend!(
    graphql_transport_ws_closes_with_the_protocols_own_codes,
    the_legacy_protocol_speaks_its_own_messages,
    subscriptions_end_when_their_key_is_revoked_or_their_token_expires,
    sockets_and_subscriptions_are_capped_per_caller_instance_and_socket,
);

const MODERN: &str = "graphql-transport-ws";
const LEGACY: &str = "graphql-ws";
const WAIT: Duration = Duration::from_secs(5);
const ENTRIES: &str = "subscription($a: UUID!) { entryPosted(accountId: $a) { sequence amount } }";

async fn app_with(backend: Backend, ws: api::WsOptions) -> Result<TestApp> {
    let options = api::ServerOptions {
        ws,
        ..Default::default()
    };
    tests::spawn_app_configured(backend, true, options).await
}

fn subscribe(id: &str, query: &str, variables: Value) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
}

async fn acked(app: &TestApp, protocol: &str, payload: Value) -> Result<RawWs> {
    let mut ws = RawWs::connect(&app.base, protocol, &[]).await?;
    ws.send_json(json!({ "type": "connection_init", "payload": payload }))
        .await?;
    match ws.next_message(WAIT).await? {
        Frame::Text(m) if m["type"] == "connection_ack" => Ok(ws),
        other => bail!("no connection_ack: {other:?}"),
    }
}

async fn expect_close(ws: &mut RawWs, code: u16, says: &str) -> Result<()> {
    let (got, reason) = ws.closed(WAIT).await?;
    ensure!(
        got == code && reason.contains(says),
        "expected {code} ({says}), got {got} {reason:?}"
    );
    Ok(())
}

async fn graphql_transport_ws_closes_with_the_protocols_own_codes(backend: Backend) -> Result<()> {
    let app = app_with(
        backend,
        api::WsOptions {
            init_timeout: Duration::from_millis(400),
            ..Default::default()
        },
    )
    .await?;
    let a = app.open("a", "USD", None).await?;
    // A ping may come before connection_init and is answered.
    let mut ws = RawWs::connect(&app.base, MODERN, &[]).await?;
    ws.send_json(json!({ "type": "ping", "payload": { "t": 1 } })).await?;
    ensure!(ws.next(WAIT).await? == Frame::Text(json!({ "type": "pong", "payload": { "t": 1 } })));
    // subscribe before the acknowledgement: 4401.
    ws.send_json(subscribe("1", ENTRIES, json!({ "a": a }))).await?;
    expect_close(&mut ws, 4401, "Unauthorized").await?;
    // No connection_init at all: 4408 once the wait is over.
    let mut ws = RawWs::connect(&app.base, MODERN, &[]).await?;
    let started = std::time::Instant::now();
    expect_close(&mut ws, 4408, "initialisation timeout").await?;
    ensure!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // Invalid messages: 4400, with a reason cut to fit the frame.
    for bad in [
        "not json".to_owned(),
        json!({ "id": "1" }).to_string(),
        json!({ "type": "subscribe", "payload": { "query": "{ currencies { code } }" } }).to_string(),
        json!({ "type": "x".repeat(400) }).to_string(),
    ] {
        let mut ws = acked(&app, MODERN, json!({})).await?;
        ws.send_text(&bad).await?;
        expect_close(&mut ws, 4400, "Invalid message").await?;
    }
    let mut ws = acked(&app, MODERN, json!({})).await?;
    ws.send_frame(0x2, b"{\"type\":\"ping\"}").await?;
    expect_close(&mut ws, 4400, "text").await?;
    // A second connection_init: 4429.
    let mut ws = acked(&app, MODERN, json!({})).await?;
    ws.send_json(json!({ "type": "connection_init" })).await?;
    expect_close(&mut ws, 4429, "Too many initialisation requests").await?;
    // A subscribe reusing a running id: 4409; a finished id may be reused.
    let mut ws = acked(&app, MODERN, json!({})).await?;
    ws.send_json(subscribe("q", "{ currencies { code } }", json!({})))
        .await?;
    ensure!(matches!(ws.next_message(WAIT).await?, Frame::Text(m) if m["type"] == "next" && m["id"] == "q"));
    ensure!(ws.next_message(WAIT).await? == Frame::Text(json!({ "id": "q", "type": "complete" })));
    ws.send_json(subscribe("q", ENTRIES, json!({ "a": a }))).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.deposit(a, "1.00", "d1").await?;
    match ws.next_message(WAIT).await? {
        Frame::Text(m) if m["type"] == "next" && m["payload"]["data"]["entryPosted"]["amount"] == "1.00" => {}
        other => bail!("expected the entry: {other:?}"),
    }
    ws.send_json(subscribe("q", ENTRIES, json!({ "a": a }))).await?;
    expect_close(&mut ws, 4409, "Subscriber for q already exists").await?;
    // A refusal at subscribe time is an `error` message, and the socket lives.
    let mut ws = acked(&app, MODERN, json!({})).await?;
    ws.send_json(subscribe("e", ENTRIES, json!({ "a": Uuid::now_v7() })))
        .await?;
    match ws.next_message(WAIT).await? {
        Frame::Text(m) if m["type"] == "error" && m["payload"][0]["extensions"]["code"] == "ACCOUNT_NOT_FOUND" => {}
        other => bail!("expected an error message: {other:?}"),
    }
    // A client's complete stops its subscription without an answer.
    ws.send_json(subscribe("s", ENTRIES, json!({ "a": a }))).await?;
    ws.send_json(json!({ "id": "s", "type": "complete" })).await?;
    // The pong proves the complete was read (messages are handled in order).
    ws.send_json(json!({ "type": "ping" })).await?;
    ensure!(ws.next_message(WAIT).await? == Frame::Text(json!({ "type": "pong" })));
    app.deposit(a, "1.00", "d2").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws.send_json(json!({ "type": "ping" })).await?;
    let got = ws.next_message(WAIT).await?;
    ensure!(
        got == Frame::Text(json!({ "type": "pong" })),
        "a message after complete: {got:?}"
    );
    // A credential refused at connection_init: 4403, the reason within the frame.
    app.keys(&[("reader", Scope::Read)]).await?;
    let forged = format!("tally_{}", "A".repeat(300));
    let mut ws = RawWs::connect(&app.base, MODERN, &[]).await?;
    ws.send_json(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {forged}") } }))
        .await?;
    expect_close(&mut ws, 4403, "Forbidden").await?;
    Ok(())
}

async fn the_legacy_protocol_speaks_its_own_messages(backend: Backend) -> Result<()> {
    let app = app_with(backend, api::WsOptions::default()).await?;
    let a = app.open("a", "USD", None).await?;
    let mut ws = RawWs::connect(&app.base, LEGACY, &[]).await?;
    ws.send_json(json!({ "type": "connection_init", "payload": {} }))
        .await?;
    ensure!(ws.next(WAIT).await? == Frame::Text(json!({ "type": "connection_ack" })));
    ensure!(
        ws.next(WAIT).await? == Frame::Text(json!({ "type": "ka" })),
        "no keep-alive after the ack"
    );
    ws.send_json(json!({ "id": "1", "type": "start", "payload": { "query": ENTRIES, "variables": { "a": a } } }))
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.deposit(a, "2.50", "d").await?;
    match ws.next_message(WAIT).await? {
        Frame::Text(m)
            if m["type"] == "data" && m["id"] == "1" && m["payload"]["data"]["entryPosted"]["amount"] == "2.50" => {}
        other => bail!("expected data: {other:?}"),
    }
    ws.send_json(json!({ "id": "1", "type": "stop" })).await?;
    ensure!(ws.next_message(WAIT).await? == Frame::Text(json!({ "id": "1", "type": "complete" })));
    // graphql-transport-ws messages are not this protocol's.
    ws.send_json(subscribe("2", ENTRIES, json!({ "a": a }))).await?;
    expect_close(&mut ws, 4400, "unknown type `subscribe`").await?;
    // A refused init: connection_error, then the close.
    app.keys(&[("reader", Scope::Read)]).await?;
    let mut ws = RawWs::connect(&app.base, LEGACY, &[]).await?;
    ws.send_json(json!({ "type": "connection_init", "payload": {} }))
        .await?;
    match ws.next(WAIT).await? {
        Frame::Text(m) if m["type"] == "connection_error" => {}
        other => bail!("expected connection_error: {other:?}"),
    }
    expect_close(&mut ws, 4403, "Forbidden").await
}

async fn subscriptions_end_when_their_key_is_revoked_or_their_token_expires(backend: Backend) -> Result<()> {
    let app = tests::jwt::app(backend, None, None).await?;
    let keys = app.keys(&[("admin", Scope::Admin), ("reader", Scope::Read)]).await?;
    let created = app
        .post_as(
            Some(&keys[0]),
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
            json!({ "i": { "code": "alice", "currency": "USD", "owner": "u-alice" } }),
        )
        .await?;
    let a = tests::uuid_at(&created.1["data"]["createAccount"]["id"])?;
    // A key revoked while its subscription runs.
    let bearer = |c: &str| json!({ "Authorization": format!("Bearer {c}") });
    let mut ws = acked(&app, MODERN, bearer(&keys[1])).await?;
    ws.send_json(subscribe("1", ENTRIES, json!({ "a": a }))).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    service::store::api_key::revoke(&app.ledger, "reader").await?;
    let started = std::time::Instant::now();
    expect_close(&mut ws, 4403, "revoked").await?;
    ensure!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    // A token that expires while its subscription runs.
    // jsonwebtoken allows 60 s of clock skew past `exp`: this token has 2 s left.
    let exp = chrono::Utc::now().timestamp() - 58;
    let token = tests::jwt::token(tests::jwt::SECRET, "u-alice", -58, json!({}))?;
    let mut ws = acked(&app, MODERN, bearer(&token)).await?;
    ws.send_json(subscribe("1", ENTRIES, json!({ "a": a }))).await?;
    let (code, reason) = ws.closed(Duration::from_secs(8)).await?;
    ensure!(code == 4403 && reason.contains("xpired"), "{code} {reason:?}");
    ensure!(
        chrono::Utc::now().timestamp() <= exp + 64,
        "closed {} s after exp",
        chrono::Utc::now().timestamp() - exp - 60
    );
    Ok(())
}

async fn sockets_and_subscriptions_are_capped_per_caller_instance_and_socket(backend: Backend) -> Result<()> {
    let app = app_with(
        backend,
        api::WsOptions {
            max_per_caller: 2,
            max_subscriptions: 2,
            max_sockets: 4,
            ..Default::default()
        },
    )
    .await?;
    let a = app.open("a", "USD", None).await?;
    let keys = app
        .keys(&[
            ("reader", Scope::Read),
            ("other", Scope::Read),
            ("writer", Scope::Write),
        ])
        .await?;
    let bearer = |c: &str| json!({ "Authorization": format!("Bearer {c}") });
    let first = acked(&app, MODERN, bearer(&keys[0])).await?;
    let mut second = acked(&app, MODERN, bearer(&keys[0])).await?;
    let mut third = RawWs::connect(&app.base, MODERN, &[]).await?;
    third
        .send_json(json!({ "type": "connection_init", "payload": bearer(&keys[0]) }))
        .await?;
    expect_close(&mut third, 1008, "too many websockets for this caller").await?;
    // Another caller has its own count.
    let _other = acked(&app, MODERN, bearer(&keys[1])).await?;
    // Two operations per socket; a third gets a coded error, the socket lives.
    for id in ["1", "2", "3"] {
        second.send_json(subscribe(id, ENTRIES, json!({ "a": a }))).await?;
    }
    match second
        .next_message(WAIT)
        .await
        .context("the third subscription's error")?
    {
        Frame::Text(m) if m["type"] == "error" && m["id"] == "3" => {
            ensure!(m["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS", "{m}");
        }
        other => bail!("expected an error for the third: {other:?}"),
    }
    // A subscription starts listening when first polled, just after this.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let vars = json!({ "i": { "accountId": a, "amount": "1.00", "idempotencyKey": "d" } });
    let (status, body) = app.post_as(Some(&keys[2]), tests::DEPOSIT, vars).await?;
    ensure!(status == 200 && body.get("errors").is_none(), "{status} {body}");
    for _ in 0..2 {
        let got = second
            .next_message(WAIT)
            .await
            .context("the two subscriptions' entries")?;
        ensure!(matches!(&got, Frame::Text(m) if m["type"] == "next"), "{got:?}");
    }
    // The instance holds at most four sockets: the fifth upgrade is refused.
    let _fourth = RawWs::connect(&app.base, MODERN, &[])
        .await
        .context("the fourth socket")?;
    let answer = RawWs::refused(&app.base, MODERN).await.context("the fifth socket")?;
    ensure!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    RawWs::connect(&app.base, MODERN, &[]).await?;
    Ok(())
}
