use async_graphql::SimpleObject;
use service::verify::{Problem, Verification};

use crate::scalars::Id;

/// The result of recomputing every chain, running balance and sum.
#[derive(SimpleObject)]
pub struct LedgerVerification {
    pub ok: bool,
    pub accounts_checked: i64,
    pub entries_checked: i64,
    pub transfers_checked: i64,
    pub journal_leaves_checked: i64,
    pub blocks_checked: i64,
    /// The first broken entry of each account, then transfer and currency problems.
    pub problems: Vec<VerificationProblem>,
}

#[derive(SimpleObject)]
pub struct VerificationProblem {
    pub account_id: Option<Id>,
    pub transfer_id: Option<Id>,
    pub sequence: Option<i64>,
    pub message: String,
}

impl From<Verification> for LedgerVerification {
    fn from(v: Verification) -> Self {
        LedgerVerification {
            ok: v.ok(),
            accounts_checked: v.accounts_checked as i64,
            entries_checked: v.entries_checked as i64,
            transfers_checked: v.transfers_checked as i64,
            journal_leaves_checked: v.leaves_checked as i64,
            blocks_checked: v.blocks_checked as i64,
            problems: v.problems.into_iter().map(VerificationProblem::from).collect(),
        }
    }
}

impl From<Problem> for VerificationProblem {
    fn from(p: Problem) -> Self {
        VerificationProblem {
            account_id: p.account_id.map(Id),
            transfer_id: p.transfer_id.map(Id),
            sequence: p.sequence,
            message: p.message,
        }
    }
}
