//! Parsed GraphQL documents, cached by query text.
//!
//! Apps send the same few operations over and over with different
//! variables; parsing one (pest) cost about a tenth of the server's CPU per
//! request under write load. A cached document still goes through every
//! validation rule and limit on each request: only the parse is skipped.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;

/// Queries longer than this are parsed every time (and not kept).
const MAX_QUERY_LEN: usize = 16 * 1024;
/// Distinct documents kept; the cache starts over when it is full.
const MAX_DOCUMENTS: usize = 512;

#[derive(Clone, Default)]
pub struct Documents(Arc<RwLock<HashMap<String, ExecutableDocument>>>);

impl Documents {
    /// Gives `request` its parsed document from the cache, or parses it and
    /// keeps it. A query that does not parse is left to the executor, which
    /// reports the syntax error as usual.
    pub fn prepare(&self, request: &mut Request) {
        if request.query.len() > MAX_QUERY_LEN {
            return;
        }
        let cached = self.0.read().ok().and_then(|c| c.get(&request.query).cloned());
        if let Some(doc) = cached {
            request.set_parsed_query(doc);
            return;
        }
        let Ok(doc) = request.parsed_query().cloned() else {
            return;
        };
        if let Ok(mut cache) = self.0.write() {
            if cache.len() >= MAX_DOCUMENTS {
                cache.clear();
            }
            cache.insert(request.query.clone(), doc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_a_bad_query_is_not_kept() {
        let docs = Documents::default();
        let mut first = Request::new("{ a }");
        docs.prepare(&mut first);
        let mut again = Request::new("{ a }");
        docs.prepare(&mut again);
        assert_eq!(docs.0.read().map(|c| c.len()).unwrap_or(0), 1);
        let mut bad = Request::new("{ a ");
        docs.prepare(&mut bad);
        assert_eq!(docs.0.read().map(|c| c.len()).unwrap_or(0), 1);
    }
}
