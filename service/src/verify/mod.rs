//! `verifyLedger` and `tally verify`: recompute everything the ledger claims,
//! from the rows, in one consistent snapshot, in bounded memory:
//! - per account: sequences 1..n without gaps, each hash recomputed over
//!   the previous entry's hash (and a stored `previous_hash`, which entries
//!   of older versions have, equal to it), times never decreasing, each `balance_after`
//!   equal to the running sum, and the account row's balance and entry count
//!   equal to what its entries say (the first broken entry of each
//!   account is reported, then that account is skipped); its held balance
//!   equal to the sum of its pending holds;
//! - per currency: the balances of all its accounts sum to zero;
//! - per transfer: exactly two entries, summing to zero, matching its
//!   accounts and amount; its hash recomputed; sealed or queued for sealing,
//!   and, once sealed, still carrying the hash it was sealed with; no entry
//!   without a transfer;
//! - the journal: leaves without gaps, every block's Merkle root, size and
//!   hash chain, and optionally a digest saved earlier as a prefix.
//!
//! Walks do this side by side (accounts, transfers, journal), each on its own
//! connection; on PostgreSQL they share one exported snapshot. Rows are
//! decoded by position and streamed; each entry is read once when the
//! accounts' chain states fit in memory (see [`ACCOUNTS_IN_MEMORY`]).
//!
//! Owns: the full audit. Uses: everything below it (seal's journal audit
//! included); nothing uses it.

mod accounts;
mod chains;
mod legs;
mod read;
mod transfers;

pub use crate::model::report::{Problem, Verification};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rust_decimal::Decimal;
use sea_orm::{DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait};

use crate::model::error::{LedgerError, Result};
use crate::model::report::problem;
use crate::seal::digest::Digest;
use crate::store::ledger::Ledger;
use chains::Chains;
use entity::entry;

pub async fn verify(ledger: &Ledger) -> Result<Verification> {
    verify_with(ledger, None, None).await
}

/// How far a walk has come, for progress reports.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub entries_checked: u64,
    pub entries_total: u64,
}

/// How many accounts' chain states the single-pass walk keeps in memory
/// (about 200 bytes each); a ledger with more accounts is walked a page of
/// accounts at a time instead, which reads each entry a second time.
pub const ACCOUNTS_IN_MEMORY: u64 = 250_000;

/// The full walk, optionally also proving that `digest` (saved earlier) is a
/// prefix of today's journal. `progress`, when given, is called about four
/// times a second; only then is the total counted (a scan nobody else needs).
pub async fn verify_with(
    ledger: &Ledger,
    digest: Option<&Digest>,
    progress: Option<&mut (dyn FnMut(Progress) + Send)>,
) -> Result<Verification> {
    verify_within(ledger, digest, progress, ACCOUNTS_IN_MEMORY).await
}

/// [`verify_with`], holding at most `accounts_in_memory` accounts' chain
/// states (tests force the paged walk with a small figure; both walks must
/// report the same problems).
pub async fn verify_within(
    ledger: &Ledger,
    digest: Option<&Digest>,
    mut progress: Option<&mut (dyn FnMut(Progress) + Send)>,
    accounts_in_memory: u64,
) -> Result<Verification> {
    let views = read::views(ledger, 4).await?;
    let [accounts_view, transfers_view, journal_view, entries_view] = [0, 1, 2, 3].map(|i| Arc::clone(&views[i]));
    let source = match ledger.connection().get_database_backend() {
        DbBackend::Postgres => transfers::Source::Merged {
            transfers: transfers_view,
            entries: entries_view,
        },
        _ => transfers::Source::Joined(transfers_view),
    };
    let entries_total = match progress {
        Some(_) => entry::Entity::find().count(accounts_view.as_ref()).await?,
        None => 0,
    };
    let mut v = Verification::default();
    let loaded = accounts::accounts(&accounts_view, accounts_in_memory.saturating_add(1)).await?;
    let single_pass = loaded.len() as u64 <= accounts_in_memory;
    let ledger_chains = if single_pass {
        accounts::check_held(&accounts_view, &loaded, &mut v).await?;
        v.accounts_checked = loaded.len() as u64;
        Some(Chains::new(loaded))
    } else {
        None
    };
    let seen = Arc::new(AtomicU64::new(0));
    let paged = {
        let seen = Arc::clone(&seen);
        tokio::spawn(timed("account walk", async move {
            let mut v = Verification::default();
            let mut sums = BTreeMap::new();
            let gaps = match single_pass {
                true => false,
                false => accounts::walk(&accounts_view, &seen, &mut sums, &mut v).await?,
            };
            Ok::<_, LedgerError>((v, sums, gaps))
        }))
    };
    let transfers = {
        let seen = Arc::clone(&seen);
        tokio::spawn(timed("transfer walk", async move {
            transfers::walk(source, ledger_chains, seen).await
        }))
    };
    let digest_copy = digest.cloned();
    let journal = tokio::spawn(timed("journal walk", async move {
        crate::seal::audit::journal(&journal_view, digest_copy.as_ref()).await
    }));
    let all = async { tokio::try_join!(paged, transfers, journal) };
    tokio::pin!(all);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let (paged, transfers, journal) = loop {
        tokio::select! {
            joined = &mut all => break joined.map_err(|e| LedgerError::Internal(format!("verification task: {e}")))?,
            _ = tick.tick() => {
                if let Some(report) = progress.as_mut() {
                    report(Progress { entries_checked: seen.load(Ordering::Relaxed), entries_total });
                }
            }
        }
    };
    if let Some(report) = progress.as_mut() {
        report(Progress {
            entries_checked: seen.load(Ordering::Relaxed),
            entries_total,
        });
    }
    let ((paged, mut sums, mut gaps), mut transfers, journal) = (paged?, transfers?, journal?);
    v.absorb(paged);
    let view = &views[0];
    let mut orphans_named = false;
    if let Some(mut chains) = transfers.chains.take() {
        // Entries no transfer claims never reached the chains: name them,
        // then let their chains have them (as the paged walk would).
        if chains.incomplete() {
            for e in transfers::entries_without_transfer(view, &mut v).await? {
                chains.offer(e, &mut v);
            }
            orphans_named = true;
        }
        gaps |= chains.finish(&mut sums, &mut v);
    }
    currency_sums(sums, &mut v);
    v.absorb(transfers.verification);
    v.absorb(journal);
    if !orphans_named && (gaps || v.entries_checked != transfers.entries) {
        transfers::entries_without_transfer(view, &mut v).await?;
    }
    if v.leaves_checked != transfers.sealed && crate::seal::audit::leaves_without_transfer(view, &mut v).await? == 0 {
        let message = format!(
            "the journal has {} leaves but {} transfers are sealed in it",
            v.leaves_checked, transfers.sealed
        );
        v.report(problem(None, None, message));
    }
    close(views).await?;
    Ok(v)
}

/// Runs a walk, logging how long it took (`RUST_LOG=service=debug`).
async fn timed<T>(walk: &'static str, f: impl Future<Output = T>) -> T {
    let started = std::time::Instant::now();
    let out = f.await;
    tracing::debug!(
        walk,
        seconds = started.elapsed().as_secs_f64(),
        "verification walk done"
    );
    out
}

fn currency_sums(sums: BTreeMap<String, Decimal>, v: &mut Verification) {
    for (currency, sum) in sums.into_iter().filter(|(_, s)| !s.is_zero()) {
        v.report(problem(
            None,
            None,
            format!("balances of {currency} sum to {sum}, not zero"),
        ));
    }
}

/// Ends the read transactions. The walks are done, so each view's last
/// holder is this list (on SQLite one transaction appears in every slot:
/// the last copy rolls it back).
async fn close(views: Vec<Arc<DatabaseTransaction>>) -> Result<()> {
    for view in views {
        if let Ok(txn) = Arc::try_unwrap(view) {
            txn.rollback().await?;
        }
    }
    Ok(())
}
