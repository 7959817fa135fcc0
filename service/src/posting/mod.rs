//! The posting engine: the only code that moves money or reserves it.
//!
//! Every money operation is a list of requests run through [`run`] in one
//! database transaction. On PostgreSQL a run is first tried optimistically,
//! as one statement without locks ([`optimistic`]); the locked path below
//! decides every run that attempt cannot:
//! 1. Replay: keys already recorded return their recorded outcome (or
//!    IDEMPOTENCY_KEY_REUSED for a different request under the key). The
//!    first attempt defers this lookup (see [`run`]).
//! 2. Lock: every hold involved, in one `FOR UPDATE` ascending by id, then
//!    every touched account, likewise. One global order — holds before
//!    accounts, each by id — so no two runs can deadlock.
//! 3. Apply in memory, in order ([`book::Book`]): a refused request leaves
//!    the book exactly as it was.
//! 4. Write back: a compare-and-swap of every changed account and hold, then
//!    the inserts of holds, transfers, seal-queue slots, entries and
//!    idempotency records. On PostgreSQL the accounts and the inserts other
//!    than holds are one statement ([`pg_write`]); SQLite runs one multi-row
//!    statement per table.
//! 5. Commit.
//!
//! Deadlocks, serialization failures, busy SQLite files, a concurrent twin
//! taking the same key, and CAS misses rerun the whole run (bounded).

mod allocate;
mod book;
pub(crate) mod combine;
mod ops;
mod optimistic;
mod pg_write;
mod plan;
mod replay;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend};
use serde_json::Value;
use uuid::Uuid;

use crate::account::repo;
use crate::currency;
use crate::db;
use crate::error::{LedgerError, Result};
use crate::hash::HASH_LEN;
use crate::idempotency::IdempotencyKey;
use crate::ledger::Ledger;
use crate::transfer::TransferKind;
use book::Book;
use entity::{account, hold, transfer};

pub(crate) use allocate::allocate;
pub(crate) use optimistic::{InFlight, Recent};

/// One side of a movement: a client account, or the world account of the
/// other side's currency (deposits and withdrawals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Account(Uuid),
    World,
}

/// What a request asks the ledger to do.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Move {
        kind: TransferKind,
        debit: Side,
        credit: Side,
        amount: Decimal,
    },
    Split {
        from: Uuid,
        amount: Decimal,
        parts: Vec<(Uuid, Decimal)>,
    },
    Reverse {
        transfer_id: Uuid,
        amount: Option<Decimal>,
    },
    Hold {
        from: Uuid,
        to: Uuid,
        amount: Decimal,
        expires_at: DateTime<Utc>,
    },
    Capture {
        hold_id: Uuid,
        amount: Option<Decimal>,
    },
    Void {
        hold_id: Uuid,
    },
    /// The expiry worker's release of a due hold (claimed with SKIP LOCKED).
    Expire {
        hold_id: Uuid,
    },
    /// Archive `account`; with `sweep_to`, move its balance there and void its holds.
    Archive {
        account: Uuid,
        sweep_to: Option<Uuid>,
    },
}

/// One request: an operation, validated for shape but not yet for state.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) op: Op,
    /// `None` only for the expiry worker, whose effect is decided by the hold.
    pub(crate) key: Option<IdempotencyKey>,
    pub(crate) fingerprint: [u8; HASH_LEN],
    pub(crate) description: Option<String>,
    pub(crate) metadata: Option<Value>,
}

/// What a request did: the transfers it posted, the hold or account it
/// changed, and every account it touched as it stands afterwards.
#[derive(Clone, Debug, Default)]
pub struct Effect {
    pub transfers: Vec<transfer::Model>,
    pub hold: Option<hold::Model>,
    pub account: Option<account::Model>,
    pub accounts: Vec<account::Model>,
}

impl Effect {
    /// The single transfer of a one-transfer operation.
    pub fn into_transfer(self) -> Result<transfer::Model> {
        self.transfers
            .into_iter()
            .next()
            .ok_or_else(|| LedgerError::Internal("operation posted no transfer".into()))
    }
}

pub(crate) type Outcome = Result<Effect>;

/// All-or-nothing (the first refusal aborts the run) or one outcome per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Atomic,
    Independent,
}

/// Whether a run looks its keys up before applying them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Replay {
    /// Look up every key first (step 1): the rerun after a deferred attempt failed.
    First,
    /// Nearly every key is new, so the first attempt skips the lookup (one
    /// statement and round trip per run) and applies every request. It
    /// stands only where it cannot differ from a replaying attempt: every
    /// keyed success and business refusal writes its record, so a key
    /// already recorded makes the write fail on the key's unique index; and
    /// where a request is refused, a lookup in the same transaction must find
    /// none of the run's keys recorded. Any error at all — that failure, a
    /// recorded key beside a refusal, an all-or-nothing refusal — drops the
    /// attempt (nothing was written) and reruns with [`Replay::First`].
    Deferred,
}

pub(crate) async fn run(ledger: &Ledger, requests: &[Request], mode: Mode) -> Result<Vec<Outcome>> {
    let outcomes = run_to_commit(ledger, requests, mode).await?;
    // Committed: only now may subscribers hear of it.
    ledger.feed().publish(touched(&outcomes));
    Ok(outcomes)
}

async fn run_to_commit(ledger: &Ledger, requests: &[Request], mode: Mode) -> Result<Vec<Outcome>> {
    if let Some(outcomes) = optimistic::run(ledger, requests).await {
        return Ok(outcomes);
    }
    match run_once(ledger, requests, mode, Replay::Deferred).await {
        Ok(outcomes) => return Ok(outcomes),
        Err(e) => tracing::debug!(error = %e, "deferred-lookup attempt dropped; rerunning with the lookup first"),
    }
    db::retrying(|| run_once(ledger, requests, mode, Replay::First)).await
}

/// Every account the successful outcomes left changed (or replayed).
fn touched(outcomes: &[Outcome]) -> BTreeSet<Uuid> {
    outcomes
        .iter()
        .flatten()
        .flat_map(|e| e.accounts.iter().chain(e.account.iter()).map(|a| a.id))
        .collect()
}

/// Runs one request and returns its outcome; through the write combiner
/// when the ledger has one, so concurrent requests share a commit.
pub(crate) async fn run_one(ledger: &Ledger, request: Request) -> Outcome {
    if let Some(combiner) = ledger.combiner() {
        return combiner.submit(request).await;
    }
    let outcomes = run(ledger, std::slice::from_ref(&request), Mode::Independent).await?;
    outcomes
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(LedgerError::Internal("engine returned no outcome".into())))
}

async fn run_once(ledger: &Ledger, requests: &[Request], mode: Mode, lookup: Replay) -> Result<Vec<Outcome>> {
    let w = ledger.begin_write().await?;
    let txn = &w.txn;
    let mut outcomes = match lookup {
        Replay::First => replay::recorded_outcomes(txn, requests).await?,
        Replay::Deferred => requests.iter().map(|_| None).collect(),
    };
    if mode == Mode::Atomic {
        abort_on_refusal(&mut outcomes)?;
    }
    let pending: Vec<usize> = (0..requests.len()).filter(|i| outcomes[*i].is_none()).collect();
    if pending.is_empty() {
        return finish(outcomes);
    }
    let (plans, holds) = plan::prepare(ledger, txn, requests, &pending).await?;
    let pg = ledger.connection().get_database_backend() == DbBackend::Postgres;
    let ids = plan::accounts_of(&plans);
    let _claim = pg.then(|| ledger.cache.in_flight.claim(ids.iter().copied()));
    let mut book = open_book(ledger, txn, ids, &plans, holds).await?;
    for (i, plan) in pending.into_iter().zip(plans) {
        let outcome = book.apply(&requests[i], plan);
        if let Err(LedgerError::Conflict) = outcome {
            return Err(LedgerError::Conflict); // the rows moved under us: rerun everything
        }
        if let (Mode::Atomic, Err(e)) = (mode, &outcome) {
            return Err(LedgerError::Item {
                index: i,
                source: Box::new(e.duplicate()),
            });
        }
        outcomes[i] = Some(outcome);
    }
    if lookup == Replay::Deferred && outcomes.iter().any(|o| matches!(o, Some(Err(_)))) {
        // Malformed input writes no record, so only a lookup tells whether
        // its key was taken (IDEMPOTENCY_KEY_REUSED, not the input's error).
        if !replay::recorded(txn, requests).await?.is_empty() {
            return Err(LedgerError::Conflict); // rerun with the lookup first
        }
    }
    let rows = book.write(txn).await?;
    w.txn.commit().await?;
    if pg {
        ledger.cache.recent.keep(rows); // for the optimistic path's next run
    }
    finish(outcomes)
}

/// In an all-or-nothing run, a replayed refusal fails the whole run.
fn abort_on_refusal(outcomes: &mut [Option<Outcome>]) -> Result<()> {
    for (index, outcome) in outcomes.iter_mut().enumerate() {
        if let Some(Err(e)) = outcome {
            return Err(LedgerError::Item {
                index,
                source: Box::new(e.duplicate()),
            });
        }
    }
    Ok(())
}

/// Locks `ids`, every account the plans touch, in ascending id order.
async fn open_book(
    ledger: &Ledger,
    txn: &DatabaseTransaction,
    ids: BTreeSet<Uuid>,
    plans: &[plan::Plan],
    holds: Vec<entity::hold::Model>,
) -> Result<Book> {
    let locked = repo::lock(txn, ids.into_iter().collect()).await?;
    let scales = scales_of(ledger, txn, &locked).await?;
    let reversed = plan::reversed_totals(txn, plans).await?;
    Ok(Book::new(locked, holds, scales, reversed))
}

fn finish(outcomes: Vec<Option<Outcome>>) -> Result<Vec<Outcome>> {
    Ok(outcomes.into_iter().flatten().collect())
}

/// The scale of every currency among `accounts` (cached; a miss costs a read).
async fn scales_of(
    ledger: &Ledger,
    db: &impl ConnectionTrait,
    accounts: &[account::Model],
) -> Result<HashMap<String, u32>> {
    let mut scales = HashMap::new();
    for a in accounts {
        if !scales.contains_key(&a.currency) {
            let scale = currency::scale_of(ledger, db, &a.currency).await?;
            scales.insert(a.currency.clone(), scale);
        }
    }
    Ok(scales)
}

#[cfg(test)]
mod tests {
    //! Combined runs must behave like the same requests one by one.

    use super::*;
    use crate::idempotency::Fingerprint;
    use crate::{account, hold, transfer as transfers, verify};

    fn request(op: Op, key: &str) -> Request {
        let fingerprint = Fingerprint::new(key).finish();
        Request {
            op,
            key: IdempotencyKey::parse(key.to_owned()).ok(),
            fingerprint,
            description: None,
            metadata: None,
        }
    }

    async fn open(ledger: &Ledger, code: &str) -> Result<Uuid> {
        let new = account::NewAccount {
            code: code.into(),
            currency: "USD".into(),
            min_balance: None,
            metadata: None,
            owner: None,
        };
        Ok(account::create(ledger, new).await?.id)
    }

    #[tokio::test]
    async fn a_capture_and_a_merge_in_one_run_settle_the_hold_once() -> Result<()> {
        let ledger = Ledger::connect("sqlite::memory:").await?.without_combining();
        let (a, b, c) = (
            open(&ledger, "a").await?,
            open(&ledger, "b").await?,
            open(&ledger, "c").await?,
        );
        let deposit = transfers::Movement {
            account_id: a,
            amount: Decimal::new(10_000, 2),
            details: transfers::Details {
                idempotency_key: "d".into(),
                ..Default::default()
            },
        };
        transfers::deposit(&ledger, deposit).await?;
        let new = hold::NewHold {
            from_account_id: a,
            to_account_id: b,
            amount: Decimal::new(4_000, 2),
            idempotency_key: "h".into(),
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(5),
            description: None,
            metadata: None,
        };
        let h = hold::create(&ledger, new).await?.hold.map(|h| h.id).unwrap_or_default();
        let run = [
            request(
                Op::Capture {
                    hold_id: h,
                    amount: None,
                },
                "capture",
            ),
            request(
                Op::Archive {
                    account: a,
                    sweep_to: Some(c),
                },
                "merge",
            ),
        ];
        let outcomes = run_all(&ledger, &run).await?;
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        let settled = hold::get(&ledger, h).await?;
        assert_eq!(settled.status, crate::hold::STATUS_CAPTURED);
        let rows = account::by_ids(&ledger, &[a, b, c]).await?;
        let balance = |id: Uuid| {
            rows.iter()
                .find(|r| r.id == id)
                .map(|r| (r.balance.0, r.held_balance.0))
        };
        assert_eq!(balance(a), Some((Decimal::new(0, 2), Decimal::new(0, 2))));
        assert_eq!(balance(b), Some((Decimal::new(4_000, 2), Decimal::new(0, 2))));
        assert_eq!(balance(c), Some((Decimal::new(6_000, 2), Decimal::new(0, 2))));
        let v = verify::verify(&ledger).await?;
        assert!(v.ok(), "{:?}", v.problems);
        Ok(())
    }

    async fn run_all(ledger: &Ledger, requests: &[Request]) -> Result<Vec<Outcome>> {
        run(ledger, requests, Mode::Independent).await
    }
}
