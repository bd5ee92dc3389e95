//! Tests of `ghost-envelope`.

use super::summary::{breaks_half_plane, cloud, envelope, stage_stats};
use super::*;
use crate::config::Validate;
use crate::Experiment;
use num_complex::Complex64;

/// F(t) = Σ_k exp(z_k + a_k t).
fn partition(z: &[f64], a: &[f64], t: Complex64) -> Complex64 {
    z.iter()
        .zip(a)
        .map(|(&z, &a)| (Complex64::from(z) + a * t).exp())
        .sum()
}

#[test]
fn the_top2_ghost_of_two_classes_is_the_exact_nearest_zero() {
    for (z, a, y) in [
        ([1.3, -0.4], [0.2, 1.7], 0),
        ([1.3, -0.4], [0.2, 1.7], 1),
        ([-2.0, 3.5], [4.0, -1.0], 0),
        ([0.0, 0.0], [0.0, 2.0], 1),
    ] {
        let (margin, s, re, im) = top2_ghost(&z, &a, y);
        let c = 1 - y;
        assert_eq!(margin, z[y] - z[c]);
        assert_eq!(s, a[c] - a[y]);
        let exact = radius::exact_radius(&z, &a).unwrap();
        let g = exact.ghost.unwrap();
        let tol = 1e-12 * exact.rho_exact;
        assert!((g.re - re).abs() <= tol && (g.im - im).abs() <= tol, "{z:?} {a:?} y={y}: top-2 ({re}, {im}) vs exact {g}");
        assert!((re.hypot(im) - exact.rho_exact).abs() <= tol);
        // It is a zero of F, and radius::top2 (true label) agrees.
        let scale = partition(&z, &a, Complex64::new(re, 0.0)).norm();
        assert!(partition(&z, &a, Complex64::new(re, im)).norm() <= 1e-12 * scale);
        let t = radius::top2(&z, &a, Some(y)).unwrap().ghost.unwrap();
        assert!((t.re - re).abs() <= tol && (t.im - im).abs() <= tol);
    }
}

#[test]
fn the_top2_pair_is_the_label_and_its_strongest_competitor() {
    // y = 2; the strongest other logit is class 0 (3.0), not the argmax
    // over all classes (class 2 itself).
    let z = [3.0, -1.0, 5.0, 2.9];
    let a = [0.5, 9.0, -0.5, 0.0];
    let (margin, s, re, im) = top2_ghost(&z, &a, 2);
    assert_eq!((margin, s), (2.0, 1.0));
    assert_eq!((re, im), (2.0, std::f64::consts::PI));
    // A misclassified sample: y = 1, competitor 2; δ < 0.
    let (margin, s, re, _) = top2_ghost(&z, &a, 1);
    assert_eq!((margin, s), (-6.0, -9.5));
    assert_eq!(re, -6.0 / -9.5);
    // Ties go to the first class.
    let (_, s, _, _) = top2_ghost(&[1.0, 1.0, 0.0], &[0.0, 3.0, 7.0], 2);
    assert_eq!(s, -7.0);
    // No slope gap (below 1e-12): no ghost at finite distance.
    for gap in [0.0, 1e-13] {
        let (_, _, re, im) = top2_ghost(&[1.0, 0.0], &[0.0, gap], 0);
        assert!(re.is_nan() && im == f64::INFINITY);
    }
    let (_, _, _, im) = top2_ghost(&[1.0, 0.0], &[0.0, 1e-12], 0);
    assert!(im.is_finite());
}

#[test]
fn the_envelope_takes_q10_and_q90_in_equal_bins_of_re() {
    // Re = 0..=3000: its 5th / 95th percentiles are 150 / 2850, so 30 bins
    // of width 90. Im = 1 + (Re mod 10): each bin holds 1..10 nine times,
    // so Q10 = 1.9 and Q90 = 9.1 (linear interpolation); the last bin
    // (closed) also holds Re = 2850 (Im = 1): Q10 = 1, Q90 = 9.
    let re: Vec<f64> = (0..=3000).map(f64::from).collect();
    let im: Vec<f64> = (0..=3000).map(|r| 1.0 + f64::from(r % 10)).collect();
    let e = envelope(&re, &im).unwrap();
    assert_eq!(e.x.len(), 30);
    for j in 0..30 {
        assert_eq!(e.x[j], 195.0 + 90.0 * j as f64);
        let (q10, q90) = if j < 29 { (1.9, 9.1) } else { (1.0, 9.0) };
        assert!((e.q10[j] - q10).abs() < 1e-12 && (e.q90[j] - q90).abs() < 1e-12, "bin {j}: {} {}", e.q10[j], e.q90[j]);
    }
    // Fewer than 30 points: no envelope. A bin of 7 points is left out.
    assert!(envelope(&re[..29], &im[..29]).is_none());
    let mut re2: Vec<f64> = (0..60).map(|i| f64::from(i % 2) * 100.0).collect();
    let mut im2 = vec![1.0; 60];
    re2.extend([50.0; 7]);
    im2.extend([5.0; 7]);
    let e2 = envelope(&re2, &im2).unwrap();
    assert_eq!(e2.x.len(), 2, "{:?}", e2.x);
}

#[test]
fn the_cloud_cuts_im_at_its_99th_percentile_and_pads_the_axes() {
    // Re = 0..=100, Im = Re + 1: the 99th percentile of Im is 100, so the
    // points with Im < 100 (Re 0..=98) are kept; infinite Im is left out.
    let mut re: Vec<f64> = (0..=100).map(f64::from).collect();
    let mut im: Vec<f64> = re.iter().map(|r| r + 1.0).collect();
    re.push(f64::NAN);
    im.push(f64::INFINITY);
    let c = cloud(&re, &im);
    assert_eq!(c.finite, 101);
    assert_eq!(c.re.len(), 99);
    assert_eq!(*c.im.last().unwrap(), 99.0);
    // x: 2nd..98th percentiles of Re 0..=98 are 1.96 and 96.04, ± 15% of
    // the width 94.08; y: 0 .. 98th percentile of Im (97.04) × 1.15.
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(close(c.x_range.0, 1.96 - 14.112) && close(c.x_range.1, 96.04 + 14.112), "{:?}", c.x_range);
    assert!(c.y_range.0 == 0.0 && close(c.y_range.1, 97.04 * 1.15), "{:?}", c.y_range);
    assert!(c.envelope.is_some());
}

#[test]
fn the_far_angle_averages_the_farthest_tenth() {
    // 18 near points and two far ones: the 90th percentile of the 20
    // moduli lies between the near ones and 3√2, so the far two count:
    // atan2(3, |-3|) = 45° and atan2(5, 0) = 90°.
    let mut re = vec![1.0; 18];
    let mut im = vec![0.1; 18];
    re.extend([-3.0, 0.0]);
    im.extend([3.0, 5.0]);
    assert!((far_angle(&re, &im) - 67.5).abs() < 1e-12);
    assert!(far_angle(&[], &[]).is_nan());
}

fn sample(rho_exact: f64, exact_im: f64, delta_a: f64) -> SampleGhost {
    SampleGhost {
        sample: 0,
        label: 0,
        margin: 0.0,
        slope_gap: delta_a,
        delta_a,
        top2_re: 0.0,
        top2_im: std::f64::consts::PI / delta_a,
        exact_re: 0.0,
        exact_im,
        rho_exact,
    }
}

#[test]
fn the_half_plane_check_and_the_calibration_statistics_catch_what_they_should() {
    let pi = std::f64::consts::PI;
    // Δa(x) = 1: every zero must have Im >= π.
    assert!(!breaks_half_plane(&sample(pi, pi, 1.0), pi / 2.0));
    assert!(breaks_half_plane(&sample(pi, 0.9 * pi, 1.0), pi / 2.0));
    assert!(breaks_half_plane(&sample(0.4 * pi, pi, 1.0), pi / 2.0));
    // Calibration of a hand-made snapshot: ρa = 1, ρ* = 1, 2, 3, 4; the
    // top-2 modulus π/Δa (δ = 0) is π/1 = π against ρ* 1, 2, 3, 4:
    // below ρ* only for ρ* = 4.
    let samples: Vec<SampleGhost> = (1..=4).map(|k| sample(k as f64, 1.0, 1.0)).collect();
    let snap = Snapshot {
        stage: "final".into(),
        step: 1,
        accuracy: 1.0,
        loss: 0.0,
        rho_a: 1.0,
        exact_seconds: 0.0,
        samples,
    };
    let s = stage_stats(&snap);
    assert_eq!(s.ratio_median, 2.5);
    assert_eq!(s.ratio_min, 1.0);
    assert!((s.ratio_q05 - 1.15).abs() < 1e-12);
    assert_eq!(s.top2_underestimates, 0.25);
    assert_eq!(s.median_finite_im, pi);
}

fn tiny() -> GhostEnvelopeConfig {
    let mut cfg: GhostEnvelopeConfig = crate::config::built_in("ghost-envelope", true).unwrap();
    cfg.archs = vec!["linear".into(), "cnn".into()];
    cfg.seeds = vec![0, 3];
    cfg.eval_samples = 48;
    cfg.steps = Some(8);
    cfg
}

/// Everything of a run but the solver's wall time, as bits.
fn bits(r: &GhostRun) -> Vec<u64> {
    r.snapshots
        .iter()
        .flat_map(|s| {
            [s.step, s.accuracy.to_bits(), s.loss.to_bits(), s.rho_a.to_bits()]
                .into_iter()
                .chain(s.samples.iter().flat_map(|g| {
                    [
                        g.sample,
                        g.label,
                        g.margin.to_bits(),
                        g.slope_gap.to_bits(),
                        g.delta_a.to_bits(),
                        g.top2_re.to_bits(),
                        g.top2_im.to_bits(),
                        g.exact_re.to_bits(),
                        g.exact_im.to_bits(),
                        g.rho_exact.to_bits(),
                    ]
                }))
        })
        .collect()
}

#[test]
fn a_run_repeats_bit_for_bit_and_round_trips_through_its_frame() {
    let cfg = tiny();
    let splits = Splits::new(&cfg).unwrap();
    let run = one_run(&cfg, &splits, "cnn", 3).unwrap();
    assert_eq!(run.snapshots.iter().map(|s| s.step).collect::<Vec<_>>(), [0, 2, 8]);
    for s in &run.snapshots {
        assert_eq!(s.samples.len(), 48);
        for g in &s.samples {
            // The half-plane lemma on real slopes, and |s| <= Δa(x).
            assert!(!breaks_half_plane(g, s.rho_a), "{g:?}");
            assert!(g.top2_im >= std::f64::consts::PI / g.delta_a * (1.0 - 1e-12));
            assert!(g.rho_exact >= s.rho_a);
        }
    }
    let f = <GhostEnvelope as Study>::to_frame(&run).unwrap();
    assert_eq!(f.height(), 3 * 48);
    let back = <GhostEnvelope as Study>::from_frame(&cfg, &("cnn".into(), 3), &f).unwrap();
    assert_eq!(back, run);
    let again = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| one_run(&cfg, &splits, "cnn", 3).unwrap());
    assert_eq!(bits(&again), bits(&run));
    // Another seed is another run.
    assert_ne!(bits(&one_run(&cfg, &splits, "cnn", 0).unwrap()), bits(&run));
}

#[test]
fn the_eval_set_is_a_seeded_draw_of_training_samples() {
    let cfg = tiny();
    let a = Splits::new(&cfg).unwrap();
    assert_eq!((a.train.len(), a.eval.len()), (1258, 48));
    let b = Splits::new(&cfg).unwrap();
    assert_eq!(a.eval.x.data, b.eval.x.data);
    let mut other = cfg.clone();
    other.eval_seed = 43;
    assert_ne!(Splits::new(&other).unwrap().eval.x.data, a.eval.x.data);
    other.eval_samples = 2000;
    let err = format!("{:#}", Splits::new(&other).err().unwrap());
    assert!(err.contains("eval_samples = 2000") && err.contains("1258"), "{err}");
}

#[test]
fn bad_values_are_refused() {
    let ok = tiny();
    assert!(ok.validate().is_ok());
    let mut c = ok.clone();
    c.canonical_seed = 7;
    assert_eq!(c.validate().unwrap_err().0, "canonical_seed");
    let mut c = ok.clone();
    c.steps = Some(3);
    assert_eq!(c.validate().unwrap_err().0, "steps");
    let mut c = ok.clone();
    c.archs = vec!["resnet".into()];
    assert_eq!(c.validate().unwrap_err().0, "archs");
    let mut c = ok;
    c.eval_samples = 1;
    assert_eq!(c.validate().unwrap_err().0, "eval_samples");
}

#[test]
fn quick_config_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::new(dir.path(), true);
    let e = GhostEnvelope;
    e.run(&ctx).unwrap();
    let section = e.render(&ctx).unwrap();
    assert!(section.verdict.contains("reference numbers agree"), "{}", section.verdict);
    assert!(section.table_markdown.contains("author's stored run"));
    let summary: GhostSummary = ctx.read_summary(e.id()).unwrap();
    let cfg: GhostEnvelopeConfig = crate::config::built_in(e.id(), true).unwrap();
    assert_eq!(summary.half_plane_violations, 0);
    assert_eq!(
        summary.half_plane_checked as usize,
        cfg.archs.len() * cfg.seeds.len() * 3 * cfg.eval_samples
    );
    for arch in &cfg.archs {
        for stage in STAGES {
            let s = &summary.archs[arch][stage];
            assert!(s.rho_a.canonical_seed > 0.0 && s.accuracy.canonical_seed >= 0.0);
            assert!(s.rho_exact_over_rho_a_min.canonical_seed >= 1.0);
        }
    }
    let json = std::fs::read_to_string(ctx.results_dir(e.id()).join("summary.json")).unwrap();
    for key in ["rho_exact_over_rho_a_median", "top2_underestimates_share", "far_angle_exact_deg", "canonical_seed", "mean_us_per_sample"] {
        assert!(json.contains(key), "{key}");
    }
    for f in ["ghost_envelope_top2", "ghost_envelope_exact"] {
        for ext in ["png", "svg"] {
            assert!(ctx.figures_dir(e.id()).join(format!("{f}.{ext}")).is_file(), "{f}.{ext}");
        }
        let svg = std::fs::read_to_string(ctx.figures_dir(e.id()).join(format!("{f}.svg"))).unwrap();
        let problems = analysis::plot::text_problems(&svg);
        assert!(problems.is_empty(), "{f}: {problems:?}");
    }
    assert!(ctx.table_path(e.id()).is_file());
    ctx.tally.reset();
    e.run(&ctx).unwrap();
    assert_eq!(ctx.tally.computed(), 0);
}
