//! Kink distances of piecewise-linear units (paper Appendix 2) and the
//! transformer experiment's FFN radius ρ_ffn (spec C8).
//!
//! A pre-activation h moving as h + t·ḣ along a direction reaches a ReLU
//! kink at h = 0 after t = |h|/|ḣ|: the unit's radius. The transformer
//! experiment (paper Table 2) takes, as a conservative proxy although its
//! FFN uses the exact (entire) GELU, the 1% quantile of that distance over
//! every FFN pre-activation as ρ_ffn.

use crate::spread::quantile_in_place;

/// The floor on |ḣ| in [`kink_distance`] (spec C8: max(|ḣ|, 1e-12)).
pub const KINK_TANGENT_FLOOR: f64 = 1e-12;

/// Distance along the direction from pre-activation `h` (tangent `h_dot`)
/// to the kink at 0: |h| / max(|ḣ|, 1e-12). A NaN in either gives NaN (a
/// broken JVP never looks safe).
pub fn kink_distance(h: f64, h_dot: f64) -> f64 {
    if h_dot.is_nan() {
        return f64::NAN;
    }
    h.abs() / h_dot.abs().max(KINK_TANGENT_FLOOR)
}

/// ρ_ffn of spec C8: the q-quantile (linear interpolation, numpy's
/// default) of the kink distances in `distances` (every FFN unit of every
/// token of every sample; from [`kink_distance`]). The slice is reordered.
/// Empty input gives +inf (no FFN, no limit); a NaN distance gives NaN.
pub fn rho_ffn(distances: &mut [f64], q: f64) -> f64 {
    if distances.is_empty() {
        return f64::INFINITY;
    }
    quantile_in_place(distances, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_their_quantile() {
        assert_eq!(kink_distance(-2.0, 0.5), 4.0);
        assert_eq!(kink_distance(3.0, -1.0), 3.0);
        // A unit that does not move: the floor, not a division by zero.
        assert_eq!(kink_distance(1.0, 0.0), 1e12);
        assert_eq!(kink_distance(0.0, 0.0), 0.0);
        assert!(kink_distance(1.0, f64::NAN).is_nan());
        assert!(kink_distance(f64::NAN, 1.0).is_nan());
        let mut d = [5.0, 1.0, 3.0, 2.0, 4.0];
        // 1% of the way from the smallest (1) to the second (2) over 4 gaps.
        assert!((rho_ffn(&mut d, 0.01) - 1.04).abs() < 1e-12);
        assert_eq!(rho_ffn(&mut [], 0.01), f64::INFINITY);
        assert!(rho_ffn(&mut [1.0, f64::NAN], 0.01).is_nan());
    }
}
