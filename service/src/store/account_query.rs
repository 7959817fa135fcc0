//! Accounts by what they are — currency, status, code prefix, metadata —
//! page by page, and their exact balance totals per currency.
//!
//! Both read one statement, so one snapshot: a page's or a total's
//! balances are consistent under concurrent writes. Metadata matches by
//! containment: every key of the filter, at any depth, with an equal
//! scalar value (PostgreSQL `@>` on the JSONB column, with a GIN index;
//! SQLite `json_type`/`json_extract` per leaf, the type compared too, so
//! `1`, `"1"` and `true` stay different on both). Totals are exact:
//! PostgreSQL sums the decimal text as `numeric` (arbitrary precision);
//! SQLite's aggregates are not trusted with money, so its rows are summed
//! here in `Decimal`.

use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

use crate::model::error::{LedgerError, Result};
use crate::model::page::Page;
use crate::store::ledger::Ledger;
use entity::AccountStatus;
use entity::account::{self, Column};

/// Which accounts a listing or a total covers (every condition given).
#[derive(Clone, Debug, Default)]
pub struct AccountFilter {
    pub currency: Option<String>,
    pub status: Option<AccountStatus>,
    /// Codes starting with this (case-sensitive).
    pub code_prefix: Option<String>,
    /// An object the account's metadata must contain.
    pub metadata: Option<Value>,
}

/// One currency's accounts under a filter, summed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Total {
    pub currency: String,
    pub accounts: u64,
    pub balance: Decimal,
    pub held: Decimal,
}

/// A page of the accounts `filter` covers, in id (= creation) order.
pub async fn page(
    ledger: &Ledger,
    filter: &AccountFilter,
    after: Option<Uuid>,
    first: u64,
) -> Result<Page<account::Model>> {
    crate::model::validate::account_filter(filter.code_prefix.as_deref(), filter.metadata.as_ref())?;
    let backend = ledger.connection().get_database_backend();
    let mut query = account::Entity::find()
        .filter(condition(backend, filter))
        .order_by_asc(Column::Id);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    let rows = query.limit(first + 1).all(ledger.connection()).await?;
    Ok(Page::forward(rows, first, after.is_some()))
}

/// Per currency: how many accounts `filter` covers and their exact sums.
pub async fn totals(ledger: &Ledger, filter: &AccountFilter) -> Result<Vec<Total>> {
    crate::model::validate::account_filter(filter.code_prefix.as_deref(), filter.metadata.as_ref())?;
    let db = ledger.connection();
    let backend = db.get_database_backend();
    let base = account::Entity::find().filter(condition(backend, filter));
    if backend == DbBackend::Postgres {
        let rows: Vec<(String, i64, String, String)> = base
            .select_only()
            .column(Column::Currency)
            .column_as(Expr::cust("count(*)"), "accounts")
            .column_as(Expr::cust("sum(balance::numeric)::text"), "balance")
            .column_as(Expr::cust("sum(held_balance::numeric)::text"), "held")
            .group_by(Column::Currency)
            .order_by_asc(Column::Currency)
            .into_tuple()
            .all(db)
            .await?;
        return rows
            .into_iter()
            .map(|(currency, n, balance, held)| {
                Ok(Total {
                    currency,
                    accounts: n.max(0) as u64,
                    balance: parse(&balance)?,
                    held: parse(&held)?,
                })
            })
            .collect();
    }
    let rows: Vec<(String, entity::Money, entity::Money)> = base
        .select_only()
        .columns([Column::Currency, Column::Balance, Column::HeldBalance])
        .into_tuple()
        .all(db)
        .await?;
    let mut totals: std::collections::BTreeMap<String, Total> = std::collections::BTreeMap::new();
    for (currency, balance, held) in rows {
        let t = totals.entry(currency.clone()).or_insert(Total {
            currency,
            accounts: 0,
            balance: Decimal::ZERO,
            held: Decimal::ZERO,
        });
        t.accounts += 1;
        t.balance = t.balance.checked_add(balance.0).ok_or_else(overflow)?;
        t.held = t.held.checked_add(held.0).ok_or_else(overflow)?;
    }
    Ok(totals.into_values().collect())
}

fn parse(text: &str) -> Result<Decimal> {
    text.parse()
        .map_err(|_| LedgerError::Internal(format!("a balance total is not a decimal: {text:?}")))
}

fn overflow() -> LedgerError {
    LedgerError::Internal("a balance total exceeds the exact range".into())
}

fn condition(backend: DbBackend, filter: &AccountFilter) -> Condition {
    let mut c = Condition::all();
    if let Some(currency) = &filter.currency {
        c = c.add(Column::Currency.eq(currency.clone()));
    }
    if let Some(status) = filter.status {
        c = c.add(Column::Status.eq(status));
    }
    if let Some(prefix) = &filter.code_prefix {
        c = c.add(code_prefix(backend, prefix));
    }
    if let Some(metadata) = &filter.metadata {
        c = c.add(contains(backend, metadata));
    }
    c
}

/// PostgreSQL: `LIKE` with the pattern characters escaped (served by the
/// `text_pattern_ops` index). SQLite's `LIKE` ignores case, so there a
/// binary comparison of the code's first characters (from the index's
/// start at the prefix).
fn code_prefix(backend: DbBackend, prefix: &str) -> Condition {
    match backend {
        DbBackend::Postgres => {
            let escaped = prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            Condition::all().add(Column::Code.like(LikeExpr::new(format!("{escaped}%")).escape('\\')))
        }
        _ => Condition::all()
            .add(Column::Code.gte(prefix.to_owned()))
            .add(Expr::cust_with_values(
                "substr(code, 1, length(?)) = ?",
                [prefix.to_owned(), prefix.to_owned()],
            )),
    }
}

fn contains(backend: DbBackend, metadata: &Value) -> Condition {
    if backend == DbBackend::Postgres {
        return Condition::all().add(Expr::cust_with_values(
            "metadata @> CAST($1 AS jsonb)",
            [metadata.to_string()],
        ));
    }
    let mut c = Condition::all().add(Expr::cust("json_type(metadata) = 'object'"));
    for (path, leaf) in leaves(metadata) {
        let expr = match leaf {
            Value::Bool(true) => Expr::cust_with_values("json_type(metadata, ?) = 'true'", [path]),
            Value::Bool(false) => Expr::cust_with_values("json_type(metadata, ?) = 'false'", [path]),
            Value::Null => Expr::cust_with_values("json_type(metadata, ?) = 'null'", [path]),
            Value::String(s) => Expr::cust_with_values(
                "(json_type(metadata, ?) = 'text' AND json_extract(metadata, ?) = ?)",
                [path.clone(), path, s.clone()],
            ),
            Value::Number(n) => Expr::cust_with_values(
                "(json_type(metadata, ?) IN ('integer', 'real') AND json_extract(metadata, ?) = ?)",
                [sea_orm::Value::from(path.clone()), path.into(), number(n)],
            ),
            // Validation refuses arrays; an empty object leaves no condition.
            Value::Array(_) | Value::Object(_) => continue,
        };
        c = c.add(expr);
    }
    c
}

fn number(n: &serde_json::Number) -> sea_orm::Value {
    match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => i.into(),
        (None, Some(f)) => f.into(),
        _ => n.to_string().into(),
    }
}

/// Every scalar of an object with its JSON path (`$."a"."b"`), without
/// recursion (the filter's depth is bounded by validation, but its shape
/// comes from the request).
fn leaves(value: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    let mut stack = vec![("$".to_owned(), value)];
    while let Some((path, v)) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let key = k.replace('\\', "\\\\").replace('"', "\\\"");
                    stack.push((format!("{path}.\"{key}\""), child));
                }
            }
            leaf => out.push((path, leaf)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_carry_quoted_paths() {
        let v = serde_json::json!({ "a": { "b.c": 1, "d": "x" }, "e": true });
        let mut got: Vec<(String, String)> = leaves(&v).into_iter().map(|(p, l)| (p, l.to_string())).collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("$.\"a\".\"b.c\"".to_owned(), "1".to_owned()),
                ("$.\"a\".\"d\"".to_owned(), "\"x\"".to_owned()),
                ("$.\"e\"".to_owned(), "true".to_owned()),
            ]
        );
    }
}
