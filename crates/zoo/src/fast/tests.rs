//! The fast path against the dfdx reference, model by model.

use crate::{arch, ArchConfig, Backend, Batch, Mode, Model, ParamVec};
use rand::{Rng, SeedableRng};

/// Largest |a − b| relative to the largest |b| (∞-norm relative error).
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-30);
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn digits_batch(_model: &Model<f32>, rows: usize) -> Batch<f32> {
    let digits = data::load_default_digits().expect("digits");
    let idx: Vec<usize> = (0..rows).map(|i| (i * 37) % digits.len()).collect();
    Batch::from_digits(&digits, &idx)
}

/// Loss, gradient, logits, running statistics and the tangent along a
/// random direction agree with dfdx in `mode` (after a few Adam-free random
/// perturbations of θ so no parameter sits at its initial symmetry).
pub(crate) fn check_against_dfdx(name: &str, mode: Mode) {
    let cfg = ArchConfig::default();
    let build = || arch::find(name).unwrap().build::<f32>(&cfg);
    check_models(name, build, mode);
}

/// [`check_against_dfdx`] for a model built by `build` (twice: one copy
/// switched to the fast backend).
pub(crate) fn check_models(name: &str, build: impl Fn() -> Model<f32>, mode: Mode) {
    let reference = build();
    let fast = build().with_backend(Backend::Fast).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut state = reference.init(3);
    for v in state.params.0.iter_mut() {
        *v += 0.05 * rng.gen_range(-1.0f32..1.0);
    }
    let batch = digits_batch(&reference, 45);
    let direction = ParamVec(
        (0..reference.num_params())
            .map(|_| rng.gen_range(-1.0f32..1.0))
            .collect(),
    );

    let (mut s_ref, mut s_fast) = (state.clone(), state.clone());
    let out_ref = reference.loss_and_grad(&mut s_ref, &batch, mode);
    let out_fast = fast.loss_and_grad(&mut s_fast, &batch, mode);
    assert!(
        (out_ref.loss - out_fast.loss).abs() < 1e-5 * out_ref.loss.abs().max(1.0),
        "{name} {mode:?}: loss {} vs {}",
        out_ref.loss,
        out_fast.loss
    );
    let e = rel_err(&out_fast.grad.0, &out_ref.grad.0);
    assert!(e < 2e-4, "{name} {mode:?}: gradient relative error {e}");
    let e = rel_err(&out_fast.logits.as_vec(), &out_ref.logits.as_vec());
    assert!(e < 1e-5, "{name} {mode:?}: logits relative error {e}");
    if !s_ref.buffers.is_empty() {
        let e = rel_err(&s_fast.buffers, &s_ref.buffers);
        assert!(
            e < 1e-5,
            "{name} {mode:?}: running statistics relative error {e}"
        );
    }
    // Tangent over the step's own forward (the controller's cached path).
    let (mut c_ref, mut c_fast) = (out_ref.cache, out_fast.cache);
    let a_ref = reference.tangent(&state, &mut c_ref, &direction, mode);
    let a_fast = fast.tangent(&state, &mut c_fast, &direction, mode);
    let e = rel_err(&a_fast.as_vec(), &a_ref.as_vec());
    assert!(e < 2e-4, "{name} {mode:?}: tangent relative error {e}");
    // And the eval-mode JVP (a fresh forward).
    let j_ref = reference.jvp(&state, &batch.x, &direction);
    let j_fast = fast.jvp(&state, &batch.x, &direction);
    let e = rel_err(&j_fast.slopes.as_vec(), &j_ref.slopes.as_vec());
    assert!(e < 2e-4, "{name}: eval JVP relative error {e}");
}

/// Architectures whose every layer has a fast path (kept in sync with the
/// layers: a layer gaining or losing its fast path shows up here).
const FAST: &[&str] = &[
    "linear",
    "mlp",
    "mlp-relu",
    "mlp-ln",
    "mlp-ln-64x3",
    "transformer-single",
    "cnn",
    "cnn-bn",
];

#[test]
fn the_expected_architectures_have_a_fast_path() {
    let have: Vec<&str> = arch::registry()
        .into_iter()
        .filter(|e| e.build::<f32>(&ArchConfig::default()).has_fast_path())
        .map(|e| e.name)
        .collect();
    assert_eq!(have, FAST);
}

#[test]
fn every_fast_architecture_matches_dfdx_in_train_and_eval_mode() {
    for name in FAST {
        check_against_dfdx(name, Mode::Train);
        check_against_dfdx(name, Mode::Eval);
    }
}

#[test]
fn the_fast_backend_is_refused_in_f64_and_for_layers_without_one() {
    let f64_model = arch::find("linear")
        .unwrap()
        .build::<f64>(&ArchConfig::default());
    let err = f64_model
        .with_backend(Backend::Fast)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("f32 only"), "{err}");
    let slow = arch::find("tiny-transformer")
        .unwrap()
        .build::<f32>(&ArchConfig::default());
    let err = slow.with_backend(Backend::Fast).err().unwrap().to_string();
    assert!(err.contains("has no fast path"), "{err}");
}

#[test]
fn tempered_ce_matches_dfdx_and_a_nan_logit_gives_a_nan_loss() {
    let model = arch::find("linear").unwrap().build::<f32>(&ArchConfig {
        temperature: Some(2.5),
        ..Default::default()
    });
    let batch = digits_batch(&model, 9);
    let state = model.init(1);
    let logits = model.logits(&state, &batch.x);
    let z = super::Mat::new(9, 10, logits.as_vec());
    let (loss, _) = super::tempered_ce_and_grad(&z, &batch.labels, 2.5);
    assert!((loss - model.loss_of_logits(&logits, &batch)).abs() < 1e-6);
    let mut bad = z.clone();
    bad.data[13] = f32::NAN;
    assert!(super::tempered_ce_and_grad(&bad, &batch.labels, 1.0)
        .0
        .is_nan());
}

#[test]
fn logits_on_a_line_match_logits_at_each_moved_theta() {
    for name in ["mlp", "mlp-ln-64x3"] {
        let entry = arch::find(name).unwrap();
        let reference = entry.build::<f32>(&ArchConfig::default());
        let fast = entry
            .build::<f32>(&ArchConfig::default())
            .with_backend(Backend::Fast)
            .unwrap();
        let state = reference.init(5);
        let batch = digits_batch(&reference, 30);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let v = ParamVec(
            (0..reference.num_params())
                .map(|_| rng.gen_range(-0.1f32..0.1))
                .collect(),
        );
        let taus = [0.0, 1e-3, 0.5, 3.0];
        let line = fast.logits_on_line(&state, &batch.x, &v, &taus);
        let slow = reference.logits_on_line(&state, &batch.x, &v, &taus);
        assert_eq!(line.len(), taus.len());
        for (a, b) in line.iter().zip(&slow) {
            let e = rel_err(&a.as_vec(), &b.as_vec());
            assert!(e < 1e-5, "{name}: logits on the line, relative error {e}");
        }
    }
}

/// The probes of a cached tangent pass (after a training-mode or eval-mode
/// step) agree with dfdx's: same kinds, layer names and shapes, the same
/// entries infinite (windows without a competitor), the finite values and
/// tangents equal to f32 rounding.
pub(crate) fn check_probes(name: &str, build: impl Fn() -> Model<f32>, mode: Mode) {
    let reference = build();
    let fast = build().with_backend(Backend::Fast).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut state = reference.init(4);
    for v in state.params.0.iter_mut() {
        *v += 0.05 * rng.gen_range(-1.0f32..1.0);
    }
    let batch = digits_batch(&reference, 40);
    let direction = ParamVec(
        (0..reference.num_params())
            .map(|_| rng.gen_range(-1.0f32..1.0))
            .collect(),
    );
    let (mut s_ref, mut s_fast) = (state.clone(), state.clone());
    let mut c_ref = reference.loss_and_grad(&mut s_ref, &batch, mode).cache;
    let mut c_fast = fast.loss_and_grad(&mut s_fast, &batch, mode).cache;
    let (_, p_ref) = reference.tangent_probed(&state, &mut c_ref, &direction, mode);
    let (_, p_fast) = fast.tangent_probed(&state, &mut c_fast, &direction, mode);
    assert!(!p_ref.is_empty(), "{name}: the dfdx path reports probes");
    assert_eq!(
        p_fast.len(),
        p_ref.len(),
        "{name} {mode:?}: number of probes"
    );
    for (f, r) in p_fast.iter().zip(&p_ref) {
        let what = format!("{name} {mode:?} probe {}", r.layer);
        assert_eq!((f.kind, &f.layer), (r.kind, &r.layer), "{what}");
        assert_eq!(f.value.shape(), r.value.shape(), "{what}: shape");
        assert_eq!(f.tangent.shape(), r.tangent.shape(), "{what}: shape");
        let infinite = |m: &crate::Matrix<f32>| -> Vec<bool> {
            m.as_slice().iter().map(|v| v.is_infinite()).collect()
        };
        assert_eq!(
            infinite(&f.value),
            infinite(&r.value),
            "{what}: infinite gaps"
        );
        let finite = |m: &crate::Matrix<f32>| -> Vec<f32> {
            m.as_slice()
                .iter()
                .map(|&v| if v.is_finite() { v } else { 0.0 })
                .collect()
        };
        let e = rel_err(&finite(&f.value), &finite(&r.value));
        assert!(e < 1e-4, "{what}: values, relative error {e}");
        let e = rel_err(&f.tangent.as_vec(), &r.tangent.as_vec());
        assert!(e < 2e-4, "{what}: tangents, relative error {e}");
    }
}

#[test]
fn cnn_max_pool_kink_probes_match_dfdx() {
    let build = || {
        arch::find("cnn")
            .unwrap()
            .build::<f32>(&ArchConfig::default())
    };
    for mode in [Mode::Train, Mode::Eval] {
        check_probes("cnn", build, mode);
    }
}

#[test]
fn relu_kink_probes_match_dfdx() {
    for name in ["mlp-relu", "cnn-bn"] {
        let build = || {
            arch::find(name)
                .unwrap()
                .build::<f32>(&ArchConfig::default())
        };
        for mode in [Mode::Train, Mode::Eval] {
            check_probes(name, build, mode);
        }
    }
}
