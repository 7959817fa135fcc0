//! The one error table of the ledger: every client-visible failure has exactly
//! one stable SCREAMING_SNAKE code. Infrastructure failures are `INTERNAL`; their
//! detail is logged server-side and never shown to a client.

use sea_orm::DbErr;

/// A stable, client-visible error code (`extensions.code` in GraphQL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidAmount,
    InvalidInput,
    AccountNotFound,
    TransferNotFound,
    DuplicateAccountCode,
    UnknownCurrency,
    CurrencyMismatch,
    SameAccount,
    InsufficientFunds,
    IdempotencyKeyReused,
    AccountArchived,
    AccountNotEmpty,
    VersionConflict,
    HoldNotFound,
    HoldNotPending,
    HoldExpired,
    ReversalNotAllowed,
    ReversalExceedsOriginal,
    DuplicateCurrency,
    Internal,
}

/// Every code with what a client should understand by it (README's table is this).
pub const ERROR_CODES: &[(ErrorCode, &str)] = &[
    (
        ErrorCode::InvalidAmount,
        "amount is not a positive decimal string within the currency's scale and the maximum magnitude",
    ),
    (
        ErrorCode::InvalidInput,
        "malformed input: bad UUID, key length, code, metadata, pagination arguments, or a GraphQL validation error",
    ),
    (ErrorCode::AccountNotFound, "no account has this id or code"),
    (
        ErrorCode::TransferNotFound,
        "no transfer has this id or idempotency key",
    ),
    (
        ErrorCode::DuplicateAccountCode,
        "an account with this code already exists",
    ),
    (
        ErrorCode::UnknownCurrency,
        "the currency code is not known to the ledger",
    ),
    (
        ErrorCode::CurrencyMismatch,
        "the two accounts hold different currencies",
    ),
    (ErrorCode::SameAccount, "debit and credit account are the same"),
    (
        ErrorCode::InsufficientFunds,
        "the debit would take the account below its minimum balance",
    ),
    (
        ErrorCode::IdempotencyKeyReused,
        "this idempotency key was used for a different request",
    ),
    (
        ErrorCode::Internal,
        "an unexpected server-side failure; nothing is revealed, details are logged",
    ),
];

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidAmount => "INVALID_AMOUNT",
            Self::InvalidInput => "INVALID_INPUT",
            Self::AccountNotFound => "ACCOUNT_NOT_FOUND",
            Self::TransferNotFound => "TRANSFER_NOT_FOUND",
            Self::DuplicateAccountCode => "DUPLICATE_ACCOUNT_CODE",
            Self::UnknownCurrency => "UNKNOWN_CURRENCY",
            Self::CurrencyMismatch => "CURRENCY_MISMATCH",
            Self::SameAccount => "SAME_ACCOUNT",
            Self::InsufficientFunds => "INSUFFICIENT_FUNDS",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::AccountArchived => "ACCOUNT_ARCHIVED",
            Self::AccountNotEmpty => "ACCOUNT_NOT_EMPTY",
            Self::VersionConflict => "VERSION_CONFLICT",
            Self::HoldNotFound => "HOLD_NOT_FOUND",
            Self::HoldNotPending => "HOLD_NOT_PENDING",
            Self::HoldExpired => "HOLD_EXPIRED",
            Self::ReversalNotAllowed => "REVERSAL_NOT_ALLOWED",
            Self::ReversalExceedsOriginal => "REVERSAL_EXCEEDS_ORIGINAL",
            Self::DuplicateCurrency => "DUPLICATE_CURRENCY",
            Self::Internal => "INTERNAL",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        ERROR_CODES.iter().map(|(c, _)| *c).find(|c| c.as_str() == code)
    }

    /// Business refusals depend on ledger state, so they are recorded under the
    /// idempotency key and replayed: a retry can never flip the outcome.
    /// Malformed input is not recorded.
    pub const fn is_recorded(self) -> bool {
        matches!(
            self,
            Self::AccountNotFound
                | Self::TransferNotFound
                | Self::CurrencyMismatch
                | Self::InsufficientFunds
                | Self::AccountArchived
                | Self::AccountNotEmpty
                | Self::HoldNotFound
                | Self::HoldNotPending
                | Self::HoldExpired
                | Self::ReversalNotAllowed
                | Self::ReversalExceedsOriginal
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A refusal the client caused and can read.
    #[error("{message}")]
    Client { code: ErrorCode, message: String },
    /// Item `index` of an all-or-nothing batch was refused; nothing was written.
    #[error("item {index}: {source}")]
    Item { index: usize, source: Box<LedgerError> },
    /// A compare-and-swap lost to a concurrent writer; retried, never shown.
    #[error("concurrent update detected")]
    Conflict,
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

impl LedgerError {
    pub fn client(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Client {
            code,
            message: message.into(),
        }
    }

    /// A copy for replaying the same outcome twice (errors are not `Clone`:
    /// infrastructure failures keep only their text).
    pub fn duplicate(&self) -> Self {
        match self {
            Self::Client { code, message } => Self::client(*code, message.clone()),
            Self::Item { index, source } => Self::Item {
                index: *index,
                source: Box::new(source.duplicate()),
            },
            Self::Conflict => Self::Conflict,
            other => Self::Internal(other.to_string()),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Client { code, .. } => *code,
            Self::Item { source, .. } => source.code(),
            _ => ErrorCode::Internal,
        }
    }

    /// Deadlocks, serialization failures, busy SQLite files, a unique key
    /// taken by a concurrent twin and CAS misses: the whole operation is run again.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Conflict => true,
            Self::Database(err) => crate::db::is_transient(err),
            _ => false,
        }
    }
}
