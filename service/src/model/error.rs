//! The one error table of the ledger: every client-visible failure has exactly
//! one stable SCREAMING_SNAKE code. Infrastructure failures are `INTERNAL`; their
//! detail is logged server-side and never shown to a client.
//!
//! The table is declared once, in `error_codes!` below: each line gives the
//! variant, its code, whether a refusal with it is recorded under the
//! idempotency key (and so replayed on retry), and what a client should
//! understand by it. The string form, the parse, the description and the
//! recorded flag are all generated from that line, and a test holds the
//! README's table to the same set and text.

use sea_orm::{DbErr, RuntimeErr, sqlx};

/// Declares [`ErrorCode`] and everything derived from its table.
macro_rules! error_codes {
    ($($variant:ident = $code:literal, recorded: $recorded:literal, $description:literal;)+) => {
        /// A stable, client-visible error code (`extensions.code` in GraphQL).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $description] $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the table's order (the README's table is this).
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)+
                }
            }

            /// What a client should understand by the code.
            pub const fn description(self) -> &'static str {
                match self {
                    $(Self::$variant => $description,)+
                }
            }

            /// Business refusals depend on ledger state, so they are recorded
            /// under the idempotency key and replayed: a retry can never flip
            /// the outcome. Malformed input is not recorded.
            pub const fn is_recorded(self) -> bool {
                match self {
                    $(Self::$variant => $recorded,)+
                }
            }

            /// The code whose string form is `code`, if any.
            pub fn parse(code: &str) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    InvalidAmount = "INVALID_AMOUNT", recorded: false,
        "an amount is not a decimal string, is not positive, has more decimals than the currency's scale, or has more than 20 integer digits";
    InvalidInput = "INVALID_INPUT", recorded: false,
        "malformed input: a bad UUID or timestamp, an idempotency key outside 1–255 characters, a bad account code, oversized description/metadata, text (key, code, description, metadata) containing U+0000, which PostgreSQL cannot store and so no backend accepts, bad page size or cursor, or any GraphQL syntax/validation error";
    AccountNotFound = "ACCOUNT_NOT_FOUND", recorded: true,
        "a movement names an account that does not exist";
    TransferNotFound = "TRANSFER_NOT_FOUND", recorded: true,
        "`reverseTransfer` of a transfer that does not exist (queries return `null` instead)";
    DuplicateAccountCode = "DUPLICATE_ACCOUNT_CODE", recorded: false,
        "`createAccount` with a code already in use";
    UnknownCurrency = "UNKNOWN_CURRENCY", recorded: false,
        "a currency code the ledger does not know (codes are upper case)";
    CurrencyMismatch = "CURRENCY_MISMATCH", recorded: true,
        "a transfer between accounts of different currencies";
    SameAccount = "SAME_ACCOUNT", recorded: false,
        "a transfer from an account to itself";
    InsufficientFunds = "INSUFFICIENT_FUNDS", recorded: true,
        "the debit would take the account below its `minBalance`";
    IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED", recorded: false,
        "the key was used before for a different request";
    AccountArchived = "ACCOUNT_ARCHIVED", recorded: true,
        "the account is archived: readable, but no money moves in or out";
    AccountNotEmpty = "ACCOUNT_NOT_EMPTY", recorded: true,
        "archiving an account with a balance or pending holds without `sweepToAccountId`";
    VersionConflict = "VERSION_CONFLICT", recorded: false,
        "`updateAccount` with an `expectedVersion` that is not the current version";
    HoldNotFound = "HOLD_NOT_FOUND", recorded: true,
        "no hold has this id";
    HoldNotPending = "HOLD_NOT_PENDING", recorded: true,
        "the hold was already captured, voided or expired";
    HoldExpired = "HOLD_EXPIRED", recorded: true,
        "the hold's `expiresAt` has passed";
    ReversalNotAllowed = "REVERSAL_NOT_ALLOWED", recorded: true,
        "reversing a reversal";
    ReversalExceedsOriginal = "REVERSAL_EXCEEDS_ORIGINAL", recorded: true,
        "the reversals would exceed the original transfer";
    DuplicateCurrency = "DUPLICATE_CURRENCY", recorded: false,
        "`createCurrency` with a code that exists";
    Unauthenticated = "UNAUTHENTICATED", recorded: false,
        "no valid credential: the `Authorization: Bearer` header is missing or malformed, the API key is unknown or revoked, or the token does not verify (HTTP 401)";
    Forbidden = "FORBIDDEN", recorded: false,
        "the credential may not do this: the API key's scope is too narrow, or the token's subject does not own the account (HTTP 403 when the whole request is refused); nothing is written";
    RateLimited = "RATE_LIMITED", recorded: false,
        "the caller used up its request budget; retry after `extensions.retryAfter` seconds (HTTP 429 with `Retry-After`)";
    QueryTooComplex = "QUERY_TOO_COMPLEX", recorded: false,
        "the request asks for too much: nesting depth, complexity, aliases, directives on one field, or the number of operations in a batch beyond the server's limits (HTTP 400)";
    PayloadTooLarge = "PAYLOAD_TOO_LARGE", recorded: false,
        "the request body is larger than the server accepts (HTTP 413)";
    MethodNotAllowed = "METHOD_NOT_ALLOWED", recorded: false,
        "a mutation sent with GET, which may only read (HTTP 405)";
    WebhookNotFound = "WEBHOOK_NOT_FOUND", recorded: false,
        "no webhook endpoint (or delivery) has this id";
    AlertNotFound = "ALERT_NOT_FOUND", recorded: false,
        "no balance alert has this id";
    RateRequired = "RATE_REQUIRED", recorded: false,
        "`exchange` given neither a `rate` nor a `quoteAmount`: a conversion needs one of the two";
    TooManySubscriptions = "TOO_MANY_SUBSCRIPTIONS", recorded: false,
        "a websocket already runs the most operations one socket may (`--ws-max-subscriptions`): complete one, or open another socket";
    Unavailable = "UNAVAILABLE", recorded: false,
        "try again: the database is unreachable or busy beyond the retry budget, or the request passed its deadline. The outcome is unknown, so retry with the same idempotency key (HTTP 503 with `Retry-After`)";
    Internal = "INTERNAL", recorded: false,
        "an unexpected server-side failure; the message is `internal error`, details are in the server log";
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
    /// The database failed in a way a later retry may not (kept as text
    /// when an error is duplicated).
    #[error("database unavailable: {0}")]
    Unavailable(String),
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
            other if other.code() == ErrorCode::Unavailable => Self::Unavailable(other.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Client { code, .. } => *code,
            Self::Item { source, .. } => source.code(),
            // Only reaches a client once the retries gave up: try again later.
            Self::Conflict | Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Database(err) if is_unavailable(err) => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        }
    }

    /// Deadlocks, serialization failures, busy SQLite files, a unique key
    /// taken by a concurrent twin and CAS misses: the whole operation is run again.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Conflict => true,
            Self::Database(err) => is_transient(err),
            _ => false,
        }
    }
}

// How database failures classify: the driver's codes, read here so that the
// error table needs nothing above it.

/// The driver's error code, when the database itself reported the error.
pub(crate) fn db_code(err: &DbErr) -> Option<String> {
    let runtime = match err {
        DbErr::Conn(r) | DbErr::Exec(r) | DbErr::Query(r) => r,
        _ => return None,
    };
    match runtime {
        RuntimeErr::SqlxError(e) => match e.as_ref() {
            sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// Failures that a rerun of the whole operation resolves.
pub(crate) fn is_transient(err: &DbErr) -> bool {
    matches!(
        db_code(err).as_deref(),
        // PostgreSQL: deadlock, serialization failure, unique violation (a
        // concurrent twin took the idempotency key: the rerun replays it).
        Some(
            "40P01" | "40001" | "23505"
        // SQLite: BUSY, LOCKED, BUSY_SNAPSHOT, unique and primary-key constraints.
        | "5" | "6" | "517" | "2067" | "1555"
        )
    )
}

/// Failures that mean "try again later" rather than "this request is
/// wrong": the database is unreachable, restarting, out of connections or
/// cancelled the statement (statement timeout), a lock or serialization
/// conflict outlasted the retry budget, SQLite stayed busy. The outcome of
/// the request is unknown to the client, which retries under the same key.
pub(crate) fn is_unavailable(err: &DbErr) -> bool {
    let runtime = match err {
        // No connection could be had or kept (refused, reset, the database
        // starting, shutting down or not accepting connections): whatever
        // the driver says, a later attempt may succeed.
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(r) | DbErr::Query(r) => r,
        _ => return false,
    };
    if let Some(code) = db_code(err) {
        // PostgreSQL: connection exceptions (08…), query cancelled (57014),
        // a lock wait past `lock_timeout` (55P03), admin/crash shutdown and "starting up / in
        // recovery" (57P01–57P03), too many connections (53300), a write
        // reaching a node that is read-only (25006: a standby being
        // promoted, or a demoted primary, during a failover), deadlock and
        // serialization failure (after the retries). SQLite: BUSY, LOCKED,
        // BUSY_SNAPSHOT.
        return code.starts_with("08")
            || matches!(
                code.as_str(),
                "57014"
                    | "55P03"
                    | "57P01"
                    | "57P02"
                    | "57P03"
                    | "53300"
                    | "25006"
                    | "40P01"
                    | "40001"
                    | "5"
                    | "6"
                    | "517"
            );
    }
    match runtime {
        RuntimeErr::SqlxError(e) => matches!(
            e.as_ref(),
            sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
        ),
        _ => false,
    }
}

/// True when the error is a unique-constraint violation on either backend.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(db_code(err).as_deref(), Some("23505" | "2067" | "1555"))
}
