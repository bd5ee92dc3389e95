//! Exact radius of a two-class softmax and the top-2 reduction of a
//! multiclass sample (paper §4.2 and eq. 13).

use num_complex::Complex64;
use std::f64::consts::PI;

/// Exact radius of a binary partition function (paper eq. 7):
/// for F(t) = w1 + w2 e^{Δ t} with logit gap δ = ln(w1/w2),
/// ρ* = √(δ² + π²) / |Δ|. It is smallest, π/|Δ|, at δ = 0, where the bound
/// ρa is tight. Δ = 0 gives `+inf`.
pub fn binary_radius(logit_gap: f64, slope_gap: f64) -> f64 {
    if slope_gap == 0.0 {
        f64::INFINITY
    } else {
        logit_gap.hypot(PI) / slope_gap.abs()
    }
}

/// Nearest zero ("ghost"), in the upper half-plane, of
/// e^{z1 + a1 t} + e^{z2 + a2 t} with δ = z1 − z2 and Δ = a1 − a2:
/// Δ t = −δ + iπ, i.e. t0 = (−δ + iπ)/Δ (then conjugated to Im t0 > 0).
///
/// The paper prints (δ + iπ)/Δ; the real part's sign there is a slip (the
/// modulus is the same). `None` when Δ = 0 (no zero).
pub fn binary_ghost(logit_gap: f64, slope_gap: f64) -> Option<Complex64> {
    if slope_gap == 0.0 {
        return None;
    }
    let t = Complex64::new(-logit_gap, PI) / slope_gap;
    Some(if t.im < 0.0 { t.conj() } else { t })
}

/// Result of the top-2 reduction of one sample (paper eq. 13).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Top2 {
    /// Reference class y: the true label if given, else the predicted class.
    pub class: usize,
    /// Strongest competitor c = argmax_{k ≠ y} z_k.
    pub competitor: usize,
    /// Margin δ = z_y − z_c (`±inf` if the difference exceeds the f64
    /// range; the radius and ghost are still computed, from halves).
    pub margin: f64,
    /// Slope gap Δ_yc = a_y − a_c (`±inf` on overflow, as `margin`).
    pub slope_gap: f64,
    /// ρ_top2 = √(δ² + π²) / |Δ_yc|.
    pub rho_top2: f64,
    /// The pair's nearest ghost (Im > 0); `None` when Δ_yc = 0.
    pub ghost: Option<Complex64>,
}

/// Top-2 reduction: keep the reference class and its strongest competitor and
/// solve that binary problem exactly. For K > 2 this approximates the nearest
/// zero of F (it ignores the other classes); confident samples exceed π/Δ by
/// √(1 + (δ/π)²). `label = None` uses the predicted class as reference.
///
/// Returns `None` for fewer than two classes or mismatched lengths.
pub fn top2(logits: &[f64], slopes: &[f64], label: Option<usize>) -> Option<Top2> {
    if logits.len() < 2 || logits.len() != slopes.len() {
        return None;
    }
    let argmax = |skip: Option<usize>| {
        (0..logits.len())
            .filter(|&k| Some(k) != skip)
            .max_by(|&i, &j| logits[i].total_cmp(&logits[j]).then(j.cmp(&i)))
    };
    let class = match label {
        Some(y) if y < logits.len() => y,
        Some(_) => return None,
        None => argmax(None)?,
    };
    let competitor = argmax(Some(class))?;
    let margin = logits[class] - logits[competitor];
    let slope_gap = slopes[class] - slopes[competitor];
    let inputs_finite = [
        logits[class],
        logits[competitor],
        slopes[class],
        slopes[competitor],
    ]
    .iter()
    .all(|v| v.is_finite());
    let (rho_top2, ghost) = if inputs_finite && !(margin.is_finite() && slope_gap.is_finite()) {
        // A difference of finite inputs overflowed (values near ±1e308):
        // the same formulas on the halves, which cannot overflow.
        let half_margin = logits[class] * 0.5 - logits[competitor] * 0.5;
        let half_gap = slopes[class] * 0.5 - slopes[competitor] * 0.5;
        if half_gap == 0.0 {
            (f64::INFINITY, None)
        } else {
            let t = Complex64::new(-half_margin, PI * 0.5) / half_gap;
            (
                half_margin.hypot(PI * 0.5) / half_gap.abs(),
                Some(if t.im < 0.0 { t.conj() } else { t }),
            )
        }
    } else {
        (
            binary_radius(margin, slope_gap),
            binary_ghost(margin, slope_gap),
        )
    };
    Some(Top2 {
        class,
        competitor,
        margin,
        slope_gap,
        rho_top2,
        ghost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f2(z: [f64; 2], a: [f64; 2], t: Complex64) -> Complex64 {
        (Complex64::from(z[0]) + a[0] * t).exp() + (Complex64::from(z[1]) + a[1] * t).exp()
    }

    #[test]
    fn binary_radius_minimum_at_zero_gap() {
        assert!((binary_radius(0.0, 2.0) - PI / 2.0).abs() < 1e-15);
        assert!((binary_radius(3.0, -1.0) - (9.0 + PI * PI).sqrt()).abs() < 1e-14);
        assert_eq!(binary_radius(1.0, 0.0), f64::INFINITY);
    }

    #[test]
    fn binary_ghost_is_a_zero() {
        for &(z, a) in &[
            ([3.0, 0.0], [2.0, -1.0]),
            ([-1.5, 2.0], [0.3, 4.0]),
            ([0.0, 0.0], [1.0, 0.0]),
        ] {
            let t = binary_ghost(z[0] - z[1], a[0] - a[1]).unwrap();
            assert!(t.im > 0.0);
            let scale = (z[0] + a[0] * t.re).exp() + (z[1] + a[1] * t.re).exp();
            assert!(f2(z, a, t).norm() < 1e-12 * scale, "z={z:?} a={a:?}");
            assert!((t.norm() - binary_radius(z[0] - z[1], a[0] - a[1])).abs() < 1e-12);
        }
    }

    #[test]
    fn top2_picks_label_and_competitor() {
        let t = top2(&[2.0, 0.0, -1.0], &[1.0, 0.5, -3.0], None).unwrap();
        assert_eq!((t.class, t.competitor), (0, 1));
        assert_eq!(t.margin, 2.0);
        assert_eq!(t.slope_gap, 0.5);
        let t = top2(&[2.0, 0.0, -1.0], &[1.0, 0.5, -3.0], Some(2)).unwrap();
        assert_eq!((t.class, t.competitor), (2, 0));
        assert_eq!(t.margin, -3.0);
        assert!(top2(&[1.0], &[1.0], None).is_none());
        assert!(top2(&[1.0, 2.0], &[1.0], None).is_none());
        assert!(top2(&[1.0, 2.0], &[1.0, 0.0], Some(5)).is_none());
    }

    #[test]
    fn top2_of_overflowing_differences_uses_halves() {
        // Δ_yc = 2e308 is beyond f64; √(δ² + π²)/|Δ| = π/2e308 is not.
        let t = top2(&[0.0, 0.0], &[1e308, -1e308], Some(0)).unwrap();
        assert_eq!(t.slope_gap, f64::INFINITY);
        assert_eq!(t.rho_top2, (PI * 0.5) / 1e308);
        assert_eq!(t.ghost.unwrap().norm(), t.rho_top2);
        // δ = 2e308 with Δ = 1: the radius is 2e308 itself, still beyond f64.
        let t = top2(&[1e308, -1e308], &[1.0, 0.0], Some(0)).unwrap();
        assert_eq!(t.rho_top2, f64::INFINITY);
        // δ = 2e308 with Δ = 4: 5e307.
        let t = top2(&[1e308, -1e308], &[4.0, 0.0], Some(0)).unwrap();
        assert!(
            (t.rho_top2 - 5e307).abs() <= 1e-15 * 5e307,
            "{}",
            t.rho_top2
        );
    }
}
