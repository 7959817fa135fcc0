//! End-user tokens beyond ownership (security.rs): a configured issuer and
//! audience are required, not only checked when present; and what an end
//! user may read of a transfer's other leg.

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use service::store::api_key::Scope;
use tests::Backend;
use tests::jwt::{SECRET, token};

tests::each_backend!(
    a_configured_issuer_and_audience_must_be_present_and_match,
    an_end_user_sees_nothing_private_of_the_other_leg,
);

const CREATE: &str = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }";

async fn a_configured_issuer_and_audience_must_be_present_and_match(backend: Backend) -> Result<()> {
    let app = tests::jwt::app(backend, Some("https://id.example"), Some("tally")).await?;
    let admin = app.keys(&[("admin", Scope::Admin)]).await?.remove(0);
    let created = app
        .post_as(
            Some(&admin),
            CREATE,
            json!({ "i": { "code": "a", "currency": "USD", "owner": "u" } }),
        )
        .await?;
    let a = tests::uuid_at(&created.1["data"]["createAccount"]["id"])?;
    let read = "query($id: UUID!) { account(id: $id) { balance } }";
    let cases = [
        (json!({}), 401),
        (json!({ "aud": "tally" }), 401),
        (json!({ "iss": "https://id.example" }), 401),
        (json!({ "iss": "https://id.example", "aud": "other" }), 401),
        (json!({ "iss": "https://evil.example", "aud": "tally" }), 401),
        (json!({ "iss": "https://id.example", "aud": "tally" }), 200),
        (json!({ "iss": "https://id.example", "aud": ["other", "tally"] }), 200),
    ];
    for (claims, status) in cases {
        let bearer = token(SECRET, "u", 300, claims.clone())?;
        let (got, body) = app.post_as(Some(&bearer), read, json!({ "id": a })).await?;
        ensure!(got == status, "{claims}: {got} {body}");
        if status == 401 {
            ensure!(
                body["errors"][0]["extensions"]["code"] == json!("UNAUTHENTICATED"),
                "{body}"
            );
        }
    }
    Ok(())
}

async fn an_end_user_sees_nothing_private_of_the_other_leg(backend: Backend) -> Result<()> {
    let app = tests::jwt::app(backend, None, None).await?;
    let admin = app.keys(&[("admin", Scope::Admin)]).await?.remove(0);
    let mut ids = Vec::new();
    for (code, owner) in [("alice", "u-alice"), ("bob", "u-bob")] {
        let body = app
            .post_as(
                Some(&admin),
                CREATE,
                json!({ "i": { "code": code, "currency": "USD", "owner": owner } }),
            )
            .await?;
        ids.push(tests::uuid_at(&body.1["data"]["createAccount"]["id"])?);
    }
    let deposit = json!({ "i": { "accountId": ids[0], "amount": "50.00", "idempotencyKey": "seed" } });
    app.post_as(Some(&admin), tests::DEPOSIT, deposit).await?;
    let alice = token(SECRET, "u-alice", 300, json!({}))?;
    let pay =
        json!({ "i": { "fromAccountId": ids[0], "toAccountId": ids[1], "amount": "10.00", "idempotencyKey": "t" } });
    let paid = app.post_as(Some(&alice), tests::TRANSFER, pay).await?;
    let transfer = tests::uuid_at(&paid.1["data"]["transfer"]["id"])?;
    // The public part of both legs: ids, amounts, times, links.
    let public = "query($t: UUID!) { transfer(id: $t) { entries { id accountId amount createdAt transfer { id } } } }";
    let (status, body) = app.post_as(Some(&alice), public, json!({ "t": transfer })).await?;
    let entries = body["data"]["transfer"]["entries"].as_array().cloned().unwrap();
    ensure!(
        status == 200 && body.get("errors").is_none() && entries.len() == 2,
        "{body}"
    );
    // Alice's own leg, whole.
    let private =
        |field: &str| format!("query($t: UUID!) {{ transfer(id: $t) {{ entries {{ accountId {field} }} }} }}");
    for field in ["sequence", "cursor", "hash", "previousHash", "balanceAfter"] {
        let (_, body) = app
            .post_as(Some(&alice), &private(field), json!({ "t": transfer }))
            .await?;
        let errors: Vec<&Value> = body["errors"].as_array().map(|e| e.iter().collect()).unwrap();
        // Exactly one refusal: Bob's leg (its account's entry count and
        // chain head are his), never Alice's.
        ensure!(errors.len() == 1, "{field}: {body}");
        ensure!(errors[0]["extensions"]["code"] == json!("FORBIDDEN"), "{field}: {body}");
        ensure!(
            errors[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&ids[1].to_string())),
            "{field}: {body}"
        );
        // An admin key sees both.
        let (_, body) = app
            .post_as(Some(&admin), &private(field), json!({ "t": transfer }))
            .await?;
        ensure!(body.get("errors").is_none(), "{field}: {body}");
    }
    Ok(())
}
