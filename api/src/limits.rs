//! Bounds on what one request may ask for (the OWASP GraphQL cheat sheet's
//! controls): nesting depth, complexity (list fields count their page size
//! times what each item asks for), aliases, directives per field, requests
//! per batch and body size. Aliases, directives and nesting through
//! fragments are counted here before the executor; depth and complexity as
//! async-graphql computes them, compared by [`Enforce`]. Every refusal is
//! QUERY_TOO_COMPLEX (body size: PAYLOAD_TOO_LARGE) before anything runs.

use async_graphql::parser::types::ExecutableDocument;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{Request, ServerError, ValidationResult, Variables};
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
        let too_complex = |message: String| Err(crate::error::coded(ErrorCode::QueryTooComplex, message));
        let n = crate::walk::aliases(doc);
        if n > self.aliases {
            return too_complex(format!(
                "the query uses {n} aliases; at most {} are allowed",
                self.aliases
            ));
        }
        let n = crate::walk::directives(doc);
        if n > self.directives {
            return too_complex(format!(
                "a field carries {n} directives; at most {} are allowed",
                self.directives
            ));
        }
        for (_, op) in doc.operations.iter() {
            match crate::walk::nesting(doc, &op.node) {
                Ok(n) if n > MAX_NESTING => {
                    return too_complex(format!(
                        "selections, fragments and spreads nest {n} levels deep; at most {MAX_NESTING} are allowed"
                    ));
                }
                Ok(_) => {}
                Err(fragment) => {
                    let message = format!("fragment `{fragment}` spreads itself (fragments must not form cycles)");
                    return Err(crate::error::coded(ErrorCode::InvalidInput, message));
                }
            }
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

/// How deeply selections, fragments and spreads may nest (async-graphql's
/// own recursion cap, which this check always reaches first).
const MAX_NESTING: usize = 32;

/// Depth and complexity as async-graphql computes them while validating,
/// compared here so that a refusal carries its code (QUERY_TOO_COMPLEX)
/// from the start, instead of being recognised by its English message.
pub struct Enforce(pub Limits);

impl ExtensionFactory for Enforce {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Enforced(self.0))
    }
}

struct Enforced(Limits);

#[async_graphql::async_trait::async_trait]
impl Extension for Enforced {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let limits = self.0;
        let too_complex = |message: String| Err(vec![crate::error::coded(ErrorCode::QueryTooComplex, message)]);
        if result.depth > limits.depth {
            return too_complex(format!(
                "the query nests {} fields deep; at most {} are allowed",
                result.depth, limits.depth
            ));
        }
        if result.complexity > limits.complexity {
            return too_complex(format!(
                "the query asks for {} fields (lists counted per item); at most {} are allowed",
                result.complexity, limits.complexity
            ));
        }
        Ok(result)
    }
}

/// The complexity of a page: what each item asks for, times the items it
/// may hold (the default page is 50; sizes beyond 1,000 are refused anyway).
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let items = first.unwrap_or(50).clamp(1, 1000) as usize;
    items.saturating_mul(child_complexity).saturating_add(1)
}
