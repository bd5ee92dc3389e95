//! Structured layer records of the export manifest (format 2): what each
//! layer is (`kind` from [`LAYER_KINDS`] plus its sizes, kernel, stride,
//! padding, heads, tokens, bias, eps, momentum...), the per-sample shape it
//! reads and writes, and how each of its tensors maps onto PyTorch, so a
//! reader can rebuild the model from the manifest alone
//! (`tools/rebuild_torch.py` does, for every kind).
//!
//! The records are read from the layers' `describe()` strings (the only
//! view of a `dyn Layer` besides its tensors) and then checked: each parsed
//! record rebuilds the layer with the zoo's own constructors, and the
//! rebuilt layer must give the same description, parameter specs (names,
//! shapes, initialisers) and buffers as the model's layer. A description
//! that does not parse is exported as kind `custom` (no structure; the
//! rebuild script refuses it); one that parses but does not rebuild the same
//! layer is an error naming the layer.

use crate::layers::{
    Attention, AttentionInit, BatchNorm, ClsPool, Conv, Gelu, GlobalAvgPool, LayerNorm, Linear,
    MaxPool2, Relu, Residual, RowTokens,
};
use crate::{Layer, Model, ParamSpec};
use anyhow::{anyhow, bail, ensure, Result};
use serde::{Deserialize, Serialize};

/// Every value of a manifest layer's `kind` (format 2).
pub const LAYER_KINDS: &[&str] = &[
    "linear",
    "layernorm",
    "batchnorm",
    "gelu",
    "relu",
    "conv1d",
    "conv2d",
    "maxpool2d",
    "global_avg_pool",
    "row_tokens",
    "attention",
    "cls_pool",
    "residual",
    "custom",
];

/// What a layer computes, by kind (serialised flat into its
/// [`ManifestLayer`], tagged by `kind`). Sizes are counts; shapes are per
/// sample, C-order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Op {
    /// y = x W + b on the last axis (every token row alike).
    Linear {
        /// Input features.
        in_features: usize,
        /// Output features.
        out_features: usize,
        /// Whether b exists.
        bias: bool,
    },
    /// LayerNorm over the last axis, biased variance.
    #[serde(rename = "layernorm")]
    LayerNorm {
        /// Normalised features.
        features: usize,
        /// ε added to the variance.
        eps: f64,
        /// Learnable gain and shift (always true here).
        elementwise_affine: bool,
    },
    /// BatchNorm over channels; statistics over batch and the `length`
    /// values of each channel (a sequence, or H·W pixels).
    #[serde(rename = "batchnorm")]
    BatchNorm {
        /// Channels C.
        channels: usize,
        /// Values per channel and sample.
        length: usize,
        /// ε added to the variance.
        eps: f64,
        /// Weight of the batch statistics in the running update (train mode).
        momentum: f64,
        /// Mode of the exported numbers' forward: normalise with the running statistics.
        uses_running_stats: bool,
    },
    /// GELU, exact erf form (`approximate` = "none").
    Gelu {
        /// Always "none" (torch.nn.GELU(approximate='none')).
        approximate: String,
    },
    /// max(x, 0); tangent 1[x > 0]·ẋ (0 at x = 0, as torch).
    Relu {},
    /// 1-D cross-correlation (torch Conv1d), zero padding.
    Conv1d {
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Input length.
        in_length: usize,
        /// Output length.
        out_length: usize,
        /// Kernel taps.
        kernel_size: usize,
        /// Stride.
        stride: usize,
        /// Zeros on each side.
        padding: usize,
        /// Whether a bias exists.
        bias: bool,
    },
    /// 2-D cross-correlation (torch Conv2d), zero padding.
    Conv2d {
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Input (height, width).
        in_size: [usize; 2],
        /// Output (height, width).
        out_size: [usize; 2],
        /// Kernel (height, width).
        kernel_size: [usize; 2],
        /// Stride (both directions).
        stride: [usize; 2],
        /// Zeros (above/below, left/right).
        padding: [usize; 2],
        /// Whether a bias exists.
        bias: bool,
    },
    /// Max over 2×2 windows, stride 2, no padding; ties go to the first
    /// maximal entry in row-major window order (as torch's CPU kernel).
    #[serde(rename = "maxpool2d")]
    MaxPool2d {
        /// Channels.
        channels: usize,
        /// Input (height, width).
        in_size: [usize; 2],
        /// Window (height, width).
        kernel_size: [usize; 2],
        /// Stride.
        stride: [usize; 2],
    },
    /// Mean over the `length` values of each channel: (C, ...) → (C).
    GlobalAvgPool {
        /// Channels.
        channels: usize,
        /// Values averaged per channel.
        length: usize,
    },
    /// The image as `rows` tokens of `row_len` consecutive pixels, each
    /// embedded by one shared Linear(row_len → dim); a learned CLS vector
    /// is prepended as token `cls_index` (0, no embedding bias) and learned
    /// positions (tokens, dim) are added to every token, CLS included.
    RowTokens {
        /// Image rows = embedded tokens.
        rows: usize,
        /// Pixels per token (consecutive in the row-major input).
        row_len: usize,
        /// Tokens out, rows + 1.
        tokens: usize,
        /// Model dimension d.
        dim: usize,
        /// Position of CLS in the sequence.
        cls_index: usize,
    },
    /// Multi-head self-attention over the `tokens` tokens of a sample (no
    /// mask, no dropout): [q k v] = x W_in (+ b_in), packed q | k | v by
    /// columns, head h = columns h·d_head..(h+1)·d_head of each part;
    /// scores q kᵀ · scale, softmax over keys, y = (p v, heads concatenated) W_out (+ b_out).
    Attention {
        /// Name of its score probe (e.g. "block0.attn").
        name: String,
        /// Model dimension d = heads · d_head.
        dim: usize,
        /// Heads.
        heads: usize,
        /// d / heads.
        d_head: usize,
        /// Tokens per sample (1 for the single-token transformer).
        tokens: usize,
        /// Biases on both projections (false: neither has one).
        bias: bool,
        /// Score scale 1/√d_head.
        scale: f64,
        /// Column order of the packed in-projection: "q|k|v".
        qkv_packing: String,
        /// Column layout of the heads within q, k, v: "contiguous".
        head_layout: String,
    },
    /// Token `token` (CLS) of each sample: (tokens, d) → (d).
    ClsPool {
        /// Tokens per sample.
        tokens: usize,
        /// The token kept.
        token: usize,
    },
    /// y = f(x) + g(x): f = `branch` applied in order, g = `shortcut`
    /// applied in order (empty: identity); both reshaped to `output_shape`
    /// before the sum.
    Residual {
        /// The branch f.
        branch: Vec<ManifestLayer>,
        /// The shortcut g; empty for the identity.
        shortcut: Vec<ManifestLayer>,
    },
    /// A layer this format cannot describe (not a zoo layer); only its
    /// description and tensors are exported, and no rebuild is possible.
    Custom {},
}

/// How one of a layer's tensors maps onto its PyTorch module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerTensor {
    /// Name in params.safetensors (and direction.safetensors for params).
    pub name: String,
    /// "param" or "buffer".
    pub role: String,
    /// Name within the layer's PyTorch module (`torch` line), e.g.
    /// "weight", "in_proj_weight", "out_proj.weight", "running_mean".
    pub torch_name: String,
    /// PyTorch tensor = (ours.T if `transpose` else ours).reshape(`torch_shape`).
    pub transpose: bool,
    /// Shape of the PyTorch tensor.
    pub torch_shape: Vec<usize>,
}

/// One layer of the manifest (format 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestLayer {
    /// Position in the model, or within a residual branch/shortcut.
    pub index: usize,
    /// Tensor-name prefix: "3" at the top, "3.1" inside a branch, "5.s0" in a shortcut.
    pub path: String,
    /// The layer's `describe()` string.
    pub description: String,
    /// What it computes: `kind` and the kind's fields.
    #[serde(flatten)]
    pub op: Op,
    /// Per-sample shape it reads (C-order view of the sample's values).
    pub input_shape: Vec<usize>,
    /// Per-sample shape it writes.
    pub output_shape: Vec<usize>,
    /// Its tensors (a residual's are in its branch and shortcut layers).
    pub tensors: Vec<LayerTensor>,
    /// The PyTorch equivalent, one line.
    pub torch: String,
}

impl ManifestLayer {
    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        kind_of(&self.op)
    }
}

/// The `kind` tag of an op.
pub fn kind_of(op: &Op) -> &'static str {
    match op {
        Op::Linear { .. } => "linear",
        Op::LayerNorm { .. } => "layernorm",
        Op::BatchNorm { .. } => "batchnorm",
        Op::Gelu { .. } => "gelu",
        Op::Relu {} => "relu",
        Op::Conv1d { .. } => "conv1d",
        Op::Conv2d { .. } => "conv2d",
        Op::MaxPool2d { .. } => "maxpool2d",
        Op::GlobalAvgPool { .. } => "global_avg_pool",
        Op::RowTokens { .. } => "row_tokens",
        Op::Attention { .. } => "attention",
        Op::ClsPool { .. } => "cls_pool",
        Op::Residual { .. } => "residual",
        Op::Custom {} => "custom",
    }
}

// ---------------------------------------------------------------------------
// Parsing descriptions.

/// A cursor over a description string.
struct Cur<'a>(&'a str);

impl<'a> Cur<'a> {
    fn lit(&mut self, s: &str) -> Option<()> {
        self.0 = self.0.strip_prefix(s)?;
        Some(())
    }
    fn opt(&mut self, s: &str) -> bool {
        self.lit(s).is_some()
    }
    fn num(&mut self) -> Option<usize> {
        let end = self
            .0
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(self.0.len());
        let (n, rest) = self.0.split_at(end);
        self.0 = rest;
        n.parse().ok()
    }
    /// Up to (not including) the next space or the end.
    fn word(&mut self) -> &'a str {
        let end = self.0.find(' ').unwrap_or(self.0.len());
        let (w, rest) = self.0.split_at(end);
        self.0 = rest;
        w
    }
    fn done(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

/// Split a bracketed list at top-level ", " (brackets and parentheses nest).
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'[' | b'(' => depth += 1,
            b']' | b')' => depth -= 1,
            b',' if depth == 0 && b.get(i + 1) == Some(&b' ') => {
                parts.push(&s[start..i]);
                start = i + 2;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&s[start..]);
    parts
}

/// The text inside the bracket opening at the start of `s` and the rest
/// after its matching close.
fn bracketed(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix('[')?;
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&s[..i], &s[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// A parsed description: the op (residual children as descriptions to
/// parse in turn).
enum Parsed {
    Leaf(Op),
    Residual(Vec<String>, Vec<String>),
}

fn parse(desc: &str) -> Option<Parsed> {
    let mut c = Cur(desc);
    let no_bias = |c: &mut Cur| -> Option<bool> {
        let b = !c.opt(" (no bias)");
        c.done()?;
        Some(b)
    };
    if c.opt("linear ") {
        let i = c.num()?;
        c.lit("->")?;
        let o = c.num()?;
        let bias = no_bias(&mut c)?;
        return Some(Parsed::Leaf(Op::Linear {
            in_features: i,
            out_features: o,
            bias,
        }));
    }
    if c.opt("layernorm ") {
        let n = c.num()?;
        c.done()?;
        let l = LayerNorm::new(n);
        return Some(Parsed::Leaf(Op::LayerNorm {
            features: n,
            eps: l.eps,
            elementwise_affine: true,
        }));
    }
    if c.opt("batchnorm ") {
        let ch = c.num()?;
        c.lit(" (length ")?;
        let len = c.num()?;
        c.lit(")")?;
        c.done()?;
        let b = BatchNorm::new(ch, len);
        return Some(Parsed::Leaf(Op::BatchNorm {
            channels: ch,
            length: len,
            eps: b.eps,
            momentum: b.momentum,
            uses_running_stats: true,
        }));
    }
    if desc == "gelu (exact erf)" {
        return Some(Parsed::Leaf(Op::Gelu {
            approximate: "none".into(),
        }));
    }
    if desc == "relu" {
        return Some(Parsed::Leaf(Op::Relu {}));
    }
    // Conv: "conv1d ci->co kK len L[ stride s pad phxpw][ (no bias)]" or
    // "conv2d ci->co kKHxKW on HxW[...]".
    let conv_tail = |c: &mut Cur, kh: usize, kw: usize| -> Option<(usize, usize, usize, bool)> {
        let (mut stride, mut ph, mut pw) = (1, kh / 2, kw / 2);
        if c.opt(" stride ") {
            stride = c.num()?;
            c.lit(" pad ")?;
            ph = c.num()?;
            c.lit("x")?;
            pw = c.num()?;
        }
        let bias = no_bias(c)?;
        Some((stride, ph, pw, bias))
    };
    if c.opt("conv1d ") {
        let ci = c.num()?;
        c.lit("->")?;
        let co = c.num()?;
        c.lit(" k")?;
        let k = c.num()?;
        c.lit(" len ")?;
        let len = c.num()?;
        let (stride, ph, pw, bias) = conv_tail(&mut c, 1, k)?;
        if ph != 0 || stride == 0 || len + 2 * pw < k {
            return None;
        }
        let out = (len + 2 * pw - k) / stride + 1;
        return Some(Parsed::Leaf(Op::Conv1d {
            in_channels: ci,
            out_channels: co,
            in_length: len,
            out_length: out,
            kernel_size: k,
            stride,
            padding: pw,
            bias,
        }));
    }
    if c.opt("conv2d ") {
        let ci = c.num()?;
        c.lit("->")?;
        let co = c.num()?;
        c.lit(" k")?;
        let kh = c.num()?;
        c.lit("x")?;
        let kw = c.num()?;
        c.lit(" on ")?;
        let h = c.num()?;
        c.lit("x")?;
        let w = c.num()?;
        let (stride, ph, pw, bias) = conv_tail(&mut c, kh, kw)?;
        if stride == 0 || h + 2 * ph < kh || w + 2 * pw < kw {
            return None;
        }
        let out = [
            (h + 2 * ph - kh) / stride + 1,
            (w + 2 * pw - kw) / stride + 1,
        ];
        return Some(Parsed::Leaf(Op::Conv2d {
            in_channels: ci,
            out_channels: co,
            in_size: [h, w],
            out_size: out,
            kernel_size: [kh, kw],
            stride: [stride, stride],
            padding: [ph, pw],
            bias,
        }));
    }
    if c.opt("maxpool 2x2 on ") {
        let ch = c.num()?;
        c.lit("x")?;
        let h = c.num()?;
        c.lit("x")?;
        let w = c.num()?;
        c.done()?;
        return Some(Parsed::Leaf(Op::MaxPool2d {
            channels: ch,
            in_size: [h, w],
            kernel_size: [2, 2],
            stride: [2, 2],
        }));
    }
    if c.opt("global average pool ") {
        let ch = c.num()?;
        c.lit("x")?;
        let len = c.num()?;
        c.done()?;
        return Some(Parsed::Leaf(Op::GlobalAvgPool {
            channels: ch,
            length: len,
        }));
    }
    if c.opt("row tokens ") {
        let rows = c.num()?;
        c.lit("x")?;
        let row_len = c.num()?;
        c.lit(" -> ")?;
        let tokens = c.num()?;
        c.lit(" tokens x ")?;
        let dim = c.num()?;
        c.lit(" (cls, positions)")?;
        c.done()?;
        return Some(Parsed::Leaf(Op::RowTokens {
            rows,
            row_len,
            tokens,
            dim,
            cls_index: 0,
        }));
    }
    if c.opt("attention ") {
        let name = c.word().to_string();
        c.lit(" d=")?;
        let dim = c.num()?;
        c.lit(" heads=")?;
        let heads = c.num()?;
        c.lit(" tokens=")?;
        let tokens = c.num()?;
        let bias = no_bias(&mut c)?;
        if heads == 0 || dim % heads != 0 {
            return None;
        }
        let d_head = dim / heads;
        return Some(Parsed::Leaf(Op::Attention {
            name,
            dim,
            heads,
            d_head,
            tokens,
            bias,
            scale: 1.0 / (d_head as f64).sqrt(),
            qkv_packing: "q|k|v".into(),
            head_layout: "contiguous".into(),
        }));
    }
    if c.opt("cls pool (token 0 of ") {
        let t = c.num()?;
        c.lit(")")?;
        c.done()?;
        return Some(Parsed::Leaf(Op::ClsPool {
            tokens: t,
            token: 0,
        }));
    }
    if let Some(rest) = desc.strip_prefix("residual ") {
        let (inner, rest) = bracketed(rest)?;
        let shortcut = if rest.is_empty() {
            Vec::new()
        } else {
            let (s, end) = bracketed(rest.strip_prefix(" + shortcut ")?)?;
            if !end.is_empty() {
                return None;
            }
            split_top(s).into_iter().map(String::from).collect()
        };
        let branch = split_top(inner).into_iter().map(String::from).collect();
        return Some(Parsed::Residual(branch, shortcut));
    }
    None
}

// ---------------------------------------------------------------------------
// Rebuilding a parsed layer with the zoo's constructors (the check).

/// The zoo layers a leaf op can be (one per initialiser variant).
fn candidates(op: &Op) -> Vec<Box<dyn Layer<f64>>> {
    let b = |l: Box<dyn Layer<f64>>| l;
    match op.clone() {
        Op::Linear {
            in_features: i,
            out_features: o,
            bias,
        } => {
            vec![b(Box::new(if bias {
                Linear::new(i, o)
            } else {
                Linear::no_bias(i, o)
            }))]
        }
        Op::LayerNorm { features, .. } => vec![b(Box::new(LayerNorm::new(features)))],
        Op::BatchNorm {
            channels, length, ..
        } => vec![b(Box::new(BatchNorm::new(channels, length)))],
        Op::Gelu { .. } => vec![b(Box::new(Gelu::new()))],
        Op::Relu {} => vec![b(Box::new(Relu))],
        Op::Conv1d {
            in_channels,
            out_channels,
            in_length,
            kernel_size,
            stride,
            padding,
            bias,
            ..
        } => conv_variants(
            Conv::strided(
                in_channels,
                out_channels,
                1,
                in_length,
                (1, kernel_size),
                stride,
                (0, padding),
            ),
            bias,
        ),
        Op::Conv2d {
            in_channels,
            out_channels,
            in_size,
            kernel_size,
            stride,
            padding,
            bias,
            ..
        } => conv_variants(
            Conv::strided(
                in_channels,
                out_channels,
                in_size[0],
                in_size[1],
                (kernel_size[0], kernel_size[1]),
                stride[0],
                (padding[0], padding[1]),
            ),
            bias,
        ),
        Op::MaxPool2d {
            channels, in_size, ..
        } if in_size[0] % 2 == 0 && in_size[1] % 2 == 0 => {
            vec![b(Box::new(MaxPool2::new(channels, in_size[0], in_size[1])))]
        }
        Op::GlobalAvgPool { channels, length } => {
            vec![b(Box::new(GlobalAvgPool::new(channels, length)))]
        }
        Op::RowTokens {
            rows, row_len, dim, ..
        } => vec![b(Box::new(RowTokens::new(rows, row_len, dim)))],
        Op::Attention {
            name,
            dim,
            heads,
            tokens,
            bias,
            ..
        } => [AttentionInit::Linear, AttentionInit::MultiheadAttention]
            .into_iter()
            .map(|init| {
                b(Box::new(Attention::new(
                    &name, dim, heads, tokens, bias, init,
                )))
            })
            .collect(),
        Op::ClsPool { tokens, .. } => vec![b(Box::new(ClsPool::new(tokens)))],
        Op::MaxPool2d { .. } | Op::Residual { .. } | Op::Custom {} => Vec::new(),
    }
}

fn conv_variants(conv: Conv, bias: bool) -> Vec<Box<dyn Layer<f64>>> {
    let conv = if bias { conv } else { conv.without_bias() };
    vec![Box::new(conv.clone()), Box::new(conv.he_normal())]
}

/// Whether `built` is indistinguishable from `actual` through the trait:
/// description, parameter specs and initial buffers.
fn same(
    built: &dyn Layer<f64>,
    actual_desc: &str,
    actual_params: &[ParamSpec],
    actual_state: &[f64],
) -> bool {
    built.describe() == actual_desc
        && built.params() == actual_params
        && built.init_state() == actual_state
}

/// A parsed layer tree, each node with the zoo layer it rebuilds to.
struct Node {
    desc: String,
    op: Op,
    children: Option<(Vec<Node>, Vec<Node>)>,
    built: Box<dyn Layer<f64>>,
}

/// Parse `desc` and rebuild it so that its parameter specs are `params`
/// and its buffers `state` (the variants differ in initialisers only).
/// `None`: not a description this format knows, or no rebuild matches.
fn rebuild(desc: &str, params: &[ParamSpec], state: &[f64]) -> Option<Node> {
    match parse(desc)? {
        Parsed::Leaf(op) => {
            let built = candidates(&op)
                .into_iter()
                .find(|l| same(l.as_ref(), desc, params, state))?;
            Some(Node {
                desc: desc.into(),
                op,
                children: None,
                built,
            })
        }
        Parsed::Residual(branch, shortcut) => {
            // Split this layer's specs by child prefix ("i." in the branch,
            // "sj." in the shortcut) and its buffers in child order; the
            // children's buffer counts come from their own rebuilds.
            let mut offset = 0;
            let mut kids = |descs: &[String], prefix: &str| -> Option<Vec<Node>> {
                descs
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let p = format!("{prefix}{i}.");
                        let own: Vec<ParamSpec> = params
                            .iter()
                            .filter_map(|s| {
                                s.name
                                    .strip_prefix(&p)
                                    .map(|n| ParamSpec::new(n, s.shape, s.init))
                            })
                            .collect();
                        // Buffer count: parse first (no buffers assumed), then
                        // the rebuilt layer's own count decides.
                        let n = match parse(d)? {
                            Parsed::Leaf(op) => {
                                candidates(&op).first().map_or(0, |l| l.init_state().len())
                            }
                            Parsed::Residual(..) => return None,
                        };
                        let node = rebuild(d, &own, state.get(offset..offset + n)?)?;
                        offset += n;
                        Some(node)
                    })
                    .collect()
            };
            let b = kids(&branch, "")?;
            let s = kids(&shortcut, "s")?;
            let take = |v: &[Node]| -> Vec<Box<dyn Layer<f64>>> {
                v.iter().map(|n| n.built_again()).collect()
            };
            let built: Box<dyn Layer<f64>> = Box::new(Residual::with_shortcut(take(&b), take(&s)));
            if !same(built.as_ref(), desc, params, state) {
                return None;
            }
            Some(Node {
                desc: desc.into(),
                op: Op::Residual {
                    branch: Vec::new(),
                    shortcut: Vec::new(),
                },
                children: Some((b, s)),
                built,
            })
        }
    }
}

impl Node {
    /// A fresh copy of the rebuilt leaf (for assembling a residual).
    fn built_again(&self) -> Box<dyn Layer<f64>> {
        candidates(&self.op)
            .into_iter()
            .find(|l| l.params() == self.built.params())
            .expect("a leaf's variant rebuilds")
    }
}

// ---------------------------------------------------------------------------
// Shapes and tensors.

/// A sample's activation: `rows` rows of `feats` values (our 2-D layout),
/// and the natural per-sample shape for a reader.
#[derive(Debug, Clone)]
struct Act {
    rows: usize,
    feats: usize,
    shape: Vec<usize>,
}

impl Act {
    fn rows_of(rows: usize, feats: usize) -> Act {
        let shape = if rows > 1 {
            vec![rows, feats]
        } else {
            vec![feats]
        };
        Act { rows, feats, shape }
    }
    fn numel(&self) -> usize {
        self.rows * self.feats
    }
}

fn param(name: String, torch_name: &str, transpose: bool, torch_shape: Vec<usize>) -> LayerTensor {
    LayerTensor {
        name,
        role: "param".into(),
        torch_name: torch_name.into(),
        transpose,
        torch_shape,
    }
}

/// Build the manifest record of a rebuilt node at `path` reading `input`;
/// returns it and the activation it writes. `buffer_names` collects the
/// buffer tensor names in buffer order.
fn record(node: &Node, index: usize, path: &str, input: &Act) -> Result<(ManifestLayer, Act)> {
    let at = |what: String| anyhow!("layer {path} ({}): {what}", node.desc);
    let need = |ok: bool, what: String| -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(at(what))
        }
    };
    let name = |p: &str| format!("{path}.{p}");
    let mut tensors = Vec::new();
    let mut op = node.op.clone();
    let (in_shape, out, torch) = match &node.op {
        Op::Linear {
            in_features: i,
            out_features: o,
            bias,
        } => {
            need(
                input.feats == *i,
                format!("reads rows of {} features, gets {}", i, input.feats),
            )?;
            tensors.push(param(name("weight"), "weight", true, vec![*o, *i]));
            if *bias {
                tensors.push(param(name("bias"), "bias", false, vec![*o]));
            }
            let a = Act::rows_of(input.rows, *o);
            (
                Act::rows_of(input.rows, *i).shape,
                a,
                format!("torch.nn.Linear({i}, {o}, bias={})", py(*bias)),
            )
        }
        Op::LayerNorm { features, eps, .. } => {
            need(
                input.feats == *features,
                format!(
                    "normalises {features} features, gets rows of {}",
                    input.feats
                ),
            )?;
            tensors.push(param(name("gain"), "weight", false, vec![*features]));
            tensors.push(param(name("shift"), "bias", false, vec![*features]));
            let a = Act::rows_of(input.rows, *features);
            (
                a.shape.clone(),
                a,
                format!("torch.nn.LayerNorm({features}, eps={eps:e})"),
            )
        }
        Op::BatchNorm {
            channels: c,
            length: l,
            eps,
            momentum,
            ..
        } => {
            need(
                input.rows == 1 && input.feats == c * l,
                format!(
                    "reads {c}x{l} values per sample, gets {}x{}",
                    input.rows, input.feats
                ),
            )?;
            let shape = if input.shape.len() >= 2 && input.shape[0] == *c {
                input.shape.clone()
            } else {
                vec![*c, *l]
            };
            let module = if shape.len() == 3 {
                "BatchNorm2d"
            } else {
                "BatchNorm1d"
            };
            tensors.push(param(name("gain"), "weight", false, vec![*c]));
            tensors.push(param(name("shift"), "bias", false, vec![*c]));
            for b in ["running_mean", "running_var"] {
                tensors.push(LayerTensor {
                    name: name(b),
                    role: "buffer".into(),
                    torch_name: b.into(),
                    transpose: false,
                    torch_shape: vec![*c],
                });
            }
            let a = Act {
                rows: 1,
                feats: c * l,
                shape: shape.clone(),
            };
            (
                shape,
                a,
                format!("torch.nn.{module}({c}, eps={eps:e}, momentum={momentum}), eval mode"),
            )
        }
        Op::Gelu { .. } => (
            input.shape.clone(),
            input.clone(),
            "torch.nn.GELU(approximate='none')".into(),
        ),
        Op::Relu {} => (input.shape.clone(), input.clone(), "torch.nn.ReLU()".into()),
        Op::Conv1d {
            in_channels: ci,
            out_channels: co,
            in_length: l,
            out_length: lo,
            kernel_size: k,
            stride,
            padding,
            bias,
        } => {
            need(
                input.rows == 1 && input.feats == ci * l,
                format!("reads {ci}x{l} values per sample, gets {}", input.numel()),
            )?;
            tensors.push(param(name("weight"), "weight", true, vec![*co, *ci, *k]));
            if *bias {
                tensors.push(param(name("bias"), "bias", false, vec![*co]));
            }
            let a = Act {
                rows: 1,
                feats: co * lo,
                shape: vec![*co, *lo],
            };
            (
                vec![*ci, *l],
                a,
                format!(
                    "torch.nn.Conv1d({ci}, {co}, {k}, stride={stride}, padding={padding}, bias={})",
                    py(*bias)
                ),
            )
        }
        Op::Conv2d {
            in_channels: ci,
            out_channels: co,
            in_size,
            out_size,
            kernel_size: k,
            stride,
            padding,
            bias,
        } => {
            need(
                input.rows == 1 && input.feats == ci * in_size[0] * in_size[1],
                format!(
                    "reads {ci}x{}x{} values per sample, gets {}",
                    in_size[0],
                    in_size[1],
                    input.numel()
                ),
            )?;
            tensors.push(param(
                name("weight"),
                "weight",
                true,
                vec![*co, *ci, k[0], k[1]],
            ));
            if *bias {
                tensors.push(param(name("bias"), "bias", false, vec![*co]));
            }
            let a = Act {
                rows: 1,
                feats: co * out_size[0] * out_size[1],
                shape: vec![*co, out_size[0], out_size[1]],
            };
            (
                vec![*ci, in_size[0], in_size[1]],
                a,
                format!(
                    "torch.nn.Conv2d({ci}, {co}, ({}, {}), stride={}, padding=({}, {}), bias={})",
                    k[0],
                    k[1],
                    stride[0],
                    padding[0],
                    padding[1],
                    py(*bias)
                ),
            )
        }
        Op::MaxPool2d {
            channels: c,
            in_size: [h, w],
            ..
        } => {
            need(
                input.rows == 1 && input.feats == c * h * w,
                format!(
                    "reads {c}x{h}x{w} values per sample, gets {}",
                    input.numel()
                ),
            )?;
            let a = Act {
                rows: 1,
                feats: c * (h / 2) * (w / 2),
                shape: vec![*c, h / 2, w / 2],
            };
            (
                vec![*c, *h, *w],
                a,
                "torch.nn.MaxPool2d(2, stride=2)".into(),
            )
        }
        Op::GlobalAvgPool {
            channels: c,
            length: l,
        } => {
            need(
                input.rows == 1 && input.feats == c * l,
                format!("reads {c}x{l} values per sample, gets {}", input.numel()),
            )?;
            let shape = if input.shape.len() >= 2 && input.shape[0] == *c {
                input.shape.clone()
            } else {
                vec![*c, *l]
            };
            (shape, Act::rows_of(1, *c), "x.flatten(2).mean(2) on x of shape (N, C, ...) (torch.nn.AdaptiveAvgPool with output size 1, flattened)".into())
        }
        Op::RowTokens {
            rows,
            row_len,
            tokens,
            dim,
            ..
        } => {
            need(
                input.rows == 1 && input.feats == rows * row_len,
                format!(
                    "reads {rows}x{row_len} pixels per sample, gets {}",
                    input.numel()
                ),
            )?;
            tensors.push(param(
                name("embed.weight"),
                "embed.weight",
                true,
                vec![*dim, *row_len],
            ));
            tensors.push(param(name("embed.bias"), "embed.bias", false, vec![*dim]));
            tensors.push(param(name("cls"), "cls", false, vec![*dim]));
            tensors.push(param(name("pos"), "pos", false, vec![*tokens, *dim]));
            (
                vec![*rows, *row_len],
                Act::rows_of(*tokens, *dim),
                "torch.cat([cls.expand(N, 1, d), embed(x.reshape(N, rows, row_len))], dim=1) + pos  (embed = torch.nn.Linear(row_len, d))".into(),
            )
        }
        Op::Attention {
            dim,
            heads,
            tokens,
            bias,
            ..
        } => {
            need(
                input.feats == *dim && input.rows == *tokens,
                format!(
                    "reads {tokens} tokens of {dim}, gets {}x{}",
                    input.rows, input.feats
                ),
            )?;
            tensors.push(param(
                name("in_proj.weight"),
                "in_proj_weight",
                true,
                vec![3 * dim, *dim],
            ));
            if *bias {
                tensors.push(param(
                    name("in_proj.bias"),
                    "in_proj_bias",
                    false,
                    vec![3 * dim],
                ));
            }
            tensors.push(param(
                name("out_proj.weight"),
                "out_proj.weight",
                true,
                vec![*dim, *dim],
            ));
            if *bias {
                tensors.push(param(
                    name("out_proj.bias"),
                    "out_proj.bias",
                    false,
                    vec![*dim],
                ));
            }
            let a = Act {
                rows: *tokens,
                feats: *dim,
                shape: vec![*tokens, *dim],
            };
            (
                vec![*tokens, *dim],
                a,
                format!("torch.nn.MultiheadAttention({dim}, {heads}, bias={}, batch_first=True); y = mha(x, x, x, need_weights=False)[0] on x of shape (N, {tokens}, {dim})", py(*bias)),
            )
        }
        Op::ClsPool { tokens, token: i } => {
            need(
                input.rows == *tokens,
                format!("pools {tokens} tokens, gets {} rows per sample", input.rows),
            )?;
            (
                vec![*tokens, input.feats],
                Act::rows_of(1, input.feats),
                format!("x[:, {i}, :]"),
            )
        }
        Op::Residual { .. } => {
            let (b, s) = node
                .children
                .as_ref()
                .expect("a residual node has children");
            let chain = |nodes: &[Node], prefix: &str| -> Result<(Vec<ManifestLayer>, Act)> {
                let (mut out, mut act) = (Vec::new(), input.clone());
                for (i, n) in nodes.iter().enumerate() {
                    let (m, a) = record(n, i, &format!("{path}.{prefix}{i}"), &act)?;
                    out.push(m);
                    act = a;
                }
                Ok((out, act))
            };
            let (branch, fb) = chain(b, "")?;
            let (shortcut, fs) = chain(s, "s")?;
            need(
                (fb.rows, fb.feats) == (fs.rows, fs.feats),
                format!(
                    "branch writes {}x{} per sample, the shortcut {}x{}",
                    fb.rows, fb.feats, fs.rows, fs.feats
                ),
            )?;
            // The identity keeps the input's shape; a projection shortcut gives its own.
            let out = if s.is_empty() { input.clone() } else { fs };
            op = Op::Residual { branch, shortcut };
            let torch = if s.is_empty() {
                "x + branch(x)"
            } else {
                "shortcut(x) + branch(x)"
            };
            (input.shape.clone(), out, torch.to_string())
        }
        Op::Custom {} => unreachable!("custom layers are not rebuilt"),
    };
    Ok((
        ManifestLayer {
            index,
            path: path.into(),
            description: node.desc.clone(),
            op,
            input_shape: in_shape,
            output_shape: out.shape.clone(),
            tensors,
            torch,
        },
        out,
    ))
}

fn py(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// The manifest's layer records of `model`, in order: each zoo layer
/// parsed, rebuilt and checked (see the module docs); others as `custom`
/// with their tensors named from the model's layout. Errors name the layer.
pub fn describe_model(model: &Model<f64>) -> Result<Vec<ManifestLayer>> {
    let layout = model.layout();
    let buffers = model.buffer_layout();
    let mut act = Some(Act::rows_of(1, model.input_features));
    let mut out = Vec::new();
    for (i, layer) in model.layers().iter().enumerate() {
        let desc = layer.describe();
        let params: Vec<ParamSpec> = layout
            .iter()
            .filter(|t| t.0 == i)
            .map(|t| t.3.clone())
            .collect();
        let state = layer.init_state();
        let node = rebuild(&desc, &params, &state);
        if node.is_none() && parse(&desc).is_some() {
            bail!("layer {i} ({desc}): the description is one of a zoo layer, but that layer's parameters or buffers differ from this one's");
        }
        match (node, act.as_ref()) {
            (Some(node), Some(a)) => {
                let (m, next) = record(&node, i, &i.to_string(), a)?;
                out.push(m);
                act = Some(next);
            }
            (node, _) => {
                // A custom layer, or any layer after one: shapes unknown.
                let _ = node;
                let mut tensors: Vec<LayerTensor> = params
                    .iter()
                    .map(|s| {
                        param(
                            format!("{i}.{}", s.name),
                            &s.name,
                            false,
                            vec![s.shape.0, s.shape.1],
                        )
                    })
                    .collect();
                if let Some((_, _, r)) = buffers.iter().find(|b| b.0 == i) {
                    tensors.push(LayerTensor {
                        name: format!("{i}.buffers"),
                        role: "buffer".into(),
                        torch_name: "buffers".into(),
                        transpose: false,
                        torch_shape: vec![1, r.len()],
                    });
                }
                out.push(ManifestLayer {
                    index: i,
                    path: i.to_string(),
                    description: desc,
                    op: Op::Custom {},
                    input_shape: Vec::new(),
                    output_shape: Vec::new(),
                    tensors,
                    torch: String::new(),
                });
                act = None;
            }
        }
    }
    if let Some(a) = act {
        ensure!(
            a.rows == 1 && a.feats == model.classes,
            "the last layer writes {}x{} values per sample, not the {} logits",
            a.rows,
            a.feats,
            model.classes
        );
    }
    Ok(out)
}

/// Every layer of a record tree, depth first (a residual before its branch,
/// then its shortcut).
pub fn flatten(layers: &[ManifestLayer]) -> Vec<&ManifestLayer> {
    let mut out = Vec::new();
    for l in layers {
        out.push(l);
        if let Op::Residual { branch, shortcut } = &l.op {
            out.extend(flatten(branch));
            out.extend(flatten(shortcut));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_of_every_zoo_layer_parse() {
        for d in [
            "linear 64->10",
            "linear 32->96 (no bias)",
            "layernorm 32",
            "batchnorm 32 (length 64)",
            "gelu (exact erf)",
            "relu",
            "conv1d 1->32 k3 len 64",
            "conv2d 16->32 k1x1 on 8x8 stride 2 pad 0x0 (no bias)",
            "maxpool 2x2 on 16x8x8",
            "global average pool 64x4",
            "row tokens 8x8 -> 9 tokens x 32 (cls, positions)",
            "attention block0.attn d=32 heads=4 tokens=9 (no bias)",
            "cls pool (token 0 of 9)",
            "residual [layernorm 32, attention block0.attn d=32 heads=4 tokens=9]",
            "residual [conv2d 16->32 k3x3 on 8x8 stride 2 pad 1x1 (no bias), batchnorm 32 (length 16)] + shortcut [conv2d 16->32 k1x1 on 8x8 stride 2 pad 0x0 (no bias), batchnorm 32 (length 16)]",
        ] {
            assert!(parse(d).is_some(), "{d}");
        }
        for d in [
            "linear 64->",
            "linear 64->10 extra",
            "softplus",
            "residual [relu",
            "conv2d 1->2 k3x3 on 8x8 stride 0 pad 1x1",
        ] {
            assert!(parse(d).is_none(), "{d}");
        }
        assert_eq!(
            split_top("a [b, c], d (e, f), g"),
            ["a [b, c]", "d (e, f)", "g"]
        );
    }

    #[test]
    fn the_rebuild_tells_initialisers_apart() {
        let conv = Conv::strided(16, 32, 8, 8, (3, 3), 2, (1, 1))
            .without_bias()
            .he_normal();
        let desc = Layer::<f64>::describe(&conv);
        let node = rebuild(&desc, &Layer::<f64>::params(&conv), &[]).unwrap();
        assert_eq!(node.built.params(), Layer::<f64>::params(&conv));
        let plain = Conv::strided(16, 32, 8, 8, (3, 3), 2, (1, 1)).without_bias();
        assert_ne!(Layer::<f64>::params(&plain), Layer::<f64>::params(&conv));
        // A description that lies about the parameters does not rebuild.
        let mut wrong = Layer::<f64>::params(&conv);
        wrong[0].shape.1 += 1;
        assert!(rebuild(&desc, &wrong, &[]).is_none());
    }
}
