//! The directional curvature vᵀHv (central differences of exact f64
//! gradients) against the analytic softmax Hessian of the linear model, and
//! its symmetries on a GELU MLP.

use zoo::curvature::{cast_state, directional_curvature, DEFAULT_EPS};
use zoo::{ArchConfig, Batch, Mode, ParamVec};

fn digits_batch(n: usize) -> Batch<f64> {
    zoo::check::digits_check_batch(n).expect("datasets/digits.csv.gz")
}

/// mean_i Var_{p_i}(a_i) / T²: for a model whose logits are affine in θ,
/// the Hessian of the mean tempered CE along v is exactly
/// mean_i aᵢᵀ(diag pᵢ − pᵢpᵢᵀ)aᵢ / T² with a = J_z v and p = softmax(z/T).
fn analytic_linear_curvature(z: &[f64], a: &[f64], k: usize, t: f64) -> f64 {
    let n = z.len() / k;
    let mut total = 0.0;
    for i in 0..n {
        let (zr, ar) = (&z[i * k..(i + 1) * k], &a[i * k..(i + 1) * k]);
        let m = zr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = zr.iter().map(|v| ((v - m) / t).exp()).collect();
        let s: f64 = e.iter().sum();
        let mean: f64 = e.iter().zip(ar).map(|(p, a)| p / s * a).sum();
        let second: f64 = e.iter().zip(ar).map(|(p, a)| p / s * a * a).sum();
        total += second - mean * mean;
    }
    total / (n as f64 * t * t)
}

#[test]
fn linear_model_matches_the_analytic_softmax_hessian() {
    let batch = digits_batch(64);
    let entry = zoo::arch::find("linear").unwrap();
    for temperature in [1.0, 2.5] {
        let model = entry.build::<f64>(&ArchConfig {
            temperature: Some(temperature),
            ..Default::default()
        });
        let mut state = model.init(3);
        // A few descent steps so that p is far from uniform.
        for _ in 0..20 {
            let g = model.loss_and_grad(&mut state, &batch, Mode::Eval).grad;
            state.params.axpy(-0.5, &g);
        }
        for seed in [1u64, 2, 3] {
            let v = ParamVec::<f64>::random_unit(model.num_params(), seed);
            let jvp = model.jvp(&state, &batch.x, &v);
            let exact = analytic_linear_curvature(
                &jvp.logits.as_vec(),
                &jvp.slopes.as_vec(),
                model.classes,
                temperature,
            );
            let fd = directional_curvature(&model, &state, &batch, &v, DEFAULT_EPS);
            let rel = (fd - exact).abs() / exact.abs();
            eprintln!(
                "T={temperature} seed {seed}: vHv {fd:.10e} analytic {exact:.10e} rel {rel:.1e}"
            );
            assert!(exact > 0.0);
            assert!(rel <= 1e-7, "T={temperature} seed {seed}: {fd} vs {exact}");
        }
    }
}

#[test]
fn gelu_mlp_curvature_is_even_and_quadratic_in_v() {
    let batch = digits_batch(48);
    let model = zoo::arch::find("mlp")
        .unwrap()
        .build::<f64>(&ArchConfig::default());
    let state = model.init(11);
    let v = ParamVec::<f64>::random_unit(model.num_params(), 5);
    let k = directional_curvature(&model, &state, &batch, &v, DEFAULT_EPS);
    assert!(k.is_finite() && k != 0.0, "{k}");

    let mut minus = v.clone();
    minus.scale(-1.0);
    let k_minus = directional_curvature(&model, &state, &batch, &minus, DEFAULT_EPS);
    assert!((k_minus - k).abs() <= 1e-12 * k.abs(), "{k_minus} vs {k}");

    for c in [0.25, 3.0] {
        let mut scaled = v.clone();
        scaled.scale(c);
        let kc = directional_curvature(&model, &state, &batch, &scaled, DEFAULT_EPS);
        let rel = (kc - c * c * k).abs() / (c * c * k).abs();
        assert!(
            rel <= 1e-6,
            "c = {c}: {kc} vs {} (rel {rel:.1e})",
            c * c * k
        );
    }

    // Independent check: second differences of the loss itself,
    // (L(θ+hv) − 2L(θ) + L(θ−hv))/h². Its rounding error, ~4·1e-16·L/h²,
    // and its truncation, O(h²), balance near h = 1e-2 (κ is small here, ~4e-5).
    let loss_at = |s: f64| {
        let mut moved = state.clone();
        moved.params.axpy(s, &v);
        model.loss(&moved, &batch)
    };
    for h in [1e-2, 3e-3] {
        let second = (loss_at(h) - 2.0 * loss_at(0.0) + loss_at(-h)) / (h * h);
        let rel = (second - k).abs() / k.abs();
        eprintln!("h = {h}: loss second difference {second:.10e} vs {k:.10e} (rel {rel:.1e})");
        assert!(rel <= 1e-5, "h = {h}: {second} vs {k} (rel {rel:.1e})");
    }
}

#[test]
fn casts_round_trip_states_and_batches() {
    let model = zoo::arch::find("linear")
        .unwrap()
        .build::<f32>(&ArchConfig::default());
    let state = model.init(2);
    let s64 = cast_state::<f32, f64>(&state);
    assert_eq!(cast_state::<f64, f32>(&s64), state);
    let batch: Batch<f64> = digits_batch(8);
    let b32: Batch<f32> = batch.cast();
    assert_eq!(b32.labels, batch.labels);
    let back: Batch<f64> = b32.cast();
    assert_eq!(back.x.as_vec().len(), batch.x.as_vec().len());
    assert_eq!(
        (back.labels.clone(), back.classes),
        (batch.labels.clone(), batch.classes)
    );
}
