//! CNN+BN-1D: the 64 pixels as a 1×64 sequence; Conv1d 1→32 k3 pad 1,
//! BatchNorm(32), ReLU; Conv1d 32→32 k3 pad 1, BatchNorm(32), ReLU; global
//! average over the length; Linear 32→10 (3,690 parameters).

use crate::layers::{BatchNorm, Conv, GlobalAvgPool, Linear, Relu};
use crate::{ArchConfig, Layer, Model, Real};

/// CNN+BN-1D; `width` = channels of both convs (default 32). `depth` does not apply.
pub fn build<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let c = cfg.width.unwrap_or(32);
    let len = 64;
    let layers: Vec<Box<dyn Layer<E>>> = vec![
        Box::new(Conv::new_1d(1, c, len, 3)),
        Box::new(BatchNorm::new(c, len)),
        Box::new(Relu),
        Box::new(Conv::new_1d(c, c, len, 3)),
        Box::new(BatchNorm::new(c, len)),
        Box::new(Relu),
        Box::new(GlobalAvgPool::new(c, len)),
        Box::new(Linear::new(c, 10)),
    ];
    Model::new("cnn-bn", 64, 10, layers).with_temperature(cfg.temperature.unwrap_or(1.0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameter_count_matches_the_paper() {
        let model = super::build::<f32>(&Default::default());
        assert_eq!(model.num_params(), 3_690);
        // Running mean and variance of both BatchNorms are buffers, not parameters.
        assert_eq!(model.init(0).buffers.len(), 4 * 32);
    }
}
