use anyhow::Result;
use futures::future::join_all;
use serde_json::{Value, json};
use tests::{TestApp, both, code_of};
use uuid::Uuid;

both!(
    update_account_is_a_compare_and_swap_on_version,
    archiving_refuses_money_unless_it_sweeps_and_then_freezes_the_account,
    merges_racing_with_transfers_lose_nothing,
    custom_currencies_have_their_own_scale,
);

const UPDATE: &str = "mutation($i: UpdateAccountInput!) { updateAccount(input: $i) { version minBalance metadata } }";
const ARCHIVE: &str = "mutation($i: ArchiveAccountInput!) { archiveAccount(input: $i) { account { status balance } transfer { kind amount } accounts { code balance } } }";
const MERGE: &str =
    "mutation($i: MergeAccountsInput!) { mergeAccounts(input: $i) { account { status balance } transfer { amount } } }";

fn update(id: Uuid, version: i64, min: &str) -> Value {
    json!({ "i": { "id": id, "expectedVersion": version, "minBalance": min, "metadata": { "v": version } } })
}

async fn update_account_is_a_compare_and_swap_on_version(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let d = app.data(UPDATE, update(a, 1, "-10.00")).await?;
    assert_eq!(d["updateAccount"]["version"], 2);
    assert_eq!(d["updateAccount"]["minBalance"], "-10.00");
    assert_eq!(
        code_of(&app.post(UPDATE, update(a, 1, "-20.00")).await?)?,
        "VERSION_CONFLICT"
    );
    let racing = join_all((0..2).map(|_| app.post(UPDATE, update(a, 2, "-30.00")))).await;
    let codes: Vec<Option<String>> = racing
        .into_iter()
        .map(|r| r.ok().and_then(|b| code_of(&b).ok()))
        .collect();
    assert_eq!(codes.iter().filter(|c| c.is_none()).count(), 1, "{codes:?}");
    assert_eq!(
        codes
            .iter()
            .filter(|c| c.as_deref() == Some("VERSION_CONFLICT"))
            .count(),
        1
    );
    assert_eq!(code_of(&app.withdraw(a, "30.01", "w").await?)?, "INSUFFICIENT_FUNDS");
    app.withdraw(a, "30.00", "w2").await?;
    app.assert_invariants().await
}

async fn archiving_refuses_money_unless_it_sweeps_and_then_freezes_the_account(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    app.deposit(a, "10.00", "seed").await?;
    app.hold(a, b, "3.00", "h", 60_000).await?;
    let plain = json!({ "i": { "id": a, "idempotencyKey": "arch0" } });
    assert_eq!(code_of(&app.post(ARCHIVE, plain).await?)?, "ACCOUNT_NOT_EMPTY");
    let sweep = json!({ "i": { "id": a, "idempotencyKey": "arch1", "sweepToAccountId": b } });
    let d = app.data(ARCHIVE, sweep.clone()).await?;
    let p = &d["archiveAccount"];
    assert_eq!(p["account"]["status"], "ARCHIVED");
    assert_eq!(p["account"]["balance"], "0.00");
    assert_eq!(p["transfer"]["kind"], "SWEEP");
    assert_eq!(p["transfer"]["amount"], "10.00");
    assert_eq!(app.available(a).await?, "0.00");
    assert_eq!(app.balance(b).await?, "10.00");
    let again = app.data(ARCHIVE, sweep).await?;
    assert_eq!(again["archiveAccount"]["account"]["status"], "ARCHIVED");
    let before = app.snapshot().await?;
    assert_eq!(code_of(&app.deposit(a, "1.00", "d").await?)?, "ACCOUNT_ARCHIVED");
    assert_eq!(code_of(&app.transfer(b, a, "1.00", "t").await?)?, "ACCOUNT_ARCHIVED");
    assert_eq!(
        code_of(&app.post(UPDATE, update(a, 4, "0")).await?)?,
        "ACCOUNT_ARCHIVED"
    );
    assert_eq!(app.snapshot().await?, before);
    let read = app
        .data("query($id: UUID!) { account(id: $id) { status } }", json!({ "id": a }))
        .await?;
    assert_eq!(read["account"]["status"], "ARCHIVED");
    let empty = app.open("empty", "USD", None).await?;
    let d = app
        .data(ARCHIVE, json!({ "i": { "id": empty, "idempotencyKey": "arch2" } }))
        .await?;
    assert_eq!(d["archiveAccount"]["transfer"], Value::Null);
    app.assert_invariants().await
}

async fn merges_racing_with_transfers_lose_nothing(app: TestApp) -> Result<()> {
    let payer = app.open("payer", "USD", None).await?;
    let source = app.open("source", "USD", None).await?;
    let target = app.open("target", "USD", None).await?;
    app.deposit(payer, "1000.00", "seed").await?;
    app.deposit(source, "50.00", "seed2").await?;
    let transfers = join_all((0..40).map(|i| {
        let app = &app;
        async move { app.transfer(payer, source, "1.00", &format!("p{i}")).await }
    }));
    let merge = app.post(
        MERGE,
        json!({ "i": { "sourceId": source, "targetId": target, "idempotencyKey": "m" } }),
    );
    let (results, merged) = tokio::join!(transfers, merge);
    let merged = merged?;
    assert_eq!(
        merged["data"]["mergeAccounts"]["account"]["status"], "ARCHIVED",
        "{merged}"
    );
    let mut delivered = 0;
    for r in results {
        let body = r?;
        match body["data"]["transfer"]["id"].is_string() {
            true => delivered += 1,
            false => assert_eq!(code_of(&body)?, "ACCOUNT_ARCHIVED"),
        }
    }
    let expected_payer = rust_decimal::Decimal::from(1000 - delivered);
    let expected_target = rust_decimal::Decimal::from(50 + delivered);
    assert_eq!(app.balance(source).await?, "0.00");
    assert_eq!(
        app.balance(payer).await?.parse::<rust_decimal::Decimal>()?,
        expected_payer
    );
    assert_eq!(
        app.balance(target).await?.parse::<rust_decimal::Decimal>()?,
        expected_target
    );
    app.assert_invariants().await
}

async fn custom_currencies_have_their_own_scale(app: TestApp) -> Result<()> {
    let create = "mutation($i: CreateCurrencyInput!) { createCurrency(input: $i) { code scale } }";
    let d = app
        .data(create, json!({ "i": { "code": "POINTS", "scale": 0 } }))
        .await?;
    assert_eq!(d["createCurrency"]["scale"], 0);
    app.data(create, json!({ "i": { "code": "GAS", "scale": 18 } })).await?;
    assert_eq!(
        code_of(
            &app.post(create, json!({ "i": { "code": "POINTS", "scale": 2 } }))
                .await?
        )?,
        "DUPLICATE_CURRENCY"
    );
    assert_eq!(
        code_of(&app.post(create, json!({ "i": { "code": "BIG", "scale": 19 } })).await?)?,
        "INVALID_INPUT"
    );
    assert_eq!(
        code_of(
            &app.post(create, json!({ "i": { "code": "bad code", "scale": 2 } }))
                .await?
        )?,
        "INVALID_INPUT"
    );
    let p = app.open("p", "POINTS", None).await?;
    assert_eq!(code_of(&app.deposit(p, "1.5", "d0").await?)?, "INVALID_AMOUNT");
    app.deposit(p, "1500", "d1").await?;
    assert_eq!(app.balance(p).await?, "1500");
    let g = app.open("g", "GAS", None).await?;
    app.deposit(g, "0.000000000000000001", "g1").await?;
    assert_eq!(app.balance(g).await?, "0.000000000000000001");
    app.assert_invariants().await
}
