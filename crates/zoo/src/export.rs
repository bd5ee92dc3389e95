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
//! - `manifest.json`: the model, the tensor table in model order (safetensors
//!   itself stores tensors sorted by name), the conventions, ρa, and the
//!   sha256 of each safetensors file.
//!
//! Every file is written to a temporary name in the output directory,
//! fsynced and renamed into place ([`write_atomic`]), so a reader never sees
//! a half-written file.
//! [`load_export`] reads a directory back and verifies the checksums.

use crate::check::{normwise_rel_error, CHECK_EPS};
use crate::{ArchConfig, ArchEntry, Batch, Init, ParamSpec, ParamVec, State};
use anyhow::{anyhow, bail, ensure, Context, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Value of the manifest's `format` field.
pub const EXPORT_FORMAT: &str = "ghosts-zoo-export";
/// Version of the export layout (bumped on any incompatible change).
pub const EXPORT_VERSION: u32 = 1;
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

/// One layer in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestLayer {
    /// Position in the model.
    pub index: usize,
    /// The layer's `describe()` string.
    pub description: String,
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
    /// Index of its layer.
    pub layer: usize,
    /// The layer's `describe()` string.
    pub layer_description: String,
    /// Name within the layer (residual blocks prefix their inner layer's index).
    pub param: String,
    /// Our 2-D shape (rows, cols), row-major.
    pub shape: Vec<usize>,
    /// Number of elements.
    pub numel: usize,
    /// Offset into the flat parameter vector (params) or buffer vector (buffers).
    pub offset: usize,
    /// Initialiser, as Rust debug text (e.g. `Uniform(0.125)`); empty for buffers.
    pub init: String,
    /// How the values are laid out and how they map onto PyTorch.
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
    /// The model's layers in order.
    pub layers: Vec<ManifestLayer>,
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

/// How a parameter tensor's values are laid out, for the manifest.
fn layout_note(layer_description: &str, spec: &ParamSpec) -> String {
    let (r, c) = spec.shape;
    let base = spec.name.rsplit('.').next().unwrap_or(&spec.name);
    let linear = layer_description.starts_with("linear")
        || (spec.name.contains('.') && layer_description.contains("linear"));
    let conv = layer_description.starts_with("conv");
    let norm = if layer_description.contains("batchnorm") {
        Some("BatchNorm1d")
    } else if layer_description.contains("layernorm") {
        Some("LayerNorm")
    } else {
        None
    };
    match (base, norm) {
        ("weight", _) if conv => format!(
            "conv weight stored (C_in*kh*kw, C_out) = ({r}, {c}), row index ci*kh*kw + ky*kw + kx (im2col rows times W): torch Conv2d.weight = W.T.reshape(C_out, C_in, kh, kw), Conv1d.weight = W.T.reshape(C_out, C_in, k)"
        ),
        ("bias", _) if conv => format!("conv bias stored (1, {c}): torch Conv.bias = bias.reshape(-1)"),
        ("weight", _) if linear && r > 1 => format!(
            "linear weight W stored (in, out) = ({r}, {c}), row-major: y = x W + b. This is the TRANSPOSE of torch.nn.Linear.weight (shape ({c}, {r})): use W.T"
        ),
        ("bias", _) if linear => format!("linear bias b stored (1, {c}): added to every row; torch.nn.Linear.bias is the ({c},) vector b.reshape(-1)"),
        ("gain", Some(kind)) => format!("{kind} gain (1, {c}): torch.nn.{kind}.weight = gain.reshape(-1)"),
        ("shift", Some(kind)) => format!("{kind} shift (1, {c}): torch.nn.{kind}.bias = shift.reshape(-1)"),
        _ if r == 1 => format!("vector stored as (1, {c}); reshape(-1) for a 1-D framework tensor; see the layer description for its role"),
        _ => format!("2-D ({r}, {c}), row-major, exactly as this layer's forward multiplies it (activations are rows); see the layer description"),
    }
}

fn conventions() -> BTreeMap<String, String> {
    let c = [
        ("element_type", "every floating-point tensor is f64 (safetensors F64, little-endian); labels and indices are I64"),
        ("layout", "row-major; every parameter is 2-D (rows, cols) and vectors are (1, n); activations are (rows = samples, features)"),
        ("naming", "parameter tensors are named \"<layer index>.<param name>\" in model order (manifest.tensors; safetensors itself sorts names, and \"10.x\" sorts before \"2.x\"); inside a residual block the param name is \"<inner layer index>.<name>\""),
        ("linear", "weights are stored (in, out) so y = x W + b: the TRANSPOSE of torch.nn.Linear.weight (out, in); biases are (1, out)"),
        ("gelu", "GELU is the exact erf form x * Phi(x) (torch.nn.GELU(approximate='none')), not the tanh approximation"),
        ("layernorm", "LayerNorm over the last axis with biased variance and eps = 1e-5, y = (x - mean) / sqrt(var + eps) * gain + shift (torch.nn.LayerNorm(n, eps=1e-5))"),
        ("convolution", "activations of image/sequence models are channel-major rows of C*H*W values (the PyTorch flatten order of (B, C, H, W)); convolutions are stride 1 with zero padding (kh/2, kw/2)"),
        ("batchnorm", "BatchNorm (over channels, statistics over batch and length) uses eps = 1e-5, momentum 0.1; its running statistics are buffers, stored in params.safetensors as \"<layer>.running_mean\" and \"<layer>.running_var\" (kind \"buffer\" in manifest.tensors; offset into the flat buffer vector); the JVP uses eval mode, i.e. normalises with these running statistics, and the direction has no component on them"),
        ("mode", "logits, slopes and fd_slopes are computed in eval mode (the model's eval forward; no dropout exists)"),
        ("direction", "v = ParamVec::random_unit(num_params, seed + 1): iid N(0, 1) per parameter, divided by the global L2 norm over all parameter tensors, so ||v||_2 = 1 over the concatenation of every tensor (not per tensor)"),
        ("jvp", "slopes a = J_z v: the exact forward-mode directional derivative of the logits z(theta) along v at the exported theta (torch.func.jvp / jax.jvp with tangents = direction tensors); fd_slopes = (z(theta + eps v) - z(theta - eps v)) / (2 eps), eps = 1e-6, for reference only"),
        ("inputs", "digits pixels divided by 16 (values in [0, 1]), 64 = 8 x 8 features per row"),
        ("rho_a", "delta_a_i = max_k a_ik - min_k a_ik per sample; rho_a = pi / max_i delta_a_i over the exported samples (untempered; with temperature T the bound is pi T / max delta_a)"),
        ("loss", "the training loss is mean cross-entropy of logits / temperature; logits are stored untempered"),
    ];
    c.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn pytorch_note() -> Vec<String> {
    [
        "# Loading in PyTorch (pip install torch safetensors); not shipped as code.",
        "import json, math, torch",
        "from safetensors.torch import load_file",
        "m = json.load(open('manifest.json'))",
        "p = load_file('params.safetensors'); v = load_file('direction.safetensors'); d = load_file('data.safetensors')",
        "names = [t['name'] for t in m['tensors'] if t['kind'] == 'param']   # model order",
        "# Build the layers of m['layers'] in float64; for layer i:",
        "#   linear a->b:  y = x @ p[f'{i}.weight'] + p[f'{i}.bias']   (nn.Linear.weight = p[f'{i}.weight'].T)",
        "#   layernorm n:  torch.nn.functional.layer_norm(x, (n,), p[f'{i}.gain'].reshape(-1), p[f'{i}.shift'].reshape(-1), eps=1e-5)",
        "#   gelu:         torch.nn.functional.gelu(x, approximate='none');  relu: torch.relu(x)",
        "def f(*theta): return forward(dict(zip(names, theta)), d['inputs'])",
        "z, a = torch.func.jvp(f, tuple(p[n] for n in names), tuple(v[n] for n in names))",
        "assert torch.allclose(z, d['logits'], rtol=1e-12, atol=1e-12) and torch.allclose(a, d['slopes'], rtol=1e-10, atol=1e-12)",
        "rho_a = math.pi / (a.max(1).values - a.min(1).values).max().item()   # compare m['rho_a']",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Build `entry` (default config) in f64 with `Model::init(seed)`, draw the
/// unit direction `ParamVec::random_unit(n, seed + 1)`, take the first
/// `samples` test samples of the stratified 70/30 digits split (seed 42),
/// compute logits, the exact JVP, Δa, ρa and the FD reference, and write
/// everything to `out` (created if missing; existing export files are
/// replaced). A sample count of 0 or beyond the test split is a
/// [`SampleCountError`].
pub fn export(entry: &ArchEntry, seed: u64, samples: usize, out: &Path) -> Result<ExportSummary> {
    anyhow::ensure!(
        entry.input == crate::InputKind::Digits,
        "{} reads CIFAR-10 images; export writes digits test samples and supports digits models only",
        entry.name
    );
    let config = ArchConfig::default();
    let model = entry.build::<f64>(&config);
    let state = model.init(seed);
    let n = model.num_params();
    let direction_seed = seed.wrapping_add(1);
    let v = ParamVec::<f64>::random_unit(n, direction_seed);

    let digits = data::load_default_digits().context("loading the digits data set")?;
    let split = data::stratified_split(&digits.labels, SPLIT_TEST_RATIO, SPLIT_SEED);
    if samples == 0 || samples > split.test.len() {
        return Err(SampleCountError {
            requested: samples,
            available: split.test.len(),
        }
        .into());
    }
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

    // Tensor table: parameters in model order, then buffers.
    let mut table = Vec::new();
    let (mut params_t, mut direction_t) = (Vec::new(), Vec::new());
    for (layer, desc, offset, spec) in model.layout() {
        let name = format!("{layer}.{}", spec.name);
        let shape = vec![spec.shape.0, spec.shape.1];
        let numel = spec.numel();
        params_t.push(Owned::f64(
            &name,
            shape.clone(),
            &state.params.0[offset..offset + numel],
        ));
        direction_t.push(Owned::f64(
            &name,
            shape.clone(),
            &v.0[offset..offset + numel],
        ));
        table.push(ManifestTensor {
            name,
            kind: "param".into(),
            files: vec![PARAMS_FILE.into(), DIRECTION_FILE.into()],
            layer,
            layout: layout_note(&desc, &spec),
            layer_description: desc,
            param: spec.name.clone(),
            shape,
            numel,
            offset,
            init: init_text(spec.init),
        });
    }
    for (layer, desc, range) in model.buffer_layout() {
        let len = range.len();
        // init_state is running mean then running variance (BatchNorm); a
        // layer with an odd count is exported as one "buffers" tensor.
        let parts: Vec<(&str, std::ops::Range<usize>, &str)> = if len % 2 == 0 {
            vec![
                ("running_mean", range.start..range.start + len / 2, "BatchNorm running mean (1, C): torch BatchNorm running_mean = reshape(-1); used in eval mode"),
                ("running_var", range.start + len / 2..range.end, "BatchNorm running variance (1, C): torch BatchNorm running_var = reshape(-1); used in eval mode"),
            ]
        } else {
            vec![(
                "buffers",
                range.clone(),
                "the layer's non-trainable state (1, n), in its init_state order",
            )]
        };
        for (pname, r, note) in parts {
            let name = format!("{layer}.{pname}");
            let shape = vec![1, r.len()];
            params_t.push(Owned::f64(&name, shape.clone(), &state.buffers[r.clone()]));
            table.push(ManifestTensor {
                name,
                kind: "buffer".into(),
                files: vec![PARAMS_FILE.into()],
                layer,
                layer_description: desc.clone(),
                param: pname.into(),
                numel: r.len(),
                shape,
                offset: r.start,
                init: String::new(),
                layout: note.into(),
            });
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
        layers: model.layers().iter().enumerate().map(|(index, l)| ManifestLayer { index, description: l.describe() }).collect(),
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
