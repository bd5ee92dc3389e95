//! A model: a list of layers, its parameter layout, and the operations the
//! experiments need (logits, loss and gradient, exact JVP, FD JVP).

use crate::param::init_values;
use crate::{cast, Cache, Dev, Layer, Mode, ParamSpec, ParamVec, Plain, Probe, Real, Traced};
use dfdx::prelude::*;
use rand::SeedableRng;
use std::sync::atomic::{AtomicU64, Ordering};

/// Forward passes through any model of this process (plain or taped).
static MODEL_PASSES: AtomicU64 = AtomicU64::new(0);

/// Number of forward passes (plain, or taped for a gradient) any [`Model`]
/// has run in this process. A cheap relaxed counter: it lets a test show
/// that re-rendering figures from stored results evaluates no model.
pub fn model_passes() -> u64 {
    MODEL_PASSES.load(Ordering::Relaxed)
}

/// Trainable parameters plus non-trainable buffers (BatchNorm running statistics).
///
/// A snapshot is a clone (`let saved = state.clone()`); restoring is an
/// assignment (`state = saved`): the whole trained state is these two vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct State<E> {
    /// θ, flattened in layer order.
    pub params: ParamVec<E>,
    /// Running statistics, flattened in layer order.
    pub buffers: Vec<E>,
}

/// Inputs with labels, on the device.
#[derive(Debug, Clone)]
pub struct Batch<E: Real> {
    /// Inputs, (B, input features).
    pub x: Plain<E>,
    /// Labels in 0..classes.
    pub labels: Vec<usize>,
    /// One-hot labels, (B, classes).
    pub onehot: Plain<E>,
}

impl<E: Real> Batch<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    /// A batch from row-major inputs (B × features) and labels.
    pub fn new(
        dev: &Dev,
        inputs: Vec<E>,
        features: usize,
        labels: Vec<usize>,
        classes: usize,
    ) -> Self {
        let b = labels.len();
        assert_eq!(inputs.len(), b * features, "inputs are not B x features");
        let mut onehot = vec![E::zero(); b * classes];
        for (i, &y) in labels.iter().enumerate() {
            onehot[i * classes + y] = E::one();
        }
        Batch {
            x: dev.tensor_from_vec(inputs, (b, features)),
            labels,
            onehot: dev.tensor_from_vec(onehot, (b, classes)),
        }
    }

    /// The digits samples at `indices` (pixels already scaled to [0, 1]).
    pub fn from_digits(dev: &Dev, digits: &data::Digits, indices: &[usize]) -> Self {
        let mut x = Vec::with_capacity(indices.len() * data::N_PIXELS);
        for &i in indices {
            x.extend(digits.sample(i).iter().map(|&v| cast::<E>(v)));
        }
        let labels = indices.iter().map(|&i| digits.labels[i] as usize).collect();
        Batch::new(dev, x, data::N_PIXELS, labels, data::N_CLASSES)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// What one training-step forward/backward produces.
#[derive(Debug)]
pub struct StepOutput<E: Real> {
    /// Mean cross-entropy of the (tempered) logits.
    pub loss: f64,
    /// Untempered logits, (B, classes).
    pub logits: Plain<E>,
    /// ∇θ of the mean loss.
    pub grad: ParamVec<E>,
    /// The forward's record, for a JVP at the same θ and batch.
    pub cache: Cache<E>,
}

/// Logits and their exact directional derivatives.
#[derive(Debug)]
pub struct Jvp<E: Real> {
    /// z, (B, classes).
    pub logits: Plain<E>,
    /// a = J_z v, (B, classes).
    pub slopes: Plain<E>,
    /// Internal tangents reported by probed layers.
    pub probes: Vec<Probe<E>>,
}

/// Which implementation runs a model's passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// dfdx tensors and tape (f32 or f64; the reference every check uses).
    #[default]
    Dfdx,
    /// The hand-written f32 path of [`crate::fast`]: same layers, same θ
    /// layout, several times faster at the paper's sizes. Its tangent pass
    /// reports no internal probes (transformer-radii's ρ_attn/ρ_ffn need dfdx).
    Fast,
}

/// A list of layers with its parameter layout.
pub struct Model<E: Real> {
    /// Registry name, e.g. "mlp".
    pub name: String,
    /// Features of one input row (64 for digits).
    pub input_features: usize,
    /// Number of classes.
    pub classes: usize,
    /// Softmax temperature T: the loss is CE(z/T); logits stay untempered.
    pub temperature: f64,
    layers: Vec<Box<dyn Layer<E>>>,
    /// Per layer: (offset into θ, spec) of each tensor.
    layout: Vec<Vec<(usize, ParamSpec)>>,
    /// Per layer: range of its buffers.
    buffer_ranges: Vec<std::ops::Range<usize>>,
    num_params: usize,
    dev: Dev,
    /// (from, to) ranges of θ: `init` copies `θ[from]` into `θ[to]` (see [`Model::tie_init`]).
    init_ties: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    /// The fast path, when [`Backend::Fast`] was chosen (f32 only).
    fast: Option<crate::fast::FastModel>,
}

impl<E: Real> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    /// Assemble a model from layers, in order.
    pub fn new(
        name: &str,
        input_features: usize,
        classes: usize,
        layers: Vec<Box<dyn Layer<E>>>,
    ) -> Self {
        let mut offset = 0;
        let mut boff = 0;
        let mut layout = Vec::new();
        let mut buffer_ranges = Vec::new();
        for layer in &layers {
            let mut specs = Vec::new();
            for spec in layer.params() {
                let n = spec.numel();
                specs.push((offset, spec));
                offset += n;
            }
            layout.push(specs);
            let nb = layer.init_state().len();
            buffer_ranges.push(boff..boff + nb);
            boff += nb;
        }
        Model {
            name: name.into(),
            input_features,
            classes,
            temperature: 1.0,
            layers,
            layout,
            buffer_ranges,
            num_params: offset,
            dev: Dev::default(),
            init_ties: Vec::new(),
            fast: None,
        }
    }

    /// The same model running on `backend`. [`Backend::Fast`] needs f32 and
    /// a fast path in every layer; the error names the first layer without.
    pub fn with_backend(mut self, backend: Backend) -> anyhow::Result<Self> {
        self.fast = match backend {
            Backend::Dfdx => None,
            Backend::Fast => {
                anyhow::ensure!(
                    std::any::TypeId::of::<E>() == std::any::TypeId::of::<f32>(),
                    "{}: the fast backend runs in f32 only",
                    self.name
                );
                let mut layers = Vec::with_capacity(self.layers.len());
                for (i, layer) in self.layers.iter().enumerate() {
                    let fast = layer.fast().ok_or_else(|| {
                        anyhow::anyhow!(
                            "{}: layer {i} ({}) has no fast path; use backend dfdx",
                            self.name,
                            layer.describe()
                        )
                    })?;
                    layers.push(fast);
                }
                let params = self
                    .layout
                    .iter()
                    .map(|specs| specs.iter().map(|(o, s)| *o..*o + s.numel()).collect())
                    .collect();
                Some(crate::fast::FastModel::new(
                    layers,
                    params,
                    self.buffer_ranges.clone(),
                ))
            }
        };
        Ok(self)
    }

    /// The backend running this model's passes.
    pub fn backend(&self) -> Backend {
        if self.fast.is_some() {
            Backend::Fast
        } else {
            Backend::Dfdx
        }
    }

    /// True if every layer has a fast f32 path ([`Backend::Fast`] would work in f32).
    pub fn has_fast_path(&self) -> bool {
        self.layers.iter().all(|l| l.fast().is_some())
    }

    /// Set the softmax temperature used by the loss.
    pub fn with_temperature(mut self, temperature: f64) -> Self {
        self.temperature = temperature;
        self
    }

    /// The device tensors live on.
    pub fn device(&self) -> &Dev {
        &self.dev
    }

    /// Total number of trainable scalars.
    pub fn num_params(&self) -> usize {
        self.num_params
    }

    /// The range of θ held by the contiguous layers `layers` (indices into
    /// [`Model::layers`]).
    pub fn param_range(&self, layers: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let start = self.layout[..layers.start]
            .iter()
            .flatten()
            .map(|(_, s)| s.numel())
            .sum::<usize>();
        let len = self.layout[layers]
            .iter()
            .flatten()
            .map(|(_, s)| s.numel())
            .sum::<usize>();
        start..start + len
    }

    /// Start `θ[to]` with the values drawn for `θ[from]` (applied by
    /// [`Model::init`] after drawing, in the order given): PyTorch's
    /// `TransformerEncoder` deep-copies one layer, so its blocks start
    /// identical. The two ranges must hold tensors of the same shapes.
    pub fn tie_init(mut self, from: std::ops::Range<usize>, to: std::ops::Range<usize>) -> Self {
        assert_eq!(
            from.len(),
            to.len(),
            "tie_init: ranges of different lengths"
        );
        assert!(
            to.end <= self.num_params && from.end <= self.num_params,
            "tie_init: range outside θ"
        );
        let shapes = |r: &std::ops::Range<usize>| {
            self.layout
                .iter()
                .flatten()
                .filter(|(o, _)| r.contains(o))
                .map(|(_, s)| s.shape)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shapes(&from),
            shapes(&to),
            "tie_init: the ranges hold different tensors"
        );
        self.init_ties.push((from, to));
        self
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Box<dyn Layer<E>>] {
        &self.layers
    }

    /// Every tensor: (layer index, layer description, offset into θ, spec).
    pub fn layout(&self) -> Vec<(usize, String, usize, ParamSpec)> {
        self.layout
            .iter()
            .enumerate()
            .flat_map(|(i, specs)| {
                specs
                    .iter()
                    .map(move |(o, s)| (i, self.layers[i].describe(), *o, s.clone()))
            })
            .collect()
    }

    /// Every layer's share of the non-trainable buffers: (layer index, layer
    /// description, range into [`State::buffers`]), in layer order; layers
    /// without buffers are left out. A layer's share is its
    /// [`Layer::init_state`] list (BatchNorm: running mean, then variance).
    pub fn buffer_layout(&self) -> Vec<(usize, String, std::ops::Range<usize>)> {
        self.buffer_ranges
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .map(|(i, r)| (i, self.layers[i].describe(), r.clone()))
            .collect()
    }

    /// Total number of buffer scalars (length of [`State::buffers`]).
    pub fn num_buffers(&self) -> usize {
        self.buffer_ranges.last().map_or(0, |r| r.end)
    }

    /// Fresh parameters and buffers from one seeded RNG (tensors in layer order).
    pub fn init(&self, seed: u64) -> State<E> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut params = Vec::with_capacity(self.num_params);
        for specs in &self.layout {
            for (_, spec) in specs {
                params.extend(init_values(spec, &mut rng).into_iter().map(cast::<E>));
            }
        }
        let buffers = self
            .layers
            .iter()
            .flat_map(|l| l.init_state())
            .map(cast::<E>)
            .collect();
        for (from, to) in &self.init_ties {
            params.copy_within(from.clone(), to.start);
        }
        State {
            params: ParamVec(params),
            buffers,
        }
    }

    /// θ (or a direction) as per-layer tensors.
    fn tensors(&self, flat: &ParamVec<E>) -> Vec<Vec<Plain<E>>> {
        assert_eq!(
            flat.len(),
            self.num_params,
            "parameter vector of another model"
        );
        self.layout
            .iter()
            .map(|specs| {
                specs
                    .iter()
                    .map(|(o, s)| {
                        self.dev
                            .tensor_from_vec(flat.0[*o..*o + s.numel()].to_vec(), s.shape)
                    })
                    .collect()
            })
            .collect()
    }

    fn check_input(&self, x: &Plain<E>) {
        assert_eq!(
            x.shape().1,
            self.input_features,
            "{}: inputs have {} features, expected {}",
            self.name,
            x.shape().1,
            self.input_features
        );
    }

    /// Plain forward: logits and the record for a tangent pass. Train mode
    /// updates BatchNorm running statistics in `state`.
    pub fn forward(&self, state: &mut State<E>, x: &Plain<E>, mode: Mode) -> (Plain<E>, Cache<E>) {
        self.check_input(x);
        MODEL_PASSES.fetch_add(1, Ordering::Relaxed);
        if let Some(fast) = &self.fast {
            let (z, cache) = fast_forward(fast, state, x, mode);
            return (z, cache);
        }
        let p = self.tensors(&state.params);
        let mut cache = Cache::new();
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(
                &p[i],
                h,
                &mut state.buffers[self.buffer_ranges[i].clone()],
                mode,
                &mut cache,
            );
        }
        cache.set_params(p);
        (h, cache)
    }

    /// Eval-mode logits without touching `state`.
    pub fn logits(&self, state: &State<E>, x: &Plain<E>) -> Plain<E> {
        if let Some(fast) = &self.fast {
            self.check_input(x);
            MODEL_PASSES.fetch_add(1, Ordering::Relaxed);
            let s32: &State<f32> = (state as &dyn std::any::Any)
                .downcast_ref()
                .expect("fast path is f32");
            let mut buffers = s32.buffers.clone();
            let z = fast.logits(&s32.params.0, &mut buffers, to_mat(x), Mode::Eval);
            let t: Plain<f32> = self.dev.tensor_from_vec(z.data, (z.rows, z.cols));
            return downcast_owned(t);
        }
        let mut s = state.clone();
        self.forward(&mut s, x, Mode::Eval).0
    }

    /// Eval-mode logits at θ + τ·v for each τ of `taus` (a one-step sweep
    /// along a direction). The fast backend runs an affine first layer once
    /// for the whole line ([`crate::fast::FastModel::logits_on_line`]); the
    /// result equals `logits` at each moved θ up to f32 rounding.
    pub fn logits_on_line(
        &self,
        state: &State<E>,
        x: &Plain<E>,
        direction: &ParamVec<E>,
        taus: &[f64],
    ) -> Vec<Plain<E>> {
        if let Some(fast) = &self.fast {
            self.check_input(x);
            MODEL_PASSES.fetch_add(taus.len() as u64, Ordering::Relaxed);
            let s32: &State<f32> = (state as &dyn std::any::Any)
                .downcast_ref()
                .expect("fast path is f32");
            let d32: &ParamVec<f32> = (direction as &dyn std::any::Any)
                .downcast_ref()
                .expect("fast path is f32");
            return fast
                .logits_on_line(
                    &s32.params.0,
                    &s32.buffers,
                    &d32.0,
                    to_mat(x),
                    taus,
                    Mode::Eval,
                )
                .into_iter()
                .map(|z| {
                    let t: Plain<f32> = self.dev.tensor_from_vec(z.data, (z.rows, z.cols));
                    downcast_owned(t)
                })
                .collect();
        }
        taus.iter()
            .map(|&tau| {
                let mut moved = state.clone();
                moved.params.axpy(tau, direction);
                self.logits(&moved, x)
            })
            .collect()
    }

    fn tempered_ce<T: crate::layer::TapeOps<E>>(
        &self,
        logits: Tensor<(usize, usize), E, Dev, T>,
        onehot: &Plain<E>,
    ) -> Tensor<Rank0, E, Dev, T> {
        let scaled = logits * cast::<E>(1.0 / self.temperature);
        cross_entropy_with_logits_loss(scaled, onehot.clone())
    }

    /// Mean (tempered) cross-entropy without gradient.
    pub fn loss(&self, state: &State<E>, batch: &Batch<E>) -> f64 {
        self.loss_of_logits(self.logits(state, &batch.x), batch)
    }

    /// Mean (tempered) cross-entropy of logits already computed for `batch`.
    pub fn loss_of_logits(&self, logits: Plain<E>, batch: &Batch<E>) -> f64 {
        self.tempered_ce(logits, &batch.onehot)
            .array()
            .to_f64()
            .unwrap()
    }

    /// Forward with a tape, loss, backward: the gradient of the mean loss.
    /// The returned cache lets [`Model::tangent`] reuse this forward.
    pub fn loss_and_grad(
        &self,
        state: &mut State<E>,
        batch: &Batch<E>,
        mode: Mode,
    ) -> StepOutput<E> {
        self.check_input(&batch.x);
        MODEL_PASSES.fetch_add(1, Ordering::Relaxed);
        if let Some(fast) = &self.fast {
            let (logits, mut cache) = fast_forward(fast, state, &batch.x, mode);
            let z = to_mat(&logits);
            let (loss, dz) = crate::fast::tempered_ce_and_grad(&z, &batch.labels, self.temperature);
            let (fc, theta) = cache.fast.as_ref().expect("fast forward records");
            let grad = fast.backward(theta, fc, dz);
            cache.rewind();
            return StepOutput {
                loss,
                logits,
                grad: ParamVec(downcast_vec(grad)),
                cache,
            };
        }
        let p = self.tensors(&state.params);
        let mut cache = Cache::new();
        let mut h: Traced<E> = batch.x.retaped::<OwnedTape<E, Dev>>();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward_traced(
                &p[i],
                h,
                &mut state.buffers[self.buffer_ranges[i].clone()],
                mode,
                &mut cache,
            );
        }
        let logits = h.retaped::<NoneTape>();
        let loss = self.tempered_ce(h, &batch.onehot);
        let loss_value = loss.array().to_f64().unwrap();
        let grads = loss.backward();
        let mut grad = Vec::with_capacity(self.num_params);
        for tensors in &p {
            for t in tensors {
                grad.extend(grads.get(t).as_vec());
            }
        }
        cache.set_params(p);
        StepOutput {
            loss: loss_value,
            logits,
            grad: ParamVec(grad),
            cache,
        }
    }

    /// Tangent pass over a recorded forward: a = J_z v at the θ and inputs of
    /// that forward (`mode` must match the forward's).
    pub fn tangent(
        &self,
        state: &State<E>,
        cache: &mut Cache<E>,
        direction: &ParamVec<E>,
        mode: Mode,
    ) -> (Plain<E>, Vec<Probe<E>>) {
        if let Some((fc, theta)) = &cache.fast {
            let fast = self
                .fast
                .as_ref()
                .expect("a fast-path cache is read by a fast-path model");
            let d32: &ParamVec<f32> = (direction as &dyn std::any::Any)
                .downcast_ref()
                .expect("fast path is f32");
            let a = fast.tangent(theta, fc, &d32.0);
            let t: Plain<f32> = self.dev.tensor_from_vec(a.data, (a.rows, a.cols));
            return (downcast_owned(t), Vec::new());
        }
        // The forward's own parameter tensors when the cache holds them.
        let p = match cache.params() {
            Some(p) => p.clone(),
            None => self.tensors(&state.params),
        };
        let dp = self.tensors(direction);
        cache.rewind();
        let mut probes = Vec::new();
        let mut dh: Option<Plain<E>> = None;
        for (i, layer) in self.layers.iter().enumerate() {
            dh = Some(layer.tangent(&p[i], &dp[i], dh, mode, cache, &mut probes));
        }
        (dh.expect("a model has at least one layer"), probes)
    }

    /// Exact JVP of the logits along `direction` (an eval-mode forward plus
    /// its tangent pass; BatchNorm uses running statistics).
    ///
    /// Why eval mode: the spec computes every radius with the model in eval
    /// mode unless an experiment says otherwise, so ρa describes the function
    /// the model computes on a sample (fixed running statistics), not one
    /// that depends on the rest of the batch. The cached path
    /// ([`Model::tangent`] after [`Model::loss_and_grad`] in `Mode::Train`)
    /// instead differentiates exactly the function the training step
    /// evaluated, batch statistics included; the two agree for models
    /// without BatchNorm.
    pub fn jvp(&self, state: &State<E>, x: &Plain<E>, direction: &ParamVec<E>) -> Jvp<E> {
        let mut s = state.clone();
        let (logits, mut cache) = self.forward(&mut s, x, Mode::Eval);
        let (slopes, probes) = self.tangent(state, &mut cache, direction, Mode::Eval);
        Jvp {
            logits,
            slopes,
            probes,
        }
    }

    /// Forward finite differences (z(θ + εv) − z(θ)) / ε against logits
    /// `base` = z(θ) that the caller already has (the paper's estimator,
    /// ε = 1e-4 in float32): one extra forward, in `mode`, on a copy of the
    /// state so BatchNorm running statistics are not disturbed.
    pub fn fd_jvp_forward(
        &self,
        state: &State<E>,
        x: &Plain<E>,
        direction: &ParamVec<E>,
        eps: f64,
        base: &Plain<E>,
        mode: Mode,
    ) -> Plain<E> {
        let mut moved = state.clone();
        moved.params.axpy(eps, direction);
        (self.forward(&mut moved, x, mode).0 - base.clone()) * cast::<E>(1.0 / eps)
    }

    /// Central finite differences (z(θ + εv) − z(θ − εv)) / 2ε in eval mode:
    /// the paper's cheaper estimator, kept as an option.
    pub fn fd_jvp(
        &self,
        state: &State<E>,
        x: &Plain<E>,
        direction: &ParamVec<E>,
        eps: f64,
    ) -> Plain<E> {
        let mut plus = state.clone();
        plus.params.axpy(eps, direction);
        let mut minus = state.clone();
        minus.params.axpy(-eps, direction);
        (self.logits(&plus, x) - self.logits(&minus, x)) * cast::<E>(0.5 / eps)
    }
}

/// Row-wise argmax of a (rows, classes) tensor.
pub fn argmax_rows<E: Real>(t: &Plain<E>) -> Vec<usize>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let k = t.shape().1;
    t.as_vec()
        .chunks_exact(k)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, E::neg_infinity()), |(bi, bv), (i, &v)| {
                    if v > bv {
                        (i, v)
                    } else {
                        (bi, bv)
                    }
                })
                .0
        })
        .collect()
}

/// Fraction of rows whose argmax equals the label.
pub fn accuracy<E: Real>(logits: &Plain<E>, labels: &[usize]) -> f64
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let pred = argmax_rows(logits);
    pred.iter().zip(labels).filter(|(p, y)| p == y).count() as f64 / labels.len().max(1) as f64
}

/// `x` as the type it is at run time (the fast path is f32; `E` is checked
/// by [`Model::with_backend`]).
fn downcast_owned<A: 'static, B: 'static>(x: A) -> B {
    *(Box::new(x) as Box<dyn std::any::Any>)
        .downcast::<B>()
        .expect("fast path is f32")
}

fn downcast_vec<E: Real>(v: Vec<f32>) -> Vec<E> {
    downcast_owned(v)
}

fn to_mat<E: Real>(t: &Plain<E>) -> crate::fast::Mat
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let t32: &Plain<f32> = (t as &dyn std::any::Any)
        .downcast_ref()
        .expect("fast path is f32");
    let (rows, cols) = *t32.shape();
    crate::fast::Mat::new(rows, cols, t32.as_vec())
}

/// One fast forward: logits as a tensor and a cache holding the record.
fn fast_forward<E: Real>(
    fast: &crate::fast::FastModel,
    state: &mut State<E>,
    x: &Plain<E>,
    mode: Mode,
) -> (Plain<E>, Cache<E>)
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let s32: &mut State<f32> = (state as &mut dyn std::any::Any)
        .downcast_mut()
        .expect("fast path is f32");
    let (z, fc) = fast.forward(&s32.params.0, &mut s32.buffers, to_mat(x), mode);
    let logits: Plain<f32> = x.device().tensor_from_vec(z.data, (z.rows, z.cols));
    let mut cache = Cache::new();
    cache.fast = Some((fc, s32.params.0.clone()));
    (downcast_owned(logits), cache)
}
