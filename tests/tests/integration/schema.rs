//! `schema.graphql` at the repository root is exactly what the code exports.

#[test]
fn schema_graphql_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let current = api::sdl();
    assert!(
        current.contains("type Query") && current.contains("type Mutation"),
        "exported SDL looks truncated"
    );
    assert!(
        committed == current,
        "schema.graphql is stale, empty or missing. Regenerate it with:\n    cargo run -p api -- schema > schema.graphql"
    );
}
