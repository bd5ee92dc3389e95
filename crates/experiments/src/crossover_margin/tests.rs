//! Tests of `crossover-margin`: the per-sample crossover against its closed
//! form, the empirical crossover on hand-made samples, the least-squares
//! fit, a run's measurement, determinism and the frame round trip, the
//! value checks, and the quick config end to end.

use super::summary::hessian_over_radius;
use super::*;
use crate::config::Validate;
use crate::Experiment;
use std::f64::consts::PI;

fn tiny() -> CrossoverMarginConfig {
    let mut cfg: CrossoverMarginConfig =
        crate::config::built_in(CrossoverMargin::ID, true).unwrap();
    cfg.learning_rates = vec![0.2, 0.5];
    cfg.seeds = vec![0];
    cfg
}

#[test]
fn the_hessian_step_meets_the_radius_at_the_predicted_margin() {
    // τ_H(x)/ρ(x) = 2/(π σ(1−σ) |Δ|) = 1 where σ(1−σ) = 2/(π|Δ|); for large
    // |Δ| that margin is ≈ ln(π|Δ|/2) = radius::logistic::crossover_margin(Δ).
    for gap in [20.0, -50.0, 400.0] {
        let c = 2.0 / (PI * f64::abs(gap));
        // Solve e/(1+e)² = c for e = exp(−δ) < 1.
        let e = ((1.0 - 2.0 * c) - ((1.0 - 2.0 * c).powi(2) - 4.0 * c * c).sqrt()) / (2.0 * c);
        let delta = -e.ln();
        assert!((hessian_over_radius(delta, gap) - 1.0).abs() < 1e-9);
        assert!(
            hessian_over_radius(delta * 0.9, gap) < 1.0
                && hessian_over_radius(delta * 1.1, gap) > 1.0
        );
        let predicted = radius::logistic::crossover_margin(gap);
        assert!(
            (predicted - delta).abs() < 2.0 * c * 1.5 + 1e-9,
            "{gap}: {predicted} vs {delta}"
        );
    }
    // With |Δ| < 8/π the Hessian step never falls below the radius.
    assert!(hessian_over_radius(0.0, 2.0) > 1.0);
}

#[test]
fn the_empirical_crossover_separates_the_samples() {
    // Δ = 100 for every sample: τ_H < ρ exactly for |δ| below the crossover
    // δ* ≈ ln(50π) ≈ 5.06.
    let margins = [0.5, -1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 9.0];
    let gaps = [100.0; 8];
    let (m, agree) = empirical_crossover(&margins, &gaps);
    assert_eq!(m, 5.0);
    assert_eq!(agree, 1.0);
    // A sample far above the crossover with a tiny slope gap stays above.
    let gaps2 = [100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 1.0];
    let (m2, agree2) = empirical_crossover(&margins, &gaps2);
    assert_eq!(m2, 5.0);
    assert_eq!(agree2, 1.0);
    // A small-margin sample with a tiny slope gap is on the wrong side:
    // it costs agreement, not the threshold.
    let gaps3 = [100.0, 100.0, 1e-3, 100.0, 100.0, 100.0, 100.0, 100.0];
    let (m3, agree3) = empirical_crossover(&margins, &gaps3);
    assert_eq!(m3, 5.0);
    assert_eq!(agree3, 7.0 / 8.0);
    // Every sample on one side: no crossover.
    let (m4, _) = empirical_crossover(&[8.0, 9.0], &[100.0, 100.0]);
    assert!(m4.is_nan());
}

#[test]
fn the_fit_recovers_a_line_and_its_r_squared() {
    let x = [0.0, 1.0, 2.0, 3.0];
    let f = fit_line(&x, &[1.0, 3.0, 5.0, 7.0]);
    assert!((f.intercept - 1.0).abs() < 1e-12 && (f.slope - 2.0).abs() < 1e-12);
    assert!((f.r_squared - 1.0).abs() < 1e-12);
    // y = 0, 1, 0, 1: slope 0.2, intercept 0.2, R² = 0.2.
    let g = fit_line(&x, &[0.0, 1.0, 0.0, 1.0]);
    assert!((g.slope - 0.2).abs() < 1e-12 && (g.intercept - 0.2).abs() < 1e-12);
    assert!((g.r_squared - 0.2).abs() < 1e-12, "{}", g.r_squared);
    // NaN points are left out.
    assert_eq!(
        fit_line(&[0.0, 1.0, f64::NAN, 2.0], &[0.0, 1.0, 5.0, 2.0]).points,
        3
    );
}

#[test]
fn a_run_stops_at_the_loss_target_and_measures_there() {
    let cfg = tiny();
    let train = <CrossoverMargin as Study>::inputs(&cfg).unwrap();
    let run = one_run(&cfg, &train, 0.5, 0).unwrap();
    assert!(
        run.converged && run.train_loss <= cfg.loss_target,
        "{run:?}"
    );
    // One step fewer is still above the target.
    let model = zoo::arch::find(&cfg.arch)
        .unwrap()
        .build_on::<f32>(&ArchConfig::default(), cfg.backend)
        .unwrap();
    let mut state = model.init(0);
    for _ in 0..run.steps - 1 {
        let g = model.loss_and_grad(&mut state, &train, Mode::Eval).grad;
        state.params.axpy(-0.5, &g);
    }
    assert!(model.loss_and_grad(&mut state, &train, Mode::Eval).loss > cfg.loss_target);
    // The binding sample has the largest spread and its δ* is the formula's.
    assert_eq!(run.sample_margin.len(), train.len());
    assert_eq!(
        run.delta_star,
        (PI * run.binding_slope_gap.abs() / 2.0).ln()
    );
    assert!(run.binding_slope_gap.abs() <= PI / run.rho_a * (1.0 + 1e-12));
    assert!(run.kappa > 0.0 && run.tau_h == 2.0 / run.kappa);
    // Bit for bit with one thread, and through the stored frame.
    let again = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| one_run(&cfg, &train, 0.5, 0).unwrap());
    assert_eq!(again, run);
    let f = <CrossoverMargin as Study>::to_frame(&run).unwrap();
    assert_eq!(f.height(), train.len());
    assert_eq!(
        <CrossoverMargin as Study>::from_frame(&cfg, &(0.5, 0), &f).unwrap(),
        run
    );
    // A budget too small to converge is marked, not an error.
    let mut short = cfg.clone();
    short.max_steps = 2;
    let r = one_run(&short, &train, 0.5, 0).unwrap();
    assert!(!r.converged && r.steps == 2);
}

#[test]
fn bad_values_are_refused() {
    assert!(tiny().validate().is_ok());
    let bad = |f: fn(&mut CrossoverMarginConfig)| {
        let mut c = tiny();
        f(&mut c);
        c.validate().unwrap_err().0
    };
    assert_eq!(bad(|c| c.arch = "nope".into()), "arch");
    assert_eq!(bad(|c| c.seeds = vec![]), "seeds");
    assert_eq!(bad(|c| c.learning_rates = vec![]), "learning_rates");
    assert_eq!(bad(|c| c.learning_rates = vec![0.1, 0.1]), "learning_rates");
    assert_eq!(bad(|c| c.learning_rates = vec![-0.1]), "learning_rates");
    assert_eq!(bad(|c| c.loss_target = 0.0), "loss_target");
    assert_eq!(bad(|c| c.max_steps = 0), "max_steps");
    assert_eq!(bad(|c| c.hvp_eps = 2.0), "hvp_eps");
}

#[test]
fn quick_config_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::new(dir.path(), true);
    let e = CrossoverMargin;
    e.run(&ctx).unwrap();
    let section = e.render(&ctx).unwrap();
    assert!(
        section.verdict.contains("R^2 about 1 (paper text)"),
        "{}",
        section.verdict
    );
    let summary: CrossoverSummary = ctx.read_summary(e.id()).unwrap();
    let cfg: CrossoverMarginConfig = crate::config::built_in(e.id(), true).unwrap();
    assert_eq!(
        summary.converged_runs.1,
        cfg.learning_rates.len() * cfg.seeds.len()
    );
    assert_eq!(summary.rates.len(), cfg.learning_rates.len());
    let json = std::fs::read_to_string(ctx.results_dir(e.id()).join("summary.json")).unwrap();
    for key in [
        "delta_star_fit",
        "r_squared",
        "delta_emp_fit",
        "log_tau_h_fit",
        "delta_star_median",
    ] {
        assert!(json.contains(key), "{key}");
    }
    for ext in ["png", "svg"] {
        assert!(ctx
            .figures_dir(e.id())
            .join(format!("crossover_margin.{ext}"))
            .is_file());
    }
    let svg =
        std::fs::read_to_string(ctx.figures_dir(e.id()).join("crossover_margin.svg")).unwrap();
    let problems = analysis::plot::text_problems(&svg);
    assert!(problems.is_empty(), "{problems:?}");
    ctx.tally.reset();
    e.run(&ctx).unwrap();
    assert_eq!(ctx.tally.computed(), 0);
}
