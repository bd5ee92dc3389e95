//! `ghosts slurm`: one experiment as a Slurm job array of `--shard` parts
//! plus a render job that waits for them.
//!
//! The scripts only call `ghosts run <id> --shard i/N` and then
//! `ghosts run <id>`: each run is its own file under `results/<id>/runs/`,
//! so the shards need no coordination beyond a shared file system, and the
//! last step finds every run stored and summarises and renders them.

use crate::InputError;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

/// Arguments of `ghosts slurm`.
#[derive(clap::Args)]
pub struct SlurmArgs {
    /// Experiment id (see `ghosts list`).
    id: String,
    /// Number of shards = array tasks.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    shards: u32,
    #[command(flatten)]
    settings: super::reproduce::RunSettings,
    /// Slurm partition (#SBATCH --partition).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per task (#SBATCH --time), e.g. 02:00:00.
    #[arg(long)]
    time: Option<String>,
    /// CPUs per task (#SBATCH --cpus-per-task; also the task's thread count).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    cpus_per_task: u32,
    /// Any other #SBATCH option, repeatable, e.g. --sbatch=--account=proj1.
    #[arg(long, value_name = "OPTION", allow_hyphen_values = true)]
    sbatch: Vec<String>,
    /// The ghosts binary the tasks run (default: this one).
    #[arg(long, value_name = "PATH")]
    ghosts: Option<PathBuf>,
    /// Where to write the scripts (and, beneath it, the tasks' logs).
    #[arg(long, value_name = "DIR", default_value = "slurm")]
    out: PathBuf,
}

/// Write `<out>/<id>.sbatch` (the array), `<out>/<id>-render.sbatch` and
/// `<out>/<id>-submit.sh` (queues both, the render job after every task of
/// the array succeeded).
pub fn run(args: &SlurmArgs) -> Result<()> {
    let e = super::reproduce::one(&args.id)?;
    let ctx = args.settings.context();
    let runs = e.runs(&ctx)?;
    if runs.is_empty() {
        return Err(InputError(format!(
            "{} has no separate runs to split into shards; run it with `ghosts run {}`",
            e.id(),
            e.id()
        ))
        .into());
    }
    let n = args.shards as usize;
    if n > runs.len() {
        return Err(InputError(format!(
            "--shards {n}: {} has only {} runs under these settings (at most {} shards)",
            e.id(),
            runs.len(),
            runs.len()
        ))
        .into());
    }
    let absolute = |p: &Path, what: &str| -> Result<PathBuf> {
        std::fs::canonicalize(p)
            .with_context(|| format!("{what} {}", p.display()))
            .map_err(|err| InputError(format!("{err:#}")).into())
    };
    let root = absolute(&args.settings.root, "--root")?;
    let ghosts = match &args.ghosts {
        Some(p) => absolute(p, "--ghosts")?,
        None => std::env::current_exe().context("locating the ghosts binary")?,
    };
    std::fs::create_dir_all(args.out.join("logs"))
        .with_context(|| format!("creating {}", args.out.join("logs").display()))?;
    let out = absolute(&args.out, "--out")?;

    let mut common = vec!["--root".to_string(), root.display().to_string()];
    if args.settings.quick {
        common.push("--quick".into());
    }
    if let Some(c) = &args.settings.config {
        common.extend(["--config".into(), absolute(c, "--config")?.display().to_string()]);
    }
    if let Some(d) = &args.settings.data_root {
        common.extend(["--data-root".into(), absolute(d, "--data-root")?.display().to_string()]);
    }
    let id = e.id();
    let command = |extra: &[String]| -> String {
        let mut words = vec![ghosts.display().to_string(), "run".into(), id.into()];
        words.extend_from_slice(extra);
        words.extend(common.iter().cloned());
        words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
    };
    let header = |name: &str, log: &str| -> String {
        let mut h = format!(
            "#!/bin/bash\n\
             # Written by `ghosts slurm {id} --shards {n}`: {} runs of {id} in {n} shards.\n\
             #SBATCH --job-name={name}\n\
             #SBATCH --cpus-per-task={}\n\
             #SBATCH --output={}\n",
            runs.len(),
            args.cpus_per_task,
            out.join("logs").join(log).display()
        );
        if let Some(p) = &args.partition {
            h += &format!("#SBATCH --partition={p}\n");
        }
        if let Some(t) = &args.time {
            h += &format!("#SBATCH --time={t}\n");
        }
        for o in &args.sbatch {
            h += &format!("#SBATCH {o}\n");
        }
        h
    };
    let threads = format!(
        "set -euo pipefail\nexport RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{}}}\"\n",
        args.cpus_per_task
    );
    let array = format!(
        "{}#SBATCH --array=1-{n}\n{threads}exec {} --shard \"${{SLURM_ARRAY_TASK_ID:?not a Slurm array task}}/{n}\"\n",
        header(&format!("ghosts-{id}"), &format!("{id}-%A_%a.out")),
        command(&[])
    );
    let render = format!(
        "{}{threads}# Every shard has stored its runs: this finds them all, then\n\
         # writes the summary, figures, table and report.\nexec {}\n",
        header(&format!("ghosts-{id}-render"), &format!("{id}-render-%j.out")),
        command(&[])
    );
    let submit = format!(
        "#!/bin/bash\n\
         # Queue the {n} shards of {id}, then the render job after all of them succeeded.\n\
         set -euo pipefail\n\
         cd \"$(dirname \"$0\")\"\n\
         array=$(sbatch --parsable {id}.sbatch)\n\
         array=${{array%%;*}}\n\
         sbatch --dependency=afterok:\"$array\" {id}-render.sbatch\n\
         echo \"queued {id}: array job $array ({n} tasks) and its render job\"\n"
    );
    for (name, text) in [
        (format!("{id}.sbatch"), array),
        (format!("{id}-render.sbatch"), render),
        (format!("{id}-submit.sh"), submit),
    ] {
        let path = out.join(&name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", path.display()))?;
        }
        out!("{}", path.display());
    }
    experiments::note!(
        "submit with: {} (or sbatch the array, then the render job with --dependency=afterok:<array id>)",
        out.join(format!("{id}-submit.sh")).display()
    );
    Ok(())
}

/// `word` quoted for bash (single quotes; a quote inside becomes '\'').
fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting_survives_spaces_and_quotes() {
        assert_eq!(super::quote("/a/b-c.yaml"), "/a/b-c.yaml");
        assert_eq!(super::quote("my dir"), "'my dir'");
        assert_eq!(super::quote("it's"), r"'it'\''s'");
        assert_eq!(super::quote(""), "''");
    }
}
