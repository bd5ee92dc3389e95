//! CNN-2D on the 1×8×8 digits: conv3×3 1→16 (pad 1), GELU, max-pool 2 →
//! 16×4×4; conv3×3 16→32 (pad 1), GELU, max-pool 2 → 32×2×2; flatten 128 →
//! Linear 64, GELU, Linear 10 (13,706 parameters).

use crate::layers::{Conv, Gelu, Linear, MaxPool2};
use crate::{ArchConfig, Layer, Model, Real};

/// CNN-2D; `width` = channels of the first conv (default 16), the second
/// has twice as many. `depth` does not apply.
pub fn build<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let c1 = cfg.width.unwrap_or(16);
    let c2 = 2 * c1;
    let layers: Vec<Box<dyn Layer<E>>> = vec![
        Box::new(Conv::new_2d(1, c1, 8, 8, 3)),
        Box::new(Gelu::new()),
        Box::new(MaxPool2::new(c1, 8, 8)),
        Box::new(Conv::new_2d(c1, c2, 4, 4, 3)),
        Box::new(Gelu::new()),
        Box::new(MaxPool2::new(c2, 4, 4)),
        // Rows are already channel-major C·H·W: PyTorch's flatten order.
        Box::new(Linear::new(c2 * 2 * 2, 64)),
        Box::new(Gelu::new()),
        Box::new(Linear::new(64, 10)),
    ];
    Model::new("cnn", 64, 10, layers).with_temperature(cfg.temperature.unwrap_or(1.0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameter_count_matches_the_paper() {
        assert_eq!(
            super::build::<f32>(&Default::default()).num_params(),
            13_706
        );
    }
}
