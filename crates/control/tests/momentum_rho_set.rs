//! Controller C4 of natural-instability (spec §4, §6.9): SGD with momentum
//! 0.9, dampening 0 and coupled weight decay 5e-4 on a BatchNorm ResNet in
//! train mode; τ = lr·‖v_eff‖ with v_eff the momentum buffer this step
//! produces; the ρ-set controller lr_eff = r_target·ρa/‖v_eff‖ (the target
//! honoured); ρa by the exact JVP in the step's mode or by the paper's
//! forward difference.

use control::{Controller, Optimizer, RadiusProbe, RhoEstimator, Schedule, Sgd, StepPolicy};
use rand::{Rng, SeedableRng};
use zoo::{arch, ArchConfig, Backend, Batch, Mode, Model, Real};

/// `n` random digit-like images (1×8×8 in [0, 1], labels 0..10).
fn batch<E: Real>(n: usize, seed: u64) -> Batch<E> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x = (0..n * 64).map(|_| zoo::cast(rng.gen::<f64>())).collect();
    let labels = (0..n).map(|_| rng.gen_range(0..10)).collect();
    Batch::new(x, 64, labels, 10)
}

fn resnet8_fast() -> Model<f32> {
    arch::find("resnet8")
        .unwrap()
        .build_on::<f32>(&ArchConfig::default(), Backend::Fast)
        .unwrap()
}

/// ‖d‖ with d = g + wd·θ at the step's θ (on a copy: the running
/// statistics are the controller's to move).
fn decayed_gradient_norm(model: &Model<f32>, state: &zoo::State<f32>, data: &Batch<f32>) -> f64 {
    let g = model
        .loss_and_grad(&mut state.clone(), data, Mode::Train)
        .grad;
    g.0.iter()
        .zip(&state.params.0)
        .map(|(&g, &p)| {
            let d = g as f64 + 5e-4 * p as f64;
            d * d
        })
        .sum::<f64>()
        .sqrt()
}

fn c4() -> Sgd {
    Sgd::with_momentum(0.9).with_weight_decay(5e-4)
}

/// Every controlled step lands on r = r_target (to rounding of one f64
/// product and quotient), lr_eff = r_target·ρa/‖v_eff‖ and τ = lr_eff·‖v_eff‖
/// with v_eff the momentum buffer, not the gradient: from the second step
/// on the two differ.
#[test]
fn rho_set_makes_r_the_target_at_every_step() {
    let model = resnet8_fast();
    for &r_target in &[0.5, 1.0, 2.0, 4.0] {
        let mut state = model.init(3);
        let mut ctrl = Controller::new(
            c4(),
            StepPolicy::RhoSet { r_target },
            Schedule::constant(0.1),
        )
        .with_probe(
            RadiusProbe::on_current_batch()
                .with_estimator(RhoEstimator::StepModeJvp)
                .with_max_samples(256),
        )
        .with_mode(Mode::Train);
        for t in 0..6 {
            let data = batch::<f32>(32, 100 + t);
            let d_norm = decayed_gradient_norm(&model, &state, &data);
            let log = ctrl.step(&model, &mut state, &data);
            assert!(log.applied, "step {t}");
            assert!(
                (log.r - r_target).abs() <= 4.0 * f64::EPSILON * r_target,
                "step {t}: r = {} vs {r_target}",
                log.r
            );
            let buffer = ctrl.optimizer.moments().buffer.as_ref().unwrap();
            let v_eff = buffer.iter().map(|x| x * x).sum::<f64>().sqrt();
            let want_lr = r_target * log.rho_a / v_eff;
            assert!(
                (log.lr_eff - want_lr).abs() <= 1e-12 * want_lr,
                "step {t}: lr_eff {} vs {want_lr}",
                log.lr_eff
            );
            assert!((log.tau - log.lr_eff * v_eff).abs() <= 1e-12 * log.tau);
            if t == 0 {
                // The first buffer is d itself.
                assert!((v_eff - d_norm).abs() <= 1e-12 * d_norm);
            } else {
                // The buffer carries the earlier steps: τ is not lr·‖d‖.
                assert!(
                    (v_eff - d_norm).abs() > 1e-3 * d_norm,
                    "step {t}: |v_eff| {v_eff} vs |g + wd theta| {d_norm}"
                );
            }
            assert!(!log.probe_moved_buffers);
        }
    }
}

/// Fixed rates: τ = lr·‖v_eff‖ with the buffer included, ρa only at the
/// logged steps.
#[test]
fn fixed_rate_tau_includes_the_momentum_buffer() {
    let model = resnet8_fast();
    let mut state = model.init(1);
    let lr = 0.05;
    let mut ctrl = Controller::new(c4(), StepPolicy::Plain, Schedule::constant(lr))
        .with_probe(RadiusProbe::on_current_batch().with_estimator(RhoEstimator::StepModeJvp))
        .with_mode(Mode::Train)
        .with_rho_logging(3);
    for t in 0..7 {
        let data = batch::<f32>(16, 7 + t);
        let d_norm = decayed_gradient_norm(&model, &state, &data);
        let log = ctrl.step(&model, &mut state, &data);
        let buffer = ctrl.optimizer.moments().buffer.clone().unwrap();
        let v_eff = buffer.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((log.tau - lr * v_eff).abs() <= 1e-12 * log.tau, "step {t}");
        assert_eq!(log.lr_eff, lr);
        assert_eq!(log.rho_a.is_finite(), t % 3 == 0, "step {t}");
        if log.rho_a.is_finite() {
            assert!((log.r - log.tau / log.rho_a).abs() <= 1e-15 * log.r);
        }
        // b_t = 0.9 b_{t-1} + d_t: from the second step on τ is not lr·‖d_t‖.
        if t > 0 {
            assert!((log.tau - lr * d_norm).abs() > 1e-3 * log.tau, "step {t}");
        }
    }
}

/// The exact train-mode JVP (the step's own forward record, BatchNorm on
/// batch statistics, differentiated through them) agrees with the paper's
/// forward difference in train mode, in f64; the eval-mode JVP measures
/// another function. The forward difference moves the running statistics
/// only when asked to, and says so.
#[test]
fn step_mode_jvp_agrees_with_train_mode_forward_differences() {
    let model = arch::find("resnet8")
        .unwrap()
        .build::<f64>(&ArchConfig::default());
    let data = batch::<f64>(12, 5);
    let mut state = model.init(2);
    // A few steps so the running statistics differ from the batch's.
    let mut warm = Controller::new(c4(), StepPolicy::Plain, Schedule::constant(0.05));
    for t in 0..3 {
        warm.step(&model, &mut state, &batch::<f64>(12, 50 + t));
    }
    let mut stepped = state.clone();
    let mut out = model.loss_and_grad(&mut stepped, &data, Mode::Train);
    let direction = warm
        .optimizer
        .propose(&state.params, &out.grad, 0.05)
        .step
        .cast::<f64>();
    let probe = |e: RhoEstimator| RadiusProbe::<f64>::on_current_batch().with_estimator(e);
    let mut measure = |e: RhoEstimator, s: &mut zoo::State<f64>| {
        probe(e).measure_step(&model, s, &data, &mut out.cache, Mode::Train, &direction)
    };
    let exact = measure(RhoEstimator::StepModeJvp, &mut stepped.clone());
    let mut copy = stepped.clone();
    let fd = measure(
        RhoEstimator::ForwardDifference {
            eps: 1e-7,
            moves_running_stats: false,
        },
        &mut copy,
    );
    assert_eq!(copy.buffers, stepped.buffers);
    assert!(!fd.moved_buffers);
    assert!(
        (exact.rho_a - fd.rho_a).abs() <= 1e-5 * exact.rho_a,
        "exact {} vs FD {}",
        exact.rho_a,
        fd.rho_a
    );
    let eval = measure(RhoEstimator::EvalJvp, &mut stepped.clone());
    assert!(
        (eval.rho_a - exact.rho_a).abs() > 1e-6 * exact.rho_a,
        "eval {} vs train {}",
        eval.rho_a,
        exact.rho_a
    );
    let mut moved = stepped.clone();
    let paper = measure(RhoEstimator::PAPER_FD, &mut moved);
    assert!(paper.moved_buffers);
    assert_ne!(moved.buffers, stepped.buffers);
    assert_eq!(moved.params, stepped.params);
    assert!((paper.rho_a - exact.rho_a).abs() <= 1e-3 * exact.rho_a);
}

/// On the first `max_samples` rows of a larger batch the step-mode JVP
/// runs its own train-mode forward of those rows (batch statistics of the
/// part), equal to the whole-batch path on a batch of just those rows.
#[test]
fn step_mode_jvp_on_part_of_the_batch() {
    let model = resnet8_fast();
    let state = model.init(4);
    let data = batch::<f32>(20, 9);
    let part = data.subset(&(0..8).collect::<Vec<_>>());
    let direction = model.init(5).params;
    let mut out = model.loss_and_grad(&mut state.clone(), &data, Mode::Train);
    let on_part = RadiusProbe::on_current_batch()
        .with_estimator(RhoEstimator::StepModeJvp)
        .with_max_samples(8)
        .measure_step(
            &model,
            &mut state.clone(),
            &data,
            &mut out.cache,
            Mode::Train,
            &direction,
        );
    let mut own = model.loss_and_grad(&mut state.clone(), &part, Mode::Train);
    let whole = RadiusProbe::on_current_batch()
        .with_estimator(RhoEstimator::StepModeJvp)
        .measure_step(
            &model,
            &mut state.clone(),
            &part,
            &mut own.cache,
            Mode::Train,
            &direction,
        );
    assert!(
        (on_part.rho_a - whole.rho_a).abs() <= 1e-5 * whole.rho_a,
        "{} vs {}",
        on_part.rho_a,
        whole.rho_a
    );
}

/// The paper's forward difference through the controller: the log says the
/// running statistics moved; a refused step would restore them.
#[test]
fn controller_reports_running_statistics_moved_by_the_paper_estimator() {
    let model = resnet8_fast();
    let mut state = model.init(6);
    let mut ctrl = Controller::new(
        c4(),
        StepPolicy::RhoSet { r_target: 1.0 },
        Schedule::constant(0.1),
    )
    .with_probe(RadiusProbe::on_current_batch().with_estimator(RhoEstimator::PAPER_FD))
    .with_mode(Mode::Train);
    let log = ctrl.step(&model, &mut state, &batch::<f32>(16, 3));
    assert!(log.applied && log.probe_moved_buffers);
    assert!((log.r - 1.0).abs() <= 4.0 * f64::EPSILON);
}
