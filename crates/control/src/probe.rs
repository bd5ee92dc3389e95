//! ρa along a step: one exact JVP on a sample set, aggregated by `radius`.

use radius::{Aggregation, SetRadius};
use zoo::{Batch, Cache, Matrix, Mode, Model, ParamVec, Real, State};

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

/// How ρa(v) is measured: the sample set and how per-sample spreads are
/// combined (`radius::Aggregation::Max` is the theory's choice; a quantile
/// is the paper's robust future-work variant).
///
/// The JVP runs in eval mode ([`Model::jvp`]): BatchNorm uses its running
/// statistics, as the spec computes every radius.
///
/// Extension point: the all-radii policy of the transformer experiment (spec
/// C8, ρ_net = min(ρ_out, ρ_attn, ρ_ffn)) needs the same single JVP plus the
/// attention-score and FFN probes that [`zoo::Jvp::probes`] already carries;
/// it will be a new way to reduce one JVP here, not a second JVP.
#[derive(Debug, Clone)]
pub struct RadiusProbe<E: Real> {
    /// The inputs ρa is measured on.
    pub samples: ProbeSamples<E>,
    /// How per-sample spreads Δa(x) become one set spread Δa(S).
    pub aggregation: Aggregation,
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
        }
    }

    /// ρa on fixed inputs `x` (rows × features), worst sample.
    pub fn on_inputs(x: Matrix<E>) -> Self {
        RadiusProbe {
            samples: ProbeSamples::Inputs(x),
            aggregation: Aggregation::Max,
        }
    }

    /// The same probe with another aggregation.
    pub fn with_aggregation(mut self, aggregation: Aggregation) -> Self {
        self.aggregation = aggregation;
        self
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
        let x = match &self.samples {
            ProbeSamples::CurrentBatch => &batch.x,
            ProbeSamples::Inputs(x) => x,
        };
        let jvp = model.jvp(state, x, &direction.normalized());
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
