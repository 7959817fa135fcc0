//! Keyset pages: a page is found by an index seek from its cursor, so a deep
//! page costs what the first costs.

use crate::model::error::{ErrorCode, LedgerError, Result};

/// The most items one page may ask for.
pub const MAX_PAGE: u64 = 1000;

pub struct Page<T> {
    pub items: Vec<T>,
    pub has_previous: bool,
    pub has_next: bool,
}

impl<T> Page<T> {
    /// From rows fetched with `limit + 1` in forward order.
    pub fn forward(mut rows: Vec<T>, limit: u64, has_previous: bool) -> Self {
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Page {
            items: rows,
            has_previous,
            has_next,
        }
    }

    /// From rows fetched with `limit + 1` in reverse order; returned in forward order.
    pub fn backward(mut rows: Vec<T>, limit: u64, has_next: bool) -> Self {
        let has_previous = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        rows.reverse();
        Page {
            items: rows,
            has_previous,
            has_next,
        }
    }
}

/// Which slice of a sequence-ordered list to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The `first` items after `after` (from the start when `None`).
    Forward { after: Option<i64>, first: u64 },
    /// The `last` items before `before` (from the end when `None`).
    Backward { before: Option<i64>, last: u64 },
}

/// Checks a requested page size: 0..=MAX_PAGE.
pub fn size(requested: Option<i64>, default: u64) -> Result<u64> {
    match requested {
        None => Ok(default),
        Some(n) if (0..=MAX_PAGE as i64).contains(&n) => Ok(n as u64),
        Some(n) => Err(LedgerError::client(
            ErrorCode::InvalidInput,
            format!("page size must be between 0 and {MAX_PAGE}, got {n}"),
        )),
    }
}
