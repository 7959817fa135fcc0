use anyhow::Result;
use serde_json::json;
use tests::{DEPOSIT, TestApp, both, uuid_at};

both!(
    deposit_withdraw_and_transfer_move_money_and_chain_entries,
    decimals_are_exact_and_written_at_the_currency_scale,
    money_is_stored_as_text_never_as_a_float,
    awkward_text_and_metadata_round_trip_exactly,
);

async fn deposit_withdraw_and_transfer_move_money_and_chain_entries(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    let dep = app.deposit(a, "100", "d1").await?;
    let t = &dep["data"]["deposit"];
    assert_eq!(t["kind"], "DEPOSIT");
    assert_eq!(t["amount"], "100.00");
    assert_eq!(t["currency"], "USD");
    assert_eq!(t["fromAccount"]["code"], "world:USD");
    assert_eq!(t["fromAccount"]["balance"], "-100.00");
    assert_eq!(t["toAccount"]["balance"], "100.00");
    assert_eq!(t["entries"][0]["amount"], "-100.00");
    assert_eq!(t["entries"][1]["amount"], "100.00");
    assert_eq!(t["entries"][1]["previousHash"], "0".repeat(64));
    assert_eq!(t["entries"][1]["sequence"], 1);
    let first_hash = t["entries"][1]["hash"].clone();

    let w = app.withdraw(a, "30.50", "w1").await?;
    let w = &w["data"]["withdraw"];
    assert_eq!(w["kind"], "WITHDRAWAL");
    assert_eq!(w["toAccount"]["code"], "world:USD");
    assert_eq!(w["fromAccount"]["balance"], "69.50");

    let x = app.transfer(a, b, "19.50", "t1").await?;
    let x = &x["data"]["transfer"];
    assert_eq!(x["kind"], "TRANSFER");
    assert_eq!(x["fromAccount"]["balance"], "50.00");
    assert_eq!(x["toAccount"]["balance"], "19.50");

    let page = app
        .data(
            "query($id: UUID!) { account(id: $id) { entries(first: 10) { edges { node { sequence amount balanceAfter previousHash hash transfer { kind } } } } } }",
            json!({ "id": a }),
        )
        .await?;
    let edges = page["account"]["entries"]["edges"].as_array().cloned().unwrap();
    let got: Vec<(i64, &str, &str)> = edges
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                n["sequence"].as_i64().unwrap_or(0),
                n["amount"].as_str().unwrap_or(""),
                n["balanceAfter"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(1, "100.00", "100.00"), (2, "-30.50", "69.50"), (3, "-19.50", "50.00")]
    );
    assert_eq!(edges[1]["node"]["previousHash"], first_hash);
    assert_eq!(edges[2]["node"]["previousHash"], edges[1]["node"]["hash"]);
    assert_eq!(edges[2]["node"]["transfer"]["kind"], "TRANSFER");
    uuid_at(&x["id"])?;
    app.assert_invariants().await
}

async fn decimals_are_exact_and_written_at_the_currency_scale(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    app.deposit(a, "0.1", "p1").await?;
    app.deposit(a, "0.2", "p2").await?;
    assert_eq!(app.balance(a).await?, "0.30");

    let big = app.open("big", "USD", None).await?;
    let huge = "12345678901234567.89";
    let dep = app.deposit(big, huge, "huge").await?;
    assert_eq!(dep["data"]["deposit"]["amount"], huge);
    let twenty_digits = "123456789012345678.90";
    app.deposit(big, twenty_digits, "huge2").await?;
    assert_eq!(app.balance(big).await?, "135802467913580246.79");
    app.withdraw(big, twenty_digits, "huge3").await?;
    assert_eq!(app.balance(big).await?, huge);

    let yen = app.open("yen", "JPY", None).await?;
    let dep = app.deposit(yen, "5", "y1").await?;
    assert_eq!(dep["data"]["deposit"]["amount"], "5");
    let dinar = app.open("dinar", "BHD", None).await?;
    let dep = app.deposit(dinar, "5", "b1").await?;
    assert_eq!(dep["data"]["deposit"]["amount"], "5.000");
    app.assert_invariants().await
}

async fn money_is_stored_as_text_never_as_a_float(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    app.deposit(a, "12345678901234567.89", "d").await?;
    let typeof_sql = match app.backend {
        tests::Backend::Sqlite => {
            "SELECT typeof(balance) AS t FROM account UNION SELECT typeof(amount) FROM entry UNION SELECT typeof(balance_after) FROM entry UNION SELECT typeof(amount) FROM transfer"
        }
        tests::Backend::Postgres => {
            "SELECT pg_typeof(balance)::text AS t FROM account UNION SELECT pg_typeof(amount)::text FROM entry UNION SELECT pg_typeof(balance_after)::text FROM entry"
        }
    };
    use sea_orm::{ConnectionTrait, Statement};
    let rows = app
        .db
        .query_all_raw(Statement::from_string(app.db.get_database_backend(), typeof_sql))
        .await?;
    let types: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String>("", "t").ok()).collect();
    assert_eq!(types, vec!["text".to_owned()]);
    Ok(())
}

/// Quotes, backslashes, control characters, non-Latin scripts and nested
/// JSON travel through every write path (PostgreSQL's one-statement
/// write-back encodes them as JSON) and come back byte for byte.
async fn awkward_text_and_metadata_round_trip_exactly(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let description = "quote \" back \\ slash / newline \n tab \t é 漢字 🦀 </script> \u{7f}";
    let key = "key \"with\" \\ 🦀";
    let metadata = json!({
        "k": "v\"\\",
        "nested": { "list": [1, null, true, 2.5, "x"], "emoji": "🦀" },
        "null": null,
        "empty": {}
    });
    let vars = json!({ "i": {
        "accountId": a, "amount": "1.00", "idempotencyKey": key,
        "description": description, "metadata": metadata
    } });
    let first = app.data(DEPOSIT, vars.clone()).await?;
    let t = &first["deposit"];
    assert_eq!(t["description"], description);
    assert_eq!(t["idempotencyKey"], key);
    assert_eq!(t["metadata"], metadata);
    let query = format!(
        "query($id: UUID!) {{ transfer(id: $id) {{ {} }} }}",
        tests::TRANSFER_FIELDS
    );
    let read = app.data(&query, json!({ "id": t["id"] })).await?;
    assert_eq!(read["transfer"]["description"], description);
    assert_eq!(read["transfer"]["idempotencyKey"], key);
    assert_eq!(read["transfer"]["metadata"], metadata);
    // The retry under that key is recognised as the same request.
    let again = app.data(DEPOSIT, vars).await?;
    assert_eq!(again["deposit"]["id"], t["id"]);
    assert_eq!(app.balance(a).await?, "1.00");
    app.assert_invariants().await
}
