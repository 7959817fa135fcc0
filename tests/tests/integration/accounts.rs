use anyhow::Result;
use serde_json::json;
use tests::{TestApp, both};

both!(
    a_new_account_starts_at_zero_with_its_currencys_scale,
    the_world_account_is_created_with_the_first_account_and_listed,
    a_negative_floor_is_an_overdraft_limit,
);

const ACCOUNT: &str = "query($code: String!) { accountByCode(code: $code) { id code currency balance minBalance version status isSystem entryCount createdAt metadata } }";

async fn a_new_account_starts_at_zero_with_its_currencys_scale(app: TestApp) -> Result<()> {
    let created = app
        .data(
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id code currency balance minBalance version status metadata } }",
            json!({ "i": { "code": "alice", "currency": "USD", "metadata": { "tier": "gold", "n": 1 } } }),
        )
        .await?;
    let a = &created["createAccount"];
    assert_eq!(a["balance"], "0.00");
    assert_eq!(a["minBalance"], "0.00");
    assert_eq!(a["version"], 1);
    assert_eq!(a["status"], "ACTIVE");
    assert_eq!(a["metadata"], json!({ "tier": "gold", "n": 1 }));
    let read = app.data(ACCOUNT, json!({ "code": "alice" })).await?;
    assert_eq!(read["accountByCode"]["id"], a["id"]);
    assert_eq!(read["accountByCode"]["isSystem"], false);
    for (code, currency, zero) in [("yen", "JPY", "0"), ("dinar", "BHD", "0.000")] {
        app.open(code, currency, None).await?;
        let read = app.data(ACCOUNT, json!({ "code": code })).await?;
        assert_eq!(read["accountByCode"]["balance"], zero, "{currency}");
    }
    app.assert_invariants().await
}

async fn the_world_account_is_created_with_the_first_account_and_listed(app: TestApp) -> Result<()> {
    app.open("a", "EUR", None).await?;
    app.open("b", "EUR", None).await?;
    let world = app.data(ACCOUNT, json!({ "code": "world:EUR" })).await?;
    let w = &world["accountByCode"];
    assert_eq!(w["isSystem"], true);
    assert_eq!(w["minBalance"], json!(null));
    assert_eq!(w["currency"], "EUR");
    let listed = app
        .data("{ accounts(first: 10) { edges { node { code } } } }", json!({}))
        .await?;
    let codes: Vec<&str> = listed["accounts"]["edges"]
        .as_array()
        .map(|e| e.iter().filter_map(|n| n["node"]["code"].as_str()).collect())
        .unwrap();
    assert_eq!(codes, vec!["world:EUR", "a", "b"]);
    Ok(())
}

async fn a_negative_floor_is_an_overdraft_limit(app: TestApp) -> Result<()> {
    let id = app.open("od", "USD", Some("-50.00")).await?;
    let ok = app.withdraw(id, "30", "w1").await?;
    assert_eq!(ok["data"]["withdraw"]["fromAccount"]["balance"], "-30.00");
    let refused = app.withdraw(id, "20.01", "w2").await?;
    assert_eq!(tests::code_of(&refused)?, "INSUFFICIENT_FUNDS");
    let ok = app.withdraw(id, "20.00", "w3").await?;
    assert_eq!(ok["data"]["withdraw"]["fromAccount"]["balance"], "-50.00");
    app.assert_invariants().await
}
