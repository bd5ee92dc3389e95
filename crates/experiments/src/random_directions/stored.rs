//! How a random-directions run is stored: one row per (stage, direction,
//! r), the stage's and the direction's values repeated.

use super::{DirectionResult, RandomDirectionsConfig, SeedRun, StageResult};
use analysis::frame::{from_frame, to_frame};
use analysis::polars::prelude::DataFrame;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// One stored row: a (stage, direction, r) point, with the stage's and the
/// direction's values repeated (the column order of the run's frame).
#[derive(Debug, Serialize, Deserialize)]
struct SweepRow {
    seed: u64,
    stage: String,
    stage_steps: u64,
    stage_accuracy: f64,
    stage_loss: f64,
    direction: u64,
    kind: String,
    rho_a: f64,
    binding_margin: f64,
    kappa: f64,
    tau_h: f64,
    hess_ratio: f64,
    r: f64,
    loss_ratio: f64,
    accuracy: f64,
    flip: f64,
}

impl SeedRun {
    /// Tidy rows: one per (stage, direction, r).
    pub(super) fn to_frame(&self) -> Result<DataFrame> {
        let mut rows = Vec::new();
        for s in &self.stages {
            for d in &s.directions {
                for (i, &r) in self.r.iter().enumerate() {
                    rows.push(SweepRow {
                        seed: self.seed,
                        stage: s.name.clone(),
                        stage_steps: s.steps as u64,
                        stage_accuracy: s.accuracy,
                        stage_loss: s.loss,
                        direction: d.direction as u64,
                        kind: d.kind().into(),
                        rho_a: d.rho_a,
                        binding_margin: d.binding_margin,
                        kappa: d.kappa,
                        tau_h: d.tau_h,
                        hess_ratio: d.hess_ratio,
                        r,
                        loss_ratio: d.loss_ratio[i],
                        accuracy: d.accuracy[i],
                        flip: d.flip[i],
                    });
                }
            }
        }
        to_frame(&rows)
    }

    /// Rebuild a run from its rows (blocks of consecutive rows per stage and
    /// direction, as [`Self::to_frame`] writes them).
    pub(super) fn from_frame(
        seed: u64,
        cfg: &RandomDirectionsConfig,
        f: &DataFrame,
    ) -> Result<SeedRun> {
        let r_grid = cfg.r_grid();
        let nr = r_grid.len();
        let rows: Vec<SweepRow> = from_frame(f)?;
        if rows.len() % nr != 0 {
            bail!(
                "run seed {seed}: {} rows are not blocks of {nr} r values",
                rows.len()
            );
        }
        let mut stages: Vec<StageResult> = Vec::new();
        for block in rows.chunks(nr) {
            let b = &block[0];
            if block.iter().map(|x| x.r).ne(r_grid.iter().copied()) {
                bail!("run seed {seed}: stored r grid differs from the config's");
            }
            let d = DirectionResult {
                direction: b.direction as usize,
                rho_a: b.rho_a,
                binding_margin: b.binding_margin,
                kappa: b.kappa,
                tau_h: b.tau_h,
                hess_ratio: b.hess_ratio,
                loss_ratio: block.iter().map(|x| x.loss_ratio).collect(),
                accuracy: block.iter().map(|x| x.accuracy).collect(),
                flip: block.iter().map(|x| x.flip).collect(),
            };
            match stages.last_mut() {
                Some(s) if s.name == b.stage => s.directions.push(d),
                _ => stages.push(StageResult {
                    name: b.stage.clone(),
                    steps: b.stage_steps as usize,
                    accuracy: b.stage_accuracy,
                    loss: b.stage_loss,
                    directions: vec![d],
                }),
            }
        }
        let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
        let want: Vec<&str> = cfg.stages.iter().map(|s| s.name.as_str()).collect();
        if names != want
            || stages
                .iter()
                .any(|s| s.directions.len() != cfg.random_directions + 1)
        {
            bail!("run seed {seed}: stored stages/directions do not match the config");
        }
        Ok(SeedRun {
            seed,
            r: r_grid,
            stages,
        })
    }
}
