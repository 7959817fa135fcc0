//! A real webhook receiver for the tests: an HTTP server on a loopback port
//! that records every request and answers as the test says (a status after
//! a delay), and a signature check written from the documented scheme with
//! its own HMAC (RFC 2104 over SHA-256), independent of the server's code.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub event_id: String,
    pub kind: String,
    pub attempt: u32,
    /// `Tally-Webhook-Batch`: how many events a batched POST carries (0: not batched).
    pub batch: usize,
    pub signature: String,
    pub body: String,
    pub json: Value,
    /// What the receiver answered (0 while it has not, or never did).
    pub status: u16,
}

/// How to answer a request: the status, after a delay.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
}

impl Reply {
    pub const OK: Reply = Reply {
        status: 200,
        delay: Duration::ZERO,
    };

    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
        }
    }
}

type Behave = Box<dyn Fn(&Received, usize) -> Reply + Send + Sync>;

struct Inner {
    got: Mutex<Vec<Received>>,
    behave: Mutex<Arc<Behave>>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    /// Starts a receiver that answers 200 to everything.
    pub async fn start() -> Result<Self> {
        let inner = Arc::new(Inner {
            got: Mutex::default(),
            behave: Mutex::new(Arc::new(Box::new(|_, _| Reply::OK))),
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, inner })
    }

    /// From now on, answer with `f(request, how many requests for its event came before)`.
    pub fn behave(&self, f: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static) {
        *self.inner.behave.lock().unwrap() = Arc::new(Box::new(f));
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner.got.lock().unwrap().clone()
    }

    /// The requests answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// Waits (at most `limit`) until `done` holds for the accepted requests.
    pub async fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Result<Vec<Received>> {
        let started = Instant::now();
        loop {
            let got = self.accepted();
            if done(&got) {
                return Ok(got);
            }
            if started.elapsed() > limit {
                let kinds: Vec<&str> = got.iter().map(|r| r.kind.as_str()).collect();
                bail!("waited {limit:?} for {what}; accepted so far: {kinds:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn hook(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let received = Received {
        event_id: header("tally-webhook-id"),
        kind: header("tally-webhook-event"),
        attempt: header("tally-webhook-attempt").parse().unwrap_or(0),
        batch: header("tally-webhook-batch").parse().unwrap_or(0),
        signature: header("tally-webhook-signature"),
        json: serde_json::from_str(&body).unwrap_or(Value::Null),
        body,
        status: 0,
    };
    let behave = Arc::clone(&inner.behave.lock().unwrap());
    // Recorded on arrival (status 0: no answer yet), so a request whose
    // sender hangs up before the answer still counts as heard.
    let (before, index) = {
        let mut got = inner.got.lock().unwrap();
        let before = got.iter().filter(|r| r.event_id == received.event_id).count();
        got.push(received.clone());
        (before, got.len() - 1)
    };
    let reply = behave(&received, before);
    tokio::time::sleep(reply.delay).await;
    inner.got.lock().unwrap()[index].status = reply.status;
    StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Checks `Tally-Webhook-Signature: t=<unix>,v1=<hex>` as a receiver would:
/// HMAC-SHA256(secret, "<t>.<body>") must equal v1, and t must be within
/// `tolerance` of now (older: a replay).
pub fn signature_ok(secret: &str, header: &str, body: &str, tolerance: Duration) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    let age = chrono::Utc::now().timestamp() - t;
    if age.unsigned_abs() > tolerance.as_secs() {
        return false;
    }
    let expected = hmac_sha256(secret.as_bytes(), format!("{t}.{body}").as_bytes());
    hex::encode(expected) == v1
}

/// RFC 2104 HMAC with SHA-256 (block size 64).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let tag = super::hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
