//! One training step: gradient → propose → policy decides the scale → apply.

use crate::optim::{Optimizer, Proposal};
use crate::policy::{clip_to_norm, grad_norm_cap_scale, rho_cap_scale, rho_set_scale};
use crate::{ComponentRadii, NetTerms, RadiusProbe, RadiusTerm, Schedule, StepPolicy};
use serde::{Deserialize, Serialize};
use zoo::{Batch, Cache, Mode, Model, ParamVec, Real, State, StepOutput};

/// What one step did. Radii are NaN when not computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// Step index (0-based; the schedule's t).
    pub step: usize,
    /// The scheduled learning rate lr(t).
    pub lr: f64,
    /// The learning rate effectively applied, s·lr (0 if no step was taken).
    pub lr_eff: f64,
    /// τ = ‖s·p‖, the norm of the applied step (0 if no step was taken). The
    /// step requested in f64; rounding θ to the model's element type is not
    /// counted.
    pub tau: f64,
    /// ρa along the applied step's direction v = p/‖p‖: computed when the
    /// policy needs it (ρ-cap, ρ-set) or logging asks for it, else NaN.
    /// Under [`StepPolicy::RhoNet`], the network radius ρ_net it sets.
    pub rho_a: f64,
    /// ρ_out, ρ_attn and ρ_ffn along v when the policy is
    /// [`StepPolicy::RhoNet`] (spec C8), else NaN.
    pub radii: ComponentRadii,
    /// The term attaining ρ_net under [`StepPolicy::RhoNet`] (`None`
    /// otherwise, or when a radius is NaN).
    pub binding: Option<RadiusTerm>,
    /// r = τ/ρa, the normalised step (NaN when ρa was not computed).
    pub r: f64,
    /// The scale s applied to the proposed step (0 if no step was taken).
    pub scale: f64,
    /// Mean training loss on the batch, before the step.
    pub loss: f64,
    /// ‖g‖, the raw gradient's global L2 norm (before any clipping).
    pub grad_norm: f64,
    /// ρa along −g/‖g‖, which the gradient-norm controller (spec C5) caps
    /// against; NaN for every other policy.
    pub rho_a_grad: f64,
    /// False if the step was refused: a non-finite loss, gradient or step
    /// (divergence), or a NaN radius under a radius policy.
    pub applied: bool,
    /// True if measuring ρa this step changed the model's buffers
    /// (BatchNorm running statistics): the paper's forward difference in
    /// train mode with `moves_running_stats`, as the author's code does
    /// ([`crate::RhoEstimator`]).
    pub probe_moved_buffers: bool,
}

impl StepLog {
    /// True if the policy took less than the proposed step (s < 1).
    pub fn capped(&self) -> bool {
        self.applied && self.scale < 1.0
    }

    /// True if the loss or gradient was not finite (divergence).
    pub fn diverged(&self) -> bool {
        !(self.loss.is_finite() && self.grad_norm.is_finite())
    }
}

/// Trains with an optimiser, a step policy and a learning-rate schedule.
///
/// Each call to [`Controller::step`] is one step: loss and gradient on the
/// batch; the optimiser proposes p at lr(t); the policy picks the scale s
/// (measuring ρa when it needs to, or when logging asks); the optimiser
/// applies s·p and commits its moments.
///
/// Divergence never panics: if the loss or the gradient is not finite (or the
/// proposed step, or a radius the policy needs), the step is not applied,
/// the optimiser is left as it was, and the log reports it (`applied: false`,
/// the non-finite loss). [`Controller::step`] also restores the buffers
/// (BatchNorm running statistics) its forward touched, so the state is
/// exactly as before. What to do next (stop, pad with NaN) is the caller's
/// business.
#[derive(Debug, Clone)]
pub struct Controller<E: Real, O: Optimizer> {
    /// The optimiser (its moments are committed from the true gradient,
    /// whatever the scale).
    pub optimizer: O,
    /// How much of each proposed step to take.
    pub policy: StepPolicy,
    /// lr(t).
    pub schedule: Schedule,
    /// Where and how ρa is measured.
    pub probe: RadiusProbe<E>,
    /// Also measure ρa along the step every this many steps (at t ≡ 0 mod n)
    /// when the policy does not need it (0: never). Plain runs set 1 to
    /// record τ against ρa (paper Fig. 6).
    pub log_rho_every: usize,
    /// Mode of the training forward (BatchNorm: `Train` uses batch
    /// statistics and updates the running ones). ρa is measured in eval
    /// mode unless the probe's [`crate::RhoEstimator`] says otherwise.
    pub mode: Mode,
    /// Under [`StepPolicy::RhoNet`], measure every term of ρ_net (ρ_out,
    /// ρ_attn, ρ_ffn) at the next step, not only the terms the policy
    /// uses (default `true`). A caller that logs the radii at some steps
    /// only sets it per step: the other steps skip the unused terms' work
    /// (their [`StepLog::radii`] entries are NaN) with the same ρ_net, so
    /// the same trajectory, bit for bit.
    pub all_radii: bool,
    next_step: usize,
}

impl<E: Real, O: Optimizer> Controller<E, O> {
    /// A controller at step 0: ρa on the current batch (worst sample), no
    /// extra ρa logging, train-mode forwards.
    pub fn new(optimizer: O, policy: StepPolicy, schedule: Schedule) -> Self {
        Controller {
            optimizer,
            policy,
            schedule,
            probe: RadiusProbe::on_current_batch(),
            log_rho_every: 0,
            mode: Mode::Train,
            all_radii: true,
            next_step: 0,
        }
    }

    /// The same controller measuring ρa with `probe`.
    pub fn with_probe(mut self, probe: RadiusProbe<E>) -> Self {
        self.probe = probe;
        self
    }

    /// The same controller measuring ρa every `every` steps even when the
    /// policy does not need it (0: never).
    pub fn with_rho_logging(mut self, every: usize) -> Self {
        self.log_rho_every = every;
        self
    }

    /// The same controller with training forwards in `mode`.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Index of the next step (= steps attempted so far, applied or not).
    pub fn next_step(&self) -> usize {
        self.next_step
    }

    fn logs_rho_at(&self, step: usize) -> bool {
        // checked_rem: every = 0 (never) gives None.
        step.checked_rem(self.log_rho_every) == Some(0)
    }
}

impl<E: Real, O: Optimizer> Controller<E, O> {
    /// One step on `batch`: loss and gradient (in [`Controller::mode`]),
    /// propose, scale, apply. Returns what happened; see the type's docs for
    /// divergence.
    pub fn step(&mut self, model: &Model<E>, state: &mut State<E>, batch: &Batch<E>) -> StepLog {
        let buffers = state.buffers.clone();
        let out = model.loss_and_grad(state, batch, self.mode);
        let log = self.step_with_output(model, state, batch, out);
        if !log.applied {
            state.buffers = buffers;
        }
        log
    }

    /// As [`Controller::step`], with the loss and gradient already computed
    /// by the caller (`out` from `model.loss_and_grad(state, batch,
    /// self.mode)` at the current `state`), e.g. to record the logits. The
    /// buffers that forward touched are the caller's: a refused step leaves
    /// θ and the optimiser unchanged but cannot restore them.
    pub fn step_with_output(
        &mut self,
        model: &Model<E>,
        state: &mut State<E>,
        batch: &Batch<E>,
        out: StepOutput<E>,
    ) -> StepLog {
        let step = self.next_step;
        self.next_step += 1;
        let lr = self.schedule.lr(step);
        let grad_norm = out.grad.norm();
        let mut log = StepLog {
            step,
            lr,
            lr_eff: 0.0,
            tau: 0.0,
            rho_a: f64::NAN,
            radii: ComponentRadii::NOT_MEASURED,
            binding: None,
            r: f64::NAN,
            scale: 0.0,
            loss: out.loss,
            grad_norm,
            rho_a_grad: f64::NAN,
            applied: false,
            probe_moved_buffers: false,
        };
        // grad_norm is non-finite iff some entry is (or the sum overflows).
        if log.diverged() {
            return log;
        }
        let StepOutput {
            grad, mut cache, ..
        } = out;
        let grad = match self.policy {
            StepPolicy::ClipGrad { max_norm } => clip_to_norm(&grad, max_norm),
            _ => grad,
        };
        let proposal = self.optimizer.propose(&state.params, &grad, lr);
        let step_norm = proposal.norm();
        if !step_norm.is_finite() {
            return log;
        }
        // The zero step has no direction: its radius stays NaN.
        let measured =
            step_norm > 0.0 && (self.policy.needs_step_radius() || self.logs_rho_at(step));
        if let (
            true,
            StepPolicy::RhoNet {
                terms,
                ffn_quantile,
                ..
            },
        ) = (measured, self.policy)
        {
            let direction = proposal.step.cast();
            let measured_terms = if self.all_radii {
                NetTerms::AllRadii.terms()
            } else {
                terms.terms()
            };
            log.radii = self.measure_components(
                model,
                state,
                batch,
                &mut cache,
                &direction,
                ffn_quantile,
                measured_terms,
            );
            (log.rho_a, log.binding) = log.radii.net(terms);
        }
        if measured && !matches!(self.policy, StepPolicy::RhoNet { .. }) {
            let m = self.measure(model, state, batch, &mut cache, &proposal.step.cast());
            log.rho_a = m.rho_a;
            log.probe_moved_buffers |= m.moved_buffers;
        }
        let scale = match self.policy {
            StepPolicy::Plain | StepPolicy::ClipGrad { .. } => 1.0,
            StepPolicy::RhoCap { r_target } => rho_cap_scale(step_norm, log.rho_a, r_target),
            StepPolicy::RhoSet { r_target } | StepPolicy::RhoNet { r_target, .. } => {
                rho_set_scale(step_norm, log.rho_a, r_target)
            }
            StepPolicy::GradNormCap => {
                if grad_norm > 0.0 {
                    let mut descent = grad.clone();
                    descent.scale(-1.0);
                    let m = self.measure(model, state, batch, &mut cache, &descent);
                    log.rho_a_grad = m.rho_a;
                    log.probe_moved_buffers |= m.moved_buffers;
                }
                grad_norm_cap_scale(lr, grad_norm, log.rho_a_grad)
            }
        };
        self.finish(state, proposal, scale, step_norm, log)
    }

    /// ρa along `direction` by the probe's estimator
    /// ([`RadiusProbe::measure_step`]: the eval-mode JVP reuses the step's
    /// forward when that is exact).
    fn measure(
        &self,
        model: &Model<E>,
        state: &mut State<E>,
        batch: &Batch<E>,
        cache: &mut Cache<E>,
        direction: &ParamVec<E>,
    ) -> crate::StepRadius {
        self.probe
            .measure_step(model, state, batch, cache, self.mode, direction)
    }

    /// The radii of `terms` (at least; ρ_out, ρ_attn and ρ_ffn when the
    /// step's forward cannot be reused) along `direction`, reusing the
    /// step's forward when that is exact.
    #[allow(clippy::too_many_arguments)]
    fn measure_components(
        &self,
        model: &Model<E>,
        state: &State<E>,
        batch: &Batch<E>,
        cache: &mut Cache<E>,
        direction: &ParamVec<E>,
        ffn_quantile: f64,
        terms: &[RadiusTerm],
    ) -> ComponentRadii {
        if self.probe.can_reuse_step_forward(state, self.mode) {
            self.probe.measure_terms_reusing(
                model,
                state,
                cache,
                self.mode,
                direction,
                ffn_quantile,
                terms,
            )
        } else {
            self.probe
                .measure_components(model, state, batch, direction, ffn_quantile)
        }
    }

    fn finish(
        &mut self,
        state: &mut State<E>,
        proposal: Proposal<O::Moments>,
        scale: f64,
        step_norm: f64,
        mut log: StepLog,
    ) -> StepLog {
        // A NaN radius (or an overflowing ρ-set scale) refuses the step.
        if !(scale.is_finite() && scale >= 0.0) {
            return log;
        }
        self.optimizer.apply(&mut state.params, proposal, scale);
        log.applied = true;
        log.scale = scale;
        log.lr_eff = scale * log.lr;
        log.tau = scale * step_norm;
        log.r = radius::normalized_step(log.tau, log.rho_a);
        log
    }
}
