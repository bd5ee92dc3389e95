//! Tests of `hessian-stages`: κ against the analytic softmax Hessian and an
//! independent second difference of the loss, the stage rule, the
//! statistics, determinism, the frame round trip, the value checks, and the
//! quick config end to end.

use super::summary::{onset, pointwise_median};
use super::*;
use crate::config::Validate;
use crate::Experiment;

/// The quick settings, smaller still.
fn tiny() -> HessianStagesConfig {
    let mut cfg: HessianStagesConfig = crate::config::built_in(HessianStages::ID, true).unwrap();
    cfg.eval_samples = 48;
    cfg.max_steps = 30;
    cfg.random_directions = 3;
    cfg.r_points = 6;
    cfg
}

/// mean_i aᵢᵀ(diag pᵢ − pᵢpᵢᵀ)aᵢ: the exact vᵀHv of the mean CE of a model
/// whose logits are affine in θ (z(θ + tv) = z + t·a).
fn analytic_affine_kappa(z: &[f64], a: &[f64], k: usize) -> f64 {
    let n = z.len() / k;
    let mut total = 0.0;
    for i in 0..n {
        let (zr, ar) = (&z[i * k..(i + 1) * k], &a[i * k..(i + 1) * k]);
        let m = zr.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = zr.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        let mean: f64 = e.iter().zip(ar).map(|(p, a)| p / s * a).sum();
        let second: f64 = e.iter().zip(ar).map(|(p, a)| p / s * a * a).sum();
        total += second - mean * mean;
    }
    total / n as f64
}

/// A stage's inputs for `state` of `arch` on the tiny config's eval set.
fn measure_on(
    arch: &str,
    seed: u64,
    direction: usize,
) -> (
    DirectionResult,
    State<f64>,
    Model<f64>,
    Batch<f64>,
    ParamVec<f64>,
) {
    let mut cfg = tiny();
    cfg.arch = arch.into();
    let splits = Splits::new(&cfg).unwrap();
    let entry = zoo::arch::find(arch).unwrap();
    let model = entry
        .build_on::<f32>(&ArchConfig::default(), cfg.backend)
        .unwrap();
    let model64 = entry.build::<f64>(&ArchConfig::default());
    let mut state = model.init(seed);
    // A few training steps so that p is far from uniform.
    let mut opt = AdamW::new(model.num_params());
    for _ in 0..15 {
        let g = model
            .loss_and_grad(&mut state, &splits.train, Mode::Train)
            .grad;
        opt.step(&mut state.params, &g, 0.01, 0.0);
    }
    let logits = model.logits(&state, &splits.eval.x);
    let base_pred = argmax_rows(&logits);
    let base_loss = sweep_point(
        &logits.data,
        10,
        &splits.eval.labels,
        &base_pred,
        1.0,
        &mut Vec::new(),
    )
    .0;
    let r = cfg.r_grid();
    let inputs = StageInputs {
        model: &model,
        model64: &model64,
        state: &state,
        state64: cast_state(&state),
        eval: &splits.eval,
        eval64: &splits.eval64,
        r: &r,
        base_pred,
        base_loss,
        hvp_eps: cfg.hvp_eps,
    };
    let v = ParamVec::<f32>::random_unit(model.num_params(), direction_seed(seed, 0, direction));
    let d = inputs.measure(direction, &v);
    (
        d,
        cast_state(&state),
        model64,
        splits.eval64.clone(),
        v.cast(),
    )
}

#[test]
fn kappa_is_the_analytic_softmax_hessian_on_an_affine_model() {
    for seed in [1u64, 2] {
        let (d, state, model, eval, v) = measure_on("linear", seed, 1);
        let jvp = model.jvp(&state, &eval.x, &v);
        let exact = analytic_affine_kappa(&jvp.logits.as_vec(), &jvp.slopes.as_vec(), 10);
        let rel = (d.kappa - exact).abs() / exact;
        assert!(
            exact > 0.0 && rel <= 1e-7,
            "seed {seed}: kappa {} vs analytic {exact} (rel {rel:e})",
            d.kappa
        );
        assert_eq!(d.tau_h, 2.0 / d.kappa);
        assert_eq!(d.hess_ratio, d.tau_h / d.rho_a);
    }
}

#[test]
fn kappa_matches_a_second_difference_of_the_loss_on_mlp_ln() {
    // An independent check on the paper's model: the second difference of
    // the f64 loss along v, (L(θ+hv) − 2L(θ) + L(θ−hv))/h², with a larger
    // step (its truncation is O(h²), its rounding O(1e-16/h²)).
    let (d, state, model, eval, v) = measure_on("mlp-ln", 3, 2);
    let h = 1e-3;
    let loss_at = |t: f64| {
        let mut s = state.clone();
        s.params.axpy(t, &v);
        model.loss(&s, &eval)
    };
    let second = (loss_at(h) - 2.0 * loss_at(0.0) + loss_at(-h)) / (h * h);
    let rel = (d.kappa - second).abs() / second.abs();
    assert!(
        d.kappa > 0.0 && rel < 1e-4,
        "kappa {} vs second difference {second} (rel {rel:e})",
        d.kappa
    );
    // ρa is the JVP's: π over the largest per-sample spread.
    let jvp = model.jvp(&state, &eval.x, &v);
    let spreads = radius::spreads_of_rows(&jvp.slopes.as_vec(), 10);
    let rho64 = std::f64::consts::PI / spreads.iter().copied().fold(0.0, f64::max);
    assert!(
        (d.rho_a - rho64).abs() <= 1e-4 * rho64,
        "{} vs {rho64}",
        d.rho_a
    );
}

#[test]
fn the_sweep_starts_at_the_base_loss_and_is_the_loss_along_the_line() {
    let (d, state, model, eval, v) = measure_on("mlp-ln", 4, 1);
    let cfg = tiny();
    let r = cfg.r_grid();
    let l0 = model.loss(&state, &eval);
    for (i, &ri) in r.iter().enumerate() {
        let mut s = state.clone();
        s.params.axpy(ri * d.rho_a, &v);
        let want = model.loss(&s, &eval) / l0;
        assert!(
            (d.loss_ratio[i] - want).abs() <= 1e-4 * want,
            "r = {ri}: {} vs {want}",
            d.loss_ratio[i]
        );
    }
}

#[test]
fn onsets_and_medians_follow_the_spec() {
    let r = [0.1, 0.2, 0.5, 1.0];
    assert_eq!(onset(&r, &[1.0, 1.05, 1.1, 3.0], 1.1), 0.5);
    assert!(onset(&r, &[1.0, 1.0, 1.0, 1.09], 1.1).is_nan());
    assert_eq!(onset(&r, &[1.0, f64::NAN, 1.0, 1.0], 1.1), 0.2);
    let m = pointwise_median(&[&[1.0, 5.0][..], &[3.0, 1.0][..], &[2.0, f64::NAN][..]]);
    assert_eq!(m, vec![2.0, 3.0]);
    let cfg = crate::config::built_in::<HessianStagesConfig>(HessianStages::ID, false).unwrap();
    let grid = cfg.r_grid();
    assert_eq!(grid.len(), 42);
    assert!((grid[0] - 1e-3).abs() < 1e-15 && (grid[41] - 35.0).abs() < 1e-12);
    // Spec §6.2: the grid point nearest 1 is 0.983.
    assert!(
        (grid[cfg.r_near_one_index()] - 0.983).abs() < 5e-4,
        "{}",
        grid[cfg.r_near_one_index()]
    );
}

#[test]
fn stages_are_the_first_checks_at_their_thresholds() {
    let mut cfg = tiny();
    cfg.stages = vec![
        StageTarget {
            name: "a".into(),
            accuracy: 0.3,
        },
        StageTarget {
            name: "b".into(),
            accuracy: 0.6,
        },
        StageTarget {
            name: "never".into(),
            accuracy: 1.0,
        },
    ];
    let splits = Splits::new(&cfg).unwrap();
    let model = zoo::arch::find(&cfg.arch)
        .unwrap()
        .build_on::<f32>(&ArchConfig::default(), cfg.backend)
        .unwrap();
    let snaps = train_to_stages(&cfg, &splits, &model, 7).unwrap();
    // Replay the training and record the test accuracy at every check.
    let mut state = model.init(7);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7 + cfg.batch_seed_offset);
    let mut opt = AdamW::new(model.num_params());
    let mut checks = Vec::new();
    for step in 0..=cfg.max_steps {
        if step % cfg.check_every == 0 {
            checks.push((step, zoo::train::evaluate(&model, &state, &splits.test)));
        }
        if step == cfg.max_steps {
            break;
        }
        let idx = rand::seq::index::sample(&mut rng, splits.train.len(), cfg.batch_size).into_vec();
        let g = model
            .loss_and_grad(&mut state, &splits.train.subset(&idx), Mode::Train)
            .grad;
        opt.step(&mut state.params, &g, cfg.lr, cfg.weight_decay);
    }
    for (t, s) in cfg.stages.iter().zip(&snaps) {
        let first = checks.iter().find(|(_, a)| *a >= t.accuracy);
        match first {
            Some(&(step, acc)) => {
                assert!(s.reached, "{}", t.name);
                assert_eq!((s.step, s.test_accuracy), (step, acc), "{}", t.name);
                assert_eq!(zoo::train::evaluate(&model, &s.state, &splits.test), acc);
            }
            None => assert!(!s.reached, "{}", t.name),
        }
    }
    assert!(snaps[0].reached && snaps[0].step <= snaps[1].step);
    // Never reached: the final model after max_steps.
    assert!(!snaps[2].reached);
    assert_eq!(snaps[2].step, cfg.max_steps);
}

#[test]
fn a_run_repeats_bit_for_bit_and_round_trips_through_its_frame() {
    let cfg = tiny();
    let splits = Splits::new(&cfg).unwrap();
    let run = one_run(&cfg, &splits, 7).unwrap();
    assert_eq!(run.stages.len(), 3);
    for s in &run.stages {
        assert_eq!(s.directions.len(), cfg.random_directions + 1);
        for d in &s.directions {
            assert!(
                d.rho_a > 0.0 && d.rho_a.is_finite() && d.kappa.is_finite(),
                "{d:?}"
            );
            assert_eq!(d.loss_ratio.len(), cfg.r_points);
        }
    }
    let f = <HessianStages as Study>::to_frame(&run).unwrap();
    assert_eq!(f.height(), 3 * (cfg.random_directions + 1) * cfg.r_points);
    let back = <HessianStages as Study>::from_frame(&cfg, &7, &f).unwrap();
    assert_eq!(back, run);
    let again = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| one_run(&cfg, &splits, 7).unwrap());
    assert_eq!(again, run);
    assert_ne!(one_run(&cfg, &splits, 8).unwrap(), run);
}

#[test]
fn bad_values_are_refused() {
    assert!(tiny().validate().is_ok());
    let bad = |f: fn(&mut HessianStagesConfig)| {
        let mut c = tiny();
        f(&mut c);
        c.validate().unwrap_err().0
    };
    assert_eq!(bad(|c| c.arch = "nope".into()), "arch");
    assert_eq!(bad(|c| c.seeds = vec![]), "seeds");
    assert_eq!(bad(|c| c.seeds = vec![7, 7]), "seeds");
    assert_eq!(bad(|c| c.eval_samples = 1), "eval_samples");
    assert_eq!(bad(|c| c.lr = 0.0), "lr");
    assert_eq!(bad(|c| c.weight_decay = -1.0), "weight_decay");
    assert_eq!(bad(|c| c.check_every = 0), "check_every");
    assert_eq!(bad(|c| c.stages[1].accuracy = 0.5), "stages");
    assert_eq!(bad(|c| c.stages[2].name = "early".into()), "stages");
    assert_eq!(bad(|c| c.stages[0].accuracy = 1.5), "stages");
    assert_eq!(bad(|c| c.r_max = c.r_min), "r_min");
    assert_eq!(bad(|c| c.r_points = 1), "r_points");
    assert_eq!(bad(|c| c.onset_ratio = 1.0), "onset_ratio");
    assert_eq!(bad(|c| c.near_one = [1.1, 1.2]), "near_one");
    assert_eq!(bad(|c| c.hvp_eps = 0.0), "hvp_eps");
}

#[test]
fn quick_config_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::new(dir.path(), true);
    let e = HessianStages;
    e.run(&ctx).unwrap();
    let section = e.render(&ctx).unwrap();
    assert!(
        section.verdict.contains("author's stored run") && section.verdict.contains("paper text"),
        "{}",
        section.verdict
    );
    assert!(section
        .table_markdown
        .contains("9.80 (author's stored run)"));
    let summary: HessianStagesSummary = ctx.read_summary(e.id()).unwrap();
    let cfg: HessianStagesConfig = crate::config::built_in(e.id(), true).unwrap();
    assert_eq!(
        summary.directions_checked,
        (
            3 * cfg.seeds.len() * cfg.random_directions,
            3 * cfg.seeds.len()
        )
    );
    for s in &cfg.stages {
        let st = &summary.stages[&s.name];
        assert!(st.hess_ratio_median > 0.0 && st.hess_ratio_median.is_finite());
    }
    let json = std::fs::read_to_string(ctx.results_dir(e.id()).join("summary.json")).unwrap();
    for key in [
        "hess_ratio_median",
        "onset_random_median",
        "frac_near_1",
        "random_rho_below_tau_h",
        "share_random_ratio_10_to_100",
    ] {
        assert!(json.contains(key), "{key}");
    }
    for f in ["hessian_stages_loss_ratio", "hessian_stages_tau_h_vs_rho_a"] {
        for ext in ["png", "svg"] {
            assert!(
                ctx.figures_dir(e.id()).join(format!("{f}.{ext}")).is_file(),
                "{f}.{ext}"
            );
        }
        let svg =
            std::fs::read_to_string(ctx.figures_dir(e.id()).join(format!("{f}.svg"))).unwrap();
        let problems = analysis::plot::text_problems(&svg);
        assert!(problems.is_empty(), "{f}: {problems:?}");
    }
    assert!(ctx.table_path(e.id()).is_file());
    ctx.tally.reset();
    e.run(&ctx).unwrap();
    assert_eq!(ctx.tally.computed(), 0);
}
