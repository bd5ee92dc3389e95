//! `ghosts zoo`: the model registry, its JVP check, and export for
//! cross-checks in other frameworks.

use crate::InputError;
use anyhow::Result;
use std::path::PathBuf;
use zoo::check::{check_batch, check_jvp, CHECK_EPS, CHECK_TOLERANCE, FAST_CHECK_TOLERANCE};
use zoo::ArchConfig;

/// Subcommands of `ghosts zoo`.
#[derive(clap::Subcommand)]
pub enum ZooCommand {
    /// Print every architecture: name, parameter count, description.
    List,
    /// Exact JVP vs f64 central differences, on both backends; exit 1 if the
    /// dfdx (f64) error exceeds 1e-6, the fast (f32) error 1e-4, or the FD
    /// step is not 100 steps inside the closest kink.
    CheckJvp {
        /// Check only this architecture.
        #[arg(long)]
        arch: Option<String>,
        /// Seed of the parameters and the direction.
        #[arg(long, default_value_t = 3)]
        seed: u64,
    },
    /// Write params, direction, samples and our logits/JVP slopes (safetensors
    /// + manifest.json with structured layer records) for cross-checks in
    /// PyTorch or JAX (`tools/rebuild_torch.py DIR` rebuilds it in PyTorch).
    Export {
        /// Architecture to export (see `ghosts zoo list`).
        #[arg(long)]
        arch: String,
        /// Seed of the parameters; the direction uses seed + 1.
        #[arg(long)]
        seed: u64,
        /// Output directory (created if missing; export files are replaced).
        #[arg(long)]
        out: PathBuf,
        /// Number of digits test samples to export.
        #[arg(long, default_value_t = zoo::export::DEFAULT_SAMPLES)]
        samples: usize,
        /// Train the seeded init this many steps of the architecture's recipe
        /// (digits train split, deterministic from the seed) before exporting.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "checkpoint")]
        train_steps: Option<u64>,
        /// Export these parameters and buffers instead of the seeded init: a
        /// safetensors file laid out as an export's params.safetensors (F64 or
        /// F32, our 2-D shapes), or an export directory holding one.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
}

fn entries(arch: Option<&str>) -> Result<Vec<zoo::ArchEntry>> {
    match arch {
        Some(name) => Ok(vec![
            zoo::arch::find(name).map_err(|e| InputError(e.to_string()))?
        ]),
        None => Ok(zoo::registry()),
    }
}

/// Entry point of `ghosts zoo`.
pub fn run(cmd: &ZooCommand) -> Result<()> {
    match cmd {
        ZooCommand::List => {
            out!("{:<20} {:>8}  description", "name", "params");
            for e in zoo::registry() {
                let params = e.build::<f32>(&ArchConfig::default()).num_params();
                out!("{:<20} {:>8}  {}", e.name, params, e.description);
            }
            Ok(())
        }
        ZooCommand::Export {
            arch,
            seed,
            out,
            samples,
            train_steps,
            checkpoint,
        } => {
            let source = match (train_steps, checkpoint) {
                (Some(steps), _) => zoo::export::ParamSource::Train {
                    steps: *steps as usize,
                },
                (None, Some(path)) => zoo::export::ParamSource::Checkpoint(path.clone()),
                (None, None) => zoo::export::ParamSource::Init,
            };
            export(
                arch,
                &zoo::export::ExportOptions {
                    seed: *seed,
                    samples: *samples,
                    source,
                },
                out,
            )
        }
        ZooCommand::CheckJvp { arch, seed } => {
            let chosen = entries(arch.as_deref())?;
            out!("exact JVP vs central differences (f64, eps <= {CHECK_EPS:e}, 100 steps inside the closest kink), 16 digits samples (CIFAR-10 models: 2 synthetic 3x32x32 images), seed {seed}");
            out!("dfdx: the f64 model (tolerance {CHECK_TOLERANCE:e}); fast: the f32 fast backend at the same f32-rounded point (tolerance {FAST_CHECK_TOLERANCE:e})");
            out!(
                "{:<20} {:>8} {:>14} {:>14} {:>16} {:>9}  verdict",
                "arch",
                "params",
                "dfdx rel error",
                "fast rel error",
                "kink clearance",
                "FD eps"
            );
            let mut failed = Vec::new();
            for e in chosen {
                let n = match e.input {
                    zoo::InputKind::Digits => 16,
                    zoo::InputKind::Cifar10 => 2,
                };
                let c = check_jvp(&e, &check_batch(&e, n)?, *seed);
                let verdict = if c.passed() { "ok" } else { "FAIL" };
                let fast = c
                    .fast_rel_error
                    .map_or("no fast path".to_string(), |e| format!("{e:.2e}"));
                out!(
                    "{:<20} {:>8} {:>14.2e} {:>14} {:>16.2e} {:>9.1e}  {verdict}",
                    c.arch,
                    c.params,
                    c.max_rel_error,
                    fast,
                    c.kink_clearance,
                    c.fd_eps
                );
                if !c.passed() {
                    failed.push(c.arch);
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                anyhow::bail!(
                    "JVP check failed (tolerances: dfdx {CHECK_TOLERANCE:e}, fast {FAST_CHECK_TOLERANCE:e}; FD step 100x inside the closest kink) for: {}",
                    failed.join(", ")
                )
            }
        }
    }
}

/// `ghosts zoo export`: unknown architectures, CIFAR-10 architectures,
/// sample counts outside the test split and unreadable checkpoints are input
/// errors (exit 2).
fn export(arch: &str, opts: &zoo::export::ExportOptions, out: &std::path::Path) -> Result<()> {
    let entry = zoo::arch::find(arch).map_err(|e| InputError(e.to_string()))?;
    if entry.input != zoo::InputKind::Digits {
        return Err(InputError(format!(
            "--arch {arch}: reads CIFAR-10 images; export writes digits test samples and supports digits models only"
        ))
        .into());
    }
    let summary = zoo::export::export_with(&entry, opts, out).map_err(|e| {
        if let Some(bad) = e.downcast_ref::<zoo::export::SampleCountError>() {
            return InputError(bad.to_string()).into();
        }
        match e.downcast_ref::<zoo::export::CheckpointError>() {
            Some(bad) => InputError(bad.to_string()).into(),
            None => e,
        }
    })?;
    let source = match &opts.source {
        zoo::export::ParamSource::Init => "init".to_string(),
        zoo::export::ParamSource::Train { steps } => format!("init + {steps} training steps"),
        zoo::export::ParamSource::Checkpoint(p) => format!("checkpoint {}", p.display()),
    };
    out!(
        "exported {} ({source}; seed {}, {} params, {} buffers) on {} digits test samples to {}",
        summary.arch,
        summary.seed,
        summary.num_params,
        summary.num_buffers,
        summary.samples,
        summary.dir.display()
    );
    out!("rho_a = pi / max delta_a = {:.6e} (max delta_a {:.6e}); FD vs exact slopes rel. error {:.2e}", summary.rho_a, summary.max_delta_a, summary.fd_max_rel_error);
    for f in &summary.files {
        out!(
            "  {:<24} {:>10} bytes  sha256 {}",
            f.name,
            f.bytes,
            f.sha256
        );
    }
    Ok(())
}
