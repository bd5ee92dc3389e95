//! Tests of `batch-stability`.

use super::*;
use crate::config::Validate;

fn quick() -> BatchStabilityConfig {
    crate::config::built_in("batch-stability", true).unwrap()
}

#[test]
fn the_coefficient_of_variation_is_the_sample_std_over_the_mean() {
    assert_eq!(coefficient_of_variation(&[2.0, 2.0, 2.0]), 0.0);
    // mean 2, sample std sqrt(((1)^2 + 0 + 1^2) / 2) = 1.
    assert!((coefficient_of_variation(&[1.0, 2.0, 3.0]) - 0.5).abs() < 1e-15);
    assert!(coefficient_of_variation(&[0.0, 0.0]).is_nan());
    assert!(coefficient_of_variation(&[1.0]).is_nan());
}

#[test]
fn the_configs_are_valid_and_bad_values_are_named() {
    quick().validate().unwrap();
    let full: BatchStabilityConfig = crate::config::built_in("batch-stability", false).unwrap();
    full.validate().unwrap();
    let mut bad = quick();
    bad.batches = 1;
    assert_eq!(bad.validate().unwrap_err().0, "batches");
    let mut bad = quick();
    bad.steps = Some(3);
    assert_eq!(bad.validate().unwrap_err().0, "steps");
    let mut bad = quick();
    bad.archs = vec!["no-such-net".into()];
    assert_eq!(bad.validate().unwrap_err().0, "archs");
}

/// Every row obeys T5 (a subset's spread never exceeds the set's along the
/// same direction), the snapshots sit at 0, steps/4 and steps, and a
/// second run is bit-identical.
#[test]
fn a_quick_run_obeys_the_subset_bound_and_repeats_bit_for_bit() {
    let mut cfg = quick();
    cfg.archs = vec!["mlp-relu".into(), "cnn-bn".into()];
    let splits = BatchStability::inputs(&cfg).unwrap();
    for arch in cfg.archs.clone() {
        let run = one_run(&cfg, &splits, &arch, 0).unwrap();
        assert_eq!(run.rows.len(), STAGES.len() * cfg.batches);
        let steps: Vec<u64> = run.rows.iter().step_by(cfg.batches).map(|r| r.step).collect();
        assert_eq!(steps, cfg.snapshot_steps(&arch).map(|s| s as u64).to_vec());
        for r in &run.rows {
            assert!(r.delta_a_batch_same_direction <= r.delta_a_full, "{r:?}");
            assert!(r.delta_a_batch_own_direction <= r.delta_a_full_along_batch, "{r:?}");
            assert!(r.delta_a_batch_same_direction > 0.0 && r.delta_a_full.is_finite());
        }
        // Different batches see different maxima somewhere.
        assert!(run
            .rows
            .windows(2)
            .any(|w| w[0].delta_a_batch_own_direction != w[1].delta_a_batch_own_direction));
        let again = one_run(&cfg, &splits, &arch, 0).unwrap();
        let bits = |r: &StabilityRun| -> Vec<u64> {
            r.rows
                .iter()
                .flat_map(|b| {
                    [
                        b.delta_a_full,
                        b.delta_a_batch_same_direction,
                        b.delta_a_batch_own_direction,
                        b.delta_a_full_along_batch,
                        b.test_accuracy,
                    ]
                })
                .map(f64::to_bits)
                .collect()
        };
        assert_eq!(bits(&run), bits(&again));
        // The stored frame reads back to the same run.
        let frame = BatchStability::to_frame(&run).unwrap();
        let back = BatchStability::from_frame(&cfg, &(arch.clone(), 0), &frame).unwrap();
        assert_eq!(back, run);
    }
}

#[test]
fn snapshot_statistics_follow_their_definitions() {
    let row = |b: u64, same: f64, own: f64, full_along: f64| BatchRow {
        arch: "linear".into(),
        seed: 0,
        stage: "mid".into(),
        step: 10,
        test_accuracy: 0.5,
        delta_a_full: 4.0,
        batch: b,
        delta_a_batch_same_direction: same,
        delta_a_batch_own_direction: own,
        delta_a_full_along_batch: full_along,
    };
    let rows = [row(0, 4.0, 2.0, 4.0), row(1, 2.0, 2.0, 2.0), row(2, 3.0, 4.0, 12.0)];
    let s = SnapshotStats::of(&rows.iter().collect::<Vec<_>>());
    assert_eq!(s.step, 10);
    assert!((s.cv_same_direction - 1.0 / 3.0).abs() < 1e-15);
    assert_eq!(s.batch_over_full_median, 0.75);
    // Overestimates 2, 1, 3: median 2, max 3.
    assert_eq!((s.overestimate_median, s.overestimate_max), (2.0, 3.0));
}
