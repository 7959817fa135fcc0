//! Step 3's state and step 4: the locked rows, changed in memory request by
//! request, then written back in one go.
//!
//! Each request sees the state the requests before it in the same run left
//! (a batch behaves exactly like the same requests one by one). A refused
//! request is undone from an undo log, so it leaves the book as it found it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::idempotency::{self as keys, Seen};
use crate::model::error::{LedgerError, Result};
use crate::model::request::{Effect, Outcome, Request};
use crate::model::time::now_micros;
use crate::store::account as repo;
use crate::store::hold as holds;
use entity::{account, entry, hold, idempotency, transfer};

#[derive(Clone)]
pub(super) struct Tracked {
    pub(super) row: account::Model,
    pub(super) read_version: i64,
    pub(super) changed: bool,
}

#[derive(Clone)]
pub(super) struct TrackedHold {
    pub(super) row: hold::Model,
    /// `None` for a hold created in this run.
    pub(super) read_version: Option<i64>,
    pub(super) changed: bool,
}

#[derive(Default)]
struct Undo {
    accounts: HashMap<Uuid, Tracked>,
    holds: HashMap<Uuid, Option<TrackedHold>>,
    reversed: HashMap<Uuid, Option<Decimal>>,
    transfers: usize,
    entries: usize,
}

pub(super) struct Book {
    pub(super) accounts: HashMap<Uuid, Tracked>,
    pub(super) holds: HashMap<Uuid, TrackedHold>,
    pub(super) scales: HashMap<String, u32>,
    pub(super) reversed: HashMap<Uuid, Decimal>,
    pub(super) transfers: Vec<transfer::Model>,
    pub(super) entries: Vec<entry::Model>,
    pub(super) records: Vec<idempotency::Model>,
    seen: HashMap<String, ([u8; 32], Seen)>,
    undo: Undo,
    pub(super) now: DateTime<Utc>,
    /// Each successful request's changes, when something (a webhook
    /// endpoint, a balance alert) wants events (see `events`).
    pub(super) changes: Option<Vec<super::changes::Change>>,
    /// Each locked account's available balance before the run.
    initial: HashMap<Uuid, Decimal>,
}

impl Book {
    pub(super) fn new(
        locked: Vec<account::Model>,
        holds: Vec<hold::Model>,
        scales: HashMap<String, u32>,
        reversed: HashMap<Uuid, Decimal>,
    ) -> Self {
        let track = |row: account::Model| {
            (
                row.id,
                Tracked {
                    read_version: row.version,
                    row,
                    changed: false,
                },
            )
        };
        let track_hold = |row: hold::Model| {
            (
                row.id,
                TrackedHold {
                    read_version: Some(row.version),
                    row,
                    changed: false,
                },
            )
        };
        let initial = locked.iter().map(|a| (a.id, a.balance.0 - a.held_balance.0)).collect();
        Book {
            initial,
            changes: None,
            accounts: locked.into_iter().map(track).collect(),
            holds: holds.into_iter().map(track_hold).collect(),
            scales,
            reversed,
            transfers: Vec::new(),
            entries: Vec::new(),
            records: Vec::new(),
            seen: HashMap::new(),
            undo: Undo::default(),
            now: now_micros(),
        }
    }

    /// Applies one request; on refusal, the book is exactly as before.
    pub(super) fn apply(&mut self, req: &Request, plan: super::plan::Plan) -> Outcome {
        let key = req.key.as_ref().map(|k| k.as_str().to_owned());
        if let Some((key, (fingerprint, seen))) = key.as_ref().and_then(|k| Some((k, self.seen.get(k)?))) {
            return keys::repeat(key, req, fingerprint, seen);
        }
        self.undo = Undo {
            transfers: self.transfers.len(),
            entries: self.entries.len(),
            ..Undo::default()
        };
        let outcome = match self.dispatch(req, plan) {
            Ok(effect) => {
                let effect = self.finish_request(effect);
                if let Some(changes) = &mut self.changes {
                    super::changes::note(changes, req, &effect);
                }
                Ok(effect)
            }
            Err(e) => {
                self.roll_back();
                Err(e)
            }
        };
        if let Some(key) = key {
            self.record(req, key, &outcome);
        }
        outcome
    }

    /// Bumps the version of every account this request changed, once, and
    /// reports them as they now stand.
    fn finish_request(&mut self, mut effect: Effect) -> Effect {
        let mut touched: Vec<Uuid> = self.undo.accounts.keys().copied().collect();
        touched.sort();
        for id in &touched {
            if let Some(t) = self.accounts.get_mut(id) {
                t.row.version += 1;
                effect.accounts.push(t.row.clone());
            }
        }
        if let Some(id) = effect.account.as_ref().map(|a| a.id) {
            effect.account = self.accounts.get(&id).map(|t| t.row.clone());
        }
        effect
    }

    fn roll_back(&mut self) {
        let undo = std::mem::take(&mut self.undo);
        self.accounts.extend(undo.accounts);
        for (id, prior) in undo.holds {
            match prior {
                Some(h) => self.holds.insert(id, h),
                None => self.holds.remove(&id),
            };
        }
        for (id, prior) in undo.reversed {
            match prior {
                Some(v) => self.reversed.insert(id, v),
                None => self.reversed.remove(&id),
            };
        }
        self.transfers.truncate(undo.transfers);
        self.entries.truncate(undo.entries);
    }

    /// An account's available balance as it was locked, before the run.
    pub(super) fn initial_available(&self, id: Uuid) -> Option<Decimal> {
        self.initial.get(&id).copied()
    }

    /// A locked account as it currently stands in this run.
    pub(super) fn account(&self, id: Option<Uuid>) -> Result<account::Model> {
        match (id.and_then(|id| self.accounts.get(&id)), id) {
            (Some(t), _) => Ok(t.row.clone()),
            (None, Some(id)) => Err(repo::not_found(&id.to_string())),
            (None, None) => Err(repo::not_found("(no world account for this currency)")),
        }
    }

    /// A locked account for changing; its prior state goes to the undo log.
    pub(super) fn account_mut(&mut self, id: Uuid) -> Result<&mut account::Model> {
        let tracked = self
            .accounts
            .get_mut(&id)
            .ok_or_else(|| repo::not_found(&id.to_string()))?;
        self.undo.accounts.entry(id).or_insert_with(|| tracked.clone());
        tracked.changed = true;
        Ok(&mut tracked.row)
    }

    pub(super) fn hold(&self, id: Uuid) -> Result<hold::Model> {
        self.holds
            .get(&id)
            .map(|h| h.row.clone())
            .ok_or_else(|| holds::not_found(id))
    }

    pub(super) fn put_hold(&mut self, row: hold::Model) {
        let prior = self.holds.get(&row.id).cloned();
        self.undo.holds.entry(row.id).or_insert(prior.clone());
        let read_version = prior.and_then(|p| p.read_version);
        self.holds.insert(
            row.id,
            TrackedHold {
                row,
                read_version,
                changed: true,
            },
        );
    }

    pub(super) fn add_reversed(&mut self, original: Uuid, amount: Decimal) {
        let prior = self.reversed.get(&original).copied();
        self.undo.reversed.entry(original).or_insert(prior);
        *self.reversed.entry(original).or_default() += amount;
    }

    /// The scale of a currency the run touches. The plan loads the scale of
    /// every such currency, so a missing one is an integrity error, never 0.
    pub(super) fn scale(&self, currency: &str) -> Result<u32> {
        self.scales
            .get(currency)
            .copied()
            .ok_or_else(|| LedgerError::Internal(format!("integrity: no scale loaded for currency {currency:?}")))
    }

    fn record(&mut self, req: &Request, key: String, outcome: &Outcome) {
        if let Some((seen, record)) = keys::record(req, &key, outcome, self.now) {
            self.records.push(record);
            self.seen.insert(key, (req.fingerprint, seen));
        }
    }
}
