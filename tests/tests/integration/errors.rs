//! Every error code: the code, a readable message, and nothing written.

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use tests::{DEPOSIT, TRANSFER, TestApp, both, code_of};
use uuid::Uuid;

both!(
    bad_amounts_are_invalid_amount_and_write_nothing,
    malformed_input_is_invalid_input_and_writes_nothing,
    business_refusals_carry_their_codes_and_write_nothing,
    account_codes_are_unique_and_currencies_must_exist,
    internal_failures_are_masked,
    text_no_database_can_store_is_invalid_input,
);

/// Sends `query`, expects `code`, and checks that no balance, entry or transfer changed.
async fn refused(app: &TestApp, query: &str, vars: Value, code: &str) -> Result<Value> {
    let before = app.snapshot().await?;
    let body = app.post(query, vars).await?;
    ensure!(code_of(&body)? == code, "expected {code}, got {body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    ensure!(!message.is_empty(), "empty message: {body}");
    ensure!(
        app.snapshot().await? == before,
        "a refused request wrote something: {body}"
    );
    Ok(body)
}

fn deposit(account: Uuid, amount: Value, key: &str) -> Value {
    json!({ "i": { "accountId": account, "amount": amount, "idempotencyKey": key } })
}

async fn bad_amounts_are_invalid_amount_and_write_nothing(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let y = app.open("y", "JPY", None).await?;
    app.deposit(a, "10", "seed").await?;
    let bad = [
        json!("0.001"),
        json!("0"),
        json!("-5.00"),
        json!(12.5),
        json!(9007199254740993_u64),
        json!("1e3"),
        json!("12,50"),
        json!(" 1"),
        json!("abc"),
        json!(""),
        json!("123456789012345678901.00"),
        json!(null),
    ];
    for (i, amount) in bad.into_iter().enumerate() {
        let key = format!("bad-{i}");
        let body = app.post(DEPOSIT, deposit(a, amount.clone(), &key)).await?;
        let expected = if amount.is_null() {
            "INVALID_INPUT"
        } else {
            "INVALID_AMOUNT"
        };
        ensure!(code_of(&body)? == expected, "{amount}: {body}");
    }
    refused(&app, DEPOSIT, deposit(y, json!("1.5"), "yen-frac"), "INVALID_AMOUNT").await?;
    refused(&app, DEPOSIT, deposit(a, json!("0.001"), "mill"), "INVALID_AMOUNT").await?;
    assert_eq!(app.balance(a).await?, "10.00");
    app.assert_invariants().await
}

async fn malformed_input_is_invalid_input_and_writes_nothing(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    refused(&app, DEPOSIT, deposit(a, json!("1"), ""), "INVALID_INPUT").await?;
    refused(&app, DEPOSIT, deposit(a, json!("1"), &"k".repeat(256)), "INVALID_INPUT").await?;
    let bad_uuid = json!({ "i": { "accountId": "not-a-uuid", "amount": "1", "idempotencyKey": "k" } });
    refused(&app, DEPOSIT, bad_uuid, "INVALID_INPUT").await?;
    refused(
        &app,
        "mutation { deposit(input: {}) { id } }",
        json!({}),
        "INVALID_INPUT",
    )
    .await?;
    refused(&app, "{ nope }", json!({}), "INVALID_INPUT").await?;
    refused(
        &app,
        "{ accounts(first: 5000) { edges { cursor } } }",
        json!({}),
        "INVALID_INPUT",
    )
    .await?;
    refused(
        &app,
        "{ accounts(after: \"garbage\") { edges { cursor } } }",
        json!({}),
        "INVALID_INPUT",
    )
    .await?;
    let create = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }";
    refused(
        &app,
        create,
        json!({ "i": { "code": "", "currency": "USD" } }),
        "INVALID_INPUT",
    )
    .await?;
    refused(
        &app,
        create,
        json!({ "i": { "code": "world:USD", "currency": "USD" } }),
        "INVALID_INPUT",
    )
    .await?;
    refused(
        &app,
        create,
        json!({ "i": { "code": "c", "currency": "USD", "minBalance": "0.001" } }),
        "INVALID_AMOUNT",
    )
    .await?;
    let long =
        json!({ "i": { "accountId": a, "amount": "1", "idempotencyKey": "d", "description": "x".repeat(1001) } });
    refused(&app, DEPOSIT, long, "INVALID_INPUT").await?;
    // A malformed request is not recorded: the key is still free afterwards.
    let ok = app.deposit(a, "1", "k").await?;
    assert_eq!(ok["data"]["deposit"]["amount"], "1.00");
    app.assert_invariants().await
}

async fn business_refusals_carry_their_codes_and_write_nothing(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    let e = app.open("e", "EUR", None).await?;
    app.deposit(a, "10.00", "seed").await?;
    let transfer = |from: Uuid, to: Uuid, amount: &str, key: &str| json!({ "i": { "fromAccountId": from, "toAccountId": to, "amount": amount, "idempotencyKey": key } });
    let missing = Uuid::now_v7();
    refused(&app, TRANSFER, transfer(a, missing, "1", "t1"), "ACCOUNT_NOT_FOUND").await?;
    refused(&app, TRANSFER, transfer(missing, a, "1", "t2"), "ACCOUNT_NOT_FOUND").await?;
    refused(&app, DEPOSIT, deposit(missing, json!("1"), "t3"), "ACCOUNT_NOT_FOUND").await?;
    refused(&app, TRANSFER, transfer(a, e, "1", "t4"), "CURRENCY_MISMATCH").await?;
    refused(&app, TRANSFER, transfer(a, a, "1", "t5"), "SAME_ACCOUNT").await?;
    refused(&app, TRANSFER, transfer(a, b, "10.01", "t6"), "INSUFFICIENT_FUNDS").await?;
    let w = json!({ "i": { "accountId": b, "amount": "0.01", "idempotencyKey": "t7" } });
    refused(&app, tests::WITHDRAW, w, "INSUFFICIENT_FUNDS").await?;
    refused(
        &app,
        DEPOSIT,
        deposit(a, json!("2.00"), "seed"),
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await?;
    assert_eq!(app.balance(a).await?, "10.00");
    assert_eq!(app.balance(b).await?, "0.00");
    app.assert_invariants().await
}

async fn account_codes_are_unique_and_currencies_must_exist(app: TestApp) -> Result<()> {
    app.open("taken", "USD", None).await?;
    let create = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }";
    refused(
        &app,
        create,
        json!({ "i": { "code": "taken", "currency": "EUR" } }),
        "DUPLICATE_ACCOUNT_CODE",
    )
    .await?;
    refused(
        &app,
        create,
        json!({ "i": { "code": "x", "currency": "XYZ" } }),
        "UNKNOWN_CURRENCY",
    )
    .await?;
    refused(
        &app,
        create,
        json!({ "i": { "code": "x", "currency": "usd" } }),
        "UNKNOWN_CURRENCY",
    )
    .await?;
    app.assert_invariants().await
}

async fn internal_failures_are_masked(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    app.sql("DROP TABLE idempotency").await?;
    let body = app.deposit(a, "1", "k").await?;
    assert_eq!(code_of(&body)?, "INTERNAL");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert_eq!(message, "internal error");
    let text = body.to_string().to_lowercase();
    for leak in ["idempotency", "relation", "sql", "table", "panic"] {
        assert!(!text.contains(leak), "response leaks {leak}: {body}");
    }
    Ok(())
}

/// PostgreSQL text cannot hold U+0000, so no backend accepts it: the same
/// request gets the same answer on SQLite and PostgreSQL.
async fn text_no_database_can_store_is_invalid_input(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let nul = "a\u{0}b";
    refused(&app, DEPOSIT, deposit(a, json!("1"), nul), "INVALID_INPUT").await?;
    let described = json!({ "i": { "accountId": a, "amount": "1", "idempotencyKey": "d1", "description": nul } });
    refused(&app, DEPOSIT, described, "INVALID_INPUT").await?;
    let tagged = json!({ "i": { "accountId": a, "amount": "1", "idempotencyKey": "d2", "metadata": { "k": nul } } });
    refused(&app, DEPOSIT, tagged, "INVALID_INPUT").await?;
    let keyed = json!({ "i": { "accountId": a, "amount": "1", "idempotencyKey": "d3", "metadata": { nul: 1 } } });
    refused(&app, DEPOSIT, keyed, "INVALID_INPUT").await?;
    let create = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }";
    refused(
        &app,
        create,
        json!({ "i": { "code": nul, "currency": "USD" } }),
        "INVALID_INPUT",
    )
    .await?;
    // None of them was recorded: the keys are free.
    let ok = app.deposit(a, "1", "d1").await?;
    assert_eq!(ok["data"]["deposit"]["amount"], "1.00");
    app.assert_invariants().await
}

/// The README's error table is the declared one: same codes, same order,
/// same recorded flag, same text (the table in `service/src/error.rs`).
#[test]
fn the_readme_error_table_is_the_declared_table() -> Result<()> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))?;
    let section = readme
        .split("\n## Error codes\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .ok_or_else(|| anyhow::anyhow!("README has no \"## Error codes\" section"))?;
    let documented: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(str::to_owned)
        .collect();
    let declared: Vec<String> = service::ErrorCode::ALL
        .iter()
        .map(|c| {
            let recorded = if c.is_recorded() { "yes" } else { "no" };
            format!("| `{}` | {recorded} | {} |", c.as_str(), c.description())
        })
        .collect();
    ensure!(
        documented == declared,
        "README's error table differs from service/src/error.rs; it should read:\n{}",
        declared.join("\n")
    );
    for code in service::ErrorCode::ALL {
        ensure!(
            service::ErrorCode::parse(code.as_str()) == Some(*code),
            "{code:?} does not parse back"
        );
    }
    Ok(())
}
