//! Figures 2-5 and 13, the table and the report section of `theory`, from
//! its stored data alone.

use super::{Theory, TheoryData, TheorySummary};
use crate::{paper_numbers::PaperNumbers, Context, Experiment};
use analysis::style::{Weight, OVERLAP_ALPHA};
use analysis::plot::{Annotation, Band, Figure, LegendPos, Panel, Region, Scatter, Series, VLine};
use analysis::report::Section;
use analysis::table::{fmt_sig, Table};
use anyhow::Result;
use radius::kl::{KL_FORWARD_CONSTANT, KL_REVERSE_CONSTANT};
use std::f64::consts::PI;

/// Figures, table and report section.
pub(super) fn render(
    e: &Theory,
    ctx: &Context,
    data: &TheoryData,
    summary: &TheorySummary,
) -> Result<Section> {
    let paper = PaperNumbers::load_for_root(&ctx.root)?;
    let figs = ctx.figures_dir(e.id());
    let mut figures = Vec::new();
    for (stem, fig) in figures_of(data, summary) {
        figures.extend(
            analysis::plot::render(&fig, &figs.join(stem))?
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "png")),
        );
    }
    let table = table_of(summary, &paper)?;
    let md = table.to_markdown();
    analysis::store::write_atomic(ctx.table_path(e.id()), md.as_bytes())?;
    let verdict = verdict(summary, &paper)?;
    Ok(Section {
            id: e.id().into(),
            title: e.title().into(),
            figures: figures.iter().map(|p| ctx.relative(p).to_path_buf()).collect(),
            table_markdown: md,
            verdict,
            notes: ctx.config_note(e.id()).into_iter().chain([
                "The paper prints the top-2 ghost as (delta + i pi)/Delta_yc; the real part's sign is a slip (nearest zero is (-delta + i pi)/Delta_yc, same modulus). We use the correct sign.".into(),
                "The paper's Eq. 26 Bregman form is the reverse KL; its rigorous constant is 1/(36 sqrt 3). The forward KL obeys 1/(18 sqrt 3) rigorously (integral form). Both are checked.".into(),
                format!(
                    "\"> 4000x\" is (2/f'')/R = {} at margin 10; Fig. 13's legend scale 1/f'' gives {} and its caption's (pi/R)/f'' gives {}.",
                    fmt_sig(summary.hessian_step_over_radius_at_margin_10, 4),
                    fmt_sig(summary.inverse_curvature_over_radius_at_margin_10, 4),
                    fmt_sig(summary.caption_ratio_at_margin_10, 4)
                ),
            ]).collect(),
        })
}

/// Relative tolerance for the paper's rounded closed-form numbers (it
/// prints 0.96, ~22,000, ~10).
const CLOSED_FORM_TOLERANCE: f64 = 0.05;
/// A sharp bound: its worst case reaches at least this share of it.
const SHARP_SHARE: f64 = 0.99;

/// The theory verdict, from every number the table compares.
fn verdict(s: &TheorySummary, paper: &PaperNumbers) -> Result<String> {
    let mut ok = Vec::new();
    let mut differ = Vec::new();
    let tol = format!("{:.0}%", 100.0 * CLOSED_FORM_TOLERANCE);
    for (key, ours, what) in [
        ("sigmoid_at_pi", s.sigmoid_at_pi, "sigma(pi)"),
        (
            "inverse_curvature_at_margin_10",
            s.inverse_curvature_at_margin_10,
            "1/f''(10)",
        ),
        (
            "radius_at_margin_10",
            s.radius_at_margin_10,
            "the radius at margin 10",
        ),
    ] {
        let n = paper.get("theory", key)?;
        let p = n.value.unwrap_or(f64::NAN);
        let line = format!("{what} {} vs {}", fmt_sig(ours, 5), n.cell());
        if (ours - p).abs() <= CLOSED_FORM_TOLERANCE * p.abs() {
            ok.push(line);
        } else {
            differ.push(line);
        }
    }
    let mut check = |holds: bool, line: String| {
        if holds {
            ok.push(line)
        } else {
            differ.push(line)
        }
    };
    let over = paper.get("theory", "hessian_step_over_radius_at_margin_10")?;
    check(
        s.hessian_step_over_radius_at_margin_10 > over.value.unwrap_or(f64::INFINITY),
        format!(
            "(2/f'')/R = {} vs {}",
            fmt_sig(s.hessian_step_over_radius_at_margin_10, 4),
            over.cell()
        ),
    );
    check(
        s.taylor15_rel_error_inside < 1.0 && s.taylor15_rel_error_outside > 1.0,
        format!(
            "Taylor T_15 relative error {} inside and {} outside the radius (below / above 1)",
            fmt_sig(s.taylor15_rel_error_inside, 3),
            fmt_sig(s.taylor15_rel_error_outside, 3)
        ),
    );
    check(
        s.kl_forward_max_ratio <= 1.0,
        format!(
            "forward-KL remainder at most {} of the bound over {} random cases (holds: <= 1)",
            fmt_sig(s.kl_forward_max_ratio, 6),
            s.kl_cases
        ),
    );
    // Eq. 26 writes the reverse KL; there the paper's constant holds but
    // is not sharp (the sharp one is half of it).
    let reverse_share = s.kl_reverse_max_ratio * KL_REVERSE_CONSTANT / KL_FORWARD_CONSTANT;
    let eq26 = format!(
        "Paper vs itself: its theorem (forward KL) is sharp, as checked above, but the expression it writes in Eq. 26 is the reverse KL, where 1/(18 sqrt 3) {} with a worst case of {} of it ({}; the reverse form's sharp constant is 1/(36 sqrt 3))",
        if reverse_share <= 1.0 { "holds" } else { "fails" },
        fmt_sig(reverse_share, 4),
        if reverse_share >= SHARP_SHARE { "sharp there too" } else { "not sharp there" }
    );
    check(
        s.kl_two_point_ratio_tau_0_1 >= SHARP_SHARE && s.kl_two_point_ratio_tau_0_1 <= 1.0,
        format!(
            "two-point law reaches {} of the bound at tau = 0.1 (sharp: >= {SHARP_SHARE})",
            fmt_sig(s.kl_two_point_ratio_tau_0_1, 4)
        ),
    );
    check(
        s.calibration_min_ratio >= 1.0 - 1e-9,
        format!(
            "min rho*/rho_a = {} over {} samples (no zero inside the disk: >= 1 - 1e-9)",
            fmt_sig(s.calibration_min_ratio, 6),
            s.calibration_cases
        ),
    );
    let n = ok.len() + differ.len();
    Ok(if differ.is_empty() {
        format!(
            "reproduced: all {n} checks hold (closed-form numbers within {tol} of the paper's rounded values): {}. {eq26}",
            ok.join("; ")
        )
    } else {
        format!(
            "differs: {} of {n} checks fail (closed-form numbers compared within {tol}): {}; holding: {}. {eq26}",
            differ.len(),
            differ.join("; "),
            ok.join("; ")
        )
    })
}

fn circle(radius: f64, n: usize) -> (Vec<f64>, Vec<f64>) {
    (0..=n)
        .map(|i| {
            let th = 2.0 * PI * i as f64 / n as f64;
            (radius * th.cos(), radius * th.sin())
        })
        .unzip()
}

/// Every theory figure, drawn from the stored data (file stem, figure).
fn figures_of(d: &TheoryData, s: &TheorySummary) -> Vec<(&'static str, Figure)> {
    let pole = d.config.pole;

    // Fig 2.
    let mut p2 = Panel::new(
        format!("Taylor polynomials of 1/(x+{pole}) beyond R = {pole}"),
        "x",
        "|T_n(x)| and f(x)",
    );
    (p2.x_log, p2.y_log) = (true, true);
    p2.x_range = Some((1e-2, 1e2));
    p2.y_range = Some((1e-2, 1e1));
    p2.regions = vec![
        Region::safe(1e-2, pole, "converges (x < R)"),
        Region::unsafe_(pole, 1e2, "diverges (x > R)"),
    ];
    p2.series.push(
        Series::new(
            format!("f(x) = 1/(x+{pole})"),
            d.taylor_x.clone(),
            d.taylor_f.clone(),
        )
        .color(0)
        .width(Weight::Bold),
    );
    for (i, (n, y)) in d.config.taylor_orders.iter().zip(&d.taylor_abs).enumerate() {
        p2.series.push(
            Series::new(format!("|T_{n}(x)|"), d.taylor_x.clone(), y.clone())
                .color(analysis::style::sequential(i, d.config.taylor_orders.len()))
                .dashed(),
        );
    }
    p2.vlines.push(VLine::new(pole, format!("R = {pole}")));
    // At x = R the partial sums are (1/R) sum_k (-1)^k: zero for odd n, so
    // those curves drop off the log axis there together (their triangles
    // coincide); say so where it happens.
    let zero_at_pole: Vec<String> = d
        .config
        .taylor_orders
        .iter()
        .filter(|&&n| {
            let t: f64 = (0..=n).map(|k| (-1f64).powi(k as i32) / pole).sum();
            t.abs() < 1e-12
        })
        .map(|n| n.to_string())
        .collect();
    if !zero_at_pole.is_empty() {
        // Said in a note box, which goes where it covers no curve (beside
        // the curves' exit at the bottom of the frame it sat on their
        // dips); the exit itself is marked by the curves' triangles.
        p2.notes.push(format!(
            "|T_n(R)| = 0 for n = {}: at x = R those curves leave through the bottom (a zero has no place on the log axis)",
            zero_at_pole.join(", ")
        ));
    }

    // Fig 3.
    let mut p3 = Panel::new("sigma(x) = d/dx log(1+e^x): radius pi", "x", "sigma(x)");
    p3.x_log = true;
    p3.x_range = Some((1e-2, 1e2));
    p3.y_range = Some((0.48, 1.02));
    p3.regions = vec![
        Region::safe(1e-2, PI, "x < pi"),
        Region::unsafe_(PI, 1e2, "x > pi"),
    ];
    p3.series.push(
        Series::new("sigma(x)", d.sigmoid_x.clone(), d.sigmoid_y.clone())
            .color(0)
            .width(Weight::Bold),
    );
    p3.vlines.push(VLine::new(PI, "x = pi"));
    p3.annotations.push(Annotation::new(
        PI,
        s.sigmoid_at_pi,
        format!("sigma(pi) = {:.4}", s.sigmoid_at_pi),
    ));

    // Fig 4: the phasors at t = i y lie in an open half-plane.
    let mut p4 = Panel::new(
        format!("Terms of F at t = {:.2}i (Delta_a y = 0.8 pi)", d.arc_y),
        "Re",
        "Im",
    );
    // Angles are the content: one unit as long on both axes.
    p4.equal_aspect = true;
    // The sum first, so that a term at nearly its angle is drawn on top.
    p4.series.push(
        Series::new(
            "sum F(t): never 0",
            vec![0.0, d.arc_sum.0],
            vec![0.0, d.arc_sum.1],
        )
        .color(0)
        .width(Weight::Heavy)
        .markers(),
    );
    for (k, &(re, im)) in d.arc_terms.iter().enumerate() {
        p4.series.push(
            Series::new(format!("term {}", k + 1), vec![0.0, re], vec![0.0, im])
                .color(k + 1)
                .width(Weight::Bold)
                .markers(),
        );
    }
    // Boundary of the half-plane: perpendicular to the bisector of the phase arc [0, 0.8π].
    let bisector = 0.5 * 0.8 * PI;
    let ext = d
        .arc_terms
        .iter()
        .chain(std::iter::once(&d.arc_sum))
        .map(|(x, y)| x.hypot(*y))
        .fold(1.0f64, f64::max)
        * 1.1;
    let (bx, by) = (
        (bisector + PI / 2.0).cos() * 100.0 * ext,
        (bisector + PI / 2.0).sin() * 100.0 * ext,
    );
    // The visible box is fixed (the boundary line runs far beyond it and
    // is cut at the frame).
    p4.x_range = Some((-ext, ext));
    p4.y_range = Some((-ext, ext));
    p4.series.push(
        Series::new("half-plane boundary", vec![-bx, bx], vec![-by, by])
            .color(6)
            .dashed(),
    );
    p4.x_range = Some((-ext, ext));
    p4.y_range = Some((-ext, ext));

    // Fig 5: the t-plane of the example.
    let (z, a) = (&d.config.example_logits, &d.config.example_slopes);
    let mut p5 = Panel::new(format!("Ghosts of z = {z:?}, a = {a:?}"), "Re t", "Im t");
    // Disks must look round: one unit as long on both axes.
    p5.equal_aspect = true;
    let top2_extent = d
        .example_top2_ghost
        .map_or(0.0, |(re, im)| re.abs().max(im.abs()));
    let lim = d.example_rho_exact.max(top2_extent) * 1.15;
    // Wider than any visible range (the plot cuts it at the frame), so
    // the strip still reaches the frame after equal aspect widens x.
    let xs = analysis::stats::linspace(-100.0 * lim, 100.0 * lim, 2);
    p5.bands.push(
        Band::new(
            "zero-free strip",
            xs.clone(),
            vec![-d.example_rho_a; 2],
            vec![d.example_rho_a; 2],
        )
        .color(3),
    );
    let (cx, cy) = circle(d.example_rho_a, 256);
    p5.series.push(
        Series::new("disk |t| = rho_a = pi/Delta_a", cx, cy)
            .color(3)
            .width(Weight::Bold),
    );
    let (ex, ey) = circle(d.example_rho_exact, 256);
    p5.series.push(
        Series::new("|t| = rho* (exact radius)", ex, ey)
            .color(5)
            .dashed(),
    );
    let (gr, gi) = d.example_ghost;
    p5.scatters.push(
        Scatter::new(
            "nearest zeros of F (certified)",
            vec![gr, gr],
            vec![gi, -gi],
        )
        .color(6),
    );
    if let Some((tr, ti)) = d.example_top2_ghost {
        p5.scatters
            .push(Scatter::new("top-2 ghost (eq. 13, sign corrected)", vec![tr, tr], vec![ti, -ti]).color(2));
    }
    p5.x_range = Some((-lim, lim));
    p5.y_range = Some((-lim, lim));

    // Fig 13.
    let mut p13 = Panel::new(
        format!(
            "Curvature vs radius; margin 10: (1/f'')/R = {:.0}x, (2/f'')/R = {:.0}x",
            s.inverse_curvature_at_margin_10 / s.radius_at_margin_10,
            s.hessian_step_over_radius_at_margin_10
        ),
        "margin delta",
        "step scale",
    );
    (p13.x_log, p13.y_log) = (true, true);
    p13.y_range = Some((1.0, 1e6));
    p13.series.push(
        Series::new(
            "1/f'' (Hessian scale)",
            d.margin.clone(),
            d.inverse_curvature.clone(),
        )
        .color(1)
        .width(Weight::Bold),
    );
    p13.series.push(
        Series::new(
            "2/f'' (quadratic step)",
            d.margin.clone(),
            d.hessian_step.clone(),
        )
        .color(3)
        .dashed(),
    );
    p13.series.push(
        Series::new(
            "radius sqrt(delta^2 + pi^2)",
            d.margin.clone(),
            d.logistic_radius.clone(),
        )
        .color(0)
        .width(Weight::Bold),
    );
    p13.vlines.push(VLine::new(PI, "delta = pi"));
    p13.annotations.push(Annotation::new(
        10.0,
        s.inverse_curvature_at_margin_10,
        format!("{:.0}", s.inverse_curvature_at_margin_10),
    ));
    p13.annotations.push(Annotation::new(
        10.0,
        s.radius_at_margin_10,
        format!("{:.2}", s.radius_at_margin_10),
    ));

    // Appendix 4: demo along tau and the random check.
    let mut pk = Panel::new(
        "KL along z + tau a, z = (1, 2, 0.5), a = (0.3, -0.5, 0.8)",
        "tau",
        "value",
    );
    pk.y_log = true;
    let tail = |v: &Vec<f64>| v[1..].to_vec();
    pk.series.push(
        Series::new("KL(p(tau) || p(0))", tail(&d.kl_tau), tail(&d.kl_forward))
            .color(0)
            .width(Weight::Heavy)
            .alpha(OVERLAP_ALPHA),
    );
    pk.series.push(
        Series::new("(tau^2/2) Var(a)", tail(&d.kl_tau), tail(&d.kl_quadratic))
            .color(1)
            .dashed(),
    );
    pk.series.push(
        Series::new("|remainder|", tail(&d.kl_tau), tail(&d.kl_remainder))
            .color(2)
            .width(Weight::Heavy)
            .alpha(OVERLAP_ALPHA),
    );
    pk.series.push(
        Series::new("remainder bound", tail(&d.kl_tau), tail(&d.kl_bound))
            .color(6)
            .dashed(),
    );
    let mut pr = Panel::new(
        format!(
            "{} random cases: max ratio {:.6}",
            s.kl_cases, s.kl_forward_max_ratio
        ),
        "bound |tau|^3 Delta_a^3/(18 sqrt 3)",
        "|KL - (tau^2/2) Var(a)|",
    );
    (pr.x_log, pr.y_log) = (true, true);
    let shown: Vec<&(f64, f64, f64)> = d
        .kl_random
        .iter()
        .filter(|c| c.1 > 0.0)
        .take(3000)
        .collect();
    pr.scatters.push(
        Scatter::new(
            "|remainder|, random cases",
            shown.iter().map(|c| c.0).collect(),
            shown.iter().map(|c| c.1).collect(),
        )
        .color(2),
    );
    let (blo, bhi) = shown.iter().fold((f64::INFINITY, 0.0f64), |(l, h), c| {
        (l.min(c.0), h.max(c.0))
    });
    pr.series.push(
        // remainder = bound: the bound itself, one legend entry with the
        // left panel's bound curve.
        Series::new("remainder bound", vec![blo, bhi], vec![blo, bhi])
            .color(6)
            .dashed(),
    );

    // Calibration of the exact radius.
    let mut pc = Panel::new(
        format!(
            "Exact radius vs bound (min ratio {:.4})",
            s.calibration_min_ratio
        ),
        "rho* / rho_a",
        "empirical CDF",
    );
    pc.x_log = true;
    pc.y_range = Some((-0.02, 1.02));
    let mut pt = Panel::new(
        "top-2 reduction vs exact radius",
        "rho_top2 / rho*",
        "empirical CDF",
    );
    pt.x_log = true;
    pt.y_range = Some((-0.02, 1.02));
    for (i, (k, ratios, top2)) in d.calibration.iter().enumerate() {
        let ecdf = |v: &Vec<f64>| {
            (
                v.clone(),
                (1..=v.len())
                    .map(|j| j as f64 / v.len() as f64)
                    .collect::<Vec<f64>>(),
            )
        };
        let (x, y) = ecdf(ratios);
        // K is ordered: a sequential scale.
        let shade = analysis::style::sequential(i, d.calibration.len());
        pc.series
            .push(Series::new(format!("K = {k}"), x, y).color(shade));
        let (x, y) = ecdf(top2);
        pt.series
            .push(Series::new(format!("K = {k}"), x, y).color(shade));
    }
    // Ratio 1 on both panels (rho* = rho_a left, rho_top2 = rho* right):
    // one legend entry.
    pc.vlines.push(VLine::new(1.0, "ratio = 1"));
    pt.vlines.push(VLine::new(1.0, "ratio = 1"));
    for p in [&mut pc, &mut pt] {
        p.legend = LegendPos::LowerRight;
    }

    vec![
        ("fig2_taylor_divergence", Figure::single(p2)),
        ("fig3_sigmoid_radius", Figure::single(p3)),
        ("fig4_half_plane", Figure::single(p4)),
        ("fig5_ghost_plane", Figure::single(p5)),
        ("fig13_hessian_vs_radius", Figure::single(p13)),
        (
            "appendix4_kl_remainder",
            Figure::grid(vec![pk, pr], 2).with_shared_legend(),
        ),
        (
            "exact_radius_calibration",
            Figure::grid(vec![pc, pt], 2).with_shared_legend(),
        ),
    ]
}

/// The theory table: the paper's number, ours, and what it means.
fn table_of(s: &TheorySummary, paper: &PaperNumbers) -> Result<Table> {
    let mut t = Table::new(["quantity", "paper (source)", "ours", "note"]);
    t.title = Some("Theory: closed-form numbers and checks".into());
    let p = |key: &str| paper.get("theory", key).map(|n| n.cell());
    t.push_row([
        "sigma(pi) (Fig 3)".to_string(),
        p("sigmoid_at_pi")?,
        fmt_sig(s.sigmoid_at_pi, 4),
        "derivative of log(1+e^x) at the radius".into(),
    ]);
    t.push_row([
        "Taylor T_15 of 1/(x+2): rel. error at x = R/2 and 2R (Fig 2)".to_string(),
        "converges inside, diverges outside (paper figure, Fig 2)".into(),
        format!(
            "{} / {}",
            fmt_sig(s.taylor15_rel_error_inside, 3),
            fmt_sig(s.taylor15_rel_error_outside, 3)
        ),
        "error ~ r^16 inside, grows ~ r^16 outside".into(),
    ]);
    t.push_row([
        "1/f''(10), Hessian scale (Fig 13)".to_string(),
        p("inverse_curvature_at_margin_10")?,
        fmt_sig(s.inverse_curvature_at_margin_10, 5),
        "sigma(1-sigma) at margin 10".into(),
    ]);
    t.push_row([
        "radius sqrt(10^2 + pi^2) (Fig 13)".to_string(),
        p("radius_at_margin_10")?,
        fmt_sig(s.radius_at_margin_10, 5),
        String::new(),
    ]);
    t.push_row([
        "(2/f'')/R at margin 10".to_string(),
        p("hessian_step_over_radius_at_margin_10")?,
        fmt_sig(s.hessian_step_over_radius_at_margin_10, 4),
        format!(
            "(1/f'')/R = {}, (pi/R)/f'' = {}",
            fmt_sig(s.inverse_curvature_over_radius_at_margin_10, 4),
            fmt_sig(s.caption_ratio_at_margin_10, 4)
        ),
    ]);
    t.push_row([
        "forward KL remainder / (|tau|^3 Delta_a^3/(18 sqrt 3)), max".to_string(),
        p("kl_forward_constant")?,
        fmt_sig(s.kl_forward_max_ratio, 7),
        format!("{} random cases; <= 1 means the bound holds", s.kl_cases),
    ]);
    t.push_row([
        "reverse KL remainder / (|tau|^3 Delta_a^3/(36 sqrt 3)), max".to_string(),
        format!(
            "1/(18 sqrt 3) = {:.6} (paper text, Eq. 26, whose expression is this reverse form)",
            KL_FORWARD_CONSTANT
        ),
        fmt_sig(s.kl_reverse_max_ratio, 7),
        format!(
            "constant {:.6} is rigorous for the Bregman (reverse) form; with the paper's constant the worst case is {} of it ({})",
            KL_REVERSE_CONSTANT,
            fmt_sig(s.kl_reverse_max_ratio * KL_REVERSE_CONSTANT / KL_FORWARD_CONSTANT, 4),
            if s.kl_reverse_max_ratio * KL_REVERSE_CONSTANT <= KL_FORWARD_CONSTANT { "holds" } else { "fails" }
        ),
    ]);
    t.push_row([
        "two-point law: remainder / bound at tau = 0.1, 1".to_string(),
        "sharp (paper text, App. 4)".into(),
        format!(
            "{} / {}",
            fmt_sig(s.kl_two_point_ratio_tau_0_1, 4),
            fmt_sig(s.kl_two_point_ratio_tau_1, 4)
        ),
        format!(
            "forward constant 1/(18 sqrt 3) = {:.6}",
            KL_FORWARD_CONSTANT
        ),
    ]);
    t.push_row([
        "min rho*/rho_a over random samples".to_string(),
        p("rho_exact_at_least_rho_a")?,
        fmt_sig(s.calibration_min_ratio, 6),
        format!(
            "{} samples, K in {{3, 10, 50}}; certified nearest zeros",
            s.calibration_cases
        ),
    ]);
    for ((k, med), (_, top2)) in s
        .calibration_median_ratio
        .iter()
        .zip(&s.calibration_median_top2_over_exact)
    {
        t.push_row([
            format!("median rho*/rho_a and rho_top2/rho*, K = {k}"),
            "none (the paper names it future work, text)".into(),
            format!("{} / {}", fmt_sig(*med, 4), fmt_sig(*top2, 4)),
            "the bound's slack; the top-2 reduction's error".into(),
        ]);
    }
    t.push_row([
        "example z = (2, 0, -1), a = (1, 0.5, -3): rho_a, rho*, ghost".to_string(),
        "-".into(),
        format!(
            "{} / {} / {} + {}i",
            fmt_sig(s.example_rho_a, 5),
            fmt_sig(s.example_rho_exact, 6),
            fmt_sig(s.example_ghost.0, 5),
            fmt_sig(s.example_ghost.1, 5)
        ),
        "Fig 5".into(),
    ]);
    Ok(t)
}
