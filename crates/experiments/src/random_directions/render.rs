//! Figure 8, the Hessian-scale table and the report section of
//! `random-directions`, from the stored runs alone.

use super::*;
use crate::paper_numbers::{Comparisons, PaperNumber, PaperNumbers, SourceKind, Tolerance};
use analysis::style::Weight;
use analysis::plot::{Annotation, Band, Figure, LegendPos, Panel, Scatter, Series, VLine};
use analysis::stats::per_index_quantiles;
use analysis::table::{seeds_text, fmt_pct, fmt_sig, Table};
use anyhow::anyhow;

/// Fig 8's presentation (spec §6.3): x shown 0.1..10, loss ratio 0..10,
/// flip fraction 0..1, band = 10th..90th percentile of the random
/// directions, 8 individual random curves.
const FIG_X_RANGE: (f64, f64) = (0.1, 10.0);
const FIG_LOSS_RANGE: (f64, f64) = (0.0, 10.0);
const FIG_BAND: (f64, f64) = (0.1, 0.9);
const FIG_CURVES: usize = 8;

/// "Turns soon after r = 1": the first crossing of the loss-ratio
/// threshold lies below this r.
const SOON: f64 = 10.0;
/// Agreement of accuracies with the paper's: within this (3 points).
const ACCURACY_POINTS: f64 = 0.03;
/// ... of flip fractions at r = 1 (they vary by tens of points over seeds).
const FLIP_POINTS: f64 = 0.10;
/// ... of ratios and radii with the author's run: within this factor.
const FACTOR: f64 = 1.25;
/// ... of tau_H/rho_a (a curvature estimate on another draw): this factor.
const HESSIAN_FACTOR: f64 = 1.5;

/// "Early (73% acc)".
fn column_title(name: &str, accuracy: f64) -> String {
    let mut c = name.chars();
    let cap: String = c
        .next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default();
    format!("{cap} ({:.0}% acc)", 100.0 * accuracy)
}

/// Per-r quantile `q` over curves.
fn pointwise(curves: &[&Vec<f64>], q: f64, n: usize) -> Vec<f64> {
    per_index_quantiles(curves, n, |c, i| c[i], &[q]).remove(0)
}

/// What one row of Fig 8 shows.
struct Fig8Row {
    y_label: &'static str,
    y_range: (f64, f64),
    pick: fn(&DirectionResult) -> &Vec<f64>,
    fmt: fn(f64) -> String,
}

/// One Fig 8 panel: a few random curves, the 10-90% band and median of the
/// random directions, the gradient, the r = 1 line and dots at r = 1. The
/// figure has one shared legend (the labels are the same in every panel);
/// the values at r = 1 go in the panel's note, below the plot (where it
/// covers no data; below in every panel, so the plots stay equal).
fn fig8_panel(
    row: &Fig8Row,
    title: String,
    r: &[f64],
    stage: &StageResult,
    i1: usize,
    grad_label: &str,
) -> Panel {
    let mut p = Panel::new(title, "r = tau / rho_a", row.y_label);
    p.x_log = true;
    p.x_range = Some(FIG_X_RANGE);
    p.y_range = Some(row.y_range);
    let curves: Vec<&Vec<f64>> = stage.random().iter().map(row.pick).collect();
    let n = r.len();
    for (i, c) in curves.iter().take(FIG_CURVES).enumerate() {
        let label = if i == 0 {
            format!(
                "single random directions ({} of {})",
                FIG_CURVES.min(curves.len()),
                curves.len()
            )
        } else {
            String::new()
        };
        // A colour of their own (not the band's blue): single directions
        // must not read as part of the band or its median.
        p.series.push(
            Series::new(label, r.to_vec(), (*c).clone())
                .color(4)
                .width(Weight::Thin),
        );
    }
    let median = pointwise(&curves, 0.5, n);
    p.bands.push(
        Band::new(
            format!(
                "random directions, {:.0}-{:.0}th percentile",
                100.0 * FIG_BAND.0,
                100.0 * FIG_BAND.1
            ),
            r.to_vec(),
            pointwise(&curves, FIG_BAND.0, n),
            pointwise(&curves, FIG_BAND.1, n),
        )
        .color(0),
    );
    let grad = (row.pick)(stage.gradient());
    let (yg, yr) = (grad[i1], median[i1]);
    p.series.push(
        Series::new("random directions, median", r.to_vec(), median)
            .color(0)
            .width(Weight::Bold),
    );
    p.series.push(
        Series::new(grad_label, r.to_vec(), grad.clone())
            .color(1)
            .width(Weight::Bold),
    );
    p.vlines.push(VLine::r_one());
    p.annotations.push(Annotation::new(1.0, yg, ""));
    p.annotations.push(Annotation::new(1.0, yr, ""));
    p.notes.push(format!("r = 1: gradient {}", (row.fmt)(yg)));
    p.notes.push(format!("random median {}", (row.fmt)(yr)));
    // Below every plot, so the panels keep equal plots.
    p.notes_below = true;
    p.legend = LegendPos::None;
    p
}

fn stage_by_name<'a>(run: &'a SeedRun, name: &str) -> Result<&'a StageResult> {
    run.stages
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| anyhow!("stage {name:?} missing from run seed {}", run.seed))
}

/// Figures, table and report section.
pub(super) fn render(
    ctx: &Context,
    summary: &RandomDirectionsSummary,
    runs: &[SeedRun],
) -> Result<Section> {
    let id = RandomDirections::ID;
    let cfg = &summary.config;
    let first = &runs[0];
    let paper = PaperNumbers::load_for_root(&ctx.root)?;
    let r = &first.r;
    let i1 = cfg.r_one_index();
    let grad_label = match cfg.gradient_sign {
        GradientSign::Ascent => "gradient (+g)",
        GradientSign::Descent => "gradient (-g)",
    };
    let figs = ctx.figures_dir(id);
    let mut figures = Vec::new();

    // Fig 8: loss ratio (row 1) and flip fraction (row 2) per stage.
    let loss_row = Fig8Row {
        y_label: "loss ratio",
        y_range: FIG_LOSS_RANGE,
        pick: |d| &d.loss_ratio,
        fmt: |x| format!("{x:.2}"),
    };
    let flip_row = Fig8Row {
        y_label: "flip fraction",
        y_range: (-0.02, 1.02),
        pick: |d| &d.flip,
        fmt: |x| format!("{:.0}%", 100.0 * x),
    };
    let (mut top, mut bottom) = (Vec::new(), Vec::new());
    for st in &cfg.stages {
        let s = stage_by_name(first, &st.name)?;
        let title = column_title(&s.name, s.accuracy);
        top.push(fig8_panel(&loss_row, title, r, s, i1, grad_label));
        bottom.push(fig8_panel(&flip_row, String::new(), r, s, i1, grad_label));
    }
    let cols = top.len();
    top.extend(bottom);
    let fig8 = Figure::grid(top, cols).with_shared_legend().titled(format!(
        "Fig 8: {} along the gradient and {} random directions ({}, seed {}, training split); each panel's note gives the values at r = 1 (dots)",
        "loss ratio (loss after / before the step) and flip fraction", cfg.random_directions, cfg.arch, first.seed
    ));
    figures.extend(analysis::plot::render(
        &fig8,
        &figs.join("fig8_random_directions"),
    )?);

    // Hessian scale vs radius: every seed's directions, one pair of axes
    // for all stages (shared ranges, so the panels compare at a glance).
    let mut points = Vec::new();
    for st in &cfg.stages {
        let (mut rx, mut ry, mut gx, mut gy) = (vec![], vec![], vec![], vec![]);
        for run in runs {
            let s = stage_by_name(run, &st.name)?;
            gx.push(s.gradient().rho_a);
            gy.push(s.gradient().tau_h);
            for d in s.random() {
                rx.push(d.rho_a);
                ry.push(d.tau_h);
            }
        }
        points.push((rx, ry, gx, gy));
    }
    // The line tau_H = rho_a over the x extent of every stage's points.
    let xs: Vec<f64> = points
        .iter()
        .flat_map(|(rx, _, gx, _)| rx.iter().chain(gx))
        .cloned()
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    let (lo, hi) = (
        xs.iter().cloned().fold(f64::INFINITY, f64::min) / 1.3,
        xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max) * 1.3,
    );
    let mut panels = Vec::new();
    for (st, (rx, ry, gx, gy)) in cfg.stages.iter().zip(points) {
        let ss = &summary.stages[&st.name];
        let mut p = Panel::new(
            format!(
                "{}\ntau_H/rho_a {}, gradient {}",
                column_title(&st.name, ss.stage_accuracy.median_over_seeds),
                fmt_sig(ss.hessian_ratio_median.median_over_seeds, 3),
                fmt_sig(ss.hessian_ratio_grad.median_over_seeds, 3)
            ),
            "rho_a = pi / max Delta_a",
            "tau_H = 2 / vHv",
        );
        (p.x_log, p.y_log) = (true, true);
        p.legend = LegendPos::LowerRight;
        if lo.is_finite() && hi.is_finite() {
            p.series.push(
                Series::new("tau_H = rho_a", vec![lo, hi], vec![lo, hi])
                    .color(6)
                    .dashed(),
            );
        }
        p.scatters.push(Scatter::new("random", rx, ry).color(0));
        p.scatters.push(Scatter::new(grad_label, gx, gy).color(1));
        panels.push(p);
    }
    let cols = panels.len();
    let hess = Figure::grid(panels, cols).with_shared_legend().with_shared_axes().titled(format!(
            "Hessian scale 2/vHv vs rho_a, {} model: {} random directions and the gradient per stage, {}; titles: medians over seeds",
            cfg.arch,
            cfg.random_directions,
            seeds_text(&cfg.seeds)
        ));
    figures.extend(analysis::plot::render(
        &hess,
        &figs.join("hessian_vs_radius"),
    )?);

    // Table: per metric, the paper's values, the first seed's and the
    // medians over seeds.
    let mut headers = vec!["quantity".to_string(), "source".to_string()];
    headers.extend(cfg.stages.iter().map(|s| s.name.clone()));
    let mut t = Table::new(headers);
    t.title = Some(format!(
            "{} on the training split, {} (rows marked seed {} are the first), {} random directions; pairs are gradient / random",
            cfg.arch,
            seeds_text(&cfg.seeds),
            first.seed,
            cfg.random_directions
        ));
    let pct = |x: f64| fmt_pct(x, 1);
    let sig = |x: f64| fmt_sig(x, 3);
    let sig4 = |x: f64| fmt_sig(x, 4);
    let first_r = |x: f64| {
        if x.is_infinite() {
            "none".to_string()
        } else {
            fmt_sig(x, 3)
        }
    };
    type Pick = fn(&StageSummary) -> (SeedStat, Option<SeedStat>);
    let metrics: Vec<(String, Pick, &dyn Fn(f64) -> String, [&str; 2])> = vec![
        (
            "train accuracy".into(),
            |s| (s.stage_accuracy, None),
            &pct,
            ["accuracy_figure", "accuracy"],
        ),
        (
            "rho_a".into(),
            |s| (s.rho_a_grad, Some(s.rho_a_random_median)),
            &sig4,
            ["rho_a_grad", "rho_a_random"],
        ),
        (
            "loss ratio at r = 1".into(),
            |s| (s.loss_ratio_at_r1_grad, Some(s.loss_ratio_at_r1_random)),
            &sig,
            ["loss_ratio_r1_grad", "loss_ratio_r1_random"],
        ),
        (
            "flip fraction at r = 1".into(),
            |s| (s.flip_at_r1_grad, Some(s.flip_at_r1_random)),
            &pct,
            ["flip_r1_grad", "flip_r1_random"],
        ),
        (
            "tau_H / rho_a".into(),
            |s| (s.hessian_ratio_grad, Some(s.hessian_ratio_median)),
            &sig,
            ["hessian_ratio_grad", "hessian_ratio_random"],
        ),
        (
            format!(
                "first r with loss ratio > {}",
                fmt_sig(cfg.loss_ratio_threshold, 3)
            ),
            |s| {
                (
                    s.first_r_loss_ratio_above_2_grad,
                    Some(s.first_r_loss_ratio_above_2_random_median),
                )
            },
            &first_r,
            ["first_r_above_2_grad", "first_r_above_2_random"],
        ),
        (
            "share of random directions with rho_a < tau_H".into(),
            |s| (s.fraction_rho_below_tau_h, None),
            &pct,
            ["fraction_rho_below_tau_h", ""],
        ),
    ];
    for (name, pick, fmt, keys) in &metrics {
        // The row is labelled with the kind of source of its numbers
        // (paper figure, author's stored run, author's code); a row
        // mixing kinds says so in each cell.
        let entry = |stage: &str, key: &str| {
            if key.is_empty() {
                return None;
            }
            paper
                .get(id, &format!("{stage}_{key}"))
                .or_else(|_| paper.get(id, key))
                .ok()
        };
        let mut kinds: Vec<SourceKind> = cfg
            .stages
            .iter()
            .flat_map(|s| keys.iter().filter_map(|k| entry(&s.name, k)))
            .map(|n| n.kind)
            .collect();
        kinds.dedup();
        let one_kind = (kinds.len() == 1).then(|| kinds[0]);
        let show = |n: Option<&PaperNumber>| match (n, one_kind) {
            (None, _) => "-".to_string(),
            (Some(n), Some(kind)) => n.text_of_kind(kind).unwrap_or("-").to_string(),
            (Some(n), None) => n.cell(),
        };
        let paper_cell = |stage: &str| {
            let first = show(entry(stage, keys[0]));
            match keys[1].is_empty() {
                true => first,
                false => format!("{first} / {}", show(entry(stage, keys[1]))),
            }
        };
        let ours = |which: fn(&SeedStat) -> f64, stage: &str| {
            let (a, b) = pick(&summary.stages[stage]);
            match b {
                Some(b) => format!("{} / {}", fmt(which(&a)), fmt(which(&b))),
                None => fmt(which(&a)),
            }
        };
        let label = one_kind.map_or_else(|| "reference".to_string(), SourceKind::label);
        let mut row = vec![name.clone(), label.to_string()];
        row.extend(cfg.stages.iter().map(|s| paper_cell(&s.name)));
        t.push_row(row);
        let mut row = vec![String::new(), format!("ours, seed {}", first.seed)];
        row.extend(cfg.stages.iter().map(|s| ours(|x| x.first_seed, &s.name)));
        t.push_row(row);
        if cfg.seeds.len() > 1 {
            let mut row = vec![
                String::new(),
                format!("ours, median of {} seeds", cfg.seeds.len()),
            ];
            row.extend(
                cfg.stages
                    .iter()
                    .map(|s| ours(|x| x.median_over_seeds, &s.name)),
            );
            t.push_row(row);
        }
    }
    let md = t.to_markdown();
    analysis::store::write_atomic(ctx.table_path(id), md.as_bytes())?;

    // Verdict, from the data.
    let c = &summary.checks;
    let span = |(a, b): (f64, f64)| {
        if a == b {
            first_r(a)
        } else {
            format!("{}..{}", first_r(a), first_r(b))
        }
    };
    let thr = fmt_sig(cfg.loss_ratio_threshold, 3);
    let hess: Vec<String> = cfg
        .stages
        .iter()
        .map(|s| {
            fmt_sig(
                summary.stages[&s.name]
                    .hessian_ratio_median
                    .median_over_seeds,
                3,
            )
        })
        .collect();
    let facts = format!(
            "first r with loss ratio > {thr}: gradient {}, random median {}; rho_a < tau_H in {} of {} directions (median tau_H/rho_a {})",
            span(c.first_crossing_grad_range),
            span(c.first_crossing_random_range),
            if c.rho_below_tau_h_every_direction { "all".to_string() } else { "not all".to_string() },
            c.directions_checked,
            hess.join(" / ")
        );
    // "Soon after": both first crossings lie in (1, SOON).
    let turns_after_one =
        c.first_crossing_grad_range.0 > 1.0 && c.first_crossing_random_range.0 > 1.0;
    let soon = c.first_crossing_grad_range.1 < SOON && c.first_crossing_random_range.1 < SOON;
    // Every reference number of the table, stage by stage (medians over
    // our seeds; the paper shows one seed).
    let mut cmp = Comparisons::new();
    let pct = |v: f64| fmt_pct(v, 1);
    let sig = |v: f64| fmt_sig(v, 3);
    // The author's first r with loss ratio > 2 is a point of its linear
    // grid above 1 (step (r_max - lin_r_min) / (lin_points - 1)); ours is a
    // point of our grid: they agree if the two grid steps before them meet.
    let steps = (cfg.lin_points.max(2) - 1) as f64;
    let author_bin = Tolerance::Bin {
        width: (cfg.r_max - cfg.lin_r_min) / steps,
        slack: match cfg.upper_spacing {
            Spacing::Log => (cfg.r_max / cfg.lin_r_min).powf(1.0 / steps),
            Spacing::Linear => 1.0 + (cfg.r_max - cfg.lin_r_min) / steps / cfg.lin_r_min,
        },
    };
    for st in &cfg.stages {
        let s = &summary.stages[&st.name];
        let m = |x: &SeedStat| x.median_over_seeds;
        let name = &st.name;
        let rows: [(&str, f64, &dyn Fn(f64) -> String, Tolerance); 11] = [
            (
                "accuracy",
                m(&s.stage_accuracy),
                &pct,
                Tolerance::Points(ACCURACY_POINTS),
            ),
            (
                "rho_a_grad",
                m(&s.rho_a_grad),
                &sig,
                Tolerance::Factor(FACTOR),
            ),
            (
                "rho_a_random",
                m(&s.rho_a_random_median),
                &sig,
                Tolerance::Factor(FACTOR),
            ),
            (
                "loss_ratio_r1_grad",
                m(&s.loss_ratio_at_r1_grad),
                &sig,
                Tolerance::Factor(FACTOR),
            ),
            (
                "loss_ratio_r1_random",
                m(&s.loss_ratio_at_r1_random),
                &sig,
                Tolerance::Factor(FACTOR),
            ),
            (
                "flip_r1_grad",
                m(&s.flip_at_r1_grad),
                &pct,
                Tolerance::Points(FLIP_POINTS),
            ),
            (
                "flip_r1_random",
                m(&s.flip_at_r1_random),
                &pct,
                Tolerance::Points(FLIP_POINTS),
            ),
            (
                "hessian_ratio_grad",
                m(&s.hessian_ratio_grad),
                &sig,
                Tolerance::Factor(HESSIAN_FACTOR),
            ),
            (
                "hessian_ratio_random",
                m(&s.hessian_ratio_median),
                &sig,
                Tolerance::Factor(HESSIAN_FACTOR),
            ),
            (
                "first_r_above_2_grad",
                m(&s.first_r_loss_ratio_above_2_grad),
                &sig,
                author_bin,
            ),
            (
                "first_r_above_2_random",
                m(&s.first_r_loss_ratio_above_2_random_median),
                &sig,
                author_bin,
            ),
        ];
        for (key, ours, fmt, tol) in rows {
            cmp.add(
                &paper,
                (id, &format!("{name}_{key}")),
                &format!("{name} {}", quantity(key)),
                ours,
                fmt,
                tol,
            );
        }
    }
    let numbers = format!(
            "Reference numbers (medians over our seeds; accuracies within {:.0} points, flip fractions within {:.0}, tau_H/rho_a within a factor of {HESSIAN_FACTOR}, other ratios and radii within a factor of {FACTOR}; the first r with loss ratio > 2 agrees if our grid step before it meets the author's linear-grid step before the author's value, as each is only known to lie in its step): {}",
            100.0 * ACCURACY_POINTS,
            100.0 * FLIP_POINTS,
            cmp.summary()
        );
    let qualitative = c.loss_ratio_at_r1_below_threshold
        && c.rho_below_tau_h_every_direction
        && turns_after_one
        && soon;
    let verdict = if qualitative {
        format!(
                "{}: at r = 1 the loss ratio stays below {thr} along the gradient and the random median at every stage of {}, and it turns soon after (before r = {SOON}) ({facts}){}. {numbers}",
                if cmp.all_agree() { "reproduced" } else { "partly reproduced (the transition at r = 1 holds; some reference numbers differ)" },
                seeds_text(&cfg.seeds),
                if c.gradient_crosses_first { "; the gradient degrades first" } else { "" }
            )
    } else {
        let mut why = Vec::new();
        if !c.loss_ratio_at_r1_below_threshold {
            why.push(format!(
                "the loss ratio at r = 1 reaches {thr} in some stage"
            ));
        }
        if !turns_after_one {
            why.push("some curve crosses the threshold before r = 1".to_string());
        }
        if !soon {
            why.push(format!(
                "some curve crosses the threshold only at r = {SOON} or later"
            ));
        }
        if !c.rho_below_tau_h_every_direction {
            why.push("some direction has tau_H <= rho_a".to_string());
        }
        format!("differs: {} ({facts}). {numbers}", why.join("; "))
    };
    // How much the gradient's flip fraction at r = 1 varies over seeds,
    // and whether the paper's one seed lies inside that range (computed,
    // stage by stage).
    let mut outside = Vec::new();
    let ranges = cfg
        .stages
        .iter()
        .map(|st| {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|run| stage_by_name(run, &st.name).ok())
                .map(|s| s.gradient().flip[i1])
                .collect();
            let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let reference = paper
                .get(id, &format!("{}_flip_r1_grad", st.name))
                .ok()
                .and_then(|n| n.value.map(|x| (x, n.cell())));
            let beside = match &reference {
                Some((x, cell)) => {
                    let inside = (lo..=hi).contains(x);
                    if !inside {
                        outside.push(st.name.clone());
                    }
                    format!(" ({}: {})", cell, if inside { "inside" } else { "outside" })
                }
                None => String::new(),
            };
            format!("{} {}-{}{beside}", st.name, fmt_pct(lo, 0), fmt_pct(hi, 0))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let flip_spread = format!(
        "Flip fraction at r = 1 along the gradient, range over {}: {ranges}. {}",
        seeds_text(&cfg.seeds),
        if outside.is_empty() {
            "The paper's single seed lies inside our seeds' range at every stage.".to_string()
        } else {
            format!(
                "The paper's value lies outside our seeds' range at: {}.",
                outside.join(", ")
            )
        }
    );
    // Where the gradient's loss ratio first passes 1.1 (stated in a note).
    let r_grid = cfg.r_grid();
    let passes: Vec<f64> = runs
        .iter()
        .flat_map(|run| {
            cfg.stages
                .iter()
                .filter_map(|st| stage_by_name(run, &st.name).ok())
                .filter_map(|s| {
                    s.gradient()
                        .loss_ratio
                        .iter()
                        .position(|&l| l > 1.1)
                        .map(|i| r_grid[i])
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let passes_1_1 = match (
        passes.iter().copied().reduce(f64::min),
        passes.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => format!(
            "it first passes 1.1 at r = {} to {} over seeds and stages",
            fmt_sig(lo, 3),
            fmt_sig(hi, 3)
        ),
        _ => "it does not pass 1.1 on the grid".to_string(),
    };
    Ok(Section {
            id: id.into(),
            title: RandomDirections::TITLE.into(),
            figures: ctx.report_figures(&figures),
            table_markdown: md,
            verdict,
            notes: ctx.config_note(id).into_iter().chain([
                format!("The paper does not name the model or the split of its accuracies; following the author's code we train a {} classifier with plain SGD (lr {}, batch {}) and measure everything on the training split (spec §6.3, §7 item 2).", cfg.arch, cfg.lr, cfg.batch_size),
                match cfg.gradient_sign {
                    GradientSign::Ascent => format!("The gradient direction is ascent, +g/|g|, as in the author's code (spec §7 item 3): the loss ratio along it rises at first order ({passes_1_1}); the claim is judged on the threshold {}.", fmt_sig(cfg.loss_ratio_threshold, 3)),
                    GradientSign::Descent => "The gradient direction is descent, -g/|g| (the author's code and the paper's figure use +g).".to_string(),
                },
                flip_spread,
                format!("One r grid for all directions ({} log points {}..1, {} {} points {}..{}; the author's code spaces the part above 1 linearly); the author's code sizes r_max per direction as min(max(15, 10 tau_H/rho_a), 100) (spec §6.3).", cfg.log_points, cfg.log_r_min, cfg.lin_points, match cfg.upper_spacing { Spacing::Log => "log-spaced", Spacing::Linear => "linear" }, cfg.lin_r_min, cfg.r_max),
                format!("vHv by central differences of exact f64 gradients (eps = {}, O(eps^2) error; the author uses an exact autograd HVP), tested against the analytic softmax Hessian of the linear model to 1e-7.", cfg.hvp_eps),
                format!("The paper shows one training seed; we run {} and draw Fig 8 from the first; initialisation, batch order and the random directions come from our seeded ChaCha8 streams (random direction k of stage s from (seed, s, k)), so individual curves differ from the author's torch draws.", cfg.seeds.len()),
                "Sweeps use the float32 model. The Linear model's logits are affine in its parameters, so z(theta + s v) = z(theta) + s J_z v exactly and its sweep needs no forward pass per r (tested equal to the forward-pass sweep); other architectures run one forward per r. The cross-entropy uses a float32 exp (relative error below 2e-7, checked over its whole range by a test) with the sums of logarithms in f64.".into(),
            ]).collect(),
        })
}

/// The report's words for a per-stage quantity key of paper-numbers.yaml
/// (key names never reach prose).
fn quantity(key: &str) -> String {
    let (what, along) = match key.rsplit_once('_') {
        Some((w, "grad")) => (w, "along the gradient"),
        Some((w, "random")) => (w, "along random directions (median)"),
        _ => (key, ""),
    };
    let what = match what {
        "accuracy" => "training accuracy",
        "rho_a" => "rho_a",
        "loss_ratio_r1" => "loss ratio at r = 1",
        "flip_r1" => "share of predictions flipped at r = 1",
        "hessian_ratio" => "tau_H/rho_a",
        "first_r_above_2" => "first r with loss ratio > 2",
        other => other,
    };
    format!("{what} {along}").trim_end().to_string()
}
