//! Figures, tables and report section of `ghost-envelope`, from the stored
//! runs alone: the top-2 ghost clouds with their Q10/Q90 envelopes (Fig 1),
//! the exact zeros over the same panels (Fig 2), the canonical seed against
//! the author's stored run, and the calibration of ρa against ρ*.

use super::summary::{cloud, Cloud, StageSummary, UNDERESTIMATE_REL};
use super::{GhostEnvelope, GhostEnvelopeConfig, GhostRun, GhostSummary, SampleGhost, STAGES};
use crate::paper_numbers::{Comparisons, PaperNumbers, Tolerance};
use crate::study::Study;
use crate::Context;
use analysis::plot::{Figure, HLine, Panel, Scatter, Series};
use analysis::report::Section;
use analysis::style::Weight;
use analysis::table::{fmt_pct, fmt_sig, seeds_text, Table};
use anyhow::{Context as _, Result};

/// ρa agrees with the stored run within this factor: a different random
/// stream (initialisation, batch order) moves the trained ρa by tens of
/// percent between our own seeds (see the table's seed range).
const RHO_A_FACTOR: f64 = 2.0;
/// The median finite top-2 Im agrees within this factor (as ρa).
const MEDIAN_IM_FACTOR: f64 = 2.0;
/// Eval accuracy of a trained snapshot agrees within this many points.
const TRAINED_ACC_POINTS: f64 = 0.05;
/// Eval accuracy of the untrained snapshot (chance level, ±10 points from
/// one random initialisation to another) agrees within this many points.
const UNTRAINED_ACC_POINTS: f64 = 0.10;
/// Panel cell size (pixels) of the 3 × 4 grids.
const GRID_PANEL: (u32, u32) = (900, 720);

/// How the paper's code names an architecture in its panel titles.
fn arch_label(arch: &str) -> &str {
    match arch {
        "linear" => "Linear",
        "mlp-ln" => "MLP+LN-128",
        "cnn" => "CNN-2D",
        "tiny-transformer-b" => "TinyTransformer-B",
        other => other,
    }
}

/// One panel of a ghost cloud: the kept points inside the axes, the
/// envelope, the ρa line.
fn panel(title: String, c: &Cloud, rho_a: f64, points: &str) -> Panel {
    let mut p = Panel::new(title, "Re tau", "Im tau");
    p.x_range = Some(c.x_range);
    p.y_range = Some(c.y_range);
    // Points outside the axes are left out (not piled on the frame).
    let inside = |x: f64, y: f64| {
        x >= c.x_range.0 && x <= c.x_range.1 && y >= c.y_range.0 && y <= c.y_range.1
    };
    let (x, y): (Vec<f64>, Vec<f64>) = c
        .re
        .iter()
        .zip(&c.im)
        .filter(|(x, y)| inside(**x, **y))
        .map(|(x, y)| (*x, *y))
        .unzip();
    // The points as dots of an unlabelled series (a point between NaN
    // gaps is drawn as a dot), drawn before the envelope so the Q10/Q90
    // lines stay visible over a dense cloud (scatters are drawn last);
    // the legend's dot comes from an empty scatter of the same colour.
    let ink = analysis::style::tint(analysis::style::palette(0), 0.25);
    let dots = |v: &[f64]| v.iter().flat_map(|&a| [a, f64::NAN]).collect::<Vec<f64>>();
    p.series.push(Series::new("", dots(&x), dots(&y)).color(ink));
    p.scatters.push(Scatter::new(points, vec![], vec![]).color(ink));
    if let Some(e) = &c.envelope {
        p.series.push(
            Series::new("Q10 of Im per Re bin", e.x.clone(), e.q10.clone())
                .color(1)
                .width(Weight::Bold),
        );
        p.series.push(
            Series::new("Q90 of Im per Re bin", e.x.clone(), e.q90.clone())
                .color(2)
                .width(Weight::Bold)
                .dashed(),
        );
    }
    p.hlines.push(HLine::new(rho_a, "rho_a = pi / Delta_a").on_top());
    p
}

/// The canonical seed's run of `arch`.
fn canonical<'a>(cfg: &GhostEnvelopeConfig, runs: &'a [GhostRun], arch: &str) -> Option<&'a GhostRun> {
    runs.iter()
        .find(|r| r.arch == arch && r.seed == cfg.canonical_seed)
}

/// One 3 × 4 figure: rows = stages, columns = architectures, points picked
/// by `pick` (Re, Im).
fn grid(
    cfg: &GhostEnvelopeConfig,
    runs: &[GhostRun],
    pick: fn(&SampleGhost) -> (f64, f64),
    points: &str,
) -> Vec<Panel> {
    let mut panels = Vec::new();
    for (i, stage) in STAGES.iter().enumerate() {
        for arch in &cfg.archs {
            let Some(run) = canonical(cfg, runs, arch) else {
                continue;
            };
            let s = &run.snapshots[i];
            let (re, im): (Vec<f64>, Vec<f64>) = s.samples.iter().map(pick).unzip();
            let c = cloud(&re, &im);
            let title = format!(
                "{}\n{}, step {}\nacc {}",
                arch_label(arch),
                stage,
                s.step,
                fmt_pct(s.accuracy, 1)
            );
            panels.push(panel(title, &c, s.rho_a, points));
        }
    }
    panels
}

/// `ours` with its seed spread: "0.0412 (0.0390-0.0511)".
fn with_range(s: &super::SeedSpread, f: &dyn Fn(f64) -> String) -> String {
    format!(
        "{} [{}-{}]",
        f(s.median_over_seeds),
        f(s.min_over_seeds),
        f(s.max_over_seeds)
    )
}

/// Figures, tables and report section.
pub(super) fn render(ctx: &Context, summary: &GhostSummary, runs: &[GhostRun]) -> Result<Section> {
    let id = GhostEnvelope::ID;
    let cfg = &summary.config;
    let paper = PaperNumbers::load_for_root(&ctx.root)?;
    let figs = ctx.figures_dir(id);
    let cols = cfg.archs.len();
    let seed = cfg.canonical_seed;
    let mut figures = Vec::new();
    let fig1 = Figure::grid(
        grid(cfg, runs, |g| (g.top2_re, g.top2_im), "top-2 ghost (delta/s, pi/|s|) of an eval sample"),
        cols,
    )
    .with_shared_legend()
    .sized(GRID_PANEL)
    .titled(format!(
        "Top-2 ghosts along the descent direction, one per eval sample ({}), seed {seed}; rows: untrained, mid, final",
        cfg.eval_samples
    ));
    figures.extend(analysis::plot::render(&fig1, &figs.join("ghost_envelope_top2"))?);
    let fig2 = Figure::grid(
        grid(cfg, runs, |g| (g.exact_re, g.exact_im), "certified nearest zero t* of F of an eval sample"),
        cols,
    )
    .with_shared_legend()
    .sized(GRID_PANEL)
    .titled(format!(
        "Exact nearest zeros tau* of F(tau) = Σ_k exp(z_k + a_k tau), the same samples and panels, seed {seed}; rows: untrained, mid, final"
    ));
    figures.extend(analysis::plot::render(&fig2, &figs.join("ghost_envelope_exact"))?);

    // Table 1: the canonical seed beside the author's stored run.
    let stage_of = |arch: &str, stage: &str| -> Result<&StageSummary> {
        summary
            .archs
            .get(arch)
            .and_then(|m| m.get(stage))
            .with_context(|| format!("summary.json has no {arch} / {stage}"))
    };
    let key = |what: &str, arch: &str, stage: &str| format!("stored_{what}_{arch}_{stage}");
    let mut t1 = Table::new([
        "architecture",
        "stage (step)",
        &format!("eval acc, ours (seed {seed})"),
        "eval acc, author's stored run (seed 0)",
        &format!("rho_a, ours (seed {seed})"),
        "rho_a, author's stored run (seed 0)",
        &format!("median finite top-2 Im, ours (seed {seed})"),
        "median finite top-2 Im, author's stored run (seed 0)",
    ]);
    t1.title = Some(format!(
        "Ghost envelope: our canonical seed against the author's stored run (spec §6.10), {} eval samples, along v = -g/|g|",
        cfg.eval_samples
    ));
    let mut cmp = Comparisons::new();
    let mut inside_range = (0usize, 0usize);
    for arch in &cfg.archs {
        for stage in STAGES {
            let s = stage_of(arch, stage)?;
            let acc_tol = if stage == "untrained" {
                UNTRAINED_ACC_POINTS
            } else {
                TRAINED_ACC_POINTS
            };
            let what = |q: &str| {
                let q = match q {
                    "accuracy" => "eval accuracy",
                    "median_im" => "median finite top-2 Im",
                    other => other,
                };
                format!("{} {stage} {q}", arch_label(arch))
            };
            let pct: fn(f64) -> String = |v| fmt_pct(v, 1);
            let sig: fn(f64) -> String = |v| fmt_sig(v, 3);
            let compared: [(&str, &super::SeedSpread, Tolerance, fn(f64) -> String); 3] = [
                ("accuracy", &s.accuracy, Tolerance::Points(acc_tol), pct),
                ("rho_a", &s.rho_a, Tolerance::Factor(RHO_A_FACTOR), sig),
                ("median_im", &s.median_finite_im, Tolerance::Factor(MEDIAN_IM_FACTOR), sig),
            ];
            for (name, ours, tol, fmt) in compared {
                let k = key(name, arch, stage);
                cmp.add(&paper, (id, &k), &what(name), ours.canonical_seed, fmt, tol);
                if let Some(v) = paper.get(id, &k).ok().and_then(|n| n.value) {
                    inside_range.1 += 1;
                    // Printed to 3 digits: inside the seeds' range up to the printed rounding.
                    let half = paper.get(id, &k).map_or(0.0, |n| n.half_unit());
                    let scale = if name == "accuracy" { 0.01 } else { 1.0 };
                    if v + half * scale >= ours.min_over_seeds && v - half * scale <= ours.max_over_seeds {
                        inside_range.0 += 1;
                    }
                }
            }
            t1.push_row([
                arch_label(arch).to_string(),
                format!("{} ({})", stage, s.step),
                fmt_pct(s.accuracy.canonical_seed, 1),
                paper.labelled(id, &key("accuracy", arch, stage)),
                fmt_sig(s.rho_a.canonical_seed, 3),
                paper.labelled(id, &key("rho_a", arch, stage)),
                fmt_sig(s.median_finite_im.canonical_seed, 3),
                paper.labelled(id, &key("median_im", arch, stage)),
            ]);
        }
    }

    // Table 2: how loose rho_a is against the exact zeros.
    let n_seeds = cfg.seeds.len();
    let mut t2 = Table::new([
        "architecture".to_string(),
        "stage (step)".to_string(),
        format!("rho*/rho_a median, seed {seed}"),
        format!("rho*/rho_a 5th pct, seed {seed}"),
        format!("smallest rho*/rho_a over samples, seed {seed}"),
        format!("share with rho_top2 < rho*, seed {seed}"),
        format!("rho_top2/rho* median, seed {seed}"),
        format!("far-angle top-2 / exact (deg), seed {seed}"),
        format!("rho_a, median [range] over {n_seeds} seeds"),
        format!("eval acc, median [range] over {n_seeds} seeds"),
        format!("rho*/rho_a median, median [range] over {n_seeds} seeds"),
        format!("share rho_top2 < rho*, median [range] over {n_seeds} seeds"),
    ]);
    t2.title = Some(format!(
        "Calibration of rho_a against the certified nearest zero rho* of each eval sample (no reference numbers: the paper names it future work (i)/(ii)); {}",
        seeds_text(&cfg.seeds)
    ));
    let sig3 = |v: f64| fmt_sig(v, 3);
    let pct1 = |v: f64| fmt_pct(v, 1);
    for arch in &cfg.archs {
        for stage in STAGES {
            let s = stage_of(arch, stage)?;
            t2.push_row([
                arch_label(arch).to_string(),
                format!("{} ({})", stage, s.step),
                sig3(s.rho_exact_over_rho_a_median.canonical_seed),
                sig3(s.rho_exact_over_rho_a_q05.canonical_seed),
                sig3(s.rho_exact_over_rho_a_min.canonical_seed),
                pct1(s.top2_underestimates_share.canonical_seed),
                sig3(s.rho_top2_over_rho_exact_median.canonical_seed),
                format!(
                    "{:.1} / {:.1}",
                    s.far_angle_top2_deg.canonical_seed, s.far_angle_exact_deg.canonical_seed
                ),
                with_range(&s.rho_a, &sig3),
                with_range(&s.accuracy, &pct1),
                with_range(&s.rho_exact_over_rho_a_median, &sig3),
                with_range(&s.top2_underestimates_share, &pct1),
            ]);
        }
    }
    let md = format!("{}\n{}", t1.to_markdown(), t2.to_markdown());
    analysis::store::write_atomic(ctx.table_path(id), md.as_bytes())?;

    // The verdict: every stored-run number compared, and the half-plane
    // lemma checked on every sample.
    let mut claims = Comparisons::new();
    claims.add_claim(
        summary.half_plane_violations == 0,
        format!(
            "the half-plane lemma (T3: rho* >= rho_a and Im t* >= pi/Delta_a(x) for every zero, relative tolerance 1e-6) on every sample of every run and stage (ours: {} of {} samples break it)",
            summary.half_plane_violations, summary.half_plane_checked
        ),
    );
    let lead = match (cmp.all_agree(), claims.all_agree()) {
        (true, true) => "reproduced",
        (false, true) => "partly reproduced (some of the stored run's numbers differ)",
        (_, false) => "differs (the half-plane lemma fails on our zeros)",
    };
    let finals: Vec<String> = cfg
        .archs
        .iter()
        .filter_map(|a| {
            let s = stage_of(a, "final").ok()?;
            Some(format!(
                "{} {} (5th pct {}, top-2 below rho* for {})",
                arch_label(a),
                sig3(s.rho_exact_over_rho_a_median.canonical_seed),
                sig3(s.rho_exact_over_rho_a_q05.canonical_seed),
                pct1(s.top2_underestimates_share.canonical_seed)
            ))
        })
        .collect();
    let verdict = format!(
        "{lead} (the author's stored run, spec §6.10; the paper has no figure or number for this): {}; tolerances: rho_a and the median finite Im within a factor of {RHO_A_FACTOR}, eval accuracy within {} points (untrained: {} points, chance level). The stored value lies inside our range over {} for {} of {} numbers. The paper's theory: {}. Calibration (ours, seed {seed}, final snapshot): the per-sample exact radius rho* over rho_a has median {}.",
        cmp.summary(),
        100.0 * TRAINED_ACC_POINTS,
        100.0 * UNTRAINED_ACC_POINTS,
        seeds_text(&cfg.seeds),
        inside_range.0,
        inside_range.1,
        claims.claims_summary(),
        finals.join("; ")
    );

    let recipes = cfg
        .archs
        .iter()
        .map(|a| {
            let r = cfg.recipe(a);
            let [_, mid, end] = cfg.snapshot_steps(a);
            format!(
                "{} AdamW lr {} for {} steps (snapshots at 0, {mid}, {end})",
                arch_label(a),
                fmt_sig(r.lr, 2),
                r.steps
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let solver = &summary.solver;
    let notes: Vec<String> = ctx
        .config_note(id)
        .into_iter()
        .chain([
            format!(
                "Method (spec §6.10, the author's code): stratified 70/30 split (seed {}), training on the training split with batches of 128 drawn without replacement (batch RNG = seed), weight decay 1e-4: {recipes}. Eval set: {} training samples drawn with RNG seed {}. At each snapshot, on the eval set in eval mode: g = gradient of the mean CE, v = -g/|g|, logits z and exact JVP slopes a = J_z v (one tangent pass over the gradient's forward, f32, `{}` backend); rho_a = pi / max_x Delta_a(x); accuracy = argmax z = y on the eval (training) samples.",
                cfg.split_seed,
                cfg.eval_samples,
                cfg.eval_seed,
                serde_yaml::to_string(&cfg.backend).unwrap_or_default().trim()
            ),
            "Top-2 ghost (T4, as the author's code): y = the true label, c = argmax of the other logits, delta = z_y - z_c, s = a_c - a_y; Re = delta/s, Im = pi/|s| (Im = inf when |s| < 1e-12); its modulus is rho_top2 = sqrt(delta^2 + pi^2)/|s|. Exact zero: the radius core's certified solver on the sample's 10 logits and slopes (f64), the nearest zero t* of F with Im t* > 0, certified zero-free inside (1 - 1e-9)|t*| by the argument principle; rho* = |t*|. Every zero has Im >= pi/Delta_a(x) >= rho_a (half-plane lemma), so the rho_a line lies under every point of both figures.".to_string(),
            format!(
                "Envelope and far-angle (spec §6.10): points with finite Re and Im and Im below its 99th percentile; with at least 30 such points, Re between its 5th and 95th percentiles in 30 equal bins, and in bins of at least 8 points the 10th (Q10) and 90th (Q90) percentiles of Im. Far-angle = mean of atan2(Im, |Re|) in degrees over those points whose modulus is at least its 90th percentile (90 deg: far ghosts straight above the origin). 'rho_top2 < rho*' counts samples whose top-2 modulus is below the exact one by more than a relative {UNDERESTIMATE_REL:e}; the table's median finite Im is over all finite top-2 Im (before the 99th-percentile cut). Figures show seed {seed}; points outside a panel's axes are left out."
            ),
            format!(
                "Cost of the exact-zero solver (measured in these runs: solver wall time summed over the runs, each run on one worker thread): {} samples in {:.2} s, {:.0} µs per sample on average, {:.0} µs per sample in the slowest snapshot ({}); the whole experiment's wall time is the last note (a measurement, not part of the stored method: it differs from run to run).",
                solver.samples,
                solver.seconds,
                solver.mean_us_per_sample,
                solver.slowest_snapshot_us_per_sample,
                solver.slowest_snapshot
            ),
        ])
        .collect();
    Ok(Section {
        id: id.into(),
        title: GhostEnvelope::TITLE.into(),
        figures: ctx.report_figures(&figures),
        table_markdown: md,
        verdict,
        notes,
    })
}
