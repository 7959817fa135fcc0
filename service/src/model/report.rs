//! What an audit found: the problems and the counts of what it checked.
//! Shared by the journal's audit (seal) and the full verification (verify),
//! below both, so neither needs the other for it.

use uuid::Uuid;

/// Reports beyond this many are dropped (a tampered ledger cannot make the
/// report unbounded).
pub(crate) const MAX_PROBLEMS: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub account_id: Option<Uuid>,
    pub transfer_id: Option<Uuid>,
    pub sequence: Option<i64>,
    pub message: String,
}

#[derive(Clone, Debug, Default)]
pub struct Verification {
    pub accounts_checked: u64,
    pub entries_checked: u64,
    pub transfers_checked: u64,
    pub leaves_checked: u64,
    pub blocks_checked: u64,
    pub problems: Vec<Problem>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub(crate) fn report(&mut self, problem: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        }
    }

    /// Adds another walk's counts and problems to this one.
    pub(crate) fn absorb(&mut self, other: Verification) {
        self.accounts_checked += other.accounts_checked;
        self.entries_checked += other.entries_checked;
        self.transfers_checked += other.transfers_checked;
        self.leaves_checked += other.leaves_checked;
        self.blocks_checked += other.blocks_checked;
        for p in other.problems {
            self.report(p);
        }
    }
}

pub(crate) fn problem(account_id: Option<Uuid>, sequence: Option<i64>, message: String) -> Problem {
    Problem {
        account_id,
        transfer_id: None,
        sequence,
        message,
    }
}
