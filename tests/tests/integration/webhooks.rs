//! Webhooks against a real HTTP receiver: signed deliveries of every event
//! kind from the transaction that made the change, retries with backoff,
//! dead deliveries and their redelivery, filters, order per account under
//! concurrent writes, and refused input that writes nothing.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use tests::receiver::{Receiver, Reply, signature_ok};
use tests::{Backend, TestApp, code_of};
use uuid::Uuid;

tests::each_backend!(
    every_kind_is_delivered_signed_once_committed,
    failures_retry_with_backoff_die_and_redeliver,
    one_account_is_heard_in_commit_order_under_concurrent_writes,
    filters_choose_what_an_endpoint_hears,
    batches_carry_events_in_order_and_retry_whole,
    outbox_rows_from_before_migration_13_read_as_they_did,
    a_body_sent_from_memory_is_the_body_derived_from_the_rows,
);
tests::both!(bad_webhook_and_alert_input_is_refused_and_writes_nothing);

const SECRET: &str = "test-secret-0123456789";
const CREATE: &str = "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { id url eventTypes accountIds enabled secret } }";
const DELIVERIES: &str = "query($e: UUID, $s: WebhookDeliveryStatus) { webhookDeliveries(endpointId: $e, status: $s, first: 1000) { id eventId status attempts lastStatusCode lastError event { eventType body } attemptLog { attempt statusCode error latencyMs } } }";

async fn app_with(backend: Backend, tune: impl FnOnce(&mut api::webhooks::WebhookOptions)) -> Result<TestApp> {
    let mut options = api::ServerOptions::default();
    options.webhooks.poll = Duration::from_millis(20);
    options.webhooks.backoff = Duration::from_millis(20);
    tune(&mut options.webhooks);
    tests::spawn_app_configured(backend, true, options).await
}

async fn endpoint(app: &TestApp, input: Value) -> Result<Uuid> {
    let d = app.data(CREATE, json!({ "i": input })).await?;
    tests::uuid_at(&d["createWebhookEndpoint"]["id"])
}

async fn deliveries(app: &TestApp, endpoint: Uuid) -> Result<Vec<Value>> {
    let d = app.data(DELIVERIES, json!({ "e": endpoint })).await?;
    Ok(d["webhookDeliveries"].as_array().cloned().unwrap_or_default())
}

async fn every_kind_is_delivered_signed_once_committed(backend: Backend) -> Result<()> {
    let app = app_with(backend, |_| {}).await?;
    let rx = Receiver::start().await?;
    let hook = endpoint(&app, json!({ "url": rx.url, "secret": SECRET })).await?;
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "100.00", "d").await?;
    app.transfer(a, b, "30.00", "t").await?;
    // Refused: nothing committed, so nothing is sent.
    let refused = app.transfer(b, a, "500.00", "no").await?;
    ensure!(code_of(&refused)? == "INSUFFICIENT_FUNDS");
    let h = app.hold(a, b, "10.00", "h", 60_000).await?;
    let hold = &h["data"]["createHold"]["id"];
    app.data(
        tests::CAPTURE_HOLD,
        json!({ "i": { "holdId": hold, "amount": "4.00", "idempotencyKey": "c" } }),
    )
    .await?;
    app.data(
        "mutation($i: ArchiveAccountInput!) { archiveAccount(input: $i) { account { status } } }",
        json!({ "i": { "id": b, "idempotencyKey": "arch", "sweepToAccountId": a } }),
    )
    .await?;
    let expected = [
        "account.created",
        "account.created",
        "transfer.posted",
        "transfer.posted",
        "hold.created",
        "transfer.posted",
        "hold.captured",
        "transfer.posted",
        "account.archived",
    ];
    let got = rx
        .wait_for("every event", Duration::from_secs(20), |r| r.len() >= expected.len())
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_all = rx.accepted();
    ensure!(
        got_all.len() == expected.len(),
        "extra deliveries: {:?}",
        kinds(&got_all)
    );
    let mut sorted_got: Vec<&str> = got.iter().map(|r| r.kind.as_str()).collect();
    let mut sorted_expected = expected.to_vec();
    sorted_got.sort();
    sorted_expected.sort();
    ensure!(sorted_got == sorted_expected, "{:?}", kinds(&got));
    for r in &got {
        ensure!(
            signature_ok(SECRET, &r.signature, &r.body, Duration::from_secs(300)),
            "bad signature {}",
            r.signature
        );
        ensure!(!signature_ok(
            "another-secret-000000",
            &r.signature,
            &r.body,
            Duration::from_secs(300)
        ));
        ensure!(
            r.json["id"] == r.event_id.as_str() && r.json["type"] == r.kind.as_str(),
            "{}",
            r.body
        );
    }
    // A transfer arrives with its entries; amounts are decimal strings.
    let posted = got
        .iter()
        .find(|r| r.kind == "transfer.posted" && r.json["data"]["transfer"]["kind"] == "TRANSFER")
        .expect("the transfer");
    let t = &posted.json["data"];
    ensure!(
        t["transfer"]["amount"] == "30.00" && t["transfer"]["idempotencyKey"] == "t",
        "{t}"
    );
    let entries = t["entries"].as_array().expect("entries");
    ensure!(
        entries.len() == 2
            && entries
                .iter()
                .any(|e| e["amount"] == "-30.00" && e["balanceAfter"] == "70.00")
    );
    // Each delivery is DELIVERED after one attempt, and its log says so
    // (once the worker has committed what it heard: the receiver answers first).
    wait_status(&app, hook, "DELIVERED", expected.len()).await?;
    let ds = deliveries(&app, hook).await?;
    ensure!(ds.len() == expected.len(), "{ds:?}");
    for d in &ds {
        ensure!(
            d["status"] == "DELIVERED" && d["attempts"] == 1 && d["lastStatusCode"] == 200,
            "{d}"
        );
        ensure!(
            d["attemptLog"].as_array().is_some_and(|l| l.len() == 1)
                && d["attemptLog"][0]["attempt"] == 1
                && d["attemptLog"][0]["statusCode"] == 200
                && d["attemptLog"][0]["error"].is_null()
                && d["attemptLog"][0]["latencyMs"].as_i64().is_some_and(|ms| ms >= 0),
            "{d}"
        );
    }
    app.assert_invariants().await
}

async fn failures_retry_with_backoff_die_and_redeliver(backend: Backend) -> Result<()> {
    let app = app_with(backend, |w| {
        w.max_attempts = 3;
        w.timeout = Duration::from_millis(400);
    })
    .await?;
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    let rx = Receiver::start().await?;
    let hook = endpoint(
        &app,
        json!({ "url": rx.url, "secret": SECRET, "eventTypes": ["TRANSFER_POSTED"] }),
    )
    .await?;
    // The deposit into a fails twice, then passes; the one into b never answers in time.
    rx.behave(move |r, before| {
        let to = r.json["data"]["transfer"]["toAccountId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match (to == b.to_string(), before) {
            (false, 0 | 1) => Reply::status(500),
            (false, _) => Reply::OK,
            (true, _) => Reply {
                status: 200,
                delay: Duration::from_secs(2),
            },
        }
    });
    app.deposit(a, "10.00", "da").await?;
    app.deposit(b, "10.00", "db").await?;
    rx.wait_for("a's deposit, third time", Duration::from_secs(20), |r| r.len() == 1)
        .await?;
    let dead = wait_status(&app, hook, "DEAD", 1).await?;
    let d = &dead[0];
    ensure!(
        d["attempts"] == 3 && d["lastError"].as_str().unwrap_or_default().contains("no answer"),
        "{d}"
    );
    let delivered = wait_status(&app, hook, "DELIVERED", 1).await?;
    let log: Vec<&Value> = delivered[0]["attemptLog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["statusCode"])
        .collect();
    ensure!(log == [&json!(500), &json!(500), &json!(200)], "{log:?}");
    // Redelivered: the same event id arrives again, and is taken this time.
    rx.behave(|_, _| Reply::OK);
    let again = app
        .data(
            "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { status attempts } }",
            json!({ "d": d["id"] }),
        )
        .await?;
    ensure!(again["redeliverWebhook"]["status"] == "PENDING", "{again}");
    let event_id = d["eventId"].as_str().unwrap().to_owned();
    rx.wait_for("the redelivery", Duration::from_secs(10), |r| {
        r.iter().any(|x| x.event_id == event_id)
    })
    .await?;
    wait_status(&app, hook, "DELIVERED", 2).await?;
    // A delivered delivery redelivered keeps its whole log: the earlier
    // success (kept on the delivery's own row until now) and the new one.
    let first = delivered[0]["id"].clone();
    app.data(
        "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { status } }",
        json!({ "d": first }),
    )
    .await?;
    let log = wait_for_log(&app, hook, &first, 4).await?;
    let seen: Vec<(i64, i64)> = log
        .iter()
        .map(|a| {
            (
                a["attempt"].as_i64().unwrap_or(-1),
                a["statusCode"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    ensure!(seen == [(1, 500), (2, 500), (3, 200), (1, 200)], "{log:?}");
    ensure!(
        log.iter().all(|a| a["latencyMs"].as_i64().is_some_and(|ms| ms >= 0)),
        "{log:?}"
    );
    app.assert_invariants().await
}

/// The writing instance sends a `transfer.posted` body from memory; the
/// stored rows derive the very same bytes (what a retry on another
/// instance, or `event { body }`, carries) — metadata with keys of every
/// length, nesting, floats, big integers and non-ASCII text included; and
/// a transfer that moves through the locked path and the optimistic one.
async fn a_body_sent_from_memory_is_the_body_derived_from_the_rows(backend: Backend) -> Result<()> {
    let app = app_with(backend, |_| {}).await?;
    let rx = Receiver::start().await?;
    endpoint(
        &app,
        json!({ "url": rx.url, "secret": SECRET, "eventTypes": ["TRANSFER_POSTED"] }),
    )
    .await?;
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    let metadata = json!({
        "zz": 1.5, "a": { "yy": [1, "x", null, true], "b": -0.000125 }, "ünïcode": "€ \" \\ \n",
        "big": 12345678901234567890u64, "neg": -9007199254740993i64, "e": 1e300, "": {}
    });
    app.data(
        tests::DEPOSIT,
        json!({ "i": { "accountId": a, "amount": "100.5", "idempotencyKey": "m1", "metadata": metadata, "description": "déjà" } }),
    )
    .await?;
    app.transfer(a, b, "0.25", "m2").await?;
    let got = rx
        .wait_for("both events", Duration::from_secs(10), |r| r.len() == 2)
        .await?;
    for r in &got {
        let id: Uuid = r.event_id.parse()?;
        let stored = service::store::webhook::events(&app.ledger, &[id]).await?;
        ensure!(stored.len() == 1, "{stored:?}");
        ensure!(
            stored[0].payload == r.body,
            "sent {}\nderived {}",
            r.body,
            stored[0].payload
        );
    }
    ensure!(
        got[0].json["data"]["transfer"]["metadata"] == metadata,
        "{}",
        got[0].body
    );
    app.assert_invariants().await
}

/// Rows written before migration 13 — an event with its body stored, a
/// delivered delivery with its successful attempt as a row — read exactly
/// as they did: the stored body, the one attempt once (not derived again).
async fn outbox_rows_from_before_migration_13_read_as_they_did(backend: Backend) -> Result<()> {
    use sea_orm::{ActiveValue::NotSet, EntityTrait, IntoActiveModel, Set};
    use service::entity::{DeliveryStatus, webhook_attempt, webhook_delivery, webhook_event};
    let app = app_with(backend, |_| {}).await?;
    let hook = endpoint(
        &app,
        json!({ "url": "http://127.0.0.1:9/none", "secret": SECRET, "enabled": false }),
    )
    .await?;
    let at = chrono::Utc::now();
    let event_id = Uuid::now_v7();
    let body = json!({ "id": event_id, "type": "transfer.posted", "createdAt": "2026-12-04T10:00:00Z", "data": { "old": true } });
    webhook_event::Entity::insert(webhook_event::ActiveModel {
        seq: NotSet,
        id: Set(event_id),
        kind: Set("transfer.posted".into()),
        account_a: Set(None),
        account_b: Set(None),
        payload: Set(body.to_string()),
        transfer_id: Set(None),
        created_at: Set(at),
    })
    .exec_without_returning(&app.db)
    .await?;
    let delivery = webhook_delivery::Entity::insert(webhook_delivery::ActiveModel {
        seq: NotSet,
        event_id: Set(event_id),
        endpoint_id: Set(hook),
        account_a: Set(None),
        account_b: Set(None),
        status: Set(DeliveryStatus::Delivered),
        attempts: Set(1),
        next_attempt_at: Set(at),
        leased_until: Set(None),
        last_status_code: Set(Some(200)),
        last_error: Set(None),
        delivered_at: Set(Some(at)),
        last_started_at: Set(None),
        last_latency_ms: Set(None),
        created_at: Set(at),
    })
    .exec(&app.db)
    .await?
    .last_insert_id;
    webhook_attempt::Entity::insert(
        webhook_attempt::Model {
            id: Uuid::now_v7(),
            delivery_seq: delivery,
            attempt: 1,
            started_at: at,
            status_code: Some(200),
            error: None,
            latency_ms: 12,
        }
        .into_active_model(),
    )
    .exec_without_returning(&app.db)
    .await?;
    let ds = deliveries(&app, hook).await?;
    ensure!(ds.len() == 1, "{ds:?}");
    let d = &ds[0];
    ensure!(
        d["event"]["body"] == body && d["event"]["eventType"] == "TRANSFER_POSTED",
        "{d}"
    );
    ensure!(
        d["attemptLog"] == json!([{ "attempt": 1, "statusCode": 200, "error": null, "latencyMs": 12 }]),
        "{d}"
    );
    app.assert_invariants().await
}

/// The attempt log of delivery `id` once it is delivered with `n` attempts.
async fn wait_for_log(app: &TestApp, endpoint: Uuid, id: &Value, n: usize) -> Result<Vec<Value>> {
    for _ in 0..100 {
        let ds = deliveries(app, endpoint).await?;
        if let Some(d) = ds.iter().find(|d| &d["id"] == id)
            && d["status"] == "DELIVERED"
            && d["attemptLog"].as_array().is_some_and(|l| l.len() == n)
        {
            return Ok(d["attemptLog"].as_array().cloned().unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "delivery {id} never had {n} attempts: {:?}",
        deliveries(app, endpoint).await?
    )
}

async fn one_account_is_heard_in_commit_order_under_concurrent_writes(backend: Backend) -> Result<()> {
    let app = app_with(backend, |w| w.max_attempts = 1000).await?;
    let ids = funded_trio(&app).await?;
    let rx = Receiver::start().await?;
    // A flaky, slow receiver: a third of the attempts fail.
    rx.behave(|_, _| match fastrand::u8(0..3) {
        0 => Reply::status(503),
        _ => Reply {
            status: 200,
            delay: Duration::from_millis(fastrand::u64(0..10)),
        },
    });
    let hook = endpoint(&app, json!({ "url": rx.url, "eventTypes": ["TRANSFER_POSTED"] })).await?;
    let n = 60;
    transfers_among(&app, ids, n).await?;
    let got = rx
        .wait_for("every transfer", Duration::from_secs(60), |r| r.len() >= n)
        .await?;
    // Per account, the entries heard must follow its sequence: every
    // delivery before the next, retries included.
    let total = heard_in_order(got.iter().map(|r| &r.json), ids)?;
    ensure!(total == 2 * n, "{total} entries heard, not {}", 2 * n);
    let failed = rx.received().iter().filter(|r| r.status != 200).count();
    ensure!(
        failed > 0,
        "the receiver never failed: the test proves nothing about retries"
    );
    // The receiver hears the last answer before the worker commits what
    // it recorded: wait for that commit.
    let ds = wait_status(&app, hook, "DELIVERED", n).await?;
    ensure!(ds.len() == n, "{ds:?}");
    app.assert_invariants().await
}

async fn filters_choose_what_an_endpoint_hears(backend: Backend) -> Result<()> {
    let app = app_with(backend, |_| {}).await?;
    let x = app.open("x", "USD", None).await?;
    let y = app.open("y", "USD", None).await?;
    app.deposit(x, "50.00", "dx").await?;
    app.deposit(y, "50.00", "dy").await?;
    let narrow = Receiver::start().await?;
    let wide = Receiver::start().await?;
    let n = endpoint(
        &app,
        json!({ "url": narrow.url, "eventTypes": ["HOLD_CREATED"], "accountIds": [x] }),
    )
    .await?;
    endpoint(&app, json!({ "url": wide.url })).await?;
    let disabled = Receiver::start().await?;
    endpoint(&app, json!({ "url": disabled.url, "enabled": false })).await?;
    app.hold(y, x, "1.00", "h1", 60_000).await?;
    app.hold(y, y_other(&app).await?, "1.00", "h2", 60_000).await?;
    app.hold(x, y, "2.00", "h3", 60_000).await?;
    app.transfer(x, y, "3.00", "t").await?;
    let all = wide
        .wait_for("four events and an account", Duration::from_secs(10), |r| r.len() >= 5)
        .await?;
    ensure!(
        kinds(&all).iter().filter(|k| *k == "hold.created").count() == 3,
        "{:?}",
        kinds(&all)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let some = narrow.accepted();
    ensure!(
        some.len() == 2 && some.iter().all(|r| r.kind == "hold.created"),
        "{:?}",
        kinds(&some)
    );
    ensure!(disabled.received().is_empty(), "a disabled endpoint was called");
    // The narrow endpoint's deliveries are exactly those two.
    ensure!(deliveries(&app, n).await?.len() == 2);
    app.assert_invariants().await
}

/// A third account, for a hold that concerns neither x's filter.
async fn y_other(app: &TestApp) -> Result<Uuid> {
    app.open("z", "USD", None).await
}

/// An endpoint with `maxBatchSize` hears signed `{"events": [...]}` POSTs
/// of at most that many events; a failed POST is retried whole, each event
/// is accepted once, and each account's events still arrive in commit
/// order across batches.
async fn batches_carry_events_in_order_and_retry_whole(backend: Backend) -> Result<()> {
    let app = app_with(backend, |w| w.max_attempts = 1000).await?;
    let ids = funded_trio(&app).await?;
    let rx = Receiver::start().await?;
    rx.behave(|_, _| match fastrand::u8(0..3) {
        0 => Reply::status(500),
        _ => Reply::OK,
    });
    let max = 7;
    let hook = endpoint(
        &app,
        json!({ "url": rx.url, "eventTypes": ["TRANSFER_POSTED"], "maxBatchSize": max, "secret": SECRET }),
    )
    .await?;
    let listed = app.data("{ webhookEndpoints { id maxBatchSize } }", json!({})).await?;
    ensure!(listed["webhookEndpoints"][0]["maxBatchSize"] == max, "{listed}");
    let n = 60;
    transfers_among(&app, ids, n).await?;
    let events_of = |r: &tests::receiver::Received| r.json["events"].as_array().cloned().unwrap_or_default();
    let got = rx
        .wait_for("every transfer", Duration::from_secs(60), |r| {
            r.iter().map(|x| events_of(x).len()).sum::<usize>() >= n
        })
        .await?;
    for r in rx.received() {
        let events = events_of(&r);
        ensure!(
            (1..=max).contains(&events.len()) && r.batch == events.len(),
            "a POST of {} events said {}: {}",
            events.len(),
            r.batch,
            r.body
        );
        ensure!(r.event_id.is_empty(), "a batch named one event: {}", r.event_id);
        ensure!(
            signature_ok(SECRET, &r.signature, &r.body, Duration::from_secs(300)),
            "bad signature on {}",
            r.body
        );
        ensure!(
            events
                .iter()
                .all(|e| e["type"] == "transfer.posted" && e["id"].is_string()),
            "{}",
            r.body
        );
    }
    ensure!(
        got.iter().any(|r| events_of(r).len() > 1),
        "no POST carried more than one event: batching is unproven"
    );
    ensure!(
        rx.received().iter().any(|r| r.status == 500),
        "the receiver never failed: the test proves nothing about retries"
    );
    let events: Vec<Value> = got.iter().flat_map(events_of).collect();
    let mut once: HashMap<String, usize> = HashMap::new();
    for e in &events {
        *once.entry(e["id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    ensure!(
        once.len() == n && once.values().all(|c| *c == 1),
        "events accepted: {} distinct, some more than once: {once:?}",
        once.len()
    );
    heard_in_order(events.iter(), ids)?;
    let ds = wait_status(&app, hook, "DELIVERED", n).await?;
    ensure!(
        ds.iter()
            .all(|d| d["attemptLog"].as_array().is_some_and(|a| !a.is_empty())),
        "a delivery without its attempts: {ds:?}"
    );
    // Updating without maxBatchSize keeps it; with one, replaces it.
    let update = "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { maxBatchSize } }";
    let kept = app
        .data(update, json!({ "i": { "id": hook, "url": rx.url, "enabled": true } }))
        .await?;
    ensure!(kept["updateWebhookEndpoint"]["maxBatchSize"] == max, "{kept}");
    let one = app
        .data(
            update,
            json!({ "i": { "id": hook, "url": rx.url, "enabled": true, "maxBatchSize": 1 } }),
        )
        .await?;
    ensure!(one["updateWebhookEndpoint"]["maxBatchSize"] == 1, "{one}");
    app.assert_invariants().await
}

async fn bad_webhook_and_alert_input_is_refused_and_writes_nothing(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let before = app.snapshot().await?;
    let unknown = Uuid::now_v7();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            CREATE,
            json!({ "i": { "url": "ftp://example.com/hook" } }),
            "INVALID_INPUT",
        ),
        (CREATE, json!({ "i": { "url": "example.com" } }), "INVALID_INPUT"),
        (
            CREATE,
            json!({ "i": { "url": "http://127.0.0.1:1/x", "maxBatchSize": 0 } }),
            "INVALID_INPUT",
        ),
        (
            CREATE,
            json!({ "i": { "url": "http://127.0.0.1:1/x", "maxBatchSize": 1001 } }),
            "INVALID_INPUT",
        ),
        (
            CREATE,
            json!({ "i": { "url": "http://127.0.0.1:1/x", "secret": "short" } }),
            "INVALID_INPUT",
        ),
        (
            CREATE,
            json!({ "i": { "url": "http://127.0.0.1:1/x", "eventTypes": [] } }),
            "INVALID_INPUT",
        ),
        (
            CREATE,
            json!({ "i": { "url": "http://127.0.0.1:1/x", "eventTypes": ["NOPE"] } }),
            "INVALID_INPUT",
        ),
        (
            CREATE,
            json!({ "i": { "url": "http://127.0.0.1:1/x", "accountIds": [unknown] } }),
            "ACCOUNT_NOT_FOUND",
        ),
        (
            "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { id } }",
            json!({ "i": { "id": unknown, "url": "http://127.0.0.1:1/x", "enabled": true } }),
            "WEBHOOK_NOT_FOUND",
        ),
        (
            "mutation($id: UUID!) { deleteWebhookEndpoint(id: $id) }",
            json!({ "id": unknown }),
            "WEBHOOK_NOT_FOUND",
        ),
        (
            "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { id } }",
            json!({ "d": "abc" }),
            "INVALID_INPUT",
        ),
        (
            "mutation($d: ID!) { redeliverWebhook(deliveryId: $d) { id } }",
            json!({ "d": "99999" }),
            "WEBHOOK_NOT_FOUND",
        ),
        (
            ALERT,
            json!({ "i": { "condition": "BELOW", "threshold": "1.00" } }),
            "INVALID_INPUT",
        ),
        (
            ALERT,
            json!({ "i": { "accountId": a, "currency": "USD", "condition": "BELOW", "threshold": "1.00" } }),
            "INVALID_INPUT",
        ),
        (
            ALERT,
            json!({ "i": { "accountId": a, "condition": "BELOW", "threshold": "1.001" } }),
            "INVALID_AMOUNT",
        ),
        (
            ALERT,
            json!({ "i": { "currency": "XXZ", "condition": "ABOVE", "threshold": "1" } }),
            "UNKNOWN_CURRENCY",
        ),
        (
            ALERT,
            json!({ "i": { "accountId": unknown, "condition": "ABOVE", "threshold": "1" } }),
            "ACCOUNT_NOT_FOUND",
        ),
        (
            "mutation($id: UUID!) { deleteBalanceAlert(id: $id) }",
            json!({ "id": unknown }),
            "ALERT_NOT_FOUND",
        ),
        (
            DELIVERIES.replace("first: 1000", "first: 1001").leak(),
            json!({}),
            "INVALID_INPUT",
        ),
    ];
    for (query, vars, code) in cases {
        let body = app.post(query, vars.clone()).await?;
        ensure!(code_of(&body)? == code, "{vars}: {body}");
    }
    let left = app
        .data(
            "{ webhookEndpoints { id } balanceAlerts { id } webhookDeliveries { id } }",
            json!({}),
        )
        .await?;
    ensure!(
        left == json!({ "webhookEndpoints": [], "balanceAlerts": [], "webhookDeliveries": [] }),
        "{left}"
    );
    ensure!(app.snapshot().await? == before, "refused input changed the ledger");
    app.assert_invariants().await
}

/// Three USD accounts with 1,000.00 each.
async fn funded_trio(app: &TestApp) -> Result<[Uuid; 3]> {
    let ids = [
        app.open("a", "USD", None).await?,
        app.open("b", "USD", None).await?,
        app.open("c", "USD", None).await?,
    ];
    for (i, id) in ids.iter().enumerate() {
        app.deposit(*id, "1000.00", &format!("d{i}")).await?;
    }
    Ok(ids)
}

/// `n` concurrent transfers of 1.00 among `ids`, every pair in both directions.
async fn transfers_among(app: &TestApp, ids: [Uuid; 3], n: usize) -> Result<()> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let gql = app.gql.clone();
            let (from, to) = (ids[i % 3], ids[(i + 1 + i / 3 % 2) % 3]);
            tokio::spawn(async move {
                let input = json!({ "fromAccountId": from, "toAccountId": to, "amount": "1.00", "idempotencyKey": format!("t{i}") });
                gql.data(tests::TRANSFER, json!({ "i": input })).await
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Checks that each of `ids` heard its entries in sequence order across the
/// `transfer.posted` bodies, in the order they were accepted; returns how
/// many entries were heard in all.
fn heard_in_order<'a>(events: impl Iterator<Item = &'a Value>, ids: [Uuid; 3]) -> Result<usize> {
    let mut heard: HashMap<String, Vec<i64>> = HashMap::new();
    for event in events {
        for e in event["data"]["entries"].as_array().into_iter().flatten() {
            heard
                .entry(e["accountId"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(e["sequence"].as_i64().unwrap_or_default());
        }
    }
    for id in ids {
        let seqs = heard.get(&id.to_string()).cloned().unwrap_or_default();
        ensure!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{id} heard out of order: {seqs:?}"
        );
    }
    Ok(heard.values().map(Vec::len).sum())
}

const ALERT: &str = "mutation($i: CreateBalanceAlertInput!) { createBalanceAlert(input: $i) { id } }";

fn kinds(r: &[tests::receiver::Received]) -> Vec<String> {
    r.iter().map(|x| x.kind.clone()).collect()
}

/// Waits until the endpoint has `n` deliveries in `status`; returns them.
async fn wait_status(app: &TestApp, endpoint: Uuid, status: &str, n: usize) -> Result<Vec<Value>> {
    let started = std::time::Instant::now();
    loop {
        let ds: Vec<Value> = deliveries(app, endpoint)
            .await?
            .into_iter()
            .filter(|d| d["status"] == status)
            .collect();
        if ds.len() >= n {
            return Ok(ds);
        }
        ensure!(
            started.elapsed() < Duration::from_secs(20),
            "{n} {status} deliveries never came: {:?}",
            deliveries(app, endpoint).await?
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
