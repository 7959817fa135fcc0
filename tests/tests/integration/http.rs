use anyhow::Result;
use tests::{TestApp, both};

both!(graphiql_and_health_are_served);

async fn graphiql_and_health_are_served(app: TestApp) -> Result<()> {
    let page = app
        .client
        .get(&app.endpoint)
        .header("accept", "text/html")
        .send()
        .await?;
    assert!(page.status().is_success());
    assert!(page.text().await?.to_lowercase().contains("graphiql"));
    let health = app.client.get(format!("{}/health", app.base)).send().await?;
    assert_eq!(health.status().as_u16(), 200);
    Ok(())
}
