//! Effective dates: imported history carries the time it took effect;
//! chains, sequences and the seal stay in commit order, and a balance can
//! be asked at either time, both exact. Dating a movement back beyond the
//! window needs the admin scope; a date in the future is refused.

use anyhow::{Result, ensure};
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use service::store::api_key::Scope;
use tests::{Backend, TestApp, both, code_of};
use uuid::Uuid;

both!(backdated_movements_keep_commit_order_and_answer_at_either_time);
tests::each_backend!(backdating_beyond_the_window_needs_the_admin_scope);

const DEPOSIT: &str =
    "mutation($i: DepositInput!) { deposit(input: $i) { id createdAt effectiveAt entries { sequence effectiveAt } } }";
const BALANCE_AT: &str =
    "query($id: UUID!, $at: DateTime!, $b: TimeBasis) { account(id: $id) { balanceAt(at: $at, basis: $b) } }";

fn ago(minutes: i64) -> String {
    (Utc::now() - Duration::minutes(minutes)).to_rfc3339()
}

async fn balance(app: &TestApp, id: Uuid, at: &str, basis: &str) -> Result<String> {
    let d = app.data(BALANCE_AT, json!({ "id": id, "at": at, "b": basis })).await?;
    Ok(d["account"]["balanceAt"].as_str().unwrap().to_owned())
}

async fn backdated_movements_keep_commit_order_and_answer_at_either_time(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "100.00", "now").await?;
    let three_hours_ago = ago(180);
    let d = app
        .data(
            DEPOSIT,
            json!({ "i": { "accountId": b, "amount": "40.00", "idempotencyKey": "import-1", "effectiveAt": three_hours_ago } }),
        )
        .await?;
    let effective = chrono::DateTime::parse_from_rfc3339(d["deposit"]["effectiveAt"].as_str().unwrap())?;
    let created = chrono::DateTime::parse_from_rfc3339(d["deposit"]["createdAt"].as_str().unwrap())?;
    ensure!(
        (effective.to_utc() - chrono::DateTime::parse_from_rfc3339(&three_hours_ago)?.to_utc())
            .num_milliseconds()
            .abs()
            < 1,
        "{d}"
    );
    ensure!(created > effective, "{d}");
    // The chain stays in commit order: b's first entry, whatever its date.
    ensure!(d["deposit"]["entries"][1]["sequence"] == json!(1), "{d}");
    app.data(
        tests::TRANSFER,
        json!({ "i": { "fromAccountId": b, "toAccountId": a, "amount": "10.00", "idempotencyKey": "import-2", "effectiveAt": ago(150) } }),
    )
    .await?;
    // By commit time nothing of it existed an hour ago; by effective time it did.
    for (at, commit, effective) in [
        (ago(60), "0.00", "30.00"),
        (ago(160), "0.00", "40.00"),
        (ago(240), "0.00", "0.00"),
        (ago(-1), "30.00", "30.00"),
    ] {
        ensure!(balance(&app, b, &at, "COMMIT").await? == commit, "commit at {at}");
        ensure!(
            balance(&app, b, &at, "EFFECTIVE").await? == effective,
            "effective at {at}"
        );
    }
    ensure!(balance(&app, b, &ago(60), "COMMIT").await? == balance_default(&app, b, &ago(60)).await?);
    // The key's request includes the date: same date replays, another is a reuse.
    let again = json!({ "i": { "accountId": b, "amount": "40.00", "idempotencyKey": "import-1", "effectiveAt": three_hours_ago } });
    let replay = app.data(DEPOSIT, again).await?;
    ensure!(replay["deposit"]["id"] == d["deposit"]["id"], "{replay}");
    let before = app.snapshot().await?;
    let other =
        json!({ "i": { "accountId": b, "amount": "40.00", "idempotencyKey": "import-1", "effectiveAt": ago(170) } });
    ensure!(code_of(&app.post(DEPOSIT, other).await?)? == "IDEMPOTENCY_KEY_REUSED");
    let future =
        json!({ "i": { "accountId": b, "amount": "1.00", "idempotencyKey": "later", "effectiveAt": ago(-60) } });
    let body = app.post(DEPOSIT, future).await?;
    ensure!(code_of(&body)? == "INVALID_INPUT", "{body}");
    ensure!(app.snapshot().await? == before, "a refused date wrote something");
    app.assert_invariants().await?;
    // The date is under the hashes: changing it is caught.
    app.tamper("UPDATE transfer SET effective_at = '2001-01-01T00:00:00Z' WHERE idempotency_key = 'import-1'")
        .await?;
    let v = service::verify::verify(&app.ledger).await?;
    ensure!(!v.ok(), "a changed effectiveAt went unnoticed");
    Ok(())
}

async fn balance_default(app: &TestApp, id: Uuid, at: &str) -> Result<String> {
    let d = app
        .data(
            "query($id: UUID!, $at: DateTime!) { account(id: $id) { balanceAt(at: $at) } }",
            json!({ "id": id, "at": at }),
        )
        .await?;
    Ok(d["account"]["balanceAt"].as_str().unwrap().to_owned())
}

async fn backdating_beyond_the_window_needs_the_admin_scope(backend: Backend) -> Result<()> {
    let app = tests::spawn_app(backend).await?;
    let a = app.open("a", "USD", None).await?;
    let keys = app.keys(&[("writer", Scope::Write), ("admin", Scope::Admin)]).await?;
    let deposit = |key: &str, at: String| json!({ "i": { "accountId": a, "amount": "5.00", "idempotencyKey": key, "effectiveAt": at } });
    let (status, body) = app
        .post_as(Some(&keys[0]), DEPOSIT, deposit("w-recent", ago(60)))
        .await?;
    ensure!(status == 200 && body.get("errors").is_none(), "{body}");
    let before = app.snapshot().await?;
    let (status, body) = app
        .post_as(Some(&keys[0]), DEPOSIT, deposit("w-old", ago(3 * 24 * 60)))
        .await?;
    ensure!(status == 403 && code_of(&body)? == "FORBIDDEN", "{status} {body}");
    // Also inside a batch, where one item's date decides for the request.
    let items: Vec<Value> = [ago(10), ago(3 * 24 * 60)]
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            json!({ "fromAccountId": a, "toAccountId": a, "amount": "1.00", "idempotencyKey": format!("b{i}"), "effectiveAt": at })
        })
        .collect();
    let (status, body) = app
        .post_as(
            Some(&keys[0]),
            tests::POST_TRANSFERS,
            json!({ "i": { "transfers": items } }),
        )
        .await?;
    ensure!(status == 403 && code_of(&body)? == "FORBIDDEN", "{status} {body}");
    ensure!(app.snapshot().await? == before, "a refused backdating wrote something");
    let (status, body) = app
        .post_as(Some(&keys[1]), DEPOSIT, deposit("a-old", ago(3 * 24 * 60)))
        .await?;
    ensure!(status == 200 && body.get("errors").is_none(), "{body}");
    Ok(())
}
