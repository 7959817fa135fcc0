//! Bounds on what one request may ask for (the OWASP GraphQL cheat sheet's
//! controls): nesting depth, complexity (list fields count their page size
//! times what each item asks for), aliases, directives per field, requests
//! per batch and body size. Depth, complexity and directives are enforced by
//! async-graphql; aliases are counted here. Every refusal is
//! QUERY_TOO_COMPLEX (body size: PAYLOAD_TOO_LARGE) before anything runs.

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError, Variables};
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

    /// Refuses a request whose document has more aliases than allowed
    /// (QUERY_TOO_COMPLEX), or whose text anywhere — an argument, a
    /// variable, a default, an object key — holds U+0000 (INVALID_INPUT:
    /// PostgreSQL text cannot hold it, so no backend accepts it). A document
    /// that does not parse is left to the executor's syntax error.
    pub fn screen(&self, request: &mut Request) -> Result<(), ServerError> {
        let variables = std::mem::take(&mut request.variables);
        let verdict = match request.parsed_query() {
            Ok(doc) => self.judge(doc, &variables),
            Err(_) => Ok(()),
        };
        request.variables = variables;
        verdict
    }

    fn judge(&self, doc: &ExecutableDocument, variables: &Variables) -> Result<(), ServerError> {
        let n = crate::walk::aliases(doc);
        if n > self.aliases {
            let message = format!("the query uses {n} aliases; at most {} are allowed", self.aliases);
            return Err(crate::error::coded(ErrorCode::QueryTooComplex, message));
        }
        match crate::walk::nul_text(doc, variables) {
            Some(place) => Err(crate::error::coded(
                ErrorCode::InvalidInput,
                format!("{place} contains the character U+0000, which text may not hold"),
            )),
            None => Ok(()),
        }
    }
}

/// The complexity of a page: what each item asks for, times the items it
/// may hold (the default page is 50; sizes beyond 1,000 are refused anyway).
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let items = first.unwrap_or(50).clamp(1, 1000) as usize;
    items.saturating_mul(child_complexity).saturating_add(1)
}

/// async-graphql words its limit refusals like this (7.x); they get the
/// QUERY_TOO_COMPLEX code instead of the generic INVALID_INPUT.
pub fn is_limit_message(message: &str) -> bool {
    message == "Query is too complex."
        || message == "Query is nested too deep."
        || message.starts_with("The number of directives on the field")
        || message.starts_with("The recursion depth of the query cannot be greater than")
}
