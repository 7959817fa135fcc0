//! Ledger time: UTC truncated to microseconds, the precision PostgreSQL keeps,
//! so a timestamp hashes the same before and after a round trip.

use chrono::{DateTime, Utc};

pub fn now_micros() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

pub fn truncate_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}
