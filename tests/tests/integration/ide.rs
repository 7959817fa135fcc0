//! The IDE pages as served: every script and style pinned by Subresource
//! Integrity, from a CDN or from `--ide-assets`, nothing outside that
//! directory reachable, both off with introspection. (The pages running in
//! a browser, subscriptions included, are `scripts/ide-test.sh`.)

use anyhow::{Result, ensure};
use tests::Backend;

tests::each_backend!(the_ide_pages_pin_their_assets_and_serve_them_offline);

async fn get(app: &tests::TestApp, path: &str) -> Result<(u16, String, String)> {
    let res = app
        .client
        .get(format!("{}{path}", app.base))
        .header("accept", "text/html")
        .send()
        .await?;
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok((status, kind, res.text().await?))
}

/// Every `src=`/`href=` of a script or stylesheet tag carries an integrity hash.
fn pinned(page: &str, base: &str) -> Result<usize> {
    let tags: Vec<&str> = page
        .split('<')
        .filter(|t| t.starts_with("script src") || t.starts_with("link rel=\"stylesheet\"") || t.contains(base))
        .filter(|t| t.contains(base))
        .collect();
    for tag in &tags {
        ensure!(
            tag.contains("integrity=\"sha384-") && tag.contains("crossorigin"),
            "unpinned: <{tag}"
        );
        ensure!(tag.contains('@'), "no exact version: <{tag}");
    }
    Ok(tags.len())
}

async fn the_ide_pages_pin_their_assets_and_serve_them_offline(backend: Backend) -> Result<()> {
    let cdn = tests::spawn_app(backend).await?;
    for path in ["/graphql", "/playground"] {
        let (status, kind, page) = get(&cdn, path).await?;
        ensure!(
            status == 200 && kind.starts_with("text/html"),
            "{path}: {status} {kind}"
        );
        ensure!(
            pinned(&page, "https://cdn.jsdelivr.net/npm/")? >= 2,
            "{path}: no pinned assets"
        );
        ensure!(!page.contains("/ide-assets/"), "{path}");
    }
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("graphiql@3.9.0"))?;
    std::fs::write(dir.path().join("graphiql@3.9.0/graphiql.min.js"), "/* js */")?;
    std::fs::write(dir.path().parent().unwrap_or(dir.path()).join("outside.txt"), "secret")?;
    let offline = tests::spawn_app_configured(
        backend,
        true,
        api::ServerOptions {
            ide_assets: Some(dir.path().to_owned()),
            ..Default::default()
        },
    )
    .await?;
    let (_, _, page) = get(&offline, "/graphql").await?;
    ensure!(
        pinned(&page, "/ide-assets/")? >= 2 && !page.contains("cdn.jsdelivr"),
        "{page}"
    );
    let (status, kind, body) = get(&offline, "/ide-assets/graphiql@3.9.0/graphiql.min.js").await?;
    ensure!(
        status == 200 && kind.starts_with("text/javascript") && body == "/* js */",
        "{status} {kind}"
    );
    for bad in [
        "/ide-assets/../outside.txt",
        "/ide-assets/%2e%2e/outside.txt",
        "/ide-assets/nothing.js",
    ] {
        let (status, _, body) = get(&offline, bad).await?;
        ensure!(status == 404 && !body.contains("secret"), "{bad}: {status}");
    }
    let closed = tests::spawn_app_configured(
        backend,
        true,
        api::ServerOptions {
            introspection: false,
            ..Default::default()
        },
    )
    .await?;
    for path in ["/graphql", "/playground"] {
        let (status, _, _) = get(&closed, path).await?;
        ensure!(status == 404, "{path} with introspection off: {status}");
    }
    Ok(())
}
