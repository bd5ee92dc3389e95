//! Multilayer perceptrons: MLP-GELU 64→128→128→10 (26,122 parameters) and
//! MLP-ReLU 64→128→10 (9,610 parameters).

use crate::layers::{Gelu, Linear, Relu};
use crate::{ArchConfig, Layer, Model, Real};

fn mlp<E: Real>(
    name: &str,
    cfg: &ArchConfig,
    default_depth: usize,
    act: fn() -> Box<dyn Layer<E>>,
) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let width = cfg.width.unwrap_or(128);
    let depth = cfg.depth.unwrap_or(default_depth);
    let mut layers: Vec<Box<dyn Layer<E>>> = Vec::new();
    let mut inputs = 64;
    for _ in 0..depth {
        layers.push(Box::new(Linear::new(inputs, width)));
        layers.push(act());
        inputs = width;
    }
    layers.push(Box::new(Linear::new(inputs, 10)));
    Model::new(name, 64, 10, layers).with_temperature(cfg.temperature.unwrap_or(1.0))
}

/// MLP-GELU: `depth` (default 2) hidden layers of `width` (default 128), exact GELU.
pub fn build_gelu<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    mlp("mlp", cfg, 2, || Box::new(Gelu::new()))
}

/// MLP-ReLU: `depth` (default 1) hidden layers of `width` (default 128), ReLU.
pub fn build_relu<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    mlp("mlp-relu", cfg, 1, || Box::new(Relu))
}
