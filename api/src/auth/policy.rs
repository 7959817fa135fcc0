//! Who may call what, in one place: a [`Rule`] per root field (the scope an
//! API key needs, and what an end user may do with it), read twice:
//!
//! - by the door, for the whole operation before any of it runs
//!   ([`authorize`]): a request with one field beyond its caller is refused
//!   entirely (FORBIDDEN, 403), so nothing of it is written;
//! - by the [`Policy`] guard on every root field (`#[Object(guard = …)]` on
//!   each root object, `#[graphql(guard = …)]` where a field names accounts),
//!   which checks the rule again and, for an end user, that the accounts the
//!   field acts on are theirs.
//!
//! What a result may show an end user (another account's balance, a
//! transfer that is not theirs) is decided by [`sees`] and [`touches`], here
//! too. A root field with no rule is refused to everyone but the open
//! server; a test checks that every field of the schema has one.

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Context, Guard, Request};
use service::Ledger;
use service::entity::account;
use service::store::api_key::Scope;
use uuid::Uuid;

use super::{Principal, forbidden, principal};
use crate::error::{GqlResult, IntoGql};

/// What an end user (a JWT's `sub`) may do with a root field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndUser {
    /// Nothing: API keys only.
    No,
    /// Shared data anyone may read.
    Public,
    /// Act on accounts that are all theirs (the field names them: the
    /// debited accounts of a movement, the accounts watched).
    Owns,
    /// Read what the field finds, when it is theirs ([`sees`]) or touches
    /// one of their accounts ([`touches`]).
    Finds,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The scope an API key needs.
    pub scope: Scope,
    pub end_user: EndUser,
}

/// The table. Mutations that move money need `write`; the rest of the
/// mutations `admin`; reads `read`, but the audit `admin`.
pub fn rule(kind: OperationType, field: &str) -> Option<Rule> {
    use EndUser::*;
    use OperationType::{Mutation, Query, Subscription};
    let rule = |scope, end_user| Some(Rule { scope, end_user });
    match (kind, field) {
        (_, "__typename") => rule(Scope::Read, Public),
        (Query, "account" | "accountByCode" | "transfer" | "transferByIdempotencyKey" | "hold") => {
            rule(Scope::Read, Finds)
        }
        (Query, "transfers") => rule(Scope::Read, Owns),
        (Query, "currencies") => rule(Scope::Read, Public),
        (Query, "accounts" | "balanceTotals" | "ledgerDigest" | "inclusionProof" | "consistencyProof") => {
            rule(Scope::Read, No)
        }
        (Query, "verifyLedger" | "webhookEndpoints" | "webhookDeliveries" | "balanceAlerts") => rule(Scope::Admin, No),
        (Subscription, "entryPosted" | "balanceChanged" | "balanceAlert") => rule(Scope::Read, Owns),
        (Mutation, "transfer" | "postTransfers" | "splitTransfer" | "createHold" | "exchange") => {
            rule(Scope::Write, Owns)
        }
        (Mutation, "deposit" | "withdraw" | "reverseTransfer" | "captureHold" | "voidHold") => rule(Scope::Write, No),
        (Mutation, "createAccount" | "createCurrency" | "updateAccount" | "archiveAccount" | "mergeAccounts") => {
            rule(Scope::Admin, No)
        }
        (
            Mutation,
            "createWebhookEndpoint"
            | "updateWebhookEndpoint"
            | "deleteWebhookEndpoint"
            | "redeliverWebhook"
            | "createBalanceAlert"
            | "deleteBalanceAlert",
        ) => rule(Scope::Admin, No),
        _ => None,
    }
}

/// Whether `principal` may use a field under `rule` at all (before the
/// accounts it acts on are known).
fn allows(principal: &Principal, rule: Option<Rule>) -> bool {
    match (principal, rule) {
        (Principal::Open, _) => true,
        (_, None) => false,
        (Principal::Key { scope, .. }, Some(rule)) => *scope >= rule.scope,
        (Principal::User { .. }, Some(rule)) => rule.end_user != EndUser::No,
    }
}

fn refusal(principal: &Principal, kind: OperationType, field: &str) -> async_graphql::Error {
    let needs = match (principal, rule(kind, field)) {
        (_, None) => "a rule (this field has none)".to_owned(),
        (Principal::User { .. }, _) => "an API key".to_owned(),
        (_, Some(rule)) => format!("the {} scope", rule.scope.as_str()),
    };
    forbidden(format!(
        "{} may not use `{field}` (it needs {needs})",
        principal.label()
    ))
}

/// Refuses the request if its operation has a root field beyond
/// `principal`, or backdates a movement further than `window` without the
/// admin scope. A request that does not parse, or names no operation of its
/// document, is left to the executor, which refuses it before anything runs.
pub fn authorize(principal: &Principal, request: &mut Request, window: Backdating) -> async_graphql::Result<()> {
    if *principal == Principal::Open {
        return Ok(());
    }
    let name = request.operation_name.clone();
    let variables = std::mem::take(&mut request.variables);
    let verdict = match request.parsed_query() {
        Ok(doc) => judge(principal, doc, name.as_deref(), &variables, window),
        Err(_) => Ok(()),
    };
    request.variables = variables;
    verdict
}

fn judge(
    principal: &Principal,
    doc: &ExecutableDocument,
    name: Option<&str>,
    variables: &async_graphql::Variables,
    window: Backdating,
) -> async_graphql::Result<()> {
    let Some((kind, fields)) = root_fields(doc, name) else {
        return Ok(());
    };
    if let Some(field) = fields.iter().find(|f| !allows(principal, rule(kind, f))) {
        return Err(refusal(principal, kind, field));
    }
    if kind == OperationType::Mutation {
        window.allows(principal, crate::walk::earliest_effective_at(doc, variables))?;
    }
    Ok(())
}

/// How far back a movement may be dated (`effectiveAt`) without the admin
/// scope: importing older history is an administrator's act.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backdating(pub std::time::Duration);

impl Backdating {
    pub const DEFAULT: Backdating = Backdating(std::time::Duration::from_secs(24 * 3600));

    fn allows(self, caller: &Principal, earliest: Option<chrono::DateTime<chrono::Utc>>) -> async_graphql::Result<()> {
        let Some(at) = earliest else { return Ok(()) };
        let limit = chrono::Utc::now() - chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX);
        match caller {
            _ if at >= limit => Ok(()),
            Principal::Open => Ok(()),
            Principal::Key { scope, .. } if *scope >= Scope::Admin => Ok(()),
            p => Err(forbidden(format!(
                "{} may not date a movement before {} (effectiveAt {}): backdating beyond {} s needs the admin scope",
                p.label(),
                limit.to_rfc3339(),
                at.to_rfc3339(),
                self.0.as_secs()
            ))),
        }
    }
}

/// The operation that would run and its root field names, through root
/// fragments and inline fragments however nested (`crate::walk`: no
/// recursion, each named fragment once). An unknown fragment becomes a
/// name no field has, which no rule allows.
fn root_fields(doc: &ExecutableDocument, name: Option<&str>) -> Option<(OperationType, Vec<String>)> {
    let op = crate::operation::selected(doc, name)?;
    let fields = crate::walk::root_fields(doc, &op.node)
        .into_iter()
        .map(|f| f.unwrap_or("(unknown fragment)").to_owned())
        .collect();
    Some((op.node.ty, fields))
}

/// The guard on every root field: its rule again, at resolve time (also
/// for websocket operations), and for an end user under an `Owns` rule,
/// that every account of `owning` is theirs.
pub struct Policy {
    kind: OperationType,
    owning: Vec<Uuid>,
    backdated: Option<chrono::DateTime<chrono::Utc>>,
}

impl Policy {
    pub const fn query() -> Self {
        Self::of(OperationType::Query)
    }
    pub const fn mutation() -> Self {
        Self::of(OperationType::Mutation)
    }
    pub const fn subscription() -> Self {
        Self::of(OperationType::Subscription)
    }
    const fn of(kind: OperationType) -> Self {
        Self {
            kind,
            owning: Vec::new(),
            backdated: None,
        }
    }

    /// The earliest effective time the field's arguments give, if any.
    pub fn backdating(mut self, at: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        self.backdated = at;
        self
    }

    /// The accounts the field acts on, from its arguments.
    pub fn owning(mut self, ids: impl IntoIterator<Item = Uuid>) -> Self {
        self.owning = ids.into_iter().collect();
        self
    }
}

impl Guard for Policy {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let caller = principal(ctx)?;
        let field = ctx.field().name();
        let rule = rule(self.kind, field);
        if !allows(caller, rule) {
            return Err(refusal(caller, self.kind, field));
        }
        let window = ctx.data_opt::<Backdating>().copied().unwrap_or(Backdating::DEFAULT);
        window.allows(caller, self.backdated)?;
        match (caller, rule) {
            (Principal::User { subject }, Some(rule)) if rule.end_user == EndUser::Owns => {
                owns(ctx, subject, &self.owning).await
            }
            _ => Ok(()),
        }
    }
}

/// Refuses unless every account of `ids` belongs to `subject` (an account
/// that does not exist is refused the same way, revealing nothing).
async fn owns(ctx: &Context<'_>, subject: &str, ids: &[Uuid]) -> GqlResult<()> {
    if ids.is_empty() {
        return Err(forbidden("an end user must name the accounts (their own) this acts on"));
    }
    let rows = service::store::account::by_ids(ctx.data::<Ledger>()?, ids)
        .await
        .gql()?;
    for id in ids {
        let mine = rows.iter().any(|a| a.id == *id && a.owner.as_deref() == Some(subject));
        if !mine {
            return Err(forbidden(format!("account {id} does not belong to {subject}")));
        }
    }
    Ok(())
}

/// Whether the caller may see `account` whole: its balances, version and
/// history (an end user only their own; its id, code, currency and status
/// are public, so a transfer's other party can be named).
pub fn sees(ctx: &Context<'_>, account: &account::Model) -> GqlResult<()> {
    match principal(ctx)? {
        Principal::User { subject } if account.owner.as_deref() != Some(subject.as_str()) => Err(forbidden(format!(
            "account {} does not belong to {subject}",
            account.id
        ))),
        _ => Ok(()),
    }
}

/// Whether the caller may read something between two accounts (a
/// transfer, a hold): an end user must own one of them.
pub async fn touches(ctx: &Context<'_>, accounts: [Uuid; 2]) -> GqlResult<()> {
    let Principal::User { subject } = principal(ctx)? else {
        return Ok(());
    };
    let rows = service::store::account::by_ids(ctx.data::<Ledger>()?, &accounts)
        .await
        .gql()?;
    match rows.iter().any(|a| a.owner.as_deref() == Some(subject.as_str())) {
        true => Ok(()),
        false => Err(forbidden("neither account of this belongs to you")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: Scope) -> Principal {
        Principal::Key {
            id: Uuid::nil(),
            name: "k".into(),
            scope,
        }
    }

    fn allowed(p: &Principal, query: &str) -> bool {
        authorize(p, &mut Request::new(query), Backdating::DEFAULT).is_ok()
    }

    #[test]
    fn every_root_field_of_the_schema_has_a_rule() {
        let sdl = crate::sdl();
        let doc = async_graphql::parser::parse_schema(&sdl).unwrap();
        let mut checked = 0;
        for def in doc.definitions {
            use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
            let TypeSystemDefinition::Type(t) = def else { continue };
            let kind = match t.node.name.node.as_str() {
                "Query" => OperationType::Query,
                "Mutation" => OperationType::Mutation,
                "Subscription" => OperationType::Subscription,
                _ => continue,
            };
            let TypeKind::Object(o) = &t.node.kind else { continue };
            for f in &o.fields {
                let name = f.node.name.node.as_str();
                assert!(rule(kind, name).is_some(), "{kind:?} field `{name}` has no rule");
                checked += 1;
            }
        }
        assert!(checked > 25, "only {checked} root fields found");
    }

    #[test]
    fn each_scope_reaches_exactly_its_fields() {
        let (read, write, admin) = (key(Scope::Read), key(Scope::Write), key(Scope::Admin));
        assert!(allowed(&read, "{ accounts { edges { cursor } } }"));
        assert!(!allowed(&read, "{ verifyLedger { ok } }"));
        assert!(!allowed(&read, "mutation { transfer(input: {}) { id } }"));
        assert!(allowed(&write, "mutation { transfer(input: {}) { id } }"));
        assert!(!allowed(&write, "mutation { createAccount(input: {}) { id } }"));
        assert!(!allowed(&admin, "mutation { futureField }"), "a field with no rule");
        assert!(allowed(&admin, "mutation { createAccount(input: {}) { id } }"));
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
        assert!(authorize(&read, &mut two, Backdating::DEFAULT).is_err());
    }

    #[test]
    fn backdating_beyond_the_window_needs_admin() {
        let (write, admin) = (key(Scope::Write), key(Scope::Admin));
        let old = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
        let recent = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
        let q = |at: &str| format!("mutation {{ deposit(input: {{ effectiveAt: \"{at}\" }}) {{ id }} }}");
        assert!(allowed(&write, &q(&recent)));
        assert!(!allowed(&write, &q(&old)));
        assert!(allowed(&admin, &q(&old)));
        let mut via_variable = Request::new("mutation($i: DepositInput!) { deposit(input: $i) { id } }").variables(
            async_graphql::Variables::from_json(serde_json::json!({ "i": { "effectiveAt": old } })),
        );
        assert!(authorize(&write, &mut via_variable, Backdating::DEFAULT).is_err());
    }

    #[test]
    fn end_users_get_only_their_fields() {
        let user = Principal::User { subject: "u".into() };
        assert!(allowed(&user, "mutation { transfer(input: {}) { id } }"));
        assert!(!allowed(&user, "mutation { deposit(input: {}) { id } }"));
        assert!(!allowed(&user, "{ accounts { edges { cursor } } }"));
    }
}
