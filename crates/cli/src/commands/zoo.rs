//! `ghosts zoo`: the model registry, its JVP check, and export for
//! cross-checks in other frameworks.

use crate::InputError;
use anyhow::Result;
use zoo::check::{check_jvp, digits_check_batch, CHECK_EPS, CHECK_TOLERANCE};
use zoo::ArchConfig;

/// Subcommands of `ghosts zoo`.
#[derive(clap::Subcommand)]
pub enum ZooCommand {
    /// Print every architecture: name, parameter count, description.
    List,
    /// Exact JVP vs f64 central differences; exit 1 if any error exceeds 1e-6.
    CheckJvp {
        /// Check only this architecture.
        #[arg(long)]
        arch: Option<String>,
        /// Seed of the parameters and the direction.
        #[arg(long, default_value_t = 3)]
        seed: u64,
    },
}

fn entries(arch: Option<&str>) -> Result<Vec<zoo::ArchEntry>> {
    match arch {
        Some(name) => Ok(vec![zoo::arch::find(name).map_err(|e| InputError(e.to_string()))?]),
        None => Ok(zoo::registry()),
    }
}

/// Entry point of `ghosts zoo`.
pub fn run(cmd: &ZooCommand) -> Result<()> {
    match cmd {
        ZooCommand::List => {
            println!("{:<20} {:>8}  description", "name", "params");
            for e in zoo::registry() {
                let params = e.build::<f32>(&ArchConfig::default()).num_params();
                println!("{:<20} {:>8}  {}", e.name, params, e.description);
            }
            Ok(())
        }
        ZooCommand::CheckJvp { arch, seed } => {
            let chosen = entries(arch.as_deref())?;
            let batch = digits_check_batch(16)?;
            println!("exact JVP vs central differences (f64, eps = {CHECK_EPS:e}), 16 digits samples, seed {seed}");
            println!("{:<20} {:>8} {:>14} {:>16}  verdict", "arch", "params", "max rel error", "kink clearance");
            let mut failed = Vec::new();
            for e in chosen {
                let c = check_jvp(&e, &batch, *seed);
                let verdict = if c.passed() { "ok" } else { "FAIL" };
                println!("{:<20} {:>8} {:>14.2e} {:>16.2e}  {verdict}", c.arch, c.params, c.max_rel_error, c.kink_clearance);
                if !c.passed() {
                    failed.push(c.arch);
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                anyhow::bail!("JVP check failed (tolerance {CHECK_TOLERANCE:e}) for: {}", failed.join(", "))
            }
        }
    }
}
