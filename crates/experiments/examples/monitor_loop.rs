//! The monitor in a plain training loop of your own: Adam on digits, every
//! step logged to a JSON Lines file with `control::MonitorLog`, and a
//! learning rate 1000 times too large at one step. Run twice from the same
//! seed: once applying Adam's update as proposed (plain), once multiplied
//! by the monitor's cap factor min(1, ρa/τ) (capped: the step never leaves
//! the radius ρa = π/Δa, paper Prop. 5.2).
//!
//! ```sh
//! cargo run --release -p experiments --example monitor_loop -- --out /tmp/monitor
//! ghosts monitor plot /tmp/monitor/capped.jsonl
//! ```
//!
//! Options: `--out DIR` (default: `ghosts-monitor-loop` in the system's
//! temporary directory), `--steps N` (300), `--spike-step T` (200),
//! `--seed S` (0). The loop is [`train`]; `tests/monitor_loop.rs` runs it.

use anyhow::{bail, Context, Result};
use control::{Adam, Monitor, MonitorLog, Optimizer};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use zoo::model::accuracy;
use zoo::{arch, ArchConfig, Backend, Batch, Mode};

/// What the loop trains, and the spike.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Zoo architecture (a digits one).
    pub arch: String,
    /// Training steps.
    pub steps: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// The step whose learning rate is `lr · spike`.
    pub spike_step: usize,
    /// The spike's factor.
    pub spike: f64,
    /// Seed of the initialisation, the train/test split and the batch order.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            arch: "mlp-relu".into(),
            steps: 300,
            batch: 64,
            lr: 1e-3,
            spike_step: 200,
            spike: 1000.0,
            seed: 0,
        }
    }
}

/// How one run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Test accuracy (fraction) after the last step.
    pub test_acc: f64,
    /// Test accuracy just before the spike step and just after it.
    pub around_spike: (f64, f64),
    /// The step at which the loss (or the step) stopped being finite, if it did.
    pub stopped_at: Option<usize>,
    /// The monitor's record of the spike step (before any cap).
    pub spike: Option<control::MonitorRecord>,
    /// Steps logged.
    pub lines: u64,
}

/// Trains `settings.arch` with Adam for `settings.steps` steps on the
/// digits (80% train, 20% test, stratified by `seed`), logging every step's
/// [`control::MonitorRecord`] to `log`. With `capped`, each update is
/// multiplied by the record's `cap_factor` before it is applied.
pub fn train(settings: &Settings, capped: bool, digits: &data::Digits, log: &Path) -> Result<Outcome> {
    let s = settings;
    let split = data::stratified_split(&digits.labels, 0.2, s.seed);
    let test: Batch<f32> = Batch::from_digits(digits, &split.test);
    let model = arch::find(&s.arch)?.build_on::<f32>(&ArchConfig::default(), Backend::Fast)?;
    let mut state = model.init(s.seed);
    let mut adam = Adam::new(model.num_params());
    let monitor = Monitor::new().with_top2();
    let mut log = MonitorLog::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
    let mut order: Vec<usize> = Vec::new();
    let (mut spike, mut stopped_at) = (None, None);
    let test_acc = |state: &zoo::State<f32>| accuracy(&model.logits(state, &test.x), &test.labels);
    let mut around_spike = (f64::NAN, f64::NAN);

    for t in 0..s.steps {
        if order.is_empty() {
            order = split.train.clone();
            order.shuffle(&mut rng);
        }
        let rows: Vec<usize> = order.drain(..s.batch.min(order.len())).collect();
        let batch = Batch::from_digits(digits, &rows);

        // Your loop: gradient, then the update your optimiser proposes.
        let out = model.loss_and_grad(&mut state, &batch, Mode::Train);
        let lr = if t == s.spike_step { s.lr * s.spike } else { s.lr };
        let proposal = adam.propose(&state.params, &out.grad, lr);
        // The monitor: where that update reaches against ρa (one JVP),
        // written as one line of the log.
        let rec = log.observe(&monitor, t as u64, &model, &state, &batch, &proposal.step.cast())?;
        if t == s.spike_step {
            spike = Some(rec.clone());
            around_spike.0 = test_acc(&state);
        }
        let scale = if capped { rec.cap_factor } else { 1.0 };
        if !out.loss.is_finite() || !scale.is_finite() || proposal.norm().is_nan() {
            stopped_at = Some(t);
            break;
        }
        adam.apply(&mut state.params, proposal, scale);
        if t == s.spike_step {
            around_spike.1 = test_acc(&state);
        }
    }
    Ok(Outcome {
        test_acc: test_acc(&state),
        around_spike,
        stopped_at,
        spike,
        lines: log.lines(),
    })
}

fn parse_args() -> Result<(Settings, PathBuf)> {
    let mut s = Settings::default();
    let mut out = std::env::temp_dir().join("ghosts-monitor-loop");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => out = PathBuf::from(value()?),
            "--steps" => s.steps = value()?.parse().context("--steps: an integer expected")?,
            "--spike-step" => s.spike_step = value()?.parse().context("--spike-step: an integer expected")?,
            "--seed" => s.seed = value()?.parse().context("--seed: an integer expected")?,
            _ => bail!("unknown argument {flag:?} (known: --out DIR, --steps N, --spike-step T, --seed S)"),
        }
    }
    Ok((s, out))
}

#[allow(dead_code)] // the test includes this file for `train` only
fn main() -> Result<()> {
    let (s, out) = parse_args()?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let digits = data::load_default_digits()?;
    println!(
        "{} on digits, Adam lr {}, {}x at step {}, {} steps, seed {}",
        s.arch, s.lr, s.spike, s.spike_step, s.steps, s.seed
    );
    for (name, capped) in [("plain", false), ("capped", true)] {
        let path = out.join(format!("{name}.jsonl"));
        let o = train(&s, capped, &digits, &path)?;
        let at_spike = o.spike.as_ref().map_or(String::new(), |r| {
            format!("; spike step: tau {:.3}, rho_a {:.3}, r {:.1}, cap factor {:.2e}", r.tau, r.rho_a, r.r, r.cap_factor)
        });
        let stop = o.stopped_at.map_or(String::new(), |t| format!(", stopped at step {t} (non-finite)"));
        let (before, after) = o.around_spike;
        println!(
            "{name:>6}: test accuracy {:.1}% before the spike, {:.1}% after it, {:.1}% at the end{stop}",
            100.0 * before,
            100.0 * after,
            100.0 * o.test_acc
        );
        println!("        {}", at_spike.trim_start_matches("; "));
        println!("        log {} ({} lines)", path.display(), o.lines);
    }
    println!("plot: ghosts monitor plot {}", out.join("capped.jsonl").display());
    Ok(())
}
