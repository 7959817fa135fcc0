//! Each transfer as the walk meets it: exactly two entries summing to zero
//! on its debit and credit accounts, at the positions the transfer records,
//! its hash recomputed, and sealed (with
//! the hash it was sealed with) or queued; its entries then go to their
//! accounts' chains.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::chains::{Chains, Entry};
use crate::model::hash::transfer_hash;
use crate::model::report::{Problem, Verification};
use entity::transfer;

/// What the walk found; `sealed` counts transfers that have a journal leaf,
/// `entries` the entries that belong to some transfer.
pub(super) struct Walked {
    pub verification: Verification,
    pub sealed: u64,
    pub entries: u64,
    /// The chains it fed, if it was given them.
    pub chains: Option<Chains>,
}

/// One transfer and everything joined to it.
pub(super) struct Current {
    pub(super) transfer: transfer::Model,
    /// (leaf index, hash sealed into the journal).
    pub(super) leaf: Option<(i64, Vec<u8>)>,
    pub(super) queued: bool,
    pub(super) legs: Vec<Entry>,
}

pub(super) fn finish(mut t: Current, out: &mut Walked) {
    let v = &mut out.verification;
    v.transfers_checked += 1;
    out.entries += t.legs.len() as u64;
    check_legs(&t, v);
    // The hash covers the debit entry first.
    t.legs.sort_by_key(|l| l.amount);
    let hashes: Vec<&[u8]> = t.legs.iter().map(|l| l.hash.as_slice()).collect();
    let stored = t.transfer.hash.as_deref();
    let report = |v: &mut Verification, message: String| {
        v.report(Problem {
            account_id: None,
            transfer_id: Some(t.transfer.id),
            sequence: None,
            message,
        })
    };
    if stored != Some(&transfer_hash(&t.transfer, &hashes)[..]) {
        report(
            v,
            "transfer hash does not match its content and entries (the transfer was altered)".to_owned(),
        );
    }
    match &t.leaf {
        Some((index, sealed)) => {
            out.sealed += 1;
            if stored != Some(&sealed[..]) {
                report(v, format!("transfer sealed at leaf {index} was changed after sealing"));
            }
        }
        None if !t.queued => report(
            v,
            "transfer is neither sealed nor queued for sealing (inserted outside the ledger)".to_owned(),
        ),
        None => {}
    }
    if let Some(chains) = out.chains.as_mut() {
        for leg in t.legs {
            chains.offer(leg, &mut out.verification);
        }
    }
}

fn check_legs(t: &Current, v: &mut Verification) {
    let (legs, transfer) = (&t.legs, &t.transfer);
    let sum: Decimal = legs.iter().map(|l| l.amount).sum();
    let leg = |account: Uuid, amount: Decimal| legs.iter().any(|l| l.account_id == account && l.amount == amount);
    let at = |account: Uuid, sequence: Option<i64>| {
        legs.iter()
            .any(|l| l.account_id == account && Some(l.sequence) == sequence)
    };
    let message = if legs.len() != 2 {
        format!("transfer has {} entries, not 2", legs.len())
    } else if !sum.is_zero() {
        format!("entries of the transfer sum to {sum}, not zero")
    } else if !leg(transfer.debit_account_id, -transfer.amount.0) || !leg(transfer.credit_account_id, transfer.amount.0)
    {
        "entries do not match the transfer's accounts and amount".to_owned()
    } else if !at(transfer.debit_account_id, transfer.debit_sequence)
        || !at(transfer.credit_account_id, transfer.credit_sequence)
    {
        // Readers find a transfer's entries by these positions.
        "the transfer's entry positions do not point at its entries".to_owned()
    } else {
        return;
    };
    let first = legs.first();
    v.report(Problem {
        account_id: first.map(|l| l.account_id),
        transfer_id: Some(transfer.id),
        sequence: first.map(|l| l.sequence),
        message,
    });
}
