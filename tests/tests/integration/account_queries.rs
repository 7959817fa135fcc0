//! Accounts by what they are (`accounts(filter:)`) and their exact totals
//! per currency (`balanceTotals`): every filter on both backends, bad
//! filters refused, and totals read in one snapshot under concurrent
//! writes (a whole currency always sums to exactly zero).

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use tests::{TestApp, both, uuid_at};

both!(
    accounts_are_found_by_currency_status_code_prefix_and_metadata,
    bad_filters_are_refused,
    totals_are_exact_and_consistent_under_concurrent_writes,
);

const LIST: &str = "query($f: AccountFilterInput, $n: Int, $after: String) { accounts(filter: $f, first: $n, after: $after) { edges { node { code } } pageInfo { hasNextPage endCursor } } }";
const TOTALS: &str = "query($f: AccountFilterInput) { balanceTotals(filter: $f) { currency accounts balance heldBalance availableBalance } }";

async fn open(app: &TestApp, code: &str, currency: &str, metadata: Value) -> Result<uuid::Uuid> {
    let d = app
        .data(
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
            json!({ "i": { "code": code, "currency": currency, "metadata": metadata } }),
        )
        .await?;
    uuid_at(&d["createAccount"]["id"])
}

async fn codes(app: &TestApp, filter: Value) -> Result<Vec<String>> {
    let d = app.data(LIST, json!({ "f": filter, "n": 100 })).await?;
    let mut out: Vec<String> = d["accounts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["code"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    Ok(out)
}

async fn accounts_are_found_by_currency_status_code_prefix_and_metadata(app: TestApp) -> Result<()> {
    let s1 = open(
        &app,
        "shop-1",
        "USD",
        json!({ "tier": "gold", "region": { "eu": true }, "n": 1 }),
    )
    .await?;
    open(&app, "shop-2", "USD", json!({ "tier": "silver", "n": "1" })).await?;
    open(&app, "Shop-3", "USD", json!({ "tier": "gold" })).await?;
    open(
        &app,
        "shop_4",
        "EUR",
        json!({ "tier": "gold", "region": { "eu": false } }),
    )
    .await?;
    open(&app, "user-x", "EUR", Value::Null).await?;
    let eq = |got: Vec<String>, want: &[&str]| -> Result<()> {
        ensure!(got == want, "got {got:?}, want {want:?}");
        Ok(())
    };
    eq(
        codes(&app, json!({ "currency": "EUR" })).await?,
        &["shop_4", "user-x", "world:EUR"],
    )?;
    eq(
        codes(&app, json!({ "codePrefix": "shop-" })).await?,
        &["shop-1", "shop-2"],
    )?;
    // Pattern characters are literal, and case counts.
    eq(codes(&app, json!({ "codePrefix": "shop_" })).await?, &["shop_4"])?;
    eq(codes(&app, json!({ "codePrefix": "sh%" })).await?, &[])?;
    eq(codes(&app, json!({ "codePrefix": "Shop" })).await?, &["Shop-3"])?;
    eq(
        codes(&app, json!({ "metadata": { "tier": "gold" } })).await?,
        &["Shop-3", "shop-1", "shop_4"],
    )?;
    eq(
        codes(&app, json!({ "metadata": { "region": { "eu": true } } })).await?,
        &["shop-1"],
    )?;
    // Types are compared too: 1, "1" and true differ.
    eq(codes(&app, json!({ "metadata": { "n": 1 } })).await?, &["shop-1"])?;
    eq(codes(&app, json!({ "metadata": { "n": "1" } })).await?, &["shop-2"])?;
    eq(
        codes(&app, json!({ "metadata": {} })).await?,
        &["Shop-3", "shop-1", "shop-2", "shop_4"],
    )?;
    eq(
        codes(
            &app,
            json!({ "currency": "USD", "metadata": { "tier": "gold" }, "codePrefix": "shop" }),
        )
        .await?,
        &["shop-1"],
    )?;
    app.data(
        "mutation($i: ArchiveAccountInput!) { archiveAccount(input: $i) { account { status } } }",
        json!({ "i": { "id": s1, "idempotencyKey": "arch" } }),
    )
    .await?;
    eq(codes(&app, json!({ "status": "ARCHIVED" })).await?, &["shop-1"])?;
    // Pages of a filtered list follow the same cursor.
    let first = app.data(LIST, json!({ "f": { "currency": "USD" }, "n": 2 })).await?;
    ensure!(first["accounts"]["pageInfo"]["hasNextPage"] == json!(true), "{first}");
    let after = first["accounts"]["pageInfo"]["endCursor"].clone();
    let rest = app
        .data(LIST, json!({ "f": { "currency": "USD" }, "n": 10, "after": after }))
        .await?;
    let n = |d: &Value| d["accounts"]["edges"].as_array().map_or(0, Vec::len);
    ensure!(n(&first) + n(&rest) == 4, "{first} {rest}");
    Ok(())
}

async fn bad_filters_are_refused(app: TestApp) -> Result<()> {
    let before = app.snapshot().await?;
    for filter in [
        json!({ "metadata": ["gold"] }),
        json!({ "metadata": "gold" }),
        json!({ "metadata": { "tags": ["a"] } }),
        json!({ "codePrefix": "" }),
        json!({ "codePrefix": "x".repeat(256) }),
        json!({ "status": "FROZEN" }),
        json!({ "codePrefix": "a\u{0}" }),
    ] {
        for query in [LIST, TOTALS] {
            let body = app.post(query, json!({ "f": filter })).await?;
            ensure!(tests::code_of(&body)? == "INVALID_INPUT", "{filter}: {body}");
        }
    }
    ensure!(app.snapshot().await? == before);
    Ok(())
}

async fn totals_are_exact_and_consistent_under_concurrent_writes(app: TestApp) -> Result<()> {
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(open(&app, &format!("t{i}"), "USD", json!({ "group": i % 2 })).await?);
    }
    let j = open(&app, "yen", "JPY", json!({ "group": 0 })).await?;
    for (i, id) in ids.iter().enumerate() {
        app.deposit(*id, "100.10", &format!("d{i}")).await?;
    }
    app.deposit(j, "500", "dj").await?;
    app.hold(ids[0], ids[1], "30.05", "h", 60_000).await?;
    let all = app.data(TOTALS, json!({})).await?;
    let totals = all["balanceTotals"].as_array().unwrap();
    ensure!(totals.len() == 2, "{all}");
    for t in totals {
        // World accounts included: each currency sums to zero.
        ensure!(
            t["balance"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()?
                .is_zero(),
            "{t}"
        );
    }
    let group0 = app.data(TOTALS, json!({ "f": { "metadata": { "group": 0 } } })).await?;
    ensure!(
        group0["balanceTotals"]
            == json!([
                { "currency": "JPY", "accounts": 1, "balance": "500", "heldBalance": "0", "availableBalance": "500" },
                { "currency": "USD", "accounts": 2, "balance": "200.20", "heldBalance": "30.05", "availableBalance": "170.15" }
            ]),
        "{group0}"
    );
    // Writers move money among the USD accounts; every total read meanwhile
    // is one snapshot, so USD always sums to exactly zero.
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (base, ids) = (app.base.clone(), ids.clone());
            tokio::spawn(async move {
                let gql = bench::gql::Tally::new(&base);
                for k in 0..15 {
                    let (from, to) = (ids[(w + k) % 4], ids[(w + k + 1) % 4]);
                    let input = json!({ "fromAccountId": from, "toAccountId": to, "amount": "0.07", "idempotencyKey": format!("w{w}-{k}") });
                    gql.post(tests::TRANSFER, json!({ "i": input })).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    let mut reads = 0;
    while writers.iter().any(|w| !w.is_finished()) || reads < 5 {
        let t = app.data(TOTALS, json!({ "f": { "currency": "USD" } })).await?;
        let balance = t["balanceTotals"][0]["balance"].as_str().unwrap();
        ensure!(
            balance.parse::<rust_decimal::Decimal>()?.is_zero(),
            "a total read mid-write: {t}"
        );
        reads += 1;
    }
    for w in writers {
        w.await??;
    }
    app.assert_invariants().await
}
