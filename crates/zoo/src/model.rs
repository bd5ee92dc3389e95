//! A model: a list of layers, its parameter layout, and the operations the
//! experiments need (logits, loss and gradient, exact JVP, FD JVP).

use crate::fast::FastProbes;
use crate::param::init_values;
use crate::{
    cast, to_f64, Cache, Dev, Layer, Matrix, Mode, ParamSpec, ParamVec, Plain, Probe, ProbeKind,
    Real, Traced,
};
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

/// Inputs with labels.
///
/// The dfdx backend converts the inputs to tensors once per batch (kept
/// inside, out of the public API).
#[derive(Debug, Clone)]
pub struct Batch<E: Real> {
    /// Inputs, (B, input features).
    pub x: Matrix<E>,
    /// Labels in 0..classes.
    pub labels: Vec<usize>,
    /// Number of classes (the width of the one-hot labels).
    pub classes: usize,
    /// The inputs and one-hot labels as dfdx tensors, made on first use.
    tensors: std::sync::OnceLock<(Plain<E>, Plain<E>)>,
}

impl<E: Real> Batch<E> {
    /// A batch from row-major inputs (B × features) and labels in 0..classes.
    ///
    /// # Panics
    /// If `inputs` is not B × features, or a label is not below `classes`.
    pub fn new(inputs: Vec<E>, features: usize, labels: Vec<usize>, classes: usize) -> Self {
        let b = labels.len();
        assert_eq!(inputs.len(), b * features, "inputs are not B x features");
        assert!(
            labels.iter().all(|&y| y < classes),
            "a label is not below {classes}"
        );
        Batch {
            x: Matrix::new(b, features, inputs),
            labels,
            classes,
            tensors: std::sync::OnceLock::new(),
        }
    }

    /// The digits samples at `indices` (pixels already scaled to [0, 1]).
    pub fn from_digits(digits: &data::Digits, indices: &[usize]) -> Self {
        let mut x = Vec::with_capacity(indices.len() * data::N_PIXELS);
        for &i in indices {
            x.extend(digits.sample(i).iter().map(|&v| cast::<E>(v)));
        }
        let labels = indices.iter().map(|&i| digits.labels[i] as usize).collect();
        Batch::new(x, data::N_PIXELS, labels, data::N_CLASSES)
    }

    /// The samples at `indices` of this batch, in that order.
    pub fn subset(&self, indices: &[usize]) -> Self {
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        Batch::new(
            self.x.select_rows(indices).data,
            self.x.cols,
            labels,
            self.classes,
        )
    }

    /// The same batch in another element type.
    pub fn cast<F: Real>(&self) -> Batch<F> {
        Batch::new(
            self.x.data.iter().map(|&v| cast::<F>(to_f64(v))).collect(),
            self.x.cols,
            self.labels.clone(),
            self.classes,
        )
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

impl<E: Real> Batch<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    /// The inputs and one-hot labels on the dfdx device.
    fn tensors(&self, dev: &Dev) -> &(Plain<E>, Plain<E>) {
        self.tensors.get_or_init(|| {
            let (b, k) = (self.len(), self.classes);
            let mut onehot = vec![E::zero(); b * k];
            for (i, &y) in self.labels.iter().enumerate() {
                onehot[i * k + y] = E::one();
            }
            (to_tensor(dev, &self.x), dev.tensor_from_vec(onehot, (b, k)))
        })
    }
}

/// What one training-step forward/backward produces.
#[derive(Debug)]
pub struct StepOutput<E: Real> {
    /// Mean cross-entropy of the (tempered) logits.
    pub loss: f64,
    /// Untempered logits, (B, classes).
    pub logits: Matrix<E>,
    /// ∇θ of the mean loss.
    pub grad: ParamVec<E>,
    /// The forward's record, for a JVP at the same θ and batch.
    pub cache: Cache<E>,
}

/// Logits and their exact directional derivatives.
#[derive(Debug)]
pub struct Jvp<E: Real> {
    /// z, (B, classes).
    pub logits: Matrix<E>,
    /// a = J_z v, (B, classes).
    pub slopes: Matrix<E>,
    /// Internal tangents reported by probed layers (empty unless asked
    /// for: [`Model::jvp_probed`], [`Model::tangent_probed`]).
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
    /// layout and the same probes, several times faster at the paper's sizes.
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
    /// What runs the passes, chosen once when the model is built.
    engine: Engine,
}

/// The implementation behind a [`Model`]'s passes ([`Backend`] plus what
/// it needs). Chosen by [`Model::with_backend`], which refuses a model that
/// cannot run on it; no pass decides it again.
enum Engine {
    /// The layers' dfdx passes.
    Dfdx,
    /// The layers' fast f32 passes, assembled and form-checked.
    Fast(crate::fast::FastModel),
}

impl<E: Real> Model<E> {
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
            engine: Engine::Dfdx,
        }
    }

    /// The same model running on `backend`. [`Backend::Fast`] needs f32 and
    /// a fast path in every layer, each able to read what the layer before
    /// it produces; the error names the first layer that cannot.
    ///
    /// # Errors
    /// The element type is not f32, or a layer has no fast path, or a
    /// layer's fast path cannot read its input's form.
    pub fn with_backend(mut self, backend: Backend) -> anyhow::Result<Self> {
        self.engine = match backend {
            Backend::Dfdx => Engine::Dfdx,
            Backend::Fast => Engine::Fast(self.fast_model()?),
        };
        Ok(self)
    }

    /// The layers' fast paths, assembled and form-checked.
    fn fast_model(&self) -> anyhow::Result<crate::fast::FastModel> {
        anyhow::ensure!(
            E::IS_F32,
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
        crate::fast::FastModel::new(
            layers,
            params,
            self.buffer_ranges.clone(),
            self.input_features,
        )
        .map_err(|(i, why)| {
            anyhow::anyhow!(
                "{}: layer {i} ({}) cannot run on the fast backend: {why}",
                self.name,
                self.layers[i].describe()
            )
        })
    }

    /// The backend running this model's passes.
    pub fn backend(&self) -> Backend {
        match self.engine {
            Engine::Dfdx => Backend::Dfdx,
            Engine::Fast(_) => Backend::Fast,
        }
    }

    /// Ok if [`Model::with_backend`]`(Backend::Fast)` would succeed.
    ///
    /// # Errors
    /// Why it would not (the first layer that cannot run fast, and why).
    pub fn check_fast_path(&self) -> anyhow::Result<()> {
        self.fast_model().map(|_| ())
    }

    /// True if [`Model::with_backend`]`(Backend::Fast)` would succeed.
    pub fn has_fast_path(&self) -> bool {
        self.check_fast_path().is_ok()
    }

    /// Set the softmax temperature used by the loss.
    pub fn with_temperature(mut self, temperature: f64) -> Self {
        self.temperature = temperature;
        self
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

    fn check_input(&self, x: &Matrix<E>) {
        assert_eq!(
            x.cols, self.input_features,
            "{}: inputs have {} features, expected {}",
            self.name, x.cols, self.input_features
        );
    }

    /// Plain forward: logits and the record for a tangent pass. Train mode
    /// updates BatchNorm running statistics in `state`.
    pub fn forward(
        &self,
        state: &mut State<E>,
        x: &Matrix<E>,
        mode: Mode,
    ) -> (Matrix<E>, Cache<E>) {
        self.check_input(x);
        MODEL_PASSES.fetch_add(1, Ordering::Relaxed);
        match &self.engine {
            Engine::Fast(fast) => fast_forward(fast, state, x, mode),
            Engine::Dfdx => E::dfdx().forward(self, state, x, mode),
        }
    }

    /// The logits of [`Model::forward`] without its cache: `state`'s
    /// buffers move as they do there (BatchNorm running statistics in train
    /// mode), but the fast backend records nothing for a backward or tangent
    /// pass, so a forward that only needs `z` (a finite difference) costs
    /// one forward and no more.
    ///
    /// Shapes: `x` is (N, input width), the result (N, classes).
    pub fn forward_logits(&self, state: &mut State<E>, x: &Matrix<E>, mode: Mode) -> Matrix<E> {
        match &self.engine {
            Engine::Fast(fast) => {
                self.check_input(x);
                MODEL_PASSES.fetch_add(1, Ordering::Relaxed);
                let theta = E::to_f32_slice(&state.params.0);
                let mut buffers = E::to_f32_slice(&state.buffers).into_owned();
                let z = fast.logits(&theta, &mut buffers, to_mat(x), mode);
                if !buffers.is_empty() {
                    state.buffers = E::from_f32_vec(buffers);
                }
                from_mat(z)
            }
            Engine::Dfdx => self.forward(state, x, mode).0,
        }
    }

    /// Eval-mode logits without touching `state`.
    pub fn logits(&self, state: &State<E>, x: &Matrix<E>) -> Matrix<E> {
        match &self.engine {
            Engine::Fast(fast) => {
                self.check_input(x);
                MODEL_PASSES.fetch_add(1, Ordering::Relaxed);
                let mut buffers = E::to_f32_slice(&state.buffers).into_owned();
                let theta = E::to_f32_slice(&state.params.0);
                from_mat(fast.logits(&theta, &mut buffers, to_mat(x), Mode::Eval))
            }
            Engine::Dfdx => {
                let mut s = state.clone();
                self.forward(&mut s, x, Mode::Eval).0
            }
        }
    }

    /// Eval-mode logits at θ + τ·v for each τ of `taus` (a one-step sweep
    /// along a direction). The fast backend runs an affine first layer once
    /// for the whole line ([`crate::fast::FastModel::logits_on_line`]); the
    /// result equals `logits` at each moved θ up to f32 rounding.
    pub fn logits_on_line(
        &self,
        state: &State<E>,
        x: &Matrix<E>,
        direction: &ParamVec<E>,
        taus: &[f64],
    ) -> Vec<Matrix<E>> {
        match &self.engine {
            Engine::Fast(fast) => {
                self.check_input(x);
                MODEL_PASSES.fetch_add(taus.len() as u64, Ordering::Relaxed);
                fast.logits_on_line(
                    &E::to_f32_slice(&state.params.0),
                    &E::to_f32_slice(&state.buffers),
                    &E::to_f32_slice(&direction.0),
                    to_mat(x),
                    taus,
                    Mode::Eval,
                )
                .into_iter()
                .map(from_mat)
                .collect()
            }
            Engine::Dfdx => taus
                .iter()
                .map(|&tau| {
                    let mut moved = state.clone();
                    moved.params.axpy(tau, direction);
                    self.logits(&moved, x)
                })
                .collect(),
        }
    }

    /// True if the logits are affine in θ for fixed inputs (a single
    /// Linear layer): then z(θ + τv) = z(θ) + τ·J_z v exactly.
    pub fn logits_affine_in_params(&self) -> bool {
        match &self.engine {
            Engine::Fast(fast) => fast.affine_in_params(),
            Engine::Dfdx => {
                self.layers.len() == 1
                    && self.layers[0].fast().is_some_and(|f| f.affine_in_params())
            }
        }
    }

    /// Mean (tempered) cross-entropy without gradient.
    pub fn loss(&self, state: &State<E>, batch: &Batch<E>) -> f64 {
        self.loss_of_logits(&self.logits(state, &batch.x), batch)
    }

    /// Mean (tempered) cross-entropy CE(z/T) of logits already computed for
    /// `batch` (a non-finite logit gives a non-finite loss), computed as dfdx's `cross_entropy_with_logits_loss` in `E`.
    pub fn loss_of_logits(&self, logits: &Matrix<E>, batch: &Batch<E>) -> f64 {
        E::dfdx().loss_of_logits(self, logits, batch)
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
        if let Engine::Fast(fast) = &self.engine {
            let (z, record, theta) = fast_forward_record(fast, state, &batch.x, mode);
            let (loss, dz) = crate::fast::tempered_ce_and_grad(&z, &batch.labels, self.temperature);
            let grad = fast.backward(&theta, &record, dz);
            let mut cache = Cache::new();
            cache.fast = Some((record, theta));
            return StepOutput {
                loss,
                logits: from_mat(z),
                grad: ParamVec(E::from_f32_vec(grad)),
                cache,
            };
        }
        E::dfdx().loss_and_grad(self, state, batch, mode)
    }

    /// Tangent pass over a recorded forward: a = J_z v at the θ and inputs of
    /// that forward (`mode` must match the forward's). No probes; see
    /// [`Model::tangent_probed`].
    ///
    /// # Panics
    /// If `direction` is not of this model's length, or `cache` was recorded
    /// by a model on another backend.
    pub fn tangent(
        &self,
        state: &State<E>,
        cache: &mut Cache<E>,
        direction: &ParamVec<E>,
        mode: Mode,
    ) -> Matrix<E> {
        self.tangent_with(state, cache, direction, mode, FastProbes::new(false))
            .0
    }

    /// [`Model::tangent`] plus the internal tangents the layers report
    /// (attention scores, FFN pre-activations, kinks), on either backend.
    pub fn tangent_probed(
        &self,
        state: &State<E>,
        cache: &mut Cache<E>,
        direction: &ParamVec<E>,
        mode: Mode,
    ) -> (Matrix<E>, Vec<Probe<E>>) {
        self.tangent_with(state, cache, direction, mode, FastProbes::new(true))
    }

    /// [`Model::tangent_probed`] reporting the probes of `kinds` only: the
    /// fast backend skips the others' work (an empty `kinds` is
    /// [`Model::tangent`]). The logit tangent is the same, bit for bit.
    pub fn tangent_probed_only(
        &self,
        state: &State<E>,
        cache: &mut Cache<E>,
        direction: &ParamVec<E>,
        mode: Mode,
        kinds: &[ProbeKind],
    ) -> (Matrix<E>, Vec<Probe<E>>) {
        self.tangent_with(state, cache, direction, mode, FastProbes::only(kinds))
    }

    fn tangent_with(
        &self,
        state: &State<E>,
        cache: &mut Cache<E>,
        direction: &ParamVec<E>,
        mode: Mode,
        mut probes: FastProbes,
    ) -> (Matrix<E>, Vec<Probe<E>>) {
        assert_eq!(
            direction.len(),
            self.num_params,
            "direction of another model"
        );
        if let (Engine::Fast(fast), Some((fc, theta))) = (&self.engine, &cache.fast) {
            let a = fast.tangent(theta, fc, &E::to_f32_slice(&direction.0), &mut probes);
            let probes = probes
                .list
                .into_iter()
                .map(|p| Probe {
                    kind: p.kind,
                    layer: p.layer,
                    value: from_mat(p.value),
                    tangent: from_mat(p.tangent),
                })
                .collect();
            return (from_mat(a), probes);
        }
        assert!(
            cache.fast.is_none(),
            "{}: a fast-backend record read by a dfdx model",
            self.name
        );
        let (a, mut list) = E::dfdx().tangent(self, state, cache, direction, mode);
        list.retain(|p| probes.wants(p.kind));
        (a, list)
    }

    /// Hand the buffers of probes from [`Model::tangent_probed`] or
    /// [`Model::jvp_probed`] back to the fast backend's per-thread pool, so
    /// that the next probed pass reuses them instead of page-faulting fresh
    /// memory (values are never affected: pooled buffers are written in
    /// full before they are read). Other probes are simply dropped.
    pub fn recycle_probes(&self, probes: Vec<Probe<E>>) {
        if !matches!(self.engine, Engine::Fast(_)) {
            return;
        }
        for p in probes {
            for data in [p.value.data, p.tangent.data] {
                if let Some(v) = (Box::new(data) as Box<dyn std::any::Any>)
                    .downcast::<Vec<f32>>()
                    .ok()
                {
                    crate::fast::recycle(*v);
                }
            }
        }
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
    pub fn jvp(&self, state: &State<E>, x: &Matrix<E>, direction: &ParamVec<E>) -> Jvp<E> {
        self.jvp_with(state, x, direction, false)
    }

    /// [`Model::jvp`] with the layers' probes.
    pub fn jvp_probed(&self, state: &State<E>, x: &Matrix<E>, direction: &ParamVec<E>) -> Jvp<E> {
        self.jvp_with(state, x, direction, true)
    }

    fn jvp_with(
        &self,
        state: &State<E>,
        x: &Matrix<E>,
        direction: &ParamVec<E>,
        want_probes: bool,
    ) -> Jvp<E> {
        let mut s = state.clone();
        let (logits, mut cache) = self.forward(&mut s, x, Mode::Eval);
        let (slopes, probes) = self.tangent_with(
            state,
            &mut cache,
            direction,
            Mode::Eval,
            FastProbes::new(want_probes),
        );
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
        x: &Matrix<E>,
        direction: &ParamVec<E>,
        eps: f64,
        base: &Matrix<E>,
        mode: Mode,
    ) -> Matrix<E> {
        let mut moved = state.clone();
        moved.params.axpy(eps, direction);
        let z = self.forward_logits(&mut moved, x, mode);
        z.add_scaled(-1.0, base).scaled(1.0 / eps)
    }

    /// Central finite differences (z(θ + εv) − z(θ − εv)) / 2ε in eval mode:
    /// the paper's cheaper estimator, kept as an option.
    pub fn fd_jvp(
        &self,
        state: &State<E>,
        x: &Matrix<E>,
        direction: &ParamVec<E>,
        eps: f64,
    ) -> Matrix<E> {
        let mut plus = state.clone();
        plus.params.axpy(eps, direction);
        let mut minus = state.clone();
        minus.params.axpy(-eps, direction);
        self.logits(&plus, x)
            .add_scaled(-1.0, &self.logits(&minus, x))
            .scaled(0.5 / eps)
    }
}

/// The dfdx passes of a model, reached through [`Real::dfdx`] so that the
/// public API of [`Model`] needs no dfdx bound (`Dev: Device<E>`) and
/// callers need not depend on dfdx. Implemented once, by [`DfdxEngine`].
#[doc(hidden)]
pub trait DfdxPasses<E: Real>: Sync {
    /// [`Model::forward`] on dfdx.
    fn forward(
        &self,
        m: &Model<E>,
        state: &mut State<E>,
        x: &Matrix<E>,
        mode: Mode,
    ) -> (Matrix<E>, Cache<E>);
    /// [`Model::loss_and_grad`] on dfdx.
    fn loss_and_grad(
        &self,
        m: &Model<E>,
        state: &mut State<E>,
        batch: &Batch<E>,
        mode: Mode,
    ) -> StepOutput<E>;
    /// [`Model::tangent_probed`] on dfdx.
    fn tangent(
        &self,
        m: &Model<E>,
        state: &State<E>,
        cache: &mut Cache<E>,
        direction: &ParamVec<E>,
        mode: Mode,
    ) -> (Matrix<E>, Vec<Probe<E>>);
    /// [`Model::loss_of_logits`] (dfdx's cross-entropy in `E`).
    fn loss_of_logits(&self, m: &Model<E>, logits: &Matrix<E>, batch: &Batch<E>) -> f64;
}

/// The one implementation of [`DfdxPasses`], for every element type the
/// CPU device computes in.
#[doc(hidden)]
pub struct DfdxEngine;

impl<E: Real> DfdxPasses<E> for DfdxEngine
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    fn forward(
        &self,
        m: &Model<E>,
        state: &mut State<E>,
        x: &Matrix<E>,
        mode: Mode,
    ) -> (Matrix<E>, Cache<E>) {
        let (z, cache) = m.dfdx_forward(state, to_tensor(&m.dev, x), mode);
        (to_matrix(&z), cache)
    }

    fn loss_and_grad(
        &self,
        m: &Model<E>,
        state: &mut State<E>,
        batch: &Batch<E>,
        mode: Mode,
    ) -> StepOutput<E> {
        m.dfdx_loss_and_grad(state, batch, mode)
    }

    fn tangent(
        &self,
        m: &Model<E>,
        state: &State<E>,
        cache: &mut Cache<E>,
        direction: &ParamVec<E>,
        mode: Mode,
    ) -> (Matrix<E>, Vec<Probe<E>>) {
        m.dfdx_tangent(state, cache, direction, mode)
    }

    fn loss_of_logits(&self, m: &Model<E>, logits: &Matrix<E>, batch: &Batch<E>) -> f64 {
        let (_, onehot) = batch.tensors(&m.dev);
        to_f64(m.tempered_ce(to_tensor(&m.dev, logits), onehot).array())
    }
}

/// The dfdx passes themselves.
impl<E: Real> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
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

    /// The dfdx forward of [`Model::forward`] on a tensor.
    fn dfdx_forward(&self, state: &mut State<E>, x: Plain<E>, mode: Mode) -> (Plain<E>, Cache<E>) {
        let p = self.tensors(&state.params);
        let mut cache = Cache::new();
        let mut h = x;
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

    fn tempered_ce<T: crate::layer::TapeOps<E>>(
        &self,
        logits: Tensor<(usize, usize), E, Dev, T>,
        onehot: &Plain<E>,
    ) -> Tensor<Rank0, E, Dev, T> {
        let scaled = logits * cast::<E>(1.0 / self.temperature);
        cross_entropy_with_logits_loss(scaled, onehot.clone())
    }

    fn dfdx_loss_and_grad(
        &self,
        state: &mut State<E>,
        batch: &Batch<E>,
        mode: Mode,
    ) -> StepOutput<E> {
        let (x, onehot) = batch.tensors(&self.dev);
        let p = self.tensors(&state.params);
        let mut cache = Cache::new();
        let mut h: Traced<E> = x.retaped::<OwnedTape<E, Dev>>();
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
        let loss = self.tempered_ce(h, onehot);
        let loss_value = to_f64(loss.array());
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
            logits: to_matrix(&logits),
            grad: ParamVec(grad),
            cache,
        }
    }

    fn dfdx_tangent(
        &self,
        state: &State<E>,
        cache: &mut Cache<E>,
        direction: &ParamVec<E>,
        mode: Mode,
    ) -> (Matrix<E>, Vec<Probe<E>>) {
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
        let a = dh.expect("a model has at least one layer");
        (to_matrix(&a), probes)
    }
}

/// Row-wise argmax of a (rows, classes) matrix (the first of ties).
pub fn argmax_rows<E: Real>(t: &Matrix<E>) -> Vec<usize> {
    t.row_iter()
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
pub fn accuracy<E: Real>(logits: &Matrix<E>, labels: &[usize]) -> f64 {
    let pred = argmax_rows(logits);
    pred.iter().zip(labels).filter(|(p, y)| p == y).count() as f64 / labels.len().max(1) as f64
}

/// A matrix as a dfdx tensor.
fn to_tensor<E: Real>(dev: &Dev, x: &Matrix<E>) -> Plain<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    dev.tensor_from_vec(x.data.clone(), (x.rows, x.cols))
}

/// A dfdx tensor as a matrix.
pub(crate) fn to_matrix<E: Real>(t: &Plain<E>) -> Matrix<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let (rows, cols) = *t.shape();
    Matrix::new(rows, cols, t.as_vec())
}

/// Inputs for the fast path (f32, rows).
fn to_mat<E: Real>(x: &Matrix<E>) -> crate::fast::Mat {
    crate::fast::Mat::new(x.rows, x.cols, E::to_f32_slice(&x.data).into_owned())
}

/// A fast-path result in the model's element type (rows layout).
fn from_mat<E: Real>(m: crate::fast::Mat) -> Matrix<E> {
    Matrix::new(m.rows, m.cols, E::from_f32_vec(m.data))
}

/// One fast forward: f32 logits, the record and the θ it ran at (train
/// mode updates `state`'s buffers).
fn fast_forward_record<E: Real>(
    fast: &crate::fast::FastModel,
    state: &mut State<E>,
    x: &Matrix<E>,
    mode: Mode,
) -> (crate::fast::Mat, crate::fast::FastCache, Vec<f32>) {
    let theta = E::to_f32_slice(&state.params.0).into_owned();
    let mut buffers = E::to_f32_slice(&state.buffers).into_owned();
    let (z, record) = fast.forward(&theta, &mut buffers, to_mat(x), mode);
    if !buffers.is_empty() {
        state.buffers = E::from_f32_vec(buffers);
    }
    (z, record, theta)
}

/// One fast forward: logits and a cache holding the record and θ.
fn fast_forward<E: Real>(
    fast: &crate::fast::FastModel,
    state: &mut State<E>,
    x: &Matrix<E>,
    mode: Mode,
) -> (Matrix<E>, Cache<E>) {
    let (z, record, theta) = fast_forward_record(fast, state, x, mode);
    let mut cache = Cache::new();
    cache.fast = Some((record, theta));
    (from_mat(z), cache)
}
