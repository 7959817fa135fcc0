//! The benchmark harness's smoke test: a two-second run against a real
//! server counts exactly what the database holds, and the invariants hold.

use anyhow::Result;
use bench::gql::Tally;
use bench::scenarios::{self, Run, Scenario};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use service::entity::transfer;
use std::time::Duration;
use tests::{TestApp, both};

both!(a_two_second_run_counts_correctly_and_keeps_the_invariants);

async fn a_two_second_run_counts_correctly_and_keeps_the_invariants(app: TestApp) -> Result<()> {
    let tally = Tally::new(&app.base);
    let accounts = scenarios::prepare(&tally, 30, "smoke").await?;
    let run = Run {
        warmup: Duration::from_millis(300),
        duration: Duration::from_millis(1700),
    };
    for (scenario, run_id, per_request) in [
        (Scenario::Uncontended, "u", 1),
        (Scenario::Hot, "h", 1),
        (Scenario::Batch100, "b", 100),
    ] {
        let stats = scenarios::run(&tally, &accounts, scenario, 4, &run, run_id).await;
        let stored = transfer::Entity::find()
            .filter(transfer::Column::IdempotencyKey.starts_with(format!("{run_id}-")))
            .count(&app.db)
            .await?;
        assert!(stats.requests > 0 && stats.errors == 0, "{scenario:?}: {stats:?}");
        assert_eq!(
            stats.all_transfers, stored,
            "{scenario:?}: the harness must count what was written"
        );
        assert!(
            stats.transfers <= stats.all_transfers
                && stats.transfers >= stats.requests * per_request - stats.refused * per_request
        );
        assert!(stats.percentile_ms(99.0) >= stats.percentile_ms(50.0));
    }
    app.assert_invariants().await
}
