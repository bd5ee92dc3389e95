//! The convolutional architectures (cnn, cnn-bn) beyond the registry-wide
//! checks: the exact JVP against central differences over several seeds
//! with the FD step kept 100× inside the closest kink, the train-mode
//! (batch-statistics) tangent of CNN+BN, and the size knobs.
//!
//! Why an adaptive step: CNN-2D has 6,144 max-pool windows and CNN+BN-1D
//! 65,536 ReLU units on a 16-sample batch, so the smallest kink distance
//! |h|/|ḣ| along a random direction is routinely 1e-5..1e-4 (a genuine near
//! tie, not an error). A fixed step of 1e-6 with a 100-step margin then
//! rejects correct JVPs; a step of min(1e-6, clearance/100) keeps the margin
//! and f64 central differences stay accurate far below 1e-6.

use zoo::check::normwise_rel_error;
use zoo::{registry, ArchConfig, ArchEntry, Mode, ParamVec, Probe, ProbeKind};

fn entry(name: &str) -> ArchEntry {
    registry()
        .into_iter()
        .find(|e| e.name == name)
        .expect("registered")
}

/// Smallest |h|/|ḣ| over the kink probes.
fn clearance(probes: &[Probe<f64>]) -> f64 {
    probes
        .iter()
        .filter(|p| p.kind == ProbeKind::Kink)
        .flat_map(|p| {
            p.value
                .as_vec()
                .into_iter()
                .zip(p.tangent.as_vec())
                .map(|(h, d)| h.abs() / d.abs().max(1e-300))
                .collect::<Vec<_>>()
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn eval_jvp_matches_central_differences_over_seeds() {
    let batch = zoo::check::digits_check_batch(16).expect("datasets/digits.csv.gz");
    for name in ["cnn", "cnn-bn"] {
        let model = entry(name).build::<f64>(&ArchConfig::default());
        for seed in 0..6u64 {
            let state = model.init(seed);
            let v = ParamVec::<f64>::random_unit(model.num_params(), seed + 1);
            let jvp = model.jvp(&state, &batch.x, &v);
            let clear = clearance(&jvp.probes);
            let eps = (clear / 100.0).min(1e-6);
            let fd = model.fd_jvp(&state, &batch.x, &v, eps);
            let err = normwise_rel_error(&jvp.slopes.as_vec(), &fd.as_vec());
            eprintln!("{name:<7} seed {seed}: JVP vs FD {err:.2e} (step {eps:.1e}, kink clearance {clear:.2e})");
            assert!(err <= 1e-6, "{name} seed {seed}: relative error {err:e}");
        }
    }
}

#[test]
fn cnn_bn_train_mode_tangent_matches_central_differences() {
    // The tangent of a training step's own forward (batch statistics)
    // against FD of train-mode forwards, each on a copy of the state so the
    // running statistics never drift between the two evaluations.
    let batch = zoo::check::digits_check_batch(12).expect("datasets/digits.csv.gz");
    let model = entry("cnn-bn").build::<f64>(&ArchConfig::default());
    for seed in 0..3u64 {
        let state = model.init(seed);
        let v = ParamVec::<f64>::random_unit(model.num_params(), seed + 7);
        let mut stepped = state.clone();
        let mut step = model.loss_and_grad(&mut stepped, &batch, Mode::Train);
        assert_ne!(
            stepped.buffers, state.buffers,
            "a train-mode step moves the running statistics"
        );
        let (tangent, probes) = model.tangent_probed(&state, &mut step.cache, &v, Mode::Train);
        let eps = (clearance(&probes) / 100.0).min(1e-6);
        let at = |s: f64| {
            let mut st = state.clone();
            st.params.axpy(s, &v);
            model.forward(&mut st, &batch.x, Mode::Train).0.as_vec()
        };
        let (plus, minus) = (at(eps), at(-eps));
        let fd: Vec<f64> = plus
            .iter()
            .zip(&minus)
            .map(|(p, m)| (p - m) / (2.0 * eps))
            .collect();
        let err = normwise_rel_error(&tangent.as_vec(), &fd);
        eprintln!("cnn-bn train-mode seed {seed}: tangent vs FD {err:.2e} (step {eps:.1e})");
        assert!(err <= 1e-6, "seed {seed}: relative error {err:e}");
    }
}

#[test]
fn parameter_counts_and_width_knob() {
    let count = |name: &str, width: Option<usize>| {
        entry(name)
            .build::<f32>(&ArchConfig {
                width,
                ..Default::default()
            })
            .num_params()
    };
    assert_eq!(count("cnn", None), 13_706);
    assert_eq!(count("cnn-bn", None), 3_690);
    // cnn: conv 1→w (10w), conv w→2w (18w² + 2w), linear 8w→64 (512w + 64), 64→10 (650).
    let w = 8;
    assert_eq!(
        count("cnn", Some(w)),
        10 * w + 18 * w * w + 2 * w + 512 * w + 64 + 650
    );
    // cnn-bn: conv 1→w (4w), BN (2w), conv w→w (3w² + w), BN (2w), linear w→10 (10w + 10).
    assert_eq!(
        count("cnn-bn", Some(w)),
        4 * w + 2 * w + 3 * w * w + w + 2 * w + 10 * w + 10
    );
}

#[test]
fn f32_forward_agrees_with_f64() {
    let batch64 = zoo::check::digits_check_batch(8).expect("datasets/digits.csv.gz");
    let x32: Vec<f32> = batch64.x.as_vec().iter().map(|&v| v as f32).collect();
    for name in ["cnn", "cnn-bn"] {
        let (m64, m32) = (
            entry(name).build::<f64>(&ArchConfig::default()),
            entry(name).build::<f32>(&ArchConfig::default()),
        );
        let (s64, s32) = (m64.init(1), m32.init(1));
        let x = zoo::Matrix::new(8, 64, x32.clone());
        let (z64, z32) = (
            m64.logits(&s64, &batch64.x).as_vec(),
            m32.logits(&s32, &x).as_vec(),
        );
        let z32: Vec<f64> = z32.iter().map(|&v| v as f64).collect();
        let err = normwise_rel_error(&z32, &z64);
        assert!(err < 1e-5, "{name}: f32 vs f64 logits {err:e}");
    }
}
