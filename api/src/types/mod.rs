//! GraphQL output types: thin wrappers over the service's rows.

mod account;
mod entry;
mod hold;
mod payloads;
mod seal;
mod totals;
mod transfer;
mod verification;

pub use account::{Account, entry_sequence};
pub use entry::Entry;
pub use hold::Hold;
pub use payloads::{AccountPayload, Currency, PostTransfersPayload, SplitTransferPayload};
pub use seal::{ConsistencyProof, InclusionProof, LedgerDigest};
pub use totals::{AccountFilterInput, BalanceTotal};
pub use transfer::{ExchangeDetails, Transfer, TransferKindGql};
pub use verification::LedgerVerification;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use service::ErrorCode;

use crate::error::GqlResult;

/// Opaque cursors: base64 of "<kind>:<position>", so clients cannot build
/// them by hand and a cursor of one list is refused by another.
pub(crate) fn encode_cursor(kind: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{position}"))
}

/// A Relay connection over a service page, each node's cursor encoding its position.
pub(crate) fn connection<T, N: async_graphql::OutputType>(
    page: service::model::page::Page<T>,
    kind: &str,
    position: impl Fn(&T) -> String,
    node: impl Fn(T) -> N,
) -> async_graphql::connection::Connection<String, N> {
    let mut conn = async_graphql::connection::Connection::new(page.has_previous, page.has_next);
    conn.edges.extend(
        page.items
            .into_iter()
            .map(|item| async_graphql::connection::Edge::new(encode_cursor(kind, &position(&item)), node(item))),
    );
    conn
}

pub(crate) fn decode_cursor(kind: &str, cursor: &str) -> GqlResult<String> {
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    match text
        .as_deref()
        .and_then(|t| t.strip_prefix(kind))
        .and_then(|t| t.strip_prefix(':'))
    {
        Some(position) => Ok(position.to_owned()),
        None => Err(crate::error::gql(service::LedgerError::client(
            ErrorCode::InvalidInput,
            format!("\"{cursor}\" is not a valid cursor here"),
        ))),
    }
}
