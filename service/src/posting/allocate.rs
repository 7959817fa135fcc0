//! Dividing an amount by weights with the largest-remainder method.
//!
//! The amount is counted in minor units (10^-scale). Each part first gets
//! floor(units × weight / Σweights); the units left over go one each to the
//! parts with the largest remainders, ties broken by position (earlier part
//! first). So the parts always sum exactly to the amount, and the result
//! depends only on the input: 100.00 over three equal weights is
//! 33.34 / 33.33 / 33.33. All arithmetic is exact integer arithmetic; inputs
//! too large for it are refused, never rounded.

use rust_decimal::Decimal;

use crate::model::error::{ErrorCode, LedgerError, Result};

pub(crate) fn allocate(amount: Decimal, weights: &[Decimal], scale: u32) -> Result<Vec<Decimal>> {
    if weights.is_empty() || weights.iter().any(|w| *w <= Decimal::ZERO) {
        return Err(invalid("every part needs a positive weight"));
    }
    let units = to_units(amount, scale)?;
    let weight_scale = weights.iter().map(|w| w.normalize().scale()).max().unwrap_or(0);
    let scaled: Vec<i128> = weights
        .iter()
        .map(|w| to_units(*w, weight_scale))
        .collect::<Result<_>>()?;
    let total: i128 = scaled
        .iter()
        .try_fold(0_i128, |acc, w| acc.checked_add(*w))
        .ok_or_else(too_large)?;
    let mut shares = Vec::with_capacity(scaled.len());
    let mut remainders = Vec::with_capacity(scaled.len());
    for (i, w) in scaled.iter().enumerate() {
        let product = units.checked_mul(*w).ok_or_else(too_large)?;
        shares.push(product / total);
        remainders.push((product % total, i));
    }
    let given: i128 = shares.iter().sum();
    // Largest remainder first; equal remainders in input order.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders.into_iter().take((units - given) as usize) {
        shares[i] += 1;
    }
    Ok(shares
        .into_iter()
        .map(|s| Decimal::from_i128_with_scale(s, scale))
        .collect())
}

fn to_units(value: Decimal, scale: u32) -> Result<i128> {
    let mut v = value;
    v.rescale(scale);
    if v != value {
        return Err(invalid(
            "a weight or amount has more decimals than can be divided exactly",
        ));
    }
    Ok(v.mantissa())
}

fn too_large() -> LedgerError {
    invalid("amount and weights are too large to divide exactly")
}

fn invalid(message: &str) -> LedgerError {
    LedgerError::client(ErrorCode::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn split(amount: &str, weights: &[&str], scale: u32) -> Vec<String> {
        let w: Vec<Decimal> = weights.iter().map(|w| d(w)).collect();
        allocate(d(amount), &w, scale)
            .map(|v| v.iter().map(|x| x.to_string()).collect())
            .unwrap()
    }

    #[test]
    fn awkward_splits_sum_exactly() {
        assert_eq!(split("100.00", &["1", "1", "1"], 2), ["33.34", "33.33", "33.33"]);
        assert_eq!(split("1.00", &["1", "1", "1"], 2), ["0.34", "0.33", "0.33"]);
        assert_eq!(
            split("0.01", &["1"; 7], 2),
            ["0.01", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"]
        );
        assert_eq!(split("100", &["1", "1", "1"], 0), ["34", "33", "33"]);
        assert_eq!(split("10.00", &["0.5", "0.25", "0.25"], 2), ["5.00", "2.50", "2.50"]);
        assert_eq!(split("0.05", &["1", "2"], 2), ["0.02", "0.03"]);
    }
}
