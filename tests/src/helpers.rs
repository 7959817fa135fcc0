//! More of `TestApp`: other instances on its database, requests with
//! credentials, API keys, holds.

use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};
use service::Ledger;
use uuid::Uuid;

use crate::{CREATE_HOLD, TestApp};

impl TestApp {
    /// The database this app runs on.
    pub fn database_url(&self) -> String {
        self.ledger.url().to_owned()
    }

    /// A second `Ledger` on the same database: another "instance".
    pub async fn second_instance(&self) -> Result<Ledger> {
        Ledger::connect(&self.database_url())
            .await
            .map_err(|e| anyhow!("connect: {e}"))
    }

    /// A second server ("instance B") on this app's database, with its own
    /// ledger, pool and caches; returns its base URL.
    pub async fn serve_second_instance(&self) -> Result<String> {
        let ledger = self.second_instance().await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let signer = service::seal::digest::Signer::generate().map_err(|e| anyhow!("{e}"))?;
        tokio::spawn(api::serve(listener, ledger, signer, api::ServerOptions::default()));
        Ok(base)
    }

    /// POSTs a GraphQL request with `credential` as the bearer token (none:
    /// no Authorization header); returns the status and the body.
    pub async fn post_as(&self, credential: Option<&str>, query: &str, variables: Value) -> Result<(u16, Value)> {
        let mut req = self
            .client
            .post(&self.endpoint)
            .json(&serde_json::json!({ "query": query, "variables": variables }));
        if let Some(c) = credential {
            req = req.bearer_auth(c);
        }
        let res = req.send().await?;
        Ok((res.status().as_u16(), res.json().await?))
    }

    /// Creates API keys on this app's ledger (one per `(name, scope)`) and
    /// waits until the server's key copy, reloaded every second, has them:
    /// from then on every request needs a credential.
    pub async fn keys(&self, specs: &[(&str, service::store::api_key::Scope)]) -> Result<Vec<String>> {
        let mut secrets = Vec::new();
        for (name, scope) in specs {
            secrets.push(service::store::api_key::create(&self.ledger, name, *scope).await?.1);
        }
        tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
        Ok(secrets)
    }

    pub async fn hold(&self, from: Uuid, to: Uuid, amount: &str, key: &str, expires_in_ms: i64) -> Result<Value> {
        let expires = chrono::Utc::now() + chrono::Duration::milliseconds(expires_in_ms);
        let input = json!({ "fromAccountId": from, "toAccountId": to, "amount": amount, "idempotencyKey": key, "expiresAt": expires.to_rfc3339() });
        self.post(CREATE_HOLD, json!({ "i": input })).await
    }

    pub async fn available(&self, account: Uuid) -> Result<String> {
        let data = self
            .data(
                "query($id: UUID!) { account(id: $id) { availableBalance } }",
                json!({ "id": account }),
            )
            .await?;
        data["account"]["availableBalance"]
            .as_str()
            .map(str::to_owned)
            .context("no availableBalance")
    }
}
