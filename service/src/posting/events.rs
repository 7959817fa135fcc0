//! What a run reports: each successful request's changes, noted as it is
//! applied, become outbox events at write-back — transfers posted, holds
//! moved, accounts archived — and balance alerts, decided here.
//!
//! Alerts are edge-triggered and exact under concurrency and write
//! combining: the book holds every touched account locked, and each
//! request's effect carries the account as it stands right after it, so
//! the available balances a run walks through are the committed sequence
//! of states, request by request. An alert fires when one request moves an
//! account's available balance into the alert's condition (`TRIGGERED`) or
//! out of it (`RESOLVED`), never again while it stays there.

use std::collections::HashMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::book::Book;
use super::changes::Change;
use crate::model::event::{Crossing, Event, EventKind, in_condition};
use crate::store::hooks::Hooks;
use crate::store::outbox::Outbox;

impl Book {
    /// The run's outbox rows, from the changes it noted (none when no
    /// endpoint or alert exists: then the book notes no changes).
    pub(super) fn outbox(&mut self, hooks: &Hooks) -> Outbox {
        match self.changes.take() {
            Some(changes) => Outbox::of(hooks, self.events(hooks, &changes)),
            None => Outbox::default(),
        }
    }

    /// The run's events, in the order of its changes.
    fn events(&self, hooks: &Hooks, changes: &[Change]) -> Vec<Event> {
        let client = |id: Uuid| self.accounts.get(&id).is_some_and(|t| !t.row.is_system).then_some(id);
        let mut available: HashMap<Uuid, Decimal> = HashMap::new();
        let mut events = Vec::new();
        for change in changes {
            match change {
                Change::Posted(id) if hooks.wants_kind(EventKind::TransferPosted) => {
                    let Some(t) = self.transfers.iter().find(|t| t.id == *id) else {
                        continue;
                    };
                    let entries: Vec<_> = self.entries.iter().filter(|e| e.transfer_id == *id).collect();
                    let sides = (client(t.debit_account_id), client(t.credit_account_id));
                    events.push(Event::transfer_posted(t, &entries, sides));
                }
                Change::Posted(_) => {}
                Change::Hold(kind, id) if hooks.wants_kind(*kind) => {
                    if let Some(h) = self.holds.get(id) {
                        let sides = (client(h.row.debit_account_id), client(h.row.credit_account_id));
                        events.push(Event::hold(*kind, &h.row, sides));
                    }
                }
                Change::Hold(..) => {}
                Change::Archived(id) if hooks.wants_kind(EventKind::AccountArchived) => {
                    if let Some(a) = self.accounts.get(id) {
                        events.push(Event::account(EventKind::AccountArchived, &a.row, self.now));
                    }
                }
                Change::Archived(_) => {}
                Change::Available(id, currency, now) => {
                    let before = available
                        .insert(*id, *now)
                        .or_else(|| self.initial_available(*id))
                        .unwrap_or(*now);
                    for alert in hooks.alerts_on(*id, currency) {
                        let (was, is) = (in_condition(alert, before), in_condition(alert, *now));
                        if was != is {
                            let crossing = Crossing {
                                account_id: *id,
                                currency: currency.clone(),
                                available: *now,
                                triggered: is,
                            };
                            events.push(Event::balance_alert(alert, &crossing, self.now));
                        }
                    }
                }
            }
        }
        events
    }
}
