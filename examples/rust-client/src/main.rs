//! `cargo run -p tally-client-example -- [ENDPOINT]`: runs the typed client
//! against a running `tally serve` (default http://127.0.0.1:8000/graphql).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8000/graphql".to_owned());
    let run_id = format!("{:x}", std::process::id());
    match tally_client_example::run(&endpoint, &run_id).await {
        Ok(report) => {
            println!("alice {} has {}", report.alice_id, report.alice_balance);
            println!("bob   {} has {}", report.bob_id, report.bob_balance);
            println!("overdraft refused with {}", report.overdraft_code);
            let (target, exact, remainder, _) = &report.exchange;
            println!("10.00 USD from bob -> {target} EUR to carol (exactly {exact}, remainder {remainder})");
            for (sequence, amount, after, kind) in &report.alice_entries {
                println!("  #{sequence} {kind:<10} {amount:>8} -> {after}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("typed client failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
