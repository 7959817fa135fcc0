use std::process::ExitCode;
use std::time::Duration;

use api::config::{Cli, Command, ServeArgs};
use clap::Parser;
use service::seal::digest::{Signer, default_key_path};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Schema => {
            print!("{}", api::sdl());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve(args).await.map(|()| ExitCode::SUCCESS),
        Command::Verify(args) => api::verify_cmd::run(args).await,
        Command::Migrate { database_url } => service::Ledger::connect(&database_url)
            .await
            .map(|_| {
                println!("migrations applied");
                ExitCode::SUCCESS
            })
            .map_err(|e| format!("cannot migrate: {e}")),
    };
    result.unwrap_or_else(|message| {
        tracing::error!("{message}");
        ExitCode::FAILURE
    })
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let ledger = service::Ledger::open(&args.database_url, !args.skip_migrations)
        .await
        .map_err(|e| format!("cannot open database: {e}"))?;
    let ledger = match args.write_combining {
        true => ledger,
        false => ledger.without_combining(),
    };
    let ledger = ledger.with_feed_poll(Duration::from_millis(args.subscription_poll_ms.max(1)));
    let options = api::ServerOptions {
        ws_buffer: args.subscription_buffer,
        loader_delay: Duration::from_millis(args.loader_delay_ms),
    };
    let key_path = args
        .signing_key_file
        .clone()
        .unwrap_or_else(|| default_key_path(&args.data_dir));
    let (signer, generated) = Signer::load_or_create(&key_path).map_err(|e| format!("signing key: {e}"))?;
    if generated {
        tracing::warn!(
            "generated a new signing key at {}; its public key is {} (keep it to check digests; give every instance this file)",
            key_path.display(),
            signer.public_key_hex()
        );
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    service::hold::spawn_expiry_worker(ledger.clone(), Duration::from_millis(args.expiry_interval_ms));
    let _sealer = match args.seal_interval_ms {
        0 => {
            tracing::warn!("this instance does not seal (--seal-interval-ms 0); another instance must");
            None
        }
        ms => Some(service::seal::spawn(ledger.clone(), Duration::from_millis(ms))),
    };
    tracing::info!(
        "tally listening on http://{}/graphql (digest key {})",
        args.listen,
        signer.public_key_hex()
    );
    api::serve(listener, ledger, signer, options)
        .await
        .map_err(|e| format!("server error: {e}"))
}
