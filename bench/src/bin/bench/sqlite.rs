//! The SQLite runs: write combining against one transaction per request.

use std::sync::Arc;

use anyhow::{Context, Result};
use bench::gql::Tally;
use bench::report::{Report, Row};
use bench::scenarios::{self, Accounts, Run, Scenario};
use bench::server::{self, Server};

use super::{Args, SQLITE_PORT, run_id, tempdir};

pub(super) async fn sqlite(args: &Args, run: &Run, report: &mut Report) -> Result<()> {
    let dir = tempdir()?;
    let url = format!("sqlite:{}", dir.join("bench.db").display());
    let key = server::create_key(&server::tally_binary()?, &url)?;
    let mut combined = 0.0;
    for combining in [true, false] {
        let srv = Server::start(&server::tally_binary()?, &url, SQLITE_PORT, combining, &dir).await?;
        let tally = Tally::new(&srv.base).with_bearer(Some(key.clone()));
        let accounts = match combining {
            true => {
                eprintln!("preparing {} accounts on SQLite…", args.accounts);
                scenarios::prepare(&tally, args.accounts, "lite").await?
            }
            false => reopen(&tally, args.accounts).await?,
        };
        let s = scenarios::run(&tally, &accounts, Scenario::Uncontended, 32, run, &run_id()).await;
        let label = if combining {
            "sqlite"
        } else {
            "sqlite (one transaction per request)"
        };
        report
            .rows
            .push(Row::new(label, Scenario::Uncontended.name(), 32, &s, false));
        if combining {
            combined = s.transfers_per_sec();
            for scenario in [Scenario::Hot, Scenario::Deposits] {
                let s = scenarios::run(&tally, &accounts, scenario, 32, run, &run_id()).await;
                report.rows.push(Row::new("sqlite", scenario.name(), 32, &s, false));
            }
        } else {
            report.figures.push((
                "SQLite: write combining ÷ one transaction per request, 32 clients (target ≥ 2×; and ≥ 1,000/s)".into(),
                format!(
                    "{:.2}× ({combined:.0}/s vs {:.0}/s)",
                    combined / s.transfers_per_sec().max(1e-9),
                    s.transfers_per_sec()
                ),
            ));
        }
        srv.stop();
    }
    Ok(())
}

/// The accounts prepared by the first SQLite server, found again by code.
async fn reopen(tally: &Tally, n: usize) -> Result<Accounts> {
    let id = |code: String| {
        let tally = tally.clone();
        async move {
            let data = tally
                .data(
                    "query($c: String!) { accountByCode(code: $c) { id } }",
                    serde_json::json!({ "c": code }),
                )
                .await?;
            let text = data["accountByCode"]["id"]
                .as_str()
                .context("missing account")?
                .to_owned();
            Ok::<_, anyhow::Error>(uuid::Uuid::parse_str(&text)?)
        }
    };
    let bank = id("lite-bank".into()).await?;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(id(format!("lite-{i}")).await?);
    }
    Ok(Accounts {
        bank,
        ids: Arc::new(ids),
    })
}
