//! Currency exchange: atomic, through each currency's exchange account so
//! that every currency still sums to zero, with the rate and rounding rule
//! recorded and the leftover fraction accounted for; refusals coded and,
//! where they are business refusals, recorded for replay; concurrent
//! exchanges conserve money.

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use tests::{TestApp, both, code_of};

both!(
    an_exchange_converts_through_the_exchange_accounts_and_records_its_rounding,
    bad_exchanges_are_refused_with_their_codes,
    concurrent_exchanges_conserve_every_currency,
);

const EXCHANGE: &str = "mutation($i: ExchangeInput!) { exchange(input: $i) { \
    transfers { id kind amount currency fromAccount { code } toAccount { code } exchange { rate remainder } } \
    exchange { sourceCurrency sourceAmount targetCurrency targetAmount rate priced rounding exactTargetAmount remainder } } }";

fn input(from: uuid::Uuid, to: uuid::Uuid, amount: &str, key: &str, extra: Value) -> Value {
    let mut i = json!({ "fromAccountId": from, "toAccountId": to, "amount": amount, "idempotencyKey": key });
    if let (Some(i), Value::Object(extra)) = (i.as_object_mut(), extra) {
        i.extend(extra);
    }
    json!({ "i": i })
}

async fn code_balance(app: &TestApp, code: &str) -> Result<String> {
    let d = app
        .data(
            "query($c: String!) { accountByCode(code: $c) { balance } }",
            json!({ "c": code }),
        )
        .await?;
    Ok(d["accountByCode"]["balance"].as_str().unwrap_or("none").to_owned())
}

async fn an_exchange_converts_through_the_exchange_accounts_and_records_its_rounding(app: TestApp) -> Result<()> {
    let u = app.open("u", "USD", None).await?;
    let e = app.open("e", "EUR", None).await?;
    let j = app.open("j", "JPY", None).await?;
    app.deposit(u, "100.00", "d").await?;
    let d = app
        .data(EXCHANGE, input(u, e, "10.00", "x1", json!({ "rate": "0.923456" })))
        .await?;
    let x = &d["exchange"]["exchange"];
    ensure!(
        *x == json!({ "sourceCurrency": "USD", "sourceAmount": "10.00", "targetCurrency": "EUR", "targetAmount": "9.23",
                      "rate": "0.923456", "priced": "RATE", "rounding": "HALF_EVEN", "exactTargetAmount": "9.23456",
                      "remainder": "0.00456" }),
        "{d}"
    );
    let legs = d["exchange"]["transfers"].as_array().unwrap();
    ensure!(legs.len() == 2 && legs.iter().all(|t| t["kind"] == "EXCHANGE"), "{d}");
    ensure!(legs[0]["toAccount"]["code"] == "exchange:USD" && legs[1]["fromAccount"]["code"] == "exchange:EUR");
    ensure!(
        legs[1]["exchange"]["remainder"] == "0.00456",
        "both legs record it: {d}"
    );
    for (code, balance) in [
        ("u", "90.00"),
        ("e", "9.23"),
        ("exchange:USD", "10.00"),
        ("exchange:EUR", "-9.23"),
    ] {
        ensure!(code_balance(&app, code).await? == balance, "{code}");
    }
    // The rule is the one asked for: half-even and down on a half yen.
    let d = app
        .data(EXCHANGE, input(u, j, "1.00", "x2", json!({ "rate": "149.5" })))
        .await?;
    ensure!(
        d["exchange"]["exchange"]["targetAmount"] == "150" && d["exchange"]["exchange"]["remainder"] == "-0.5",
        "{d}"
    );
    let d = app
        .data(
            EXCHANGE,
            input(u, j, "1.00", "x3", json!({ "rate": "149.5", "rounding": "DOWN" })),
        )
        .await?;
    ensure!(
        d["exchange"]["exchange"]["targetAmount"] == "149" && d["exchange"]["exchange"]["remainder"] == "0.5",
        "{d}"
    );
    // A quote is taken exactly; the rate it implies is recorded.
    let d = app
        .data(EXCHANGE, input(u, e, "5.00", "x4", json!({ "quoteAmount": "4.61" })))
        .await?;
    ensure!(
        d["exchange"]["exchange"]["targetAmount"] == "4.61"
            && d["exchange"]["exchange"]["rate"] == "0.922"
            && d["exchange"]["exchange"]["priced"] == "QUOTE"
            && d["exchange"]["exchange"]["remainder"] == "0",
        "{d}"
    );
    // One key, one outcome.
    let again = app
        .data(EXCHANGE, input(u, e, "10.00", "x1", json!({ "rate": "0.923456" })))
        .await?;
    ensure!(again["exchange"]["transfers"][0]["id"] == legs[0]["id"], "{again}");
    let other = app
        .post(EXCHANGE, input(u, e, "10.00", "x1", json!({ "rate": "0.93" })))
        .await?;
    ensure!(code_of(&other)? == "IDEMPOTENCY_KEY_REUSED", "{other}");
    app.assert_invariants().await
}

async fn bad_exchanges_are_refused_with_their_codes(app: TestApp) -> Result<()> {
    let u = app.open("u", "USD", None).await?;
    let u2 = app.open("u2", "USD", None).await?;
    let e = app.open("e", "EUR", None).await?;
    let j = app.open("j", "JPY", None).await?;
    app.deposit(u, "10.00", "d").await?;
    // Exchange accounts open on a currency's first exchange (like world
    // accounts on its first deposit), so open them before counting.
    app.data(EXCHANGE, input(u, e, "1.00", "w1", json!({ "rate": "1" })))
        .await?;
    app.data(EXCHANGE, input(u, j, "0.01", "w2", json!({ "rate": "100" })))
        .await?;
    let before = app.snapshot().await?;
    for (vars, code) in [
        (input(u, e, "1.00", "k1", json!({})), "RATE_REQUIRED"),
        (
            input(u, e, "1.00", "k2", json!({ "rate": "1", "quoteAmount": "1.00" })),
            "INVALID_INPUT",
        ),
        (input(u, u2, "1.00", "k3", json!({ "rate": "1" })), "INVALID_INPUT"),
        (input(u, u, "1.00", "k4", json!({ "rate": "1" })), "SAME_ACCOUNT"),
        (input(u, e, "1.001", "k5", json!({ "rate": "1" })), "INVALID_AMOUNT"),
        (input(u, e, "1.00", "k6", json!({ "rate": "0" })), "INVALID_INPUT"),
        (
            input(u, e, "1.00", "k7", json!({ "quoteAmount": "0.001" })),
            "INVALID_AMOUNT",
        ),
        (
            input(u, j, "0.01", "k8", json!({ "rate": "0.1", "rounding": "DOWN" })),
            "INVALID_AMOUNT",
        ),
        (
            input(uuid::Uuid::now_v7(), e, "1.00", "k9", json!({ "rate": "1" })),
            "ACCOUNT_NOT_FOUND",
        ),
        (
            input(u, e, "50.00", "k10", json!({ "rate": "1" })),
            "INSUFFICIENT_FUNDS",
        ),
    ] {
        let body = app.post(EXCHANGE, vars.clone()).await?;
        ensure!(code_of(&body)? == code, "{vars}: {body}");
    }
    ensure!(app.snapshot().await? == before, "a refused exchange moved money");
    // Malformed input leaves the key free; a business refusal is recorded.
    let d = app
        .data(EXCHANGE, input(u, e, "1.00", "k1", json!({ "rate": "1" })))
        .await?;
    ensure!(d["exchange"]["exchange"]["targetAmount"] == "1.00", "{d}");
    app.deposit(u, "100.00", "more").await?;
    let body = app
        .post(EXCHANGE, input(u, e, "50.00", "k10", json!({ "rate": "1" })))
        .await?;
    ensure!(
        code_of(&body)? == "INSUFFICIENT_FUNDS",
        "a recorded refusal flipped: {body}"
    );
    let create = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }";
    let body = app
        .post(create, json!({ "i": { "code": "exchange:XYZ", "currency": "USD" } }))
        .await?;
    ensure!(code_of(&body)? == "INVALID_INPUT", "{body}");
    app.assert_invariants().await
}

async fn concurrent_exchanges_conserve_every_currency(app: TestApp) -> Result<()> {
    let u = app.open("u", "USD", None).await?;
    let e = app.open("e", "EUR", None).await?;
    app.deposit(u, "20.00", "d").await?;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let base = app.base.clone();
            tokio::spawn(async move {
                let gql = bench::gql::Tally::new(&base);
                gql.post(
                    EXCHANGE,
                    input(u, e, "1.00", &format!("c{i}"), json!({ "rate": "0.9137" })),
                )
                .await
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        let body = t.await??;
        match body.get("errors") {
            None => done += 1,
            Some(_) => ensure!(code_of(&body)? == "INSUFFICIENT_FUNDS", "{body}"),
        }
    }
    ensure!(done == 20, "{done} of 24 went through, not 20");
    ensure!(code_balance(&app, "u").await? == "0.00");
    ensure!(code_balance(&app, "e").await? == "18.20", "20 × 0.91");
    app.assert_invariants().await
}
