use anyhow::Result;
use serde_json::{Value, json};
use tests::{TestApp, both, uuid_at};

both!(
    entries_page_forward_and_backward_by_keyset,
    balance_at_reads_history,
    accounts_page_with_cursors,
    transfers_are_found_by_id_and_key_and_missing_ones_are_null,
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
