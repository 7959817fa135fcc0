//! Which scope each root field needs, checked for the whole operation before
//! any of it runs: a request with one field beyond its caller's rights is
//! refused entirely (FORBIDDEN), so nothing of it is written.
//!
//! Mutations not listed here need `admin`: a field added later is closed
//! until someone decides otherwise. End users (JWT) may use the fields in
//! [`user_may`]; which accounts they may touch is checked by the resolvers
//! (an account's `owner` must be the token's `sub`).

use async_graphql::Request;
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use service::store::api_key::Scope;

use super::{Principal, forbidden};

/// Refuses the request if its operation has a root field beyond `principal`.
/// A request that does not parse, or names no operation of its document, is
/// left to the executor, which refuses it before anything runs.
pub fn authorize(principal: &Principal, request: &mut Request) -> async_graphql::Result<()> {
    if *principal == Principal::Open {
        return Ok(());
    }
    let operation_name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else { return Ok(()) };
    let Some((kind, fields)) = root_fields(doc, operation_name.as_deref()) else {
        return Ok(());
    };
    for field in fields {
        let allowed = match principal {
            Principal::Open => true,
            Principal::Key { scope, .. } => *scope >= needs(kind, &field),
            Principal::User { .. } => user_may(kind, &field),
        };
        if !allowed {
            return Err(forbidden(format!(
                "{} may not use `{field}` (it needs {})",
                principal.label(),
                match principal {
                    Principal::User { .. } => "an API key".to_owned(),
                    _ => format!("the {} scope", needs(kind, &field).as_str()),
                }
            )));
        }
    }
    Ok(())
}

/// The scope a root field needs from an API key.
fn needs(kind: OperationType, field: &str) -> Scope {
    match (kind, field) {
        (_, "__typename") => Scope::Read,
        (OperationType::Query, "verifyLedger") => Scope::Admin,
        // A name no root field has (an unknown fragment): validation refuses
        // it, but nothing is let through on that assumption.
        (_, name) if name.starts_with('(') => Scope::Admin,
        (OperationType::Query | OperationType::Subscription, _) => Scope::Read,
        (
            OperationType::Mutation,
            "deposit" | "withdraw" | "transfer" | "postTransfers" | "splitTransfer" | "reverseTransfer" | "createHold"
            | "captureHold" | "voidHold",
        ) => Scope::Write,
        (OperationType::Mutation, _) => Scope::Admin,
    }
}

/// What an end user may ask for (on their own accounts only).
fn user_may(kind: OperationType, field: &str) -> bool {
    match kind {
        OperationType::Query => matches!(
            field,
            "account"
                | "accountByCode"
                | "transfer"
                | "transferByIdempotencyKey"
                | "transfers"
                | "hold"
                | "currencies"
                | "__typename"
        ),
        OperationType::Mutation => matches!(
            field,
            "transfer" | "postTransfers" | "splitTransfer" | "createHold" | "__typename"
        ),
        OperationType::Subscription => matches!(field, "entryPosted" | "balanceChanged"),
    }
}

/// The operation that would run and its root field names, through root
/// fragments and inline fragments however nested (`crate::walk`: no
/// recursion, each named fragment once). An unknown fragment becomes a
/// name no field has, which needs `admin`.
fn root_fields(doc: &ExecutableDocument, name: Option<&str>) -> Option<(OperationType, Vec<String>)> {
    let op = crate::operation::selected(doc, name)?;
    let fields = crate::walk::root_fields(doc, &op.node)
        .into_iter()
        .map(|f| f.unwrap_or("(unknown fragment)").to_owned())
        .collect();
    Some((op.node.ty, fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn key(scope: Scope) -> Principal {
        Principal::Key {
            id: Uuid::nil(),
            name: "k".into(),
            scope,
        }
    }

    fn allowed(p: &Principal, query: &str) -> bool {
        authorize(p, &mut Request::new(query)).is_ok()
    }

    #[test]
    fn each_scope_reaches_exactly_its_fields() {
        let (read, write, admin) = (key(Scope::Read), key(Scope::Write), key(Scope::Admin));
        assert!(allowed(&read, "{ accounts { edges { cursor } } }"));
        assert!(!allowed(&read, "{ verifyLedger { ok } }"));
        assert!(!allowed(&read, "mutation { transfer(input: {}) { id } }"));
        assert!(allowed(&write, "mutation { transfer(input: {}) { id } }"));
        assert!(!allowed(&write, "mutation { createAccount(input: {}) { id } }"));
        assert!(!allowed(&write, "mutation { futureField }"));
        assert!(allowed(
            &admin,
            "mutation { createAccount(input: {}) { id } futureField }"
        ));
    }

    #[test]
    fn fragments_and_named_operations_cannot_hide_a_field() {
        let read = key(Scope::Read);
        assert!(!allowed(
            &read,
            "mutation { ...F } fragment F on Mutation { deposit(input: {}) { id } }"
        ));
        assert!(!allowed(
            &read,
            "mutation { ... on Mutation { deposit(input: {}) { id } } }"
        ));
        let mut two =
            Request::new("query A { accounts { edges { cursor } } } mutation B { deposit(input: {}) { id } }")
                .operation_name("B");
        assert!(authorize(&read, &mut two).is_err());
    }

    #[test]
    fn end_users_get_only_their_fields() {
        let user = Principal::User { subject: "u".into() };
        assert!(allowed(&user, "mutation { transfer(input: {}) { id } }"));
        assert!(!allowed(&user, "mutation { deposit(input: {}) { id } }"));
        assert!(!allowed(&user, "{ accounts { edges { cursor } } }"));
    }
}
