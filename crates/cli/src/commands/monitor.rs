//! `ghosts monitor`: the per-step JSON Lines log of `control::Monitor`
//! (written by `control::MonitorLog`) read back and drawn
//! (`experiments::monitor`).

use crate::InputError;
use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum MonitorCommand {
    /// Draw a monitor log: tau, rho_a and r per step (log y, r = 1 dashed)
    /// and how often each class binds; print a summary.
    Plot {
        /// The log: one JSON object per step, as `control::MonitorLog` writes.
        file: PathBuf,
        /// Write PREFIX.png and PREFIX.svg (default: FILE without its extension).
        #[arg(long, value_name = "PREFIX")]
        out: Option<PathBuf>,
    },
}

pub fn run(cmd: &MonitorCommand) -> Result<()> {
    match cmd {
        MonitorCommand::Plot { file, out } => {
            let records = experiments::monitor::read_log(file).map_err(|e| InputError(e.to_string()))?;
            out!("{}", file.display());
            for line in experiments::monitor::summary_lines(&records) {
                out!("  {line}");
            }
            let stem = out.clone().unwrap_or_else(|| experiments::monitor::default_stem(file));
            let title = format!("Monitor log {}", file.file_name().map_or(file.display().to_string(), |n| n.to_string_lossy().into_owned()));
            for path in experiments::monitor::plot(&records, &title, &stem)? {
                out!("wrote {}", path.display());
            }
            Ok(())
        }
    }
}
