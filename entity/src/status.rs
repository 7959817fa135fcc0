//! The states and kinds rows carry, as enums: stored as the same upper-case
//! text as always (no data changes), so a value no version writes cannot be
//! built in Rust, and one found in the database fails to load (an integrity
//! error) instead of reaching a `match` as a plausible guess.

use sea_orm::entity::prelude::*;

/// An account's state: open for movements, or closed for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum AccountStatus {
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// Readable; no money moves in or out.
    #[sea_orm(string_value = "ARCHIVED")]
    Archived,
}

/// A hold leaves `Pending` exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum HoldStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "CAPTURED")]
    Captured,
    #[sea_orm(string_value = "VOIDED")]
    Voided,
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
}

/// What kind of movement a transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum TransferKind {
    #[sea_orm(string_value = "DEPOSIT")]
    Deposit,
    #[sea_orm(string_value = "WITHDRAWAL")]
    Withdrawal,
    #[sea_orm(string_value = "TRANSFER")]
    Transfer,
    #[sea_orm(string_value = "REVERSAL")]
    Reversal,
    #[sea_orm(string_value = "CAPTURE")]
    Capture,
    #[sea_orm(string_value = "SWEEP")]
    Sweep,
    #[sea_orm(string_value = "EXCHANGE")]
    Exchange,
}

impl TransferKind {
    pub const ALL: [TransferKind; 7] = [
        Self::Deposit,
        Self::Withdrawal,
        Self::Transfer,
        Self::Reversal,
        Self::Capture,
        Self::Sweep,
        Self::Exchange,
    ];

    /// The stored text (also what hashes cover).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deposit => "DEPOSIT",
            Self::Withdrawal => "WITHDRAWAL",
            Self::Transfer => "TRANSFER",
            Self::Reversal => "REVERSAL",
            Self::Capture => "CAPTURE",
            Self::Sweep => "SWEEP",
            Self::Exchange => "EXCHANGE",
        }
    }
}

impl AccountStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Archived => "ARCHIVED",
        }
    }
}

impl HoldStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Captured => "CAPTURED",
            Self::Voided => "VOIDED",
            Self::Expired => "EXPIRED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ActiveEnum;

    #[test]
    fn each_value_is_stored_as_its_upper_case_name() {
        for k in TransferKind::ALL {
            assert_eq!(k.to_value(), k.as_str());
            assert_eq!(TransferKind::try_from_value(&k.as_str().to_owned()).ok(), Some(k));
        }
        for s in [AccountStatus::Active, AccountStatus::Archived] {
            assert_eq!(s.to_value(), s.as_str());
        }
        for s in [
            HoldStatus::Pending,
            HoldStatus::Captured,
            HoldStatus::Voided,
            HoldStatus::Expired,
        ] {
            assert_eq!(s.to_value(), s.as_str());
        }
        assert!(HoldStatus::try_from_value(&"pending".to_owned()).is_err());
    }
}

/// A webhook delivery is pending until delivered, or dead after its last attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum DeliveryStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    #[sea_orm(string_value = "DEAD")]
    Dead,
}

/// Which side of its threshold a balance alert watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum AlertCondition {
    /// The available balance is below the threshold.
    #[sea_orm(string_value = "BELOW")]
    Below,
    /// The available balance is above the threshold.
    #[sea_orm(string_value = "ABOVE")]
    Above,
}

impl DeliveryStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::Dead => "DEAD",
        }
    }
}

impl AlertCondition {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Below => "BELOW",
            Self::Above => "ABOVE",
        }
    }
}
