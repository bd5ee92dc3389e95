//! The certified exact radius against an independent 40-digit mpmath
//! computation (`tools/exact_radius_reference.py`): 204 cases, K = 2..20,
//! logits in ±20, slope magnitudes 0.1..30. Acceptance: 1e-6 relative.

use num_complex::Complex64;

struct Case {
    id: usize,
    rho: f64,
    t0: Complex64,
    z: Vec<f64>,
    a: Vec<f64>,
}

fn cases() -> Vec<Case> {
    let text = include_str!("fixtures/exact_radius_mpmath.csv");
    let floats = |s: &str| {
        s.split_whitespace()
            .map(|v| v.parse::<f64>().unwrap())
            .collect::<Vec<_>>()
    };
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 7, "fixture line {line:?}");
            let case = Case {
                id: f[0].parse().unwrap(),
                rho: f[2].parse().unwrap(),
                t0: Complex64::new(f[3].parse().unwrap(), f[4].parse().unwrap()),
                z: floats(f[5]),
                a: floats(f[6]),
            };
            assert_eq!(case.z.len(), f[1].parse::<usize>().unwrap());
            case
        })
        .collect()
}

#[test]
fn exact_radius_agrees_with_mpmath() {
    let cases = cases();
    assert!(cases.len() >= 200);
    let mut worst = 0.0f64;
    for c in &cases {
        let r = radius::exact_radius(&c.z, &c.a).unwrap();
        let rel = (r.rho_exact - c.rho).abs() / c.rho;
        worst = worst.max(rel);
        assert!(
            rel <= 1e-6,
            "case {}: ours {} vs mpmath {} (rel {rel:e})",
            c.id,
            r.rho_exact,
            c.rho
        );
        // Same zero, not just the same modulus (both report Im > 0).
        let g = r.ghost.unwrap();
        assert!(
            (g - c.t0).norm() <= 1e-6 * c.rho,
            "case {}: ghost {g} vs {}",
            c.id,
            c.t0
        );
        assert!(r.rho_exact >= radius::rho_a(&c.a) * (1.0 - 1e-12));
    }
    eprintln!("worst relative error over {} cases: {worst:e}", cases.len());
}
