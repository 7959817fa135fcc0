//! The posting engine: the only code that moves money or reserves it.
//!
//! Owns: every rule about balances, the runs, write combining. Uses: rules
//! (`request` is its input) and storage; operations (account, hold,
//! transfer) call in with requests, never the other way round.
//!
//! Every money operation is a list of requests run through [`run`] in one
//! database transaction. On PostgreSQL a run is first tried optimistically,
//! as one statement without locks ([`optimistic`]); the locked path below
//! decides every run that attempt cannot:
//! 1. Replay: keys already recorded return their recorded outcome (or
//!    IDEMPOTENCY_KEY_REUSED for a different request under the key). The
//!    first attempt defers this lookup (see [`run`]).
//! 2. Lock: every hold involved, in one `FOR UPDATE` ascending by id, then
//!    every touched account, likewise. One global order — holds before
//!    accounts, each by id — so no two runs can deadlock.
//! 3. Apply in memory, in order ([`book::Book`]; the rules in `ops`, `holds`
//!    and `archive`): a refused request leaves the book exactly as it was.
//! 4. Write back: a compare-and-swap of every changed account and hold, then
//!    the inserts of holds, transfers, seal-queue slots, entries and
//!    idempotency records. On PostgreSQL the accounts and the inserts other
//!    than holds are one statement ([`pg_write`]); SQLite runs one multi-row
//!    statement per table (`write`).
//! 5. Commit.
//!
//! Deadlocks, serialization failures, busy SQLite files, a concurrent twin
//! taking the same key, and CAS misses rerun the whole run (bounded).

mod allocate;
mod archive;
mod book;
mod changes;
mod combine;
mod events;
mod exchange;
mod holds;
mod idempotency;
mod movements;
mod optimistic;
mod pg_write;
mod plan;
mod run;
mod write;

pub(crate) use combine::run_one;
pub(crate) use run::run;
