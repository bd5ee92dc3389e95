//! Figure 6, the table and the report section of `lr-spike`, from the
//! stored runs alone.

use super::{rate_label, LrSpike, LrSpikeConfig, LrSpikeSummary, Method, SettingSummary, SpikeRun};
use crate::paper_numbers::{Comparisons, PaperNumbers, Tolerance};
use crate::study::Study;
use crate::Context;
use analysis::style::Weight;
use analysis::plot::{Band, Figure, HLine, Panel, Series, VLine};
use analysis::report::Section;
use analysis::stats::per_index_quantiles;
use analysis::table::{fmt_pct, fmt_sig, Table};
use anyhow::Result;
use zoo::Backend;

/// How a method is shown: legend label, palette colour.
impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::Plain => "plain Adam",
            Method::Controller => "rho_a-controller",
        }
    }

    /// Palette colour: vermillion (the paper's red) and blue (the paper
    /// uses gold, too close to red in our palette).
    fn color(self) -> usize {
        match self {
            Method::Plain => 1,
            Method::Controller => 0,
        }
    }
}

/// Final test accuracy below which a method counts as collapsed in the
/// verdict (about half the ≈ 95% the controller ends at; the author's
/// plain runs end at 94.7%, 11.7% and 10.0%).
const COLLAPSE_ACCURACY: f64 = 0.5;

/// Per step: the median and IQR over seeds of `value(run)[step]`.
fn step_band(
    runs: &[&SpikeRun],
    steps: usize,
    value: impl Fn(&SpikeRun, usize) -> f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut q =
        per_index_quantiles(runs, steps, |r, t| value(r, t), &[0.25, 0.5, 0.75]).into_iter();
    let (lo, mid, hi) = (q.next().unwrap(), q.next().unwrap(), q.next().unwrap());
    (lo, mid, hi)
}

/// Fig 6: one row per base rate; loss, test accuracy, τ against ρa.
fn figure(
    ctx: &Context,
    cfg: &LrSpikeConfig,
    runs: &[SpikeRun],
) -> Result<Vec<std::path::PathBuf>> {
    let steps = cfg.steps;
    let x: Vec<f64> = (0..steps).map(|t| t as f64).collect();
    let spike_at = cfg.spike.start as f64;
    let spike_label = format!("spike: lr x {}", fmt_sig(cfg.spike.multiplier, 3));
    let mut panels = Vec::new();
    // Per base rate: are the two methods' runs bitwise equal before the spike?
    let mut identical = Vec::new();
    for &base in &cfg.base_rates {
        let rl = rate_label(base);
        let mut loss = Panel::new(
            format!("eta0 = {rl}: minibatch loss"),
            "step",
            "cross-entropy",
        );
        loss.y_log = true;
        let mut acc = Panel::new(
            format!("eta0 = {rl}: test accuracy"),
            "step",
            "test acc. (%)",
        );
        acc.y_range = Some((0.0, 100.0));
        let mut radii = Panel::new(
            format!("eta0 = {rl}: step tau, radius rho_a"),
            "step",
            "tau, rho_a",
        );
        radii.y_log = true;
        // The loss panel's ceiling: non-finite losses are drawn there.
        let finite_losses: Vec<f64> = runs
            .iter()
            .filter(|r| r.base_lr == base)
            .flat_map(|r| r.loss.iter().copied())
            .filter(|l| l.is_finite() && *l > 0.0)
            .collect();
        let any_nonfinite = runs.iter().filter(|r| r.base_lr == base).any(|r| {
            r.loss
                .iter()
                .zip(&r.padded)
                .any(|(l, &p)| p == 1 || !l.is_finite())
        });
        let ceiling = if any_nonfinite {
            let lo = finite_losses.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = finite_losses.iter().copied().fold(0.0, f64::max);
            let ceiling = if hi > 0.0 { hi * 10.0 } else { 1e3 };
            loss.y_range = Some((if lo.is_finite() { lo / 2.0 } else { 1e-3 }, ceiling));
            loss.hlines
                .push(HLine::new(ceiling, "non-finite loss (clipped)"));
            Some(ceiling)
        } else {
            None
        };
        for method in Method::BOTH {
            let mine: Vec<&SpikeRun> = runs
                .iter()
                .filter(|r| r.base_lr == base && r.method == method)
                .collect();
            let c = method.color();
            // Before the spike both methods take the same steps, so the
            // controller's curve (drawn second) would hide plain Adam's:
            // plain is drawn wider underneath, showing as an outline.
            let w = match method {
                Method::Plain => Weight::Heavy,
                Method::Controller => Weight::Normal,
            };
            let stopped = mine.iter().filter(|r| r.stop_step.is_some()).count();
            let stop_note = if stopped > 0 {
                format!(" ({stopped} stopped)")
            } else {
                String::new()
            };
            // Loss: a non-finite loss, and the padding after it, is +inf
            // for the median and drawn at the ceiling.
            let (lo, mid, hi) = step_band(&mine, steps, |r, t| {
                let l = r.loss[t];
                match ceiling {
                    Some(top) if !l.is_finite() => top,
                    _ => l,
                }
            });
            loss.bands.push(Band::new("", x.clone(), lo, hi).color(c));
            // The legend is shared by every panel: stopped seeds go in
            // this panel's title.
            if !stop_note.is_empty() {
                loss.title = format!("{}, {}{stop_note}", loss.title, method.name());
            }
            loss.series.push(
                Series::new(method.label(), x.clone(), mid)
                    .color(c)
                    .width(w),
            );
            let (lo, mid, hi) = step_band(&mine, steps, |r, t| 100.0 * r.test_acc[t]);
            acc.bands.push(Band::new("", x.clone(), lo, hi).color(c));
            acc.series.push(
                Series::new(method.label(), x.clone(), mid)
                    .color(c)
                    .width(w),
            );
            // τ solid in the method's colour (the legend's method entry),
            // then ρa dashed on top: where the controller caps τ = ρa the
            // dashes stay visible on the solid line.
            let (_, tau_mid, _) = step_band(&mine, steps, |r, t| r.tau[t]);
            radii
                .series
                .push(Series::new("", x.clone(), tau_mid).color(c).width(w));
            let (lo, mid, hi) = step_band(&mine, steps, |r, t| r.rho_a[t]);
            radii.bands.push(Band::new("", x.clone(), lo, hi).color(c));
            radii.series.push(
                Series::new(format!("rho_a, {}", method.name()), x.clone(), mid)
                    .color(analysis::style::tint(analysis::style::palette(c), 0.5))
                    .width(Weight::Normal)
                    .dashed(),
            );
        }
        // Say so where the two methods' runs coincide before the spike.
        let same_before = |f: fn(&SpikeRun) -> &Vec<f64>| {
            let of = |m: Method| -> Vec<&SpikeRun> {
                runs.iter()
                    .filter(|r| r.base_lr == base && r.method == m)
                    .collect()
            };
            let (a, b) = (of(Method::Plain), of(Method::Controller));
            a.len() == b.len()
                && a.iter().zip(&b).all(|(x, y)| {
                    (0..cfg.spike.start.min(steps)).all(|t| f(x)[t].to_bits() == f(y)[t].to_bits())
                })
        };
        identical.push(same_before(|r| &r.tau) && same_before(|r| &r.loss));
        for p in [&mut loss, &mut acc, &mut radii] {
            p.x_range = Some((0.0, (steps - 1) as f64));
            p.vlines.push(VLine::new(spike_at, spike_label.clone()));
        }
        panels.extend([loss, acc, radii]);
    }
    // Where the methods coincide before the spike (plain Adam is drawn wider
    // underneath): once in the figure title when at every base rate, else in
    // the first panel title of each row where they do.
    let all_identical = identical.iter().all(|&same| same);
    if !all_identical {
        for (row, _) in identical.iter().enumerate().filter(|(_, &same)| same) {
            let p = &mut panels[3 * row];
            p.title = format!("{} (methods equal before spike)", p.title);
        }
    }
    let fig = Figure::grid(panels, 3).with_shared_legend().titled(format!(
        "Fig 6: lr x {} from step {}, plain Adam vs rho_a-controller; median and IQR over {} seeds; loss: minibatch CE before each update{}",
        fmt_sig(cfg.spike.multiplier, 3),
        cfg.spike.start,
        cfg.seeds.len(),
        if all_identical {
            "; methods identical before the spike"
        } else {
            ""
        }
    ));
    analysis::plot::render(&fig, &ctx.figures_dir(LrSpike::ID).join("fig6_lr_spike"))
}

/// Figures, table and report section.
pub(super) fn render(
    ctx: &Context,
    summary: &LrSpikeSummary,
    runs: &[SpikeRun],
) -> Result<Section> {
    let id = LrSpike::ID;
    let cfg = &summary.config;
    let paper = PaperNumbers::load_for_root(&ctx.root)?;
    let figures = figure(ctx, cfg, runs)?;

    let pget = |key: &str| paper.labelled(id, key);
    let n_seeds = cfg.seeds.len();
    let mut t = Table::new([
        "base lr",
        "method",
        "final test acc (median [IQR])",
        "author's run",
        "paper (text / figure)",
        "peak loss from the spike on",
        "author's run",
        "max tau/rho_a",
        "author's run",
        "seeds stopped (non-finite)",
    ]);
    t.title = Some(format!(
        "Per base rate and method, medians over {n_seeds} seeds; lr x {} from step {} of {}",
        fmt_sig(cfg.spike.multiplier, 3),
        cfg.spike.start,
        cfg.steps
    ));
    for s in &summary.settings {
        let rl = rate_label(s.base_lr);
        let m = s.method.name();
        let claim = match s.method {
            Method::Plain if pget(&format!("figure_plain_{rl}")) != "-" => format!(
                "{} / {}",
                pget(&format!("text_plain_{rl}")),
                pget(&format!("figure_plain_{rl}"))
            ),
            Method::Plain => pget(&format!("text_plain_{rl}")),
            Method::Controller => pget("text_controller"),
        };
        t.push_row([
            rl.clone(),
            s.method.label().to_string(),
            if s.final_test_acc_median.is_nan() {
                "- (every seed stopped)".to_string()
            } else {
                format!(
                    "{} [{}, {}]",
                    fmt_pct(s.final_test_acc_median, 1),
                    fmt_pct(s.final_test_acc_q25, 1),
                    fmt_pct(s.final_test_acc_q75, 1)
                )
            },
            pget(&format!("stored_final_acc_{m}_{rl}")),
            claim,
            // A non-finite peak is stored as null (read back as NaN).
            if s.peak_loss_post_spike_median.is_nan() && s.seeds_nonfinite > 0 {
                "non-finite".to_string()
            } else {
                fmt_sig(s.peak_loss_post_spike_median, 3)
            },
            pget(&format!("stored_peak_loss_{m}_{rl}")),
            fmt_sig(s.max_r_median, 4),
            pget(&format!("stored_max_r_{m}_{rl}")),
            format!("{} of {}", s.seeds_nonfinite, s.seeds),
        ]);
    }
    let mut md = t.to_markdown();

    let mut t2 = Table::new([
        "base lr",
        "method",
        &format!("r at step {}", cfg.spike.start),
        "author's run",
        &format!("r at step {}", cfg.spike.start + 1),
        "author's run",
        "max tau",
        "paper figure: plain tau peak",
        "rho_a at step 0",
        &format!("rho_a at step {}", cfg.steps - 1),
        "author's run (step 199)",
        "steps capped",
    ]);
    t2.title = Some(format!(
            "Around the spike (medians over {n_seeds} seeds); the author's rho_a at step 0: {}; paper text: tau exceeds rho_a by {} (1e-3) and {} (1e-2)",
            pget("stored_rho_a_first"),
            pget("text_overshoot_1e-3"),
            pget("text_overshoot_1e-2"),
        ));
    for s in &summary.settings {
        let rl = rate_label(s.base_lr);
        let m = s.method.name();
        let plain_only = |key: String| match s.method {
            Method::Plain => pget(&key),
            Method::Controller => "-".into(),
        };
        t2.push_row([
            rl.clone(),
            s.method.label().to_string(),
            fmt_sig(s.r_at_spike_median, 3),
            plain_only(format!("stored_r_at_spike_{m}_{rl}")),
            fmt_sig(s.r_after_spike_median, 3),
            plain_only(format!("stored_r_after_spike_{m}_{rl}")),
            fmt_sig(s.max_tau_median, 3),
            plain_only(format!("figure_tau_peak_{m}_{rl}")),
            fmt_sig(s.rho_a_first_median, 3),
            fmt_sig(s.rho_a_last_median, 3),
            pget(&format!("stored_rho_a_last_{m}_{rl}")),
            fmt_pct(s.capped_fraction_median, 0),
        ]);
    }
    md.push('\n');
    md.push_str(&t2.to_markdown());
    analysis::store::write_atomic(ctx.table_path(id), md.as_bytes())?;

    let verdict = verdict(cfg, &summary, &paper);
    // Our plain-Adam number at a base rate of the paper ("-" if not run).
    let ours = |what: &str, base: f64| {
        summary
            .settings
            .iter()
            .find(|s| s.method == Method::Plain && (s.base_lr / base - 1.0).abs() < 1e-9)
            .map_or("-".to_string(), |s| match what {
                "acc" => fmt_pct(s.final_test_acc_median, 1),
                _ => fmt_sig(s.max_r_median, 4),
            })
    };
    // Facts the notes state, computed from the runs.
    let max_rho = runs
        .iter()
        .flat_map(|r| r.rho_a.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let min_delta = std::f64::consts::PI / max_rho;
    let (mut capped_after, mut applied_after) = (0usize, 0usize);
    for r in runs.iter().filter(|r| r.method == Method::Controller) {
        for t in cfg.spike.start..r.r.len() {
            if r.applied[t] == 1 && r.r[t].is_finite() {
                applied_after += 1;
                if r.r[t] >= cfg.r_target * (1.0 - 1e-6) {
                    capped_after += 1;
                }
            }
        }
    }
    let plain_1e4_recovers = summary
        .settings
        .iter()
        .find(|s| s.method == Method::Plain && (s.base_lr / 1e-4 - 1.0).abs() < 1e-9)
        .map(|s| s.final_test_acc_median >= COLLAPSE_ACCURACY);
    let mut notes: Vec<String> = ctx.config_note(id).into_iter().collect();
    notes.extend([
            format!(
                "Model `{}` from the zoo registry: Linear 64->128, ReLU, Linear 128->10 (9,610 parameters), the spec's MLP-ReLU-2L. Adam's moments are kept in f64 and committed from the true gradient whatever the cap (as the author's hand-written Adam); the controller scales Adam's actual step p (this step's moments) by s = min(1, r_target rho_a / |p|), r_target = {}.",
                cfg.arch,
                fmt_sig(cfg.r_target, 3)
            ),
            format!(
                "rho_a is measured every step for both methods along p/|p| by one exact eval-mode JVP on the whole training part (worst sample), rho_a = pi / max(Delta_a, 1e-12); the author adds 1e-12 to the spread instead (the smallest Delta_a logged here is {}, so the two agree to double precision). {} Test accuracy and minibatch loss are logged before each update; \"final\" is the last logged step, as in the author's code.",
                fmt_sig(min_delta, 3),
                match cfg.backend {
                    Backend::Fast => "The JVP, the step and the test logits run on the project's fast f32 backend (the layers' hand-written forward, backward and tangent passes, tested against the dfdx reference); the controller proposes the step, measures rho_a along it and scales it before applying it.",
                    Backend::Dfdx => "The JVP, the step and the test logits run on the dfdx reference backend; the controller proposes the step, measures rho_a along it and scales it before applying it.",
                }
            ),
            "Batch order: a fresh permutation per epoch from ChaCha8 seeded with seed + 11 (the author: NumPy with the same seed), so individual runs are not bit-identical to the author's; the same init and batch order are shared by both methods of a seed.".into(),
            "Non-finite losses: the run stops (the controller refuses the step) and the remaining steps are padded with NaN, as the author's code does; a stopped seed is left out of the accuracy medians, counts as +inf in the loss medians and is drawn at the loss panel's top edge (legend says so). Runs stopped here: ".to_string()
                + &if summary.stopped_runs.is_empty() {
                    "none.".to_string()
                } else {
                    summary.stopped_runs.join("; ")
                },
            format!(
                "Figure: the paper draws one green rho_a band and plain Adam in red, the controller in gold; we draw rho_a (dashed, with IQR band) for each method in its colour beside its tau (solid, median), plain in vermillion and the controller in blue. From the spike on, {capped_after} of the controller's {applied_after} applied steps ({}) are capped at r = {}: there its tau lies on its own rho_a and hides it.",
                fmt_pct(capped_after as f64 / applied_after.max(1) as f64, 1),
                fmt_sig(cfg.r_target, 3)
            ),
            format!(
                "Paper vs the author's code and stored run (spec §6.6, §7 item 5): the text says the 1e-4 spike stays within rho_a (\"{}\"), yet plain Adam's max tau/rho_a there is {} in the stored run and {} here ({}); it says tau exceeds rho_a by {} at 1e-3 and {} at 1e-2, against max tau/rho_a {} / {} in the stored run and {} / {} here; and that plain Adam falls to {} at 1e-3, against {} in the stored run, {} in the published figure and {} here. The text's \"{}\" of rates vs three base rates plotted.",
                pget("text_plain_1e-4"),
                pget("stored_max_r_plain_1e-4"),
                ours("max_r", 1e-4),
                match plain_1e4_recovers {
                    Some(true) => "here it recovers all the same",
                    Some(false) => "and here it collapses",
                    None => "1e-4 not run here",
                },
                pget("text_overshoot_1e-3"),
                pget("text_overshoot_1e-2"),
                pget("stored_max_r_plain_1e-3"),
                pget("stored_max_r_plain_1e-2"),
                ours("max_r", 1e-3),
                ours("max_r", 1e-2),
                pget("text_plain_1e-3"),
                pget("stored_final_acc_plain_1e-3"),
                pget("figure_plain_1e-3"),
                ours("acc", 1e-3),
                pget("text_rate_range"),
            ),
        ]);
    Ok(Section {
        id: id.into(),
        title: LrSpike::TITLE.into(),
        figures: ctx.report_figures(&figures),
        table_markdown: md,
        verdict,
        notes,
    })
}

fn verdict(cfg: &LrSpikeConfig, summary: &LrSpikeSummary, paper: &PaperNumbers) -> String {
    let of = |m: Method| -> Vec<&SettingSummary> {
        summary.settings.iter().filter(|s| s.method == m).collect()
    };
    let collapsed = |s: &SettingSummary| {
        s.seeds_nonfinite * 2 > s.seeds || !(s.final_test_acc_median >= COLLAPSE_ACCURACY)
    };
    let ctrl = of(Method::Controller);
    let plain = of(Method::Plain);
    let ctrl_min_acc = ctrl
        .iter()
        .map(|s| s.final_test_acc_median)
        .fold(f64::INFINITY, f64::min);
    let ctrl_ok = ctrl.iter().all(|s| !collapsed(s) && s.seeds_nonfinite == 0);
    let cap_ok = summary.controller_max_r <= cfg.r_target * (1.0 + CAP_TOLERANCE);
    let rates = |v: &[&SettingSummary], want: bool| -> Vec<String> {
        v.iter()
            .filter(|s| collapsed(s) == want)
            .map(|s| rate_label(s.base_lr))
            .collect()
    };
    let plain_collapsed = rates(&plain, true);
    let plain_ok = rates(&plain, false);
    // The author's stored run, where it has this base rate: did plain Adam
    // collapse there?
    let stored = |s: &SettingSummary| {
        paper
            .get(
                "lr-spike",
                &format!("stored_final_acc_plain_{}", rate_label(s.base_lr)),
            )
            .ok()
            .and_then(|n| n.value.map(|v| (v, n.cell())))
    };
    let matches_author = plain
        .iter()
        .all(|s| stored(s).map_or(true, |(v, _)| collapsed(s) == (v < COLLAPSE_ACCURACY)));
    let author_accs = plain
        .iter()
        .filter_map(|s| stored(s).map(|(_, text)| format!("{text} at {}", rate_label(s.base_lr))))
        .collect::<Vec<_>>();
    let plain_part = match (plain_collapsed.is_empty(), plain_ok.is_empty()) {
        (true, _) => "plain Adam survives every base rate".to_string(),
        (false, true) => format!(
            "plain Adam collapses at every base rate ({})",
            plain_collapsed.join(", ")
        ),
        (false, false) => format!(
            "plain Adam collapses at {} and recovers at {}",
            plain_collapsed.join(", "),
            plain_ok.join(", ")
        ),
    };
    let plain_accs = plain
        .iter()
        .map(|s| {
            format!(
                "{} at {}",
                fmt_pct(s.final_test_acc_median, 1),
                rate_label(s.base_lr)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    // Every reference number of the two tables, each within its tolerance.
    let mut cmp = Comparisons::new();
    let id = "lr-spike";
    let pct = |v: f64| fmt_pct(v, 1);
    let sig = |v: f64| fmt_sig(v, 3);
    for s in &summary.settings {
        let (rl, m) = (rate_label(s.base_lr), s.method.name());
        let what = |q: &str| format!("{m} {rl} {q}");
        let acc = s.final_test_acc_median;
        cmp.add(
            paper,
            (id, &format!("stored_final_acc_{m}_{rl}")),
            &what("final accuracy"),
            acc,
            pct,
            Tolerance::Points(ACC_POINTS),
        );
        cmp.add(
            paper,
            (id, &format!("stored_peak_loss_{m}_{rl}")),
            &what("peak loss"),
            s.peak_loss_post_spike_median,
            sig,
            Tolerance::Factor(FACTOR),
        );
        if s.method == Method::Controller {
            // The cap bounds the controller's r by construction (and the
            // spike makes it bind): the stored run's max r = 1 is a check of
            // ours, not a reproduction.
            if let Some((n, v)) = paper
                .get(id, &format!("stored_max_r_{m}_{rl}"))
                .ok()
                .and_then(|n| n.value.map(|v| (n, v)))
            {
                cmp.add_check(
                    (s.max_r_median - v).abs() <= v * CAP_TOLERANCE,
                    format!(
                        "{} {} at its cap as {} is, to a relative {CAP_TOLERANCE:e}",
                        what("max r"),
                        fmt_sig(s.max_r_median, 6),
                        n.cell()
                    ),
                );
            }
        } else {
            cmp.add(
                paper,
                (id, &format!("stored_max_r_{m}_{rl}")),
                &what("max r"),
                s.max_r_median,
                sig,
                Tolerance::Factor(FACTOR),
            );
        }
        cmp.add(
            paper,
            (id, &format!("stored_rho_a_last_{m}_{rl}")),
            &what("last rho_a"),
            s.rho_a_last_median,
            sig,
            Tolerance::Factor(FACTOR),
        );
        if s.method == Method::Plain {
            // The paper's text and its figure disagree with each other at
            // 1e-3 (~50% vs about 20%): ours agrees if it matches either.
            let stated: Vec<&crate::paper_numbers::PaperNumber> = ["text", "figure"]
                .iter()
                .filter_map(|src| paper.get(id, &format!("{src}_plain_{rl}")).ok())
                .filter(|n| n.value.is_some())
                .collect();
            if !stated.is_empty() {
                let near = |n: &&crate::paper_numbers::PaperNumber| {
                    (acc - n.value.unwrap_or(f64::NAN)).abs() <= APPROX_ACC_POINTS
                };
                let (close, far): (Vec<&crate::paper_numbers::PaperNumber>, Vec<_>) =
                    stated.iter().partition(|n| near(n));
                if !close.is_empty() && !far.is_empty() {
                    cmp.add_note(format!(
                        "{} {} matches {} but not {} (the paper's text and figure disagree with each other)",
                        what("final accuracy"),
                        pct(acc),
                        close.iter().map(|n| n.cell()).collect::<Vec<_>>().join(", "),
                        far.iter().map(|n| n.cell()).collect::<Vec<_>>().join(", ")
                    ));
                }
                cmp.add_claim(
                    stated.iter().any(near),
                    format!(
                        "{} {} vs {} (tolerance {:.0} points of either)",
                        what("final accuracy"),
                        pct(acc),
                        stated
                            .iter()
                            .map(|n| n.cell())
                            .collect::<Vec<_>>()
                            .join(" or "),
                        100.0 * APPROX_ACC_POINTS
                    ),
                );
            }
            cmp.add(
                paper,
                (id, &format!("stored_r_at_spike_plain_{rl}")),
                &what("r at the spike"),
                s.r_at_spike_median,
                sig,
                Tolerance::Factor(FACTOR),
            );
            cmp.add(
                paper,
                (id, &format!("stored_r_after_spike_plain_{rl}")),
                &what("r after the spike"),
                s.r_after_spike_median,
                sig,
                Tolerance::Factor(FACTOR),
            );
            cmp.add(
                paper,
                (id, &format!("figure_tau_peak_plain_{rl}")),
                &what("tau peak"),
                s.max_tau_median,
                sig,
                Tolerance::Factor(APPROX_FACTOR),
            );
            // Like with like: the text reads Fig 6's tau curve against its
            // rho_a curve, i.e. the tau peak over the radius before the spike
            // (rho_a at step 0), not max r = tau_t/rho_a_t, which peaks after
            // rho_a itself has collapsed (that one stays in the table).
            cmp.add(
                paper,
                (id, &format!("text_overshoot_{rl}")),
                &what("tau peak / rho_a at step 0"),
                s.max_tau_median / s.rho_a_first_median,
                sig,
                Tolerance::Factor(APPROX_FACTOR),
            );
            if let Ok(claim) = paper.get(id, &format!("text_plain_{rl}")) {
                if claim.value.is_none() {
                    // A verbal claim: "the spike stays within rho_a".
                    cmp.add_claim(
                        s.max_r_median <= 1.0,
                        format!(
                            "{}: the paper says {}; ours max r = {} (median over seeds; within rho_a means r <= 1)",
                            what("spike"),
                            claim.cell(),
                            sig(s.max_r_median)
                        ),
                    );
                }
            }
        }
    }
    if let Some(first) = summary.settings.first() {
        cmp.add(
            paper,
            (id, "stored_rho_a_first"),
            "rho_a at step 0",
            first.rho_a_first_median,
            sig,
            Tolerance::Factor(FACTOR),
        );
    }
    // By construction: the cap bounds every step's r (a check, not counted).
    cmp.add_check(
        cap_ok,
        format!(
            "the controller's largest step over every run has r = {} <= its cap {}, to a relative {CAP_TOLERANCE:e}",
            fmt_sig(summary.controller_max_r, 6),
            fmt_sig(cfg.r_target, 3)
        ),
    );
    let numbers = format!(
        "Reference numbers (accuracies within {:.0} points of the author's run and within {:.0} of the paper's approximate values; where the paper's text and figure state different values, matching either counts as partly; r, tau, rho_a and losses within a factor of {FACTOR} of the author's run and {APPROX_FACTOR} of the paper's approximate values): {}",
        100.0 * ACC_POINTS,
        100.0 * APPROX_ACC_POINTS,
        cmp.summary()
    );
    let head = if ctrl_ok && matches_author && cmp.all_agree() {
        "reproduced"
    } else if ctrl_ok && cmp.checks_hold() {
        "partly reproduced (the controller survives every spike, but some of the author's or the paper's numbers differ, below)"
    } else if ctrl_ok {
        "differs (a check of ours fails, below)"
    } else {
        "differs"
    };
    let author = if author_accs.is_empty() {
        String::new()
    } else {
        format!(
            "; the author's stored run: plain {}{}",
            author_accs.join(", "),
            if matches_author {
                ", the same pattern"
            } else {
                ", a different pattern"
            }
        )
    };
    format!(
        "{head}: the controller ends at {} or more test accuracy at every base rate with no non-finite seed; {plain_part} (final test accuracy {plain_accs}; collapse = median below {:.0}% or most seeds non-finite){author}. {numbers}",
        fmt_pct(ctrl_min_acc, 1),
        100.0 * COLLAPSE_ACCURACY,
    )
}

/// The controller's r stays within its cap up to this relative rounding.
const CAP_TOLERANCE: f64 = 1e-9;
/// Agreement with the author's stored accuracies: within this (5 points).
const ACC_POINTS: f64 = 0.05;
/// ... with the paper's approximate ("~50%", "about 20%") accuracies.
const APPROX_ACC_POINTS: f64 = 0.10;
/// Agreement with the author's stored r, tau, rho_a and losses: within this factor.
const FACTOR: f64 = 2.0;
/// ... with the paper's approximate ("~10x", "about 50") values.
const APPROX_FACTOR: f64 = 3.0;
