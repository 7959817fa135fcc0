//! The two subscription streams: an account's entries as they commit, and
//! accounts' states after each change. Both read only committed rows, after
//! taking their watch, so nothing committed after the call can be missed.

use std::collections::{BTreeSet, HashMap, VecDeque};

use futures::Stream;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::model::error::{ErrorCode, LedgerError, Result};
use crate::store::feed::Watch;
use crate::store::ledger::Ledger;
use entity::{account, entry};

/// The most accounts one `balanceChanged` subscription may watch.
pub const MAX_WATCHED: usize = 100;

/// Entries read per statement while catching up.
const PAGE: u64 = 100;

/// Every entry of `account_id` with a sequence above `after` (default: the
/// account's last entry now), in sequence order, each exactly once, as they
/// commit. Sequences are 1..n without gaps and an account's entries commit
/// in sequence order (each under the account's lock or version check), so
/// reading "above the last one sent" can neither skip nor repeat an entry,
/// also when the subscriber resumes from a cursor while writes go on.
pub async fn entries_after(
    ledger: &Ledger,
    account_id: Uuid,
    after: Option<i64>,
) -> Result<impl Stream<Item = entry::Model> + Send + 'static + use<>> {
    let watch = ledger.feed().watch(ledger.connection(), &[account_id]);
    let account = crate::store::account::get(ledger, account_id).await?;
    let last = match after {
        Some(seq) if seq < 0 => return Err(LedgerError::client(ErrorCode::InvalidInput, "bad entries cursor")),
        Some(seq) => seq,
        None => account.entry_count,
    };
    let state = Entries {
        ledger: ledger.clone(),
        watch,
        account_id,
        last,
        ready: VecDeque::new(),
    };
    Ok(futures::stream::unfold(state, |mut s| async move {
        let next = s.next().await;
        Some((next, s))
    }))
}

struct Entries {
    ledger: Ledger,
    watch: Watch,
    account_id: Uuid,
    last: i64,
    ready: VecDeque<entry::Model>,
}

impl Entries {
    async fn next(&mut self) -> entry::Model {
        loop {
            if let Some(e) = self.ready.pop_front() {
                self.last = e.sequence;
                return e;
            }
            match self.page().await {
                Ok(rows) if rows.is_empty() => self.watch.changed().await,
                Ok(rows) => self.ready.extend(rows),
                Err(e) => {
                    tracing::warn!(error = %e, account = %self.account_id, "entry feed read failed; retrying");
                    self.watch.changed().await;
                }
            }
        }
    }

    async fn page(&self) -> Result<Vec<entry::Model>> {
        Ok(entry::Entity::find()
            .filter(entry::Column::AccountId.eq(self.account_id))
            .filter(entry::Column::Sequence.gt(self.last))
            .order_by_asc(entry::Column::Sequence)
            .limit(PAGE)
            .all(self.ledger.connection())
            .await?)
    }
}

/// Each of `ids` as it stands after every change committed from now on
/// (nothing is sent for the state at subscription). Changes committed
/// between two looks arrive as the latest of them: an account's versions
/// only ever increase from one message to the next.
pub async fn account_changes(
    ledger: &Ledger,
    ids: &[Uuid],
) -> Result<impl Stream<Item = account::Model> + Send + 'static + use<>> {
    let ids: Vec<Uuid> = ids.iter().copied().collect::<BTreeSet<Uuid>>().into_iter().collect();
    if ids.is_empty() || ids.len() > MAX_WATCHED {
        return Err(LedgerError::client(
            ErrorCode::InvalidInput,
            format!("accountIds must name 1 to {MAX_WATCHED} accounts, got {}", ids.len()),
        ));
    }
    let watch = ledger.feed().watch(ledger.connection(), &ids);
    let rows = crate::store::account::by_ids(ledger, &ids).await?;
    let seen: HashMap<Uuid, i64> = rows.iter().map(|a| (a.id, a.version)).collect();
    if let Some(missing) = ids.iter().find(|id| !seen.contains_key(id)) {
        return Err(crate::store::account::not_found(&missing.to_string()));
    }
    let state = Accounts {
        ledger: ledger.clone(),
        watch,
        ids,
        seen,
        ready: VecDeque::new(),
    };
    Ok(futures::stream::unfold(state, |mut s| async move {
        let next = s.next().await;
        Some((next, s))
    }))
}

struct Accounts {
    ledger: Ledger,
    watch: Watch,
    ids: Vec<Uuid>,
    seen: HashMap<Uuid, i64>,
    ready: VecDeque<account::Model>,
}

impl Accounts {
    async fn next(&mut self) -> account::Model {
        loop {
            if let Some(a) = self.ready.pop_front() {
                return a;
            }
            self.watch.changed().await;
            match crate::store::account::by_ids(&self.ledger, &self.ids).await {
                Ok(rows) => {
                    let mut moved: Vec<account::Model> = rows
                        .into_iter()
                        .filter(|a| self.seen.get(&a.id).is_none_or(|v| a.version > *v))
                        .collect();
                    moved.sort_by_key(|a| a.id);
                    for a in &moved {
                        self.seen.insert(a.id, a.version);
                    }
                    self.ready.extend(moved);
                }
                Err(e) => tracing::warn!(error = %e, "account feed read failed; retrying"),
            }
        }
    }
}

/// Every `balance.alert` event of `ids` committed from now on, each once,
/// in each account's commit order. An account's events get increasing
/// `seq`s in its commit order (each is written under the account's lock),
/// so one cursor per account ("the last seq sent") neither skips nor
/// repeats; across accounts there is no order to keep.
pub async fn alerts(
    ledger: &Ledger,
    ids: &[Uuid],
) -> Result<impl Stream<Item = entity::webhook_event::Model> + Send + 'static + use<>> {
    let ids: Vec<Uuid> = ids.iter().copied().collect::<BTreeSet<Uuid>>().into_iter().collect();
    if ids.is_empty() || ids.len() > MAX_WATCHED {
        return Err(LedgerError::client(
            ErrorCode::InvalidInput,
            format!("accountIds must name 1 to {MAX_WATCHED} accounts, got {}", ids.len()),
        ));
    }
    let watch = ledger.feed().watch(ledger.connection(), &ids);
    let rows = crate::store::account::by_ids(ledger, &ids).await?;
    if let Some(missing) = ids.iter().find(|id| !rows.iter().any(|a| a.id == **id)) {
        return Err(crate::store::account::not_found(&missing.to_string()));
    }
    let start = crate::store::webhook::last_event_seq(ledger).await?;
    let state = Alerts {
        ledger: ledger.clone(),
        watch,
        cursors: ids.iter().map(|id| (*id, start)).collect(),
        ids,
        ready: VecDeque::new(),
    };
    Ok(futures::stream::unfold(state, |mut s| async move {
        let next = s.next().await;
        Some((next, s))
    }))
}

struct Alerts {
    ledger: Ledger,
    watch: Watch,
    ids: Vec<Uuid>,
    cursors: HashMap<Uuid, i64>,
    ready: VecDeque<entity::webhook_event::Model>,
}

impl Alerts {
    async fn next(&mut self) -> entity::webhook_event::Model {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return e;
            }
            let from = self.cursors.values().copied().min().unwrap_or(0);
            match crate::store::webhook::alert_events(&self.ledger, &self.ids, from).await {
                Ok(rows) => {
                    for e in rows {
                        let Some(account) = e.account_a else { continue };
                        let cursor = self.cursors.entry(account).or_insert(0);
                        if e.seq > *cursor {
                            *cursor = e.seq;
                            self.ready.push_back(e);
                        }
                    }
                    if self.ready.is_empty() {
                        self.watch.changed().await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "alert feed read failed; retrying");
                    self.watch.changed().await;
                }
            }
        }
    }
}
