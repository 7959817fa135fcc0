use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use api::auth::{JwtConfig, JwtVerifier, RateLimit};
use api::config::{Cli, Command, LogFormat, ServeArgs};
use clap::Parser;
use service::seal::digest::{Signer, default_key_path};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Schema => {
            print!("{}", api::sdl());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve(*args).await.map(|()| ExitCode::SUCCESS),
        Command::Verify(args) => api::verify_cmd::run(args).await,
        Command::Keys { database_url, action } => api::keys_cmd::run(&database_url, action).await,
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

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let jwt = JwtVerifier::load(&JwtConfig {
        secret_file: args.jwt_secret_file.clone(),
        jwks_file: args.jwt_jwks_file.clone(),
        issuer: args.jwt_issuer.clone(),
        audience: args.jwt_audience.clone(),
    })?
    .map(Arc::new);
    let statement_timeout = (args.statement_timeout_ms > 0).then(|| Duration::from_millis(args.statement_timeout_ms));
    let ledger = service::Ledger::open_with(&args.database_url, !args.skip_migrations, statement_timeout)
        .await
        .map_err(|e| format!("cannot open database: {e}"))?;
    check_exposure(&args, &ledger, jwt.is_some()).await?;
    let ledger = match args.write_combining {
        true => ledger,
        false => ledger.without_combining(),
    };
    let ledger = ledger.with_feed_poll(Duration::from_millis(args.subscription_poll_ms.max(1)));
    let options = options(&args, jwt);
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
    let listener =
        std::net::TcpListener::bind(&args.listen).map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    service::operations::hold::spawn_expiry_worker(ledger.clone(), Duration::from_millis(args.expiry_interval_ms));
    let _sealer = match args.seal_interval_ms {
        0 => {
            tracing::warn!("this instance does not seal (--seal-interval-ms 0); another instance must");
            None
        }
        ms => Some(service::seal::spawn(ledger.clone(), Duration::from_millis(ms))),
    };
    let scheme = if args.tls_cert.is_some() { "https" } else { "http" };
    tracing::info!(
        "tally listening on {scheme}://{}/graphql (digest key {})",
        args.listen,
        signer.public_key_hex()
    );
    let served = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => api::serve_tls(listener, ledger, signer, options, cert, key).await,
        _ => {
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
            api::serve(listener, ledger, signer, options).await
        }
    };
    served.map_err(|e| format!("server error: {e}"))?;
    tracing::info!("stopped: every in-flight request finished");
    Ok(())
}

fn options(args: &ServeArgs, jwt: Option<Arc<JwtVerifier>>) -> api::ServerOptions {
    api::ServerOptions {
        webhooks: api::webhooks::WebhookOptions {
            timeout: Duration::from_millis(args.webhook_timeout_ms.max(1)),
            max_attempts: i32::try_from(args.webhook_max_attempts.max(1)).unwrap_or(i32::MAX),
            backoff: Duration::from_millis(args.webhook_backoff_ms),
            poll: Duration::from_millis(args.webhook_poll_ms.max(1)),
            ..api::webhooks::WebhookOptions::DEFAULT
        },
        ws: api::WsOptions {
            buffer: args.subscription_buffer,
            init_timeout: Duration::from_millis(args.ws_init_timeout_ms.max(1)),
            max_sockets: args.ws_max_sockets,
            max_per_caller: args.ws_max_per_caller,
            max_subscriptions: args.ws_max_subscriptions,
            ..api::WsOptions::DEFAULT
        },
        loader_delay: Duration::from_millis(args.loader_delay_ms),
        limits: api::Limits {
            depth: args.max_depth,
            complexity: args.max_complexity,
            aliases: args.max_aliases,
            directives: args.max_directives,
            batch: args.max_batch,
            body_bytes: args.max_body_bytes,
        },
        introspection: args.introspection,
        request_timeout: Duration::from_millis(args.request_timeout_ms.max(1)),
        rate_limit: RateLimit {
            per_second: args.rate_limit,
            burst: args.rate_limit_burst,
        },
        jwt,
        conn: api::http::ConnLimits {
            max_connections: args.max_connections.max(1),
            header_timeout: Duration::from_millis(args.header_timeout_ms.max(1)),
        },
        ide_assets: args.ide_assets.clone(),
        backdating: api::auth::Backdating(Duration::from_secs(args.backdate_window_hours.saturating_mul(3600))),
        replica: args.replica_database_url.clone().map(|url| api::http::ReplicaOptions {
            url,
            max_wait: Duration::from_millis(args.replica_max_wait_ms),
            max_lag: Duration::from_millis(args.replica_max_lag_ms),
        }),
    }
}

/// Without any credential configured, anyone who reaches the port may move
/// any money: fine on loopback (the embedded default, with a warning),
/// refused elsewhere unless explicitly overridden.
async fn check_exposure(args: &ServeArgs, ledger: &service::Ledger, jwt: bool) -> Result<(), String> {
    let keys = service::store::api_key::any(ledger)
        .await
        .map_err(|e| format!("cannot read API keys: {e}"))?;
    if keys || jwt {
        return Ok(());
    }
    let loopback = args
        .listen
        .to_socket_addrs()
        .map(|mut addrs| addrs.all(|a| a.ip().is_loopback()))
        .unwrap_or(false);
    match (loopback, args.insecure_no_auth) {
        (true, _) => {
            tracing::warn!(
                "no API key exists: every request is allowed everything (fine on loopback; create one with `tally keys create`)"
            );
            Ok(())
        }
        (false, true) => {
            tracing::warn!(listen = %args.listen, "--insecure-no-auth: serving a non-loopback address without authentication");
            Ok(())
        }
        (false, false) => Err(format!(
            "refusing to serve {} without authentication: create an API key first (`tally keys create --name NAME --scope admin`), \
             configure --jwt-secret-file or --jwt-jwks-file, or pass --insecure-no-auth",
            args.listen
        )),
    }
}
