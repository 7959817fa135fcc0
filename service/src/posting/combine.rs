//! Write combining (group commit): single requests arriving while the
//! engine is busy are gathered and run together as one engine run — one
//! transaction, one commit — each keeping its own outcome, idempotency
//! record and error code (the run is `Mode::Independent`, and a refused
//! request is undone without touching its neighbours).
//!
//! There is no timer: a worker takes everything queued, runs it, and takes
//! what queued meanwhile, so a lone request waits for nothing and a busy
//! instance commits many requests at once. Each worker has its own lane,
//! and a request goes to the lane of the account it debits. So requests on
//! one hot account (or deposits, which all debit a currency's world
//! account) queue in one lane and share one run. Spread over every worker,
//! their runs would only wait on each other's row lock. Unrelated accounts
//! spread over the lanes. This is an optimisation inside one instance;
//! correctness still comes from the database (locks, CAS, unique keys), so
//! any number of instances may share it.

use std::hash::{DefaultHasher, Hash, Hasher};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::model::error::LedgerError;
use crate::model::request::Job;
use crate::model::request::{Action, Mode, Outcome, Request, Side};
use crate::store::ledger::Ledger;

/// The most requests one combined run carries.
const MAX_COMBINED: usize = 256;

/// Runs one request through its lane (starting the lanes' workers on the
/// first request), or alone when the ledger does not combine.
pub(crate) async fn run_one(ledger: &Ledger, request: Request) -> Outcome {
    if let Some(lanes) = ledger.lanes() {
        let senders = lanes
            .senders
            .get_or_init(|| start(ledger.clone().without_combining(), lanes.workers));
        return submit(senders, request).await;
    }
    let outcomes = super::run::run(ledger, std::slice::from_ref(&request), Mode::Independent).await?;
    outcomes
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(LedgerError::Internal("engine returned no outcome".into())))
}

/// Starts `workers` combining workers, one lane each, over `ledger` (a
/// ledger without lanes, so the workers run their batches directly).
fn start(ledger: Ledger, workers: usize) -> Vec<mpsc::UnboundedSender<Job>> {
    (0..workers.max(1))
        .map(|_| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(work(ledger.clone(), rx));
            tx
        })
        .collect()
}

async fn submit(lanes: &[mpsc::UnboundedSender<Job>], request: Request) -> Outcome {
    let (reply, answer) = oneshot::channel();
    let mut h = DefaultHasher::new();
    lane_key(&request.action).hash(&mut h);
    let lane = (h.finish() % lanes.len().max(1) as u64) as usize;
    lanes
        .get(lane)
        .ok_or_else(|| LedgerError::Internal("no write-combining lane".into()))?
        .send(Job { request, reply })
        .map_err(|_| LedgerError::Internal("write combiner stopped".into()))?;
    answer
        .await
        .map_err(|_| LedgerError::Internal("write combiner dropped a request".into()))?
}

/// What decides a request's lane: the account it debits (`None`: a
/// currency's world account), else the transfer or hold it acts on.
fn lane_key(action: &Action) -> Option<Uuid> {
    match action {
        Action::Move { debit: Side::World, .. } => None,
        Action::Move {
            debit: Side::Account(id),
            ..
        }
        | Action::Split { from: id, .. }
        | Action::Hold { from: id, .. } => Some(*id),
        Action::Reverse { transfer_id: id, .. } => Some(*id),
        Action::Capture { hold_id: id, .. } | Action::Void { hold_id: id, .. } | Action::Expire { hold_id: id, .. } => {
            Some(*id)
        }
        Action::Archive { account: id, .. } | Action::Exchange { from: id, .. } => Some(*id),
    }
}

async fn work(ledger: Ledger, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = rx.recv().await {
        let mut jobs = vec![job];
        while jobs.len() < MAX_COMBINED {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        run(&ledger, jobs).await;
    }
}

/// Runs the jobs together; if the combined run fails for a reason retries
/// could not fix, each job is run alone so one request cannot fail the others.
async fn run(ledger: &Ledger, jobs: Vec<Job>) {
    metrics::histogram!("tally_combined_run_requests").record(jobs.len() as f64);
    let requests: Vec<Request> = jobs.iter().map(|j| j.request.clone()).collect();
    match super::run::run(ledger, &requests, Mode::Independent).await {
        Ok(outcomes) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        // One request, or a failure none of them can get past (the database
        // is down or busy beyond the retries): each gets the error, at once.
        Err(e) if jobs.len() == 1 || e.code() == crate::model::error::ErrorCode::Unavailable => {
            for job in jobs {
                let _ = job.reply.send(Err(e.duplicate()));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, requests = jobs.len(), "combined run failed; running its requests one by one");
            for job in jobs {
                let outcome = super::run::run(ledger, std::slice::from_ref(&job.request), Mode::Independent).await;
                let outcome = outcome.and_then(|o| {
                    o.into_iter()
                        .next()
                        .ok_or_else(|| LedgerError::Internal("no outcome".into()))
                });
                let _ = job.reply.send(outcome.and_then(|o| o));
            }
        }
    }
}
