//! Appendix 4: the KL divergence along the line and its quadratic term.
//!
//! With p(τ) = softmax(z + τa) and K(τ) = log Σ_i exp(z_i + τ a_i):
//! K' = `E_p[a]`, K'' = `Var_p(a)`, K''' = third central moment of a under p(τ).
//! Forward KL(p(τ)‖p(0)) = τK'(τ) − K(τ) + K(0) = ∫_0^τ s K''(s) ds, so its
//! remainder over the quadratic term (τ²/2) Var_{p(0)}(a) is
//! ∫_0^τ s (K''(s) − K''(0)) ds and, since |K'''| ≤ Δa³/(6√3) (two-point law),
//! |KL − (τ²/2)Var| ≤ |τ|³ Δa³ / (18√3): the paper's constant is rigorous.
//! The Bregman form the paper writes, K(τ) − K(0) − τK'(0), is the REVERSE
//! divergence KL(p(0)‖p(τ)); its Lagrange remainder gives 1/(36√3).

use std::f64::consts::PI;

/// Constant of the forward-KL remainder bound, 1/(18√3) ≈ 0.032075.
pub const KL_FORWARD_CONSTANT: f64 = 1.0 / (18.0 * 1.732_050_807_568_877_2);
/// Constant of the reverse-KL (Bregman) remainder bound, 1/(36√3) ≈ 0.016038.
pub const KL_REVERSE_CONSTANT: f64 = 1.0 / (36.0 * 1.732_050_807_568_877_2);

/// K(τ) = log Σ_i exp(z_i + τ a_i), computed stably.
pub fn log_partition(logits: &[f64], slopes: &[f64], tau: f64) -> f64 {
    let m = logits
        .iter()
        .zip(slopes)
        .map(|(z, a)| z + tau * a)
        .fold(f64::NEG_INFINITY, f64::max);
    m + logits
        .iter()
        .zip(slopes)
        .map(|(z, a)| (z + tau * a - m).exp())
        .sum::<f64>()
        .ln()
}

/// Probabilities p(τ) = softmax(z + τa).
pub fn softmax_along(logits: &[f64], slopes: &[f64], tau: f64) -> Vec<f64> {
    let k = log_partition(logits, slopes, tau);
    logits
        .iter()
        .zip(slopes)
        .map(|(z, a)| (z + tau * a - k).exp())
        .collect()
}

/// Mean, variance and third central moment of the slopes under p(τ):
/// K'(τ), K''(τ), K'''(τ).
pub fn cumulants(logits: &[f64], slopes: &[f64], tau: f64) -> (f64, f64, f64) {
    let p = softmax_along(logits, slopes, tau);
    let mean: f64 = p.iter().zip(slopes).map(|(p, a)| p * a).sum();
    let var = p
        .iter()
        .zip(slopes)
        .map(|(p, a)| p * (a - mean).powi(2))
        .sum();
    let third = p
        .iter()
        .zip(slopes)
        .map(|(p, a)| p * (a - mean).powi(3))
        .sum();
    (mean, var, third)
}

/// Forward KL(p(τ)‖p(0)) = τK'(τ) − K(τ) + K(0) (exact along the line).
pub fn kl_forward(logits: &[f64], slopes: &[f64], tau: f64) -> f64 {
    let (mean_tau, _, _) = cumulants(logits, slopes, tau);
    (tau * mean_tau - log_partition(logits, slopes, tau) + log_partition(logits, slopes, 0.0))
        .max(0.0)
}

/// Reverse KL(p(0)‖p(τ)) = K(τ) − K(0) − τK'(0) (the paper's eq. 26 form).
pub fn kl_reverse(logits: &[f64], slopes: &[f64], tau: f64) -> f64 {
    let (mean0, _, _) = cumulants(logits, slopes, 0.0);
    (log_partition(logits, slopes, tau) - log_partition(logits, slopes, 0.0) - tau * mean0).max(0.0)
}

/// Quadratic term (τ²/2) Var_{p(0)}(a).
pub fn kl_quadratic_term(logits: &[f64], slopes: &[f64], tau: f64) -> f64 {
    0.5 * tau * tau * cumulants(logits, slopes, 0.0).1
}

/// Remainder bound |τ|³ Δa³ / (18√3) for the forward KL.
pub fn kl_remainder_bound(delta_a: f64, tau: f64) -> f64 {
    KL_FORWARD_CONSTANT * (tau.abs() * delta_a).powi(3)
}

/// Bound on the third central moment of any law on an interval of width Δ:
/// |E(X − EX)³| ≤ Δ³/(6√3), attained by the two-point law with
/// P(X = Δ) = (3 ± √3)/6.
pub fn third_moment_bound(width: f64) -> f64 {
    width.powi(3) / (6.0 * 3f64.sqrt())
}

/// Extremal two-point probability p = (3 + √3)/6 ≈ 0.788675 of [`third_moment_bound`].
pub fn extremal_two_point_p() -> f64 {
    (3.0 + 3f64.sqrt()) / 6.0
}

/// Scale where the quadratic regime ends, Var(a)/Δa³ ≤ 1/(4Δa) (Popoviciu);
/// same O(1/Δa) scale as π/Δa. Returned as (Var/Δa³, π/Δa).
pub fn quadratic_regime_scales(logits: &[f64], slopes: &[f64]) -> (f64, f64) {
    let delta = crate::delta_a(slopes);
    (cumulants(logits, slopes, 0.0).1 / delta.powi(3), PI / delta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn constants() {
        assert!((KL_FORWARD_CONSTANT - 0.032075).abs() < 1e-6);
        assert!((KL_REVERSE_CONSTANT - 0.016038).abs() < 1e-6);
        assert!((third_moment_bound(1.0) - 0.096225).abs() < 1e-6);
    }

    #[test]
    fn two_point_law_attains_third_moment_bound() {
        let p = 1.0 - extremal_two_point_p(); // P(X = Δ) = (3 − √3)/6 gives a positive skew
        let third = p * (1.0 - p) * (1.0 - 2.0 * p);
        assert!((third.abs() - third_moment_bound(1.0)).abs() < 1e-12);
    }

    #[test]
    fn forward_kl_is_integral_of_variance() {
        let (z, a) = ([1.0, 2.0, 0.5], [0.3, -0.5, 0.8]);
        let tau = 0.7;
        // Simpson's rule on ∫_0^τ s K''(s) ds.
        let n = 2000;
        let h = tau / n as f64;
        let f = |s: f64| s * cumulants(&z, &a, s).1;
        let integral = h / 3.0
            * (f(0.0)
                + f(tau)
                + (1..n)
                    .map(|i| f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
                    .sum::<f64>());
        assert!((kl_forward(&z, &a, tau) - integral).abs() < 1e-10);
    }

    #[test]
    fn remainder_bounds_hold_on_random_cases() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        for _ in 0..2000 {
            let k = rng.gen_range(2..10);
            let z: Vec<f64> = (0..k).map(|_| rng.gen_range(-3.0..3.0)).collect();
            let a: Vec<f64> = (0..k).map(|_| rng.gen_range(-3.0..3.0)).collect();
            let tau = rng.gen_range(0.01..1.0);
            let d = crate::delta_a(&a);
            let q = kl_quadratic_term(&z, &a, tau);
            assert!(
                (kl_forward(&z, &a, tau) - q).abs() <= kl_remainder_bound(d, tau) * (1.0 + 1e-9)
            );
            assert!(
                (kl_reverse(&z, &a, tau) - q).abs()
                    <= KL_REVERSE_CONSTANT * (tau * d).powi(3) * (1.0 + 1e-9)
            );
        }
    }

    #[test]
    fn bound_is_nearly_tight_at_two_point_law() {
        // p = (3 + √3)/6 on slopes (0, 1) at small τ: ratio → 1.
        let p = extremal_two_point_p();
        let z = [p.ln(), (1.0 - p).ln()];
        let a = [0.0, 1.0];
        let tau = 0.01;
        let ratio = (kl_forward(&z, &a, tau) - kl_quadratic_term(&z, &a, tau)).abs()
            / kl_remainder_bound(1.0, tau);
        assert!(ratio > 0.99 && ratio <= 1.0, "ratio {ratio}");
    }
}
