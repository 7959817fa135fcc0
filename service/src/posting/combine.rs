//! Write combining (group commit): single requests arriving while the
//! engine is busy are gathered and run together as one engine run — one
//! transaction, one commit — each keeping its own outcome, idempotency
//! record and error code (the run is `Mode::Independent`, and a refused
//! request is undone without touching its neighbours).
//!
//! There is no timer: a worker takes everything queued, runs it, and takes
//! what queued meanwhile, so a lone request waits for nothing and a busy
//! instance commits many requests at once. This is an optimisation inside
//! one instance; correctness still comes from the database (locks, CAS,
//! unique keys), so any number of instances may share it.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Mode, Outcome, Request};
use crate::error::LedgerError;
use crate::ledger::Ledger;

/// The most requests one combined run carries.
const MAX_COMBINED: usize = 256;

struct Job {
    request: Request,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Clone)]
pub(crate) struct Combiner {
    tx: mpsc::UnboundedSender<Job>,
}

impl Combiner {
    /// Starts `workers` combining workers over `ledger` (a ledger without a combiner).
    pub(crate) fn start(ledger: Ledger, workers: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers.max(1) {
            tokio::spawn(work(ledger.clone(), rx.clone()));
        }
        Combiner { tx }
    }

    pub(crate) async fn submit(&self, request: Request) -> Outcome {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { request, reply })
            .map_err(|_| LedgerError::Internal("write combiner stopped".into()))?;
        answer
            .await
            .map_err(|_| LedgerError::Internal("write combiner dropped a request".into()))?
    }
}

async fn work(ledger: Ledger, rx: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
    loop {
        let mut jobs = Vec::new();
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(job) => jobs.push(job),
                None => return,
            }
            while jobs.len() < MAX_COMBINED {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        run(&ledger, jobs).await;
    }
}

/// Runs the jobs together; if the combined run fails for a reason retries
/// could not fix, each job is run alone so one request cannot fail the others.
async fn run(ledger: &Ledger, jobs: Vec<Job>) {
    let requests: Vec<Request> = jobs.iter().map(|j| j.request.clone()).collect();
    match super::run(ledger, &requests, Mode::Independent).await {
        Ok(outcomes) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(e) if jobs.len() == 1 => {
            for job in jobs {
                let _ = job.reply.send(Err(e.duplicate()));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, requests = jobs.len(), "combined run failed; running its requests one by one");
            for job in jobs {
                let outcome = super::run(ledger, std::slice::from_ref(&job.request), Mode::Independent).await;
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
