//! `ghosts bench`: the side-by-side speed sittings stored in
//! `results/bench/sittings.tsv` (see `experiments::bench`).

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Print the README's benchmark tables from the stored sittings (speed-ups,
    /// the speed goal and moves between sittings computed from the rows).
    Table {
        /// The sittings file (tab-separated; columns in `experiments::bench`).
        #[arg(long, default_value = "results/bench/sittings.tsv")]
        file: PathBuf,
    },
}

pub fn run(cmd: &BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Table { file } => {
            let rows = experiments::bench::read(file).map_err(|e| crate::InputError(format!("{e:#}")))?;
            out!("{}", experiments::bench::markdown(&rows).trim_end());
            Ok(())
        }
    }
}
