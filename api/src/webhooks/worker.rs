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
use service::model::event::{SIGNATURE_HEADER, signature};
use service::store::outage::Outage;
use service::store::webhook::{self as repo, Attempt, Claimed};

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
    /// Deliveries sent at once.
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

    /// One claim and its deliveries; how many were claimed. Deliveries
    /// that share an endpoint and an account go out one after the other in
    /// `seq` order (a failure stops the rest of that chain for this round:
    /// they are released unsent, as is an attempt that could not finish
    /// within the claim's lease); all others at once.
    async fn round(&self) -> service::model::error::Result<usize> {
        // No attempt starts that could outlast the claim: past its lease
        // another worker may claim the rest of a chain and send it too.
        let lease_end = Instant::now() + self.options.lease();
        let claimed = repo::claim(&self.ledger, self.options.batch, self.options.lease()).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let events: Vec<uuid::Uuid> = claimed.iter().map(|c| c.event_id).collect();
        let events: HashMap<uuid::Uuid, service::entity::webhook_event::Model> = repo::events(&self.ledger, &events)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let endpoints = repo::endpoints(&self.ledger).await?;
        let mut last: HashMap<(uuid::Uuid, uuid::Uuid), usize> = HashMap::new();
        let mut sends: Vec<Shared<BoxFuture<'_, Option<Attempt>>>> = Vec::with_capacity(claimed.len());
        for (i, c) in claimed.iter().enumerate() {
            let mut before: Vec<usize> = c.keys().filter_map(|k| last.insert(k, i)).collect();
            before.dedup();
            let before: Vec<_> = before.into_iter().map(|j| sends[j].clone()).collect();
            let event = events.get(&c.event_id);
            let endpoint = endpoints.iter().find(|e| e.id == c.endpoint_id);
            let send = async move {
                for earlier in before {
                    if !earlier.await.is_some_and(|a| a.succeeded()) {
                        return None;
                    }
                }
                if Instant::now() + self.options.timeout >= lease_end {
                    return None;
                }
                Some(match (event, endpoint) {
                    (Some(ev), Some(ep)) => self.send(c, ev, ep).await,
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
        for (c, outcome) in claimed.iter().zip(outcomes) {
            match outcome {
                Some(attempt) => {
                    let retry_at = self.retry_at(c, &attempt);
                    settled.push((c.clone(), attempt, retry_at));
                }
                None => unsent.push(c.clone()),
            }
        }
        repo::settle(&self.ledger, &settled, &unsent).await?;
        Ok(claimed.len())
    }

    async fn send(
        &self,
        claimed: &Claimed,
        event: &service::entity::webhook_event::Model,
        endpoint: &service::entity::webhook_endpoint::Model,
    ) -> Attempt {
        let started_at = chrono::Utc::now();
        let clock = Instant::now();
        let signed = signature(&endpoint.secret, started_at.timestamp(), &event.payload);
        let sent = self
            .http
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("Tally-Webhook-Id", event.id.to_string())
            .header("Tally-Webhook-Event", &event.kind)
            .header("Tally-Webhook-Attempt", claimed.attempt.to_string())
            .header(SIGNATURE_HEADER, signed)
            .body(event.payload.clone())
            .send()
            .await;
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
                Ok(n) => {
                    outage.succeeded();
                    match n as u64 >= m.options.batch {
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
