//! `tally keys create|list|revoke`: API keys from the command line.

use std::process::ExitCode;

use service::store::api_key::{self, Scope};

use crate::config::KeysAction;

pub async fn run(database_url: &str, action: KeysAction) -> Result<ExitCode, String> {
    // Creating or revoking a key may come before the first `serve`, so it
    // brings the schema up to date; listing only reads.
    let migrate = !matches!(action, KeysAction::List);
    let ledger = service::Ledger::open_with(database_url, migrate, None)
        .await
        .map_err(|e| format!("cannot open database: {e}"))?;
    match action {
        KeysAction::Create { name, scope } => {
            let scope =
                Scope::parse(&scope).ok_or_else(|| format!("scope must be read, write or admin, not {scope:?}"))?;
            let (key, secret) = api_key::create(&ledger, &name, scope)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!(
                "created key {} ({}, scope {}); it is shown only now, keep it:",
                key.name, key.id, key.scope
            );
            println!("{secret}");
        }
        KeysAction::List => {
            let keys = api_key::list(&ledger)
                .await
                .map_err(|e| format!("cannot read the keys (has `tally migrate` run on this database?): {e}"))?;
            println!(
                "{:<36}  {:<20}  {:<6}  {:<14}  {:<25}  revoked",
                "id", "name", "scope", "key", "created"
            );
            for k in keys {
                let revoked = k.revoked_at.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
                println!(
                    "{:<36}  {:<20}  {:<6}  {:<14}  {:<25}  {revoked}",
                    k.id,
                    k.name,
                    k.scope,
                    format!("{}…", k.key_prefix),
                    k.created_at.to_rfc3339()
                );
            }
        }
        KeysAction::Revoke { name_or_id } => {
            let key = api_key::revoke(&ledger, &name_or_id).await.map_err(|e| e.to_string())?;
            println!("revoked key {} ({})", key.name, key.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}
