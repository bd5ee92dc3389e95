//! The backend is chosen once, when a model is built: what the fast backend
//! refuses (with the layer named) and what it adapts (a convolution feeding
//! a Linear without pooling), checked against dfdx.

use rand::{Rng, SeedableRng};
use zoo::layers::{Conv, LayerNorm, Linear, Relu};
use zoo::{Backend, Batch, Layer, Mode, Model, ParamVec};

/// Conv1d → ReLU → Linear: the convolution leaves padded sequences and the
/// Linear reads rows, so the fast model inserts a conversion.
fn conv_then_linear() -> Model<f32> {
    let layers: Vec<Box<dyn Layer<f32>>> = vec![
        Box::new(Conv::new_1d(1, 4, 64, 3)),
        Box::new(Relu),
        Box::new(Linear::new(4 * 64, 10)),
    ];
    Model::new("conv-linear", 64, 10, layers)
}

fn batch(n: usize) -> Batch<f32> {
    let digits = data::load_default_digits().expect("datasets/digits.csv.gz");
    let idx: Vec<usize> = (0..n).map(|i| (i * 53) % digits.len()).collect();
    Batch::from_digits(&digits, &idx)
}

fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-30);
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

#[test]
fn a_convolution_feeding_a_linear_runs_fast_and_matches_dfdx() {
    let reference = conv_then_linear();
    let fast = conv_then_linear()
        .with_backend(Backend::Fast)
        .expect("the fast model converts padded sequences to rows");
    assert_eq!(fast.backend(), Backend::Fast);
    let batch = batch(20);
    let state = reference.init(4);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let v = ParamVec(
        (0..reference.num_params())
            .map(|_| rng.gen_range(-1.0f32..1.0))
            .collect(),
    );
    for mode in [Mode::Train, Mode::Eval] {
        let (mut s_ref, mut s_fast) = (state.clone(), state.clone());
        let mut a = reference.loss_and_grad(&mut s_ref, &batch, mode);
        let mut b = fast.loss_and_grad(&mut s_fast, &batch, mode);
        assert!((a.loss - b.loss).abs() < 1e-5 * a.loss, "{mode:?} loss");
        assert!(rel_err(&b.grad.0, &a.grad.0) < 1e-4, "{mode:?} gradient");
        assert!(
            rel_err(&b.logits.data, &a.logits.data) < 1e-5,
            "{mode:?} logits"
        );
        let ta = reference.tangent(&state, &mut a.cache, &v, mode);
        let tb = fast.tangent(&state, &mut b.cache, &v, mode);
        assert!(rel_err(&tb.data, &ta.data) < 1e-4, "{mode:?} tangent");
    }
}

#[test]
fn the_fast_backend_is_refused_at_build_with_the_layer_named() {
    // f64 models run on dfdx only.
    let f64_model = zoo::arch::find("mlp")
        .unwrap()
        .build::<f64>(&Default::default());
    let err = f64_model
        .with_backend(Backend::Fast)
        .err()
        .expect("f64 is refused");
    assert!(format!("{err}").contains("f32 only"), "{err}");
    // A layer that cannot read its input's form is named.
    let layers: Vec<Box<dyn Layer<f32>>> =
        vec![Box::new(Linear::new(64, 32)), Box::new(LayerNorm::new(16))];
    let err = Model::new("mismatch", 64, 16, layers)
        .with_backend(Backend::Fast)
        .err()
        .expect("a 16-wide LayerNorm cannot read rows of 32");
    let msg = format!("{err}");
    assert!(
        msg.contains("layer 1") && msg.contains("layernorm"),
        "{msg}"
    );
    assert!(conv_then_linear().check_fast_path().is_ok());
}

/// `forward_logits` (no cache, for finite differences) is `forward`
/// without the record: the same logits and the same moved buffers, bit for
/// bit, on every registered architecture with a fast path, in both modes.
#[test]
fn forward_logits_is_forward_without_its_cache() {
    for entry in zoo::registry() {
        // Four images keep ResNet-18 cheap; BatchNorm needs more than one.
        let batch: Batch<f32> = zoo::check::check_batch(&entry, 4).unwrap().cast();
        // On dfdx `forward_logits` is `forward` itself.
        let Ok(model) = entry.build_on::<f32>(&Default::default(), Backend::Fast) else {
            continue;
        };
        {
            for mode in [Mode::Eval, Mode::Train] {
                let state = model.init(3);
                let (mut a, mut b) = (state.clone(), state.clone());
                let za = model.forward(&mut a, &batch.x, mode).0;
                let zb = model.forward_logits(&mut b, &batch.x, mode);
                let what = format!("{} {:?} {mode:?}", entry.name, model.backend());
                assert_eq!(za.data, zb.data, "{what}: logits");
                assert_eq!(a.buffers, b.buffers, "{what}: buffers");
                if mode == Mode::Train && !state.buffers.is_empty() {
                    assert_ne!(b.buffers, state.buffers, "{what}: running statistics moved");
                }
            }
        }
    }
}
