//! Appendix 5: curvature against radius for the scalar logistic loss
//! f(x) = log(1 + e^{−x}) at margin δ.
//!
//! f''(δ) = σ(δ)(1 − σ(δ)) decays like e^{−δ}; the Taylor radius about δ is set
//! by the branch points x = iπ(2k+1): R(δ) = √(δ² + π²), which grows only
//! like δ. A quadratic (Hessian) step 2/f'' therefore overshoots the radius by
//! ≈ 2e^δ/δ: more than 4000× at δ = 10.

use std::f64::consts::PI;

/// Logistic curvature f''(δ) = σ(δ)(1 − σ(δ)), stable for large |δ|.
pub fn logistic_curvature(margin: f64) -> f64 {
    let e = (-margin.abs()).exp();
    e / ((1.0 + e) * (1.0 + e))
}

/// Taylor radius of log(1 + e^{−x}) about x = δ: R(δ) = √(δ² + π²).
pub fn logistic_radius(margin: f64) -> f64 {
    margin.hypot(PI)
}

/// The Hessian-vs-radius comparison of Appendix 5 at one margin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HessianVsRadius {
    /// δ.
    pub margin: f64,
    /// f''(δ) = σ(1 − σ).
    pub curvature: f64,
    /// Quadratic step τ_H = 2/f''.
    pub hessian_step: f64,
    /// R(δ) = √(δ² + π²).
    pub radius: f64,
    /// (2/f'')/R: the paper's "> 4000× at δ = 10" (4203).
    pub hessian_step_over_radius: f64,
    /// (1/f'')/R, the scale Fig. 13's legend plots (2102 at δ = 10).
    pub inverse_curvature_over_radius: f64,
    /// (π/R)/f'', the ratio in Fig. 13's caption (6602 at δ = 10).
    pub caption_ratio: f64,
}

/// Evaluate every Appendix 5 quantity at margin δ.
pub fn hessian_vs_radius(margin: f64) -> HessianVsRadius {
    let curvature = logistic_curvature(margin);
    let radius = logistic_radius(margin);
    HessianVsRadius {
        margin,
        curvature,
        hessian_step: 2.0 / curvature,
        radius,
        hessian_step_over_radius: 2.0 / curvature / radius,
        inverse_curvature_over_radius: 1.0 / curvature / radius,
        caption_ratio: (PI / radius) / curvature,
    }
}

/// Predicted crossover margin δ* ≈ ln(π|Δ_yc|/2) where the Hessian step
/// 2/(σ(1−σ)Δ_yc²) overtakes the radius π/|Δ_yc| along a direction with
/// margin slope Δ_yc.
pub fn crossover_margin(slope_gap: f64) -> f64 {
    (PI * slope_gap.abs() / 2.0).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appendix5_numbers_at_margin_10() {
        let h = hessian_vs_radius(10.0);
        assert!((h.curvature - 4.5396e-5).abs() < 1e-8);
        assert!((1.0 / h.curvature - 22_028.0).abs() < 1.0);
        assert!((h.hessian_step - 44_057.0).abs() < 1.0);
        assert!((h.radius - 10.4819).abs() < 1e-4);
        assert!((h.hessian_step_over_radius - 4203.0).abs() < 1.0);
        assert!((h.inverse_curvature_over_radius - 2102.0).abs() < 1.0);
        assert!((h.caption_ratio - 6602.0).abs() < 1.0);
    }

    #[test]
    fn curvature_limits() {
        assert!((logistic_curvature(0.0) - 0.25).abs() < 1e-15);
        assert_eq!(logistic_curvature(50.0), logistic_curvature(-50.0));
        assert!(logistic_curvature(800.0) >= 0.0);
        assert!((logistic_radius(0.0) - PI).abs() < 1e-15);
    }

    #[test]
    fn curvature_matches_finite_difference() {
        let f = |x: f64| (1.0 + (-x).exp()).ln();
        for &d in &[0.3, 2.0, 5.0] {
            let h = 1e-4;
            let fd = (f(d + h) - 2.0 * f(d) + f(d - h)) / (h * h);
            assert!((fd - logistic_curvature(d)).abs() < 1e-6);
        }
    }

    #[test]
    fn crossover() {
        // At δ*, 2/(σ(1−σ)Δ²) ≈ π/Δ when σ(1−σ) ≈ e^{−δ}.
        let gap = 20.0;
        let d = crossover_margin(gap);
        let ratio = (2.0 / (d.exp().recip() * gap * gap)) / (PI / gap);
        assert!((ratio - 1.0).abs() < 1e-12);
    }
}
