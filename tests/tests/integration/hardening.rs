//! Requests built to break the server from outside: documents and values
//! nested beyond any stack, text with U+0000, slow and piled-up connections,
//! batches that dodge the rate limit, suggestions that leak the schema. Each
//! must get a coded refusal, write nothing, and leave the process serving.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use service::store::api_key::Scope;
use tests::{Backend, TestApp, both};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

both!(
    documents_and_values_nested_beyond_any_stack_are_refused_and_the_server_lives,
    text_holding_nul_is_invalid_input_on_every_path,
    refusals_before_execution_point_at_no_location,
);
tests::each_backend!(
    a_batch_pays_the_rate_limit_for_each_operation,
    slow_and_piled_up_connections_are_cut_off,
    without_introspection_errors_suggest_no_names,
);

/// POSTs `body` (raw JSON text) with `key`; returns status and body.
async fn post_raw(app: &TestApp, key: Option<&str>, body: String) -> Result<(u16, Value)> {
    let mut req = app
        .client
        .post(&app.endpoint)
        .header("content-type", "application/json")
        .body(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let res = req.send().await?;
    Ok((res.status().as_u16(), res.json().await?))
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none")
}

async fn documents_and_values_nested_beyond_any_stack_are_refused_and_the_server_lives(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    let keys = app.keys(&[("reader", Scope::Read), ("admin", Scope::Admin)]).await?;
    let before = app.snapshot().await?;
    // The outside report's crash: 12,000 chained fragments (~450 KB).
    let n = 12_000;
    let mut chain = String::from("query { ...F0 } ");
    for i in 0..n {
        chain.push_str(&format!("fragment F{i} on Query {{ ...F{} }} ", i + 1));
    }
    chain.push_str(&format!("fragment F{n} on Query {{ __typename }}"));
    let cycle = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }".to_owned();
    let deep_list = format!(
        "{{ __typename @skip(if: {}{}) }}",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let deep_selection = format!(
        "{{ {} id {} }}",
        "account(id: \"x\") { ".repeat(5_000),
        "}".repeat(5_000)
    );
    let deep_metadata = format!(
        "mutation {{ createAccount(input: {{ code: \"deep\", currency: \"USD\", metadata: {}1{} }}) {{ id }} }}",
        "{a: ".repeat(40),
        "}".repeat(40)
    );
    let cases = [
        (
            keys[0].as_str(),
            json!({ "query": chain }).to_string(),
            "QUERY_TOO_COMPLEX",
        ),
        (keys[0].as_str(), json!({ "query": cycle }).to_string(), "INVALID_INPUT"),
        (
            keys[0].as_str(),
            json!({ "query": deep_list }).to_string(),
            "INVALID_INPUT",
        ),
        (
            keys[0].as_str(),
            json!({ "query": deep_selection }).to_string(),
            "INVALID_INPUT",
        ),
        (
            keys[1].as_str(),
            json!({ "query": deep_metadata }).to_string(),
            "INVALID_INPUT",
        ),
        // Variables 100,000 levels deep (serde_json stops at 128) and
        // metadata 40 levels deep (the ledger keeps at most 32).
        (
            keys[0].as_str(),
            format!(
                r#"{{"query":"query($m: JSON) {{ __typename }}","variables":{{"m":{}1{}}}}}"#,
                r#"{"a":"#.repeat(100_000),
                "}".repeat(100_000)
            ),
            "INVALID_INPUT",
        ),
        (
            keys[1].as_str(),
            json!({
                "query": "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
                "variables": { "i": { "code": "deep2", "currency": "USD", "metadata": nested(40) } },
            })
            .to_string(),
            "INVALID_INPUT",
        ),
    ];
    for (key, body, expected) in cases {
        let head = body.chars().take(60).collect::<String>();
        let (status, reply) = post_raw(&app, Some(key), body).await?;
        ensure!(code(&reply) == expected, "{head}…: {status} {reply}");
        ensure!(status == 200 || status == 400, "{head}…: status {status}");
        // A syntax error quotes its line; the answer must not echo the request.
        ensure!(
            reply.to_string().len() < 4096,
            "{head}…: a {} byte answer",
            reply.to_string().len()
        );
    }
    ensure!(app.snapshot().await? == before, "a refused request wrote something");
    // Still serving, and metadata within the limit is kept whole.
    let ok = app
        .post_as(
            Some(&keys[1]),
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { metadata } }",
            json!({ "i": { "code": "ok", "currency": "USD", "metadata": nested(32) } }),
        )
        .await?;
    ensure!(ok.1["data"]["createAccount"]["metadata"] == nested(32), "{ok:?}");
    let read = app
        .post_as(
            Some(&keys[0]),
            "query($id: UUID!) { account(id: $id) { balance } }",
            json!({ "id": a }),
        )
        .await?;
    ensure!(read.1["data"]["account"]["balance"] == json!("0.00"), "{read:?}");
    Ok(())
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "a": inner }))
}

async fn text_holding_nul_is_invalid_input_on_every_path(app: TestApp) -> Result<()> {
    let a = app.open("a", "USD", None).await?;
    app.deposit(a, "5.00", "seed").await?;
    let before = app.snapshot().await?;
    let nul = "x\u{0}y";
    let cases = [
        (
            "query($c: String!) { accountByCode(code: $c) { id } }",
            json!({ "c": nul }),
        ),
        (
            "query($k: String!) { transferByIdempotencyKey(key: $k) { id } }",
            json!({ "k": nul }),
        ),
        (
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
            json!({ "i": { "code": "b", "currency": "US\u{0}D" } }),
        ),
        (
            "mutation($i: CreateCurrencyInput!) { createCurrency(input: $i) { code } }",
            json!({ "i": { "code": "P\u{0}TS", "scale": 0 } }),
        ),
        (
            tests::DEPOSIT,
            json!({ "i": { "accountId": a, "amount": "1.00", "idempotencyKey": nul } }),
        ),
        (
            tests::DEPOSIT,
            json!({ "i": { "accountId": a, "amount": "1.00", "idempotencyKey": "k", "metadata": { "x\u{0}": 1 } } }),
        ),
        // In the document itself rather than in a variable.
        (r#"{ accountByCode(code: "x\u0000y") { id } }"#, json!({})),
    ];
    for (query, variables) in cases {
        let (status, body) = app.post_as(None, query, variables.clone()).await?;
        ensure!(
            status == 400 && code(&body) == "INVALID_INPUT",
            "{query} {variables}: {status} {body}"
        );
        ensure!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("U+0000")),
            "{body}"
        );
    }
    ensure!(app.snapshot().await? == before, "a refused request wrote something");
    app.assert_invariants().await
}

async fn refusals_before_execution_point_at_no_location(app: TestApp) -> Result<()> {
    app.keys(&[("reader", Scope::Read)]).await?;
    let (status, body) = app.post_as(None, "{ currencies { code } }", json!({})).await?;
    ensure!(status == 401 && code(&body) == "UNAUTHENTICATED", "{status} {body}");
    // GraphQL positions start at line 1: a refusal with no place in the
    // document carries no `locations` rather than 0:0.
    ensure!(body["errors"][0].get("locations").is_none(), "{body}");
    Ok(())
}

async fn a_batch_pays_the_rate_limit_for_each_operation(backend: Backend) -> Result<()> {
    let options = api::ServerOptions {
        rate_limit: api::auth::RateLimit {
            per_second: 1,
            burst: 3,
        },
        ..Default::default()
    };
    let app = tests::spawn_app_configured(backend, true, options).await?;
    let key = app.keys(&[("reader", Scope::Read)]).await?.remove(0);
    let one = json!({ "query": "{ currencies { code } }" });
    let batch = |n: usize| Value::Array(vec![one.clone(); n]).to_string();
    // More operations than the whole burst: refused at once, none run.
    let (status, body) = post_raw(&app, Some(&key), batch(4)).await?;
    ensure!(status == 429 && code(&body) == "RATE_LIMITED", "{status} {body}");
    // Three operations use the three requests of the burst...
    let (status, body) = post_raw(&app, Some(&key), batch(3)).await?;
    ensure!(
        status == 200 && body.as_array().is_some_and(|b| b.len() == 3),
        "{status} {body}"
    );
    // ...so the next single request is over budget.
    let (status, body) = post_raw(&app, Some(&key), one.to_string()).await?;
    ensure!(status == 429 && code(&body) == "RATE_LIMITED", "{status} {body}");
    Ok(())
}

/// Reads until the server closes the connection; `Err` if it stays open
/// longer than `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Result<Vec<u8>> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    ensure!(read.is_ok(), "still open after {wait:?}");
    Ok(got)
}

async fn slow_and_piled_up_connections_are_cut_off(backend: Backend) -> Result<()> {
    let options = api::ServerOptions {
        conn: api::http::ConnLimits {
            max_connections: 3,
            header_timeout: Duration::from_millis(500),
        },
        ..Default::default()
    };
    let app = tests::spawn_app_configured(backend, true, options).await?;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // A slowloris: half a request head, then nothing.
    let mut slow = TcpStream::connect(&addr).await?;
    slow.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n").await?;
    closed_within(&mut slow, Duration::from_secs(3)).await?;
    // Three idle connections fill the instance; a fourth is closed at once,
    // before the header timeout could have closed it.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(&addr).await?);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(&addr).await?;
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = closed_within(&mut extra, Duration::from_millis(400)).await?;
    ensure!(answer.is_empty(), "the connection over the cap was served");
    // Once the idle ones are cut by the header timeout, service resumes.
    for mut c in idle {
        closed_within(&mut c, Duration::from_secs(3)).await?;
    }
    let health = app.client.get(format!("{}/healthz", app.base)).send().await?;
    ensure!(health.status() == 200, "{}", health.status());
    Ok(())
}

async fn without_introspection_errors_suggest_no_names(backend: Backend) -> Result<()> {
    let options = api::ServerOptions {
        introspection: false,
        ..Default::default()
    };
    let app = tests::spawn_app_configured(backend, true, options).await?;
    let body = app
        .post("{ acount(id: \"x\") { id } currencie { code } }", json!({}))
        .await?;
    let text = body.to_string();
    ensure!(code(&body) == "INVALID_INPUT", "{body}");
    ensure!(!text.contains("Did you mean"), "a field name leaked: {body}");
    let open = tests::spawn_app(backend).await?;
    let body = open.post("{ acount(id: \"x\") { id } }", json!({})).await?;
    ensure!(
        body.to_string().contains("Did you mean"),
        "suggestions are on by default: {body}"
    );
    Ok(())
}
