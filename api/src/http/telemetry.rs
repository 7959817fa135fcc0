//! Request ids, the Prometheus recorder and per-request metrics.
//!
//! Metrics (all from the `metrics` facade; the service records its own):
//! - `tally_requests_total{operation, outcome}`: outcome is `ok` or the
//!   first error's code; operation is the first root field (`transfer`,
//!   `account`…), `batch` member by member, `invalid` when it names none of
//!   the schema's root fields (so clients cannot mint label values).
//! - `tally_request_duration_seconds{operation}`: a histogram.
//! - `tally_combined_run_requests`, `tally_seal_lag_seconds`,
//!   `tally_db_statements_total`, `tally_db_statement_duration_seconds`
//!   (service), `tally_db_pool_connections{state}` (read at scrape).

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use async_graphql::Request;
use async_graphql::parser::types::Selection;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::TallySchema;

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls reuse it).
pub fn install_recorder() {
    RECORDER.get_or_init(|| {
        let seconds = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let counts = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
        let built = PrometheusBuilder::new()
            .set_buckets(&seconds)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_requests".into()), &counts))
            .and_then(PrometheusBuilder::install_recorder);
        match built {
            Ok(handle) => {
                let upkeep = handle.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        upkeep.run_upkeep();
                    }
                });
                Some(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
                None
            }
        }
    });
}

pub fn render() -> String {
    RECORDER
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// The schema's root field names: the only operation labels there can be.
pub struct Operations(HashSet<String>);

impl Operations {
    pub fn of(schema: &TallySchema) -> Self {
        let sdl = schema.sdl();
        let mut names = HashSet::new();
        if let Ok(doc) = async_graphql::parser::parse_schema(&sdl) {
            use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
            for def in doc.definitions {
                if let TypeSystemDefinition::Type(t) = def
                    && ["Query", "Mutation", "Subscription"].contains(&t.node.name.node.as_str())
                    && let TypeKind::Object(o) = &t.node.kind
                {
                    names.extend(o.fields.iter().map(|f| f.node.name.node.to_string()));
                }
            }
        }
        Self(names)
    }

    /// The label of a request: its operation's first root field, if known.
    pub fn label(&self, request: &mut Request) -> String {
        let name = request.operation_name.clone();
        let Ok(doc) = request.parsed_query() else {
            return "invalid".to_owned();
        };
        let first = crate::operation::selected(doc, name.as_deref()).and_then(|op| {
            op.node.selection_set.node.items.iter().find_map(|s| match &s.node {
                Selection::Field(f) => Some(f.node.name.node.to_string()),
                _ => None,
            })
        });
        match first {
            Some(f) if self.0.contains(&f) => f,
            _ => "invalid".to_owned(),
        }
    }
}

pub fn record(operation: &str, outcome: &str, elapsed: Duration) {
    metrics::counter!("tally_requests_total", "operation" => operation.to_owned(), "outcome" => outcome.to_owned())
        .increment(1);
    metrics::histogram!("tally_request_duration_seconds", "operation" => operation.to_owned())
        .record(elapsed.as_secs_f64());
}
