//! The statistics of `ghost-envelope`: a panel's point cloud with its
//! Q10/Q90 envelope and axis ranges (spec §6.10's plot rules), the
//! far-angle, the calibration of ρa against the exact zeros, and the
//! headline numbers (`summary.json`).

use super::{GhostEnvelopeConfig, GhostRun, SampleGhost, Snapshot, STAGES};
use analysis::stats::{nan_median, quantile};
use analysis::store::nullable_f64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An envelope needs at least this many plotted points (spec §6.10).
pub const ENVELOPE_MIN_POINTS: usize = 30;
/// Equal-width bins of Re between its 5th and 95th percentiles.
pub const ENVELOPE_BINS: usize = 30;
/// A bin is drawn only with at least this many points.
pub const ENVELOPE_MIN_PER_BIN: usize = 8;
/// Scatter keeps Im below this quantile of the finite Im values.
pub const PLOT_IM_QUANTILE: f64 = 0.99;
/// Padding of the x range (2nd..98th percentile of Re) on each side, and
/// of the y range above the 98th percentile of Im, as a fraction.
pub const AXIS_PAD: f64 = 0.15;
/// The far-angle averages over points whose modulus is at least this
/// quantile of the moduli.
pub const FAR_QUANTILE: f64 = 0.9;
/// ρ_top2 counts as underestimating ρ* when below ρ*·(1 − this): above the
/// exact solver's certification gap (1e-9) and f64 rounding, so a sample
/// whose other classes do not matter (ρ_top2 = ρ* to rounding) is not
/// counted.
pub const UNDERESTIMATE_REL: f64 = 1e-6;
/// Tolerance of the half-plane check ρ* ≥ ρa and Im t* ≥ π/Δa(x)
/// (relative; the solver certifies to 1e-9).
pub const HALF_PLANE_REL: f64 = 1e-6;

/// The Q10 and Q90 of Im per bin of Re (bins with too few points are
/// left out).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Envelope {
    /// Bin centres.
    pub x: Vec<f64>,
    /// 10th percentile of Im in the bin.
    pub q10: Vec<f64>,
    /// 90th percentile of Im in the bin.
    pub q90: Vec<f64>,
}

/// One panel's points as spec §6.10 draws them.
#[derive(Debug, Clone, PartialEq)]
pub struct Cloud {
    /// Re of the kept points (finite, Im below its 99th percentile).
    pub re: Vec<f64>,
    /// Im of the kept points.
    pub im: Vec<f64>,
    /// Points with finite Re and Im before the Im cut.
    pub finite: usize,
    /// x axis: 2nd..98th percentile of the kept Re, padded 15% each side.
    pub x_range: (f64, f64),
    /// y axis: 0..98th percentile of the kept Im, plus 15%.
    pub y_range: (f64, f64),
    /// Q10/Q90 envelope (`None` below [`ENVELOPE_MIN_POINTS`] points).
    pub envelope: Option<Envelope>,
}

/// The cloud of points (re, im) by spec §6.10's rules: keep the finite
/// points with Im < its 99th percentile (all finite points if that keeps
/// none, as when every Im is equal); envelope and axes from those.
pub fn cloud(re: &[f64], im: &[f64]) -> Cloud {
    let pts: Vec<(f64, f64)> = re
        .iter()
        .zip(im)
        .filter(|(r, i)| r.is_finite() && i.is_finite())
        .map(|(&r, &i)| (r, i))
        .collect();
    let ims: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let cut = quantile(&ims, PLOT_IM_QUANTILE);
    let mut kept: Vec<(f64, f64)> = pts.iter().copied().filter(|p| p.1 < cut).collect();
    if kept.is_empty() {
        kept = pts.clone();
    }
    let (kre, kim): (Vec<f64>, Vec<f64>) = kept.iter().copied().unzip();
    let (lo, hi) = (quantile(&kre, 0.02), quantile(&kre, 0.98));
    let width = hi - lo;
    let pad = if width > 0.0 {
        AXIS_PAD * width
    } else {
        AXIS_PAD * lo.abs().max(1e-12)
    };
    let top = quantile(&kim, 0.98) * (1.0 + AXIS_PAD);
    Cloud {
        finite: pts.len(),
        x_range: (lo - pad, hi + pad),
        y_range: (0.0, if top > 0.0 { top } else { 1.0 }),
        envelope: envelope(&kre, &kim),
        re: kre,
        im: kim,
    }
}

/// Spec §6.10's envelope: with at least [`ENVELOPE_MIN_POINTS`] points,
/// [`ENVELOPE_BINS`] equal bins of Re over its 5th..95th percentiles (each
/// bin [left, right), the last closed); in bins of at least
/// [`ENVELOPE_MIN_PER_BIN`] points the 10th and 90th percentiles of Im.
pub fn envelope(re: &[f64], im: &[f64]) -> Option<Envelope> {
    if re.len() < ENVELOPE_MIN_POINTS {
        return None;
    }
    let (lo, hi) = (quantile(re, 0.05), quantile(re, 0.95));
    if !(hi > lo) {
        return None;
    }
    let w = (hi - lo) / ENVELOPE_BINS as f64;
    let mut bins: Vec<Vec<f64>> = vec![Vec::new(); ENVELOPE_BINS];
    for (&r, &i) in re.iter().zip(im) {
        if r < lo || r > hi {
            continue;
        }
        let b = (((r - lo) / w) as usize).min(ENVELOPE_BINS - 1);
        bins[b].push(i);
    }
    let mut e = Envelope::default();
    for (b, v) in bins.iter().enumerate() {
        if v.len() >= ENVELOPE_MIN_PER_BIN {
            e.x.push(lo + (b as f64 + 0.5) * w);
            e.q10.push(quantile(v, 0.10));
            e.q90.push(quantile(v, 0.90));
        }
    }
    Some(e)
}

/// Spec §6.10's far-angle (degrees): the mean of atan2(Im, |Re|) over the
/// points whose modulus is at least the [`FAR_QUANTILE`] quantile of the
/// moduli; 90° means the far ghosts sit straight above the origin (Im
/// dominated), 0° on the real axis. NaN without points.
pub fn far_angle(re: &[f64], im: &[f64]) -> f64 {
    let moduli: Vec<f64> = re.iter().zip(im).map(|(r, i)| r.hypot(*i)).collect();
    let cut = quantile(&moduli, FAR_QUANTILE);
    let far: Vec<f64> = re
        .iter()
        .zip(im)
        .zip(&moduli)
        .filter(|(_, m)| **m >= cut)
        .map(|((r, i), _)| i.atan2(r.abs()).to_degrees())
        .collect();
    analysis::stats::mean(&far)
}

/// One snapshot's statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageStats {
    /// Eval accuracy.
    pub accuracy: f64,
    /// ρa on the eval set.
    pub rho_a: f64,
    /// Median of the finite top-2 Im (the stored run's statistic).
    pub median_finite_im: f64,
    /// Median over samples of ρ*/ρa.
    pub ratio_median: f64,
    /// 5th percentile over samples of ρ*/ρa.
    pub ratio_q05: f64,
    /// min_x ρ*(x)/ρa: the set's exact radius over its bound.
    pub ratio_min: f64,
    /// Share of samples with ρ_top2 < ρ* (by more than [`UNDERESTIMATE_REL`]).
    pub top2_underestimates: f64,
    /// Median over samples of ρ_top2/ρ*.
    pub top2_over_exact_median: f64,
    /// Far-angle of the plotted top-2 ghosts (degrees).
    pub far_angle_top2: f64,
    /// Far-angle of the plotted exact zeros (degrees).
    pub far_angle_exact: f64,
}

/// The statistics of one snapshot.
pub fn stage_stats(s: &Snapshot) -> StageStats {
    let g = &s.samples;
    let col = |f: &dyn Fn(&SampleGhost) -> f64| g.iter().map(f).collect::<Vec<f64>>();
    let finite_im: Vec<f64> = g.iter().map(|x| x.top2_im).filter(|v| v.is_finite()).collect();
    let ratio = col(&|x| x.rho_exact / s.rho_a);
    let under = g
        .iter()
        .filter(|x| x.rho_top2() < x.rho_exact * (1.0 - UNDERESTIMATE_REL))
        .count();
    let top2 = cloud(&col(&|x| x.top2_re), &col(&|x| x.top2_im));
    let exact = cloud(&col(&|x| x.exact_re), &col(&|x| x.exact_im));
    StageStats {
        accuracy: s.accuracy,
        rho_a: s.rho_a,
        median_finite_im: nan_median(&finite_im),
        ratio_median: quantile(&ratio, 0.5),
        ratio_q05: quantile(&ratio, 0.05),
        ratio_min: ratio.iter().copied().fold(f64::INFINITY, f64::min),
        top2_underestimates: under as f64 / g.len().max(1) as f64,
        top2_over_exact_median: nan_median(&col(&|x| x.rho_top2() / x.rho_exact)),
        far_angle_top2: far_angle(&top2.re, &top2.im),
        far_angle_exact: far_angle(&exact.re, &exact.im),
    }
}

/// A statistic of the canonical seed, with its median and range over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeedSpread {
    /// The canonical seed's value (compared with the stored run).
    #[serde(with = "nullable_f64")]
    pub canonical_seed: f64,
    /// Median over all seeds.
    #[serde(with = "nullable_f64")]
    pub median_over_seeds: f64,
    /// Smallest over seeds.
    #[serde(with = "nullable_f64")]
    pub min_over_seeds: f64,
    /// Largest over seeds.
    #[serde(with = "nullable_f64")]
    pub max_over_seeds: f64,
}

impl SeedSpread {
    fn of(canonical: f64, all: &[f64]) -> SeedSpread {
        let finite = all.iter().copied().filter(|v| !v.is_nan());
        SeedSpread {
            canonical_seed: canonical,
            median_over_seeds: nan_median(all),
            min_over_seeds: finite.clone().fold(f64::NAN, f64::min),
            max_over_seeds: finite.fold(f64::NAN, f64::max),
        }
    }
}

/// One (architecture, stage): every statistic, canonical seed and spread.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageSummary {
    /// Optimiser steps before the snapshot.
    pub step: u64,
    /// Eval accuracy.
    pub accuracy: SeedSpread,
    /// ρa.
    pub rho_a: SeedSpread,
    /// Median finite top-2 Im.
    pub median_finite_im: SeedSpread,
    /// Median ρ*/ρa.
    pub rho_exact_over_rho_a_median: SeedSpread,
    /// 5th percentile of ρ*/ρa.
    pub rho_exact_over_rho_a_q05: SeedSpread,
    /// min_x ρ*/ρa.
    pub rho_exact_over_rho_a_min: SeedSpread,
    /// Share of samples where ρ_top2 < ρ*.
    pub top2_underestimates_share: SeedSpread,
    /// Median ρ_top2/ρ*.
    pub rho_top2_over_rho_exact_median: SeedSpread,
    /// Far-angle of the top-2 ghosts (degrees).
    pub far_angle_top2_deg: SeedSpread,
    /// Far-angle of the exact zeros (degrees).
    pub far_angle_exact_deg: SeedSpread,
}

/// What the exact-zero solver cost (wall time, a measurement).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SolverCost {
    /// Samples solved over every run and snapshot.
    pub samples: u64,
    /// Their total solver time (seconds).
    #[serde(with = "nullable_f64")]
    pub seconds: f64,
    /// Mean time per sample (microseconds).
    #[serde(with = "nullable_f64")]
    pub mean_us_per_sample: f64,
    /// The slowest snapshot's mean per sample (microseconds).
    #[serde(with = "nullable_f64")]
    pub slowest_snapshot_us_per_sample: f64,
    /// Which snapshot that is ("cnn seed 0, untrained").
    pub slowest_snapshot: String,
}

/// `results/ghost-envelope/summary.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct GhostSummary {
    /// Settings used.
    pub config: GhostEnvelopeConfig,
    /// Architecture → stage → statistics.
    pub archs: BTreeMap<String, BTreeMap<String, StageSummary>>,
    /// Samples (over every run and stage) checked against the half-plane
    /// lemma (T3).
    pub half_plane_checked: u64,
    /// Of those, samples with ρ* < ρa or Im t* < π/Δa(x) (beyond
    /// [`HALF_PLANE_REL`]): the lemma says none.
    pub half_plane_violations: u64,
    /// The exact solver's cost.
    pub solver: SolverCost,
}

/// True if the sample breaks the half-plane lemma (T3): its exact zero
/// inside the disk of radius ρa, or below Im = π/Δa(x).
pub fn breaks_half_plane(g: &SampleGhost, rho_a: f64) -> bool {
    let lim = std::f64::consts::PI / g.delta_a;
    g.rho_exact < rho_a * (1.0 - HALF_PLANE_REL)
        || (g.exact_im.is_finite() && g.exact_im < lim * (1.0 - HALF_PLANE_REL))
}

/// The headline numbers of every run.
pub fn summarize(cfg: &GhostEnvelopeConfig, runs: &[GhostRun]) -> GhostSummary {
    let mut archs = BTreeMap::new();
    for arch in &cfg.archs {
        let mine: Vec<&GhostRun> = runs.iter().filter(|r| &r.arch == arch).collect();
        let mut stages = BTreeMap::new();
        for (i, stage) in STAGES.iter().enumerate() {
            let stats: Vec<(u64, StageStats)> = mine
                .iter()
                .map(|r| (r.seed, stage_stats(&r.snapshots[i])))
                .collect();
            let canonical = stats.iter().find(|(s, _)| *s == cfg.canonical_seed).map(|x| x.1);
            let spread = |f: fn(&StageStats) -> f64| {
                let all: Vec<f64> = stats.iter().map(|(_, s)| f(s)).collect();
                SeedSpread::of(canonical.as_ref().map_or(f64::NAN, f), &all)
            };
            stages.insert(
                stage.to_string(),
                StageSummary {
                    step: mine.first().map_or(0, |r| r.snapshots[i].step),
                    accuracy: spread(|s| s.accuracy),
                    rho_a: spread(|s| s.rho_a),
                    median_finite_im: spread(|s| s.median_finite_im),
                    rho_exact_over_rho_a_median: spread(|s| s.ratio_median),
                    rho_exact_over_rho_a_q05: spread(|s| s.ratio_q05),
                    rho_exact_over_rho_a_min: spread(|s| s.ratio_min),
                    top2_underestimates_share: spread(|s| s.top2_underestimates),
                    rho_top2_over_rho_exact_median: spread(|s| s.top2_over_exact_median),
                    far_angle_top2_deg: spread(|s| s.far_angle_top2),
                    far_angle_exact_deg: spread(|s| s.far_angle_exact),
                },
            );
        }
        archs.insert(arch.clone(), stages);
    }
    let snaps = || runs.iter().flat_map(|r| &r.snapshots);
    let checked = snaps().map(|s| s.samples.len() as u64).sum::<u64>();
    let violations = snaps()
        .map(|s| s.samples.iter().filter(|g| breaks_half_plane(g, s.rho_a)).count() as u64)
        .sum();
    let seconds: f64 = snaps().map(|s| s.exact_seconds).sum();
    let per_sample = |s: &Snapshot| 1e6 * s.exact_seconds / s.samples.len().max(1) as f64;
    let slowest = runs
        .iter()
        .flat_map(|r| r.snapshots.iter().map(move |s| (r, s)))
        .max_by(|a, b| per_sample(a.1).total_cmp(&per_sample(b.1)));
    GhostSummary {
        config: cfg.clone(),
        archs,
        half_plane_checked: checked,
        half_plane_violations: violations,
        solver: SolverCost {
            samples: checked,
            seconds,
            mean_us_per_sample: 1e6 * seconds / checked.max(1) as f64,
            slowest_snapshot_us_per_sample: slowest.map_or(f64::NAN, |(_, s)| per_sample(s)),
            slowest_snapshot: slowest.map_or_else(String::new, |(r, s)| {
                format!("{} seed {}, {}", r.arch, r.seed, s.stage)
            }),
        },
    }
}
