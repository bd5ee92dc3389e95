//! Tests of `natural-instability`.

use super::*;
use crate::config::Validate;
use crate::Experiment;

fn quick() -> NaturalInstabilityConfig {
    crate::config::built_in("natural-instability", true).unwrap()
}

#[test]
fn quick_config_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::new(dir.path(), true);
    let e = NaturalInstability;
    e.run(&ctx).unwrap();
    let section = e.render(&ctx).unwrap();
    assert!(!section.verdict.is_empty());
    assert!(section.notes[0].contains("ghosts run natural-instability --quick"), "{}", section.notes[0]);
    assert!(section.verdict.contains("scaled, quick"));

    let cfg = quick();
    let summary: serde_json::Value = ctx.read_summary(e.id()).unwrap();
    let table3 = summary["table3"].as_object().unwrap();
    assert_eq!(table3.len(), cfg.fixed_rates.len() + cfg.r_targets.len());
    for name in ["eta 0.01", "eta 0.5", "ctrl r=1", "ctrl r=4"] {
        let row = &table3[name];
        for key in ["max_r", "r_gt_1", "acc_median"] {
            assert!(row[key].is_number(), "{name}.{key}: {row}");
        }
        assert!(row["acc_iqr"]["q25"].is_number() && row["acc_iqr"]["q75"].is_number());
    }
    // The controller's logged r is its target.
    assert!((table3["ctrl r=4"]["max_r"].as_f64().unwrap() - 4.0).abs() < 1e-9);
    assert!(ctx
        .figures_dir(e.id())
        .join("fig12_natural_instability.png")
        .is_file());
    let table = std::fs::read_to_string(ctx.table_path(e.id())).unwrap();
    // Table 3's numbers say they are the paper's Table 3, not its text.
    assert!(
        table.contains("85.3% (paper Table 3)") && !table.contains("paper text"),
        "{table}"
    );
    // "Every controller steps at its target r" is true by construction:
    // a check, printed apart, not among the claims counted as holding; and
    // so are the controllers' max r beside Table 3's targets.
    let v = &section.verdict;
    let (counted, checks) = v
        .split_once("checks (true by construction, not counted)")
        .unwrap_or_else(|| panic!("no checks in: {v}"));
    assert!(checks.contains("every controller steps at its target r"), "{v}");
    assert!(!counted.contains("every controller steps at its target r"), "{v}");
    let check = "ctrl r=1 max r 1.00 equals its target as 1.00 (paper Table 3) does";
    assert_eq!(v.matches("ctrl r=1 max r").count(), v.matches(check).count(), "{v}");
    assert_eq!(v.matches(check).count(), 1, "{v}");

    let runs = crate::study::stored_runs::<NaturalInstability>(&ctx, &cfg).unwrap();
    assert_eq!(runs.len(), 4 * cfg.seeds.len());
    let per_epoch = 1438usize.div_ceil(cfg.batch);
    for r in &runs {
        assert_eq!(r.loss.len(), per_epoch * cfg.epochs);
        assert_eq!(r.stop_step, None, "{:?}", r.method());
        assert_eq!(r.probe_moved_buffers, 0);
        let acc = r.epoch_test_acc(cfg.epochs);
        assert!(acc.iter().all(|a| (0.0..=1.0).contains(a)), "{acc:?}");
        for (t, &rho) in r.rho_a.iter().enumerate() {
            // Controllers measure every step, fixed rates at logged points.
            let want = r.kind == MethodKind::RhoSet || r.logged[t] == 1;
            assert_eq!(rho.is_finite(), want, "{:?} step {t}", r.method());
        }
        if r.kind == MethodKind::RhoSet {
            for &x in &r.r {
                assert!((x - r.value).abs() <= 1e-12 * r.value, "r = {x}");
            }
        }
    }
    // Every method of a seed starts from the same θ and the same batch.
    let seed0: Vec<&NaturalRun> = runs.iter().filter(|r| r.seed == 0).collect();
    assert!(seed0.iter().all(|r| r.loss[0] == seed0[0].loss[0]));
    // The largest fixed rate steps past the radius.
    let big = runs.iter().find(|r| r.value == 0.5).unwrap();
    assert!(big.max_logged_r() > 1.0);

    ctx.tally.reset();
    e.run(&ctx).unwrap();
    assert_eq!(ctx.tally.computed(), 0);
    assert_eq!(ctx.tally.stored(), runs.len());
}

#[test]
fn run_frame_round_trip() {
    let mut cfg = quick();
    cfg.epochs = 1;
    let images = load_images(&cfg).unwrap();
    let spec = RunSpec {
        method: Method {
            kind: MethodKind::Fixed,
            value: 0.1,
        },
        seed: 3,
    };
    let run = one_run(&cfg, &images, &spec).unwrap();
    let back: NaturalRun = from_frame(&to_frame(&run).unwrap()).unwrap();
    assert_eq!(back.r.len(), run.r.len());
    for (a, b) in back.r.iter().zip(&run.r) {
        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
    }
    assert_eq!(back.logged, run.logged);
    assert_eq!(back.stop_step, None);
    assert_eq!(back.epoch_test_acc(1), run.epoch_test_acc(1));
    // Deterministic: the same spec gives the same run, bit for bit.
    let again = one_run(&cfg, &images, &spec).unwrap();
    assert_eq!(again.epoch_test_loss(1), run.epoch_test_loss(1));
}

/// The paper's forward difference in train mode moves the running
/// statistics, and the run records it.
#[test]
fn paper_estimator_records_moved_running_statistics() {
    let mut cfg = quick();
    cfg.epochs = 1;
    cfg.estimator = RhoEstimator::PAPER_FD;
    let images = load_images(&cfg).unwrap();
    let spec = RunSpec {
        method: Method {
            kind: MethodKind::RhoSet,
            value: 1.0,
        },
        seed: 0,
    };
    let run = one_run(&cfg, &images, &spec).unwrap();
    assert_eq!(run.probe_moved_buffers as usize, run.loss.len());
    assert!(run.r.iter().all(|&r| (r - 1.0).abs() < 1e-12));
}

/// CIFAR-10 runs on synthetic images held in memory (the loader itself
/// is tested on synthetic files in `data`); a missing release is a named
/// error about `data_root`.
#[test]
fn cifar_runs_and_missing_data_is_named() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut make = |n: usize| data::Cifar {
        pixels: (0..n * data::cifar::CIFAR_FEATURES)
            .map(|_| rng.gen())
            .collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
    };
    let images = Images::Cifar(data::CifarSplits {
        train: make(24),
        test: make(10),
    });
    let mut cfg = quick();
    cfg.arch = "resnet8-cifar".into();
    cfg.data = DataSource::Cifar10;
    cfg.epochs = 1;
    cfg.batch = 8;
    cfg.validate().unwrap();
    for method in cfg.methods() {
        let run = one_run(&cfg, &images, &RunSpec { method, seed: 0 }).unwrap();
        assert_eq!(run.loss.len(), 3);
        assert!(run.epoch_test_loss(1)[0].is_finite());
        assert!(run.rho_a[0].is_finite());
    }

    let err = load_images(&cfg).err().unwrap();
    let named = err.downcast_ref::<ConfigError>().unwrap();
    assert_eq!(named.file, "data_root");
    let dir = tempfile::tempdir().unwrap();
    cfg.data_root = Some(dir.path().to_path_buf());
    let err = load_images(&cfg).err().unwrap();
    assert!(format!("{err:#}").contains("data_batch_1.bin"), "{err:#}");
    assert!(err.downcast_ref::<ConfigError>().is_some());

    // --data-root wins over the config's, and a relative config path is
    // taken from the project root; neither changes the run keys.
    let ctx = Context::new("/project", false).with_data_root(Some("/elsewhere".into()));
    let mut c = cfg.clone();
    c.data_root = Some("data/cifar10".into());
    let keys: Vec<RunKey> = jobs(&c).into_iter().map(|j| j.key).collect();
    NaturalInstability::adapt(&mut c, &ctx);
    assert_eq!(
        c.data_root.as_deref(),
        Some(std::path::Path::new("/elsewhere"))
    );
    let mut d = cfg.clone();
    d.data_root = Some("data/cifar10".into());
    NaturalInstability::adapt(&mut d, &Context::new("/project", false));
    assert_eq!(
        d.data_root.as_deref(),
        Some(std::path::Path::new("/project/data/cifar10"))
    );
    let after: Vec<RunKey> = jobs(&c).into_iter().map(|j| j.key).collect();
    assert_eq!(keys, after);
}

#[test]
fn bad_values_are_refused() {
    let good: NaturalInstabilityConfig =
        crate::config::built_in("natural-instability", false).unwrap();
    assert!(good.validate().is_ok());
    let mut c = good.clone();
    c.arch = "resnet18-cifar".into();
    assert_eq!(c.validate().unwrap_err().0, "arch");
    let mut c = good.clone();
    c.fixed_rates.push(-1.0);
    assert_eq!(c.validate().unwrap_err().0, "fixed_rates");
    let mut c = good.clone();
    c.r_targets.push(1.0);
    assert_eq!(c.validate().unwrap_err().0, "r_targets");
    let mut c = good.clone();
    c.cifar_subset = Some(CifarSubset {
        train: 10,
        test: 10,
        seed: 0,
    });
    assert_eq!(c.validate().unwrap_err().0, "cifar_subset");
    let mut c = good.clone();
    c.log_every = 0;
    assert_eq!(c.validate().unwrap_err().0, "log_every");
    let mut c = good;
    c.estimator = RhoEstimator::ForwardDifference {
        eps: 0.0,
        moves_running_stats: true,
    };
    assert_eq!(c.validate().unwrap_err().0, "estimator");
    // Every shipped config of this experiment validates, the paper's too.
    for rel in [
        "cifar10/natural-instability.yaml",
        "cifar10/paper/natural-instability.yaml",
    ] {
        let text = crate::config::built_in_text(rel).unwrap();
        let cfg: NaturalInstabilityConfig = crate::config::parse_config(text, rel).unwrap();
        assert!(cfg.validate().is_ok(), "{rel}");
    }
}
