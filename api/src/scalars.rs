//! Strict scalars. `Decimal` is a JSON string only ("12.50"): a JSON number
//! would pass through f64 and lose digits (9007199254740993 becomes …992),
//! so numbers, exponents and any non-decimal text are refused with
//! INVALID_AMOUNT. `UUID` refuses anything but a UUID string with INVALID_INPUT.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use rust_decimal::Decimal;
use service::ErrorCode;

/// An exact decimal carried as a string, e.g. "12.50".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Money(pub Decimal);

/// An exact decimal number as a string, e.g. "12.50". JSON numbers are refused.
#[Scalar(name = "Decimal")]
impl ScalarType for Money {
    fn parse(value: Value) -> InputValueResult<Self> {
        let refused = |message: String| {
            InputValueError::custom(message).with_extension("code", ErrorCode::InvalidAmount.as_str())
        };
        match value {
            Value::String(text) => service::model::money::parse_decimal(&text)
                .map(Money)
                .map_err(|e| refused(e.to_string())),
            other => Err(refused(format!(
                "expected a decimal string such as \"12.50\", got {other}"
            ))),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A UUID in its canonical hyphenated text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Id(pub uuid::Uuid);

/// A UUID string, e.g. "0192f0c1-7a3e-7c4e-9d1a-2b3c4d5e6f70".
#[Scalar(name = "UUID")]
impl ScalarType for Id {
    fn parse(value: Value) -> InputValueResult<Self> {
        let refused =
            |message: String| InputValueError::custom(message).with_extension("code", ErrorCode::InvalidInput.as_str());
        match value {
            Value::String(text) => uuid::Uuid::parse_str(&text)
                .map(Id)
                .map_err(|_| refused(format!("\"{text}\" is not a UUID"))),
            other => Err(refused(format!("expected a UUID string, got {other}"))),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}
