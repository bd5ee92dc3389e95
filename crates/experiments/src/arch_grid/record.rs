//! One arch-grid trajectory as it is logged and stored: one entry per
//! step.

use super::Method;
use serde::{Deserialize, Serialize};

/// One (architecture, spike, method, seed) trajectory: one entry per step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GridRun {
    /// Registry name (not stored: the run's key says it).
    #[serde(skip)]
    pub arch: String,
    /// Spike multiplier M.
    pub spike: f64,
    /// Method (not stored).
    #[serde(skip)]
    pub method: Method,
    /// Seed (not stored).
    #[serde(skip)]
    pub seed: u64,
    /// Step index t of each entry.
    pub step: Vec<u64>,
    /// Scheduled lr(t).
    pub lr: Vec<f64>,
    /// Full-batch training CE before the step (NaN after a stop).
    pub loss: Vec<f64>,
    /// Test accuracy after the step (NaN after a stop).
    pub test_acc: Vec<f64>,
    /// τ = ‖s·p‖, the applied step (NaN where none was taken).
    pub tau: Vec<f64>,
    /// ρa along the applied step (ρ-cap), else NaN.
    pub rho_a: Vec<f64>,
    /// ρa along −g/‖g‖ (the code's controller), else NaN.
    pub rho_a_grad: Vec<f64>,
    /// r = τ/ρa along the step (ρ-cap), else NaN.
    pub r: Vec<f64>,
    /// The scale s the policy applied (NaN where no step was taken).
    pub scale: Vec<f64>,
    /// ‖g‖ before clipping.
    pub grad_norm: Vec<f64>,
    /// 1 if the step was applied.
    pub applied: Vec<u64>,
}

impl GridRun {
    pub(super) fn new(arch: &str, spike: f64, method: Method, seed: u64, steps: usize) -> Self {
        let v = || Vec::with_capacity(steps);
        GridRun {
            arch: arch.into(),
            spike,
            method,
            seed,
            step: Vec::with_capacity(steps),
            lr: v(),
            loss: v(),
            test_acc: v(),
            tau: v(),
            rho_a: v(),
            rho_a_grad: v(),
            r: v(),
            scale: v(),
            grad_norm: v(),
            applied: Vec::with_capacity(steps),
        }
    }

    pub(super) fn push(&mut self, log: &control::StepLog, test_acc: f64) {
        let taken = |x: f64| if log.applied { x } else { f64::NAN };
        self.step.push(self.lr.len() as u64);
        self.lr.push(log.lr);
        self.loss.push(log.loss);
        self.test_acc.push(taken(test_acc));
        self.tau.push(taken(log.tau));
        self.rho_a.push(log.rho_a);
        self.rho_a_grad.push(log.rho_a_grad);
        self.r.push(taken(log.r));
        self.scale.push(taken(log.scale));
        self.grad_norm.push(log.grad_norm);
        self.applied.push(u64::from(log.applied));
    }

    pub(super) fn push_stopped(&mut self, lr: f64) {
        self.step.push(self.lr.len() as u64);
        self.lr.push(lr);
        for v in [
            &mut self.loss,
            &mut self.test_acc,
            &mut self.tau,
            &mut self.rho_a,
            &mut self.rho_a_grad,
            &mut self.r,
            &mut self.scale,
            &mut self.grad_norm,
        ] {
            v.push(f64::NAN);
        }
        self.applied.push(0);
    }

    /// The first step that was not applied (the run stopped there).
    pub fn stop_step(&self) -> Option<usize> {
        self.applied.iter().position(|&a| a == 0)
    }

    /// Test accuracy after the last step (NaN if the run stopped).
    pub fn final_acc(&self) -> f64 {
        self.test_acc.last().copied().unwrap_or(f64::NAN)
    }

    /// Training loss logged at the last step (NaN if the run stopped).
    pub fn final_loss(&self) -> f64 {
        self.loss.last().copied().unwrap_or(f64::NAN)
    }

    /// Stopped on a non-finite loss, or final loss above `threshold`.
    pub fn divergent(&self, threshold: f64) -> bool {
        self.stop_step().is_some() || !(self.final_loss() <= threshold)
    }

    /// Lowest test accuracy from step `from` on (NaN if none is finite).
    pub(super) fn min_acc_from(&self, from: usize) -> f64 {
        self.test_acc
            .iter()
            .skip(from)
            .copied()
            .filter(|a| a.is_finite())
            .reduce(f64::min)
            .unwrap_or(f64::NAN)
    }
}
