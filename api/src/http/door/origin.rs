//! While no credential is configured (the loopback default) every request
//! may do everything, so a web page on another site must not be able to
//! make a visitor's browser send one (or, by DNS rebinding, pose as this
//! host): a request whose `Origin` is not this machine is refused
//! (FORBIDDEN, 403). Clients other than browsers send no `Origin`.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use service::ErrorCode;

use super::RequestId;
use crate::http::{AppState, reply};

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.auth.required() {
        return next.run(request).await;
    }
    let foreign = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| !loopback(origin));
    if !foreign {
        return next.run(request).await;
    }
    reply::refusal(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        "requests from other sites are refused while this server has no credentials configured",
        &id(&request),
    )
}

pub(super) fn id(request: &Request) -> String {
    request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// Whether an `Origin` (`scheme://host[:port]`) names this machine.
fn loopback(origin: &str) -> bool {
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(host, _)| host),
        None => authority.split_once(':').map_or(authority, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::loopback;

    #[test]
    fn only_origins_on_this_machine_are_loopback() {
        for ok in [
            "http://localhost:5173",
            "http://127.0.0.1:8000",
            "https://[::1]:9",
            "http://LOCALHOST",
        ] {
            assert!(loopback(ok), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://127.0.0.1.evil.example",
            "null",
            "http://10.0.0.1",
            "file://",
        ] {
            assert!(!loopback(bad), "{bad}");
        }
    }
}
