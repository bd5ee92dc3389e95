//! `ghosts radius`: every radius of the paper for given logits and slopes.

use crate::InputError;
use anyhow::{Context, Result};
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
    /// CSV of samples, one per row: z_1..z_K then a_1..a_K (a header row is optional).
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
    delta_a: f64,
    rho_a: f64,
    rho_top2: f64,
    rho_exact: f64,
    ghost_re: Option<f64>,
    ghost_im: Option<f64>,
}

fn radii(z: &[f64], a: &[f64], label: Option<usize>) -> Result<SampleRadii> {
    let exact = exact_radius(z, a).map_err(|e| InputError(e.to_string()))?;
    let t2 = top2(z, a, label);
    Ok(SampleRadii {
        delta_a: delta_a(a),
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
            if let Some(y) = args.label.filter(|&y| y >= z.len()) {
                return Err(InputError(format!(
                    "--label {y} is out of range: {} classes",
                    z.len()
                ))
                .into());
            }
            let r = radii(&z, &a, args.label)?;
            if args.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                print_text(&r);
            }
            Ok(())
        }
        (None, None, Some(path)) => run_file(path, args),
        _ => Err(InputError("give --logits with --slopes, or --file".into()).into()),
    }
}

fn fmt(x: f64) -> String {
    if x.is_infinite() {
        "inf".into()
    } else {
        format!("{x:.10}")
    }
}

fn print_text(r: &SampleRadii) {
    println!("delta_a    {}", fmt(r.delta_a));
    println!(
        "rho_a      {}   (pi / delta_a: the zero-free disk)",
        fmt(r.rho_a)
    );
    println!("rho_top2   {}   (top-2 reduction, eq. 13)", fmt(r.rho_top2));
    println!(
        "rho_exact  {}   (nearest zero of F, certified)",
        fmt(r.rho_exact)
    );
    match (r.ghost_re, r.ghost_im) {
        (Some(re), Some(im)) => println!("ghost      {re:.10} ± {im:.10}i"),
        _ => println!("ghost      none (all slopes equal: F has no zero)"),
    }
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

fn read_samples(path: &PathBuf) -> Result<Vec<(Vec<f64>, Vec<f64>)>> {
    let file = std::fs::File::open(path)
        .map_err(|e| InputError(format!("{}: cannot open: {e}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(file);
    let mut samples = Vec::new();
    let mut width = None;
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record =
            record.map_err(|e| InputError(format!("{}: line {line}: {e}", path.display())))?;
        let numbers: Result<Vec<f64>, _> = record.iter().map(parse_number).collect();
        let numbers = match numbers {
            Ok(n) => n,
            // A non-numeric first line is a header such as z_1,...,a_K.
            Err(_) if line == 1 => continue,
            Err(_) => {
                let (col, item, why) = record
                    .iter()
                    .enumerate()
                    .find_map(|(c, s)| parse_number(s).err().map(|w| (c + 1, s, w)))
                    .expect("some field failed");
                return Err(InputError(format!(
                    "{}: line {line}, column {col} ({item:?}) {why}",
                    path.display()
                ))
                .into());
            }
        };
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
        width = Some(numbers.len());
        let k = numbers.len() / 2;
        samples.push((numbers[..k].to_vec(), numbers[k..].to_vec()));
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
    let samples = read_samples(path).with_context(|| format!("reading {}", path.display()))?;
    let rows = samples
        .iter()
        .map(|(z, a)| radii(z, a, args.label))
        .collect::<Result<Vec<_>>>()?;
    let spreads: Vec<f64> = rows.iter().map(|r| r.delta_a).collect();
    let set = set_rho_a(&spreads, Aggregation::Max);
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
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "{:>6} {:>14} {:>14} {:>14} {:>14} {:>14} {:>14}",
        "sample", "delta_a", "rho_a", "rho_top2", "rho_exact", "ghost_re", "ghost_im"
    );
    for (i, r) in report.samples.iter().enumerate() {
        let g = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.6}"));
        println!(
            "{:>6} {:>14} {:>14} {:>14} {:>14} {:>14} {:>14}",
            i,
            fmt6(r.delta_a),
            fmt6(r.rho_a),
            fmt6(r.rho_top2),
            fmt6(r.rho_exact),
            g(r.ghost_re),
            g(r.ghost_im)
        );
    }
    println!(
        "set: delta_a = {}, rho_a = pi / max delta_a = {} (bottleneck sample {})",
        fmt6(report.set_delta_a),
        fmt6(report.set_rho_a),
        report.bottleneck.map_or("-".into(), |b| b.to_string())
    );
    println!(
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
    } else {
        format!("{x:.6}")
    }
}
