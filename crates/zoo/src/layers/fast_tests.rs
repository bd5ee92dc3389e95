//! Fast paths of layer combinations against dfdx, and the fused
//! Conv → BatchNorm → ReLU (→ GlobalAvgPool) block of `fast::fused`
//! against its layers run one by one (here, beside the layers: `fast`
//! itself knows no layer type).

use super::{BatchNorm, Conv, GlobalAvgPool, Relu};
use crate::fast::fused::fuse;
use crate::fast::tests::check_models;
use crate::fast::{zero_pad_rows, FastLayer, Layout, Mat, Record};
use crate::{Mode, Model};
use rand::{Rng, SeedableRng};

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: length");
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-30);
    let err = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale;
    assert!(err < 1e-5, "{what}: relative error {err}");
}

/// The fused block against its layers run one by one, over two GEMM
/// chunks and a channel count without a specialised loop (5).
#[test]
fn the_fused_block_matches_its_layers_one_by_one() {
    let (c_in, c, len, samples) = (3, 5, 6, 1400);
    assert!(samples * (len + 2) > crate::fast::CHUNK_ROWS);
    let conv = Conv::new_1d(c_in, c, len, 3);
    let bn = BatchNorm::new(c, len);
    let gap = GlobalAvgPool::new(c, len);
    let w = random(c_in * 3 * c, 1);
    let b = random(c, 2);
    let gain: Vec<f32> = random(c, 3).iter().map(|v| 1.0 + 0.5 * v).collect();
    let shift = random(c, 4);
    let p: Vec<&[f32]> = vec![&w, &b, &gain, &shift];
    let dp_all: Vec<Vec<f32>> = (0..4).map(|i| random(p[i].len(), 10 + i as u64)).collect();
    let dp: Vec<&[f32]> = dp_all.iter().map(|v| &v[..]).collect();
    let x = random(samples * c_in * len, 5);
    let state0: Vec<f32> = random(c, 6)
        .into_iter()
        .chain(random(c, 7).iter().map(|v| 1.5 + v))
        .collect();
    for pooled in [false, true] {
        for mode in [Mode::Train, Mode::Eval] {
            let what = format!("pooled {pooled}, {mode:?}");
            let input = || Mat::new(samples, c_in * len, x.clone());
            // One by one.
            let mut s1 = state0.clone();
            let mut recs = vec![Record::default(); 4];
            let h = FastLayer::forward(&conv, &p[..2], input(), &mut [], mode, &mut recs[0]);
            let h = FastLayer::forward(&bn, &p[2..], h, &mut s1, mode, &mut recs[1]);
            let mut h = FastLayer::forward(&Relu, &[], h, &mut [], mode, &mut recs[2]);
            if pooled {
                h = FastLayer::forward(&gap, &[], h, &mut [], mode, &mut recs[3]);
            }
            // Fused, as FastModel::new fuses the layers.
            let mut parts: Vec<Box<dyn FastLayer>> =
                vec![Box::new(conv.clone()), Box::new(bn.clone()), Box::new(Relu)];
            let mut buffers = vec![0..0, 0..2 * c, 2 * c..2 * c];
            if pooled {
                parts.push(Box::new(gap.clone()));
                buffers.push(2 * c..2 * c);
            }
            let ranges = vec![Vec::new(); parts.len()];
            let (mut fused, _, fused_buffers) = fuse(parts, ranges, buffers);
            assert_eq!((fused.len(), fused_buffers), (1, vec![0..2 * c]), "{what}");
            let block = fused.pop().unwrap();
            let mut s2 = state0.clone();
            let mut rec = Record::default();
            let y = block.forward(&p, input(), &mut s2, mode, &mut rec);
            assert_eq!((y.rows, y.cols, y.layout), (h.rows, h.cols, h.layout));
            assert_close(&y.data, &h.data, &format!("{what}: output"));
            assert_close(&s2, &s1, &format!("{what}: running statistics"));
            // Backward from a random ∂y (zero on pad rows).
            let mut dy = h.zeros_like();
            dy.data = random(h.data.len(), 8);
            if let Layout::PaddedSeq { .. } = dy.layout {
                zero_pad_rows(&mut dy.data, c, len);
            }
            let mut g1: Vec<Vec<f32>> = p.iter().map(|t| vec![0.0; t.len()]).collect();
            let mut d = dy.clone();
            if pooled {
                d = FastLayer::backward(&gap, &[], d, &recs[3], &mut [], true);
            }
            d = FastLayer::backward(&Relu, &[], d, &recs[2], &mut [], true);
            let (gc, gb) = g1.split_at_mut(2);
            let mut gb: Vec<&mut [f32]> = gb.iter_mut().map(|v| &mut v[..]).collect();
            d = FastLayer::backward(&bn, &p[2..], d, &recs[1], &mut gb, true);
            let mut gc: Vec<&mut [f32]> = gc.iter_mut().map(|v| &mut v[..]).collect();
            let dx1 = FastLayer::backward(&conv, &p[..2], d, &recs[0], &mut gc, true);
            let mut g2: Vec<Vec<f32>> = p.iter().map(|t| vec![0.0; t.len()]).collect();
            let mut g2s: Vec<&mut [f32]> = g2.iter_mut().map(|v| &mut v[..]).collect();
            let dx2 = block.backward(&p, dy, &rec, &mut g2s, true);
            for i in 0..4 {
                assert_close(&g2[i], &g1[i], &format!("{what}: gradient {i}"));
            }
            assert_eq!(dx2.layout, Layout::Rows);
            assert_close(&dx2.data, &dx1.data, &format!("{what}: ∂x"));
            // Tangent (θ̇ only: the input is data).
            let mut t1 = FastLayer::tangent(
                &conv,
                &p[..2],
                &dp[..2],
                None,
                mode,
                &recs[0],
                &mut crate::fast::FastProbes::new(false),
            );
            t1 = FastLayer::tangent(
                &bn,
                &p[2..],
                &dp[2..],
                Some(t1),
                mode,
                &recs[1],
                &mut crate::fast::FastProbes::new(false),
            );
            t1 = FastLayer::tangent(
                &Relu,
                &[],
                &[],
                Some(t1),
                mode,
                &recs[2],
                &mut crate::fast::FastProbes::new(false),
            );
            if pooled {
                t1 = FastLayer::tangent(
                    &gap,
                    &[],
                    &[],
                    Some(t1),
                    mode,
                    &recs[3],
                    &mut crate::fast::FastProbes::new(false),
                );
            }
            let t2 = block.tangent(
                &p,
                &dp,
                None,
                mode,
                &rec,
                &mut crate::fast::FastProbes::new(false),
            );
            assert_close(&t2.data, &t1.data, &format!("{what}: tangent"));
        }
    }
}

/// Layer combinations cnn-bn does not exercise: BatchNorm on channel-major
/// rows, a kernel-1 conv, a multi-channel rows input converted to a padded
/// sequence (and ∂x back), a conv → BatchNorm → ReLU block followed by a
/// conv (fused without its pooling), global pooling of padded sequences and
/// of rows. A linear layer first makes every later layer pass ∂x back.
#[test]
fn other_layer_combinations_match_dfdx() {
    use super::Linear;
    use crate::Layer;
    type Layers = Vec<Box<dyn Layer<f32>>>;
    type Build = fn() -> Layers;
    let models: Vec<(&str, Build)> = vec![
        ("bn-rows, conv k1", || {
            vec![
                Box::new(Linear::new(64, 64)),
                Box::new(BatchNorm::new(4, 16)),
                Box::new(Relu),
                Box::new(Conv::new_1d(4, 3, 16, 1)),
                Box::new(GlobalAvgPool::new(3, 16)),
                Box::new(Linear::new(3, 10)),
            ]
        }),
        ("conv-bn-relu then conv", || {
            vec![
                Box::new(Linear::new(64, 64)),
                Box::new(Conv::new_1d(4, 3, 16, 3)),
                Box::new(BatchNorm::new(3, 16)),
                Box::new(Relu),
                Box::new(Conv::new_1d(3, 5, 16, 3)),
                Box::new(GlobalAvgPool::new(5, 16)),
                Box::new(Linear::new(5, 10)),
            ]
        }),
        ("pool rows", || {
            vec![
                Box::new(GlobalAvgPool::new(8, 8)),
                Box::new(Linear::new(8, 10)),
            ]
        }),
    ];
    for (name, layers) in models {
        for mode in [Mode::Train, Mode::Eval] {
            check_models(name, || Model::new(name, 64, 10, layers()), mode);
            if name != "pool rows" {
                // ReLU's Kink probe, standalone and inside a fused block.
                crate::fast::tests::check_model_probes(
                    name,
                    || Model::new(name, 64, 10, layers()),
                    mode,
                );
            }
        }
    }
}

/// Layer combinations on images that cnn does not exercise: a multi-channel
/// rows input converted to images (and ∂x back) into a non-square conv
/// followed by a max-pool, an image conv with a 3x5 kernel pooled globally,
/// strided convolutions without bias (a ResNet downsampling), and a 1-D
/// conv with kernel 5 (the image path at height 1) into a
/// BatchNorm on rows; and their max-pool kink probes.
#[test]
fn image_layer_combinations_match_dfdx() {
    use super::{Gelu, Linear, MaxPool2};
    use crate::fast::tests::check_model_probes;
    use crate::Layer;
    type Layers = Vec<Box<dyn Layer<f32>>>;
    type Build = fn() -> Layers;
    let models: Vec<(&str, Build)> = vec![
        ("rows into conv2d, max-pool", || {
            vec![
                Box::new(Linear::new(64, 96)),
                Box::new(Conv::new_2d(4, 3, 4, 6, 3)),
                Box::new(MaxPool2::new(3, 4, 6)),
                Box::new(Gelu::new()),
                Box::new(Linear::new(18, 10)),
            ]
        }),
        ("conv 3x5, global pool", || {
            vec![
                Box::new(Conv::with_kernel(1, 5, 8, 8, 3, 5)),
                Box::new(Relu),
                Box::new(GlobalAvgPool::new(5, 64)),
                Box::new(Linear::new(5, 10)),
            ]
        }),
        ("strided biasless convs", || {
            vec![
                Box::new(Conv::strided(1, 4, 8, 8, (3, 3), 2, (1, 1)).without_bias()),
                Box::new(Relu),
                Box::new(Conv::strided(4, 6, 4, 4, (1, 1), 2, (0, 0))),
                Box::new(GlobalAvgPool::new(6, 4)),
                Box::new(Linear::new(6, 10)),
            ]
        }),
        ("conv1d k5, batchnorm", || {
            vec![
                Box::new(Conv::new_1d(1, 2, 64, 5)),
                Box::new(BatchNorm::new(2, 64)),
                Box::new(Gelu::new()),
                Box::new(MaxPool2::new(2, 8, 8)),
                Box::new(Linear::new(32, 10)),
            ]
        }),
    ];
    for (name, layers) in models {
        for mode in [Mode::Train, Mode::Eval] {
            check_models(name, || Model::new(name, 64, 10, layers()), mode);
            if name != "conv 3x5, global pool" {
                check_model_probes(name, || Model::new(name, 64, 10, layers()), mode);
            }
        }
    }
}

/// A small ResNet for 1×8×8 inputs (as ResNet-8, narrower): stem conv3x3
/// (no bias) + 2-D BatchNorm + ReLU, an identity BasicBlock, a
/// downsampling BasicBlock (stride 2) with a 1x1 stride-2 projection
/// shortcut + BatchNorm, global average pool, FC 10.
pub(crate) fn small_resnet<E: crate::Real>() -> Vec<Box<dyn crate::Layer<E>>>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    use super::{Linear, Residual};
    use crate::Layer;
    let conv = |c_in, c_out, side, k, stride, pad| -> Box<dyn Layer<E>> {
        Box::new(Conv::strided(c_in, c_out, side, side, (k, k), stride, (pad, pad)).without_bias())
    };
    let bn = |c, side: usize| -> Box<dyn Layer<E>> { Box::new(BatchNorm::new(c, side * side)) };
    vec![
        conv(1, 4, 8, 3, 1, 1),
        bn(4, 8),
        Box::new(Relu),
        Box::new(Residual::new(vec![
            conv(4, 4, 8, 3, 1, 1),
            bn(4, 8),
            Box::new(Relu),
            conv(4, 4, 8, 3, 1, 1),
            bn(4, 8),
        ])),
        Box::new(Relu),
        Box::new(Residual::with_shortcut(
            vec![
                conv(4, 6, 8, 3, 2, 1),
                bn(6, 4),
                Box::new(Relu),
                conv(6, 6, 4, 3, 1, 1),
                bn(6, 4),
            ],
            vec![conv(4, 6, 8, 1, 2, 0), bn(6, 4)],
        )),
        Box::new(Relu),
        Box::new(GlobalAvgPool::new(6, 16)),
        Box::new(Linear::new(6, 10)),
    ]
}

#[test]
fn a_small_resnet_matches_dfdx_in_train_and_eval_mode() {
    for mode in [Mode::Train, Mode::Eval] {
        check_models(
            "resnet",
            || Model::new("resnet", 64, 10, small_resnet()),
            mode,
        );
        crate::fast::tests::check_model_probes(
            "resnet",
            || Model::new("resnet", 64, 10, small_resnet()),
            mode,
        );
    }
}
