//! Tests of `phase-transition`: the pattern for an experiment's tests (an
//! end-to-end run on small settings, the stored frame's round trip, the
//! value checks, and the statistics the verdict uses).

use super::render::half_crossing;
use super::*;
use crate::config::Validate;
use crate::Experiment;

/// The quick settings cut to two small architectures.
fn small() -> PhaseTransitionConfig {
    let mut cfg: PhaseTransitionConfig =
        crate::config::built_in(PhaseTransition::ID, true).unwrap();
    cfg.archs = vec!["linear".into(), "mlp".into()];
    cfg
}

#[test]
fn small_config_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("small.yaml");
    std::fs::write(&cfg_path, serde_yaml::to_string(&small()).unwrap()).unwrap();
    let ctx = Context::new(dir.path(), true).with_config(Some(cfg_path));
    let e = PhaseTransition;
    e.run(&ctx).unwrap();
    let section = e.render(&ctx).unwrap();
    assert!(!section.verdict.is_empty());
    let summary: PhaseSummary = ctx.read_summary(e.id()).unwrap();
    for arch in &small().archs {
        let a = &summary.archs[arch];
        assert!(a.rho_a_median > 0.0 && a.rho_a_median.is_finite(), "{arch}");
        assert!(a.base_accuracy_median > 0.5, "{arch}");
    }
    assert!(ctx
        .figures_dir(e.id())
        .join("fig7_phase_transition.png")
        .is_file());
    assert!(ctx.table_path(e.id()).is_file());
    // Stored runs are skipped.
    ctx.tally.reset();
    e.run(&ctx).unwrap();
    assert_eq!(ctx.tally.computed(), 0);
    assert_eq!(ctx.tally.stored(), 2);
}

#[test]
fn a_run_round_trips_through_its_frame() {
    let cfg = small();
    let splits = <PhaseTransition as Study>::inputs(&cfg).unwrap();
    let spec = ("linear".to_string(), 0);
    let run = <PhaseTransition as Study>::run_one(&cfg, &splits, &spec).unwrap();
    assert_eq!(run.r.len(), cfg.r_points);
    let f = <PhaseTransition as Study>::to_frame(&run).unwrap();
    assert_eq!(f.height(), cfg.r_points);
    let back = <PhaseTransition as Study>::from_frame(&cfg, &spec, &f).unwrap();
    let bits = |r: &PhaseRun| -> Vec<u64> {
        [r.base_accuracy, r.base_loss, r.rho_a]
            .iter()
            .chain(&r.r)
            .chain(&r.retained_pct)
            .chain(&r.inflation)
            .map(|x| x.to_bits())
            .collect()
    };
    assert_eq!((back.arch.as_str(), back.seed), ("linear", 0));
    assert_eq!(bits(&back), bits(&run));
}

#[test]
fn bad_values_are_refused() {
    let good = small();
    assert!(good.validate().is_ok());
    let bad = |f: fn(&mut PhaseTransitionConfig)| {
        let mut c = small();
        f(&mut c);
        c.validate().unwrap_err().0
    };
    assert_eq!(bad(|c| c.archs = vec!["nope".into()]), "archs");
    assert_eq!(bad(|c| c.archs = vec!["mlp".into(), "mlp".into()]), "archs");
    assert_eq!(bad(|c| c.seeds = vec![]), "seeds");
    assert_eq!(bad(|c| c.seeds = vec![1, 1]), "seeds");
    assert_eq!(bad(|c| c.test_ratio = 1.0), "test_ratio");
    assert_eq!(bad(|c| c.r_points = 1), "r_points");
    assert_eq!(bad(|c| c.log10_r_max = c.log10_r_min), "log10_r_min");
    assert_eq!(bad(|c| c.steps = Some(0)), "steps");
    assert_eq!(bad(|c| c.fail_inflation = 1.0), "fail_inflation");
}

#[test]
fn half_crossing_interpolates_in_log_r() {
    let r = [1.0, 10.0, 100.0];
    // 100% at r = 10, 0% at r = 100: halfway in log r is sqrt(10)·10.
    let x = half_crossing(&r, &[100.0, 100.0, 0.0]).unwrap();
    assert!((x - 10f64.powf(1.5)).abs() < 1e-9, "{x}");
    assert_eq!(half_crossing(&r, &[100.0, 80.0, 60.0]), None);
    // A diverged step (NaN) is a failure at that grid point.
    assert_eq!(half_crossing(&r, &[100.0, f64::NAN, 0.0]), Some(10.0));
    assert_eq!(half_crossing(&r, &[40.0, 30.0, 0.0]), Some(1.0));
}
