//! One engine run: the optimistic attempt, the locked attempt with its
//! deferred key lookup, and the retried locked attempt (see the module doc
//! of `posting` for the steps).

use std::collections::BTreeSet;

use sea_orm::{DatabaseTransaction, DbBackend};
use uuid::Uuid;

use super::book::Book;
use super::{idempotency, optimistic, plan};
use crate::model::error::{LedgerError, Result};
use crate::model::request::{Mode, Outcome, Request};
use crate::store::account as repo;
use crate::store::db;
use crate::store::ledger::Ledger;

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
        // The database is down or refusing: another attempt now would only
        // wait as long again. The client retries under its key.
        Err(e) if e.code() == crate::model::error::ErrorCode::Unavailable && !matches!(e, LedgerError::Conflict) => {
            return Err(e);
        }
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

async fn run_once(ledger: &Ledger, requests: &[Request], mode: Mode, lookup: Replay) -> Result<Vec<Outcome>> {
    let w = ledger.begin_write().await?;
    let txn = &w.txn;
    let mut outcomes = match lookup {
        Replay::First => idempotency::recorded_outcomes(txn, requests).await?,
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
    let hooks = ledger.hooks();
    if hooks.active() {
        book.changes = Some(Vec::new());
    }
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
        if !idempotency::recorded(txn, requests).await?.is_empty() {
            return Err(LedgerError::Conflict); // rerun with the lookup first
        }
    }
    let mut outbox = book.outbox(&hooks);
    let derived = outbox.take_derived();
    let rows = book.write(txn, outbox).await?;
    w.txn.commit().await?;
    ledger.remember_events(derived);
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
    let scales = crate::store::currency::scales_of(ledger, txn, &locked).await?;
    let reversed = plan::reversed_totals(txn, plans).await?;
    Ok(Book::new(locked, holds, scales, reversed))
}

fn finish(outcomes: Vec<Option<Outcome>>) -> Result<Vec<Outcome>> {
    Ok(outcomes.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    //! Combined runs must behave like the same requests one by one.

    use super::*;
    use crate::model::idempotency::{Fingerprint, IdempotencyKey};
    use crate::model::request::Action;
    use crate::operations::{account, hold, transfer as transfers};
    use crate::store::account::{NewAccount, by_ids};
    use crate::verify;
    use rust_decimal::Decimal;

    fn request(action: Action, key: &str) -> Request {
        let fingerprint = Fingerprint::new(key).finish();
        Request {
            action,
            key: IdempotencyKey::parse(key.to_owned()).ok(),
            fingerprint,
            description: None,
            metadata: None,
            effective_at: None,
        }
    }

    async fn open(ledger: &Ledger, code: &str) -> Result<Uuid> {
        let new = NewAccount {
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
        let h = hold::create(&ledger, new).await?.hold.map(|h| h.id).unwrap();
        let run = [
            request(
                Action::Capture {
                    hold_id: h,
                    amount: None,
                },
                "capture",
            ),
            request(
                Action::Archive {
                    account: a,
                    sweep_to: Some(c),
                },
                "merge",
            ),
        ];
        let outcomes = run_all(&ledger, &run).await?;
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        let settled = crate::store::hold::get(&ledger, h).await?;
        assert_eq!(settled.status, entity::HoldStatus::Captured);
        let rows = by_ids(&ledger, &[a, b, c]).await?;
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
