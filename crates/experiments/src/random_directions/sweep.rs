//! The measurement along one direction: ρa, the Hessian scale, and the
//! sweep of θ + r·ρa·v over the r grid (the experiment's hot loop).

use super::{DirectionResult, KAPPA_FLOOR};
use zoo::curvature::directional_curvature;
use zoo::fastmath::exp_f32;
use zoo::{Batch, Mode, Model, ParamVec, State};

/// Rows per product of row sums before one logarithm (each sum is in
/// [1, classes], so 64 rows of up to 10^4 classes stay far from overflow).
const ROWS_PER_LOG: usize = 64;

/// Loss (mean CE of logits/T), correct predictions and predictions that
/// differ from `base`, in one pass over row-major f32 logits (the sweep's hot
/// loop: 4 seeds × 3 stages × 21 directions × 200 r). Per row CE =
/// ln Σ_j exp((z_j − m)/T) + (m − z_y)/T with m the row maximum; the
/// exponentials in f32 ([`exp_f32`]), the sums of logarithms in f64.
/// Argmax ties go to the first index, as [`zoo::model::argmax_rows`]. A
/// non-finite logit makes the loss NaN (recorded, never a panic).
pub(crate) fn sweep_point(
    logits: &[f32],
    k: usize,
    labels: &[usize],
    base: &[usize],
    inv_t: f64,
    scratch: &mut Vec<f32>,
) -> (f64, usize, usize) {
    scratch.clear();
    scratch.resize(logits.len(), 0.0);
    let inv_t32 = inv_t as f32;
    let (mut linear, mut correct, mut flips, mut finite) = (0.0f64, 0, 0, true);
    for (((row, out), &y), &b) in logits
        .chunks_exact(k)
        .zip(scratch.chunks_exact_mut(k))
        .zip(labels)
        .zip(base)
    {
        let (mut arg, mut m) = (0usize, f32::NEG_INFINITY);
        for (j, &z) in row.iter().enumerate() {
            finite &= z.is_finite();
            if z > m {
                (arg, m) = (j, z);
            }
        }
        for (o, &z) in out.iter_mut().zip(row) {
            *o = (z - m) * inv_t32;
        }
        linear += (m as f64 - row[y] as f64) * inv_t;
        correct += (arg == y) as usize;
        flips += (arg != b) as usize;
    }
    if !finite {
        return (f64::NAN, correct, flips);
    }
    for v in scratch.iter_mut() {
        *v = exp_f32(*v);
    }
    let log_sums: f64 = scratch
        .chunks(ROWS_PER_LOG * k)
        .map(|block| {
            block
                .chunks_exact(k)
                .map(|row| row.iter().sum::<f32>() as f64)
                .product::<f64>()
                .ln()
        })
        .sum();
    ((log_sums + linear) / labels.len() as f64, correct, flips)
}

/// Inputs shared by every direction of one stage.
pub(super) struct StageInputs<'a> {
    pub(super) model: &'a Model<f32>,
    pub(super) model64: &'a Model<f64>,
    pub(super) state: &'a State<f32>,
    pub(super) state64: State<f64>,
    pub(super) train: &'a Batch<f32>,
    pub(super) train64: &'a Batch<f64>,
    pub(super) r: &'a [f64],
    pub(super) base_pred: Vec<usize>,
    pub(super) base_loss: f64,
    pub(super) hvp_eps: f64,
    /// Sweep by z(θ) + s·a instead of a forward per r ([`Model::logits_affine_in_params`]: z(θ + s·v) = z(θ) + s·a exactly).
    pub(super) affine: bool,
}

impl StageInputs<'_> {
    pub(super) fn measure(&self, direction: usize, v: &ParamVec<f32>) -> DirectionResult {
        let k = self.model.classes;
        let jvp = self.model.jvp(self.state, &self.train.x, v);
        let slopes: Vec<f64> = jvp.slopes.as_vec().iter().map(|&a| a as f64).collect();
        let set = radius::set_rho_a(
            &radius::spreads_of_rows(&slopes, k),
            radius::Aggregation::Max,
        );
        let rho_a = set.rho_a;
        let binding_margin = set
            .bottleneck
            .and_then(|b| {
                let z: Vec<f64> = jvp.logits.as_vec()[b * k..(b + 1) * k]
                    .iter()
                    .map(|&x| x as f64)
                    .collect();
                radius::top2(&z, &slopes[b * k..(b + 1) * k], None)
            })
            .map_or(f64::NAN, |t| t.margin);
        let kappa = directional_curvature(
            self.model64,
            &self.state64,
            self.train64,
            &v.cast(),
            self.hvp_eps,
        );
        let tau_h = if kappa > KAPPA_FLOOR {
            2.0 / kappa
        } else {
            f64::INFINITY
        };
        let inv_t = 1.0 / self.model.temperature;
        let n = self.train.len() as f64;
        let (mut loss_ratio, mut accuracy, mut flip) = (
            Vec::with_capacity(self.r.len()),
            Vec::with_capacity(self.r.len()),
            Vec::with_capacity(self.r.len()),
        );
        let (z0, a) = (jvp.logits.as_vec(), jvp.slopes.as_vec());
        let (mut moved, mut logits, mut scratch) = (self.state.clone(), Vec::new(), Vec::new());
        for &r in self.r {
            let s = r * rho_a;
            if self.affine {
                // z(θ + s v) = z(θ) + s a, exactly for an affine model.
                let s = s as f32;
                logits.clear();
                logits.extend(z0.iter().zip(&a).map(|(z, a)| z + s * a));
            } else {
                moved.params.0.copy_from_slice(&self.state.params.0);
                moved.params.axpy(s, v);
                logits = self
                    .model
                    .forward(&mut moved, &self.train.x, Mode::Eval)
                    .0
                    .as_vec();
            }
            let (loss, correct, flips) = sweep_point(
                &logits,
                k,
                &self.train.labels,
                &self.base_pred,
                inv_t,
                &mut scratch,
            );
            loss_ratio.push(loss / self.base_loss);
            accuracy.push(correct as f64 / n);
            flip.push(flips as f64 / n);
        }
        DirectionResult {
            direction,
            rho_a,
            binding_margin,
            kappa,
            tau_h,
            hess_ratio: tau_h / rho_a,
            loss_ratio,
            accuracy,
            flip,
        }
    }
}
