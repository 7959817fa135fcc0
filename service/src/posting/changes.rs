//! What each successful request of a run changed, noted as the book
//! applies it (only when something wants events): the raw material of
//! `events`.

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::model::event::EventKind;
use crate::model::request::{Action, Effect, Request};

/// One change a successful request made.
pub(super) enum Change {
    Posted(Uuid),
    Hold(EventKind, Uuid),
    Archived(Uuid),
    /// A client account's available balance right after the request.
    Available(Uuid, String, Decimal),
}

/// The changes of one successful request.
pub(super) fn note(changes: &mut Vec<Change>, req: &Request, effect: &Effect) {
    changes.extend(effect.transfers.iter().map(|t| Change::Posted(t.id)));
    let hold = |kind| effect.hold.as_ref().map(|h| Change::Hold(kind, h.id));
    changes.extend(match req.action {
        Action::Hold { .. } => hold(EventKind::HoldCreated),
        Action::Capture { .. } => hold(EventKind::HoldCaptured),
        Action::Void { .. } => hold(EventKind::HoldVoided),
        Action::Expire { .. } => hold(EventKind::HoldExpired),
        Action::Archive { .. } => effect.account.as_ref().map(|a| Change::Archived(a.id)),
        _ => None,
    });
    changes.extend(
        effect
            .accounts
            .iter()
            .filter(|a| !a.is_system)
            .map(|a| Change::Available(a.id, a.currency.clone(), a.balance.0 - a.held_balance.0)),
    );
}
