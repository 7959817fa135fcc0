//! The delivery worker, one per instance: claims due deliveries (leased, so
//! any number of instances share the work and a killed one's claims lapse
//! to the others), POSTs each event signed to its endpoint, and records the
//! attempt: delivered on a 2xx, else retried with exponential backoff and
//! jitter, dead after the last attempt. Also keeps this instance's snapshot
//! of endpoints and alerts fresh for the posting engine.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use service::Ledger;
use service::model::event::{BATCH_HEADER, SIGNATURE_HEADER, batch_body, signature};
use service::store::outage::Outage;
use service::store::webhook::{self as repo, Attempt, Claimed};

/// The most deliveries one round claims (the claim looks at the 4,096
/// oldest pending ones).
const MAX_CLAIM: u64 = 4096;

/// How deliveries are made.
#[derive(Clone, Copy, Debug)]
pub struct WebhookOptions {
    /// How long an endpoint has to answer.
    pub timeout: Duration,
    /// Attempts before a delivery is dead.
    pub max_attempts: i32,
    /// The first retry's delay; each next one doubles, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// How often the worker looks for due deliveries when idle.
    pub poll: Duration,
    /// How often endpoints and alerts are reread (changes made on this
    /// instance apply at once).
    pub refresh: Duration,
    /// POSTs sent at once, and deliveries claimed per round (times the
    /// largest `maxBatchSize` of the endpoints).
    pub batch: u64,
}

impl WebhookOptions {
    pub const DEFAULT: WebhookOptions = WebhookOptions {
        timeout: Duration::from_secs(10),
        max_attempts: 12,
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(3600),
        poll: Duration::from_millis(250),
        refresh: Duration::from_secs(1),
        batch: 256,
    };

    /// A claim outlives the longest attempt: a live worker's claim never
    /// lapses while it waits for an answer.
    fn lease(&self) -> Duration {
        self.timeout * 3
    }

    /// Exponential, capped, with jitter: a uniform delay in [d/2, d].
    fn backoff_after(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(30);
        let full = self
            .backoff
            .saturating_mul(1u32 << doublings.min(20))
            .min(self.max_backoff);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The running worker; dropping it stops the loops.
pub struct Webhooks {
    ledger: Ledger,
    options: WebhookOptions,
    http: reqwest::Client,
}

impl Webhooks {
    pub async fn start(ledger: Ledger, options: WebhookOptions) -> service::model::error::Result<Arc<Self>> {
        ledger.refresh_hooks().await?;
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Tally-Webhooks/1")
            .build()
            .map_err(|e| service::LedgerError::Internal(format!("webhook client: {e}")))?;
        let me = Arc::new(Self { ledger, options, http });
        tokio::spawn(refresh(Arc::downgrade(&me)));
        tokio::spawn(deliver(Arc::downgrade(&me)));
        Ok(me)
    }

    /// One claim and its deliveries; whether the claim was full (the next
    /// round should not wait). Deliveries go out in units: one delivery,
    /// or for an endpoint with a batch size above 1, up to that many of its
    /// claimed deliveries in `seq` order in one POST. Units that share an endpoint and an account go out one
    /// after the other in `seq` order (a failure stops the rest of that
    /// chain for this round: they are released unsent, as is an attempt
    /// that could not finish within the claim's lease); all others at once.
    async fn round(&self) -> service::model::error::Result<bool> {
        let endpoints: HashMap<uuid::Uuid, service::entity::webhook_endpoint::Model> = repo::endpoints(&self.ledger)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        // A round sends at most `batch` POSTs at once, so with batching
        // endpoints it may claim that many batches' worth.
        let widest = endpoints.values().map(|e| e.max_batch_size).max().unwrap_or(1);
        let limit = self
            .options
            .batch
            .saturating_mul(u64::try_from(widest).unwrap_or(1).max(1))
            .min(MAX_CLAIM);
        // No attempt starts that could outlast the claim: past its lease
        // another worker may claim the rest of a chain and send it too.
        let lease_end = Instant::now() + self.options.lease();
        let claimed = repo::claim(&self.ledger, limit, self.options.lease()).await?;
        if claimed.is_empty() {
            return Ok(false);
        }
        let events: Vec<uuid::Uuid> = claimed.iter().map(|c| c.event_id).collect();
        let events: HashMap<uuid::Uuid, service::entity::webhook_event::Model> =
            repo::events_to_send(&self.ledger, &events)
                .await?
                .into_iter()
                .map(|e| (e.id, e))
                .collect();
        let permits = tokio::sync::Semaphore::new(usize::try_from(self.options.batch).unwrap_or(256).max(1));
        let units = units(&claimed, |endpoint| {
            endpoints.get(&endpoint).map_or(1, |e| e.max_batch_size)
        });
        let mut last: HashMap<(uuid::Uuid, uuid::Uuid), usize> = HashMap::new();
        let mut sends: Vec<Shared<BoxFuture<'_, Option<Attempt>>>> = Vec::with_capacity(units.len());
        for (u, members) in units.iter().enumerate() {
            let mut before: Vec<usize> = members
                .iter()
                .flat_map(|&i| claimed[i].keys())
                .filter_map(|k| last.insert(k, u))
                .filter(|&j| j != u)
                .collect();
            before.sort_unstable();
            before.dedup();
            let before: Vec<_> = before.into_iter().map(|j| sends[j].clone()).collect();
            let unit: Vec<&Claimed> = members.iter().map(|&i| &claimed[i]).collect();
            let (events, endpoints, permits) = (&events, &endpoints, &permits);
            let send = async move {
                for earlier in before {
                    if !earlier.await.is_some_and(|a| a.succeeded()) {
                        return None;
                    }
                }
                // Taken after the predecessors: a holder never waits on another send.
                let _permit = permits.acquire().await.ok()?;
                if Instant::now() + self.options.timeout >= lease_end {
                    return None;
                }
                let bodies: Option<Vec<_>> = unit.iter().map(|c| events.get(&c.event_id)).collect();
                Some(match (bodies, endpoints.get(&unit[0].endpoint_id)) {
                    (Some(evs), Some(ep)) => self.send(&unit, &evs, ep).await,
                    _ => failed(
                        chrono::Utc::now(),
                        Instant::now(),
                        None,
                        "event or endpoint gone".into(),
                    ),
                })
            };
            sends.push(send.boxed().shared());
        }
        let outcomes = futures::future::join_all(sends).await;
        let mut settled = Vec::with_capacity(claimed.len());
        let mut unsent = Vec::new();
        for (members, outcome) in units.iter().zip(outcomes) {
            for c in members.iter().map(|&i| &claimed[i]) {
                match &outcome {
                    Some(attempt) => {
                        let retry_at = self.retry_at(c, attempt);
                        settled.push((c.clone(), attempt.clone(), retry_at));
                    }
                    None => unsent.push(c.clone()),
                }
            }
        }
        repo::settle(&self.ledger, &settled, &unsent).await?;
        Ok(claimed.len() as u64 >= limit)
    }

    /// One POST: a single event's body, or for an endpoint that batches,
    /// `{"events": […]}` with the unit's events in `seq` order.
    async fn send(
        &self,
        unit: &[&Claimed],
        events: &[&service::entity::webhook_event::Model],
        endpoint: &service::entity::webhook_endpoint::Model,
    ) -> Attempt {
        let started_at = chrono::Utc::now();
        let clock = Instant::now();
        let mut request = self.http.post(&endpoint.url).header("content-type", "application/json");
        let body = match (endpoint.max_batch_size > 1, events) {
            (false, [event]) => {
                request = request
                    .header("Tally-Webhook-Id", event.id.to_string())
                    .header("Tally-Webhook-Event", &event.kind)
                    .header("Tally-Webhook-Attempt", unit[0].attempt.to_string());
                event.payload.clone()
            }
            _ => {
                request = request.header(BATCH_HEADER, events.len().to_string());
                batch_body(events.iter().map(|e| e.payload.as_str()))
            }
        };
        let signed = signature(&endpoint.secret, started_at.timestamp(), &body);
        let sent = request.header(SIGNATURE_HEADER, signed).body(body).send().await;
        match sent {
            Ok(response) if response.status().is_success() => Attempt {
                started_at,
                status_code: Some(i32::from(response.status().as_u16())),
                error: None,
                latency_ms: elapsed_ms(clock),
            },
            Ok(response) => {
                let code = response.status().as_u16();
                failed(started_at, clock, Some(i32::from(code)), format!("HTTP {code}"))
            }
            Err(e) if e.is_timeout() => failed(
                started_at,
                clock,
                None,
                format!("no answer within {} ms", self.options.timeout.as_millis()),
            ),
            Err(e) => failed(started_at, clock, None, describe(&e)),
        }
    }

    /// When to try a failed attempt again (`None`: the last one failed).
    fn retry_at(&self, claimed: &Claimed, attempt: &Attempt) -> Option<chrono::DateTime<chrono::Utc>> {
        if attempt.succeeded() {
            return None;
        }
        tracing::debug!(delivery = claimed.seq, attempt = claimed.attempt, error = ?attempt.error, "webhook attempt failed");
        (claimed.attempt < self.options.max_attempts).then(|| {
            let delay = self.options.backoff_after(claimed.attempt);
            chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1))
        })
    }
}

/// The claimed deliveries (in `seq` order) as units of one POST each, in
/// the order of their first member: alone, or for an endpoint whose batch
/// size is above 1, consecutive runs of up to that many of its deliveries.
fn units(claimed: &[Claimed], batch_size: impl Fn(uuid::Uuid) -> i32) -> Vec<Vec<usize>> {
    let mut units: Vec<Vec<usize>> = Vec::new();
    let mut filling: HashMap<uuid::Uuid, usize> = HashMap::new();
    for (i, c) in claimed.iter().enumerate() {
        let size = usize::try_from(batch_size(c.endpoint_id)).unwrap_or(1).max(1);
        if size > 1 {
            if let Some(&u) = filling.get(&c.endpoint_id)
                && units[u].len() < size
            {
                units[u].push(i);
                continue;
            }
            filling.insert(c.endpoint_id, units.len());
        }
        units.push(vec![i]);
    }
    units
}

fn failed(started_at: chrono::DateTime<chrono::Utc>, clock: Instant, status: Option<i32>, error: String) -> Attempt {
    Attempt {
        started_at,
        status_code: status,
        error: Some(error),
        latency_ms: elapsed_ms(clock),
    }
}

fn elapsed_ms(clock: Instant) -> i64 {
    i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// The connection failure, without the URL (which the caller knows).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "redirects are not followed"
    } else {
        "request failed"
    };
    let mut cause = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(c) = cause {
        detail = c.to_string();
        cause = c.source();
    }
    match detail.is_empty() {
        true => what.to_owned(),
        false => format!("{what}: {detail}"),
    }
}

async fn refresh(me: Weak<Webhooks>) {
    let every = match me.upgrade() {
        Some(m) => m.options.refresh,
        None => return,
    };
    let mut outage = Outage::new("webhook endpoints refresh", every);
    loop {
        let wait = match me.upgrade() {
            None => return,
            Some(m) => match m.ledger.refresh_hooks().await {
                Ok(()) => {
                    outage.succeeded();
                    every
                }
                Err(e) => outage.failed(&e),
            },
        };
        tokio::time::sleep(wait).await;
    }
}

async fn deliver(me: Weak<Webhooks>) {
    let poll = match me.upgrade() {
        Some(m) => m.options.poll,
        None => return,
    };
    let mut outage = Outage::new("webhook delivery", poll);
    loop {
        let wait = match me.upgrade() {
            None => return,
            // Nothing configured: nothing can be due (endpoints are in the snapshot).
            Some(m) if m.ledger.hooks().endpoints.is_empty() => poll,
            Some(m) => match m.round().await {
                Ok(full) => {
                    outage.succeeded();
                    match full {
                        true => Duration::ZERO,
                        false => poll,
                    }
                }
                Err(e) => outage.failed(&e),
            },
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(endpoint: u128, account: u128) -> Claimed {
        Claimed {
            seq: 0,
            attempt: 1,
            event_id: uuid::Uuid::now_v7(),
            endpoint_id: uuid::Uuid::from_u128(endpoint),
            accounts: (Some(uuid::Uuid::from_u128(account)), None),
        }
    }

    #[test]
    fn batching_endpoints_get_consecutive_runs_and_others_one_delivery_each() {
        // Endpoint 1 batches 2 at a time; endpoint 2 takes one per POST.
        let c = [
            claimed(1, 10),
            claimed(2, 10),
            claimed(1, 11),
            claimed(1, 10),
            claimed(2, 11),
            claimed(1, 12),
        ];
        let size = |e: uuid::Uuid| if e == uuid::Uuid::from_u128(1) { 2 } else { 1 };
        assert_eq!(units(&c, size), vec![vec![0, 2], vec![1], vec![3, 5], vec![4]]);
        assert_eq!(units(&c, |_| 1).len(), c.len());
        // A nonsensical size is one delivery per POST, never a panic.
        assert_eq!(units(&c, |_| 0).len(), c.len());
        assert_eq!(units(&c, |_| 1000), vec![vec![0, 2, 3, 5], vec![1, 4]]);
    }
}
