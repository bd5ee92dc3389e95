//! ResNets of natural-instability (spec §5, §6.9): `resnet8`, the spec's
//! CPU-scale variant for the 1×8×8 digits (about 78 k parameters), and
//! `resnet18-cifar`, the paper's ResNet-18 for 3×32×32 CIFAR-10 images
//! (11,173,962 parameters).
//!
//! CIFAR-style (no max-pool after the stem): stem conv3×3 (no bias) +
//! BatchNorm + ReLU; stages of BasicBlocks y = ReLU(f(x) + g(x)) with
//! f = conv3×3(stride s) BN ReLU conv3×3 BN and g the identity, or a 1×1
//! stride-s convolution + BatchNorm where the shape changes; global average
//! pool; a linear head. Convolutions are He-normal (fan_out, ReLU gain) as
//! torchvision's ResNet; BatchNorm starts at gain 1, shift 0; the head has
//! PyTorch's default init.

use crate::layers::{BatchNorm, Conv, GlobalAvgPool, Linear, Relu, Residual};
use crate::{ArchConfig, Layer, Model, Real};

/// Layers of one model, built in order.
type Layers<E> = Vec<Box<dyn Layer<E>>>;

/// A bias-free, He-normal `k × k` convolution on a `side × side` input
/// with zero padding `k / 2`.
fn conv<E: Real>(
    c_in: usize,
    c_out: usize,
    side: usize,
    k: usize,
    stride: usize,
) -> Box<dyn Layer<E>>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let pad = k / 2;
    Box::new(
        Conv::strided(c_in, c_out, side, side, (k, k), stride, (pad, pad))
            .without_bias()
            .he_normal(),
    )
}

/// BatchNorm over `c` channels of `side × side` pixels.
fn bn<E: Real>(c: usize, side: usize) -> Box<dyn Layer<E>>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    Box::new(BatchNorm::new(c, side * side))
}

/// One BasicBlock `c_in × side × side → c_out × side/stride × side/stride`
/// with its closing ReLU; a projection shortcut where the shape changes.
fn basic_block<E: Real>(c_in: usize, c_out: usize, side: usize, stride: usize) -> Layers<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let out = side.div_ceil(stride);
    let branch = vec![
        conv(c_in, c_out, side, 3, stride),
        bn(c_out, out),
        Box::new(Relu) as Box<dyn Layer<E>>,
        conv(c_out, c_out, out, 3, 1),
        bn(c_out, out),
    ];
    let block = if stride == 1 && c_in == c_out {
        Residual::new(branch)
    } else {
        Residual::with_shortcut(
            branch,
            vec![conv(c_in, c_out, side, 1, stride), bn(c_out, out)],
        )
    };
    vec![Box::new(block), Box::new(Relu)]
}

/// A CIFAR-style ResNet on `channels × side × side` inputs: stem to
/// `widths[0]`, then per stage `blocks` BasicBlocks of that width (the first
/// of every stage after the first with stride 2), global average pool,
/// linear head to 10 classes.
fn resnet<E: Real>(
    name: &str,
    channels: usize,
    side: usize,
    widths: &[usize],
    blocks: usize,
) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let mut layers: Layers<E> = vec![
        conv(channels, widths[0], side, 3, 1),
        bn(widths[0], side),
        Box::new(Relu),
    ];
    let (mut c, mut s) = (widths[0], side);
    for (stage, &w) in widths.iter().enumerate() {
        for b in 0..blocks {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            layers.extend(basic_block(c, w, s, stride));
            (c, s) = (w, s.div_ceil(stride));
        }
    }
    layers.push(Box::new(GlobalAvgPool::new(c, s * s)));
    layers.push(Box::new(Linear::new(c, 10)));
    Model::new(name, channels * side * side, 10, layers)
}

/// ResNet-8 for the digits (spec §6.9 Variant A): 1×8×8 input, stem 16,
/// three stages of one BasicBlock, widths 16/32/64 (`width` scales the
/// first, default 16, the others double), strides 1/2/2 (8×8 → 4×4 → 2×2).
pub fn build_resnet8<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let w = cfg.width.unwrap_or(16);
    resnet("resnet8", 1, 8, &[w, 2 * w, 4 * w], 1).with_temperature(cfg.temperature.unwrap_or(1.0))
}

/// ResNet-8 for CIFAR-10 (spec §6.9 Variant B): [`build_resnet8`]'s
/// layers on 3×32×32 images (the stages run at 32, 16 and 8 pixels).
pub fn build_resnet8_cifar<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let w = cfg.width.unwrap_or(16);
    resnet("resnet8-cifar", 3, 32, &[w, 2 * w, 4 * w], 1)
        .with_temperature(cfg.temperature.unwrap_or(1.0))
}

/// ResNet-18 for CIFAR-10 (spec §5, the paper's model): 3×32×32 input,
/// stem 64, four stages of two BasicBlocks, widths 64/128/256/512 (`width`
/// scales the first, default 64), strides 1/2/2/2.
pub fn build_resnet18_cifar<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let w = cfg.width.unwrap_or(64);
    resnet("resnet18-cifar", 3, 32, &[w, 2 * w, 4 * w, 8 * w], 2)
        .with_temperature(cfg.temperature.unwrap_or(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_match_the_spec() {
        let r8 = build_resnet8::<f32>(&Default::default());
        // Stem 144 + BN 32; block 1: 2 x 2304 + 2 x 32; block 2: 4608 + 9216
        // + 2 x 64 + projection 512 + 64; block 3: 18432 + 36864 + 2 x 128 +
        // projection 2048 + 128; head 650.
        assert_eq!(r8.num_params(), 77_754);
        // torchvision's resnet18 with the CIFAR stem and a 10-class head.
        let r18 = build_resnet18_cifar::<f32>(&Default::default());
        assert_eq!(r18.num_params(), 11_173_962);
        // Three input channels: the stem has 3 x 9 x 16 = 432 weights.
        let r8c = build_resnet8_cifar::<f32>(&Default::default());
        assert_eq!(r8c.num_params(), 77_754 - 144 + 432);
        assert_eq!(r8c.input_features, 3 * 32 * 32);
    }

    #[test]
    fn resnet8_init_is_he_normal_and_deterministic() {
        let m = build_resnet8::<f64>(&Default::default());
        let (a, b) = (m.init(3), m.init(3));
        assert_eq!(a.params.0, b.params.0);
        // The stem's 144 weights: N(0, 2/(16·9)), so their mean square is
        // near 2/144 (loosely: 144 draws).
        let stem = &a.params.0[..144];
        let ms = stem.iter().map(|w| w * w).sum::<f64>() / 144.0;
        assert!((ms / (2.0 / 144.0) - 1.0).abs() < 0.35, "mean square {ms}");
    }
}
