//! `ghosts reproduce`, `ghosts run`, `ghosts figures`, `ghosts list`,
//! `ghosts prune`.

use crate::InputError;
use anyhow::Result;
use experiments::{Context, Experiment, Shard, UnknownExperiment};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `ghosts reproduce`.
#[derive(clap::Args)]
pub struct ReproduceArgs {
    /// Comma-separated experiment ids (default: all implemented). A
    /// --config file needs exactly one.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    #[command(flatten)]
    settings: RunSettings,
}

/// The settings of one experiment's runs, shared by `ghosts run`, `ghosts
/// runs`, `ghosts slurm` and `ghosts reproduce`: which config, which root,
/// which data.
#[derive(clap::Args, Clone)]
pub struct RunSettings {
    /// CI-sized settings (configs/quick/<id>.yaml).
    #[arg(long)]
    pub quick: bool,
    /// Settings file replacing configs/[quick/]<id>.yaml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Project root holding results/, figures/, paper/, configs/ (for
    /// Slurm: on a file system every node sees).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Directory of a data set the project does not ship (CIFAR-10's binary
    /// release, for natural-instability's CIFAR configs); overrides the
    /// config's data_root.
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
}

impl RunSettings {
    /// The run context these settings describe.
    pub fn context(&self) -> Context {
        Context::new(&self.root, self.quick)
            .with_config(self.config.clone())
            .with_data_root(self.data_root.clone())
    }
}

/// Arguments of `ghosts run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Experiment id (see `ghosts list`).
    id: String,
    #[command(flatten)]
    settings: RunSettings,
    /// Compute only part i of n of the runs (1 <= i <= n; split balanced
    /// by expected cost, the same in every process), without summary or
    /// figures: run once more without --shard after every part has finished.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
}

/// `ghosts run <id>` = `ghosts reproduce --only <id>`; with `--shard i/n`,
/// only that part of the runs.
pub fn run(args: &RunArgs) -> Result<()> {
    if let Some(shard) = args.shard {
        return run_shard(args, shard);
    }
    reproduce(&ReproduceArgs {
        only: vec![args.id.clone()],
        settings: args.settings.clone(),
    })
}

/// `ghosts run <id> --shard i/n`: compute (or find stored) this shard's runs.
fn run_shard(args: &RunArgs, shard: Shard) -> Result<()> {
    let e = one(&args.id)?;
    let ctx = args.settings.context().with_shard(Some(shard));
    let runs = e.runs(&ctx)?;
    if runs.is_empty() {
        return Err(InputError(format!(
            "{} has no separate runs to split; run it without --shard",
            e.id()
        ))
        .into());
    }
    let mine = experiments::assign_shards(&runs.iter().map(|r| r.cost).collect::<Vec<_>>(), shard.count)
        .iter()
        .filter(|&&k| k == shard.index)
        .count();
    experiments::note!(
        "[{}] shard {shard}: {mine} of {} runs{}",
        e.id(),
        runs.len(),
        if args.settings.quick { " (quick)" } else { "" }
    );
    let timing = experiments::run_timed(e, &ctx)?;
    experiments::note!(
        "[{}] shard {shard} done in {:.2} s ({} runs computed, {} stored); \
         when every shard has finished, `ghosts run {}` (same settings, no --shard) \
         summarises and renders",
        e.id(),
        timing.wall_seconds,
        timing.runs_computed,
        timing.runs_stored,
        e.id()
    );
    Ok(())
}

/// The one implemented experiment `id` (an input error otherwise).
pub(crate) fn one(id: &str) -> Result<&'static dyn Experiment> {
    Ok(select(&[id.to_string()])?[0])
}

/// Arguments of `ghosts runs`.
#[derive(clap::Args)]
pub struct RunsArgs {
    /// Experiment id (see `ghosts list`).
    id: String,
    #[command(flatten)]
    settings: RunSettings,
    /// Also print the shard (1..=N) of each run when split N ways.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    shards: Option<u32>,
}

/// `ghosts runs <id>`: the runs a config produces, one tab-separated line
/// each: key, status (`stored`, `missing`, or `unreadable`: a file that
/// does not read back, which `ghosts run` computes again), [shard,]
/// expected cost, label.
pub fn runs(args: &RunsArgs) -> Result<()> {
    let e = one(&args.id)?;
    let ctx = args.settings.context();
    let runs = e.runs(&ctx)?;
    let store = ctx.run_store(e.id());
    let shard_of = args.shards.map(|n| {
        experiments::assign_shards(&runs.iter().map(|r| r.cost).collect::<Vec<_>>(), n as usize)
    });
    match shard_of {
        Some(_) => out!("key\tstatus\tshard\tcost\tlabel"),
        None => out!("key\tstatus\tcost\tlabel"),
    }
    let mut stored = 0;
    for (i, r) in runs.iter().enumerate() {
        // A file that does not read back counts as absent (`ghosts run`
        // computes it again).
        let status = if !store.contains(&r.key) {
            "missing"
        } else if store.read(&r.key).is_ok() {
            stored += 1;
            "stored"
        } else {
            "unreadable"
        };
        match &shard_of {
            Some(s) => out!("{}\t{status}\t{}\t{}\t{}", r.key, s[i], r.cost, r.label),
            None => out!("{}\t{status}\t{}\t{}", r.key, r.cost, r.label),
        }
    }
    if runs.is_empty() {
        experiments::note!("{} has no separate runs (nothing to list or split)", e.id());
    } else {
        experiments::note!(
            "{}: {} runs, {stored} stored under {}",
            e.id(),
            runs.len(),
            store.dir().display()
        );
    }
    Ok(())
}

/// Arguments of `ghosts figures`.
#[derive(clap::Args)]
pub struct FiguresArgs {
    /// Project root holding results/, figures/, paper/.
    #[arg(long, default_value = ".")]
    root: PathBuf,
}

fn select(only: &[String]) -> Result<Vec<&'static dyn experiments::Experiment>> {
    experiments::select(only).map_err(|e| match e.downcast::<UnknownExperiment>() {
        Ok(u) => InputError(u.0).into(),
        Err(e) => e,
    })
}

/// Run the selected experiments, then re-render everything and the report.
pub fn reproduce(args: &ReproduceArgs) -> Result<()> {
    let chosen = select(&args.only)?;
    if args.settings.config.is_some() && chosen.len() != 1 {
        return Err(InputError(
            "--config FILE sets one experiment's settings: give exactly one id (--only <id>, or `ghosts run <id>`)".into(),
        )
        .into());
    }
    let ctx = args.settings.context();
    for e in chosen {
        let start = Instant::now();
        experiments::note!(
            "[{}] running{}",
            e.id(),
            if args.settings.quick { " (quick)" } else { "" }
        );
        let timing = experiments::run_timed(e, &ctx)?;
        {
            let _session = experiments::output_session(&ctx)?;
            e.render(&ctx)?;
        }
        experiments::note!(
            "[{}] wall time {:.2} s ({} runs computed, {} stored; {:.2} s with figures)",
            e.id(),
            timing.wall_seconds,
            timing.runs_computed,
            timing.runs_stored,
            start.elapsed().as_secs_f64()
        );
    }
    let report = experiments::render_all(&ctx)?;
    experiments::note!("report: {}", report.display());
    Ok(())
}

/// Re-render every figure, table and the report from stored results.
pub fn figures(args: &FiguresArgs) -> Result<()> {
    let ctx = Context::new(&args.root, false);
    let report = experiments::render_all(&ctx)?;
    experiments::note!("report: {}", report.display());
    Ok(())
}

/// Arguments of `ghosts prune`.
#[derive(clap::Args)]
pub struct PruneArgs {
    /// Experiment ids (default: all implemented).
    ids: Vec<String>,
    /// Remove the stale runs (without it, only list them).
    #[arg(long)]
    delete: bool,
    /// Project root holding results/ and configs/.
    #[arg(long, default_value = ".")]
    root: PathBuf,
}

/// List (or with `--delete` remove) stored runs that no current config
/// (paper-scale or quick) produces.
pub fn prune(args: &PruneArgs) -> Result<()> {
    let chosen = select(&args.ids)?;
    let verb = if args.delete {
        "removed"
    } else {
        "would remove"
    };
    let mut total = 0;
    for e in chosen {
        let p = experiments::prune(e, &args.root, args.delete)?;
        out!(
            "{}: {} stored run(s) kept, {} stale ({verb})",
            e.id(),
            p.kept,
            p.stale.len()
        );
        for f in &p.stale {
            out!("  {}", f.strip_prefix(&args.root).unwrap_or(f).display());
        }
        total += p.stale.len();
    }
    if total > 0 && !args.delete {
        out!("dry run: nothing removed; run again with --delete to remove them");
    }
    Ok(())
}

/// Print every experiment id and its status.
pub fn list() -> Result<()> {
    let implemented = experiments::registry();
    for id in experiments::ALL_IDS {
        match implemented.iter().find(|e| e.id() == *id) {
            Some(e) => out!("{id:<26} implemented  {}", e.title()),
            None => out!("{id:<26} planned"),
        }
    }
    Ok(())
}
