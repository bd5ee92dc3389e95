//! Tests of `theory`.

use super::*;

/// The repository's `configs/quick/theory.yaml`.
fn quick_config() -> TheoryConfig {
    crate::config::built_in("theory", true).unwrap()
}

#[test]
fn quick_theory_numbers() {
    let (data, s) = compute(&quick_config()).unwrap();
    assert!((s.sigmoid_at_pi - 0.9586).abs() < 1e-4);
    assert!((s.hessian_step_over_radius_at_margin_10 - 4203.0).abs() < 1.0);
    assert!(s.kl_forward_max_ratio <= 1.0 && s.kl_forward_max_ratio > 0.5);
    assert!(s.kl_reverse_max_ratio <= 1.0);
    assert!(s.calibration_min_ratio >= 1.0 - 1e-9);
    assert!(s.taylor15_rel_error_inside < 1e-4 && s.taylor15_rel_error_outside > 1e3);
    assert_eq!(data.taylor_abs.len(), 3);
}

#[test]
fn same_seed_same_numbers() {
    let cfg = quick_config();
    let a = serde_json::to_string(&compute(&cfg).unwrap().1).unwrap();
    let b = serde_json::to_string(&compute(&cfg).unwrap().1).unwrap();
    assert_eq!(a, b);
}
