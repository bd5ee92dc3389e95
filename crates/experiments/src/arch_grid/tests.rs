//! Tests of `arch-grid`.

use super::*;
use crate::config::Validate;
use crate::Experiment;

fn tiny() -> ArchGridConfig {
    let mut cfg: ArchGridConfig = crate::config::built_in("arch-grid", true).unwrap();
    cfg.steps = 8;
    cfg.spike_start = 3;
    cfg.seeds = vec![1];
    cfg
}

/// Every logged number's bits (NaN compares equal to itself).
fn bits(runs: &[GridRun]) -> Vec<u64> {
    runs.iter()
        .flat_map(|r| {
            [
                &r.lr,
                &r.loss,
                &r.test_acc,
                &r.tau,
                &r.rho_a,
                &r.rho_a_grad,
                &r.r,
                &r.scale,
                &r.grad_norm,
            ]
            .into_iter()
            .flat_map(|v| v.iter().map(|x| x.to_bits()))
            .chain(r.applied.iter().copied())
            .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn shared_prefix_is_bit_identical_to_separate_runs() {
    let digits = data::load_default_digits().unwrap();
    let mut cfg = tiny();
    cfg.archs = vec!["cnn-bn".into()];
    for method in [Method::Clip, Method::GradNormCap] {
        let spec = RunSpec {
            arch: "cnn-bn".into(),
            method,
            seed: 1,
        };
        cfg.share_prefix = true;
        let shared = one_run(&cfg, &digits, &spec).unwrap();
        cfg.share_prefix = false;
        let separate = one_run(&cfg, &digits, &spec).unwrap();
        assert_eq!(bits(&shared), bits(&separate));
        // The levels differ after the spike.
        assert_ne!(
            shared[0].loss[cfg.spike_start + 1],
            shared.last().unwrap().loss[cfg.spike_start + 1]
        );
    }
}

#[test]
fn rho_cap_bounds_every_applied_step_and_frames_round_trip() {
    let digits = data::load_default_digits().unwrap();
    let cfg = tiny();
    let spec = RunSpec {
        arch: "mlp-ln-64x3".into(),
        method: Method::RhoCap,
        seed: 1,
    };
    let runs = one_run(&cfg, &digits, &spec).unwrap();
    for r in &runs {
        assert!(
            r.r.iter().all(|&x| x <= cfg.r_target * (1.0 + 1e-9)),
            "{:?}",
            r.r
        );
    }
    let f = <ArchGrid as Study>::to_frame(&runs).unwrap();
    let back = <ArchGrid as Study>::from_frame(&cfg, &spec, &f).unwrap();
    assert_eq!(bits(&back), bits(&runs));
}

#[test]
fn quick_config_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::new(dir.path(), true);
    let e = ArchGrid;
    e.run(&ctx).unwrap();
    let section = e.render(&ctx).unwrap();
    assert!(!section.verdict.is_empty());
    let cfg: ArchGridConfig = crate::config::built_in(e.id(), true).unwrap();
    assert!(cfg.validate().is_ok());
    let summary: serde_json::Value = ctx.read_summary(e.id()).unwrap();
    for arch in &cfg.archs {
        for m in &cfg.methods {
            let entry = &summary["table1"][arch][m.name()];
            assert!(entry["acc_median"].is_number(), "{entry}");
            assert!(entry["divergent_seeds"].is_u64(), "{entry}");
        }
    }
    assert!(ctx
        .figures_dir(e.id())
        .join("fig10_arch_grid.png")
        .is_file());
    assert!(ctx.table_path(e.id()).is_file());
    ctx.tally.reset();
    e.run(&ctx).unwrap();
    assert_eq!(ctx.tally.computed(), 0);
}

#[test]
fn bad_values_are_refused() {
    let good = tiny();
    assert!(good.validate().is_ok());
    let mut c = good.clone();
    c.spikes = vec![100.0, 10.0];
    assert_eq!(c.validate().unwrap_err().0, "spikes");
    let mut c = good.clone();
    c.spike_start = c.steps;
    assert_eq!(c.validate().unwrap_err().0, "spike_start");
    let mut c = good.clone();
    c.archs = vec!["nope".into()];
    assert_eq!(c.validate().unwrap_err().0, "archs");
    // Every registry architecture runs on the fast backend.
    let mut c = good;
    c.backend = Backend::Fast;
    for e in zoo::registry() {
        c.archs = vec![e.name.into()];
        assert!(c.validate().is_ok(), "{}", e.name);
    }
}
