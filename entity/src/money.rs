//! Exact money as stored: a `rust_decimal::Decimal` written as decimal text.
//!
//! SeaORM maps `Decimal` to a SQLite column with REAL affinity, i.e. a double,
//! which silently loses cents past 2^53. Storing the canonical decimal string
//! keeps every backend exact (`typeof()` is `text` on SQLite) and byte-identical.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use sea_orm::DeriveValueType;

/// A decimal amount persisted as text, e.g. `"12.50"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, DeriveValueType)]
#[sea_orm(value_type = "String")]
pub struct Money(pub Decimal);

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Money {
    type Err = rust_decimal::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::from_str_exact(s).map(Money)
    }
}

impl From<Decimal> for Money {
    fn from(value: Decimal) -> Self {
        Money(value)
    }
}
