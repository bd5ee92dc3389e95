//! The registry: architecture names → constructors. Adding an architecture
//! is one file here plus one line in [`registry`].

pub mod cnn;
pub mod cnn_bn;
pub mod linear;
pub mod mlp;
pub mod mlp_ln;
pub mod resnet;
pub mod transformer;

use crate::{Model, Real};
use serde::{Deserialize, Serialize};

/// Size knobs of an architecture; `None` takes the architecture's default
/// (the paper's size, spec §5). Unknown keys are refused when read from YAML.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchConfig {
    /// Hidden width (MLP width, conv channels, model dimension).
    pub width: Option<usize>,
    /// Number of hidden layers or blocks.
    pub depth: Option<usize>,
    /// Attention heads (transformers).
    pub heads: Option<usize>,
    /// Softmax temperature of the loss (default 1).
    pub temperature: Option<f64>,
}

/// The inputs an architecture reads (rows of a [`crate::Batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// The digits: 64 features (a 1×8×8 image or a flat 64-vector), pixels
    /// in [0, 1].
    Digits,
    /// CIFAR-10: 3×32×32 = 3072 features, channel-major, each channel
    /// normalised (`data::normalize_cifar`).
    Cifar10,
}

impl InputKind {
    /// Features per sample: 64 or 3072.
    pub fn features(self) -> usize {
        match self {
            InputKind::Digits => 64,
            InputKind::Cifar10 => 3 * 32 * 32,
        }
    }
}

/// One registered architecture.
pub struct ArchEntry {
    /// Registry name, e.g. "mlp-ln".
    pub name: &'static str,
    /// What it is (sizes at the default config).
    pub description: &'static str,
    /// The inputs it reads.
    pub input: InputKind,
    /// Build in f32 (training).
    pub build_f32: fn(&ArchConfig) -> Model<f32>,
    /// Build in f64 (checks).
    pub build_f64: fn(&ArchConfig) -> Model<f64>,
}

impl ArchEntry {
    /// Build the model in element type `E` (dfdx backend).
    pub fn build<E: Real>(&self, cfg: &ArchConfig) -> Model<E> {
        E::build_arch(self, cfg)
    }

    /// Build the model in element type `E` on `backend`, refused here (not
    /// later, at run time) if it cannot run there.
    ///
    /// # Errors
    /// As [`Model::with_backend`]: the fast backend needs f32 and a fast
    /// path in every layer.
    pub fn build_on<E: Real>(
        &self,
        cfg: &ArchConfig,
        backend: crate::Backend,
    ) -> anyhow::Result<Model<E>> {
        self.build::<E>(cfg).with_backend(backend)
    }
}

macro_rules! entry {
    ($name:expr, $desc:expr, $($build:ident)::+) => {
        entry!(InputKind::Digits, $name, $desc, $($build)::+)
    };
    ($input:expr, $name:expr, $desc:expr, $($build:ident)::+) => {
        ArchEntry { name: $name, description: $desc, input: $input, build_f32: $($build)::+::<f32>, build_f64: $($build)::+::<f64> }
    };
}

/// Every architecture, by name.
pub fn registry() -> Vec<ArchEntry> {
    vec![
        entry!("linear", "64 -> 10 affine (random-directions, ghost-envelope)", linear::build),
        entry!("mlp", "MLP-GELU 64-128-128-10 (temperature-fingerprint)", mlp::build_gelu),
        entry!("mlp-relu", "MLP-ReLU 64-128-10 (lr-spike)", mlp::build_relu),
        entry!("mlp-ln", "MLP+LN 64-128-128-10: linear, LN, GELU per block", mlp_ln::build),
        entry!("mlp-ln-64x3", "MLP+LN three 64-wide blocks (arch-grid)", mlp_ln::build_arch_grid),
        entry!("tiny-transformer", "TinyTransformer-A: row tokens + CLS, 2 pre-norm blocks (4 heads x 8, no attention bias), d 32 (transformer-radii)", transformer::build_a),
        entry!("tiny-transformer-b", "TinyTransformer-B: as A with biased MHA projections, MHA init, identical blocks (ghost-envelope)", transformer::build_b),
        entry!("transformer-single", "single-token Transformer: Linear 64-32, one attention + FFN pre-norm block, 32-10 (arch-grid)", transformer::build_single),
        entry!("cnn", "CNN-2D 1x8x8: conv3x3 16, GELU, pool; conv3x3 32, GELU, pool; 128-64-10 (ghost-envelope)", cnn::build),
        entry!("cnn-bn", "CNN+BN-1D 1x64: two conv1d k3 32 + BN + ReLU, global average, 32-10 (arch-grid)", cnn_bn::build),
        entry!("resnet8", "ResNet-8 1x8x8: stem conv3x3 16 + BN + ReLU, BasicBlocks 16/32/64 (strides 1/2/2), global average, 64-10 (natural-instability, digits)", resnet::build_resnet8),
        entry!(InputKind::Cifar10, "resnet8-cifar", "ResNet-8 3x32x32: as resnet8 on CIFAR-10 images (strides 1/2/2: 32x32 -> 16x16 -> 8x8) (natural-instability Variant B)", resnet::build_resnet8_cifar),
        entry!(InputKind::Cifar10, "resnet18-cifar", "ResNet-18 3x32x32: stem conv3x3 64 + BN + ReLU, 4 stages of 2 BasicBlocks 64/128/256/512 (strides 1/2/2/2), global average, 512-10 (natural-instability, the paper's)", resnet::build_resnet18_cifar),
    ]
}

/// Look up an architecture by name; the error lists the known names.
pub fn find(name: &str) -> anyhow::Result<ArchEntry> {
    let all = registry();
    let names: Vec<&str> = all.iter().map(|e| e.name).collect();
    let joined = names.join(", ");
    all.into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| anyhow::anyhow!("unknown architecture {name:?}; known: {joined}"))
}
