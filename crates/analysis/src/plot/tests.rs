//! Rendering tests: every element, odd data, both output formats.

use super::*;

/// Two panels (log-log and linear) using every element, with NaN and
/// infinite values and an empty series.
pub(crate) fn demo_figure() -> Figure {
    let r = crate::stats::logspace(-2.0, 1.0, 60);
    let loss: Vec<f64> = r
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            if i == 20 {
                f64::NAN
            } else if r > 5.0 {
                f64::INFINITY
            } else {
                0.5 + r * r
            }
        })
        .collect();
    let lo: Vec<f64> = loss.iter().map(|l| l * 0.8).collect();
    let hi: Vec<f64> = loss.iter().map(|l| l * 1.25).collect();
    let mut a = Panel::new(
        "Loss along the update direction",
        "r = step / radius",
        "loss",
    );
    a.x_log = true;
    a.y_log = true;
    a.series.push(Series::new("median loss", r.clone(), loss));
    a.series.push(Series::new("empty run", vec![], vec![]));
    a.series.push(
        Series::new(
            "quadratic model",
            r.clone(),
            r.iter().map(|r| 0.5 + 0.3 * r).collect(),
        )
        .dashed(),
    );
    a.bands.push(Band::new("IQR", r.clone(), lo, hi));
    a.vlines.push(VLine::r_one());
    a.regions.push(Region::safe(0.0, 1.0, "safe (r < 1)"));
    a.regions
        .push(Region::unsafe_(1.0, f64::INFINITY, "unsafe (r > 1)"));
    a.annotations
        .push(Annotation::new(1.0, 1.5, "pole reached"));

    let x = crate::stats::linspace(0.0, 3.0, 31);
    let mut b = Panel::new("Radius over training", "step", "rho_a = pi / Delta_a");
    b.notes.push("note: tau_H = 2 / vHv".into());
    b.y_range = Some((0.0, 2.0));
    b.series
        .push(Series::new("radius", x.clone(), x.iter().map(|x| 0.3 + x * x).collect()).markers());
    b.scatters.push(Scatter::new(
        "spikes",
        vec![0.5, 1.5, f64::NAN],
        vec![1.0, 1.2, 3.0],
    ));
    b.hlines.push(HLine::new(1.0, "threshold"));
    b.annotations
        .push(Annotation::new(2.9, 1.9, "clipped at the top"));
    b.legend = LegendPos::UpperLeft;
    Figure::grid(vec![a, b], 2).titled("Ghosts of softmax: test figure")
}

#[test]
fn renders_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("nested/dir/demo.v1");
    let paths = render(&demo_figure(), &stem).unwrap();
    assert_eq!(paths.len(), 2);
    assert!(paths[0].ends_with("demo.v1.png") && paths[1].ends_with("demo.v1.svg"));
    let png = std::fs::read(&paths[0]).unwrap();
    assert!(png.len() > 5_000, "PNG is only {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(&paths[1]).unwrap();
    // Legend labels are SVG text ("<" escaped as "&lt;").
    let labels = [
        "median loss",
        "empty run",
        "quadratic model",
        "IQR",
        "r = 1",
    ];
    for label in labels
        .into_iter()
        .chain(["safe (r &lt; 1)", "spikes", "threshold"])
    {
        assert!(svg.contains(label), "SVG lacks legend label {label}");
    }
    // Only the two outputs remain: temporary files were renamed.
    assert_eq!(
        std::fs::read_dir(stem.parent().unwrap()).unwrap().count(),
        2
    );
    if let Ok(keep) = std::env::var("ANALYSIS_KEEP_FIGURE") {
        for p in &paths {
            let dest = std::path::Path::new(&keep).with_extension(p.extension().unwrap());
            std::fs::copy(p, dest).unwrap();
        }
    }
}

#[test]
fn every_legend_position_and_degenerate_data() {
    let dir = tempfile::tempdir().unwrap();
    for (k, pos) in [
        LegendPos::Right,
        LegendPos::Below,
        LegendPos::UpperRight,
        LegendPos::LowerLeft,
        LegendPos::LowerRight,
        LegendPos::None,
    ]
    .into_iter()
    .enumerate()
    {
        let mut p = Panel::new("", "", "");
        p.legend = pos;
        p.y_log = k % 2 == 0;
        p.series
            .push(Series::new("all NaN", vec![f64::NAN; 3], vec![f64::NAN; 3]));
        p.series
            .push(Series::new("one point", vec![1.0], vec![0.0]));
        p.vlines.push(VLine::new(f64::NAN, "nan line"));
        p.regions.push(Region::new(
            f64::NAN,
            1.0,
            RegionColor::Palette(3),
            "nan region",
        ));
        let fig = Figure {
            panel_size: (400, 300),
            ..Figure::single(p)
        };
        let paths = render(&fig, &dir.path().join(format!("deg{k}"))).unwrap();
        assert!(paths.iter().all(|p| p.exists()));
    }
    // Extreme magnitudes on every axis kind.
    let v = vec![1e308, -1e308, 5e-324, 0.0, 1.0, f64::MAX, f64::MIN_POSITIVE];
    for (x_log, y_log) in [(false, false), (true, true), (true, false)] {
        let mut p = Panel::new("extremes", "x", "y");
        (p.x_log, p.y_log) = (x_log, y_log);
        p.series.push(Series::new(
            "v",
            v.clone(),
            v.iter().rev().copied().collect(),
        ));
        p.bands
            .push(Band::new("b", v.clone(), v.clone(), v.clone()));
        let fig = Figure {
            panel_size: (300, 200),
            ..Figure::single(p)
        };
        render(&fig, &dir.path().join(format!("ext{x_log}{y_log}"))).unwrap();
    }
    assert!(render(&Figure::default(), &dir.path().join("none")).is_err());
}

#[test]
fn free_corner_avoids_the_data() {
    // A 100 x 100 plot, a 30 x 20 legend box, inset 5.
    let plot = (0, 0, 100, 100);
    let pick = |ink: &[(i32, i32)]| panel::free_corner(ink, plot, (30, 20), 5);
    // A line rising from the lower left to the upper right (pixel y grows
    // downwards): the upper-left corner is free.
    let rising: Vec<(i32, i32)> = (0..=100).map(|x| (x, 100 - x)).collect();
    assert_eq!(pick(&rising), LegendPos::UpperLeft);
    // A flat high line as well covers both upper corners: lower right.
    let mut high = rising.clone();
    high.extend((0..=100).map(|x| (x, 15)));
    assert_eq!(pick(&high), LegendPos::LowerRight);
    // Every corner covered: the one covering fewest points.
    let mut all = high.clone();
    all.extend((0..=100).map(|x| (x, 90)));
    all.extend((0..=100).map(|x| (x, 91)));
    assert_eq!(pick(&all), LegendPos::UpperLeft);
}

#[test]
fn dodge_sets_equal_points_side_by_side_and_centred() {
    let x = [1.0, 1.0, 1.0, 2.0, 1.0, f64::NAN];
    let y = [5.0, 5.0, 5.0, 5.0, 6.0, 5.0];
    let d = dodge(&x, &y, 2.0);
    // Three equal points: factors 2^-1, 2^0, 2^1; single points unmoved.
    assert_eq!(&d[..5], &[0.5, 1.0, 2.0, 2.0, 1.0]);
    assert!(d[5].is_nan());
}

#[test]
fn text_is_sized_for_the_print_width() {
    let panel = || Panel::new("t", "x", "y");
    let one = Figure::single(panel());
    let three = Figure::grid((0..6).map(|_| panel()).collect(), 3);
    // One panel prints a column wide, three across a page wide: in both,
    // a tick label is MIN_TEXT_PT or more.
    for f in [&one, &three] {
        let look = f.look();
        let w = f.size().0 as f64;
        let pt = look.size(style::TICK_LABEL_SIZE) / style::SIZE_PER_EM * 72.0 * style::print_width_in(w as u32) / w;
        assert!(pt >= style::MIN_TEXT_PT - 1e-9, "{pt}");
    }
}

#[test]
fn the_demo_figure_has_no_layout_problem() {
    let dir = tempfile::tempdir().unwrap();
    let paths = render(&demo_figure(), &dir.path().join("demo")).unwrap();
    let svg = std::fs::read_to_string(&paths[1]).unwrap();
    assert_eq!(text_problems(&svg), Vec::<String>::new());
    // Subscripts are their own, smaller text runs.
    // Subscripts are their own, smaller text runs: "ρ", then "a".
    assert!(svg.contains(">\nρ\n</text>"), "no ρ run");
    assert!(!svg.contains("ρ_a") && !svg.contains("ρa"));
}

#[test]
fn layout_problems_are_found() {
    let dir = tempfile::tempdir().unwrap();
    // A y label far too long for its panel is shortened ("…").
    let mut p = Panel::new("title", "x", &"a very long y axis description ".repeat(6));
    p.series.push(Series::new("s", vec![0.0, 1.0], vec![0.0, 1.0]));
    let paths = render(&Figure::single(p), &dir.path().join("long")).unwrap();
    let svg = std::fs::read_to_string(&paths[1]).unwrap();
    let problems = text_problems(&svg);
    assert!(problems.iter().any(|p| p.starts_with("shortened")), "{problems:?}");
    // Hand-made SVGs: a text past the right edge, two texts on one another,
    // a tiny text.
    let text = |x: i32, y: i32, size: f64, t: &str| {
        format!(r##"<text x="{x}" y="{y}" dy="0.76em" text-anchor="start" font-family="sans-serif" font-size="{size}" opacity="1" fill="#000000">{t}</text>"##)
    };
    let svg = |body: String| format!(r#"<svg width="900" height="600" viewBox="0 0 900 600" xmlns="http://www.w3.org/2000/svg">{body}</svg>"#);
    let big = 8.0 * 900.0 / 234.0;
    let cut = text_problems(&svg(text(850, 10, big, "far right label")));
    assert!(cut.iter().any(|p| p.starts_with("cut by the canvas")), "{cut:?}");
    let on = text_problems(&svg(text(100, 100, big, "first") + &text(110, 104, big, "second")));
    assert!(on.iter().any(|p| p.starts_with("overlapping texts")), "{on:?}");
    let small = text_problems(&svg(text(100, 300, big / 2.0, "tiny")));
    assert!(small.iter().any(|p| p.contains("pt at print size")), "{small:?}");
    assert!(text_problems(&svg(text(100, 100, big, "fine") + &text(100, 300, big, "also fine"))).is_empty());
}

#[test]
fn a_delta_without_its_subscript_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let render_label = |label: &str| {
        let mut p = Panel::new("t", label, "y");
        p.series.push(Series::new("s", vec![1.0, 2.0], vec![1.0, 2.0]));
        let paths = render(&Figure::single(p), &dir.path().join("d")).unwrap();
        text_problems(&std::fs::read_to_string(&paths[1]).unwrap())
    };
    // The Appendix-4 bound once read "Δ³": the spread lost its subscript.
    let bare = render_label("bound |tau|^3 Delta^3/(18 sqrt 3)");
    assert!(bare.iter().any(|p| p.starts_with("Δ without its subscript")), "{bare:?}");
    assert!(render_label("bound |tau|^3 Delta_a^3/(18 sqrt 3)").is_empty());
    assert!(render_label("rho_a = pi / Delta_a").is_empty());
}

#[test]
fn boxes_go_to_a_free_corner_or_outside() {
    let plot = (0, 0, 200, 100);
    // A line along the top: a lower corner is free.
    let top: Vec<(i32, i32)> = (0..=200).map(|x| (x, 5)).collect();
    let c = panel::place_box(&top, &[], plot, (40, 20), 4, None).unwrap();
    assert!(matches!(c, LegendPos::LowerRight | LegendPos::LowerLeft), "{c:?}");
    // The preferred corner when free; not over a box already placed.
    assert_eq!(panel::place_box(&top, &[], plot, (40, 20), 4, Some(LegendPos::LowerLeft)), Some(LegendPos::LowerLeft));
    let taken = [(150, 70, 200, 100)];
    assert_eq!(panel::place_box(&top, &taken, plot, (40, 20), 4, Some(LegendPos::LowerRight)), Some(LegendPos::LowerLeft));
    // Data in every corner: no corner, the box goes outside the plot.
    let mut all = top.clone();
    all.extend((0..=200).map(|x| (x, 95)));
    assert_eq!(panel::place_box(&all, &[], plot, (40, 20), 4, None), None);
    // A legend whose every corner covers data is drawn below the plot.
    let dir = tempfile::tempdir().unwrap();
    let mut p = Panel::new("", "x", "y");
    p.legend = LegendPos::FreeCorner;
    for k in 0..12 {
        let y = k as f64;
        p.series.push(Series::new(format!("line {k}"), vec![0.0, 1.0], vec![y, y]));
    }
    let paths = render(&Figure::single(p), &dir.path().join("full")).unwrap();
    let svg = std::fs::read_to_string(&paths[1]).unwrap();
    assert!(text_problems(&svg).is_empty(), "{:?}", text_problems(&svg));
}

#[test]
fn sequential_colours_are_ordered_by_lightness() {
    let luma = |c: RGBColor| 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
    let n = 8;
    let l: Vec<f64> = (0..n).map(|i| luma(style::sequential(i, n))).collect();
    assert!(l.windows(2).all(|w| w[1] > w[0]), "{l:?}");
    assert_eq!(style::sequential(0, 1), style::sequential(0, 5));
}

#[test]
fn long_figure_titles_wrap_instead_of_being_cut() {
    crate::font::ensure_fonts();
    let title = "one two three four five six seven eight nine ten eleven twelve";
    let lines = text::wrap(title, 30.0, 300);
    assert!(lines.len() > 1, "{lines:?}");
    assert_eq!(lines.join(" "), title);
    assert!(lines.iter().all(|l| text::width(l, 30.0) <= 300));
    // A title of several lines gets a taller strip than one of one line.
    let long = Figure::single(Panel::new("p", "x", "y")).titled(title.repeat(3));
    let short = Figure::single(Panel::new("p", "x", "y")).titled("short");
    assert!(long.title_height(900, long.look()) > short.title_height(900, short.look()));
}

/// The texts of an SVG written by plotters (between newlines in `<text>`).
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..t.find("</text>")?];
            Some(body.trim_matches('\n').to_string())
        })
        .collect()
}

#[test]
fn a_cut_line_is_explained_in_the_legend_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Panel::new("", "x", "y");
    p.y_range = Some((0.0, 1.0));
    p.series.push(Series::new("inside", vec![0.0, 1.0], vec![0.2, 0.4]));
    assert!(!panel::has_cut(&p));
    assert!(legend::entries(&p).iter().all(|e| e.label != legend::CUT_LABEL));
    let svg = |fig: &Figure, name: &str| {
        let paths = render(fig, &dir.path().join(name)).unwrap();
        std::fs::read_to_string(&paths[1]).unwrap()
    };
    assert!(!svg(&Figure::single(p.clone()), "in").contains(legend::CUT_LABEL));
    // A line through the top of the frame: the entry appears.
    p.series.push(Series::new("leaves", vec![0.0, 1.0], vec![0.5, 3.0]));
    assert!(panel::has_cut(&p));
    assert!(svg(&Figure::single(p.clone()), "cut").contains(legend::CUT_LABEL));
    // In a shared legend once, and as a note where the panel has no legend.
    let shared = Figure::grid(vec![p.clone(), p.clone()], 2).with_shared_legend();
    assert_eq!(svg(&shared, "shared").matches(legend::CUT_LABEL).count(), 1);
    p.legend = LegendPos::None;
    assert!(svg(&Figure::single(p), "note").contains(legend::CUT_LABEL));
}

#[test]
fn an_equal_aspect_panel_gets_a_canvas_of_its_aspect() {
    for (x, y) in [((-1.0, 1.0), (-1.0, 1.0)), ((-4.0, 4.0), (-1.0, 1.0)), ((-1.0, 1.0), (-3.0, 3.0))] {
        let mut p = Panel::new("square data", "Re", "Im");
        p.equal_aspect = true;
        (p.x_range, p.y_range) = (Some(x), Some(y));
        p.series.push(Series::new("a line", vec![x.0, x.1], vec![y.0, y.1]));
        let fig = fitted(&Figure::single(p)).unwrap();
        let mut text = String::new();
        let gaps = {
            let root = SVGBackend::with_string(&mut text, fig.size()).into_drawing_area();
            draw_figure(&root, &fig, fig.look()).unwrap()
        };
        assert_eq!(gaps.len(), 1);
        // Unless the minimum panel height holds the canvas up.
        let at_minimum = fig.size().1 <= fig.look().px(style::MIN_PANEL_HEIGHT) + 1;
        assert!(gaps[0].abs() < 2.0 || (at_minimum && gaps[0] < 0.0), "{x:?} {y:?}: {gaps:?}, {:?}", fig.size());
    }
}

#[test]
fn decade_axes_of_one_direction_share_their_format_in_a_figure() {
    let dir = tempfile::tempdir().unwrap();
    let panel = |hi: f64| {
        let mut p = Panel::new("", "x", "y");
        p.y_log = true;
        p.series.push(Series::new("s", vec![0.0, 1.0], vec![1.0, hi]));
        p
    };
    // Alone, 1 .. 200 spans under 3 decades: plain numbers.
    let alone = render(&Figure::single(panel(200.0)), &dir.path().join("alone")).unwrap();
    let texts = svg_texts(&std::fs::read_to_string(&alone[1]).unwrap());
    assert!(texts.contains(&"100".to_string()), "{texts:?}");
    // Beside an axis of 4 decades, powers of ten on both.
    let both = render(&Figure::grid(vec![panel(1e4), panel(200.0)], 2), &dir.path().join("both")).unwrap();
    let texts = svg_texts(&std::fs::read_to_string(&both[1]).unwrap());
    assert!(!texts.contains(&"100".to_string()), "{texts:?}");
    assert_eq!(texts.iter().filter(|t| *t == "10²").count(), 2, "{texts:?}");
}

#[test]
fn series_shapes_are_drawn_and_shown_in_the_legend() {
    let dir = tempfile::tempdir().unwrap();
    let x = crate::stats::linspace(0.0, 1.0, 50);
    let mut p = Panel::new("", "x", "y");
    for (i, sh) in Shape::ALL.iter().enumerate() {
        p.series.push(Series::new(format!("s{i}"), x.clone(), x.iter().map(|v| v + i as f64).collect()).shape(*sh));
    }
    let plain = {
        let mut q = p.clone();
        q.series.iter_mut().for_each(|s| s.shape = None);
        q
    };
    let a = render(&Figure::single(p), &dir.path().join("shapes")).unwrap();
    let b = render(&Figure::single(plain), &dir.path().join("plain")).unwrap();
    let (a, b) = (std::fs::read_to_string(&a[1]).unwrap(), std::fs::read_to_string(&b[1]).unwrap());
    // Markers add elements: polygons, circles and paths.
    assert!(a.matches("<polygon").count() > b.matches("<polygon").count());
    assert!(a.matches("<circle").count() > b.matches("<circle").count());
    assert!(text_problems(&a).is_empty(), "{:?}", text_problems(&a));
}

#[test]
fn markers_on_an_edge_draw_whole() {
    let dir = tempfile::tempdir().unwrap();
    // Hand-made: a dot across the frame's left edge is found, dots inside
    // or outside are not.
    let frame = r##"<rect x="100" y="100" width="400" height="300" opacity="1" fill="none" stroke="#000000"/>"##;
    let dot = |x: i32, y: i32| format!(r##"<circle cx="{x}" cy="{y}" r="6" opacity="1" fill="#0072B2" stroke="none" stroke-width="1"/>"##);
    let svg = |body: String| format!(r#"<svg width="900" height="600" viewBox="0 0 900 600" xmlns="http://www.w3.org/2000/svg">{frame}{body}</svg>"#);
    let cut = marker_problems(&svg(dot(102, 200)));
    assert!(cut.len() == 1 && cut[0].contains("cut by the frame"), "{cut:?}");
    assert!(marker_problems(&svg(dot(300, 200) + &dot(50, 500))).is_empty());
    assert!(!marker_problems("<svg></svg>").is_empty());
    // Points exactly at a fixed range's ends (the ghost-envelope panels
    // clip their clouds to a fixed range), dots of a lone-point series at
    // the ends, a marked line from the first x to the last (Fig 12) and a
    // data-fitted scatter: every marker draws whole.
    let mut fixed = Panel::new("fixed", "x", "y");
    fixed.x_range = Some((0.0, 1.0));
    fixed.y_range = Some((0.0, 2.0));
    fixed.scatters.push(Scatter::new("pts", vec![0.0, 1.0, 0.5, 0.5], vec![1.0, 1.0, 0.0, 2.0]));
    fixed.series.push(Series::new("", vec![0.0, f64::NAN, 1.0], vec![0.3, f64::NAN, 1.7]));
    let mut marked = Panel::new("marked", "epoch", "acc");
    marked.x_range = Some((0.0, 9.0));
    marked.series.push(Series::new("ctrl", (0..10).map(f64::from).collect(), (0..10).map(|i| f64::from(i) / 9.0).collect()).markers());
    let mut fitted = Panel::new("fitted", "x", "y");
    (fitted.x_log, fitted.y_log) = (true, true);
    fitted.scatters.push(Scatter::new("s", vec![1.0, 3.0, 7.0], vec![10.0, 200.0, 700.0]));
    fitted.annotations.push(Annotation::new(7.0, 700.0, "top"));
    for (name, p) in [("fixed", fixed), ("marked", marked), ("fitted", fitted)] {
        let paths = render(&Figure::single(p), &dir.path().join(name)).unwrap();
        let svg = std::fs::read_to_string(&paths[1]).unwrap();
        assert!(svg.matches("<circle").count() >= 3, "{name}");
        assert_eq!(marker_problems(&svg), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn shared_axes_give_every_panel_one_tick_set() {
    let dir = tempfile::tempdir().unwrap();
    // Three panels of one quantity over different spans (the Hessian
    // scale vs rho_a figure's stages once labelled 2..7, 1-2-5 and 1-2-5).
    let panel = |lo: f64, hi: f64| {
        let mut p = Panel::new("", "rho_a", "tau_H");
        (p.x_log, p.y_log) = (true, true);
        // No legend: the figure's only unfilled boxes are then the frames.
        p.scatters.push(Scatter::new("", vec![lo, hi], vec![10.0 * lo, 30.0 * hi]));
        p.legend = LegendPos::None;
        p
    };
    let fig = Figure::grid(vec![panel(1.3, 6.8), panel(1.1, 5.6), panel(1.2, 6.0)], 3).with_shared_axes();
    let paths = render(&fig, &dir.path().join("shared")).unwrap();
    let svg = std::fs::read_to_string(&paths[1]).unwrap();
    // Tick labels per panel: the texts left of / below each frame.
    let frames: Vec<[f64; 4]> = svg
        .split("<rect ")
        .skip(1)
        .map(|t| t.split('>').next().unwrap())
        .filter(|t| t.contains("fill=\"none\""))
        .map(|t| {
            let n = |k: &str| t.split(&format!("{k}=\"")).nth(1).unwrap().split('"').next().unwrap().parse::<f64>().unwrap();
            [n("x"), n("y"), n("width"), n("height")]
        })
        .collect();
    assert_eq!(frames.len(), 3, "{frames:?}");
    let texts: Vec<(f64, f64, String)> = svg
        .split("<text ")
        .skip(1)
        .map(|t| {
            let n = |k: &str| t.split(&format!("{k}=\"")).nth(1).unwrap().split('"').next().unwrap().parse::<f64>().unwrap();
            let body = t.split('>').nth(1).unwrap().split("</text").next().unwrap().trim().to_string();
            (n("x"), n("y"), body)
        })
        .collect();
    let ticks = |[x, y, w, h]: [f64; 4]| -> Vec<String> {
        texts
            .iter()
            .filter(|(tx, ty, _)| (*tx >= x && *tx <= x + w && *ty > y + h && *ty < y + h + 60.0) || (*tx < x && *tx > x - 150.0 && *ty >= y - 20.0 && *ty <= y + h + 20.0))
            .map(|t| t.2.clone())
            .collect()
    };
    let first = ticks(frames[0]);
    assert!(first.len() >= 4, "{first:?}");
    for f in &frames[1..] {
        assert_eq!(ticks(*f), first);
    }
    // Each panel alone would choose its own.
    let single = Figure::grid(vec![panel(1.3, 6.8), panel(1.1, 5.6)], 2);
    let a = panel::axes(&single.panels[0]);
    let b = panel::axes(&single.panels[1]);
    assert_ne!((a.0.lo, a.0.hi), (b.0.lo, b.0.hi));
}

#[test]
fn fixed_y_ticks_label_a_log_axis() {
    // Fig 12's max r axis: the powers of ten and the controllers' targets.
    let mut p = Panel::new("", "epoch", "max r");
    p.y_log = true;
    p.series.push(Series::new("r", vec![0.0, 1.0, 2.0], vec![0.02, 1.0, 5.0]));
    p.y_ticks = Some(vec![0.01, 0.1, 0.5, 1.0, 2.0, 4.0, 10.0]);
    let (_, ya) = panel::axes(&p);
    // The data's bottom (0.02) lies more than half a decade below 0.1: the
    // axis reaches down to the tick 0.01.
    assert_eq!(ya.major, [0.01, 0.1, 0.5, 1.0, 2.0, 4.0]);
    assert_eq!(ya.major.iter().map(|&v| ya.label(v)).collect::<Vec<_>>(), ["0.01", "0.1", "0.5", "1", "2", "4"]);
}
