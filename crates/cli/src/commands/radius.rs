//! `ghosts radius`: every radius of the paper for given logits and slopes.

use crate::InputError;
use anyhow::Result;
use radius::{delta_a, exact_radius, set_rho_a, top2, Aggregation};
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `ghosts radius`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["logits", "file"])))]
pub struct Args {
    /// Logits z_1..z_K, comma separated (e.g. 2,0,-1).
    #[arg(long, allow_hyphen_values = true, requires = "slopes")]
    logits: Option<String>,
    /// Slopes a_k = (J_z v)_k, comma separated, one per logit.
    #[arg(long, allow_hyphen_values = true, requires = "logits")]
    slopes: Option<String>,
    /// CSV of samples, one per row: z_1..z_K then a_1..a_K. Row 1 is a header
    /// when every field is a name (starts with a letter or `_`, not nan/inf);
    /// otherwise it is data.
    #[arg(long, conflicts_with_all = ["logits", "slopes"])]
    file: Option<PathBuf>,
    /// Reference class for the top-2 reduction (default: the predicted class).
    #[arg(long)]
    label: Option<usize>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// All radii of one sample. Infinite values serialise as `null`.
#[derive(Serialize)]
struct SampleRadii {
    /// Δa; `inf` (JSON `null`) when it exceeds the f64 range, the radii
    /// being computed from the halves.
    delta_a: f64,
    /// Δa / 2 (never overflows): prints Δa when Δa itself does not fit.
    #[serde(skip)]
    half_delta_a: f64,
    rho_a: f64,
    rho_top2: f64,
    rho_exact: f64,
    ghost_re: Option<f64>,
    ghost_im: Option<f64>,
}

/// Every radius of one sample; `Err` carries the exact radius's reason.
fn radii(z: &[f64], a: &[f64], label: Option<usize>) -> Result<SampleRadii, radius::ExactError> {
    let exact = exact_radius(z, a)?;
    let t2 = top2(z, a, label);
    Ok(SampleRadii {
        delta_a: delta_a(a),
        half_delta_a: delta_a(&a.iter().map(|x| x * 0.5).collect::<Vec<_>>()),
        rho_a: radius::rho_a(a),
        rho_top2: t2.map_or(f64::INFINITY, |t| t.rho_top2),
        rho_exact: exact.rho_exact,
        ghost_re: exact.ghost.map(|g| g.re),
        ghost_im: exact.ghost.map(|g| g.im),
    })
}

fn parse_list(flag: &str, text: &str) -> Result<Vec<f64>> {
    let values = text
        .split(',')
        .enumerate()
        .map(|(i, item)| {
            parse_number(item)
                .map_err(|why| InputError(format!("--{flag}: item {} ({item:?}) {why}", i + 1)))
        })
        .collect::<Result<Vec<f64>, InputError>>()?;
    Ok(values)
}

fn parse_number(item: &str) -> Result<f64, &'static str> {
    let v: f64 = item.trim().parse().map_err(|_| "is not a number")?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err("is not finite: finite numbers expected")
    }
}

/// Entry point of `ghosts radius`.
pub fn run(args: &Args) -> Result<()> {
    match (&args.logits, &args.slopes, &args.file) {
        (Some(z), Some(a), None) => {
            let (z, a) = (parse_list("logits", z)?, parse_list("slopes", a)?);
            if z.len() != a.len() {
                return Err(InputError(format!(
                    "--logits has {} values but --slopes has {}: one slope per logit expected",
                    z.len(),
                    a.len()
                ))
                .into());
            }
            check_label(args.label, z.len())?;
            let r = radii(&z, &a, args.label).map_err(|e| InputError(e.to_string()))?;
            if args.json {
                out!("{}", serde_json::to_string(&r)?);
            } else {
                print_text(&r)?;
            }
            Ok(())
        }
        (None, None, Some(path)) => run_file(path, args),
        _ => Err(InputError("give --logits with --slopes, or --file".into()).into()),
    }
}

/// `--label` must name one of the K classes (the same error for `--logits`
/// and `--file`).
fn check_label(label: Option<usize>, classes: usize) -> Result<()> {
    match label {
        Some(y) if y >= classes => Err(InputError(format!(
            "--label {y} is out of range: {classes} classes (labels 0..{})",
            classes - 1
        ))
        .into()),
        _ => Ok(()),
    }
}

/// Δa for printing: its value even when it exceeds the f64 range (from
/// the half spread, which always fits), with `decimals` digits.
fn spread_text(r: &SampleRadii, decimals: usize) -> String {
    if r.delta_a.is_finite() || !r.half_delta_a.is_finite() {
        return if decimals == 10 {
            fmt(r.delta_a)
        } else {
            fmt6(r.delta_a)
        };
    }
    // Δa = 2·(Δa/2) in scientific notation, the mantissa doubled by hand.
    let half = format!("{:.*e}", decimals + 2, r.half_delta_a);
    let (mantissa, exponent) = half.split_once('e').expect("scientific notation");
    let (mut m, mut e): (f64, i32) = (
        2.0 * mantissa.parse::<f64>().expect("a mantissa"),
        exponent.parse().expect("an exponent"),
    );
    if m >= 10.0 {
        m /= 10.0;
        e += 1;
    }
    format!("{m:.decimals$}e{e}")
}

fn fmt(x: f64) -> String {
    if x.is_infinite() {
        "inf".into()
    } else if x != 0.0 && !(1e-4..1e15).contains(&x.abs()) {
        // Fixed decimals would print 1.6e-308 as 0.
        format!("{x:.10e}")
    } else {
        format!("{x:.10}")
    }
}

fn print_text(r: &SampleRadii) -> Result<()> {
    let beyond = if r.delta_a.is_finite() {
        ""
    } else {
        "   (beyond the f64 range: the radii use the halves)"
    };
    out!("delta_a    {}{beyond}", spread_text(r, 10));
    out!(
        "rho_a      {}   (pi / delta_a: the zero-free disk)",
        fmt(r.rho_a)
    );
    out!("rho_top2   {}   (top-2 reduction, eq. 13)", fmt(r.rho_top2));
    out!(
        "rho_exact  {}   (nearest zero of F, certified)",
        fmt(r.rho_exact)
    );
    match (r.ghost_re, r.ghost_im) {
        (Some(re), Some(im)) => out!("ghost      {} ± {}i", fmt(re), fmt(im)),
        _ => out!("ghost      none (all slopes equal: F has no zero)"),
    }
    Ok(())
}

/// Result of `--file`: every sample and the set's bottleneck.
#[derive(Serialize)]
struct FileReport {
    samples: Vec<SampleRadii>,
    set_delta_a: f64,
    set_rho_a: f64,
    bottleneck: Option<usize>,
    min_rho_exact: f64,
    min_rho_exact_sample: Option<usize>,
}

/// Whether row 1 of a `--file` CSV is a header: every field is a name, i.e.
/// starts with a letter or `_` and is not a number word (`nan`, `inf`,
/// `infinity`, any case, which Rust would read as numbers). Anything else on
/// row 1 is data, checked like every other row.
fn is_header(record: &csv::StringRecord) -> bool {
    record.iter().all(|field| {
        let starts_as_name = field
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_');
        let lower = field.to_ascii_lowercase();
        starts_as_name && !["nan", "inf", "infinity"].contains(&lower.as_str())
    })
}

/// One sample of a `--file` CSV and the line it came from.
struct Sample {
    line: u64,
    z: Vec<f64>,
    a: Vec<f64>,
}

fn read_samples(path: &PathBuf) -> Result<Vec<Sample>> {
    let file = std::fs::File::open(path)
        .map_err(|e| InputError(format!("{}: cannot open: {e}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(file);
    let mut samples = Vec::new();
    let mut width = None;
    let mut header: Option<(u64, usize)> = None;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(i as u64 + 1, |p| p.line());
            InputError(format!("{}: line {line}: {e}", path.display()))
        })?;
        let line = record.position().map_or(i as u64 + 1, |p| p.line());
        if i == 0 && is_header(&record) {
            header = Some((line, record.len()));
            continue;
        }
        let numbers = record
            .iter()
            .enumerate()
            .map(|(c, item)| {
                parse_number(item).map_err(|why| {
                    InputError(format!(
                        "{}: line {line}, column {} ({item:?}) {why}",
                        path.display(),
                        c + 1
                    ))
                })
            })
            .collect::<Result<Vec<f64>, InputError>>()?;
        if numbers.len() < 2 || numbers.len() % 2 != 0 {
            return Err(InputError(format!(
                "{}: line {line}: {} values; expected an even number 2K (z_1..z_K, a_1..a_K)",
                path.display(),
                numbers.len()
            ))
            .into());
        }
        if let Some(w) = width.filter(|&w| w != numbers.len()) {
            return Err(InputError(format!(
                "{}: line {line}: {} values but earlier rows have {w}",
                path.display(),
                numbers.len()
            ))
            .into());
        }
        if let Some((hline, names)) = header.filter(|&(_, n)| n != numbers.len()) {
            return Err(InputError(format!(
                "{}: line {line}: {} values but the header (line {hline}) names {names} columns",
                path.display(),
                numbers.len()
            ))
            .into());
        }
        width = Some(numbers.len());
        let k = numbers.len() / 2;
        samples.push(Sample {
            line,
            z: numbers[..k].to_vec(),
            a: numbers[k..].to_vec(),
        });
    }
    if samples.is_empty() {
        return Err(InputError(format!(
            "{}: no samples: expected rows z_1..z_K, a_1..a_K",
            path.display()
        ))
        .into());
    }
    Ok(samples)
}

fn run_file(path: &PathBuf, args: &Args) -> Result<()> {
    // Its errors name the file, line and column already.
    let samples = read_samples(path)?;
    check_label(args.label, samples[0].z.len())?;
    let rows = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            radii(&s.z, &s.a, args.label).map_err(|e| {
                InputError(format!(
                    "{}: line {} (sample {i}): {e}",
                    path.display(),
                    s.line
                ))
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    // The bottleneck by the half spreads, which never overflow (same order);
    // its ρa is the set's (π / max Δa = min ρa).
    let halves: Vec<f64> = rows.iter().map(|r| r.half_delta_a).collect();
    let mut set = set_rho_a(&halves, Aggregation::Max);
    set.delta_a = 2.0 * set.delta_a;
    if let Some(b) = set.bottleneck {
        set.rho_a = rows[b].rho_a;
    }
    let (min_i, min_exact) =
        rows.iter()
            .enumerate()
            .fold((None, f64::INFINITY), |(bi, b), (i, r)| {
                if r.rho_exact < b {
                    (Some(i), r.rho_exact)
                } else {
                    (bi, b)
                }
            });
    let report = FileReport {
        set_delta_a: set.delta_a,
        set_rho_a: set.rho_a,
        bottleneck: set.bottleneck,
        min_rho_exact: min_exact,
        min_rho_exact_sample: min_i,
        samples: rows,
    };
    if args.json {
        out!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    out!(
        "{:>6} {:>14} {:>14} {:>14} {:>14} {:>14} {:>14}",
        "sample",
        "delta_a",
        "rho_a",
        "rho_top2",
        "rho_exact",
        "ghost_re",
        "ghost_im"
    );
    for (i, r) in report.samples.iter().enumerate() {
        let g = |v: Option<f64>| v.map_or("-".to_string(), |x| fmt6(x));
        out!(
            "{:>6} {:>14} {:>14} {:>14} {:>14} {:>14} {:>14}",
            i,
            spread_text(r, 6),
            fmt6(r.rho_a),
            fmt6(r.rho_top2),
            fmt6(r.rho_exact),
            g(r.ghost_re),
            g(r.ghost_im)
        );
    }
    let set_spread = set.bottleneck.map_or(fmt6(report.set_delta_a), |b| {
        spread_text(&report.samples[b], 6)
    });
    out!(
        "set: delta_a = {}, rho_a = pi / max delta_a = {} (bottleneck sample {})",
        set_spread,
        fmt6(report.set_rho_a),
        report.bottleneck.map_or("-".into(), |b| b.to_string())
    );
    out!(
        "smallest exact radius {} (sample {})",
        fmt6(report.min_rho_exact),
        report
            .min_rho_exact_sample
            .map_or("-".into(), |b| b.to_string())
    );
    Ok(())
}

fn fmt6(x: f64) -> String {
    if x.is_infinite() {
        "inf".into()
    } else if x != 0.0 && !(1e-4..1e15).contains(&x.abs()) {
        format!("{x:.6e}")
    } else {
        format!("{x:.6}")
    }
}
