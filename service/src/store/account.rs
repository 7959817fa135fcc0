//! Account storage: the row's statuses and shape, lookups and pages,
//! inserts, the ordered lock, and the compare-and-swap write-back.

use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use crate::model::event::{Event, EventKind};

use crate::model::error::is_unique_violation;
use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::model::hash::ZERO_HASH;
use crate::model::money;
use crate::model::page::Page;
use crate::model::time::now_micros;
use crate::model::validate::WORLD_PREFIX;
use crate::store::ledger::Ledger;
use entity::AccountStatus;
use entity::Money;
use entity::account::{self, Column};

/// What a client asks for when opening an account.
pub struct NewAccount {
    pub code: String,
    pub currency: String,
    /// The floor; `None` means the default of zero.
    pub min_balance: Option<Decimal>,
    pub metadata: Option<Value>,
    /// The end user the account belongs to: a token whose `sub` equals it
    /// may act on the account (1–255 characters).
    pub owner: Option<String>,
}

pub async fn get(ledger: &Ledger, id: Uuid) -> Result<account::Model> {
    let found = account::Entity::find_by_id(id).one(ledger.connection()).await?;
    found.ok_or_else(|| not_found(&id.to_string()))
}

pub async fn by_code(ledger: &Ledger, code: &str) -> Result<account::Model> {
    let found = account::Entity::find()
        .filter(Column::Code.eq(code))
        .one(ledger.connection())
        .await?;
    found.ok_or_else(|| not_found(code))
}

pub async fn by_ids(ledger: &Ledger, ids: &[Uuid]) -> Result<Vec<account::Model>> {
    let rows = account::Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(ledger.connection())
        .await?;
    Ok(rows)
}

/// Accounts in id (= creation) order after `after`. One statement, so one
/// snapshot: the balances of a page always sum consistently.
pub async fn page(ledger: &Ledger, after: Option<Uuid>, first: u64) -> Result<Page<account::Model>> {
    let mut query = account::Entity::find().order_by_asc(Column::Id);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    let rows = query.limit(first + 1).all(ledger.connection()).await?;
    Ok(Page::forward(rows, first, after.is_some()))
}

pub(crate) fn not_found(what: &str) -> LedgerError {
    LedgerError::client(ErrorCode::AccountNotFound, format!("account {what} not found"))
}

pub(crate) fn new_row(new: &NewAccount, scale: u32, floor: Option<rust_decimal::Decimal>) -> account::Model {
    account::Model {
        id: Uuid::now_v7(),
        code: new.code.clone(),
        currency: new.currency.clone(),
        balance: Money(money::zero(scale)),
        held_balance: Money(money::zero(scale)),
        min_balance: floor.map(Money),
        status: AccountStatus::Active.to_owned(),
        is_system: false,
        version: 1,
        entry_count: 0,
        head_hash: ZERO_HASH.to_vec(),
        last_entry_at: None,
        metadata: new.metadata.clone(),
        created_at: now_micros(),
        owner: new.owner.clone(),
    }
}

fn world_row(currency: &str, scale: u32) -> account::Model {
    let new = NewAccount {
        code: format!("{WORLD_PREFIX}{currency}"),
        currency: currency.to_owned(),
        min_balance: None,
        metadata: None,
        owner: None,
    };
    account::Model {
        is_system: true,
        ..new_row(&new, scale, None)
    }
}

/// Inserts a client account, creating its currency's world account first
/// when this is the currency's first account.
pub(crate) async fn insert_with_world(ledger: &Ledger, row: account::Model, scale: u32) -> Result<account::Model> {
    let w = ledger.begin_write().await?;
    ensure_world(&w.txn, &row.currency, scale).await?;
    // Ids are UUID v7 (time-ordered): minting this one after the world
    // account keeps each currency's world account first in id order.
    let row = account::Model {
        id: Uuid::now_v7(),
        ..row
    };
    let inserted = account::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(&w.txn)
        .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(LedgerError::client(
            ErrorCode::DuplicateAccountCode,
            format!("an account with code \"{}\" already exists", row.code),
        )),
        Err(e) => Err(e.into()),
        Ok(_) => {
            let hooks = ledger.hooks();
            if hooks.wants_kind(EventKind::AccountCreated) {
                let event = Event::account(EventKind::AccountCreated, &row, row.created_at);
                crate::store::outbox::write(&w.txn, &hooks, vec![event]).await?;
            }
            w.txn.commit().await?;
            Ok(row)
        }
    }
}

/// Creates the world account of `currency` unless it exists; never fails on
/// a concurrent creator (ON CONFLICT DO NOTHING keeps the transaction alive).
async fn ensure_world(txn: &DatabaseTransaction, currency: &str, scale: u32) -> Result<()> {
    let world = world_row(currency, scale).into_active_model();
    account::Entity::insert(world)
        .on_conflict(OnConflict::column(Column::Code).do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// The id of `currency`'s world account, created on demand. World ids never
/// change, so they are cached for the life of the process.
pub(crate) async fn world_id(ledger: &Ledger, txn: &DatabaseTransaction, currency: &str) -> Result<Uuid> {
    if let Some(id) = ledger.cache.worlds.get(currency) {
        return Ok(id);
    }
    let code = format!("{WORLD_PREFIX}{currency}");
    if let Some(id) = find_id_by_code(txn, &code).await? {
        ledger.cache.worlds.insert([(currency.to_owned(), id)]);
        return Ok(id);
    }
    let scale = crate::store::currency::scale_of(ledger, txn, currency).await?;
    ensure_world(txn, currency, scale).await?;
    // Not cached: this transaction may yet roll back; the next one finds
    // the committed row and caches it.
    find_id_by_code(txn, &code)
        .await?
        .ok_or_else(|| LedgerError::Internal(format!("world account {code} missing")))
}

/// The id of `currency`'s exchange account (`exchange:<CUR>`), the liquidity
/// account every exchange into or out of the currency passes through;
/// created on demand like the world account, cached likewise.
pub(crate) async fn exchange_id(ledger: &Ledger, txn: &DatabaseTransaction, currency: &str) -> Result<Uuid> {
    let code = format!("{}{currency}", crate::model::validate::EXCHANGE_PREFIX);
    if let Some(id) = ledger.cache.worlds.get(code.as_str()) {
        return Ok(id);
    }
    if let Some(id) = find_id_by_code(txn, &code).await? {
        ledger.cache.worlds.insert([(code, id)]);
        return Ok(id);
    }
    let scale = crate::store::currency::scale_of(ledger, txn, currency).await?;
    let row = account::Model {
        code: code.clone(),
        ..world_row(currency, scale)
    };
    account::Entity::insert(row.into_active_model())
        .on_conflict(OnConflict::column(Column::Code).do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;
    // Not cached until committed (see world_id).
    find_id_by_code(txn, &code)
        .await?
        .ok_or_else(|| LedgerError::Internal(format!("exchange account {code} missing")))
}

/// An account's currency (cached: it never changes); `None` when there is
/// no such account.
pub(crate) async fn currency_of(ledger: &Ledger, db: &impl ConnectionTrait, id: Uuid) -> Result<Option<String>> {
    if let Some(currency) = ledger.cache.currencies.get(&id) {
        return Ok(Some(currency));
    }
    let row = account::Entity::find_by_id(id).one(db).await?;
    Ok(row.map(|a| {
        ledger.cache.currencies.insert([(a.id, a.currency.clone())]);
        a.currency
    }))
}

async fn find_id_by_code(db: &impl ConnectionTrait, code: &str) -> Result<Option<Uuid>> {
    let row = account::Entity::find().filter(Column::Code.eq(code)).one(db).await?;
    Ok(row.map(|a| a.id))
}

/// `SELECT … FOR UPDATE` on every id, in ascending id order: two operations
/// touching the same accounts always lock them in the same order, so they
/// queue instead of deadlocking. (SQLite ignores the clause; there the
/// `BEGIN IMMEDIATE` transaction is the lock.)
pub(crate) async fn lock(txn: &DatabaseTransaction, ids: Vec<Uuid>) -> Result<Vec<account::Model>> {
    with_heads(txn, ids, true).await
}

/// The accounts `ids` for the engine, each with its chain head
/// (`head_hash`: the latest entry's hash, not a column since migration 22),
/// locked in id order when `lock`. One statement: the head rides in as a
/// subquery by the entries' primary key. Under a lock, a row another
/// transaction changed while this one waited is read in its new version,
/// but the subquery still sees the statement's snapshot, where that
/// version's latest entry may not exist yet: such heads (NULL) are read
/// again, now that the lock is held.
pub(crate) async fn with_heads(db: &impl ConnectionTrait, ids: Vec<Uuid>, lock: bool) -> Result<Vec<account::Model>> {
    let head = Expr::cust(
        "(SELECT e.hash FROM entry e WHERE e.account_id = \"account\".\"id\" \
         AND e.sequence = \"account\".\"entry_count\")",
    );
    let mut q = account::Entity::find()
        .column_as(head, "head")
        .filter(Column::Id.is_in(ids))
        .order_by_asc(Column::Id);
    if lock {
        q = q.lock_exclusive();
    }
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(backend.build(&sea_orm::QueryTrait::into_query(q)))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut unseen = Vec::new();
    for row in rows {
        let mut model = <account::Model as sea_orm::FromQueryResult>::from_query_result(&row, "")?;
        let head: Option<Vec<u8>> = row.try_get("", "head")?;
        match (head, model.entry_count) {
            (_, 0) => model.head_hash = ZERO_HASH.to_vec(),
            (Some(hash), _) => model.head_hash = hash,
            (None, n) => unseen.push((model.id, n)),
        }
        out.push(model);
    }
    if !unseen.is_empty() {
        metrics::counter!("tally_head_rereads_total").increment(unseen.len() as u64);
        let found = crate::store::entry::hashes_on(db, &unseen).await?;
        for model in out.iter_mut().filter(|m| m.head_hash.is_empty()) {
            let hash = found
                .iter()
                .find(|(a, s, _)| *a == model.id && *s == model.entry_count)
                .map(|(_, _, h)| h.clone());
            model.head_hash = hash.ok_or_else(|| {
                LedgerError::Internal(format!("account {} has no entry {}", model.code, model.entry_count))
            })?;
        }
    }
    Ok(out)
}

/// Writes `row` back only if nobody changed it since `read_version`. Under
/// the row lock this always matches, so a miss means the lock did not hold
/// (or the optimistic path lost a race): the operation is rerun.
pub(crate) async fn compare_and_swap(txn: &DatabaseTransaction, row: &account::Model, read_version: i64) -> Result<()> {
    let result = account::Entity::update_many()
        .col_expr(Column::Balance, Expr::value(row.balance))
        .col_expr(Column::HeldBalance, Expr::value(row.held_balance))
        .col_expr(Column::Status, Expr::value(row.status))
        .col_expr(Column::MinBalance, Expr::value(row.min_balance))
        .col_expr(Column::Metadata, Expr::value(row.metadata.clone()))
        .col_expr(Column::Version, Expr::value(row.version))
        .col_expr(Column::EntryCount, Expr::value(row.entry_count))
        .col_expr(Column::LastEntryAt, Expr::value(row.last_entry_at))
        .filter(Column::Id.eq(row.id))
        .filter(Column::Version.eq(read_version))
        .exec(txn)
        .await?;
    match result.rows_affected {
        1 => Ok(()),
        _ => Err(LedgerError::Conflict),
    }
}

/// Rows per multi-row compare-and-swap statement (8 parameters each).
const CAS_CHUNK: usize = 500;

/// The engine's write-back: every changed account in one statement per
/// chunk — `UPDATE … FROM (VALUES …)` matching id and the version read — so
/// a run touching many accounts costs one round trip, not one per account.
/// Every row must match; a miss means the lock did not hold (rerun).
/// (The engine never changes `min_balance` or `metadata`, so they are not written.)
pub(crate) async fn compare_and_swap_many(txn: &DatabaseTransaction, rows: &[(account::Model, i64)]) -> Result<()> {
    for chunk in rows.chunks(CAS_CHUNK) {
        let (sql, values) = cas_statement(txn.get_database_backend(), chunk);
        let stmt = sea_orm::Statement::from_sql_and_values(txn.get_database_backend(), sql, values);
        let result = txn.execute_raw(stmt).await?;
        if result.rows_affected() != chunk.len() as u64 {
            return Err(LedgerError::Conflict);
        }
    }
    Ok(())
}

fn cas_statement(backend: sea_orm::DbBackend, rows: &[(account::Model, i64)]) -> (String, Vec<sea_orm::Value>) {
    // VALUES columns are column1..column8 on both backends; PostgreSQL needs
    // the parameter types spelled out, SQLite takes them as bound.
    const CASTS: [&str; 8] = [
        "uuid",
        "bigint",
        "text",
        "text",
        "text",
        "bigint",
        "bigint",
        "timestamptz",
    ];
    let pg = backend == sea_orm::DbBackend::Postgres;
    let mut values = Vec::with_capacity(rows.len() * CASTS.len());
    let mut tuples = Vec::with_capacity(rows.len());
    for (row, read_version) in rows {
        let start = values.len();
        values.extend([
            row.id.into(),
            (*read_version).into(),
            row.balance.into(),
            row.held_balance.into(),
            row.status.into(),
            row.version.into(),
            row.entry_count.into(),
            row.last_entry_at.into(),
        ]);
        let params: Vec<String> = (0..CASTS.len())
            .map(|i| match pg {
                true => format!("${}::{}", start + i + 1, CASTS[i]),
                false => "?".to_owned(),
            })
            .collect();
        tuples.push(format!("({})", params.join(", ")));
    }
    let sql = format!(
        "UPDATE account SET balance = v.column3, held_balance = v.column4, status = v.column5, version = v.column6, \
         entry_count = v.column7, last_entry_at = v.column8 \
         FROM (VALUES {}) AS v WHERE account.id = v.column1 AND account.version = v.column2",
        tuples.join(", ")
    );
    (sql, values)
}
