//! The sealed journal: every committed transfer, in seal order, as a leaf of
//! one RFC 9162 Merkle tree; blocks record the tree's root after each seal,
//! chained by hash.
//!
//! Invariants: a transfer is queued (`unsealed`) in the transaction that
//! posts it and leaves the queue in the transaction that journals it, so it
//! is sealed exactly once, whenever its commit lands; block heights are
//! unique, so even two sealers racing cannot seal twice; the sealer never
//! locks a row writers touch. One instance at a time seals: the holder of
//! the `sealer` lease, a row fenced by an epoch (`leader`); when it dies or
//! is cut off, its lease runs out and another instance takes over, and the
//! old holder can no longer write a block even if it comes back.
//!
//! Owns: sealing, digests, proofs and the journal's audit. Uses: rules,
//! storage and `report` (the problem list it shares with verify); never verify.

pub mod audit;
pub mod block;
pub mod digest;
mod leader;
pub mod proofs;

pub use block::seal_once;
pub use leader::{LEASE_TTL, Sealer, spawn};
