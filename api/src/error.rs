//! Service errors as GraphQL errors: `extensions.code` from the one error
//! table; internal failures logged in full here and masked for the client.

use async_graphql::{ErrorExtensions, ServerError};
use service::{ErrorCode, LedgerError};

pub fn gql(err: LedgerError) -> async_graphql::Error {
    let (code, message) = client_view(&err);
    let index = match &err {
        LedgerError::Item { index, .. } => Some(*index as i64),
        _ => None,
    };
    async_graphql::Error::new(message).extend_with(|_, ext| {
        ext.set("code", code.as_str());
        if let Some(index) = index {
            ext.set("index", index);
        }
    })
}

/// What a client may see of an error: its code and a safe message.
/// Internal failures are logged here, in full, and masked.
pub fn client_view(err: &LedgerError) -> (ErrorCode, String) {
    match err.code() {
        ErrorCode::Internal => {
            tracing::error!(error = %err, "internal error");
            (ErrorCode::Internal, "internal error".to_owned())
        }
        ErrorCode::Unavailable if !matches!(err, LedgerError::Client { .. }) => {
            tracing::warn!(error = %err, "database unavailable");
            (ErrorCode::Unavailable, UNAVAILABLE.to_owned())
        }
        code => (code, err.to_string()),
    }
}

/// What a client reads when the database failed it in a way a retry fixes.
pub const UNAVAILABLE: &str =
    "the database is unavailable or busy; the outcome is unknown: retry with the same idempotency key";

pub type GqlResult<T> = async_graphql::Result<T>;

/// A stored row that breaks what the ledger guarantees (a transfer whose
/// account is gone, a kind or status no version wrote): the server's
/// integrity is at fault, not the request, so it is `INTERNAL`, logged and
/// masked like any other internal failure.
pub fn integrity(what: String) -> async_graphql::Error {
    gql(LedgerError::Internal(format!("integrity: {what}")))
}

pub trait IntoGql<T> {
    fn gql(self) -> GqlResult<T>;
}

impl<T> IntoGql<T> for Result<T, LedgerError> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(gql)
    }
}

/// A refusal made before the executor ran, as a response error: its code
/// and message, and no `locations` (there is no place in the document to
/// point at; GraphQL positions start at line 1, so 0:0 would be wrong).
pub fn pre_execution(err: async_graphql::Error) -> ServerError {
    let mut e = ServerError::new(err.message, None);
    e.extensions = err.extensions;
    e
}

/// A refusal raised before the executor, with its code and no location.
pub fn coded(code: ErrorCode, message: String) -> ServerError {
    let mut err = ServerError::new(message, None);
    err.extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    err
}

/// The code an error already carries, if any.
pub fn code_of(err: &ServerError) -> Option<ErrorCode> {
    let code = err.extensions.as_ref()?.get("code")?;
    match code {
        async_graphql::Value::String(s) => ErrorCode::parse(s),
        _ => None,
    }
}

/// The longest error message a client is sent, in bytes.
const MAX_MESSAGE: usize = 1000;

/// Errors raised by GraphQL itself carry no code (syntax, validation,
/// unknown fields, wrong argument types): they are malformed input. Every
/// limit is coded where it is enforced (`limits`), never recognised here.
pub fn tag_uncoded(errors: &mut [ServerError]) {
    for err in errors {
        // A syntax error quotes the offending line, which a one-line
        // document makes as long as the request itself.
        if err.message.len() > MAX_MESSAGE {
            let cut = crate::ws::truncate(&err.message, MAX_MESSAGE).to_owned();
            err.message = format!("{cut}…");
        }
        let ext = err.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", ErrorCode::InvalidInput.as_str());
        }
    }
}
