//! The in-browser IDEs: GraphiQL on `GET /graphql` (a browser's plain GET)
//! and GraphQL Playground on `GET /playground`, both with subscriptions.
//!
//! Their scripts and styles are exact versions, each pinned by its
//! Subresource Integrity hash in the page, so a compromised CDN cannot run
//! code on the ledger's origin, where admins paste keys. They load from a
//! public CDN by default, or from `--ide-assets DIR` (laid out as
//! `DIR/<package>@<version>/<file>`, made by `scripts/ide-assets.sh DIR`)
//! for networks without internet; the hashes are the same either way.
//! Both pages are off with introspection.

use std::path::{Component, Path, PathBuf};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;

const GRAPHIQL: &str = include_str!("ide/graphiql.html");
const PLAYGROUND: &str = include_str!("ide/playground.html");
/// Where the pinned files are fetched from without `--ide-assets`.
const CDN: &str = "https://cdn.jsdelivr.net/npm";
/// The URL prefix `--ide-assets` files are served under.
pub const LOCAL: &str = "/ide-assets";

pub fn graphiql(state: &AppState) -> Response {
    page(state, GRAPHIQL)
}

pub async fn playground(State(state): State<AppState>) -> Response {
    page(&state, PLAYGROUND)
}

fn page(state: &AppState, template: &str) -> Response {
    if !state.options.introspection {
        return (StatusCode::NOT_FOUND, "the IDEs are off (--introspection false)").into_response();
    }
    let assets = match state.options.ide_assets {
        Some(_) => LOCAL,
        None => CDN,
    };
    let mut reply = Html(template.replace("{{ASSETS}}", assets)).into_response();
    reply
        .headers_mut()
        .insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    reply
}

/// A file of `--ide-assets DIR`; 404 for anything else (no directory
/// listing, no path outside DIR).
pub async fn asset(State(state): State<AppState>, UrlPath(path): UrlPath<String>) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "no such IDE asset").into_response();
    let Some(dir) = &state.options.ide_assets else {
        return not_found();
    };
    let Some(file) = inside(dir, &path) else {
        return not_found();
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let mut reply = bytes.into_response();
            let headers = reply.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&file)));
            // Versioned paths never change.
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            reply
        }
        Err(_) => not_found(),
    }
}

/// `rel` under `dir`, when it names only plain components (no `..`, no root).
fn inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel);
    rel.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(rel))
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("map" | "json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_below_the_directory_are_served() {
        let dir = Path::new("/srv/ide");
        assert_eq!(
            inside(dir, "graphiql@3.8.3/graphiql.min.js"),
            Some(dir.join("graphiql@3.8.3/graphiql.min.js"))
        );
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../b", "./a"] {
            assert_eq!(inside(dir, bad), None, "{bad}");
        }
    }
}
