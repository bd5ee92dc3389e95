//! One layer per file, each with its forward and tangent pass side by side.

pub mod attention;
pub mod batch_norm;
pub mod cls_pool;
pub mod conv;
pub mod gelu;
pub mod global_avg_pool;
pub mod layer_norm;
pub mod linear;
pub mod max_pool;
pub mod relu;
pub mod residual;
pub mod tokens;

#[cfg(test)]
mod fast_tests;

pub use attention::{Attention, AttentionInit};
pub use batch_norm::BatchNorm;
pub use cls_pool::ClsPool;
pub use conv::Conv;
pub use gelu::Gelu;
pub use global_avg_pool::GlobalAvgPool;
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use max_pool::MaxPool2;
pub use relu::Relu;
pub use residual::Residual;
pub use tokens::RowTokens;

use crate::{Dev, Plain, Real};
use dfdx::prelude::*;

/// Host copy of a tensor's values (row-major).
pub fn host<E: Real>(t: &Plain<E>) -> Vec<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    t.as_vec()
}

/// A tensor of shape `shape` from row-major values.
pub fn tensor<E: Real>(dev: &Dev, values: Vec<E>, shape: (usize, usize)) -> Plain<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    dev.tensor_from_vec(values, shape)
}

/// Broadcast a (1, n) row over `rows` rows, keeping its tape.
pub fn broadcast_row<E: Real, T: crate::layer::TapeOps<E>>(
    row: Tensor<(usize, usize), E, Dev, T>,
    rows: usize,
) -> Tensor<(usize, usize), E, Dev, T>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let n = row.shape().1;
    row.reshape_like(&(n,))
        .broadcast_like::<_, Axis<0>>(&(rows, n))
}

/// The input tangent ẋ, or zeros shaped like `x` when it is `None` (the
/// model input does not depend on θ).
pub fn tangent_or_zeros<E: Real>(dx: Option<Plain<E>>, x: &Plain<E>) -> Plain<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    dx.unwrap_or_else(|| x.device().zeros_like(x.shape()))
}

/// Elementwise map of a tensor through a host function of (value, tangent).
pub fn zip_map<E: Real>(x: &Plain<E>, dx: &Plain<E>, f: impl Fn(E, E) -> E) -> Plain<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let (xv, dv) = (x.as_vec(), dx.as_vec());
    let out = xv.iter().zip(&dv).map(|(&a, &b)| f(a, b)).collect();
    x.device().tensor_from_vec(out, *x.shape())
}
