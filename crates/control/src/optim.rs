//! Optimisers that first *propose* a step and then *apply* it.
//!
//! A controller must see the step an optimiser is about to take (with this
//! step's momentum buffer or Adam moments, spec C3/C4) before deciding how
//! much of it to take. So every optimiser here splits a step in two:
//!
//! - [`Optimizer::propose`] reads θ and the gradient g and returns a
//!   [`Proposal`]: the update p with θ_new = θ + p at the given learning
//!   rate (momentum, second-moment scaling and the descent sign included),
//!   and the optimiser state the step would commit. It mutates nothing, so a
//!   proposal can be measured (ρa along p/‖p‖) and thrown away.
//! - [`Optimizer::apply`] commits that state and sets θ ← θ + s·p for a
//!   scale s ≥ 0 chosen by a step policy.
//!
//! Why the moments ignore s: the moments are statistics of the gradients
//! seen, not of the steps taken, so a capped step leaves them exactly where
//! the true gradient puts them (as lowering PyTorch's `lr` for one step
//! would). Every optimiser here has p linear in lr (p(lr) = lr·p(1)), so
//! applying s·p equals stepping at lr_eff = s·lr: the learning-rate form of
//! the paper's cap (spec C1).
//!
//! Moments and proposals are kept in f64 whatever the model's element type;
//! θ is rounded to E once, when the step is applied.

use serde::{Deserialize, Serialize};
use zoo::{ParamVec, Real};

/// A step an optimiser would take, not yet applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal<M> {
    /// The update p at [`Proposal::lr`]: θ_new = θ + p (sign included).
    pub step: ParamVec<f64>,
    /// The learning rate p was proposed at.
    pub lr: f64,
    /// Decoupled weight decay kept out of p ([`WeightDecay::AdamW`]):
    /// applying s·p sets θ ← θ(1 − s·lr·decay) + s·p. 0 for every other
    /// optimiser and decay.
    pub decay: f64,
    /// The optimiser state this step commits when applied (moments updated
    /// from the gradient the proposal was made with).
    pub moments: M,
}

impl<M> Proposal<M> {
    /// ‖p‖, the global L2 norm of the proposed update (τ at scale 1).
    pub fn norm(&self) -> f64 {
        self.step.norm()
    }

    /// The unit direction v = p/‖p‖ in the model's element type (normalised
    /// in f64, then rounded). The zero step gives the zero vector.
    pub fn direction<E: Real>(&self) -> ParamVec<E> {
        self.step.normalized().cast()
    }
}

/// An optimiser whose step is proposed, then applied at a chosen scale.
///
/// Methods are generic over the model's element type: the optimiser's own
/// state is f64 whatever E is.
pub trait Optimizer {
    /// The state a step updates (momentum buffer, Adam moments and step count).
    type Moments: Clone + std::fmt::Debug;

    /// The update p the optimiser would apply at learning rate `lr` for
    /// gradient `grad` at parameters `params`, and the state it would commit.
    /// Does not change the optimiser.
    fn propose<E: Real>(
        &self,
        params: &ParamVec<E>,
        grad: &ParamVec<E>,
        lr: f64,
    ) -> Proposal<Self::Moments>;

    /// Replace the optimiser's state by `moments` (from a proposal).
    fn commit(&mut self, moments: Self::Moments);

    /// Commit the proposal's state and set θ ← θ + scale·p (computed in f64,
    /// rounded to E once).
    ///
    /// The state committed is the one the proposal computed from its
    /// gradient, whatever `scale` is (see the module docs for why).
    ///
    /// # Panics
    /// If `scale` is negative or not finite, or the proposal is for a
    /// parameter vector of another length.
    fn apply<E: Real>(
        &mut self,
        params: &mut ParamVec<E>,
        proposal: Proposal<Self::Moments>,
        scale: f64,
    ) {
        if proposal.decay == 0.0 {
            apply_scaled(params, &proposal.step, scale);
        } else {
            apply_decayed(
                params,
                &proposal.step,
                scale,
                scale * proposal.lr * proposal.decay,
            );
        }
        self.commit(proposal.moments);
    }

    /// Number of steps applied so far (Adam's t).
    fn steps(&self) -> u64;
}

/// θ ← θ + scale·p, each coordinate in f64 and rounded to E once.
///
/// # Panics
/// If `scale` is negative or not finite, or the lengths differ.
pub fn apply_scaled<E: Real>(params: &mut ParamVec<E>, step: &ParamVec<f64>, scale: f64) {
    assert!(
        scale.is_finite() && scale >= 0.0,
        "step scale must be finite and non-negative, got {scale}"
    );
    assert_eq!(
        params.len(),
        step.len(),
        "step proposed for a parameter vector of another length"
    );
    for (theta, p) in params.0.iter_mut().zip(&step.0) {
        *theta = zoo::cast(f64_of(*theta) + scale * p);
    }
}

/// θ ← θ(1 − `shrink`) + scale·p (AdamW's decoupled decay, then the step),
/// each coordinate in f64 and rounded to E once.
///
/// # Panics
/// As [`apply_scaled`].
pub fn apply_decayed<E: Real>(
    params: &mut ParamVec<E>,
    step: &ParamVec<f64>,
    scale: f64,
    shrink: f64,
) {
    assert!(
        scale.is_finite() && scale >= 0.0,
        "step scale must be finite and non-negative, got {scale}"
    );
    assert_eq!(
        params.len(),
        step.len(),
        "step proposed for a parameter vector of another length"
    );
    let keep = 1.0 - shrink;
    for (theta, p) in params.0.iter_mut().zip(&step.0) {
        *theta = zoo::cast(f64_of(*theta) * keep + scale * p);
    }
}

fn f64_of<E: Real>(x: E) -> f64 {
    zoo::to_f64(x)
}

/// SGD, optionally with momentum, with PyTorch's semantics (dampening 0, no
/// Nesterov; spec C4): d = g + wd·θ; with momentum μ > 0 the buffer is
/// b = d on the first step and μ·b + d afterwards, and p = −lr·b; without
/// momentum p = −lr·d.
#[derive(Debug, Clone, PartialEq)]
pub struct Sgd {
    /// Momentum μ (0 = plain SGD, no buffer).
    pub momentum: f64,
    /// Coupled (L2) weight decay wd, added to the gradient.
    pub weight_decay: f64,
    moments: SgdMoments,
}

/// The state of [`Sgd`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SgdMoments {
    /// Momentum buffer b (`None` before the first step or without momentum).
    pub buffer: Option<Vec<f64>>,
    /// Steps applied.
    pub steps: u64,
}

impl Sgd {
    /// Plain SGD (no momentum, no weight decay).
    pub fn new() -> Self {
        Sgd::with_momentum(0.0)
    }

    /// SGD with momentum μ (the spec's demos use 0.9).
    pub fn with_momentum(momentum: f64) -> Self {
        Sgd {
            momentum,
            weight_decay: 0.0,
            moments: SgdMoments::default(),
        }
    }

    /// The same optimiser with coupled weight decay wd.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The current state (momentum buffer).
    pub fn moments(&self) -> &SgdMoments {
        &self.moments
    }
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd::new()
    }
}

impl Optimizer for Sgd {
    type Moments = SgdMoments;

    fn propose<E: Real>(
        &self,
        params: &ParamVec<E>,
        grad: &ParamVec<E>,
        lr: f64,
    ) -> Proposal<SgdMoments> {
        assert_eq!(params.len(), grad.len(), "gradient of another model");
        let d: Vec<f64> = params
            .0
            .iter()
            .zip(&grad.0)
            .map(|(&t, &g)| f64_of(g) + self.weight_decay * f64_of(t))
            .collect();
        let (update, buffer) = if self.momentum == 0.0 {
            (d, None)
        } else {
            let b = match &self.moments.buffer {
                None => d,
                Some(b) => b
                    .iter()
                    .zip(&d)
                    .map(|(b, d)| self.momentum * b + d)
                    .collect(),
            };
            (b.clone(), Some(b))
        };
        Proposal {
            step: ParamVec(update.iter().map(|u| -lr * u).collect()),
            lr,
            decay: 0.0,
            moments: SgdMoments {
                buffer,
                steps: self.moments.steps + 1,
            },
        }
    }

    fn commit(&mut self, moments: SgdMoments) {
        self.moments = moments;
    }

    fn steps(&self) -> u64 {
        self.moments.steps
    }
}

/// How Adam applies weight decay.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum WeightDecay {
    /// None (the paper's lr-spike and arch-grid runs).
    #[default]
    None,
    /// PyTorch `Adam(weight_decay=wd)`: g ← g + wd·θ before the moments.
    Coupled(f64),
    /// AdamW: p = −lr·(u + wd·θ), i.e. θ(1 − lr·wd) − lr·u. The decay is part
    /// of the proposed step, so ρa is measured along the step actually taken
    /// (the transformer-radii code measured along u alone, spec C3: see
    /// [`WeightDecay::AdamW`]).
    Decoupled(f64),
    /// PyTorch `AdamW(weight_decay=wd)` as the transformer-radii code uses
    /// it (spec C3, §6.8): the proposed step is p = −lr·u without the decay
    /// (so the direction v = p/‖p‖ = −u/‖u‖ and ‖p‖ = lr·‖u‖ leave it out),
    /// and applying s·p first decays θ ← θ(1 − s·lr·wd): the decay is scaled
    /// by the same effective rate lr_eff = s·lr as the step.
    #[serde(rename = "adamw")]
    AdamW(f64),
}

/// Adam's constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamConfig {
    /// β1 (default 0.9).
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// β2 (default 0.999).
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// ε (default 1e-8).
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Weight decay (default none).
    #[serde(default)]
    pub weight_decay: WeightDecay,
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            weight_decay: WeightDecay::None,
        }
    }
}

/// Adam (spec C3): with this step's moments m_t = β1·m + (1−β1)·g and
/// v_t = β2·v + (1−β2)·g², u = (m_t/(1−β1^t)) / (√(v_t/(1−β2^t)) + ε) and
/// p = −lr·u (plus decoupled decay, see [`WeightDecay`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    /// β, ε and weight decay.
    pub config: AdamConfig,
    moments: AdamMoments,
}

/// The state of [`Adam`].
#[derive(Debug, Clone, PartialEq)]
pub struct AdamMoments {
    /// First moment m.
    pub m: Vec<f64>,
    /// Second moment v (of the gradient, not the paper's direction v).
    pub v: Vec<f64>,
    /// Steps applied, t.
    pub t: u64,
}

impl Adam {
    /// Adam with the paper's constants (β 0.9/0.999, ε 1e-8, no weight decay)
    /// for `n` parameters.
    pub fn new(n: usize) -> Self {
        Adam::with_config(n, AdamConfig::default())
    }

    /// Adam with the given constants for `n` parameters.
    pub fn with_config(n: usize, config: AdamConfig) -> Self {
        Adam {
            config,
            moments: AdamMoments {
                m: vec![0.0; n],
                v: vec![0.0; n],
                t: 0,
            },
        }
    }

    /// The current moments.
    pub fn moments(&self) -> &AdamMoments {
        &self.moments
    }
}

impl Optimizer for Adam {
    type Moments = AdamMoments;

    fn propose<E: Real>(
        &self,
        params: &ParamVec<E>,
        grad: &ParamVec<E>,
        lr: f64,
    ) -> Proposal<AdamMoments> {
        let AdamConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.config;
        let n = self.moments.m.len();
        assert_eq!(grad.len(), n, "gradient of another model");
        assert_eq!(params.len(), n, "parameters of another model");
        let t = self.moments.t + 1;
        // powi takes i32; beyond that the corrections are 1 to f64 precision.
        let tp = i32::try_from(t).unwrap_or(i32::MAX);
        let (c1, c2) = (1.0 - beta1.powi(tp), 1.0 - beta2.powi(tp));
        // Decay split out of the loop so it vectorises; the arithmetic per
        // element is unchanged (same operations, same order).
        let (coupled, decoupled) = match weight_decay {
            WeightDecay::Coupled(wd) => (Some(wd), None),
            WeightDecay::Decoupled(wd) => (None, Some(wd)),
            WeightDecay::None | WeightDecay::AdamW(_) => (None, None),
        };
        // AdamW's decay stays out of p; `apply` scales it with the step.
        let decay = match weight_decay {
            WeightDecay::AdamW(wd) => wd,
            _ => 0.0,
        };
        let (mut m, mut v, mut step) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let f32_inputs = (
            (&params.0 as &dyn std::any::Any).downcast_ref::<Vec<f32>>(),
            (&grad.0 as &dyn std::any::Any).downcast_ref::<Vec<f32>>(),
        );
        if let (Some(theta), Some(g)) = f32_inputs {
            let k = AdamConstants {
                beta1,
                beta2,
                eps,
                c1,
                c2,
                lr,
                coupled,
                decoupled,
            };
            let (m0, v0) = (&self.moments.m[..], &self.moments.v[..]);
            adam_f32(theta, g, m0, v0, (&mut m, &mut v, &mut step), &k);
            return Proposal {
                step: ParamVec(step),
                lr,
                decay,
                moments: AdamMoments { m, v, t },
            };
        }
        let moments = self.moments.m.iter().zip(&self.moments.v);
        let out = m.iter_mut().zip(v.iter_mut()).zip(step.iter_mut());
        let inputs = params.0.iter().zip(&grad.0);
        for ((((mo, vo), so), (m0, v0)), (&theta, &g)) in out.zip(moments).zip(inputs) {
            let theta = f64_of(theta);
            let mut g = f64_of(g);
            if let Some(wd) = coupled {
                g += wd * theta;
            }
            let mi = beta1 * m0 + (1.0 - beta1) * g;
            let vi = beta2 * v0 + (1.0 - beta2) * g * g;
            let mut u = (mi / c1) / ((vi / c2).sqrt() + eps);
            if let Some(wd) = decoupled {
                u += wd * theta;
            }
            *mo = mi;
            *vo = vi;
            *so = -lr * u;
        }
        Proposal {
            step: ParamVec(step),
            lr,
            decay,
            moments: AdamMoments { m, v, t },
        }
    }

    fn commit(&mut self, moments: AdamMoments) {
        self.moments = moments;
    }

    fn steps(&self) -> u64 {
        self.moments.t
    }
}

/// The constants of one Adam step (bias corrections c1, c2 included).
struct AdamConstants {
    beta1: f64,
    beta2: f64,
    eps: f64,
    c1: f64,
    c2: f64,
    lr: f64,
    coupled: Option<f64>,
    decoupled: Option<f64>,
}

/// [`Adam::propose`]'s loop on f32 parameters and gradients: the same f64
/// operations in the same order (Rust never fuses `a * b + c`; division
/// and square root are correctly rounded at any width), so the same bits,
/// compiled for AVX-512 or AVX2 when the CPU has them (8 or 4 lanes of f64
/// division and square root instead of SSE2's 2).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn adam_f32(
    theta: &[f32],
    grad: &[f32],
    m0: &[f64],
    v0: &[f64],
    (m, v, step): (&mut [f64], &mut [f64], &mut [f64]),
    k: &AdamConstants,
) {
    let n = theta.len();
    let (grad, m0, v0) = (&grad[..n], &m0[..n], &v0[..n]);
    let (m, v, step) = (&mut m[..n], &mut v[..n], &mut step[..n]);
    let (beta1, beta2, eps, c1, c2, lr) = (k.beta1, k.beta2, k.eps, k.c1, k.c2, k.lr);
    for i in 0..n {
        let th = theta[i] as f64;
        let mut g = grad[i] as f64;
        if let Some(wd) = k.coupled {
            g += wd * th;
        }
        let mi = beta1 * m0[i] + (1.0 - beta1) * g;
        let vi = beta2 * v0[i] + (1.0 - beta2) * g * g;
        let mut u = (mi / c1) / ((vi / c2).sqrt() + eps);
        if let Some(wd) = k.decoupled {
            u += wd * th;
        }
        m[i] = mi;
        v[i] = vi;
        step[i] = -lr * u;
    }
}

/// Which optimiser to build, as written in an experiment's YAML config
/// (`kind: adam`, `kind: sgd` with `momentum: 0.9`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// [`Sgd`].
    Sgd {
        /// Momentum μ (default 0).
        #[serde(default)]
        momentum: f64,
        /// Coupled weight decay (default 0).
        #[serde(default)]
        weight_decay: f64,
    },
    /// [`Adam`].
    Adam {
        /// β1 (default 0.9).
        #[serde(default = "default_beta1")]
        beta1: f64,
        /// β2 (default 0.999).
        #[serde(default = "default_beta2")]
        beta2: f64,
        /// ε (default 1e-8).
        #[serde(default = "default_eps")]
        eps: f64,
        /// Weight decay (default none).
        #[serde(default)]
        weight_decay: WeightDecay,
    },
}

impl OptimizerConfig {
    /// A fresh optimiser for `n` parameters.
    pub fn build(&self, n: usize) -> AnyOptimizer {
        match *self {
            OptimizerConfig::Sgd {
                momentum,
                weight_decay,
            } => AnyOptimizer::Sgd(Sgd::with_momentum(momentum).with_weight_decay(weight_decay)),
            OptimizerConfig::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => AnyOptimizer::Adam(Adam::with_config(
                n,
                AdamConfig {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                },
            )),
        }
    }
}

/// One of the optimisers, chosen at run time (from an [`OptimizerConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub enum AnyOptimizer {
    /// SGD, with or without momentum.
    Sgd(Sgd),
    /// Adam.
    Adam(Adam),
}

/// The state of an [`AnyOptimizer`].
#[derive(Debug, Clone, PartialEq)]
pub enum AnyMoments {
    /// Of [`Sgd`].
    Sgd(SgdMoments),
    /// Of [`Adam`].
    Adam(AdamMoments),
}

impl Optimizer for AnyOptimizer {
    type Moments = AnyMoments;

    fn propose<E: Real>(
        &self,
        params: &ParamVec<E>,
        grad: &ParamVec<E>,
        lr: f64,
    ) -> Proposal<AnyMoments> {
        fn wrap<M>(p: Proposal<M>, f: impl FnOnce(M) -> AnyMoments) -> Proposal<AnyMoments> {
            Proposal {
                step: p.step,
                lr: p.lr,
                decay: p.decay,
                moments: f(p.moments),
            }
        }
        match self {
            AnyOptimizer::Sgd(o) => wrap(o.propose(params, grad, lr), AnyMoments::Sgd),
            AnyOptimizer::Adam(o) => wrap(o.propose(params, grad, lr), AnyMoments::Adam),
        }
    }

    /// # Panics
    /// If the moments belong to the other optimiser kind.
    fn commit(&mut self, moments: AnyMoments) {
        match (self, moments) {
            (AnyOptimizer::Sgd(o), AnyMoments::Sgd(m)) => o.commit(m),
            (AnyOptimizer::Adam(o), AnyMoments::Adam(m)) => o.commit(m),
            _ => panic!("proposal made by another kind of optimiser"),
        }
    }

    fn steps(&self) -> u64 {
        match self {
            AnyOptimizer::Sgd(o) => o.steps(),
            AnyOptimizer::Adam(o) => o.steps(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THETA: [f64; 3] = [1.0, -2.0, 0.5];
    const G1: [f64; 3] = [0.1, -0.2, 0.3];
    const G2: [f64; 3] = [0.3, 0.1, -0.2];

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    /// The vectorised f32 loop of Adam computes exactly what the generic
    /// loop computes on the same values held in f64 (both in f64), for
    /// every kind of weight decay, with zeros, huge and non-finite entries.
    #[test]
    fn adam_on_f32_parameters_equals_the_generic_loop_bit_for_bit() {
        let vals = |f: f32| -> Vec<f32> {
            let mut v: Vec<f32> = (0..37).map(|i| ((i as f32) * f).sin() * 3.0).collect();
            v.extend([0.0, -0.0, 1e30, -1e-30, f32::NAN, f32::INFINITY]);
            v
        };
        let (theta32, g32) = (ParamVec(vals(0.7)), ParamVec(vals(1.3)));
        let widen =
            |p: &ParamVec<f32>| ParamVec(p.0.iter().map(|&v| v as f64).collect::<Vec<f64>>());
        let (theta64, g64) = (widen(&theta32), widen(&g32));
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for weight_decay in [
            WeightDecay::None,
            WeightDecay::Coupled(0.1),
            WeightDecay::Decoupled(0.01),
        ] {
            let config = AdamConfig {
                weight_decay,
                ..AdamConfig::default()
            };
            let (mut a32, mut a64) = (
                Adam::with_config(theta32.len(), config),
                Adam::with_config(theta32.len(), config),
            );
            for _ in 0..3 {
                let (p32, p64) = (
                    a32.propose(&theta32, &g32, 0.01),
                    a64.propose(&theta64, &g64, 0.01),
                );
                assert_eq!(bits(&p32.step.0), bits(&p64.step.0), "{weight_decay:?}");
                assert_eq!(bits(&p32.moments.m), bits(&p64.moments.m));
                assert_eq!(bits(&p32.moments.v), bits(&p64.moments.v));
                a32.commit(p32.moments);
                a64.commit(p64.moments);
            }
        }
    }

    /// Two steps of each optimiser on θ = (1, −2, 0.5) against values
    /// computed by hand (spec test 4).
    #[test]
    fn hand_computed_updates_on_three_parameters() {
        let mut theta = ParamVec(THETA.to_vec());
        let (g1, g2) = (ParamVec(G1.to_vec()), ParamVec(G2.to_vec()));

        // SGD, lr 0.5, wd 0.1: d = g + 0.1θ = (0.2, −0.4, 0.35); p = −0.5·d.
        let mut sgd = Sgd::new().with_weight_decay(0.1);
        let p = sgd.propose(&theta, &g1, 0.5);
        assert!(close(&p.step.0, &[-0.1, 0.2, -0.175], 1e-15));
        assert!(p.moments.buffer.is_none());
        sgd.apply(&mut theta, p, 1.0);
        assert!(close(&theta.0, &[0.9, -1.8, 0.325], 1e-15));

        // Momentum 0.9, lr 0.1: b1 = g1; b2 = 0.9·g1 + g2 = (0.39, −0.08, 0.07).
        let mut theta = ParamVec(THETA.to_vec());
        let mut mom = Sgd::with_momentum(0.9);
        let p = mom.propose(&theta, &g1, 0.1);
        assert!(close(&p.step.0, &[-0.01, 0.02, -0.03], 1e-15));
        mom.apply(&mut theta, p, 1.0);
        let p = mom.propose(&theta, &g2, 0.1);
        assert!(close(&p.step.0, &[-0.039, 0.008, -0.007], 1e-15));
        mom.apply(&mut theta, p, 1.0);
        assert!(close(&theta.0, &[0.951, -1.972, 0.463], 1e-15));
        assert!(close(
            mom.moments().buffer.as_ref().unwrap(),
            &[0.39, -0.08, 0.07],
            1e-15
        ));

        // Adam, lr 0.1. Step 1: m̂ = g, v̂ = g², u = g/(|g| + ε) ≈ sign(g).
        let mut theta = ParamVec(THETA.to_vec());
        let mut adam = Adam::new(3);
        let p = adam.propose(&theta, &g1, 0.1);
        let s = |g: f64| 0.1 * g / (g.abs() + 1e-8);
        assert!(close(&p.step.0, &[-s(0.1), -s(-0.2), -s(0.3)], 1e-15));
        adam.apply(&mut theta, p, 1.0);
        // Step 2, coordinate 0: m = 0.09·0.1 + 0.1·0.3 = 0.039, m̂ = 0.039/0.19;
        // v = 0.999·0.001·0.01 + 0.001·0.09 = 9.999e-5, v̂ = v/(1 − 0.999²).
        let m_hat = [
            0.039 / 0.19,
            (0.09 * -0.2 + 0.1 * 0.1) / 0.19,
            (0.09 * 0.3 + 0.1 * -0.2) / 0.19,
        ];
        let c2 = 1.0 - 0.999f64 * 0.999;
        let v_hat = [
            (0.999e-3 * 0.01 + 1e-3 * 0.09) / c2,
            (0.999e-3 * 0.04 + 1e-3 * 0.01) / c2,
            (0.999e-3 * 0.09 + 1e-3 * 0.04) / c2,
        ];
        let p = adam.propose(&theta, &g2, 0.1);
        let expect: Vec<f64> = (0..3)
            .map(|i| -0.1 * m_hat[i] / (v_hat[i].sqrt() + 1e-8))
            .collect();
        assert!(
            close(&p.step.0, &expect, 1e-14),
            "{:?} vs {expect:?}",
            p.step.0
        );
        // Numerically: coordinate 0 is −0.1·0.205263/0.223651 ≈ −0.0917781.
        assert!((p.step.0[0] + 0.0917781).abs() < 1e-7, "{}", p.step.0[0]);
        adam.apply(&mut theta, p, 1.0);
        assert_eq!(adam.steps(), 2);
    }

    #[test]
    fn decoupled_decay_is_part_of_the_step_and_coupled_enters_the_moments() {
        let theta = ParamVec(THETA.to_vec());
        let g = ParamVec(G1.to_vec());
        let plain = Adam::new(3).propose(&theta, &g, 0.1);
        let cfg = |wd| AdamConfig {
            weight_decay: wd,
            ..AdamConfig::default()
        };
        let decoupled =
            Adam::with_config(3, cfg(WeightDecay::Decoupled(0.01))).propose(&theta, &g, 0.1);
        for ((d, p), t) in decoupled.step.0.iter().zip(&plain.step.0).zip(THETA) {
            assert!((d - (p - 0.1 * 0.01 * t)).abs() < 1e-15);
        }
        assert_eq!(decoupled.moments, plain.moments);
        let coupled =
            Adam::with_config(3, cfg(WeightDecay::Coupled(0.01))).propose(&theta, &g, 0.1);
        assert!((coupled.moments.m[0] - 0.1 * (0.1 + 0.01)).abs() < 1e-15);
    }

    /// AdamW as PyTorch steps it: the proposal is Adam's plain −lr·u, and
    /// applying it at scale s decays θ by s·lr·wd first (spec C3, §6.8).
    #[test]
    fn adamw_keeps_the_decay_out_of_the_direction_and_scales_it_with_the_step() {
        let theta = ParamVec(THETA.to_vec());
        let g = ParamVec(G1.to_vec());
        let plain = Adam::new(3).propose(&theta, &g, 0.1);
        let cfg = AdamConfig {
            weight_decay: WeightDecay::AdamW(0.01),
            ..AdamConfig::default()
        };
        let mut adamw = Adam::with_config(3, cfg);
        let p = adamw.propose(&theta, &g, 0.1);
        assert_eq!(p.step, plain.step);
        assert_eq!(p.moments, plain.moments);
        assert_eq!(p.decay, 0.01);
        let mut t = theta.clone();
        adamw.apply(&mut t, p.clone(), 0.5);
        for ((got, theta), p) in t.0.iter().zip(THETA).zip(&plain.step.0) {
            assert_eq!(*got, theta * (1.0 - 0.5 * 0.1 * 0.01) + 0.5 * p);
        }
        // Scale 1 is torch.optim.AdamW's step: θ(1 − lr·wd) − lr·u.
        let mut t = theta.clone();
        Adam::with_config(3, cfg).apply(&mut t, p, 1.0);
        for ((got, theta), p) in t.0.iter().zip(THETA).zip(&plain.step.0) {
            let u = -p / 0.1;
            assert!((got - (theta * (1.0 - 0.1 * 0.01) - 0.1 * u)).abs() < 1e-15);
        }
        let yaml: OptimizerConfig =
            serde_yaml::from_str("kind: adam\nweight_decay: {adamw: 0.0001}\n").unwrap();
        assert_eq!(
            yaml,
            OptimizerConfig::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: WeightDecay::AdamW(1e-4)
            }
        );
    }

    #[test]
    fn propose_does_not_mutate_and_any_optimizer_dispatches() {
        let theta = ParamVec(THETA.to_vec());
        let g = ParamVec(G1.to_vec());
        let cfg: OptimizerConfig = serde_yaml::from_str("kind: sgd\nmomentum: 0.9\n").unwrap();
        let mut opt = cfg.build(3);
        let before = opt.clone();
        let p = opt.propose(&theta, &g, 0.1);
        assert_eq!(opt, before);
        let mut t = theta.clone();
        opt.apply(&mut t, p, 0.5);
        assert_eq!(opt.steps(), 1);
        assert!(close(&t.0, &[0.995, -1.99, 0.485], 1e-15));
        let adam: OptimizerConfig =
            serde_yaml::from_str("kind: adam\nweight_decay: {decoupled: 0.0001}\n").unwrap();
        assert!(matches!(adam.build(3), AnyOptimizer::Adam(_)));
        assert!(serde_yaml::from_str::<OptimizerConfig>("kind: adam\nbeta: 0.9\n").is_err());
    }

    #[test]
    #[should_panic(expected = "another kind of optimiser")]
    fn mismatched_moments_panic() {
        let theta = ParamVec(THETA.to_vec());
        let g = ParamVec(G1.to_vec());
        let p = AnyOptimizer::Adam(Adam::new(3)).propose(&theta, &g, 0.1);
        AnyOptimizer::Sgd(Sgd::new()).apply(&mut theta.clone(), p, 1.0);
    }
}
