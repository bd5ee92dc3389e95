//! Tests of `lr-spike`.

use super::*;
use crate::config::Validate;
use crate::Experiment;
use analysis::stats::max_finite;

#[test]
fn quick_config_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::new(dir.path(), true);
    let e = LrSpike;
    e.run(&ctx).unwrap();
    let section = e.render(&ctx).unwrap();
    assert!(!section.verdict.is_empty());
    // The cap bounds the controller's r by construction: its max r (and the
    // stored run's 1.0 beside it) is a check, never a reference number
    // that agrees.
    let v = &section.verdict;
    let (counted, checks) = v
        .split_once("checks (true by construction, not counted)")
        .unwrap_or_else(|| panic!("no checks in: {v}"));
    assert!(!counted.contains("controller 1e-3 max r"), "{v}");
    assert!(checks.contains("controller 1e-3 max r") && checks.contains("the controller's largest step"), "{v}");

    let summary: serde_json::Value = ctx.read_summary(e.id()).unwrap();
    let cfg: LrSpikeConfig = crate::config::built_in(e.id(), true).unwrap();
    assert!(cfg.validate().is_ok());
    let settings = summary["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 2 * cfg.base_rates.len());
    for s in settings {
        for key in [
            "base_lr",
            "method",
            "seeds",
            "seeds_nonfinite",
            "final_test_acc_median",
            "final_loss_median",
            "peak_loss_post_spike_median",
            "max_r_median",
            "max_tau_median",
            "rho_a_first_median",
            "rho_a_last_median",
        ] {
            assert!(!s[key].is_null(), "{key} missing: {s}");
        }
    }
    assert!(summary["controller_max_r"].as_f64().unwrap() <= 1.0 + 1e-9);
    assert!(ctx.figures_dir(e.id()).join("fig6_lr_spike.png").is_file());
    assert!(ctx.table_path(e.id()).is_file());

    let runs = crate::study::stored_runs::<LrSpike>(&ctx, &cfg).unwrap();
    assert_eq!(runs.len(), 2 * cfg.base_rates.len() * cfg.seeds.len());
    for r in &runs {
        assert_eq!(r.loss.len(), cfg.steps);
        // ρa is measured every step for both methods.
        assert!(r.rho_a.iter().all(|x| x.is_finite() && *x > 0.0), "{r:?}");
        if r.method == Method::Controller {
            for &x in r.r.iter().filter(|x| !x.is_nan()) {
                assert!(x <= 1.0 + 1e-9, "controller r = {x}");
            }
        }
    }
    // Same init and batches: both methods see the same first minibatch.
    let (p, c) = (&runs[0], &runs[cfg.seeds.len()]);
    assert_eq!((p.method, c.method), (Method::Plain, Method::Controller));
    assert_eq!(p.loss[0], c.loss[0]);
    assert_eq!(p.test_acc[0], c.test_acc[0]);
    // The spike makes plain Adam overshoot the radius.
    assert!(max_finite(&p.r) > 1.0);

    // Stored runs are skipped.
    ctx.tally.reset();
    e.run(&ctx).unwrap();
    assert_eq!(ctx.tally.computed(), 0);
    assert_eq!(ctx.tally.stored(), runs.len());
}

/// The fast backend against the dfdx reference: same losses, radii and
/// caps up to f32 summation order before the spike (afterwards plain
/// Adam's blow-up amplifies rounding).
#[test]
fn fast_and_dfdx_runs_agree() {
    let mut cfg: LrSpikeConfig = crate::config::built_in("lr-spike", true).unwrap();
    cfg.steps = 30;
    cfg.spike.start = 10;
    let digits = data::load_default_digits().unwrap();
    for method in Method::BOTH {
        let spec = RunSpec {
            base: 1e-3,
            method,
            seed: 1,
        };
        cfg.backend = Backend::Fast;
        let a = one_run(&cfg, &digits, &spec).unwrap();
        cfg.backend = Backend::Dfdx;
        let b = one_run(&cfg, &digits, &spec).unwrap();
        assert!((a.loss[0] - b.loss[0]).abs() < 1e-5 * b.loss[0]);
        assert_eq!(a.test_acc[0], b.test_acc[0]);
        for t in 0..cfg.spike.start + 2 {
            let rel = |x: f64, y: f64| ((x - y) / y).abs();
            assert!(rel(a.rho_a[t], b.rho_a[t]) < 1e-3, "{method:?} step {t}");
            assert!(rel(a.tau[t], b.tau[t]) < 1e-3, "{method:?} step {t}");
            assert!(rel(a.loss[t], b.loss[t]) < 1e-3, "{method:?} step {t}");
        }
        if method == Method::Controller {
            assert!(a.r.iter().chain(&b.r).all(|&r| r <= 1.0 + 1e-9));
        }
    }
}

#[test]
fn bad_values_are_refused() {
    let good: LrSpikeConfig = crate::config::built_in("lr-spike", false).unwrap();
    assert!(good.validate().is_ok());
    let mut c = good.clone();
    c.spike.start = c.steps;
    assert_eq!(c.validate().unwrap_err().0, "spike");
    let mut c = good.clone();
    c.base_rates.push(-1.0);
    assert_eq!(c.validate().unwrap_err().0, "base_rates");
    let mut c = good;
    c.spike.multiplier = 0.0;
    assert_eq!(c.validate().unwrap_err().0, "spike");
}
