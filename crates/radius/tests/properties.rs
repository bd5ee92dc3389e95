//! Property tests of the radius core (proptest).

use num_complex::Complex64;
use proptest::prelude::*;
use radius::{binary_radius, delta_a, exact_radius, rho_a, top2};

/// Logits and slopes of a sample with 2..=12 classes and a non-degenerate spread.
fn sample() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (2usize..=12)
        .prop_flat_map(|k| {
            (
                prop::collection::vec(-20.0f64..20.0, k),
                prop::collection::vec(-30.0f64..30.0, k),
            )
        })
        .prop_filter("spread must be resolvable", |(_, a)| delta_a(a) > 1e-3)
}

/// |F(t)| / Σ|terms|, evaluated in the log domain (terms like e^{850}
/// would overflow f64 otherwise).
fn relative_residual(z: &[f64], a: &[f64], t: Complex64) -> f64 {
    let m = z
        .iter()
        .zip(a)
        .map(|(&z, &a)| z + a * t.re)
        .fold(f64::NEG_INFINITY, f64::max);
    let terms: Vec<Complex64> = z
        .iter()
        .zip(a)
        .map(|(&z, &a)| (Complex64::from(z - m) + a * t).exp())
        .collect();
    terms.iter().sum::<Complex64>().norm() / terms.iter().map(|x| x.norm()).sum::<f64>()
}

proptest! {
    // A fixed seed: the suite is deterministic (and 1024 cases wide).
    #![proptest_config(ProptestConfig { cases: 1024, rng_seed: proptest::test_runner::RngSeed::Fixed(20261124), ..ProptestConfig::default() })]

    #[test]
    fn exact_radius_is_at_least_rho_a((z, a) in sample()) {
        let r = exact_radius(&z, &a).unwrap();
        prop_assert!(r.rho_exact >= rho_a(&a) * (1.0 - 1e-12), "{} < {}", r.rho_exact, rho_a(&a));
    }

    #[test]
    fn ghost_is_a_zero((z, a) in sample()) {
        let r = exact_radius(&z, &a).unwrap();
        let t = r.ghost.unwrap();
        prop_assert!(t.im > 0.0);
        let res = relative_residual(&z, &a, t);
        prop_assert!(res < 1e-9, "residual {res:e} at t = {t} for z = {z:?}, a = {a:?}");
        prop_assert!((t.norm() - r.rho_exact).abs() <= 1e-14 * r.rho_exact);
    }

    #[test]
    fn two_classes_match_binary_formula(z in prop::array::uniform2(-20.0f64..20.0), a in prop::array::uniform2(-30.0f64..30.0)) {
        prop_assume!((a[0] - a[1]).abs() > 1e-3);
        let r = exact_radius(&z, &a).unwrap();
        let b = binary_radius(z[0] - z[1], a[0] - a[1]);
        prop_assert!((r.rho_exact - b).abs() <= 1e-9 * b, "{} vs {}", r.rho_exact, b);
        let t = top2(&z, &a, None).unwrap();
        prop_assert!((t.rho_top2 - b).abs() <= 1e-12 * b);
    }

    #[test]
    fn invariant_under_shifts((z, a) in sample(), cz in -50.0f64..50.0, ca in -50.0f64..50.0) {
        let base = exact_radius(&z, &a).unwrap().rho_exact;
        let zs: Vec<f64> = z.iter().map(|v| v + cz).collect();
        let as_: Vec<f64> = a.iter().map(|v| v + ca).collect();
        let shifted = exact_radius(&zs, &as_).unwrap().rho_exact;
        prop_assert!((shifted - base).abs() <= 1e-8 * base, "{shifted} vs {base}");
        prop_assert!((rho_a(&as_) - rho_a(&a)).abs() <= 1e-9 * rho_a(&a));
    }

    #[test]
    fn slope_scaling_scales_radii((z, a) in sample(), s in 0.05f64..20.0) {
        let scaled: Vec<f64> = a.iter().map(|v| v * s).collect();
        let base = exact_radius(&z, &a).unwrap().rho_exact;
        let got = exact_radius(&z, &scaled).unwrap().rho_exact;
        prop_assert!((got * s - base).abs() <= 1e-8 * base, "{} vs {}", got * s, base);
        prop_assert!((rho_a(&scaled) * s - rho_a(&a)).abs() <= 1e-12 * rho_a(&a));
        let (t0, t1) = (top2(&z, &a, None).unwrap(), top2(&z, &scaled, None).unwrap());
        prop_assert!((t1.rho_top2 * s - t0.rho_top2).abs() <= 1e-12 * t0.rho_top2);
    }

    #[test]
    fn sign_of_direction_does_not_matter((z, a) in sample()) {
        let neg: Vec<f64> = a.iter().map(|v| -v).collect();
        let base = exact_radius(&z, &a).unwrap().rho_exact;
        let flipped = exact_radius(&z, &neg).unwrap().rho_exact;
        prop_assert!((base - flipped).abs() <= 1e-8 * base);
    }
}
