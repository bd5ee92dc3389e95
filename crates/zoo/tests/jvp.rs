//! The exact JVP of every registered architecture against central finite
//! differences in f64, forward mode against reverse mode, and linearity.

use zoo::{registry, ArchConfig, Batch, Mode, ParamVec, ProbeKind};

fn digits_batch(n: usize) -> Batch<f64> {
    let digits = data::load_default_digits().expect("datasets/digits.csv.gz");
    let idx: Vec<usize> = (0..n).map(|i| (i * 37) % digits.len()).collect();
    Batch::from_digits(&Default::default(), &digits, &idx)
}

/// max |a − b| / max |b|: a normwise relative error that does not blow up
/// on entries that happen to be near zero.
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

#[test]
fn exact_jvp_matches_central_differences_in_f64() {
    let batch = digits_batch(16);
    const EPS: f64 = 1e-6;
    for entry in registry() {
        let model = entry.build::<f64>(&ArchConfig::default());
        let state = model.init(3);
        let v = ParamVec::<f64>::random_unit(model.num_params(), 11);
        let jvp = model.jvp(&state, &batch.x, &v);
        // Kinks (ReLU, max-pool): the FD step must not cross one. Every kink
        // probe reports its distance h and speed ḣ; require |h| > 100 ε |ḣ|.
        for p in jvp.probes.iter().filter(|p| p.kind == ProbeKind::Kink) {
            let (h, dh) = (p.value.as_vec(), p.tangent.as_vec());
            let closest = h.iter().zip(&dh).map(|(h, d)| h.abs() / d.abs().max(1e-300)).fold(f64::INFINITY, f64::min);
            assert!(closest > 100.0 * EPS, "{}: a kink lies within the FD step ({closest:e})", entry.name);
        }
        let fd = model.fd_jvp(&state, &batch.x, &v, EPS);
        let err = rel_err(&jvp.slopes.as_vec(), &fd.as_vec());
        eprintln!("{:<14} JVP vs FD relative error {err:.2e}", entry.name);
        assert!(err <= 1e-6, "{}: relative error {err:e}", entry.name);
    }
}

#[test]
fn forward_mode_agrees_with_reverse_mode() {
    // Σ_{i,k} (softmax(z_i/T) − y_i)_k a_ik / (T B) = g · v.
    let batch = digits_batch(24);
    for entry in registry() {
        for temperature in [1.0, 2.5] {
            let cfg = ArchConfig { temperature: Some(temperature), ..Default::default() };
            let model = entry.build::<f64>(&cfg);
            let mut state = model.init(5);
            let step = model.loss_and_grad(&mut state, &batch, Mode::Eval);
            let v = step.grad.normalized();
            let jvp = model.jvp(&state, &batch.x, &v);
            let (z, a, y) = (jvp.logits.as_vec(), jvp.slopes.as_vec(), batch.onehot.as_vec());
            let k = model.classes;
            let mut lhs = 0.0;
            for i in 0..batch.len() {
                let row = &z[i * k..(i + 1) * k];
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = row.iter().map(|v| ((v - m) / temperature).exp()).sum();
                for j in 0..k {
                    let p = ((row[j] - m) / temperature).exp() / s;
                    lhs += (p - y[i * k + j]) * a[i * k + j];
                }
            }
            lhs /= temperature * batch.len() as f64;
            let rhs = step.grad.dot(&v);
            assert!((lhs - rhs).abs() <= 1e-6 * rhs.abs(), "{} T={temperature}: {lhs} vs {rhs}", entry.name);
        }
    }
}

#[test]
fn jvp_is_linear_in_the_direction() {
    let batch = digits_batch(8);
    for entry in registry() {
        let model = entry.build::<f64>(&ArchConfig::default());
        let state = model.init(9);
        let (u, w) = (ParamVec::<f64>::random_unit(model.num_params(), 1), ParamVec::<f64>::random_unit(model.num_params(), 2));
        let mut combo = u.clone();
        combo.scale(2.0);
        combo.axpy(-3.0, &w);
        let a = |v: &ParamVec<f64>| model.jvp(&state, &batch.x, v).slopes.as_vec();
        let (au, aw, ac) = (a(&u), a(&w), a(&combo));
        let expect: Vec<f64> = au.iter().zip(&aw).map(|(x, y)| 2.0 * x - 3.0 * y).collect();
        assert!(rel_err(&ac, &expect) < 1e-12, "{}", entry.name);
    }
}

#[test]
fn cached_tangent_equals_standalone_jvp() {
    // The JVP after a training step reuses that step's forward.
    let batch = digits_batch(12);
    for entry in registry() {
        let model = entry.build::<f64>(&ArchConfig::default());
        let mut state = model.init(4);
        let mut step = model.loss_and_grad(&mut state, &batch, Mode::Eval);
        let v = step.grad.normalized();
        let (cached, _) = model.tangent(&state, &mut step.cache, &v, Mode::Eval);
        let fresh = model.jvp(&state, &batch.x, &v).slopes;
        assert!(rel_err(&cached.as_vec(), &fresh.as_vec()) < 1e-12, "{}", entry.name);
    }
}
