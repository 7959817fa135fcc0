//! The typed Rust client (examples/rust-client, generated from
//! schema.graphql) against a real server: it compiles only while the schema
//! still has what it uses, and it must still do what it did.

use anyhow::{Result, ensure};
use tests::{TestApp, both};

both!(the_typed_rust_client_creates_moves_and_reads_history);

async fn the_typed_rust_client_creates_moves_and_reads_history(app: TestApp) -> Result<()> {
    let report = tally_client_example::run(&app.endpoint, "ci").await?;
    ensure!(report.alice_balance == "70.00", "{report:?}");
    ensure!(report.bob_balance == "30.00", "{report:?}");
    ensure!(report.overdraft_code == "INSUFFICIENT_FUNDS", "{report:?}");
    let entries: Vec<(i64, &str, &str, &str)> = report
        .alice_entries
        .iter()
        .map(|(s, a, b, k)| (*s, a.as_str(), b.as_str(), k.as_str()))
        .collect();
    ensure!(
        entries == [(1, "100.00", "100.00", "DEPOSIT"), (2, "-30.00", "70.00", "TRANSFER")],
        "{entries:?}"
    );
    ensure!(report.carol_balance == "9.14", "{report:?}");
    let (target, exact, remainder, kinds) = &report.exchange;
    ensure!(
        (target.as_str(), exact.as_str(), remainder.as_str()) == ("9.14", "9.137", "-0.003"),
        "{report:?}"
    );
    ensure!(kinds == &["EXCHANGE", "EXCHANGE"], "{report:?}");
    app.assert_invariants().await
}
