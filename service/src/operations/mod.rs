//! Layer 3, the operations: validate a request, shape it for the posting
//! engine, run it. One module per aggregate. Uses: `model`, `store`,
//! `posting`.

pub mod account;
pub mod hold;
pub mod transfer;
pub mod webhook;
