//! Every recorded refusal, retried under its key: the same code and message
//! come back and nothing is written (issue: a retried ACCOUNT_ARCHIVED came
//! back as INTERNAL, because the replay only knew half the codes).

use std::collections::BTreeSet;

use anyhow::{Result, ensure};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use service::ErrorCode;
use service::entity::idempotency;
use tests::{CAPTURE_HOLD, DEPOSIT, REVERSE, TRANSFER, TestApp, VOID_HOLD, both, code_of, uuid_at};
use uuid::Uuid;

both!(every_recorded_refusal_replays_its_code_and_message_and_writes_nothing);

const ARCHIVE: &str = "mutation($i: ArchiveAccountInput!) { archiveAccount(input: $i) { account { status } } }";

/// One refusal to make: the code it must give, the request, its variables.
struct Case {
    code: ErrorCode,
    query: &'static str,
    vars: Value,
}

fn case(code: ErrorCode, query: &'static str, input: Value) -> Case {
    Case {
        code,
        query,
        vars: json!({ "i": input }),
    }
}

async fn every_recorded_refusal_replays_its_code_and_message_and_writes_nothing(app: TestApp) -> Result<()> {
    let cases = cases(&app).await?;
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.code.as_str()).collect();
    let recorded: BTreeSet<&str> = ErrorCode::ALL
        .iter()
        .filter(|c| c.is_recorded())
        .map(|c| c.as_str())
        .collect();
    ensure!(
        covered == recorded,
        "every recorded code needs a case here: covered {covered:?}, recorded {recorded:?}"
    );
    for c in cases {
        let first = app.post(c.query, c.vars.clone()).await?;
        ensure!(
            code_of(&first)? == c.code.as_str(),
            "expected {}: {first}",
            c.code.as_str()
        );
        let before = (app.snapshot().await?, records(&app).await?);
        let retry = app.post(c.query, c.vars).await?;
        ensure!(
            retry["errors"] == first["errors"],
            "the retry of {} answered differently:\n{first}\n{retry}",
            c.code.as_str()
        );
        ensure!(
            (app.snapshot().await?, records(&app).await?) == before,
            "the retry of {} wrote something",
            c.code.as_str()
        );
    }
    app.assert_invariants().await
}

async fn records(app: &TestApp) -> Result<u64> {
    Ok(idempotency::Entity::find().count(&app.db).await?)
}

/// A ledger with one situation per recorded code, and the request that meets it.
async fn cases(app: &TestApp) -> Result<Vec<Case>> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    let e = app.open("e", "EUR", None).await?;
    let gone = app.open("gone", "USD", None).await?;
    app.data(
        ARCHIVE,
        json!({ "i": { "id": gone, "idempotencyKey": "archive-gone" } }),
    )
    .await?;
    app.deposit(a, "10.00", "seed").await?;
    let t = uuid_at(&app.transfer(a, b, "2.00", "t").await?["data"]["transfer"]["id"])?;
    let reversal = app
        .data(
            REVERSE,
            json!({ "i": { "transferId": t, "amount": "1.00", "idempotencyKey": "r" } }),
        )
        .await?;
    let r = uuid_at(&reversal["reverseTransfer"]["id"])?;
    let voided = uuid_at(&app.hold(a, b, "1.00", "h-void", 60_000).await?["data"]["createHold"]["id"])?;
    app.data(
        VOID_HOLD,
        json!({ "i": { "holdId": voided, "idempotencyKey": "void" } }),
    )
    .await?;
    let expiring = uuid_at(&app.hold(a, b, "1.00", "h-exp", 300).await?["data"]["createHold"]["id"])?;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let nobody = Uuid::now_v7();
    let money = |account: Uuid, key: &str| json!({ "accountId": account, "amount": "1.00", "idempotencyKey": key });
    let capture = |hold: Uuid, key: &str| json!({ "holdId": hold, "idempotencyKey": key });
    let reverse = |transfer: Uuid, amount: &str, key: &str| json!({ "transferId": transfer, "amount": amount, "idempotencyKey": key });
    Ok(vec![
        case(ErrorCode::AccountNotFound, DEPOSIT, money(nobody, "k-nf")),
        case(ErrorCode::TransferNotFound, REVERSE, reverse(nobody, "1.00", "k-tnf")),
        case(
            ErrorCode::CurrencyMismatch,
            TRANSFER,
            json!({ "fromAccountId": a, "toAccountId": e, "amount": "1.00", "idempotencyKey": "k-cm" }),
        ),
        case(
            ErrorCode::InsufficientFunds,
            TRANSFER,
            json!({ "fromAccountId": b, "toAccountId": a, "amount": "99.00", "idempotencyKey": "k-if" }),
        ),
        case(ErrorCode::AccountArchived, DEPOSIT, money(gone, "k-arch")),
        case(
            ErrorCode::AccountNotEmpty,
            ARCHIVE,
            json!({ "id": a, "idempotencyKey": "k-ne" }),
        ),
        case(ErrorCode::HoldNotFound, CAPTURE_HOLD, capture(nobody, "k-hnf")),
        case(ErrorCode::HoldNotPending, CAPTURE_HOLD, capture(voided, "k-hnp")),
        case(ErrorCode::HoldExpired, CAPTURE_HOLD, capture(expiring, "k-hexp")),
        case(ErrorCode::ReversalNotAllowed, REVERSE, reverse(r, "0.50", "k-rna")),
        case(ErrorCode::ReversalExceedsOriginal, REVERSE, reverse(t, "1.50", "k-reo")),
    ])
}
