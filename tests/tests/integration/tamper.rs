//! Tampering done directly in the database is reported by verifyLedger with
//! the account and the sequence of the first broken entry.

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use tests::{Backend, TestApp, both, code_of, uuid_at};
use uuid::Uuid;

both!(
    an_edited_entry_amount_is_reported_at_its_sequence,
    a_deleted_entry_is_reported_as_missing,
    a_changed_stored_balance_is_reported,
    an_entry_whose_transfer_was_deleted_is_named,
    a_transfer_pointed_at_an_account_that_does_not_exist_is_reported,
    a_transfer_whose_entry_positions_were_moved_is_named,
    stored_values_no_version_wrote_are_internal_errors_not_plausible_answers,
);

/// A UUID literal in the backend's storage form.
fn id_sql(app: &TestApp, id: Uuid) -> String {
    match app.backend {
        Backend::Postgres => format!("'{id}'"),
        Backend::Sqlite => format!("X'{}'", hex::encode(id.as_bytes())),
    }
}

async fn ledger_with_history(app: &TestApp) -> Result<Uuid> {
    let a = app.open("victim", "USD", None).await?;
    let b = app.open("other", "USD", None).await?;
    for (i, amount) in ["10.00", "20.00", "30.00", "40.00"].into_iter().enumerate() {
        app.deposit(a, amount, &format!("d{i}")).await?;
    }
    app.transfer(a, b, "5.00", "t").await?;
    app.assert_invariants().await?;
    Ok(a)
}

async fn problems(app: &TestApp) -> Result<Vec<Value>> {
    let data = app
        .data(
            "{ verifyLedger { ok accountsChecked entriesChecked problems { accountId transferId sequence message } } }",
            json!({}),
        )
        .await?;
    ensure!(
        data["verifyLedger"]["ok"] == json!(false),
        "tampering went unnoticed: {data}"
    );
    app.verify_both_ways().await?;
    Ok(data["verifyLedger"]["problems"].as_array().cloned().unwrap())
}

/// Whether some problem names a transfer with a message containing `message`.
fn names_a_transfer(problems: &[Value], message: &str) -> bool {
    problems
        .iter()
        .any(|p| p["transferId"].is_string() && p["message"].as_str().is_some_and(|m| m.contains(message)))
}

fn reported(problems: &[Value], account: Uuid, sequence: i64) -> bool {
    problems
        .iter()
        .any(|p| p["accountId"] == json!(account.to_string()) && p["sequence"] == json!(sequence))
}

async fn an_edited_entry_amount_is_reported_at_its_sequence(app: TestApp) -> Result<()> {
    let a = ledger_with_history(&app).await?;
    app.tamper(&format!(
        "UPDATE entry SET amount = '200.00' WHERE account_id = {} AND sequence = 2",
        id_sql(&app, a)
    ))
    .await?;
    let found = problems(&app).await?;
    assert!(reported(&found, a, 2), "{found:?}");
    Ok(())
}

async fn a_deleted_entry_is_reported_as_missing(app: TestApp) -> Result<()> {
    let a = ledger_with_history(&app).await?;
    app.tamper(&format!(
        "DELETE FROM entry WHERE account_id = {} AND sequence = 3",
        id_sql(&app, a)
    ))
    .await?;
    let found = problems(&app).await?;
    assert!(reported(&found, a, 3), "{found:?}");
    assert!(
        found.iter().any(|p| p["transferId"].is_string()),
        "the half-deleted transfer is not reported: {found:?}"
    );
    Ok(())
}

async fn a_changed_stored_balance_is_reported(app: TestApp) -> Result<()> {
    let a = ledger_with_history(&app).await?;
    app.tamper(&format!(
        "UPDATE account SET balance = '1000000.00' WHERE id = {}",
        id_sql(&app, a)
    ))
    .await?;
    let found = problems(&app).await?;
    assert!(reported(&found, a, 5), "{found:?}");
    assert!(
        found
            .iter()
            .any(|p| p["accountId"].is_null() && p["message"].as_str().is_some_and(|m| m.contains("USD"))),
        "{found:?}"
    );
    Ok(())
}

/// The transfer row goes, its entries stay: each walk must name the entries
/// (not mistake them for a gap in the chain).
async fn an_entry_whose_transfer_was_deleted_is_named(app: TestApp) -> Result<()> {
    let a = ledger_with_history(&app).await?;
    let a_sql = id_sql(&app, a);
    app.tamper(&format!(
        "DELETE FROM journal WHERE transfer_id = (SELECT transfer_id FROM entry WHERE account_id = {a_sql} AND sequence = 2); \
         {}; \
         DELETE FROM transfer WHERE id = (SELECT transfer_id FROM entry WHERE account_id = {a_sql} AND sequence = 2)",
        app.unqueue_sql(&format!("(SELECT transfer_id FROM entry WHERE account_id = {a_sql} AND sequence = 2)"))
    ))
    .await?;
    let found = problems(&app).await?;
    let named = |p: &Value| {
        p["accountId"] == json!(a.to_string())
            && p["sequence"] == json!(2)
            && p["message"]
                .as_str()
                .is_some_and(|m| m.contains("belongs to no transfer"))
    };
    assert!(found.iter().any(named), "{found:?}");
    assert!(
        !found
            .iter()
            .any(|p| p["message"].as_str().is_some_and(|m| m.contains("is missing (found"))),
        "an existing entry was reported missing: {found:?}"
    );
    Ok(())
}

/// On PostgreSQL no foreign key ties a transfer to its accounts (its
/// entries' keys do, migration 5): a transfer rewritten to debit an account
/// that does not exist must still be reported, naming the transfer.
async fn a_transfer_pointed_at_an_account_that_does_not_exist_is_reported(app: TestApp) -> Result<()> {
    let a = ledger_with_history(&app).await?;
    let (a_sql, nowhere) = (id_sql(&app, a), id_sql(&app, Uuid::now_v7()));
    let t = format!("(SELECT transfer_id FROM entry WHERE account_id = {a_sql} AND sequence = 5)");
    app.tamper(&format!(
        "UPDATE transfer SET debit_account_id = {nowhere} WHERE id = {t}"
    ))
    .await?;
    let found = problems(&app).await?;
    assert!(
        names_a_transfer(&found, "do not match the transfer's accounts"),
        "{found:?}"
    );
    let read = app
        .post(
            "query($a: UUID!) { account(id: $a) { entries(last: 1) { edges { node { transfer { fromAccount { id } } } } } } }",
            json!({ "a": a }),
        )
        .await?;
    ensure_internal(&read, "a transfer whose debit account is gone")?;
    Ok(())
}

/// A transfer records where its entries sit (readers find them there, not
/// by an index): a moved position is named, though every chain is intact.
async fn a_transfer_whose_entry_positions_were_moved_is_named(app: TestApp) -> Result<()> {
    let a = ledger_with_history(&app).await?;
    let a_sql = id_sql(&app, a);
    let t = format!("(SELECT transfer_id FROM entry WHERE account_id = {a_sql} AND sequence = 5)");
    app.tamper(&format!(
        "UPDATE transfer SET debit_sequence = debit_sequence - 1 WHERE id = {t}"
    ))
    .await?;
    let found = problems(&app).await?;
    assert!(
        names_a_transfer(&found, "entry positions do not point at its entries"),
        "{found:?}"
    );
    assert_eq!(found.len(), 1, "only the transfer is wrong: {found:?}");
    Ok(())
}

/// The answer must be a masked INTERNAL error, never INVALID_INPUT or a guess.
fn ensure_internal(body: &Value, what: &str) -> Result<()> {
    ensure!(code_of(body)? == "INTERNAL", "{what}: {body}");
    ensure!(
        body["errors"][0]["message"] == json!("internal error"),
        "{what} is not masked: {body}"
    );
    Ok(())
}

/// A transfer kind, account status or recorded error code that no version
/// of Tally writes is an integrity error (INTERNAL), not a plausible value
/// (a TRANSFER, an ACTIVE account, an INTERNAL refusal replayed as a refusal).
async fn stored_values_no_version_wrote_are_internal_errors_not_plausible_answers(app: TestApp) -> Result<()> {
    let a = ledger_with_history(&app).await?;
    let refused = app.withdraw(a, "500.00", "too-much").await?;
    ensure!(code_of(&refused)? == "INSUFFICIENT_FUNDS", "{refused}");
    let t = uuid_at(&app.deposit(a, "1.00", "d-last").await?["data"]["deposit"]["id"])?;
    let a_sql = id_sql(&app, a);
    app.tamper(&format!(
        "UPDATE transfer SET kind = 'GIFT' WHERE id = {}; \
         UPDATE idempotency SET error_code = 'NOT_A_CODE' WHERE key = 'too-much'; \
         UPDATE account SET status = 'FROZEN', version = version + 1 WHERE id = {a_sql}",
        id_sql(&app, t)
    ))
    .await?;
    let kind = app
        .post("query($id: UUID!) { transfer(id: $id) { kind } }", json!({ "id": t }))
        .await?;
    ensure_internal(&kind, "an unknown transfer kind")?;
    let status = app
        .post("query($id: UUID!) { account(id: $id) { status } }", json!({ "id": a }))
        .await?;
    ensure_internal(&status, "an unknown account status")?;
    let before = app.snapshot().await?;
    ensure_internal(
        &app.withdraw(a, "500.00", "too-much").await?,
        "an unknown recorded code",
    )?;
    ensure_internal(
        &app.deposit(a, "1.00", "d-frozen").await?,
        "a deposit into an unknown status",
    )?;
    ensure!(app.snapshot().await? == before, "an integrity error wrote something");
    Ok(())
}
