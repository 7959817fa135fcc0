use anyhow::Result;
use serde_json::{Value, json};
use tests::{TestApp, both, uuid_at};

both!(
    entries_page_forward_and_backward_by_keyset,
    balance_at_reads_history,
    balance_at_finds_every_entry_by_binary_search,
    accounts_page_with_cursors,
    transfers_are_found_by_id_and_key_and_missing_ones_are_null,
    an_accounts_transfers_page_in_its_order_and_a_foreign_cursor_is_refused,
);

const ENTRIES: &str = "query($id: UUID!, $first: Int, $after: String, $last: Int, $before: String) { account(id: $id) { entries(first: $first, after: $after, last: $last, before: $before) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { sequence } } } } }";

fn sequences(data: &Value) -> Vec<i64> {
    data["account"]["entries"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["node"]["sequence"].as_i64())
        .collect()
}

async fn entries_page_forward_and_backward_by_keyset(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    for i in 0..25 {
        app.deposit(a, "1", &format!("d{i}")).await?;
    }
    let p1 = app.data(ENTRIES, json!({ "id": a, "first": 10 })).await?;
    assert_eq!(sequences(&p1), (1..=10).collect::<Vec<_>>());
    let info = &p1["account"]["entries"]["pageInfo"];
    assert_eq!(info["hasNextPage"], true);
    assert_eq!(info["hasPreviousPage"], false);
    let p2 = app
        .data(ENTRIES, json!({ "id": a, "first": 10, "after": info["endCursor"] }))
        .await?;
    assert_eq!(sequences(&p2), (11..=20).collect::<Vec<_>>());
    assert_eq!(p2["account"]["entries"]["pageInfo"]["hasPreviousPage"], true);
    let tail = app.data(ENTRIES, json!({ "id": a, "last": 5 })).await?;
    assert_eq!(sequences(&tail), (21..=25).collect::<Vec<_>>());
    let tail_info = &tail["account"]["entries"]["pageInfo"];
    assert_eq!(tail_info["hasPreviousPage"], true);
    let back = app
        .data(
            ENTRIES,
            json!({ "id": a, "last": 3, "before": tail_info["startCursor"] }),
        )
        .await?;
    assert_eq!(sequences(&back), vec![18, 19, 20]);
    let end = app
        .data(
            ENTRIES,
            json!({ "id": a, "first": 10, "after": p2["account"]["entries"]["pageInfo"]["endCursor"] }),
        )
        .await?;
    assert_eq!(sequences(&end), (21..=25).collect::<Vec<_>>());
    assert_eq!(end["account"]["entries"]["pageInfo"]["hasNextPage"], false);
    Ok(())
}

async fn balance_at_reads_history(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let before_any = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let d1 = app.deposit(a, "10.00", "d1").await?;
    let t1: chrono::DateTime<chrono::Utc> = d1["data"]["deposit"]["createdAt"].as_str().unwrap_or("").parse()?;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let d2 = app.deposit(a, "5.50", "d2").await?;
    let t2: chrono::DateTime<chrono::Utc> = d2["data"]["deposit"]["createdAt"].as_str().unwrap_or("").parse()?;
    let q = "query($id: UUID!, $at: DateTime!) { account(id: $id) { balanceAt(at: $at) } }";
    let at = |t: chrono::DateTime<chrono::Utc>| json!({ "id": a, "at": t.to_rfc3339() });
    let read = |v: Value| v["account"]["balanceAt"].as_str().map(str::to_owned);
    assert_eq!(read(app.data(q, at(before_any)).await?), Some("0.00".into()));
    assert_eq!(read(app.data(q, at(t1)).await?), Some("10.00".into()));
    assert_eq!(
        read(app.data(q, at(t2 - chrono::Duration::microseconds(1))).await?),
        Some("10.00".into())
    );
    assert_eq!(read(app.data(q, at(t2)).await?), Some("15.50".into()));
    let bad = app.post(q, json!({ "id": a, "at": "yesterday" })).await?;
    assert_eq!(tests::code_of(&bad)?, "INVALID_INPUT");
    Ok(())
}

/// `balanceAt` binary-searches an account's entries by time: at each entry's
/// time (and a microsecond before it) it answers the balance after the last
/// entry at or before that instant — over an odd and an even count, with
/// entries that share a time (one `postTransfers` batch).
async fn balance_at_finds_every_entry_by_binary_search(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    for i in 0..20 {
        app.deposit(a, &format!("{}.01", i + 1), &format!("d{i}")).await?;
    }
    let batch = "mutation($in: [TransferInput!]!) { postTransfers(input: { transfers: $in }) { transfers { id } } }";
    let legs: Vec<Value> = (0..5)
        .map(|i| json!({ "fromAccountId": a, "toAccountId": b, "amount": "1.00", "idempotencyKey": format!("b{i}") }))
        .collect();
    app.data(batch, json!({ "in": legs })).await?;
    app.deposit(a, "0.50", "last").await?;
    let page = app
        .data(
            "query($id: UUID!) { account(id: $id) { entries(first: 100) { edges { node { createdAt balanceAfter } } } } }",
            json!({ "id": a }),
        )
        .await?;
    let entries: Vec<(chrono::DateTime<chrono::Utc>, String)> = page["account"]["entries"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let at = e["node"]["createdAt"].as_str().unwrap_or_default().parse()?;
            Ok((at, e["node"]["balanceAfter"].as_str().unwrap_or_default().to_owned()))
        })
        .collect::<Result<_>>()?;
    assert_eq!(entries.len(), 26);
    assert!(entries.windows(2).any(|w| w[0].0 == w[1].0), "the batch shares a time");
    let q = "query($id: UUID!, $at: DateTime!) { account(id: $id) { balanceAt(at: $at) } }";
    let expect = |at: chrono::DateTime<chrono::Utc>| {
        entries
            .iter()
            .rev()
            .find(|(t, _)| *t <= at)
            .map_or("0.00".to_owned(), |(_, balance)| balance.clone())
    };
    for (at, _) in &entries {
        for probe in [*at, *at - chrono::Duration::microseconds(1)] {
            let got = app.data(q, json!({ "id": a, "at": probe.to_rfc3339() })).await?;
            assert_eq!(got["account"]["balanceAt"], json!(expect(probe)), "at {probe}");
        }
    }
    Ok(())
}

/// `transfers(accountId:)` pages one account's transfers — both sides, in
/// the order it saw them, filters applied — and nothing else; a cursor
/// that is not one of its transfers is INVALID_INPUT.
async fn an_accounts_transfers_page_in_its_order_and_a_foreign_cursor_is_refused(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let b = app.open("b", "USD", None).await?;
    let c = app.open("c", "USD", None).await?;
    let id = |v: Value, field: &str| v["data"][field]["id"].as_str().unwrap_or_default().to_owned();
    let mut expected = Vec::new();
    expected.push(id(app.deposit(a, "10", "d1").await?, "deposit"));
    app.deposit(b, "10", "d2").await?;
    expected.push(id(app.transfer(a, b, "1", "t1").await?, "transfer"));
    let foreign = id(app.transfer(b, c, "1", "t2").await?, "transfer");
    expected.push(id(app.transfer(b, a, "2", "t3").await?, "transfer"));
    expected.push(id(app.deposit(a, "5", "d3").await?, "deposit"));
    expected.push(id(app.withdraw(a, "1", "w1").await?, "withdraw"));
    let q = "query($a: UUID!, $k: TransferKind, $after: String) { transfers(accountId: $a, kind: $k, first: 2, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id } } } }";
    let all = |kind: Value| {
        let app = &app;
        async move {
            let (mut ids, mut after) = (Vec::new(), Value::Null);
            loop {
                let page = app.data(q, json!({ "a": a, "k": kind, "after": after })).await?;
                let conn = &page["transfers"];
                ids.extend(
                    conn["edges"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|e| e["node"]["id"].as_str().map(str::to_owned)),
                );
                if conn["pageInfo"]["hasNextPage"] != json!(true) {
                    return anyhow::Ok(ids);
                }
                after = conn["pageInfo"]["endCursor"].clone();
            }
        }
    };
    assert_eq!(all(Value::Null).await?, expected);
    assert_eq!(
        all(json!("DEPOSIT")).await?,
        vec![expected[0].clone(), expected[3].clone()]
    );
    // A time window on the account's list (its entries carry times too:
    // the window is the transfers').
    let windowed = app
        .data(
            "query($a: UUID!) { transfers(accountId: $a, from: \"2000-01-01T00:00:00Z\", to: \"2100-01-01T00:00:00Z\", first: 100) { edges { node { id } } } }",
            json!({ "a": a }),
        )
        .await?;
    let windowed: Vec<&str> = windowed["transfers"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["node"]["id"].as_str())
        .collect();
    assert_eq!(windowed, expected);
    // The cursor of b's transfer to c, used on a's list.
    let code = app
        .error_code(q, json!({ "a": a, "after": foreign_cursor(&app, b, &foreign).await? }))
        .await?;
    assert_eq!(code, "INVALID_INPUT");
    Ok(())
}

/// The cursor of transfer `id` in `account`'s list.
async fn foreign_cursor(app: &TestApp, account: uuid::Uuid, id: &str) -> Result<Value> {
    let q = "query($a: UUID!) { transfers(accountId: $a, first: 100) { edges { cursor node { id } } } }";
    let page = app.data(q, json!({ "a": account })).await?;
    let edges = page["transfers"]["edges"].as_array().cloned().unwrap_or_default();
    let edge = edges.iter().find(|e| e["node"]["id"] == id);
    Ok(edge.map(|e| e["cursor"].clone()).unwrap_or(Value::Null))
}

async fn accounts_page_with_cursors(app: TestApp) -> Result<()> {
    for i in 0..5 {
        app.open(&format!("acct-{i}"), "USD", None).await?;
    }
    let q = "query($after: String) { accounts(first: 2, after: $after) { pageInfo { hasNextPage endCursor } edges { node { code } } } }";
    let mut codes = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app.data(q, json!({ "after": after })).await?;
        let conn = &page["accounts"];
        codes.extend(
            conn["edges"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["node"]["code"].as_str().map(str::to_owned)),
        );
        if conn["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        codes,
        vec!["world:USD", "acct-0", "acct-1", "acct-2", "acct-3", "acct-4"]
    );
    Ok(())
}

async fn transfers_are_found_by_id_and_key_and_missing_ones_are_null(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let dep = app
        .post(
            tests::DEPOSIT,
            json!({ "i": { "accountId": a, "amount": "3", "idempotencyKey": "k", "description": "top-up", "metadata": { "order": 42 } } }),
        )
        .await?;
    let id = uuid_at(&dep["data"]["deposit"]["id"])?;
    let q = format!(
        "query($id: UUID!) {{ transfer(id: $id) {{ {} }} }}",
        tests::TRANSFER_FIELDS
    );
    let t = app.data(&q, json!({ "id": id })).await?;
    let t = &t["transfer"];
    assert_eq!(t["description"], "top-up");
    assert_eq!(t["metadata"], json!({ "order": 42 }));
    assert_eq!(t["entries"][1]["account"]["id"], json!(a.to_string()));
    assert_eq!(t["entries"][0]["transfer"]["id"], json!(id.to_string()));
    let missing = app.data(&q, json!({ "id": uuid::Uuid::now_v7() })).await?;
    assert_eq!(missing["transfer"], Value::Null);
    let none = app
        .data(
            "{ transferByIdempotencyKey(key: \"nope\") { id } accountByCode(code: \"nope\") { id } }",
            json!({}),
        )
        .await?;
    assert_eq!(none["transferByIdempotencyKey"], Value::Null);
    assert_eq!(none["accountByCode"], Value::Null);
    Ok(())
}
