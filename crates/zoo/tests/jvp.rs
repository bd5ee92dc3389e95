//! The exact JVP of every registered architecture against central finite
//! differences in f64, forward mode against reverse mode, and linearity.

use zoo::{ArchConfig, ArchEntry, Batch, InputKind, Mode, ParamVec};

/// The registered architectures that read the digits (the CIFAR-10 ones
/// are checked narrow, below).
fn registry() -> Vec<ArchEntry> {
    zoo::registry()
        .into_iter()
        .filter(|e| e.input == InputKind::Digits)
        .collect()
}

fn digits_batch(n: usize) -> Batch<f64> {
    zoo::check::digits_check_batch(n).expect("datasets/digits.csv.gz")
}

use zoo::check::{check_jvp, check_jvp_with, normwise_rel_error as rel_err};

#[test]
fn exact_jvp_matches_central_differences_in_f64() {
    let batch = digits_batch(16);
    for entry in registry() {
        let c = check_jvp(&entry, &batch, 3);
        eprintln!(
            "{:<20} JVP vs FD relative error {:.2e}, kink clearance {:.2e}",
            c.arch, c.max_rel_error, c.kink_clearance
        );
        assert!(c.passed(), "{c:?}");
    }
}

#[test]
fn forward_mode_agrees_with_reverse_mode() {
    // Σ_{i,k} (softmax(z_i/T) − y_i)_k a_ik / (T B) = g · v.
    let batch = digits_batch(24);
    for entry in registry() {
        for temperature in [1.0, 2.5] {
            let cfg = ArchConfig {
                temperature: Some(temperature),
                ..Default::default()
            };
            let model = entry.build::<f64>(&cfg);
            let mut state = model.init(5);
            let step = model.loss_and_grad(&mut state, &batch, Mode::Eval);
            let v = step.grad.normalized();
            let jvp = model.jvp(&state, &batch.x, &v);
            let (z, a) = (jvp.logits.as_vec(), jvp.slopes.as_vec());
            let k = model.classes;
            let onehot = |i: usize, j: usize| f64::from(u8::from(batch.labels[i] == j));
            let mut lhs = 0.0;
            for i in 0..batch.len() {
                let row = &z[i * k..(i + 1) * k];
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = row.iter().map(|v| ((v - m) / temperature).exp()).sum();
                for j in 0..k {
                    let p = ((row[j] - m) / temperature).exp() / s;
                    lhs += (p - onehot(i, j)) * a[i * k + j];
                }
            }
            lhs /= temperature * batch.len() as f64;
            let rhs = step.grad.dot(&v);
            assert!(
                (lhs - rhs).abs() <= 1e-6 * rhs.abs(),
                "{} T={temperature}: {lhs} vs {rhs}",
                entry.name
            );
        }
    }
}

#[test]
fn jvp_is_linear_in_the_direction() {
    let batch = digits_batch(8);
    for entry in registry() {
        let model = entry.build::<f64>(&ArchConfig::default());
        let state = model.init(9);
        let (u, w) = (
            ParamVec::<f64>::random_unit(model.num_params(), 1),
            ParamVec::<f64>::random_unit(model.num_params(), 2),
        );
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
        let cached = model.tangent(&state, &mut step.cache, &v, Mode::Eval);
        let fresh = model.jvp(&state, &batch.x, &v).slopes;
        assert!(
            rel_err(&cached.as_vec(), &fresh.as_vec()) < 1e-12,
            "{}",
            entry.name
        );
    }
}

/// The CIFAR-10 ResNets (resnet8-cifar, resnet18-cifar) at 4 stem channels
/// on two synthetic 3×32×32 images: the exact JVP (dfdx f64 and the fast
/// f32 backend) against central differences.
#[test]
fn cifar_models_jvp_matches_central_differences_narrow() {
    let cifar: Vec<ArchEntry> = zoo::registry()
        .into_iter()
        .filter(|e| e.input == InputKind::Cifar10)
        .collect();
    assert_eq!(cifar.len(), 2);
    let batch = zoo::check::cifar_check_batch(2, 3);
    let narrow = ArchConfig {
        width: Some(4),
        ..Default::default()
    };
    for entry in cifar {
        let c = check_jvp_with(&entry, &narrow, &batch, 3);
        eprintln!(
            "{:<20} JVP vs FD relative error {:.2e}, fast {:?}",
            c.arch, c.max_rel_error, c.fast_rel_error
        );
        assert!(c.passed(), "{c:?}");
        assert!(c.fast_rel_error.is_some(), "{c:?}");
    }
}
