//! Training recipes: how each architecture is brought to convergence on
//! digits (spec §6.2 "PROPOSAL for Figs 1/7", the ghost-envelope recipes).
//!
//! This is the zoo's own small AdamW loop, used to make trained models for
//! tests and single-step experiments. The step controllers of the paper
//! (propose a step, then cap it) live in the `control` crate.

use crate::model::accuracy;
use crate::{Batch, Mode, Model, ParamVec, Real, State};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// An AdamW recipe (β = 0.9/0.999, ε = 1e-8, decoupled weight decay).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Learning rate.
    pub lr: f64,
    /// Optimiser steps.
    pub steps: usize,
    /// Samples per step drawn without replacement (`None`: full batch).
    pub batch: Option<usize>,
    /// Decoupled weight decay (θ ← θ(1 − lr·wd) before the Adam step).
    pub weight_decay: f64,
}

impl Recipe {
    /// The spec's recipe for a registry name (AdamW, wd 1e-4, batch 128):
    /// linear 6e-3/500 steps; mlp and mlp-ln 2.5e-3/520; cnn 2.5e-3/560;
    /// transformers 2e-3/600; cnn-bn Adam 0.015, full batch, 200 steps.
    pub fn for_arch(name: &str) -> Recipe {
        let adamw = |lr: f64, steps: usize| Recipe {
            lr,
            steps,
            batch: Some(128),
            weight_decay: 1e-4,
        };
        match name {
            "linear" => adamw(6e-3, 500),
            "cnn" => adamw(2.5e-3, 560),
            n if n.starts_with("tiny-transformer") || n.starts_with("transformer") => {
                adamw(2e-3, 600)
            }
            n if n.starts_with("cnn-bn") => Recipe {
                lr: 0.015,
                steps: 200,
                batch: None,
                weight_decay: 0.0,
            },
            _ => adamw(2.5e-3, 520),
        }
    }

    /// The same recipe with `steps` replaced (quick configs).
    pub fn with_steps(mut self, steps: usize) -> Recipe {
        self.steps = steps;
        self
    }
}

/// Adam moments for a flat parameter vector.
#[derive(Debug, Clone)]
pub struct AdamW {
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl AdamW {
    /// Zero moments for `n` parameters.
    pub fn new(n: usize) -> Self {
        AdamW {
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// One AdamW update of `params` with gradient `grad`.
    pub fn step<E: Real>(
        &mut self,
        params: &mut ParamVec<E>,
        grad: &ParamVec<E>,
        lr: f64,
        weight_decay: f64,
    ) {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        const EPS: f64 = 1e-8;
        assert_eq!(grad.len(), params.len(), "gradient of another model");
        assert_eq!(self.m.len(), params.len(), "moments of another model");
        self.t += 1;
        let (c1, c2) = (1.0 - B1.powi(self.t), 1.0 - B2.powi(self.t));
        let decay = 1.0 - lr * weight_decay;
        let f32_params = (&mut params.0 as &mut dyn std::any::Any).downcast_mut::<Vec<f32>>();
        let f32_grad = (&grad.0 as &dyn std::any::Any).downcast_ref::<Vec<f32>>();
        if let (Some(p), Some(g)) = (f32_params, f32_grad) {
            adamw_f32(p, g, &mut self.m, &mut self.v, [c1, c2, decay, lr]);
            return;
        }
        let moments = self.m.iter_mut().zip(self.v.iter_mut());
        for ((p, g), (m, v)) in params.0.iter_mut().zip(&grad.0).zip(moments) {
            let g = g.to_f64().unwrap_or(f64::NAN);
            *m = B1 * *m + (1.0 - B1) * g;
            *v = B2 * *v + (1.0 - B2) * g * g;
            let update = (*m / c1) / ((*v / c2).sqrt() + EPS);
            let decayed = p.to_f64().unwrap_or(f64::NAN) * decay;
            *p = crate::cast(decayed - lr * update);
        }
    }
}

/// [`AdamW::step`] on f32 parameters, `k` = [c1, c2, decay, lr]: the same
/// f64 operations in the same order as the generic loop (no fused
/// multiply-add: Rust never contracts `a * b + c`; division and square
/// root are correctly rounded at any width), so the same bits, compiled for
/// AVX-512 or AVX2 when the CPU has them (8 or 4 lanes of f64 division and
/// square root instead of SSE2's 2).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn adamw_f32(params: &mut [f32], grad: &[f32], m: &mut [f64], v: &mut [f64], k: [f64; 4]) {
    const B1: f64 = 0.9;
    const B2: f64 = 0.999;
    const EPS: f64 = 1e-8;
    let [c1, c2, decay, lr] = k;
    let n = params.len();
    let (grad, m, v) = (&grad[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let g = grad[i] as f64;
        let mi = B1 * m[i] + (1.0 - B1) * g;
        let vi = B2 * v[i] + (1.0 - B2) * g * g;
        m[i] = mi;
        v[i] = vi;
        let update = (mi / c1) / ((vi / c2).sqrt() + EPS);
        params[i] = ((params[i] as f64) * decay - lr * update) as f32;
    }
}

/// Train `model` from `state` on the `train` indices of a batch source,
/// deterministically from `seed`. Returns the final training loss.
pub fn fit<E: Real>(
    model: &Model<E>,
    state: &mut State<E>,
    data: &Batch<E>,
    recipe: &Recipe,
    seed: u64,
) -> f64 {
    let last = fit_observed(model, state, data, recipe, seed, |_, _| {});
    if !state.buffers.is_empty() && last.is_finite() {
        recalibrate_running_stats(model, state, data, RECALIBRATION_PASSES);
    }
    last
}

/// [`fit`]'s training loop without the final BatchNorm recalibration,
/// calling `observe(step, state)` before each step 0..`recipe.steps` and
/// once more with the trained state (step = `recipe.steps`): snapshots
/// along one trajectory, the same one `fit` takes. A non-finite loss ends
/// training there, without that last call. Returns the last training loss.
pub fn fit_observed<E: Real>(
    model: &Model<E>,
    state: &mut State<E>,
    data: &Batch<E>,
    recipe: &Recipe,
    seed: u64,
    mut observe: impl FnMut(usize, &State<E>),
) -> f64 {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut opt = AdamW::new(model.num_params());
    let n = data.len();
    let mut last = f64::NAN;
    let mut step = 0;
    while step < recipe.steps {
        observe(step, state);
        let batch = match recipe.batch {
            Some(b) if b < n => data.subset(&rand::seq::index::sample(&mut rng, n, b).into_vec()),
            _ => data.clone(),
        };
        let out = model.loss_and_grad(state, &batch, Mode::Train);
        last = out.loss;
        if !out.loss.is_finite() {
            return last;
        }
        opt.step(&mut state.params, &out.grad, recipe.lr, recipe.weight_decay);
        step += 1;
    }
    observe(recipe.steps, state);
    last
}

/// Train-mode passes over the training data with frozen parameters after
/// training (models with BatchNorm only).
pub const RECALIBRATION_PASSES: usize = 40;

/// Refresh BatchNorm running statistics: `passes` train-mode forwards over
/// `data` with θ frozen. With momentum 0.1 the running statistics lag the
/// batch statistics of a fast-moving model (CNN+BN-1D after Adam 0.015 is
/// near chance in eval mode without this, ~80% with it); after 40 passes the
/// stale part is 0.9⁴⁰ ≈ 1.5%. Eval-mode JVPs then see the statistics the
/// trained parameters actually produce.
pub fn recalibrate_running_stats<E: Real>(
    model: &Model<E>,
    state: &mut State<E>,
    data: &Batch<E>,
    passes: usize,
) {
    for _ in 0..passes {
        model.forward(state, &data.x, Mode::Train);
    }
}

/// Eval-mode accuracy of `state` on a batch.
pub fn evaluate<E: Real>(model: &Model<E>, state: &State<E>, data: &Batch<E>) -> f64 {
    accuracy(&model.logits(state, &data.x), &data.labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorised f32 AdamW loop gives the generic loop's f64 result
    /// rounded to f32, with zeros, huge and non-finite entries.
    #[test]
    fn adamw_on_f32_parameters_equals_the_generic_loop() {
        let vals = |f: f32| -> Vec<f32> {
            let mut v: Vec<f32> = (0..37).map(|i| ((i as f32) * f).sin() * 3.0).collect();
            v.extend([0.0, -0.0, 1e30, -1e-30, f32::NAN, f32::INFINITY]);
            v
        };
        let widen = |p: &ParamVec<f32>| ParamVec(p.0.iter().map(|&v| v as f64).collect());
        let bits32 = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let bits64 = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let (mut p32, g32) = (ParamVec(vals(0.7)), ParamVec(vals(1.3)));
        let g64 = widen(&g32);
        let (mut o32, mut o64) = (AdamW::new(p32.len()), AdamW::new(p32.len()));
        for _ in 0..3 {
            let mut p64 = widen(&p32);
            o32.step(&mut p32, &g32, 0.01, 1e-4);
            o64.step(&mut p64, &g64, 0.01, 1e-4);
            let narrowed: Vec<f32> = p64.0.iter().map(|&v| v as f32).collect();
            assert_eq!(bits32(&p32.0), bits32(&narrowed));
            assert_eq!(bits64(&o32.m), bits64(&o64.m));
            assert_eq!(bits64(&o32.v), bits64(&o64.v));
        }
    }

    /// `fit_observed` walks `fit`'s trajectory: its snapshots at 0, 2 and
    /// the end are the states `fit` reaches with 0, 2 and all steps, bit for
    /// bit, and `fit` itself ends at the last one.
    #[test]
    fn fit_observed_snapshots_lie_on_fits_trajectory() {
        let digits = data::load_default_digits().unwrap();
        let data: Batch<f32> = Batch::from_digits(&digits, &(0..300).collect::<Vec<_>>());
        let model = crate::arch::find("mlp-relu").unwrap().build::<f32>(&crate::ArchConfig::default());
        let recipe = Recipe {
            lr: 1e-2,
            steps: 5,
            batch: Some(64),
            weight_decay: 1e-4,
        };
        let mut seen = Vec::new();
        let mut state = model.init(3);
        fit_observed(&model, &mut state, &data, &recipe, 11, |step, s| {
            seen.push((step, s.params.0.clone()));
        });
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5]);
        for (step, params) in &seen {
            let mut direct = model.init(3);
            // AdamW's bias correction depends on the total step count only
            // through the steps taken, so a shorter recipe is a prefix.
            fit(&model, &mut direct, &data, &recipe.clone().with_steps(*step), 11);
            assert_eq!(&direct.params.0, params, "step {step}");
        }
        assert_eq!(state.params.0, seen[5].1);
    }
}
