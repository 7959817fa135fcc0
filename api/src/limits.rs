//! Bounds on what one request may ask for (the OWASP GraphQL cheat sheet's
//! controls): nesting depth, complexity (list fields count their page size
//! times what each item asks for), aliases, directives per field, requests
//! per batch and body size. Depth, complexity and directives are enforced by
//! async-graphql; aliases are counted here. Every refusal is
//! QUERY_TOO_COMPLEX (body size: PAYLOAD_TOO_LARGE) before anything runs.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Request, ServerError};
use service::ErrorCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of selections.
    pub depth: usize,
    /// Most fields, with list fields counted once per item they may return.
    pub complexity: usize,
    /// Most aliased fields in one document.
    pub aliases: usize,
    /// Most directives on one field.
    pub directives: usize,
    /// Most operations in one JSON array batch.
    pub batch: usize,
    /// Largest request body, in bytes.
    pub body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Limits {
    /// The defaults, shared by `ServerOptions` and the command line.
    pub const DEFAULT: Limits = Limits {
        depth: 16,
        complexity: 100_000,
        aliases: 30,
        directives: 5,
        batch: 10,
        body_bytes: 1024 * 1024,
    };

    /// Refuses a request whose document has more aliases than allowed. A
    /// document that does not parse is left to the executor's syntax error.
    pub fn check_aliases(&self, request: &mut Request) -> Result<(), ServerError> {
        let Ok(doc) = request.parsed_query() else { return Ok(()) };
        let n = aliases(doc);
        match n > self.aliases {
            true => Err(too_complex(format!(
                "the query uses {n} aliases; at most {} are allowed",
                self.aliases
            ))),
            false => Ok(()),
        }
    }
}

/// The complexity of a page: what each item asks for, times the items it
/// may hold (the default page is 50; sizes beyond 1,000 are refused anyway).
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let items = first.unwrap_or(50).clamp(1, 1000) as usize;
    items.saturating_mul(child_complexity).saturating_add(1)
}

pub fn too_complex(message: String) -> ServerError {
    let mut err = ServerError::new(message, None);
    err.extensions
        .get_or_insert_with(Default::default)
        .set("code", ErrorCode::QueryTooComplex.as_str());
    err
}

/// async-graphql words its limit refusals like this (7.x); they get the
/// QUERY_TOO_COMPLEX code instead of the generic INVALID_INPUT.
pub fn is_limit_message(message: &str) -> bool {
    message == "Query is too complex."
        || message == "Query is nested too deep."
        || message.starts_with("The number of directives on the field")
        || message.starts_with("The recursion depth of the query cannot be greater than")
}

fn aliases(doc: &ExecutableDocument) -> usize {
    let in_operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| count(&op.node.selection_set.node))
        .sum();
    let in_fragments: usize = doc.fragments.values().map(|f| count(&f.node.selection_set.node)).sum();
    in_operations + in_fragments
}

fn count(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => usize::from(f.node.alias.is_some()) + count(&f.node.selection_set.node),
            Selection::InlineFragment(f) => count(&f.node.selection_set.node),
            Selection::FragmentSpread(_) => 0, // counted once, with the fragment
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_in_operations_fragments_and_inline_fragments() {
        let mut req = Request::new("{ a: x b: x ...F ... on Q { c: x { d: y } } } fragment F on Q { e: x }");
        let doc = req.parsed_query().cloned();
        assert_eq!(doc.map(|d| aliases(&d)).ok(), Some(5));
        let limits = Limits {
            aliases: 4,
            ..Limits::default()
        };
        assert!(limits.check_aliases(&mut req).is_err());
    }
}
