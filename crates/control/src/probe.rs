//! ρa along a step: one exact JVP on a sample set, aggregated by `radius`.

use crate::NetTerms;
use radius::{Aggregation, SetRadius};
use serde::{Deserialize, Serialize};
use zoo::{Batch, Cache, Matrix, Mode, Model, ParamVec, Probe, ProbeKind, Real, State};

/// The floor on the aggregated spread: ρa = π / max(Δa, 1e-12) (spec §2),
/// so a direction that moves every logit alike gets a huge but finite radius.
///
/// The lr-spike code adds 1e-12 to the spread instead of flooring it; the two
/// differ only for spreads near 1e-12.
pub const SPREAD_FLOOR: f64 = 1e-12;

/// Which inputs ρa is measured on.
#[derive(Debug, Clone)]
pub enum ProbeSamples<E: Real> {
    /// The batch the gradient was computed on (the tutorials' choice; the
    /// arch-grid choice too, where every step is full batch).
    CurrentBatch,
    /// A fixed input set (lr-spike: the whole training split), rows × features.
    Inputs(Matrix<E>),
}

/// How ρa along a training step is estimated by
/// [`RadiusProbe::measure_step`] (and so by a [`crate::Controller`]).
///
/// In YAML: `{kind: eval-jvp}`, `{kind: step-mode-jvp}`,
/// `{kind: forward-difference, eps: 1e-4, moves_running_stats: true}`
/// (unknown keys are refused).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RhoEstimator {
    /// One exact JVP in eval mode (BatchNorm on its running statistics):
    /// the spec's default for every radius (§2).
    #[default]
    EvalJvp,
    /// One exact JVP of the function the training step evaluated, in the
    /// step's [`Mode`]: in train mode BatchNorm normalises with the batch's
    /// own statistics, and the tangent differentiates them too (spec §6.9:
    /// the author's estimate runs in train mode). On the whole current
    /// batch it is one tangent pass over the step's own forward record; on
    /// a part of it, or on fixed inputs, a forward of those samples in the
    /// step's mode on a copy of the state (running statistics untouched).
    StepModeJvp,
    /// The paper's forward difference a ≈ (z(θ + ε·v) − z(θ))/ε (spec §2,
    /// §6.9; ε = 1e-4 in float32), both forwards in the step's mode.
    ForwardDifference {
        /// ε, the step along the unit direction v.
        eps: f64,
        /// Run both forwards on the training state, so that in train mode
        /// BatchNorm's running statistics are updated twice more per
        /// estimate, as the author's code lets them (spec §6.9 QUIRK);
        /// `false`: on a copy, leaving them untouched.
        moves_running_stats: bool,
    },
}

impl RhoEstimator {
    /// The paper's estimator for natural-instability: forward difference,
    /// ε = 1e-4, running statistics moved as in the author's code.
    pub const PAPER_FD: RhoEstimator = RhoEstimator::ForwardDifference {
        eps: 1e-4,
        moves_running_stats: true,
    };

    /// Check values serde cannot (a positive finite ε).
    pub fn validate(&self) -> Result<(), crate::InvalidSetting> {
        match *self {
            RhoEstimator::ForwardDifference { eps, .. } if !(eps.is_finite() && eps > 0.0) => {
                Err(crate::InvalidSetting::new(
                    "estimator.eps",
                    format!("must be a positive finite number, got {eps}"),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// ρa along a training step ([`RadiusProbe::measure_step`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRadius {
    /// ρa = π·T / max(Δa(S), 1e-12) (NaN if a slope was NaN).
    pub rho_a: f64,
    /// True if measuring changed the model's buffers (BatchNorm running
    /// statistics): only [`RhoEstimator::ForwardDifference`] with
    /// `moves_running_stats` in train mode does.
    pub moved_buffers: bool,
}

/// How ρa(v) is measured: the sample set, how per-sample spreads are
/// combined (`radius::Aggregation::Max` is the theory's choice; a quantile
/// is the paper's robust future-work variant) and, along a training step,
/// the estimator ([`RhoEstimator`]).
///
/// [`RadiusProbe::measure`] runs the JVP in eval mode ([`Model::jvp`]):
/// BatchNorm uses its running statistics, as the spec computes every
/// radius. [`RadiusProbe::measure_step`] follows [`RadiusProbe::estimator`].
///
/// The transformer experiment's network radius (spec C8, ρ_net =
/// min(ρ_out, ρ_attn, ρ_ffn)) reduces the same single JVP another way: with
/// the layers' attention-score and FFN probes ([`zoo::Jvp::probes`]), see
/// [`RadiusProbe::measure_components`] and [`ComponentRadii`].
#[derive(Debug, Clone)]
pub struct RadiusProbe<E: Real> {
    /// The inputs ρa is measured on.
    pub samples: ProbeSamples<E>,
    /// How per-sample spreads Δa(x) become one set spread Δa(S).
    pub aggregation: Aggregation,
    /// How [`RadiusProbe::measure_step`] estimates the slopes (default: the
    /// exact eval-mode JVP).
    pub estimator: RhoEstimator,
    /// Use only the first this many samples of the set (the paper's
    /// natural-instability: up to 256 of the current batch); `None`: all.
    pub max_samples: Option<usize>,
}

impl<E: Real> Default for RadiusProbe<E> {
    fn default() -> Self {
        RadiusProbe::on_current_batch()
    }
}

impl<E: Real> RadiusProbe<E> {
    /// ρa on the current batch, worst sample (`Aggregation::Max`).
    pub fn on_current_batch() -> Self {
        RadiusProbe {
            samples: ProbeSamples::CurrentBatch,
            aggregation: Aggregation::Max,
            estimator: RhoEstimator::EvalJvp,
            max_samples: None,
        }
    }

    /// ρa on fixed inputs `x` (rows × features), worst sample.
    pub fn on_inputs(x: Matrix<E>) -> Self {
        RadiusProbe {
            samples: ProbeSamples::Inputs(x),
            aggregation: Aggregation::Max,
            estimator: RhoEstimator::EvalJvp,
            max_samples: None,
        }
    }

    /// The same probe with another aggregation.
    pub fn with_aggregation(mut self, aggregation: Aggregation) -> Self {
        self.aggregation = aggregation;
        self
    }

    /// The same probe estimating ρa along a step with `estimator`.
    pub fn with_estimator(mut self, estimator: RhoEstimator) -> Self {
        self.estimator = estimator;
        self
    }

    /// The same probe on at most the first `n` samples of its set.
    pub fn with_max_samples(mut self, n: usize) -> Self {
        self.max_samples = Some(n);
        self
    }

    /// The inputs measured on: the set (the current batch's inputs, or the
    /// fixed ones), cut to the first [`RadiusProbe::max_samples`] rows.
    fn inputs<'a>(&'a self, batch: &'a Batch<E>) -> std::borrow::Cow<'a, Matrix<E>> {
        let x = match &self.samples {
            ProbeSamples::CurrentBatch => &batch.x,
            ProbeSamples::Inputs(x) => x,
        };
        match self.max_samples {
            Some(n) if n < x.rows => {
                std::borrow::Cow::Owned(Matrix::new(n, x.cols, x.data[..n * x.cols].to_vec()))
            }
            _ => std::borrow::Cow::Borrowed(x),
        }
    }

    /// True if the probe reads the whole current batch (so a step's
    /// forward record covers exactly its samples).
    fn reads_whole_batch(&self, batch: &Batch<E>) -> bool {
        matches!(self.samples, ProbeSamples::CurrentBatch)
            && self.max_samples.is_none_or(|n| n >= batch.x.rows)
    }

    /// The set radius of slopes (rows × classes) by this probe's
    /// aggregation.
    fn radius_of(&self, model: &Model<E>, slopes: &Matrix<E>) -> f64 {
        set_radius(
            &slopes.data,
            model.classes,
            self.aggregation,
            model.temperature,
        )
        .rho_a
    }

    /// ρa along the unit direction of `direction` for a training step in
    /// `mode` at `state`, whose forward over `batch` left the record
    /// `cache`, by [`RadiusProbe::estimator`]:
    ///
    /// - [`RhoEstimator::EvalJvp`]: as [`RadiusProbe::measure`] (one
    ///   tangent pass over `cache` when that is exact,
    ///   [`RadiusProbe::can_reuse_step_forward`]);
    /// - [`RhoEstimator::StepModeJvp`]: the exact JVP in `mode`;
    /// - [`RhoEstimator::ForwardDifference`]: two forwards in `mode`; with
    ///   `moves_running_stats` they run on `state`, whose buffers then
    ///   keep what the forwards did to them (θ is never changed).
    pub fn measure_step(
        &self,
        model: &Model<E>,
        state: &mut State<E>,
        batch: &Batch<E>,
        cache: &mut Cache<E>,
        mode: Mode,
        direction: &ParamVec<E>,
    ) -> StepRadius {
        let unmoved = |rho_a| StepRadius {
            rho_a,
            moved_buffers: false,
        };
        match self.estimator {
            RhoEstimator::EvalJvp => {
                let same_function = mode == Mode::Eval || state.buffers.is_empty();
                if self.reads_whole_batch(batch) && same_function {
                    unmoved(
                        self.measure_reusing(model, state, cache, mode, direction)
                            .rho_a,
                    )
                } else {
                    let jvp = model.jvp(state, &self.inputs(batch), &direction.normalized());
                    unmoved(self.radius_of(model, &jvp.slopes))
                }
            }
            RhoEstimator::StepModeJvp => {
                let v = direction.normalized();
                let slopes = if self.reads_whole_batch(batch) {
                    model.tangent(state, cache, &v, mode)
                } else {
                    let mut copy = state.clone();
                    let (_, mut own) = model.forward(&mut copy, &self.inputs(batch), mode);
                    model.tangent(&copy, &mut own, &v, mode)
                };
                unmoved(self.radius_of(model, &slopes))
            }
            RhoEstimator::ForwardDifference {
                eps,
                moves_running_stats,
            } => {
                let x = self.inputs(batch);
                let v = direction.normalized();
                let before = state.buffers.clone();
                let mut copy;
                let base_state = if moves_running_stats {
                    state
                } else {
                    copy = state.clone();
                    &mut copy
                };
                let base = model.forward_logits(base_state, &x, mode);
                let mut moved = base_state.clone();
                moved.params.axpy(eps, &v);
                let z = model.forward_logits(&mut moved, &x, mode);
                let slopes = z.add_scaled(-1.0, &base).scaled(1.0 / eps);
                let rho_a = self.radius_of(model, &slopes);
                if moves_running_stats {
                    base_state.buffers = moved.buffers;
                    StepRadius {
                        rho_a,
                        moved_buffers: base_state.buffers != before,
                    }
                } else {
                    unmoved(self.radius_of(model, &slopes))
                }
            }
        }
    }
}

impl<E: Real> RadiusProbe<E> {
    /// ρa of the sample set along the unit direction of `direction` (any
    /// non-zero vector; it is normalised here), at parameters `state`, by one
    /// eval-mode exact JVP. `batch` is the current batch (used only by
    /// [`ProbeSamples::CurrentBatch`]).
    ///
    /// The zero vector has no direction: its slopes are 0 and the floored
    /// radius π·10¹²·T comes back.
    pub fn measure(
        &self,
        model: &Model<E>,
        state: &State<E>,
        batch: &Batch<E>,
        direction: &ParamVec<E>,
    ) -> SetRadius {
        let x = self.inputs(batch);
        let jvp = model.jvp(state, &x, &direction.normalized());
        set_radius(
            &jvp.slopes.data,
            model.classes,
            self.aggregation,
            model.temperature,
        )
    }

    /// True if a training step's forward record (its [`Cache`], in `mode`)
    /// can stand in for [`RadiusProbe::measure`]'s own forward: the probe
    /// reads the current batch, and the step's forward computes the same
    /// function as eval mode (eval mode itself, or a model without buffers:
    /// BatchNorm is the only layer with buffers and the only one whose
    /// behaviour depends on the mode).
    pub fn can_reuse_step_forward(&self, state: &State<E>, mode: Mode) -> bool {
        matches!(self.samples, ProbeSamples::CurrentBatch)
            && self.max_samples.is_none()
            && (mode == Mode::Eval || state.buffers.is_empty())
    }

    /// As [`RadiusProbe::measure`], but reusing the forward record `cache` of
    /// the training step at `state` (one tangent pass, no forward). Call only
    /// when [`RadiusProbe::can_reuse_step_forward`] holds.
    pub fn measure_reusing(
        &self,
        model: &Model<E>,
        state: &State<E>,
        cache: &mut Cache<E>,
        mode: Mode,
        direction: &ParamVec<E>,
    ) -> SetRadius {
        debug_assert!(self.can_reuse_step_forward(state, mode));
        let slopes = model.tangent(state, cache, &direction.normalized(), mode);
        set_radius(
            &slopes.data,
            model.classes,
            self.aggregation,
            model.temperature,
        )
    }
}

impl<E: Real> RadiusProbe<E> {
    /// ρ_out, ρ_attn and ρ_ffn ([`ComponentRadii`]) along the unit direction
    /// of `direction`, by one eval-mode exact JVP with the layers' probes
    /// on the probe's sample set (`batch` as in [`RadiusProbe::measure`]).
    pub fn measure_components(
        &self,
        model: &Model<E>,
        state: &State<E>,
        batch: &Batch<E>,
        direction: &ParamVec<E>,
        ffn_quantile: f64,
    ) -> ComponentRadii {
        let x = match &self.samples {
            ProbeSamples::CurrentBatch => &batch.x,
            ProbeSamples::Inputs(x) => x,
        };
        let jvp = model.jvp_probed(state, x, &direction.normalized());
        let radii = ComponentRadii::from_tangent(
            &jvp.slopes,
            &jvp.probes,
            model.classes,
            self.aggregation,
            model.temperature,
            ffn_quantile,
        );
        model.recycle_probes(jvp.probes);
        radii
    }

    /// As [`RadiusProbe::measure_components`], reusing the training step's
    /// forward record (one probed tangent pass, no forward); call only when
    /// [`RadiusProbe::can_reuse_step_forward`] holds.
    pub fn measure_components_reusing(
        &self,
        model: &Model<E>,
        state: &State<E>,
        cache: &mut Cache<E>,
        mode: Mode,
        direction: &ParamVec<E>,
        ffn_quantile: f64,
    ) -> ComponentRadii {
        let all = [RadiusTerm::Out, RadiusTerm::Attn, RadiusTerm::Ffn];
        self.measure_terms_reusing(model, state, cache, mode, direction, ffn_quantile, &all)
    }

    /// As [`RadiusProbe::measure_components_reusing`], measuring only the
    /// radii of `terms` (ρ_out always comes with the logit slopes; an
    /// unmeasured term is NaN): the tangent pass records only the probes
    /// those terms read, and without ρ_attn and ρ_ffn it computes only the
    /// rows that reach the logits. A measured radius is the same, bit for
    /// bit, as with every term.
    #[allow(clippy::too_many_arguments)]
    pub fn measure_terms_reusing(
        &self,
        model: &Model<E>,
        state: &State<E>,
        cache: &mut Cache<E>,
        mode: Mode,
        direction: &ParamVec<E>,
        ffn_quantile: f64,
        terms: &[RadiusTerm],
    ) -> ComponentRadii {
        debug_assert!(self.can_reuse_step_forward(state, mode));
        let kinds: Vec<ProbeKind> = terms
            .iter()
            .filter_map(|term| match term {
                RadiusTerm::Out => None,
                RadiusTerm::Attn => Some(ProbeKind::AttentionScores),
                RadiusTerm::Ffn => Some(ProbeKind::FfnPreActivation),
            })
            .collect();
        let (slopes, probes) =
            model.tangent_probed_only(state, cache, &direction.normalized(), mode, &kinds);
        let mut radii = ComponentRadii::from_tangent(
            &slopes,
            &probes,
            model.classes,
            self.aggregation,
            model.temperature,
            ffn_quantile,
        );
        model.recycle_probes(probes);
        if !terms.contains(&RadiusTerm::Attn) {
            radii.rho_attn = f64::NAN;
        }
        if !terms.contains(&RadiusTerm::Ffn) {
            radii.rho_ffn = f64::NAN;
        }
        radii
    }
}

/// A term of the network radius ρ_net (spec C8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RadiusTerm {
    /// ρ_out: the logits' ρa = π / max_x Δa(x).
    Out,
    /// ρ_attn: the attention scores' radius.
    Attn,
    /// ρ_ffn: the FFN kink-distance quantile.
    Ffn,
}

impl RadiusTerm {
    /// The field's name: "rho_out", "rho_attn", "rho_ffn".
    pub fn name(self) -> &'static str {
        match self {
            RadiusTerm::Out => "rho_out",
            RadiusTerm::Attn => "rho_attn",
            RadiusTerm::Ffn => "rho_ffn",
        }
    }
}

/// The three radii of one probed JVP along a unit direction v (spec C8,
/// paper Table 2). NaN where not measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ComponentRadii {
    /// ρ_out = π·T / max(Δa(S), 1e-12): the logit slopes a = J_z v
    /// aggregated over the sample set S as the probe says (worst sample).
    pub rho_out: f64,
    /// ρ_attn = π / max(max over (layer, sample, head, query) of the spread
    /// over keys of the score tangents ṡ (s = q·k/√d_h, before the
    /// softmax), 1e-12); +inf for a model without attention probes.
    pub rho_attn: f64,
    /// ρ_ffn = the `ffn_quantile` quantile (linear interpolation) of
    /// |h|/max(|ḣ|, 1e-12) over every FFN pre-activation h (every layer,
    /// sample, token and unit; [`radius::rho_ffn`]); +inf for a model
    /// without FFN probes.
    pub rho_ffn: f64,
}

impl ComponentRadii {
    /// Nothing measured: every radius NaN.
    pub const NOT_MEASURED: ComponentRadii = ComponentRadii {
        rho_out: f64::NAN,
        rho_attn: f64::NAN,
        rho_ffn: f64::NAN,
    };

    /// The radius of one term.
    pub fn get(&self, term: RadiusTerm) -> f64 {
        match term {
            RadiusTerm::Out => self.rho_out,
            RadiusTerm::Attn => self.rho_attn,
            RadiusTerm::Ffn => self.rho_ffn,
        }
    }

    /// The radii from one tangent pass: its logit slopes (rows × `classes`)
    /// and the probes it reported ([`ProbeKind::AttentionScores`] rows are
    /// (sample, head, query) with one column per key;
    /// [`ProbeKind::FfnPreActivation`] entries are units). Other probes
    /// are ignored.
    pub fn from_tangent<E: Real>(
        slopes: &Matrix<E>,
        probes: &[Probe<E>],
        classes: usize,
        aggregation: Aggregation,
        temperature: f64,
        ffn_quantile: f64,
    ) -> Self {
        let rho_out = set_radius(&slopes.data, classes, aggregation, temperature).rho_a;
        let of = |kind: ProbeKind| probes.iter().filter(move |p| p.kind == kind);
        // ρ_attn: the smallest per-layer radius is π over the largest
        // spread of all layers.
        let rho_attn = of(ProbeKind::AttentionScores)
            .map(|p| rho_of_rows(&p.tangent))
            .fold(f64::INFINITY, nan_min);
        let ffn: Vec<&Probe<E>> = of(ProbeKind::FfnPreActivation).collect();
        let rho_ffn = ffn_radius(&ffn, ffn_quantile);
        ComponentRadii {
            rho_out,
            rho_attn,
            rho_ffn,
        }
    }

    /// ρ_net over `terms` and the term attaining it (ties go to the first
    /// in the order out, attn, ffn, as the author's binding counts do). A
    /// NaN term gives a NaN ρ_net and no binding term: a broken JVP never
    /// looks safe.
    pub fn net(&self, terms: NetTerms) -> (f64, Option<RadiusTerm>) {
        let mut best: Option<(f64, RadiusTerm)> = None;
        for &term in terms.terms() {
            let rho = self.get(term);
            if rho.is_nan() {
                return (f64::NAN, None);
            }
            if best.is_none_or(|(b, _)| rho < b) {
                best = Some((rho, term));
            }
        }
        match best {
            Some((rho, term)) => (rho, Some(term)),
            None => (f64::NAN, None),
        }
    }
}

/// [`radius::rho_ffn`] of the FFN probes, on their own f32 or f64 values
/// (no copy).
fn ffn_radius<E: Real>(probes: &[&Probe<E>], q: f64) -> f64 {
    use std::any::Any;
    fn pairs<'a, T: 'static>(probes: &[&'a Probe<impl Real>]) -> Option<Vec<(&'a [T], &'a [T])>> {
        probes
            .iter()
            .map(|p| {
                let h = (&p.value.data as &dyn Any).downcast_ref::<Vec<T>>()?;
                let d = (&p.tangent.data as &dyn Any).downcast_ref::<Vec<T>>()?;
                Some((&h[..], &d[..]))
            })
            .collect()
    }
    if let Some(s) = pairs::<f32>(probes) {
        radius::rho_ffn(&s, q)
    } else if let Some(s) = pairs::<f64>(probes) {
        radius::rho_ffn(&s, q)
    } else {
        let wide: Vec<(Vec<f64>, Vec<f64>)> = probes
            .iter()
            .map(|p| {
                let f = |v: &[E]| v.iter().map(|&x| zoo::to_f64(x)).collect::<Vec<f64>>();
                (f(&p.value.data), f(&p.tangent.data))
            })
            .collect();
        let s: Vec<(&[f64], &[f64])> = wide.iter().map(|(h, d)| (&h[..], &d[..])).collect();
        radius::rho_ffn(&s, q)
    }
}

/// π / max(largest spread of a row of `m`, 1e-12),
/// as [`set_radius`] with `Aggregation::Max` at T = 1, on the probe's own
/// f32 or f64 values ([`radius::max_row_spread`], no copy). NaN anywhere
/// gives NaN.
fn rho_of_rows<E: Real>(m: &Matrix<E>) -> f64 {
    use std::any::Any;
    let (values, cols) = (&m.data as &dyn Any, m.cols);
    let spread = if let Some(v) = values.downcast_ref::<Vec<f32>>() {
        radius::max_row_spread(v, cols)
    } else if let Some(v) = values.downcast_ref::<Vec<f64>>() {
        radius::max_row_spread(v, cols)
    } else {
        unreachable!("zoo::Real is f32 or f64")
    };
    if spread.is_nan() {
        return f64::NAN;
    }
    radius::rho_a_from_delta(spread.max(SPREAD_FLOOR))
}

/// min that keeps NaN.
fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// The set radius of a row-major slope matrix (rows × `classes`):
/// ρa = π·T / max(Δa(S), [`SPREAD_FLOOR`]), with Δa(S) aggregated by
/// `radius::set_rho_a`. T is the loss temperature (the loss is CE(z/T), so
/// its radius is πT/Δa, paper §5.3; T = 1 in every controller experiment).
/// The returned `delta_a` is the unfloored spread; a NaN spread gives a NaN
/// radius (a broken JVP never looks safe).
pub fn set_radius<E: Real>(
    slopes: &[E],
    classes: usize,
    aggregation: Aggregation,
    temperature: f64,
) -> SetRadius {
    let a: Vec<f64> = slopes
        .iter()
        .map(|s| s.to_f64().expect("a Real converts to f64"))
        .collect();
    let mut set = radius::set_rho_a(&radius::spreads_of_rows(&a, classes), aggregation);
    // f64::max would turn a NaN spread into the floor, so NaN is kept apart.
    if !set.delta_a.is_nan() {
        set.rho_a = radius::rho_a_tempered(set.delta_a.max(SPREAD_FLOOR), temperature);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn floor_temperature_and_nan() {
        let r = set_radius(&[0.0f64, 4.0, 1.0, 1.0], 2, Aggregation::Max, 1.0);
        assert_eq!(r.bottleneck, Some(0));
        assert!((r.rho_a - PI / 4.0).abs() < 1e-15);
        let flat = set_radius(&[0.5f64, 0.5], 2, Aggregation::Max, 1.0);
        assert_eq!(flat.delta_a, 0.0);
        assert!((flat.rho_a - PI / SPREAD_FLOOR).abs() <= 1e-15 * flat.rho_a);
        let hot = set_radius(&[0.0f64, 4.0], 2, Aggregation::Max, 2.0);
        assert!((hot.rho_a - PI / 2.0).abs() < 1e-15);
        assert!(set_radius(&[0.0f64, f64::NAN], 2, Aggregation::Max, 1.0)
            .rho_a
            .is_nan());
    }
}
