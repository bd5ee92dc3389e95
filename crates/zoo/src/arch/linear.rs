//! Linear classifier 64 → 10 (650 parameters).

use crate::layers::Linear;
use crate::{ArchConfig, Model, Real};

/// The linear model; `width`/`depth` do not apply.
pub fn build<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    Model::new("linear", 64, 10, vec![Box::new(Linear::new(64, 10))])
        .with_temperature(cfg.temperature.unwrap_or(1.0))
}
