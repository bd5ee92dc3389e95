//! The controller on real zoo models: the ρ-cap bound, moments under a
//! scaled step, bit-identity with plain when nothing is capped, ρ-set
//! exactness, clipping, divergence.

use control::{
    Adam, AnyOptimizer, Controller, Optimizer, OptimizerConfig, RadiusProbe, Schedule, Sgd,
    StepPolicy,
};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rand::{Rng, SeedableRng};
use zoo::{arch, ArchConfig, Batch, Mode, Model, ParamVec, Real, State};

fn model<E: Real>(name: &str) -> Model<E> {
    arch::find(name).unwrap().build::<E>(&ArchConfig::default())
}

/// `n` random digit-like samples (64 features in [0, 1], labels 0..10).
fn batch<E: Real>(_model: &Model<E>, n: usize, seed: u64) -> Batch<E> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x = (0..n * 64).map(|_| zoo::cast(rng.gen::<f64>())).collect();
    let labels = (0..n).map(|_| rng.gen_range(0..10)).collect();
    Batch::new(x, 64, labels, 10)
}

fn optimizer(kind: usize, n: usize) -> AnyOptimizer {
    let cfg = match kind {
        0 => OptimizerConfig::Sgd {
            momentum: 0.0,
            weight_decay: 0.0,
        },
        1 => OptimizerConfig::Sgd {
            momentum: 0.9,
            weight_decay: 1e-4,
        },
        _ => OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: control::WeightDecay::None,
        },
    };
    cfg.build(n)
}

/// The gradient the controller will see at `state` (models without buffers).
fn grad_at(model: &Model<f64>, state: &State<f64>, batch: &Batch<f64>) -> ParamVec<f64> {
    model
        .loss_and_grad(&mut state.clone(), batch, Mode::Train)
        .grad
}

fn bits<E: Real>(p: &ParamVec<E>) -> Vec<u64> {
    p.0.iter().map(|x| x.to_f64().unwrap().to_bits()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: RngSeed::Fixed(20260501),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Spec test 1: after ρ-cap, ‖s·p‖ ≤ r_target·ρa(v)·(1 + 1e-12), for the
    /// step a real optimiser proposes (re-measured independently by the
    /// eval-mode JVP) and for arbitrary directions and sizes.
    #[test]
    fn rho_cap_never_exceeds_the_target(
        arch_index in 0usize..2,
        kind in 0usize..3,
        seed in 0u64..1000,
        log10_lr in -6.0f64..4.0,
        r_target in 0.1f64..4.0,
        log10_size in -8.0f64..6.0,
    ) {
        let model = model::<f64>(["linear", "mlp-relu"][arch_index]);
        let state0 = model.init(seed);
        let data = batch(&model, 8, seed + 1);
        let lr = 10f64.powf(log10_lr);

        // (a) Through the controller, two steps so momentum and moments are live.
        let mut ctrl = Controller::new(
            optimizer(kind, model.num_params()),
            StepPolicy::RhoCap { r_target },
            Schedule::constant(lr),
        );
        let mut state = state0.clone();
        ctrl.step(&model, &mut state, &data);
        let before = state.clone();
        let proposal = ctrl.optimizer.propose(&state.params, &grad_at(&model, &state, &data), lr);
        let log = ctrl.step(&model, &mut state, &data);
        prop_assert!(log.applied);
        prop_assert!(log.scale <= 1.0);
        let mut applied = proposal.step.clone();
        applied.scale(log.scale);
        let probe = RadiusProbe::on_current_batch();
        let rho = probe.measure(&model, &before, &data, &proposal.step).rho_a;
        prop_assert!(applied.norm() <= r_target * rho * (1.0 + 1e-12),
            "tau {} > {} rho_a {}", applied.norm(), r_target, rho);
        prop_assert!(log.r <= r_target * (1.0 + 1e-12), "r = {}", log.r);

        // (b) Any direction, any size.
        let mut p = ParamVec::<f64>::random_unit(model.num_params(), seed + 2);
        p.scale(10f64.powf(log10_size));
        let rho = probe.measure(&model, &state0, &data, &p).rho_a;
        let s = control::rho_cap_scale(p.norm(), rho, r_target);
        let mut q = p.clone();
        q.scale(s);
        prop_assert!(q.norm() <= r_target * rho * (1.0 + 1e-12));
    }
}

/// Spec test 2: the moments after a scaled step are those of the true
/// gradient: equal, bit for bit, to a hand-written Adam and to a second
/// `Adam` applied at scale 1 with the same gradients.
#[test]
fn adam_moments_ignore_the_scale() {
    let model = model::<f64>("mlp-relu");
    let data = batch(&model, 16, 3);
    for &s in &[0.1, 1.0] {
        let mut state = model.init(1);
        let mut adam = Adam::new(model.num_params());
        let mut twin = Adam::new(model.num_params());
        let mut twin_params = state.params.clone();
        let n = model.num_params();
        let (mut m, mut v) = (vec![0.0f64; n], vec![0.0f64; n]);
        for t in 1..=5 {
            let g = grad_at(&model, &state, &data);
            let before = state.params.clone();
            let p = adam.propose(&state.params, &g, 0.01);
            adam.apply(&mut state.params, p, s);
            let q = twin.propose(&twin_params, &g, 0.01);
            twin.apply(&mut twin_params, q, 1.0);
            let (c1, c2) = (1.0 - 0.9f64.powi(t), 1.0 - 0.999f64.powi(t));
            for i in 0..n {
                let gi = g.0[i];
                m[i] = 0.9 * m[i] + (1.0 - 0.9) * gi;
                v[i] = 0.999 * v[i] + (1.0 - 0.999) * gi * gi;
                let u = (m[i] / c1) / ((v[i] / c2).sqrt() + 1e-8);
                let expect = before.0[i] - s * 0.01 * u;
                assert!(
                    (state.params.0[i] - expect).abs() <= 1e-15,
                    "s {s} t {t} i {i}"
                );
            }
            assert_eq!(adam.moments().m, m, "s {s} t {t}");
            assert_eq!(adam.moments().v, v, "s {s} t {t}");
            assert_eq!(adam.moments(), twin.moments());
            assert_eq!(adam.steps(), t as u64);
        }
        assert_eq!(s == 1.0, state.params == twin_params);
    }
}

/// Spec test 2, through the controller: a ρ-capped Adam run (s < 1) keeps
/// the moments of its true gradients.
#[test]
fn capped_controller_commits_true_gradient_moments() {
    let model = model::<f64>("linear");
    let data = batch(&model, 16, 4);
    let mut state = model.init(2);
    let mut ctrl = Controller::new(
        Adam::new(model.num_params()),
        StepPolicy::rho_cap(),
        Schedule::constant(100.0),
    );
    let mut reference = Adam::new(model.num_params());
    for _ in 0..4 {
        let g = grad_at(&model, &state, &data);
        let p = reference.propose(&state.params, &g, 1.0);
        reference.commit(p.moments);
        let log = ctrl.step(&model, &mut state, &data);
        assert!(log.capped(), "scale {}", log.scale);
        assert_eq!(ctrl.optimizer.moments(), reference.moments());
    }
}

/// Spec test 3: no spike, every step well inside the radius: the ρ-cap
/// trajectory is bit-identical to plain (f32, as training runs).
#[test]
fn rho_cap_inside_the_radius_is_bit_identical_to_plain() {
    let model = model::<f32>("mlp-relu");
    let data = batch(&model, 32, 5);
    let run = |policy| {
        let mut state = model.init(0);
        let mut ctrl = Controller::new(
            Adam::new(model.num_params()),
            policy,
            Schedule::constant(1e-4),
        );
        let logs: Vec<_> = (0..20)
            .map(|_| ctrl.step(&model, &mut state, &data))
            .collect();
        (state, logs)
    };
    let (plain, plain_logs) = run(StepPolicy::Plain);
    let (capped, capped_logs) = run(StepPolicy::rho_cap());
    assert!(capped_logs.iter().all(|l| l.scale == 1.0 && l.r < 0.5));
    assert_eq!(bits(&plain.params), bits(&capped.params));
    for (a, b) in plain_logs.iter().zip(&capped_logs) {
        assert_eq!(a.loss.to_bits(), b.loss.to_bits());
        assert_eq!(a.tau.to_bits(), b.tau.to_bits());
    }
}

/// Spec test 6: ρ-set steps exactly τ = r_target·ρa (ρa re-measured by the
/// eval-mode JVP at the proposing θ), for SGD, momentum and Adam.
#[test]
fn rho_set_steps_exactly_on_the_target() {
    let model = model::<f64>("mlp-relu");
    let data = batch(&model, 16, 6);
    for kind in 0..3 {
        for &r_target in &[0.5, 1.0] {
            let mut state = model.init(kind as u64);
            let mut ctrl = Controller::new(
                optimizer(kind, model.num_params()),
                StepPolicy::RhoSet { r_target },
                Schedule::constant(1e-3),
            );
            for _ in 0..3 {
                let before = state.clone();
                let p =
                    ctrl.optimizer
                        .propose(&state.params, &grad_at(&model, &state, &data), 1e-3);
                let rho = RadiusProbe::on_current_batch()
                    .measure(&model, &before, &data, &p.step)
                    .rho_a;
                let log = ctrl.step(&model, &mut state, &data);
                let target = r_target * log.rho_a;
                assert!(
                    (log.tau - target).abs() <= 1e-12 * target,
                    "{} vs {target}",
                    log.tau
                );
                assert!(
                    (log.rho_a - rho).abs() <= 1e-12 * rho,
                    "{} vs {rho}",
                    log.rho_a
                );
                assert!((log.r - r_target).abs() <= 1e-12);
                let mut moved = state.params.clone();
                moved.axpy(-1.0, &before.params);
                assert!((moved.norm() - log.tau).abs() <= 1e-9 * log.tau);
            }
        }
    }
}

/// Spec test 7: clipping hands the optimiser a gradient of norm ≤ max_norm
/// (SGD: τ = lr·‖g_clipped‖), while the log keeps the raw norm.
#[test]
fn clip_grad_limits_the_gradient_norm() {
    let model = model::<f64>("linear");
    let data = batch(&model, 16, 7);
    let mut state = model.init(3);
    let raw = grad_at(&model, &state, &data).norm();
    let max_norm = raw / 10.0;
    let mut ctrl = Controller::new(
        Sgd::new(),
        StepPolicy::ClipGrad { max_norm },
        Schedule::constant(0.5),
    );
    let log = ctrl.step(&model, &mut state, &data);
    assert_eq!(log.grad_norm, raw);
    assert_eq!(log.scale, 1.0);
    assert!(log.tau <= 0.5 * max_norm * (1.0 + 1e-12));
    assert!(log.tau >= 0.5 * max_norm * (1.0 - 1e-5));
}

/// Spec test 8: a NaN loss neither panics nor moves anything: θ, buffers
/// (BatchNorm running statistics) and the optimiser stay as they were. The
/// NaN comes from an input (it propagates through the linear model; dfdx's
/// ReLU maps NaN to 0, so not through CNN+BN) or from the last bias.
#[test]
fn nan_loss_leaves_everything_unchanged() {
    for (name, nan_input) in [("linear", true), ("linear", false), ("cnn-bn", false)] {
        let model = model::<f32>(name);
        let mut data = batch(&model, 4, 8);
        let mut state = model.init(0);
        if nan_input {
            let mut x = data.x.as_vec();
            x[5] = f32::NAN;
            data = Batch::new(x, 64, data.labels.clone(), 10);
        } else {
            let last = state.params.len() - 1;
            state.params.0[last] = f32::NAN;
        }
        let before = state.clone();
        for policy in [
            StepPolicy::Plain,
            StepPolicy::rho_cap(),
            StepPolicy::GradNormCap,
        ] {
            let mut ctrl = Controller::new(
                Adam::new(model.num_params()),
                policy,
                Schedule::constant(1e-3),
            )
            .with_rho_logging(1);
            let log = ctrl.step(&model, &mut state, &data);
            assert!(log.loss.is_nan(), "{name}");
            assert!(log.diverged() && !log.applied);
            assert_eq!((log.tau, log.scale), (0.0, 0.0));
            assert_eq!(ctrl.optimizer.steps(), 0);
            assert_eq!(ctrl.next_step(), 1);
            assert_eq!(bits(&state.params), bits(&before.params), "{name}");
            assert_eq!(
                bits(&ParamVec(state.buffers.clone())),
                bits(&ParamVec(before.buffers.clone())),
                "{name}"
            );
        }
    }
}

/// A finite loss with a non-finite gradient is refused the same way.
#[test]
fn nan_gradient_is_refused() {
    let model = model::<f64>("linear");
    let data = batch(&model, 4, 9);
    let mut state = model.init(0);
    let before = state.clone();
    let mut out = model.loss_and_grad(&mut state.clone(), &data, Mode::Train);
    out.grad.0[3] = f64::INFINITY;
    let mut ctrl = Controller::new(
        Sgd::with_momentum(0.9),
        StepPolicy::Plain,
        Schedule::constant(0.1),
    );
    let log = ctrl.step_with_output(&model, &mut state, &data, out);
    assert!(log.loss.is_finite() && log.diverged() && !log.applied);
    assert_eq!(state, before);
    assert!(ctrl.optimizer.moments().buffer.is_none());
}

/// The step's own forward record gives the same ρa as a fresh eval-mode
/// JVP for models without BatchNorm (the cheap path the controller takes).
#[test]
fn reusing_the_step_forward_matches_the_eval_jvp() {
    for name in ["mlp", "mlp-ln-64x3", "transformer-single"] {
        let model = model::<f64>(name);
        let data = batch(&model, 8, 10);
        let state = model.init(4);
        let mut out = model.loss_and_grad(&mut state.clone(), &data, Mode::Train);
        let probe = RadiusProbe::on_current_batch();
        assert!(probe.can_reuse_step_forward(&state, Mode::Train));
        let fresh = probe.measure(&model, &state, &data, &out.grad);
        let reused = probe.measure_reusing(&model, &state, &mut out.cache, Mode::Train, &out.grad);
        assert!(
            (fresh.rho_a - reused.rho_a).abs() <= 1e-12 * fresh.rho_a,
            "{name}"
        );
        assert_eq!(fresh.bottleneck, reused.bottleneck);
    }
    let bn = model::<f64>("cnn-bn");
    assert!(!RadiusProbe::on_current_batch().can_reuse_step_forward(&bn.init(0), Mode::Train));
}

/// Plain runs can still record ρa, at the requested cadence; the gradient-
/// norm controller caps lr·‖g‖ at ρa along −g but not Adam's own step.
#[test]
fn rho_logging_cadence_and_gradient_norm_controller() {
    let model = model::<f64>("linear");
    let data = batch(&model, 16, 11);
    let mut state = model.init(5);
    let mut plain = Controller::new(
        Adam::new(model.num_params()),
        StepPolicy::Plain,
        Schedule::constant(1e-3),
    )
    .with_rho_logging(2);
    let logs: Vec<_> = (0..4)
        .map(|_| plain.step(&model, &mut state, &data))
        .collect();
    for l in &logs {
        assert_eq!(l.rho_a.is_finite(), l.step % 2 == 0, "step {}", l.step);
        assert!(l.rho_a_grad.is_nan());
    }
    assert!((logs[0].r - logs[0].tau / logs[0].rho_a).abs() < 1e-15);

    let fixed = RadiusProbe::on_inputs(data.x.clone());
    let mut c5 = Controller::new(
        Adam::new(model.num_params()),
        StepPolicy::GradNormCap,
        Schedule::constant(100.0),
    )
    .with_probe(fixed);
    let log = c5.step(&model, &mut state, &data);
    assert!(log.capped());
    assert!(log.rho_a.is_nan());
    let capped_raw = log.lr_eff * log.grad_norm;
    assert!((capped_raw - log.rho_a_grad).abs() <= 1e-12 * log.rho_a_grad);
}
