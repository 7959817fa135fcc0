//! The accept loop, for HTTP and HTTPS: what a client can hold of the
//! server before it has sent a request.
//!
//! - At most `max_connections` connections at once; one beyond is closed
//!   at accept (the kernel's backlog holds the rest), so no one peer can
//!   exhaust file descriptors.
//! - A connection must send a whole request head within `header_timeout`
//!   of being accepted or of its previous response (and finish its TLS
//!   handshake within it too), so slow header senders (slowloris) and idle
//!   connections are cut off.
//! - HTTP/1.1 only: hyper's version sniffing for HTTP/2 waits for bytes
//!   with no deadline, which an idle peer exploits; TLS offers only
//!   `http/1.1` in ALPN. Put an HTTP/2 proxy in front where that matters.
//! - On shutdown the loop stops accepting, every connection finishes its
//!   request in flight and closes, then the loop returns.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// What a peer may hold before and between requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

impl ConnLimits {
    pub const DEFAULT: ConnLimits = ConnLimits {
        max_connections: 10_000,
        header_timeout: Duration::from_secs(10),
    };
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How long a graceful shutdown waits for open connections to finish.
const CLOSE_WAIT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` (over TLS with `tls`) until `shutdown`.
pub async fn run(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of descriptors or the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tracing::warn!(
                max = limits.max_connections,
                "connection refused: this instance holds its most connections"
            );
            drop(tcp);
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let (builder, router, stop) = (Arc::clone(&builder), router.clone(), stopping.clone());
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                None => serve(&builder, tcp, router, stop).await,
                Some(acceptor) => match tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => serve(&builder, stream, router, stop).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                },
            }
            drop(permit);
        });
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    if tokio::time::timeout(CLOSE_WAIT, connections.wait()).await.is_err() {
        tracing::warn!("connections still open after {CLOSE_WAIT:?}; stopping anyway");
    }
}

async fn serve<S>(builder: &http1::Builder, stream: S, router: Router, stop: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router.map_request(|req: Request<Incoming>| req.map(Body::new)));
    let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = stop.cancelled() => {
            // Finish the request in flight, then close (an idle keep-alive
            // connection closes at once).
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
