//! Export of one model at seeded parameters, a seeded unit direction, a few
//! digits samples and our numbers on them (logits, exact JVP slopes, spreads,
//! ρa), in a form an outside framework (PyTorch, JAX) can load to check them:
//! three safetensors files and a `manifest.json` that states every layout
//! convention (`ghosts zoo export`).
//!
//! Files in the output directory:
//! - `params.safetensors`: θ, one f64 tensor per parameter, named
//!   `"<layer index>.<param name>"` with our 2-D shape; BatchNorm running
//!   statistics (the model's buffers) too, as `"<layer>.running_mean"` and
//!   `"<layer>.running_var"`.
//! - `direction.safetensors`: the unit direction v, same names and shapes as
//!   the parameters.
//! - `data.safetensors`: `inputs`, `labels`, `indices`, `logits`, `slopes`,
//!   `fd_slopes`, `delta_a`.
//! - `manifest.json`: the model as structured layer records (format 2,
//!   [`spec`]: kind, sizes, kernel, stride, padding, heads, tokens, bias,
//!   eps, momentum, per-sample shapes, each tensor's PyTorch name and
//!   transform), the tensor table in model order (safetensors itself stores
//!   tensors sorted by name), where the parameters come from (fresh init,
//!   `--train-steps`, `--checkpoint`), the conventions, ρa, and the sha256
//!   of each safetensors file.
//!
//! `tools/rebuild_torch.py` rebuilds any export in PyTorch from these files
//! alone and compares logits and `torch.func.jvp` slopes.
//!
//! Every file is written to a temporary name in the output directory,
//! fsynced and renamed into place ([`write_atomic`]), so a reader never sees
//! a half-written file.
//! [`load_export`] reads a directory back and verifies the checksums.

use crate::check::{normwise_rel_error, CHECK_EPS};
use crate::{ArchConfig, ArchEntry, Batch, Init, ParamVec, State};
use anyhow::{anyhow, bail, ensure, Context, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

pub mod spec;
pub use spec::{LayerTensor, ManifestLayer, Op, LAYER_KINDS};

/// Value of the manifest's `format` field.
pub const EXPORT_FORMAT: &str = "ghosts-zoo-export";
/// Version of the export layout (bumped on any incompatible change).
pub const EXPORT_VERSION: u32 = 2;
/// Parameters (and buffers) file name.
pub const PARAMS_FILE: &str = "params.safetensors";
/// Direction file name.
pub const DIRECTION_FILE: &str = "direction.safetensors";
/// Data file name.
pub const DATA_FILE: &str = "data.safetensors";
/// Manifest file name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The one key of each safetensors file's `__metadata__`: a JSON string with
/// format, version, arch, seed, content and the manifest's file name.
pub const METADATA_KEY: &str = "ghosts";
/// Default number of exported samples.
pub const DEFAULT_SAMPLES: usize = 32;
/// Test fraction of the stratified digits split the samples come from.
pub const SPLIT_TEST_RATIO: f64 = 0.3;
/// Seed of that split.
pub const SPLIT_SEED: u64 = 42;
/// Step of the reference central finite differences (`fd_slopes`).
pub const FD_EPS: f64 = CHECK_EPS;

/// The requested number of samples is 0 or exceeds the test split: a bad
/// input, not a failure of the export (the CLI reports it with exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleCountError {
    /// Samples asked for.
    pub requested: usize,
    /// Samples in the test part of the split.
    pub available: usize,
}

impl std::fmt::Display for SampleCountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--samples {} out of range: the digits test split has {} samples (use 1..={})",
            self.requested, self.available, self.available
        )
    }
}

impl std::error::Error for SampleCountError {}

/// A checkpoint that cannot be read into the model (missing file, not
/// safetensors, a tensor missing, extra, of the wrong dtype or shape, or
/// written for another architecture): a bad input (exit code 2 in the CLI).
/// The message names the file and the tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointError(pub String);

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckpointError {}

/// One written file with its checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedFile {
    /// File name inside the export directory.
    pub name: String,
    /// Lower-case hex sha256 of its bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// What [`export`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    /// Output directory.
    pub dir: PathBuf,
    /// Registry name.
    pub arch: String,
    /// Seed of the parameters (the direction uses seed + 1).
    pub seed: u64,
    /// Trainable scalars.
    pub num_params: usize,
    /// Buffer scalars (BatchNorm running statistics).
    pub num_buffers: usize,
    /// Exported samples.
    pub samples: usize,
    /// max over samples of Δa = max_k a_k − min_k a_k.
    pub max_delta_a: f64,
    /// ρa = π / max Δa (`inf` if every spread is 0).
    pub rho_a: f64,
    /// Normwise relative error of the FD reference against the exact slopes.
    pub fd_max_rel_error: f64,
    /// The three safetensors files, then the manifest (the manifest cannot
    /// hold its own checksum).
    pub files: Vec<ExportedFile>,
}

/// One tensor of `params.safetensors` / `direction.safetensors` in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestTensor {
    /// Tensor name, `"<layer index>.<param name>"`.
    pub name: String,
    /// `"param"` (in params and direction files) or `"buffer"` (params file only).
    pub kind: String,
    /// Files holding it.
    pub files: Vec<String>,
    /// Index of its (top-level) layer.
    pub layer: usize,
    /// The top-level layer's `describe()` string.
    pub layer_description: String,
    /// Path of the layer record holding it (`manifest.layers`, nested in
    /// residual blocks: "5.1", "5.s0").
    pub path: String,
    /// Name within the top-level layer (residual blocks prefix their inner
    /// layer's index: "1.in_proj.weight", "s0.weight").
    pub param: String,
    /// Our 2-D shape (rows, cols), row-major.
    pub shape: Vec<usize>,
    /// Number of elements.
    pub numel: usize,
    /// Offset into the flat parameter vector (params) or buffer vector (buffers).
    pub offset: usize,
    /// Initialiser, as Rust debug text (e.g. `Uniform(0.125)`); empty for buffers.
    pub init: String,
    /// Name in the PyTorch module of its layer record (`torch` there).
    pub torch_name: String,
    /// PyTorch tensor = (ours.T if `transpose` else ours).reshape(`torch_shape`).
    pub transpose: bool,
    /// Shape of the PyTorch tensor.
    pub torch_shape: Vec<usize>,
    /// The same in words.
    pub layout: String,
}

/// One tensor of `data.safetensors` in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestDataTensor {
    /// Tensor name.
    pub name: String,
    /// safetensors dtype ("F64" or "I64").
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// What it holds.
    pub description: String,
}

/// Where the samples come from and what was computed on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestData {
    /// The data file.
    pub file: String,
    /// Number of samples N.
    pub samples: usize,
    /// How the samples were chosen.
    pub selection: String,
    /// Row indices into the digits file (also the `indices` tensor).
    pub indices: Vec<usize>,
    /// The tensors of the data file.
    pub tensors: Vec<ManifestDataTensor>,
}

/// The direction v.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestDirection {
    /// The direction file.
    pub file: String,
    /// Seed of `ParamVec::random_unit` (parameter seed + 1).
    pub seed: u64,
    /// How it was drawn.
    pub distribution: String,
    /// Its global L2 norm over all parameter tensors, as computed here (1 up to rounding).
    pub norm: f64,
}

/// Training that produced the exported parameters (`--train-steps`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestTraining {
    /// The architecture's recipe (`zoo::train::Recipe::for_arch`) with `steps` replaced.
    pub recipe: crate::train::Recipe,
    /// Seed of `zoo::train::fit` (minibatch draws); the parameter seed.
    pub fit_seed: u64,
    /// How the training ran (data, element type, backend, BatchNorm recalibration).
    pub method: String,
    /// Training samples (the train part of the split the exported samples come from).
    pub train_samples: usize,
    /// Mean cross-entropy of the last step's batch.
    pub final_loss: f64,
}

/// Where the exported parameters and buffers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestParameters {
    /// "init" (`Model::init(seed)`), "trained" (init, then `training`) or
    /// "checkpoint" (read from `checkpoint`).
    pub source: String,
    /// Seed of `Model::init` (unused for "checkpoint").
    pub init_seed: u64,
    /// The training run ("trained" only).
    pub training: Option<ManifestTraining>,
    /// The checkpoint file read, with its sha256 and size ("checkpoint" only).
    pub checkpoint: Option<ExportedFile>,
}

/// The JVP results summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestJvp {
    /// Model mode of the forward and tangent passes.
    pub mode: String,
    /// How `slopes` were computed.
    pub method: String,
    /// max over samples of Δa.
    pub max_delta_a: f64,
    /// Sample (row of the data tensors) attaining the maximum.
    pub argmax_sample: usize,
    /// Softmax temperature of the loss (ρa above is for the untempered logits).
    pub temperature: f64,
    /// Step of the central differences in `fd_slopes`.
    pub fd_eps: f64,
    /// max |slopes − fd_slopes| / max |fd_slopes|.
    pub fd_max_rel_error: f64,
}

/// Contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// [`EXPORT_VERSION`] at writing time.
    pub format_version: u32,
    /// Registry name.
    pub arch: String,
    /// Registry description.
    pub description: String,
    /// Size knobs the model was built with (null = the architecture's default).
    pub config: ArchConfig,
    /// Seed of the parameters (`Model::init`).
    pub seed: u64,
    /// Element type of every floating-point tensor ("f64").
    pub element_type: String,
    /// Trainable scalars.
    pub num_params: usize,
    /// Buffer scalars.
    pub num_buffers: usize,
    /// Features of an input row.
    pub input_features: usize,
    /// Number of classes (logits per sample).
    pub classes: usize,
    /// Per-sample shape of the input (C-order view of its `input_features` values).
    pub input_shape: Vec<usize>,
    /// Every value a layer's `kind` can take ([`LAYER_KINDS`]).
    pub layer_kinds: Vec<String>,
    /// The model's layers in order, as structured records ([`spec`]).
    pub layers: Vec<ManifestLayer>,
    /// Where θ and the buffers come from.
    pub parameters: ManifestParameters,
    /// Parameter tensors in model order, then buffers.
    pub tensors: Vec<ManifestTensor>,
    /// The direction.
    pub direction: ManifestDirection,
    /// The samples.
    pub data: ManifestData,
    /// ρa = π / max over samples of Δa, for the untempered logits (null if
    /// every spread is 0, i.e. ρa = ∞).
    pub rho_a: Option<f64>,
    /// The JVP summary.
    pub jvp: ManifestJvp,
    /// Conventions an outside implementation must follow, by topic.
    pub conventions: BTreeMap<String, String>,
    /// How to load the export in PyTorch (text lines, not shipped as code).
    pub pytorch: Vec<String>,
    /// The safetensors files with sha256 and size.
    pub files: Vec<ExportedFile>,
}

/// An export read back by [`load_export`].
#[derive(Debug, Clone)]
pub struct Exported {
    /// The manifest.
    pub manifest: Manifest,
    /// θ in model order (flat, as `Model::init` lays it out).
    pub params: ParamVec<f64>,
    /// Buffers in model order (as `State::buffers`).
    pub buffers: Vec<f64>,
    /// The unit direction in model order.
    pub direction: ParamVec<f64>,
    /// Inputs, row-major N × input features.
    pub inputs: Vec<f64>,
    /// Labels.
    pub labels: Vec<usize>,
    /// Row indices into the digits file.
    pub indices: Vec<usize>,
    /// Logits, row-major N × classes.
    pub logits: Vec<f64>,
    /// Exact JVP slopes, row-major N × classes.
    pub slopes: Vec<f64>,
    /// Central-FD slopes, row-major N × classes.
    pub fd_slopes: Vec<f64>,
    /// Δa per sample.
    pub delta_a: Vec<f64>,
}

impl Exported {
    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.labels.len()
    }

    /// Parameters and buffers as a model state.
    pub fn state(&self) -> State<f64> {
        State {
            params: self.params.clone(),
            buffers: self.buffers.clone(),
        }
    }

    /// The inputs and labels as a batch.
    pub fn batch(&self) -> Batch<f64> {
        Batch::new(
            self.inputs.clone(),
            self.manifest.input_features,
            self.labels.clone(),
            self.manifest.classes,
        )
    }
}

/// Lower-case hex sha256 of `bytes` (the checksums of [`ExportedFile`]);
/// the one implementation is [`data::sha256_hex`].
pub use data::sha256_hex;

/// Write `bytes` to `path` atomically: a hidden temporary file in the same
/// directory (`.<name>.<random>.tmp`), fsynced, renamed over `path`, then
/// the directory fsynced (best effort), so a reader or a crash sees the old
/// file or the whole new one. The same durability as
/// `analysis::store::write_atomic`. The error names `path`; the temporary
/// file is removed on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("writing {}: not a file path", path.display()))?;
    let prefix = format!(".{}.", name.to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // The permissions `File::create` gives (0o666 less the umask), not
    // tempfile's private 0o600: the export is meant to be shared.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let result = (|| -> std::io::Result<()> {
        // Dropping `tmp` on an error removes the temporary file.
        let mut tmp = builder.tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path)?;
        Ok(())
    })();
    result.with_context(|| format!("writing {}", path.display()))?;
    // Make the rename itself durable; best effort (not all systems allow it).
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn i64_bytes(values: &[usize]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| (v as i64).to_le_bytes())
        .collect()
}

/// One tensor to serialise: name, dtype, shape, little-endian bytes.
struct Owned {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl Owned {
    fn f64(name: &str, shape: Vec<usize>, values: &[f64]) -> Self {
        Owned {
            name: name.into(),
            dtype: Dtype::F64,
            shape,
            bytes: f64_bytes(values),
        }
    }

    fn i64(name: &str, shape: Vec<usize>, values: &[usize]) -> Self {
        Owned {
            name: name.into(),
            dtype: Dtype::I64,
            shape,
            bytes: i64_bytes(values),
        }
    }
}

/// Serialise tensors to safetensors bytes with string metadata.
fn serialize(file: &str, tensors: &[Owned], metadata: &HashMap<String, String>) -> Result<Vec<u8>> {
    let mut views = Vec::with_capacity(tensors.len());
    let mut seen = HashSet::new();
    for t in tensors {
        ensure!(
            seen.insert(t.name.as_str()),
            "{file}: duplicate tensor name {:?}",
            t.name
        );
        let view = TensorView::new(t.dtype, t.shape.clone(), &t.bytes)
            .map_err(|e| anyhow!("{file}: tensor {:?}: {e:?}", t.name))?;
        views.push((t.name.clone(), view));
    }
    safetensors::serialize(views, &Some(metadata.clone()))
        .map_err(|e| anyhow!("{file}: serialising: {e:?}"))
}

/// The manifest's words for one tensor's layout and PyTorch mapping.
fn layout_text(t: &LayerTensor, shape: (usize, usize)) -> String {
    let (r, c) = shape;
    let torch = if t.transpose {
        format!("ours.T.reshape({:?})", t.torch_shape)
    } else {
        format!("ours.reshape({:?})", t.torch_shape)
    };
    format!(
        "stored ({r}, {c}) row-major; PyTorch {} = {torch}",
        t.torch_name
    )
}

/// The tensor table: every parameter in model order (checked against the
/// model's layout: names and sizes), then every buffer in model order, as
/// the layer records name them.
fn tensor_table(
    model: &crate::Model<f64>,
    records: &[ManifestLayer],
) -> Result<Vec<ManifestTensor>> {
    let leaves: Vec<&ManifestLayer> = spec::flatten(records)
        .into_iter()
        .filter(|l| !matches!(l.op, Op::Residual { .. }))
        .collect();
    let top = |path: &str| -> (usize, String) {
        let i: usize = path
            .split('.')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a numeric top-level path");
        (i, records[i].description.clone())
    };
    let mut table = Vec::new();
    let layout = model.layout();
    let params: Vec<(&ManifestLayer, &LayerTensor)> = leaves
        .iter()
        .flat_map(|l| {
            l.tensors
                .iter()
                .filter(|t| t.role == "param")
                .map(move |t| (*l, t))
        })
        .collect();
    ensure!(
        params.len() == layout.len(),
        "the layer records name {} parameter tensors, the model has {}",
        params.len(),
        layout.len()
    );
    for ((leaf, t), (layer, _, offset, spec)) in params.into_iter().zip(&layout) {
        let name = format!("{layer}.{}", spec.name);
        ensure!(
            t.name == name,
            "layer {}: record names tensor {:?}, the model's is {name:?}",
            leaf.path,
            t.name
        );
        ensure!(
            t.torch_shape.iter().product::<usize>() == spec.numel(),
            "layer {}: tensor {name:?} has {} values, its PyTorch shape {:?} holds {}",
            leaf.path,
            spec.numel(),
            t.torch_shape,
            t.torch_shape.iter().product::<usize>()
        );
        let (li, ldesc) = top(&leaf.path);
        table.push(ManifestTensor {
            name,
            kind: "param".into(),
            files: vec![PARAMS_FILE.into(), DIRECTION_FILE.into()],
            layer: li,
            layer_description: ldesc,
            path: leaf.path.clone(),
            param: spec.name.clone(),
            shape: vec![spec.shape.0, spec.shape.1],
            numel: spec.numel(),
            offset: *offset,
            init: init_text(spec.init),
            torch_name: t.torch_name.clone(),
            transpose: t.transpose,
            torch_shape: t.torch_shape.clone(),
            layout: layout_text(t, spec.shape),
        });
    }
    let mut offset = 0;
    for leaf in &leaves {
        for t in leaf.tensors.iter().filter(|t| t.role == "buffer") {
            let n: usize = t.torch_shape.iter().product();
            let (li, ldesc) = top(&leaf.path);
            let prefix = format!("{li}.");
            table.push(ManifestTensor {
                name: t.name.clone(),
                kind: "buffer".into(),
                files: vec![PARAMS_FILE.into()],
                layer: li,
                layer_description: ldesc,
                path: leaf.path.clone(),
                param: t.name.strip_prefix(&prefix).unwrap_or(&t.name).to_string(),
                shape: vec![1, n],
                numel: n,
                offset,
                init: String::new(),
                torch_name: t.torch_name.clone(),
                transpose: false,
                torch_shape: t.torch_shape.clone(),
                layout: layout_text(t, (1, n)),
            });
            offset += n;
        }
    }
    ensure!(
        offset == model.num_buffers(),
        "the layer records name {offset} buffer values, the model has {}",
        model.num_buffers()
    );
    Ok(table)
}

fn conventions() -> BTreeMap<String, String> {
    let c = [
        ("element_type", "every floating-point tensor is f64 (safetensors F64, little-endian); labels and indices are I64"),
        ("layout", "row-major; every stored parameter is 2-D (rows, cols) and vectors are (1, n); each tensor's PyTorch form is (ours.T if transpose else ours).reshape(torch_shape) (manifest.tensors and each layer's tensors); the transform is linear, so the direction's tensors map the same way"),
        ("naming", "parameter tensors are named \"<layer index>.<param name>\" in model order (manifest.tensors; safetensors itself sorts names, and \"10.x\" sorts before \"2.x\"); inside a residual block the name continues with the inner layer's index (\"3.1.in_proj.weight\") or, in its shortcut, \"s<index>\" (\"5.s0.weight\"); a layer record's `path` is that prefix"),
        ("layers", "manifest.layers holds one record per layer: `kind` (one of manifest.layer_kinds), its sizes, `input_shape` and `output_shape` per sample, its `tensors` with their PyTorch names and transforms, and a `torch` line; a residual record holds its `branch` and `shortcut` records"),
        ("shapes", "our activations are 2-D: rows = samples (or samples x tokens, sample-major), columns = features (or C*H*W channel-major); a record's input_shape / output_shape is the per-sample block of those values viewed in C order ([features], [tokens, d], [C, L] or [C, H, W]), so reshaping (N, ...) from one layer's output_shape to the next layer's input_shape is exact and free"),
        ("linear", "kind linear: y = x W + b on the last axis (every token alike), W stored (in, out): torch.nn.Linear.weight = W.T (out, in), bias = b.reshape(-1); `bias` false means no b"),
        ("gelu", "kind gelu: the exact erf form x * Phi(x) (torch.nn.GELU(approximate='none')), not the tanh approximation"),
        ("relu", "kind relu: max(x, 0), tangent 1[x > 0] * dx (0 at x = 0, as torch)"),
        ("layernorm", "kind layernorm: over the last axis, biased variance, y = (x - mean) / sqrt(var + eps) * gain + shift (torch.nn.LayerNorm(n, eps=1e-5): weight = gain, bias = shift)"),
        ("convolution", "kinds conv1d / conv2d: cross-correlation as torch.nn.Conv1d / Conv2d with the record's kernel_size, stride, padding (zeros) and bias; weight stored (C_in*kh*kw, C_out) with row index ci*kh*kw + ky*kw + kx (im2col rows times W): torch weight = W.T.reshape(C_out, C_in, kh, kw) (Conv1d: (C_out, C_in, k)); activations channel-major, the PyTorch flatten order of (N, C, H, W)"),
        ("batchnorm", "kind batchnorm: per channel over batch and the `length` values of the channel (torch.nn.BatchNorm1d on (N, C, L), BatchNorm2d on (N, C, H, W): the record's input_shape says which), eps and momentum in the record (train mode: running <- (1 - momentum) running + momentum batch, unbiased batch variance, as torch); gain/shift = weight/bias; running statistics are buffers \"<path>.running_mean\" / \"<path>.running_var\" in params.safetensors (kind \"buffer\" in manifest.tensors, offset into the flat buffer vector); the exported numbers use eval mode (normalise with the running statistics) and the direction has no component on them"),
        ("pooling", "kind maxpool2d: torch.nn.MaxPool2d(2, stride=2), ties to the first maximal entry in row-major window order (the tangent follows the winner, as torch's); kind global_avg_pool: mean over every axis after the channel axis, (N, C, ...) -> (N, C); kind cls_pool: token `token` (0, the CLS token) of (N, T, d) -> (N, d)"),
        ("row_tokens", "kind row_tokens: the (N, rows * row_len) image is (N, rows, row_len), row r = pixels r*row_len .. (r+1)*row_len - 1 (8 consecutive pixels per token for the digits); each row is embedded by one shared Linear(row_len, d) (embed.weight stored (row_len, d), torch = .T); the learned CLS vector (no embedding, no bias) is prepended as token 0; learned positions pos (tokens, d) are added to all tokens, CLS included: y = cat([cls, embed(rows)], 1) + pos, shape (N, rows + 1, d)"),
        ("attention", "kind attention: self-attention over (N, tokens, d), no mask, no dropout: [q k v] = x W_in (+ b_in) with W_in stored (d, 3d) packed q | k | v by columns (q = columns 0..d, k = d..2d, v = 2d..3d); head h uses columns h*d_head .. (h+1)*d_head of each of q, k, v (contiguous blocks); scores q_h k_h^T * scale with scale = 1/sqrt(d_head), softmax over keys, o = heads' p_h v_h concatenated in head order, y = o W_out (+ b_out) with W_out stored (d, d). This is torch.nn.MultiheadAttention(d, heads, bias=bias, batch_first=True) with in_proj_weight = W_in.T (3d, d), in_proj_bias = b_in.reshape(-1), out_proj.weight = W_out.T, out_proj.bias = b_out.reshape(-1), called as mha(x, x, x)[0]; bias false: neither projection has a bias"),
        ("single_token", "a record with kind attention and tokens 1 reads its input as (N, 1, d) (input_shape [1, d]): the single-token transformer feeds its one token to attention as a sequence of length 1, where softmax over one key is 1 and attention reduces to out_proj(v)"),
        ("residual", "kind residual: y = f(x) + g(x), f = the `branch` records in order, g = the `shortcut` records in order or the identity when empty; both are reshaped to the record's output_shape before the sum (pre-norm transformer blocks: x + attention(LN(x)), x + fc2(GELU(fc1(LN(x)))); ResNet BasicBlocks: conv-BN-ReLU-conv-BN plus identity or conv1x1 + BN, followed by a separate relu record)"),
        ("mode", "logits, slopes and fd_slopes are computed in eval mode (BatchNorm uses its running statistics; no dropout exists)"),
        ("direction", "v = ParamVec::random_unit(num_params, seed + 1): iid N(0, 1) per parameter, divided by the global L2 norm over all parameter tensors, so ||v||_2 = 1 over the concatenation of every tensor (not per tensor)"),
        ("jvp", "slopes a = J_z v: the exact forward-mode directional derivative of the logits z(theta) along v at the exported theta (torch.func.jvp / jax.jvp with tangents = direction tensors); fd_slopes = (z(theta + eps v) - z(theta - eps v)) / (2 eps), eps = 1e-6, for reference only"),
        ("inputs", "digits pixels divided by 16 (values in [0, 1]), 64 = 8 x 8 features per row, row-major (pixel 8*r + c is image row r, column c)"),
        ("parameters", "manifest.parameters.source: \"init\" (Model::init(seed): running statistics exactly 0 / 1, gains 1), \"trained\" (init, then --train-steps N of the architecture's recipe) or \"checkpoint\" (--checkpoint FILE: a params.safetensors of this layout)"),
        ("rho_a", "delta_a_i = max_k a_ik - min_k a_ik per sample; rho_a = pi / max_i delta_a_i over the exported samples (untempered; with temperature T the bound is pi T / max delta_a)"),
        ("loss", "the training loss is mean cross-entropy of logits / temperature; logits are stored untempered"),
    ];
    c.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn pytorch_note() -> Vec<String> {
    [
        "# tools/rebuild_torch.py in the ghosts repository rebuilds any export from these files alone:",
        "#   python3 tools/rebuild_torch.py EXPORT_DIR   (needs torch; compares logits and torch.func.jvp slopes in f64 and f32)",
        "# By hand (pip install torch safetensors):",
        "import json, math, torch",
        "from safetensors.torch import load_file",
        "m = json.load(open('manifest.json'))",
        "p = load_file('params.safetensors'); v = load_file('direction.safetensors'); d = load_file('data.safetensors')",
        "def to_torch(t, x): return (x.T if t['transpose'] else x).reshape(t['torch_shape'])",
        "# Walk m['layers'] in order: reshape x to (N, *layer['input_shape']), build layer['torch'] (kind fields in the record),",
        "# load each of layer['tensors'] as module.<torch_name> = to_torch(t, p[t['name']]); a residual sums branch and shortcut.",
        "names = [t['name'] for t in m['tensors'] if t['kind'] == 'param']   # model order",
        "def f(*theta): return forward(dict(zip(names, theta)), d['inputs'])",
        "z, a = torch.func.jvp(f, tuple(p[n] for n in names), tuple(v[n] for n in names))",
        "assert torch.allclose(z, d['logits'], rtol=1e-12, atol=1e-14) and torch.allclose(a, d['slopes'], rtol=1e-12, atol=1e-14)",
        "rho_a = math.pi / (a.max(1).values - a.min(1).values).max().item()   # compare m['rho_a']",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Where the exported parameters come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamSource {
    /// `Model::init(seed)`.
    Init,
    /// `Model::init(seed)`, then `steps` steps of the architecture's recipe
    /// (`Recipe::for_arch(name).with_steps(steps)`) on the digits train split,
    /// `fit` seeded with the parameter seed.
    Train {
        /// Optimiser steps (at least 1).
        steps: usize,
    },
    /// A safetensors file in the layout of `params.safetensors` (or a
    /// directory holding one under that name).
    Checkpoint(PathBuf),
}

/// What [`export_with`] exports.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// Seed of the parameters; the direction uses seed + 1.
    pub seed: u64,
    /// Number of digits test samples.
    pub samples: usize,
    /// Where θ and the buffers come from.
    pub source: ParamSource,
}

/// [`export_with`] at freshly initialised parameters (`Model::init(seed)`).
pub fn export(entry: &ArchEntry, seed: u64, samples: usize, out: &Path) -> Result<ExportSummary> {
    export_with(
        entry,
        &ExportOptions {
            seed,
            samples,
            source: ParamSource::Init,
        },
        out,
    )
}

/// Train `model`'s init(seed) for `steps` steps of its recipe on the
/// digits train split (f32, fast backend when every layer has one, as the
/// experiments train), returning the state in f64 and the training record.
fn train_state(
    entry: &ArchEntry,
    seed: u64,
    steps: usize,
    digits: &data::Digits,
    train: &[usize],
) -> Result<(State<f64>, ManifestTraining)> {
    ensure!(steps >= 1, "--train-steps must be at least 1");
    let config = ArchConfig::default();
    let (model, backend) = match entry.build_on::<f32>(&config, crate::Backend::Fast) {
        Ok(m) => (m, "fast"),
        Err(_) => (entry.build::<f32>(&config), "dfdx"),
    };
    let mut state = model.init(seed);
    let data = Batch::<f32>::from_digits(digits, train);
    let recipe = crate::train::Recipe::for_arch(entry.name).with_steps(steps);
    let loss = crate::train::fit(&model, &mut state, &data, &recipe, seed);
    ensure!(
        loss.is_finite()
            && state
                .params
                .0
                .iter()
                .chain(&state.buffers)
                .all(|v| v.is_finite()),
        "{}: training {steps} steps of its recipe diverged (last loss {loss})",
        entry.name
    );
    let widen = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let method = format!(
        "zoo::train::fit: AdamW (beta 0.9 / 0.999, eps 1e-8) in f32 on the {backend} backend, from Model::init({seed}), on the train part of the same digits split ({} samples){}; then widened to f64",
        train.len(),
        if state.buffers.is_empty() { String::new() } else { format!(", then BatchNorm running statistics recalibrated by {} train-mode passes over the training data", crate::train::RECALIBRATION_PASSES) }
    );
    Ok((
        State {
            params: ParamVec(widen(&state.params.0)),
            buffers: widen(&state.buffers),
        },
        ManifestTraining {
            recipe,
            fit_seed: seed,
            method,
            train_samples: train.len(),
            final_loss: loss,
        },
    ))
}

/// Read a checkpoint into a state of `table`'s layout: every parameter and
/// buffer tensor by name, F64 or F32 (widened), in our 2-D shape; no other
/// tensors; a `ghosts` metadata entry, if present, must name `arch`.
fn load_checkpoint(
    path: &Path,
    arch: &str,
    table: &[ManifestTensor],
    num_params: usize,
    num_buffers: usize,
) -> std::result::Result<(State<f64>, ExportedFile), CheckpointError> {
    let err = |m: String| CheckpointError(format!("checkpoint {}: {m}", path.display()));
    let file = if path.is_dir() {
        path.join(PARAMS_FILE)
    } else {
        path.to_path_buf()
    };
    let path = file.as_path();
    let bytes = std::fs::read(path).map_err(|e| err(format!("reading: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| err(format!("not a safetensors file: {e:?}")))?;
    if let Some(note) = meta.metadata().as_ref().and_then(|m| m.get(METADATA_KEY)) {
        let v: serde_json::Value = serde_json::from_str(note)
            .map_err(|e| err(format!("metadata {METADATA_KEY:?} is not JSON: {e}")))?;
        if let Some(a) = v.get("arch").and_then(|a| a.as_str()) {
            if a != arch {
                return Err(err(format!("written for architecture {a:?}, not {arch:?}")));
            }
        }
    }
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| err(format!("not a safetensors file: {e:?}")))?;
    let known: HashSet<&str> = table.iter().map(|t| t.name.as_str()).collect();
    let mut extra: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| !known.contains(n.as_str()))
        .cloned()
        .collect();
    if !extra.is_empty() {
        extra.sort();
        return Err(err(format!(
            "tensors {extra:?} are not tensors of {arch} (wrong architecture or config?)"
        )));
    }
    let (mut params, mut buffers) = (vec![0.0; num_params], vec![0.0; num_buffers]);
    for t in table {
        let view = st
            .tensor(&t.name)
            .map_err(|_| err(format!("tensor {:?} missing", t.name)))?;
        if view.shape() != t.shape.as_slice() {
            return Err(err(format!("tensor {:?} has shape {:?}, expected {:?} (ours: (in, out) for weights, (1, n) for vectors)", t.name, view.shape(), t.shape)));
        }
        let values: Vec<f64> = match view.dtype() {
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64)
                .collect(),
            other => {
                return Err(err(format!(
                    "tensor {:?} has dtype {other:?}, expected F64 or F32",
                    t.name
                )))
            }
        };
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            return Err(err(format!(
                "tensor {:?} holds a non-finite value at flat index {bad}",
                t.name
            )));
        }
        let dst = if t.kind == "buffer" {
            &mut buffers
        } else {
            &mut params
        };
        dst[t.offset..t.offset + t.numel].copy_from_slice(&values);
    }
    let record = ExportedFile {
        name: path.display().to_string(),
        sha256: sha256_hex(&bytes),
        bytes: bytes.len() as u64,
    };
    Ok((
        State {
            params: ParamVec(params),
            buffers,
        },
        record,
    ))
}

/// Build `entry` (default config) in f64, take its parameters from
/// `opts.source` (init(seed), init then training, or a checkpoint), draw
/// the unit direction `ParamVec::random_unit(n, seed + 1)`, take the first
/// `samples` test samples of the stratified 70/30 digits split (seed 42),
/// compute logits, the exact JVP, Δa, ρa and the FD reference in eval mode,
/// and write everything to `out` (created if missing; existing export
/// files are replaced). A sample count of 0 or beyond the test split is a
/// [`SampleCountError`], an unreadable checkpoint a [`CheckpointError`].
pub fn export_with(entry: &ArchEntry, opts: &ExportOptions, out: &Path) -> Result<ExportSummary> {
    let (seed, samples) = (opts.seed, opts.samples);
    anyhow::ensure!(
        entry.input == crate::InputKind::Digits,
        "{} reads CIFAR-10 images; export writes digits test samples and supports digits models only",
        entry.name
    );
    let config = ArchConfig::default();
    let model = entry.build::<f64>(&config);
    let n = model.num_params();
    let direction_seed = seed.wrapping_add(1);
    let v = ParamVec::<f64>::random_unit(n, direction_seed);
    let records = spec::describe_model(&model)
        .with_context(|| format!("{}: describing the layers", entry.name))?;
    let table = tensor_table(&model, &records)
        .with_context(|| format!("{}: the tensor table", entry.name))?;

    let digits = data::load_default_digits().context("loading the digits data set")?;
    let split = data::stratified_split(&digits.labels, SPLIT_TEST_RATIO, SPLIT_SEED);
    if samples == 0 || samples > split.test.len() {
        return Err(SampleCountError {
            requested: samples,
            available: split.test.len(),
        }
        .into());
    }
    let (state, parameters) = match &opts.source {
        ParamSource::Init => (
            model.init(seed),
            ManifestParameters {
                source: "init".into(),
                init_seed: seed,
                training: None,
                checkpoint: None,
            },
        ),
        ParamSource::Train { steps } => {
            let (state, training) = train_state(entry, seed, *steps, &digits, &split.train)?;
            (
                state,
                ManifestParameters {
                    source: "trained".into(),
                    init_seed: seed,
                    training: Some(training),
                    checkpoint: None,
                },
            )
        }
        ParamSource::Checkpoint(path) => {
            let (state, file) = load_checkpoint(path, entry.name, &table, n, model.num_buffers())?;
            (
                state,
                ManifestParameters {
                    source: "checkpoint".into(),
                    init_seed: seed,
                    training: None,
                    checkpoint: Some(file),
                },
            )
        }
    };
    let indices = split.test[..samples].to_vec();
    let batch = Batch::<f64>::from_digits(&digits, &indices);
    let jvp = model.jvp(&state, &batch.x, &v);
    let fd = model.fd_jvp(&state, &batch.x, &v, FD_EPS);
    let (inputs, logits, slopes, fd_slopes) = (
        batch.x.data.clone(),
        jvp.logits.data,
        jvp.slopes.data,
        fd.data,
    );
    let k = model.classes;
    let delta_a = radius::spreads_of_rows(&slopes, k);
    let (argmax_sample, max_delta_a) =
        delta_a
            .iter()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &d)| {
                if d > bv {
                    (i, d)
                } else {
                    (bi, bv)
                }
            });
    let rho_a = radius::rho_a_from_delta(max_delta_a);
    let fd_max_rel_error = normwise_rel_error(&slopes, &fd_slopes);

    // Tensors: parameters in model order, then buffers (the table's order).
    let (mut params_t, mut direction_t) = (Vec::new(), Vec::new());
    for t in &table {
        let range = t.offset..t.offset + t.numel;
        if t.kind == "param" {
            params_t.push(Owned::f64(
                &t.name,
                t.shape.clone(),
                &state.params.0[range.clone()],
            ));
            direction_t.push(Owned::f64(&t.name, t.shape.clone(), &v.0[range]));
        } else {
            params_t.push(Owned::f64(&t.name, t.shape.clone(), &state.buffers[range]));
        }
    }

    let b = samples;
    let data_tensors = vec![
        (Owned::f64("inputs", vec![b, model.input_features], &inputs), "digits pixels / 16, row-major (N, 64); the model input"),
        (Owned::i64("labels", vec![b], &batch.labels), "class labels 0..9 (I64)"),
        (Owned::i64("indices", vec![b], &indices), "row indices of the samples in the digits file (I64)"),
        (Owned::f64("logits", vec![b, k], &logits), "z = model(inputs) at the exported params, eval mode, untempered"),
        (Owned::f64("slopes", vec![b, k], &slopes), "exact JVP a = J_z v along the exported direction"),
        (Owned::f64("delta_a", vec![b], &delta_a), "spread per sample, max_k a_ik - min_k a_ik"),
        (Owned::f64("fd_slopes", vec![b, k], &fd_slopes), "central finite differences (z(theta + eps v) - z(theta - eps v)) / 2 eps, eps = 1e-6 (reference only)"),
    ];
    let data_manifest: Vec<ManifestDataTensor> = data_tensors
        .iter()
        .map(|(t, d)| ManifestDataTensor {
            name: t.name.clone(),
            dtype: format!("{:?}", t.dtype),
            shape: t.shape.clone(),
            description: d.to_string(),
        })
        .collect();
    let data_t: Vec<Owned> = data_tensors.into_iter().map(|(t, _)| t).collect();

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut files = Vec::new();
    for (file, tensors, content) in [
        (PARAMS_FILE, &params_t, "parameters (and buffers) theta"),
        (DIRECTION_FILE, &direction_t, "unit direction v"),
        (
            DATA_FILE,
            &data_t,
            "inputs, labels, logits, exact JVP slopes",
        ),
    ] {
        // One metadata key: safetensors keeps `__metadata__` in a HashMap,
        // whose order (and so the file's bytes) would vary between runs.
        let note = serde_json::json!({ "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "arch": entry.name, "seed": seed, "content": content, "manifest": MANIFEST_FILE });
        let m = HashMap::from([(METADATA_KEY.to_string(), note.to_string())]);
        let bytes = serialize(file, tensors, &m)?;
        let path = out.join(file);
        write_atomic(&path, &bytes)?;
        files.push(ExportedFile {
            name: file.into(),
            sha256: sha256_hex(&bytes),
            bytes: bytes.len() as u64,
        });
    }

    let manifest = Manifest {
        format: EXPORT_FORMAT.into(),
        format_version: EXPORT_VERSION,
        arch: entry.name.into(),
        description: entry.description.into(),
        config,
        seed,
        element_type: "f64".into(),
        num_params: n,
        num_buffers: model.num_buffers(),
        input_features: model.input_features,
        classes: k,
        input_shape: vec![model.input_features],
        layer_kinds: LAYER_KINDS.iter().map(|s| s.to_string()).collect(),
        layers: records,
        parameters,
        tensors: table,
        direction: ManifestDirection {
            file: DIRECTION_FILE.into(),
            seed: direction_seed,
            distribution: "iid N(0, 1) per parameter (ChaCha8 + Box-Muller), divided by the global L2 norm over all parameter tensors".into(),
            norm: v.norm(),
        },
        data: ManifestData {
            file: DATA_FILE.into(),
            samples,
            selection: format!("data::stratified_split(labels, {SPLIT_TEST_RATIO}, {SPLIT_SEED}).test[..{samples}] of the digits data set (1797 samples)"),
            indices: indices.clone(),
            tensors: data_manifest,
        },
        rho_a: rho_a.is_finite().then_some(rho_a),
        jvp: ManifestJvp {
            mode: "eval".into(),
            method: "exact forward-mode JVP (composition of each layer's tangent pass), f64".into(),
            max_delta_a,
            argmax_sample,
            temperature: model.temperature,
            fd_eps: FD_EPS,
            fd_max_rel_error,
        },
        conventions: conventions(),
        pytorch: pytorch_note(),
        files: files.clone(),
    };
    let text = serde_json::to_string_pretty(&manifest).context("serialising the manifest")? + "\n";
    write_atomic(&out.join(MANIFEST_FILE), text.as_bytes())?;
    files.push(ExportedFile {
        name: MANIFEST_FILE.into(),
        sha256: sha256_hex(text.as_bytes()),
        bytes: text.len() as u64,
    });

    Ok(ExportSummary {
        dir: out.to_path_buf(),
        arch: entry.name.into(),
        seed,
        num_params: n,
        num_buffers: model.num_buffers(),
        samples,
        max_delta_a,
        rho_a,
        fd_max_rel_error,
        files,
    })
}

fn init_text(init: Init) -> String {
    format!("{init:?}")
}

/// Read a file the manifest lists and check its size and sha256.
fn read_checked(dir: &Path, file: &ExportedFile) -> Result<Vec<u8>> {
    let path = dir.join(&file.name);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let sha = sha256_hex(&bytes);
    ensure!(
        sha == file.sha256 && bytes.len() as u64 == file.bytes,
        "{}: sha256 {sha} ({} bytes) does not match the manifest's {} ({} bytes)",
        path.display(),
        bytes.len(),
        file.sha256,
        file.bytes
    );
    Ok(bytes)
}

fn open<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| anyhow!("{}: not a safetensors file: {e:?}", path.display()))
}

/// A tensor's raw bytes after checking its dtype and shape.
fn raw<'a>(
    st: &SafeTensors<'a>,
    path: &Path,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
) -> Result<&'a [u8]> {
    let t = st
        .tensor(name)
        .map_err(|e| anyhow!("{}: tensor {name:?}: {e:?}", path.display()))?;
    ensure!(
        t.dtype() == dtype,
        "{}: tensor {name:?} has dtype {:?}, expected {dtype:?}",
        path.display(),
        t.dtype()
    );
    ensure!(
        t.shape() == shape,
        "{}: tensor {name:?} has shape {:?}, expected {shape:?}",
        path.display(),
        t.shape()
    );
    Ok(t.data())
}

fn read_f64(st: &SafeTensors, path: &Path, name: &str, shape: &[usize]) -> Result<Vec<f64>> {
    Ok(raw(st, path, name, Dtype::F64, shape)?
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

fn read_index(st: &SafeTensors, path: &Path, name: &str, shape: &[usize]) -> Result<Vec<usize>> {
    raw(st, path, name, Dtype::I64, shape)?
        .chunks_exact(8)
        .map(|c| {
            let v = i64::from_le_bytes(c.try_into().expect("8 bytes"));
            usize::try_from(v).map_err(|_| {
                anyhow!(
                    "{}: tensor {name:?} holds a negative value {v}",
                    path.display()
                )
            })
        })
        .collect()
}

/// Fill a flat vector of `len` scalars from the manifest's tensors of `kind`,
/// checking that they tile it exactly.
fn gather(
    st: &SafeTensors,
    path: &Path,
    table: &[ManifestTensor],
    kind: &str,
    len: usize,
) -> Result<Vec<f64>> {
    let mut flat = vec![0.0; len];
    let mut next = 0;
    for t in table.iter().filter(|t| t.kind == kind) {
        ensure!(t.offset == next && t.numel == t.shape.iter().product::<usize>(), "{MANIFEST_FILE}: tensor {:?} does not follow its predecessor (offset {}, expected {next})", t.name, t.offset);
        ensure!(
            t.offset + t.numel <= len,
            "{MANIFEST_FILE}: tensor {:?} runs past the {len} {kind} scalars",
            t.name
        );
        flat[t.offset..t.offset + t.numel].copy_from_slice(&read_f64(st, path, &t.name, &t.shape)?);
        next += t.numel;
    }
    ensure!(
        next == len,
        "{MANIFEST_FILE}: {kind} tensors hold {next} scalars, the manifest says {len}"
    );
    Ok(flat)
}

/// Read an export directory back: the manifest, then each safetensors file
/// (checked against the manifest's sha256), with parameters, buffers and the
/// direction reassembled into flat vectors in model order and every tensor's
/// dtype and shape checked. Errors name the offending file.
pub fn load_export(dir: &Path) -> Result<Exported> {
    let mpath = dir.join(MANIFEST_FILE);
    let text =
        std::fs::read_to_string(&mpath).with_context(|| format!("reading {}", mpath.display()))?;
    let manifest: Manifest =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", mpath.display()))?;
    if manifest.format != EXPORT_FORMAT || manifest.format_version != EXPORT_VERSION {
        bail!(
            "{}: format {:?} version {}, expected {EXPORT_FORMAT:?} version {EXPORT_VERSION}",
            mpath.display(),
            manifest.format,
            manifest.format_version
        );
    }
    let file = |name: &str| -> Result<(PathBuf, Vec<u8>)> {
        let entry = manifest
            .files
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| anyhow!("{}: no entry for {name} in files", mpath.display()))?;
        Ok((dir.join(name), read_checked(dir, entry)?))
    };
    let (ppath, pbytes) = file(PARAMS_FILE)?;
    let (dpath, dbytes) = file(DIRECTION_FILE)?;
    let (xpath, xbytes) = file(DATA_FILE)?;
    let (pst, dst, xst) = (
        open(&ppath, &pbytes)?,
        open(&dpath, &dbytes)?,
        open(&xpath, &xbytes)?,
    );

    let params = gather(
        &pst,
        &ppath,
        &manifest.tensors,
        "param",
        manifest.num_params,
    )?;
    let buffers = gather(
        &pst,
        &ppath,
        &manifest.tensors,
        "buffer",
        manifest.num_buffers,
    )?;
    let direction = gather(
        &dst,
        &dpath,
        &manifest.tensors,
        "param",
        manifest.num_params,
    )?;

    let (b, f, k) = (
        manifest.data.samples,
        manifest.input_features,
        manifest.classes,
    );
    let inputs = read_f64(&xst, &xpath, "inputs", &[b, f])?;
    let labels = read_index(&xst, &xpath, "labels", &[b])?;
    let indices = read_index(&xst, &xpath, "indices", &[b])?;
    let logits = read_f64(&xst, &xpath, "logits", &[b, k])?;
    let slopes = read_f64(&xst, &xpath, "slopes", &[b, k])?;
    let fd_slopes = read_f64(&xst, &xpath, "fd_slopes", &[b, k])?;
    let delta_a = read_f64(&xst, &xpath, "delta_a", &[b])?;
    if let Some(&bad) = labels.iter().find(|&&y| y >= k) {
        bail!("{}: label {bad} is not a class below {k}", xpath.display());
    }
    Ok(Exported {
        manifest,
        params: ParamVec(params),
        buffers,
        direction: ParamVec(direction),
        inputs,
        labels,
        indices,
        logits,
        slopes,
        fd_slopes,
        delta_a,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        std::fs::write(&path, b"old, longer content").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        write_atomic(&path, b"").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [MANIFEST_FILE]);
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_gives_the_permissions_of_file_create() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (ours, plain) = (dir.path().join("a"), dir.path().join("b"));
        write_atomic(&ours, b"x").unwrap();
        std::fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&ours), mode(&plain));
    }

    #[test]
    fn write_atomic_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join(DATA_FILE);
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(
            format!("{err:#}").contains(&path.display().to_string()),
            "{err:#}"
        );
        assert!(write_atomic(Path::new("/"), b"x").is_err());
    }
}
