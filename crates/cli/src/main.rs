//! `ghosts`: the thin command-line front of the workspace.
//!
//! Every command is a few lines over a library crate: `radius` for the
//! radius calculator, `experiments` for runs, figures, the report and
//! the monitor's logs.
//! Exit codes: 0 success, 1 a run failed, 2 bad input (arguments, files).

/// `println!` for command output, returning the write error instead of
/// panicking: use it in functions returning `anyhow::Result`. A reader that
/// goes away (`ghosts radius --file big.csv | head -2`) ends the command
/// quietly (see `main`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

mod commands;

/// dfdx allocates a fresh buffer for every tensor op; mimalloc reuses them
/// without the page faults glibc's malloc takes on large blocks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Reproduce and extend "Ghosts of Softmax" (arXiv 2603.13552).
#[derive(Parser)]
#[command(name = "ghosts", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Radius of one sample (or a CSV of samples) from logits and slopes a = J_z v.
    Radius(commands::radius::Args),
    /// Run experiments, then re-render their figures, tables and paper/REPORT.md.
    Reproduce(commands::reproduce::ReproduceArgs),
    /// Run one experiment (then re-render it and the report).
    Run(commands::reproduce::RunArgs),
    /// Re-render figures, tables and paper/REPORT.md from stored results only.
    Figures(commands::reproduce::FiguresArgs),
    /// List the experiment ids and whether each is implemented.
    List,
    /// List the runs a config produces (key, stored/missing/unreadable, shard, label).
    Runs(commands::reproduce::RunsArgs),
    /// Write Slurm scripts that run one experiment as a job array of shards,
    /// then summarise and render it.
    Slurm(commands::slurm::SlurmArgs),
    /// List stored runs that no current config produces (--delete removes them).
    Prune(commands::reproduce::PruneArgs),
    /// The model zoo: list architectures, check their exact JVP, export them.
    #[command(subcommand)]
    Zoo(commands::zoo::ZooCommand),
    /// Side-by-side speed sittings against the author's code (stored timings).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// The per-step log of control::Monitor (JSON Lines): draw and summarise it.
    #[command(subcommand)]
    Monitor(commands::monitor::MonitorCommand),
}

/// An error caused by the user's input: reported with exit code 2.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Radius(args) => commands::radius::run(&args),
        Command::Reproduce(args) => commands::reproduce::reproduce(&args),
        Command::Figures(args) => commands::reproduce::figures(&args),
        Command::Run(args) => commands::reproduce::run(&args),
        Command::List => commands::reproduce::list(),
        Command::Prune(args) => commands::reproduce::prune(&args),
        Command::Runs(args) => commands::reproduce::runs(&args),
        Command::Slurm(args) => commands::slurm::run(&args),
        Command::Zoo(cmd) => commands::zoo::run(&cmd),
        Command::Bench(cmd) => commands::bench::run(&cmd),
        Command::Monitor(cmd) => commands::monitor::run(&cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`| head`): nothing left to say.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            experiments::note!("error: {err:#}");
            // A bad config (unreadable, unknown key, wrong type or value) is bad input too.
            if err.downcast_ref::<InputError>().is_some()
                || err.downcast_ref::<experiments::ConfigError>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Whether an error is (or was caused by) a write to a closed pipe.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
