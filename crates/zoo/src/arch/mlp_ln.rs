//! MLP with LayerNorm: blocks of linear → LayerNorm → GELU, then a linear head.
//! Default 64→128→128→10 (26,634 parameters); arch-grid uses three 64-wide
//! blocks (13,514 parameters).

use crate::layers::{Gelu, LayerNorm, Linear};
use crate::{ArchConfig, Layer, Model, Real};

fn mlp_ln<E: Real>(
    name: &str,
    cfg: &ArchConfig,
    default_width: usize,
    default_depth: usize,
) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let width = cfg.width.unwrap_or(default_width);
    let depth = cfg.depth.unwrap_or(default_depth);
    let mut layers: Vec<Box<dyn Layer<E>>> = Vec::new();
    let mut inputs = 64;
    for _ in 0..depth {
        layers.push(Box::new(Linear::new(inputs, width)));
        layers.push(Box::new(LayerNorm::new(width)));
        layers.push(Box::new(Gelu::new()));
        inputs = width;
    }
    layers.push(Box::new(Linear::new(inputs, 10)));
    Model::new(name, 64, 10, layers).with_temperature(cfg.temperature.unwrap_or(1.0))
}

/// MLP+LN-128: two 128-wide blocks.
pub fn build<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    mlp_ln("mlp-ln", cfg, 128, 2)
}

/// MLP+LN-64x3 of the architecture grid.
pub fn build_arch_grid<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    mlp_ln("mlp-ln-64x3", cfg, 64, 3)
}
