//! # The fast f32 path: the same layers without a tensor library
//!
//! dfdx pays for every op in allocations, broadcasts and a tape; at the
//! paper's sizes (a few thousand parameters, full-batch steps on 1438
//! samples) that overhead, not arithmetic, sets the speed. This module runs
//! the *same* layers on plain row-major `f32` buffers: each layer that
//! offers it ([`Layer::fast`](crate::Layer::fast)) gives a [`FastLayer`] with
//! a hand-written forward, reverse-mode backward and forward-mode tangent,
//! beside its dfdx forward and tangent in the same file. Matrix products go
//! through the `gemm` crate (single-threaded: runs are parallel instead;
//! its AVX-512 or AVX2 kernels are chosen at run time).
//!
//! A [`Model`](crate::Model) switched to [`Backend::Fast`](crate::Backend)
//! dispatches `loss_and_grad`, `forward` and `tangent` here, so optimisers,
//! controllers and experiments use it unchanged. Parameters and buffers keep
//! the model's layout; tests check every fast layer and every fast model
//! against the dfdx path (gradient, tangent, running statistics).
//!
//! Two things keep full-batch steps fast beyond the arithmetic: activations
//! are recycled through a per-thread buffer pool (`pool`: fresh 12 MB
//! allocations page-fault on every step), and [`FastModel::new`] fuses
//! Conv → BatchNorm → ReLU (→ GlobalAvgPool) runs into one layer (`fused`)
//! that makes fewer passes over memory.
//!
//! The tangent pass reports the same probes as the dfdx path when asked
//! ([`FastProbes`]: attention scores, FFN pre-activations). After a CLS pool
//! only one token row in T reaches the logits: an affine layer's backward
//! skips gradient rows that are exactly zero (`sparse`), and a tangent pass
//! without probes computes only the rows that are read ([`Live`]).

mod bn_kernels;
mod conv_kernels;
pub(crate) mod fused;
mod gemm_ops;
mod image;
mod live;
mod pool;
mod seq;
mod sparse;

pub use bn_kernels::{backward_constants, channel_sums, BnKernel};
pub use conv_kernels::{ConvBackward, SeqConv, CHUNK_ROWS};
pub use gemm_ops::{gemm_flops, matmul, MatRef};
pub use image::{
    col2im, im2col, image_dims, image_to_padded, image_to_rows, padded_to_image, rows_to_image,
    ConvShape,
};
pub use live::{chain_liveness, layer_tangent, Live};
pub use pool::{mask_buffer, recycle, recycle_mask, recycle_record, scratch, zeroed};
pub use seq::{
    interiors, interiors_mut, padded_dims, padded_to_rows, rows_to_padded, zero_pad_rows,
};
pub use sparse::{affine_backward, gather_rows, sparse_rows};

use crate::{Mode, ProbeKind};

/// How the rows of a [`Mat`] are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The zoo's convention: one row per sample (or token), features
    /// channel-major (c·len + l for sequences), `cols` wide.
    Rows,
    /// A batch of channels-last sequences with one zero row of padding on
    /// each side: `samples × (len + 2)` rows of `cols` = channels values.
    /// Row `s·(len+2) + 1 + l` holds position l of sample s; rows
    /// `s·(len+2)` and `s·(len+2) + len + 1` are zero. This makes a k = 3,
    /// pad 1 convolution one GEMM over overlapping rows (no im2col copy).
    PaddedSeq {
        /// Samples in the batch.
        samples: usize,
        /// Positions per sample.
        len: usize,
    },
    /// A batch of channels-last images without padding: `samples·height·width`
    /// rows of `cols` = channels values. Row `(s·height + y)·width + x` holds
    /// pixel (y, x) of sample s. A convolution reads it through im2col
    /// ([`im2col`]); `ToRows` turns it into channel-major rows (the
    /// PyTorch flatten order).
    Image {
        /// Samples in the batch.
        samples: usize,
        /// Pixel rows per image.
        height: usize,
        /// Pixel columns per image.
        width: usize,
    },
}

/// What flows between two layers, without the batch size: checked once when
/// a model is built ([`FastModel::new`]), so a layer never meets an input it
/// cannot read at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// [`Layout::Rows`] with this many columns.
    Rows(usize),
    /// [`Layout::PaddedSeq`] of `len` positions with `channels` values each.
    PaddedSeq {
        /// Values per position (the matrix's columns).
        channels: usize,
        /// Positions per sample.
        len: usize,
    },
    /// [`Layout::Image`] of `height × width` pixels with `channels` values each.
    Image {
        /// Values per pixel (the matrix's columns).
        channels: usize,
        /// Pixel rows per image.
        height: usize,
        /// Pixel columns per image.
        width: usize,
    },
}

impl std::fmt::Display for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Form::Rows(c) => write!(f, "rows of {c}"),
            Form::PaddedSeq { channels, len } => {
                write!(f, "padded sequences of {len} x {channels} channels")
            }
            Form::Image {
                channels,
                height,
                width,
            } => write!(f, "images of {height}x{width} x {channels} channels"),
        }
    }
}

/// An internal value and its tangent reported by a fast tangent pass (the
/// f32 twin of [`crate::Probe`]; same kinds, names and shapes as the dfdx
/// path reports).
#[derive(Debug, Clone)]
pub struct FastProbe {
    /// What it is.
    pub kind: crate::ProbeKind,
    /// Which layer reported it.
    pub layer: String,
    /// The primal value h, in [`Layout::Rows`].
    pub value: Mat,
    /// Its tangent ḣ, same shape.
    pub tangent: Mat,
}

/// Where a fast tangent pass puts its probes. Probes cost copies of
/// activations, so layers record a kind only when [`FastProbes::wants`] it.
#[derive(Debug, Default)]
pub struct FastProbes {
    /// True when the caller reads some probes (then every layer computes
    /// every row of its tangent, not only the rows that reach the logits).
    pub wanted: bool,
    /// The kinds the caller reads when `wanted` (`None`: every kind).
    pub kinds: Option<Vec<ProbeKind>>,
    /// The probes, in the order the layers reported them.
    pub list: Vec<FastProbe>,
}

impl FastProbes {
    /// Collect every kind of probe (`wanted`) or none.
    pub fn new(wanted: bool) -> Self {
        FastProbes {
            wanted,
            kinds: None,
            list: Vec::new(),
        }
    }

    /// Collect the probes of `kinds` only (none when `kinds` is empty).
    pub fn only(kinds: &[ProbeKind]) -> Self {
        FastProbes {
            wanted: !kinds.is_empty(),
            kinds: Some(kinds.to_vec()),
            list: Vec::new(),
        }
    }

    /// Whether the caller reads probes of `kind`: layers test this before
    /// computing one.
    pub fn wants(&self, kind: ProbeKind) -> bool {
        self.wanted && self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
    }

    /// Record a probe if its kind is wanted (`make` runs only when some
    /// probe is).
    pub fn push_with(&mut self, make: impl FnOnce() -> FastProbe) {
        if self.wanted {
            let probe = make();
            if self.wants(probe.kind) {
                self.list.push(probe);
            }
        }
    }
}

/// A row-major f32 matrix (activation, tangent or gradient).
#[derive(Debug, Clone, PartialEq)]
pub struct Mat {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows × cols` values, row-major.
    pub data: Vec<f32>,
    /// What the rows mean.
    pub layout: Layout,
}

impl Mat {
    /// A `rows × cols` matrix in [`Layout::Rows`].
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "Mat::new: {rows}x{cols} needs {} values, got {}",
            rows * cols,
            data.len()
        );
        Mat {
            rows,
            cols,
            data,
            layout: Layout::Rows,
        }
    }

    /// Zeros, `rows × cols`, in `layout`.
    pub fn zeros(rows: usize, cols: usize, layout: Layout) -> Self {
        Mat {
            rows,
            cols,
            data: vec![0.0; rows * cols],
            layout,
        }
    }

    /// Zeros shaped and laid out like `self`.
    pub fn zeros_like(&self) -> Self {
        Mat::zeros(self.rows, self.cols, self.layout)
    }

    /// The whole matrix as a GEMM operand.
    pub fn view(&self) -> MatRef<'_> {
        MatRef::row_major(&self.data, self.rows, self.cols)
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// What one layer's forward leaves for its backward and tangent passes:
/// matrices in the order the layer pushed them, plus one record per inner
/// layer for containers (a residual block).
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Saved matrices (inputs, normalised activations, masks, ...).
    pub mats: Vec<Mat>,
    /// Saved scalars per column or row (LayerNorm 1/σ, BatchNorm statistics).
    pub vecs: Vec<Vec<f32>>,
    /// Saved byte masks (ReLU's `1[x > 0]`, a quarter of the input's bytes).
    pub masks: Vec<Vec<u8>>,
    /// Records of inner layers, in order.
    pub inner: Vec<Record>,
    /// Set by the caller when only the output is wanted (no backward or
    /// tangent will read this record): a layer may then skip recording
    /// what is costly to compute (GELU's slope).
    pub logits_only: bool,
}

/// A layer that [`FastModel::new`] can fuse with its neighbours, described
/// by plain shapes and constants (the fused block runs the kernels of
/// `fast` on them, and the layers' own tangents over the records it writes
/// for them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusible {
    /// A 1-D convolution (kernel 1 or 3) on padded sequences; parameters
    /// weight and bias.
    SeqConv(SeqConv),
    /// BatchNorm on padded sequences; parameters gain and shift, state the
    /// running mean and variance.
    BatchNorm(BnKernel),
    /// ReLU (any layout).
    Relu,
    /// The mean over the `length` positions of each of `channels` channels.
    GlobalAvgPool {
        /// Channels.
        channels: usize,
        /// Positions averaged.
        length: usize,
    },
}

/// One layer on the fast path. Parameters arrive as slices of θ in the order
/// of [`Layer::params`](crate::Layer::params), each row-major with the
/// spec's shape; `state` is the layer's share of the buffers.
pub trait FastLayer: Send + Sync {
    /// What the layer is, in plain shapes, for [`FastModel::new`] to
    /// recognise runs of layers it can fuse (Conv → BatchNorm → ReLU →
    /// GlobalAvgPool); `None` (the default) never fuses.
    fn fusion(&self) -> Option<Fusible> {
        None
    }

    /// The form of this layer's output for an input of form `input`, or why
    /// the layer cannot read such an input (checked when the model is built).
    fn output_form(&self, input: Form) -> Result<Form, String>;

    /// Forward pass; saves in `rec` what `backward` and `tangent` need.
    /// Train mode uses batch statistics and updates `state`.
    fn forward(&self, p: &[&[f32]], x: Mat, state: &mut [f32], mode: Mode, rec: &mut Record)
        -> Mat;

    /// Reverse pass: from ∂L/∂y returns ∂L/∂x and writes ∂L/∂θ of this
    /// layer into `grads` (same shapes as `p`; overwritten, not added).
    /// `need_dx` is false for the first layer (its input is data).
    fn backward(
        &self,
        p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat;

    /// True if, for a fixed input, the output is affine in the layer's
    /// parameters (Linear): then y(θ + τθ̇) = y + τ·ẏ exactly, and a sweep
    /// along a line needs this layer's forward once.
    fn affine_in_params(&self) -> bool {
        false
    }

    /// Tangent pass: ẏ = ∂y/∂x·ẋ + ∂y/∂θ·θ̇ at the recorded forward, with
    /// `dx = None` for a zero input tangent (the data). Layers that report
    /// internal tangents (attention scores, FFN pre-activations, kinks) push
    /// them to `probes` when [`FastProbes::wanted`].
    fn tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        mode: Mode,
        rec: &Record,
        probes: &mut FastProbes,
    ) -> Mat;

    /// For a tangent pass that reads only the output rows `out` of this
    /// layer (`live`: after a CLS pool), the rows of its input that
    /// [`FastLayer::tangent_rows`] reads. `None` (the default): the layer
    /// has no restricted tangent, it reads every input row (and the default
    /// `tangent_rows` runs it in full, then keeps the rows `out`).
    fn live_input(&self, _out: &Live, _rec: &Record) -> Option<Live> {
        None
    }

    /// The tangent at the output rows `out` only (compact: row j is row
    /// `out[j]`), from `dx` at the input rows `input` (what
    /// [`FastLayer::live_input`] returned), without probes. Called when
    /// `input` or `out` is not [`Live::All`].
    fn tangent_rows(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        mode: Mode,
        rec: &Record,
        input: &Live,
        out: &Live,
    ) -> Mat {
        assert_eq!(
            *input,
            Live::All,
            "a layer without live_input reads all its input rows"
        );
        let y = self.tangent(p, dp, dx, mode, rec, &mut FastProbes::new(false));
        let kept = Live::All.select(&y, out);
        y.recycle();
        kept
    }
}

/// A model's layers on the fast path, with the model's parameter layout.
pub struct FastModel {
    layers: Vec<Box<dyn FastLayer>>,
    /// Per layer: the θ ranges of its tensors, in order.
    params: Vec<Vec<std::ops::Range<usize>>>,
    /// Per layer: its range of the buffers.
    buffers: Vec<std::ops::Range<usize>>,
}

/// The record of a whole fast forward (one [`Record`] per layer).
#[derive(Debug, Clone)]
pub struct FastCache {
    /// Per layer, in order.
    pub layers: Vec<Record>,
    /// The mode the forward ran in.
    pub mode: Mode,
}

/// A dropped record hands its matrices to the buffer pool ([`recycle`]),
/// so the next step's activations need no fresh (page-faulting) memory.
impl Drop for FastCache {
    fn drop(&mut self) {
        for rec in self.layers.iter_mut() {
            recycle_record(rec);
        }
    }
}

/// Split θ (or a direction) into per-tensor slices of one layer.
fn slices<'a>(flat: &'a [f32], ranges: &[std::ops::Range<usize>]) -> Vec<&'a [f32]> {
    ranges.iter().map(|r| &flat[r.clone()]).collect()
}

impl FastModel {
    /// Assemble from per-layer fast layers and the model's layout, for
    /// inputs of `input_features` columns. The form of every layer's input
    /// is checked here: where a layer reads only rows but receives padded
    /// sequences, a `ToRows` conversion is inserted; where it cannot read
    /// its input at all, the error is `(layer index, why)`. Runs of layers
    /// with a fused fast path (Conv → BatchNorm → ReLU) are then replaced by
    /// it: same results, fewer passes over memory.
    pub fn new(
        layers: Vec<Box<dyn FastLayer>>,
        params: Vec<Vec<std::ops::Range<usize>>>,
        buffers: Vec<std::ops::Range<usize>>,
        input_features: usize,
    ) -> Result<Self, (usize, String)> {
        assert_eq!(layers.len(), params.len());
        assert_eq!(layers.len(), buffers.len());
        let mut form = Form::Rows(input_features);
        let (mut l2, mut p2, mut b2) = (Vec::new(), Vec::new(), Vec::new());
        for (i, ((layer, p), b)) in layers.into_iter().zip(params).zip(buffers).enumerate() {
            form = match layer.output_form(form) {
                Ok(out) => out,
                Err(why) => {
                    let rows = Form::Rows(ToRows::cols(form));
                    match (form, layer.output_form(rows)) {
                        (Form::PaddedSeq { .. } | Form::Image { .. }, Ok(out)) => {
                            l2.push(Box::new(ToRows) as Box<dyn FastLayer>);
                            p2.push(Vec::new());
                            b2.push(0..0);
                            out
                        }
                        _ => return Err((i, why)),
                    }
                }
            };
            l2.push(layer);
            p2.push(p);
            b2.push(b);
        }
        if !matches!(form, Form::Rows(_)) {
            l2.push(Box::new(ToRows));
            p2.push(Vec::new());
            b2.push(0..0);
        }
        let (layers, params, buffers) = fused::fuse(l2, p2, b2);
        Ok(FastModel {
            layers,
            params,
            buffers,
        })
    }

    /// Forward from inputs `x` (samples × features); returns the logits.
    pub fn forward(
        &self,
        theta: &[f32],
        buffers: &mut [f32],
        x: Mat,
        mode: Mode,
    ) -> (Mat, FastCache) {
        let mut cache = FastCache {
            layers: Vec::with_capacity(self.layers.len()),
            mode,
        };
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            let p = slices(theta, &self.params[i]);
            let mut rec = Record::default();
            h = layer.forward(&p, h, &mut buffers[self.buffers[i].clone()], mode, &mut rec);
            cache.layers.push(rec);
        }
        (h, cache)
    }

    /// True if the model is one layer whose output is affine in θ (Linear).
    pub fn affine_in_params(&self) -> bool {
        self.layers.len() == 1 && self.layers[0].affine_in_params()
    }

    /// Logits only: a forward whose records are dropped, so layers skip
    /// what only a backward or tangent pass would read.
    pub fn logits(&self, theta: &[f32], buffers: &mut [f32], x: Mat, mode: Mode) -> Mat {
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            let p = slices(theta, &self.params[i]);
            let mut rec = Record {
                logits_only: true,
                ..Record::default()
            };
            h = layer.forward(&p, h, &mut buffers[self.buffers[i].clone()], mode, &mut rec);
            recycle_record(&mut rec);
        }
        h
    }

    /// Logits at θ + τ·v for every τ of `taus` (eval or train mode on a
    /// copy of the buffers per τ). When the first layer is affine in its
    /// parameters (Linear), its output along the line is z₀ + τ·ż₀, exact,
    /// so it runs once instead of once per τ.
    pub fn logits_on_line(
        &self,
        theta: &[f32],
        buffers: &[f32],
        direction: &[f32],
        x: Mat,
        taus: &[f64],
        mode: Mode,
    ) -> Vec<Mat> {
        // θ + τv as ParamVec::axpy rounds it (in f32).
        let moved = |tau: f64| -> Vec<f32> {
            theta
                .iter()
                .zip(direction)
                .map(|(&t, &d)| t + tau as f32 * d)
                .collect()
        };
        let first = &self.layers[0];
        if !(first.affine_in_params() && self.buffers[0].is_empty()) {
            return taus
                .iter()
                .map(|&tau| self.logits(&moved(tau), &mut buffers.to_vec(), x.clone(), mode))
                .collect();
        }
        let p = slices(theta, &self.params[0]);
        let dp = slices(direction, &self.params[0]);
        let mut rec = Record::default();
        let z0 = first.forward(&p, x, &mut [], mode, &mut rec);
        let dz0 = first.tangent(&p, &dp, None, mode, &rec, &mut FastProbes::new(false));
        taus.iter()
            .map(|&tau| {
                let theta = moved(tau);
                let t = tau as f32;
                let mut h = Mat::scratch(z0.rows, z0.cols, z0.layout);
                for ((v, &z), &d) in h.data.iter_mut().zip(&z0.data).zip(&dz0.data) {
                    *v = z + t * d;
                }
                let mut buffers = buffers.to_vec();
                for (i, layer) in self.layers.iter().enumerate().skip(1) {
                    let p = slices(&theta, &self.params[i]);
                    let mut rec = Record {
                        logits_only: true,
                        ..Record::default()
                    };
                    h = layer.forward(&p, h, &mut buffers[self.buffers[i].clone()], mode, &mut rec);
                    recycle_record(&mut rec);
                }
                h
            })
            .collect()
    }

    /// Backward from ∂L/∂z; returns ∇θ (length of θ).
    pub fn backward(&self, theta: &[f32], cache: &FastCache, dz: Mat) -> Vec<f32> {
        let mut grad = vec![0.0f32; theta.len()];
        let mut dy = dz;
        for i in (0..self.layers.len()).rev() {
            let p = slices(theta, &self.params[i]);
            // Disjoint mutable slices of `grad` for this layer's tensors.
            let ranges = &self.params[i];
            let mut g: Vec<&mut [f32]> = Vec::with_capacity(ranges.len());
            let mut rest: &mut [f32] = &mut grad[..];
            let mut consumed = 0;
            for r in ranges {
                let tail = std::mem::take(&mut rest);
                let (_, tail) = tail.split_at_mut(r.start - consumed);
                let (mine, tail) = tail.split_at_mut(r.len());
                g.push(mine);
                rest = tail;
                consumed = r.end;
            }
            dy = self.layers[i].backward(&p, dy, &cache.layers[i], &mut g, i > 0);
        }
        grad
    }

    /// Tangent pass along `direction` over a recorded forward; the layers'
    /// probes go to `probes` when it wants them. Without probes, each layer
    /// computes only the rows that reach the logits ([`Live`]).
    pub fn tangent(
        &self,
        theta: &[f32],
        cache: &FastCache,
        direction: &[f32],
        probes: &mut FastProbes,
    ) -> Mat {
        let plan = if probes.wanted {
            vec![(Live::All, Live::All); self.layers.len()]
        } else {
            chain_liveness(&self.layers, &cache.layers, Live::All)
        };
        let mut dh: Option<Mat> = None;
        for (i, layer) in self.layers.iter().enumerate() {
            let p = slices(theta, &self.params[i]);
            let dp = slices(direction, &self.params[i]);
            let rec = &cache.layers[i];
            dh = Some(layer_tangent(
                &**layer, &p, &dp, dh, cache.mode, rec, probes, &plan[i],
            ));
        }
        dh.expect("a model has at least one layer")
    }
}

/// The conversion [`FastModel::new`] inserts before a layer that reads only
/// [`Layout::Rows`] (Linear, LayerNorm) when the layer before it left padded
/// sequences or images (a convolution or max-pool): channel-major rows, the
/// PyTorch flatten order. Backward converts the gradient back.
struct ToRows;

impl ToRows {
    /// Columns of the rows an input of `form` becomes.
    fn cols(form: Form) -> usize {
        match form {
            Form::Rows(c) => c,
            Form::PaddedSeq { channels, len } => channels * len,
            Form::Image {
                channels,
                height,
                width,
            } => channels * height * width,
        }
    }

    /// `x` (any layout) as channel-major rows; `x` is consumed.
    fn rows_of(x: Mat) -> Mat {
        let y = match x.layout {
            Layout::Rows => return x,
            Layout::PaddedSeq { .. } => padded_to_rows(&x),
            Layout::Image { .. } => image_to_rows(&x),
        };
        x.recycle();
        y
    }
}

impl FastLayer for ToRows {
    fn output_form(&self, input: Form) -> Result<Form, String> {
        Ok(Form::Rows(ToRows::cols(input)))
    }

    fn forward(&self, _p: &[&[f32]], x: Mat, _s: &mut [f32], _m: Mode, rec: &mut Record) -> Mat {
        if x.layout != Layout::Rows {
            // The layout (and channels) to convert ∂y back to.
            rec.mats.push(Mat::zeros(0, x.cols, x.layout));
        }
        ToRows::rows_of(x)
    }

    fn backward(
        &self,
        _p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        _grads: &mut [&mut [f32]],
        _need_dx: bool,
    ) -> Mat {
        match rec.mats.first() {
            Some(Mat {
                cols,
                layout: Layout::PaddedSeq { len, .. },
                ..
            }) => {
                let dx = rows_to_padded(&dy, *cols, *len);
                dy.recycle();
                dx
            }
            Some(Mat {
                cols,
                layout: Layout::Image { height, width, .. },
                ..
            }) => {
                let dx = rows_to_image(&dy, *cols, *height, *width);
                dy.recycle();
                dx
            }
            _ => dy,
        }
    }

    fn tangent(
        &self,
        _p: &[&[f32]],
        _dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        _rec: &Record,
        _probes: &mut FastProbes,
    ) -> Mat {
        ToRows::rows_of(dx.expect("a conversion is never the first layer"))
    }
}

/// A copy of `x` (any layout) as channel-major rows ([`Layout::Rows`]), as
/// probes report values.
pub fn rows_copy(x: &Mat) -> Mat {
    match x.layout {
        Layout::Rows => {
            let mut y = Mat::scratch(x.rows, x.cols, Layout::Rows);
            y.data.copy_from_slice(&x.data);
            y
        }
        Layout::PaddedSeq { .. } => padded_to_rows(x),
        Layout::Image { .. } => image_to_rows(x),
    }
}

/// Every `row.len()`-wide row of `data` set to `row` (a bias before a GEMM
/// adds into it): the first row, then copies doubling in size, so a few
/// large copies instead of one small copy call per row.
pub fn fill_rows(data: &mut [f32], row: &[f32]) {
    let w = row.len();
    if w == 0 || data.is_empty() {
        return;
    }
    assert_eq!(
        data.len() % w,
        0,
        "fill_rows: {} values in rows of {w}",
        data.len()
    );
    data[..w].copy_from_slice(row);
    let mut filled = w;
    while filled < data.len() {
        let n = filled.min(data.len() - filled);
        data.copy_within(..n, filled);
        filled += n;
    }
}

/// `f()` compiled for the widest vector instructions this CPU has (AVX-512,
/// AVX2 or the baseline, chosen at run time), so that the elementwise loops
/// inlined into `f` run at that width. The values do not depend on the
/// version: Rust never fuses a multiply and an add unless asked
/// (`mul_add`), so every version rounds each operation the same way.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
pub fn vectorized<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// `$body` with `$c` bound to a compile-time constant for the usual
/// channel counts (16, 32, 64), so that the row loops it inlines are
/// unrolled without length checks: `with_const_channels!(c, |c| body)`.
///
/// A macro rather than a function taking a closure: a closure is a
/// function of its own, compiled for the baseline CPU even when written
/// inside a multiversioned pass (a quarter of arch-grid's time ran as
/// SSE2 that way); the macro's body stays in its caller and is compiled
/// with the caller's target features.
macro_rules! with_const_channels {
    ($n:expr, |$c:ident| $body:expr) => {
        match $n {
            16 => {
                let $c: usize = 16;
                $body
            }
            32 => {
                let $c: usize = 32;
                $body
            }
            64 => {
                let $c: usize = 64;
                $body
            }
            n => {
                let $c: usize = n;
                $body
            }
        }
    };
}
pub(crate) use with_const_channels;

/// Column sums of `m` into `out` (a bias gradient).
pub fn column_sums(m: &Mat, out: &mut [f32]) {
    assert_eq!(out.len(), m.cols, "column_sums: output length");
    out.fill(0.0);
    for row in m.data.chunks_exact(m.cols) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// Mean cross-entropy of the tempered logits z/T against `labels`, and its
/// gradient with respect to the untempered logits: (softmax(z/T) − y)/(B·T).
/// The loss is accumulated in f64; a non-finite logit gives a non-finite loss.
pub fn tempered_ce_and_grad(logits: &Mat, labels: &[usize], temperature: f64) -> (f64, Mat) {
    let (b, k) = (logits.rows, logits.cols);
    assert_eq!(labels.len(), b, "one label per logit row");
    let inv_t = (1.0 / temperature) as f32;
    let scale = (1.0 / (b as f64 * temperature)) as f32;
    let mut grad = Mat::zeros(b, k, Layout::Rows);
    let mut total = 0.0f64;
    for (i, &y) in labels.iter().enumerate() {
        let z = logits.row(i);
        let g = &mut grad.data[i * k..(i + 1) * k];
        let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v * inv_t));
        let mut sum = 0.0f32;
        for (gj, &zj) in g.iter_mut().zip(z) {
            *gj = (zj * inv_t - max).exp();
            sum += *gj;
        }
        // log-sum-exp − z_y/T, as dfdx's cross_entropy_with_logits_loss.
        total += (sum.ln() + max - z[y] * inv_t) as f64;
        let inv_sum = 1.0 / sum;
        for gj in g.iter_mut() {
            *gj *= inv_sum * scale;
        }
        g[y] -= scale;
    }
    (total / b as f64, grad)
}

#[cfg(test)]
pub(crate) mod tests;
