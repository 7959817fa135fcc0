use std::process::ExitCode;

use api::config::{Cli, Command, ServeArgs};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    match Cli::parse().command {
        Command::Schema => {
            print!("{}", api::sdl());
            ExitCode::SUCCESS
        }
        Command::Serve(args) => match serve(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                tracing::error!("{message}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let ledger = service::Ledger::connect(&args.database_url)
        .await
        .map_err(|e| format!("cannot open database: {e}"))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    service::hold::spawn_expiry_worker(
        ledger.clone(),
        std::time::Duration::from_millis(args.expiry_interval_ms),
    );
    tracing::info!("tally listening on http://{}/graphql", args.listen);
    api::serve(listener, ledger)
        .await
        .map_err(|e| format!("server error: {e}"))
}
