//! The OWASP GraphQL controls, each attack sent for real: deep nesting,
//! huge pages of pages, alias and directive floods, oversized batches and
//! bodies, mutations over GET, introspection when it is off. Each is refused
//! with its code and status before anything runs.

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use tests::{Backend, DEPOSIT, TestApp, both};

both!(
    abusive_requests_are_refused_before_they_run,
    get_may_read_but_never_write
);
tests::each_backend!(introspection_and_graphiql_can_be_turned_off);

/// Sends a raw JSON body; expects `status` and `code`, and no write.
async fn refused_body(app: &TestApp, body: Vec<u8>, status: u16, code: &str) -> Result<Value> {
    let before = app.snapshot().await?;
    let res = app
        .client
        .post(&app.endpoint)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let got = res.status().as_u16();
    let body: Value = res.json().await?;
    ensure!(
        got == status && body["errors"][0]["extensions"]["code"] == json!(code),
        "expected {status} {code}, got {got} {body}"
    );
    ensure!(app.snapshot().await? == before, "a refused request wrote something");
    Ok(body)
}

fn request(query: &str, variables: Value) -> Vec<u8> {
    json!({ "query": query, "variables": variables })
        .to_string()
        .into_bytes()
}

async fn abusive_requests_are_refused_before_they_run(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    app.deposit(a, "10.00", "seed").await?;
    let deposit = |key: &str| json!({ "i": { "accountId": a, "amount": "1.00", "idempotencyKey": key } });

    // Depth: 20 levels of transfer → entries → transfer → …
    let mut deep = "id".to_owned();
    for _ in 0..10 {
        deep = format!("entries {{ transfer {{ {deep} }} }}");
    }
    let deep = format!("query($id: UUID!) {{ transfer(id: $id) {{ {deep} }} }}");
    refused_body(&app, request(&deep, json!({ "id": a })), 400, "QUERY_TOO_COMPLEX").await?;

    // Complexity: a page of 1,000 accounts, each with a page of 1,000 entries.
    let wide =
        "{ accounts(first: 1000) { edges { node { entries(first: 1000) { edges { node { sequence amount } } } } } } }";
    refused_body(&app, request(wide, json!({})), 400, "QUERY_TOO_COMPLEX").await?;

    // Aliases: 31 copies of one field (each alias is a separate resolution).
    let aliases: Vec<String> = (0..31).map(|i| format!("a{i}: currencies {{ code }}")).collect();
    let flood = format!("{{ {} }}", aliases.join(" "));
    refused_body(&app, request(&flood, json!({})), 400, "QUERY_TOO_COMPLEX").await?;
    // The same flood hidden in a mutation still writes nothing.
    let moves: Vec<String> = (0..31)
        .map(|i| {
            format!("m{i}: deposit(input: {{accountId: \"{a}\", amount: \"1.00\", idempotencyKey: \"f{i}\"}}) {{ id }}")
        })
        .collect();
    let flood = format!("mutation {{ {} }}", moves.join(" "));
    refused_body(&app, request(&flood, json!({})), 400, "QUERY_TOO_COMPLEX").await?;

    // Directives: six on one field.
    let directives = "{ currencies { code @include(if: true) @include(if: true) @include(if: true) @include(if: true) @include(if: true) @include(if: true) } }";
    refused_body(&app, request(directives, json!({})), 400, "QUERY_TOO_COMPLEX").await?;

    // Batches: up to 10 run (each its own result), 11 are refused whole.
    let batch = |n: usize| {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({ "query": DEPOSIT, "variables": deposit(&format!("batch-{n}-{i}")) }))
            .collect();
        Value::Array(items).to_string().into_bytes()
    };
    refused_body(&app, batch(11), 400, "QUERY_TOO_COMPLEX").await?;
    let res = app
        .client
        .post(&app.endpoint)
        .body(batch(2))
        .header("content-type", "application/json")
        .send()
        .await?;
    let body: Value = res.json().await?;
    ensure!(
        body.as_array()
            .is_some_and(|r| r.len() == 2 && r.iter().all(|x| x["data"]["deposit"]["id"].is_string())),
        "{body}"
    );

    // Body size: just over 1 MiB of otherwise valid JSON.
    let padding = "x".repeat(1024 * 1024);
    let big = json!({ "query": DEPOSIT, "variables": deposit("big"), "extensions": { "pad": padding } });
    refused_body(&app, big.to_string().into_bytes(), 413, "PAYLOAD_TOO_LARGE").await?;

    // Not GraphQL at all: coded, and nothing of the server's inner text.
    let body = refused_body(&app, b"{\"query\": 12".to_vec(), 400, "INVALID_INPUT").await?;
    ensure!(!body.to_string().contains("serde"), "{body}");
    ensure!(app.balance(a).await? == "12.00", "only the batch of two deposited");
    app.assert_invariants().await
}

async fn get_may_read_but_never_write(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let before = app.snapshot().await?;
    let write = format!(
        "mutation {{ deposit(input: {{accountId: \"{a}\", amount: \"1.00\", idempotencyKey: \"g\"}}) {{ id }} }}"
    );
    let res = app
        .client
        .get(&app.endpoint)
        .query(&[("query", write.as_str())])
        .send()
        .await?;
    ensure!(res.status().as_u16() == 405, "{}", res.status());
    let body: Value = res.json().await?;
    ensure!(
        body["errors"][0]["extensions"]["code"] == json!("METHOD_NOT_ALLOWED"),
        "{body}"
    );
    // Hidden behind an operation name among queries: still refused.
    let mixed = format!("query Q {{ currencies {{ code }} }} {write}");
    let mixed = mixed.replacen("mutation {", "mutation W {", 1);
    let res = app
        .client
        .get(&app.endpoint)
        .query(&[("query", mixed.as_str()), ("operationName", "W")])
        .send()
        .await?;
    ensure!(res.status().as_u16() == 405, "{}", res.status());
    ensure!(app.snapshot().await? == before, "a GET wrote something");
    let read = app
        .client
        .get(&app.endpoint)
        .query(&[("query", "{ currencies { code } }")])
        .send()
        .await?;
    let body: Value = read.json().await?;
    ensure!(
        body["data"]["currencies"].as_array().is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    Ok(())
}

async fn introspection_and_graphiql_can_be_turned_off(backend: Backend) -> Result<()> {
    let options = api::ServerOptions {
        introspection: false,
        ..Default::default()
    };
    let app = tests::spawn_app_configured(backend, true, options).await?;
    let body = app
        .post(
            "{ __schema { types { name } } __type(name: \"Account\") { name } }",
            json!({}),
        )
        .await?;
    ensure!(
        body["data"]["__schema"].is_null() && body["data"]["__type"].is_null(),
        "the schema was disclosed: {body}"
    );
    ensure!(!body.to_string().contains("Account"), "{body}");
    let page = app
        .client
        .get(&app.endpoint)
        .header("accept", "text/html")
        .send()
        .await?;
    ensure!(
        page.status().as_u16() == 404,
        "GraphiQL still served: {}",
        page.status()
    );
    let data = app.data("{ currencies { code } }", json!({})).await?;
    ensure!(data["currencies"].is_array(), "{data}");
    Ok(())
}
