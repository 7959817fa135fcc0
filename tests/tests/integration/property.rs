//! A property test: random sequences of every operation, applied to Tally
//! and to a tiny in-memory reference model, agree on every outcome and every
//! balance, and the invariants hold throughout. Deterministic seeds, so a
//! failure reproduces.
//!
//! Over 300 lines on purpose: the reference model, the generator and the
//! comparison belong together; split, none of them reads on its own.

use std::collections::HashMap;

use anyhow::{Result, ensure};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tests::{CAPTURE_HOLD, POST_TRANSFERS, REVERSE, SPLIT, TestApp, VOID_HOLD, both, item};
use uuid::Uuid;

both!(random_operations_agree_with_a_reference_model);

const STEPS: usize = 90;
const ACCOUNTS: usize = 4;

#[derive(Clone)]
struct ModelHold {
    from: usize,
    to: usize,
    amount: Decimal,
    pending: bool,
}

#[derive(Clone)]
struct ModelTransfer {
    from: usize,
    to: usize,
    amount: Decimal,
    reversed: Decimal,
    reversal: bool,
}

#[derive(Default)]
struct Model {
    balance: Vec<Decimal>,
    held: Vec<Decimal>,
    holds: Vec<(Uuid, ModelHold)>,
    transfers: Vec<(Uuid, ModelTransfer)>,
}

impl Model {
    fn available(&self, a: usize) -> Decimal {
        self.balance[a] - self.held[a]
    }

    /// Moves money if `from` can afford it; the outcome code otherwise.
    fn try_move(&mut self, from: usize, to: usize, amount: Decimal) -> Option<&'static str> {
        if self.available(from) < amount {
            return Some("INSUFFICIENT_FUNDS");
        }
        self.balance[from] -= amount;
        self.balance[to] += amount;
        None
    }
}

/// Largest remainder over integer cents, ties to the earlier part.
fn allocate(cents: i64, weights: &[i64]) -> Vec<i64> {
    let total: i64 = weights.iter().sum();
    let mut shares: Vec<i64> = weights.iter().map(|w| cents * w / total).collect();
    let mut rem: Vec<(i64, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| (cents * w % total, i))
        .collect();
    rem.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let left = cents - shares.iter().sum::<i64>();
    for (_, i) in rem.into_iter().take(left as usize) {
        shares[i] += 1;
    }
    shares
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

fn code(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["code"].as_str().map(str::to_owned)
}

async fn random_operations_agree_with_a_reference_model(app: TestApp) -> Result<()> {
    let mut rng = fastrand::Rng::with_seed(0x7a11e5);
    let mut ids = Vec::new();
    for i in 0..ACCOUNTS {
        ids.push(app.open(&format!("acct-{i}"), "USD", None).await?);
    }
    let mut m = Model {
        balance: vec![Decimal::ZERO; ACCOUNTS],
        held: vec![Decimal::ZERO; ACCOUNTS],
        ..Model::default()
    };
    for step in 0..STEPS {
        let key = format!("k{step}");
        let (a, b) = (rng.usize(..ACCOUNTS), rng.usize(..ACCOUNTS));
        let b = if a == b { (b + 1) % ACCOUNTS } else { b };
        let amount = cents(rng.i64(1..4000));
        let (expected, body): (Option<&str>, Value) = match rng.u8(..9) {
            0 | 1 => {
                m.balance[a] += amount;
                (None, app.deposit(ids[a], &amount.to_string(), &key).await?)
            }
            2 => {
                let expected = match m.available(a) < amount {
                    true => Some("INSUFFICIENT_FUNDS"),
                    false => {
                        m.balance[a] -= amount;
                        None
                    }
                };
                (expected, app.withdraw(ids[a], &amount.to_string(), &key).await?)
            }
            3 => {
                let expected = m.try_move(a, b, amount);
                let body = app.transfer(ids[a], ids[b], &amount.to_string(), &key).await?;
                if expected.is_none() {
                    let id = tests::uuid_at(&body["data"]["transfer"]["id"])?;
                    m.transfers.push((
                        id,
                        ModelTransfer {
                            from: a,
                            to: b,
                            amount,
                            reversed: Decimal::ZERO,
                            reversal: false,
                        },
                    ));
                }
                (expected, body)
            }
            4 => {
                // A non-atomic batch of two: each item on its own.
                let second = cents(rng.i64(1..3000));
                let e1 = m.try_move(a, b, amount);
                let e2 = m.try_move(b, a, second);
                let items = json!([
                    item(ids[a], ids[b], &amount.to_string(), &key),
                    item(ids[b], ids[a], &second.to_string(), &format!("{key}b"))
                ]);
                let body = app
                    .data(POST_TRANSFERS, json!({ "i": { "transfers": items, "atomic": false } }))
                    .await?;
                let got: Vec<Option<String>> = body["postTransfers"]["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| r["code"].as_str().map(str::to_owned))
                    .collect();
                ensure!(
                    got == vec![e1.map(str::to_owned), e2.map(str::to_owned)],
                    "step {step}: batch {got:?}"
                );
                (None, json!({}))
            }
            5 => {
                let weights = [rng.i64(1..4), rng.i64(1..4)];
                let others: Vec<usize> = (0..ACCOUNTS).filter(|x| *x != a).take(2).collect();
                let c = rng.i64(1..2000);
                let expected = match m.available(a) < cents(c) {
                    true => Some("INSUFFICIENT_FUNDS"),
                    false => {
                        for (to, share) in others.iter().zip(allocate(c, &weights)) {
                            m.balance[a] -= cents(share);
                            m.balance[*to] += cents(share);
                        }
                        None
                    }
                };
                let parts: Vec<Value> = others
                    .iter()
                    .zip(weights)
                    .map(|(o, w)| json!({ "accountId": ids[*o], "weight": w.to_string() }))
                    .collect();
                let input = json!({ "fromAccountId": ids[a], "amount": cents(c).to_string(), "idempotencyKey": key, "parts": parts });
                (expected, app.post(SPLIT, json!({ "i": input })).await?)
            }
            6 => {
                let expected = match m.available(a) < amount {
                    true => Some("INSUFFICIENT_FUNDS"),
                    false => {
                        m.held[a] += amount;
                        None
                    }
                };
                let body = app.hold(ids[a], ids[b], &amount.to_string(), &key, 600_000).await?;
                if expected.is_none() {
                    let id = tests::uuid_at(&body["data"]["createHold"]["id"])?;
                    m.holds.push((
                        id,
                        ModelHold {
                            from: a,
                            to: b,
                            amount,
                            pending: true,
                        },
                    ));
                }
                (expected, body)
            }
            7 if !m.holds.is_empty() => {
                let (id, h) = m.holds[rng.usize(..m.holds.len())].clone();
                let capture = rng.bool();
                let part = cents(rng.i64(1..=h.amount.mantissa() as i64));
                let expected = match h.pending {
                    false => Some("HOLD_NOT_PENDING"),
                    true => {
                        m.held[h.from] -= h.amount;
                        if capture {
                            m.balance[h.from] -= part;
                            m.balance[h.to] += part;
                        }
                        if let Some(x) = m.holds.iter_mut().find(|x| x.0 == id) {
                            x.1.pending = false;
                        }
                        None
                    }
                };
                let body = match capture {
                    true => {
                        app.post(
                            CAPTURE_HOLD,
                            json!({ "i": { "holdId": id, "amount": part.to_string(), "idempotencyKey": key } }),
                        )
                        .await?
                    }
                    false => {
                        app.post(VOID_HOLD, json!({ "i": { "holdId": id, "idempotencyKey": key } }))
                            .await?
                    }
                };
                (expected, body)
            }
            _ if !m.transfers.is_empty() => {
                let i = rng.usize(..m.transfers.len());
                let (id, t) = m.transfers[i].clone();
                let amount = cents(rng.i64(1..=t.amount.mantissa() as i64));
                let remaining = t.amount - t.reversed;
                let expected = if t.reversal {
                    Some("REVERSAL_NOT_ALLOWED")
                } else if amount > remaining {
                    Some("REVERSAL_EXCEEDS_ORIGINAL")
                } else {
                    m.try_move(t.to, t.from, amount)
                };
                let body = app
                    .post(
                        REVERSE,
                        json!({ "i": { "transferId": id, "amount": amount.to_string(), "idempotencyKey": key } }),
                    )
                    .await?;
                if expected.is_none() {
                    m.transfers[i].1.reversed += amount;
                    let rid = tests::uuid_at(&body["data"]["reverseTransfer"]["id"])?;
                    m.transfers.push((
                        rid,
                        ModelTransfer {
                            from: t.to,
                            to: t.from,
                            amount,
                            reversed: Decimal::ZERO,
                            reversal: true,
                        },
                    ));
                }
                (expected, body)
            }
            _ => continue,
        };
        if body != json!({}) {
            ensure!(
                code(&body).as_deref() == expected,
                "step {step}: expected {expected:?}, got {body}"
            );
        }
        check_balances(&app, &ids, &m, step).await?;
        if step % 15 == 14 {
            app.assert_invariants().await?;
        }
    }
    app.assert_invariants().await
}

async fn check_balances(app: &TestApp, ids: &[Uuid], m: &Model, step: usize) -> Result<()> {
    let data = app
        .data(
            "{ accounts(first: 20) { edges { node { id balance heldBalance } } } }",
            json!({}),
        )
        .await?;
    let by_id: HashMap<String, (String, String)> = data["accounts"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let n = &e["node"];
            Some((
                n["id"].as_str()?.to_owned(),
                (n["balance"].as_str()?.to_owned(), n["heldBalance"].as_str()?.to_owned()),
            ))
        })
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let (balance, held) = by_id.get(&id.to_string()).cloned().unwrap_or_default();
        ensure!(
            balance == m.balance[i].round_dp(2).to_string() || balance.parse::<Decimal>().ok() == Some(m.balance[i]),
            "step {step}: account {i} balance {balance} != {}",
            m.balance[i]
        );
        ensure!(
            held.parse::<Decimal>().ok() == Some(m.held[i]),
            "step {step}: account {i} held {held} != {}",
            m.held[i]
        );
    }
    Ok(())
}
