//! Exact money rules: decimal strings only, positive amounts, no more digits
//! than the currency's scale (excess precision is refused, never rounded) and
//! a maximum magnitude that every backend stores exactly.

use rust_decimal::Decimal;

use crate::model::error::{ErrorCode, LedgerError, Result};

/// Amounts and balances stay below 10^20 units, and below 10^(28 - scale)
/// for scales over 8, so every value and every sum of two of them fits in
/// rust_decimal's 96-bit mantissa exactly: arithmetic never has to round.
pub const MAX_INTEGER_DIGITS: u32 = 20;
const MAX_DIGITS: u32 = 28;

/// The most decimal places any currency may have.
pub const MAX_SCALE: u32 = 18;

/// Parses the strict decimal grammar `-?[0-9]+(\.[0-9]+)?`: no exponent, no
/// sign on zero-padded forms beyond a leading '-', no whitespace, no '+'.
pub fn parse_decimal(text: &str) -> Result<Decimal> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !frac.is_none_or(all_digits) {
        return Err(invalid(format!("\"{text}\" is not a decimal string like \"12.50\"")));
    }
    Decimal::from_str_exact(text).map_err(|_| invalid(format!("\"{text}\" has more digits than can be held exactly")))
}

/// A positive amount with at most `scale` decimals, returned at exactly `scale`.
pub fn amount_at_scale(amount: Decimal, scale: u32) -> Result<Decimal> {
    if amount <= Decimal::ZERO {
        return Err(invalid(format!("amount must be positive, got {amount}")));
    }
    signed_at_scale(amount, scale)
}

/// The shape check before the currency is known: positive and below 10^20.
pub fn positive(amount: Decimal) -> Result<()> {
    if amount <= Decimal::ZERO {
        return Err(invalid(format!("amount must be positive, got {amount}")));
    }
    if amount >= max_magnitude(MAX_INTEGER_DIGITS) {
        return Err(invalid(format!(
            "{amount} exceeds the maximum of {MAX_INTEGER_DIGITS} integer digits"
        )));
    }
    Ok(())
}

/// Any value (e.g. a minimum balance) with at most `scale` decimals, at `scale`.
pub fn signed_at_scale(value: Decimal, scale: u32) -> Result<Decimal> {
    let normal = value.normalize();
    if normal.scale() > scale {
        return Err(invalid(format!(
            "{value} has more than {scale} decimal places for this currency"
        )));
    }
    let digits = integer_digits(scale);
    if normal.abs() >= max_magnitude(digits) {
        return Err(invalid(format!(
            "{value} exceeds the maximum of {digits} integer digits"
        )));
    }
    Ok(rescaled(normal, scale))
}

/// `value` written with exactly `scale` decimals (only ever adds zeros here).
pub fn rescaled(value: Decimal, scale: u32) -> Decimal {
    let mut out = value;
    out.rescale(scale);
    out
}

/// Zero written at `scale`, e.g. "0.00".
pub fn zero(scale: u32) -> Decimal {
    Decimal::new(0, scale)
}

fn integer_digits(scale: u32) -> u32 {
    MAX_INTEGER_DIGITS.min(MAX_DIGITS.saturating_sub(scale))
}

fn max_magnitude(digits: u32) -> Decimal {
    Decimal::from_i128_with_scale(10_i128.pow(digits), 0)
}

/// Checked arithmetic for balances: overflow is a refusal, never a wrap.
pub fn checked_balance(value: Option<Decimal>, scale: u32) -> Result<Decimal> {
    match value {
        Some(v) if v.abs() < max_magnitude(integer_digits(scale)) => Ok(v),
        _ => Err(invalid("the resulting balance would exceed the maximum magnitude")),
    }
}

fn invalid(message: impl Into<String>) -> LedgerError {
    LedgerError::client(ErrorCode::InvalidAmount, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_grammar_refuses_everything_but_plain_decimals() {
        for bad in [
            "", "-", "1e3", "1E3", "+1", " 1", "1 ", "1.", ".5", "0x10", "1,5", "NaN", "1.2.3",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(parse_decimal("12.50").ok().map(|d| d.to_string()), Some("12.50".into()));
        assert_eq!(parse_decimal("-3").ok().map(|d| d.to_string()), Some("-3".into()));
    }

    #[test]
    fn excess_precision_is_refused_never_rounded() {
        assert!(amount_at_scale(Decimal::new(1, 3), 2).is_err());
        assert_eq!(amount_at_scale(Decimal::new(10, 3), 2).ok(), Some(Decimal::new(1, 2)));
        assert_eq!(
            amount_at_scale(Decimal::new(5, 0), 2).ok().map(|d| d.to_string()),
            Some("5.00".into())
        );
    }

    #[test]
    fn non_positive_and_huge_amounts_are_refused() {
        assert!(amount_at_scale(Decimal::ZERO, 2).is_err());
        assert!(amount_at_scale(Decimal::new(-1, 0), 2).is_err());
        assert!(amount_at_scale(max_magnitude(20), 0).is_err());
        assert!(amount_at_scale(max_magnitude(10), 18).is_err());
        let big = parse_decimal("99999999999999999999.99").ok();
        assert!(big.is_some_and(|b| amount_at_scale(b, 2).is_ok()));
    }
}
