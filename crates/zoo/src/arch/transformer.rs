//! Transformers (spec §5): TinyTransformer-A (transformer-radii, 26,154
//! parameters), TinyTransformer-B (ghost-envelope, 26,410) and the
//! single-token "Transformer" of arch-grid (15,114).
//!
//! Pre-norm blocks: x += Attn(LN(x)); x += fc2(GELU(fc1(LN(x)))), each a
//! [`Residual`] of layers, so every block's tangent is exact and reports its
//! attention-score and FFN pre-activation probes ("block{i}.attn",
//! "block{i}.ffn").

use crate::layers::{
    Attention, AttentionInit, ClsPool, Gelu, LayerNorm, Linear, Residual, RowTokens,
};
use crate::{ArchConfig, Layer, Model, Real};

/// FFN hidden width (fixed by the paper's models, independent of d).
const FFN: usize = 128;
/// Image rows (= tokens before CLS) and pixels per row of the digits.
const ROWS: usize = 8;

/// One pre-norm block: the attention branch then the FFN branch.
fn block<E: Real>(
    i: usize,
    d: usize,
    heads: usize,
    tokens: usize,
    bias: bool,
    init: AttentionInit,
) -> [Box<dyn Layer<E>>; 2]
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let attn: Vec<Box<dyn Layer<E>>> = vec![
        Box::new(LayerNorm::new(d)),
        Box::new(Attention::new(
            &format!("block{i}.attn"),
            d,
            heads,
            tokens,
            bias,
            init,
        )),
    ];
    let ffn: Vec<Box<dyn Layer<E>>> = vec![
        Box::new(LayerNorm::new(d)),
        Box::new(Linear::new(d, FFN)),
        Box::new(Gelu::probed(&format!("block{i}.ffn"))),
        Box::new(Linear::new(FFN, d)),
    ];
    [Box::new(Residual::new(attn)), Box::new(Residual::new(ffn))]
}

/// Row tokens, `depth` blocks, CLS pooling, final LayerNorm, linear head.
/// LayerNorm acts per row, so pooling first and normalising only the CLS
/// rows equals the reference's LN-then-pool at 1/T of the cost.
fn tiny<E: Real>(name: &str, cfg: &ArchConfig, bias: bool, init: AttentionInit) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let d = cfg.width.unwrap_or(32);
    let depth = cfg.depth.unwrap_or(2);
    let heads = cfg.heads.unwrap_or(4);
    let tokens = RowTokens::new(ROWS, ROWS, d);
    let t = tokens.tokens();
    let mut layers: Vec<Box<dyn Layer<E>>> = vec![Box::new(tokens)];
    for i in 0..depth {
        layers.extend(block(i, d, heads, t, bias, init));
    }
    layers.push(Box::new(ClsPool::new(t)));
    layers.push(Box::new(LayerNorm::new(d)));
    layers.push(Box::new(Linear::new(d, 10)));
    Model::new(name, ROWS * ROWS, 10, layers).with_temperature(cfg.temperature.unwrap_or(1.0))
}

/// TinyTransformer-A: d = `width` (32), `depth` (2) blocks of `heads` (4)
/// heads, attention projections without bias, PyTorch Linear init.
pub fn build_a<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    tiny("tiny-transformer", cfg, false, AttentionInit::Linear)
}

/// TinyTransformer-B: as A with biased projections and
/// `nn.MultiheadAttention` init; every block starts as a copy of block 0
/// (PyTorch's `TransformerEncoder` deep-copies one layer).
pub fn build_b<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let mut model = tiny(
        "tiny-transformer-b",
        cfg,
        true,
        AttentionInit::MultiheadAttention,
    );
    // Layers: tokens, then two residual layers per block.
    let depth = cfg.depth.unwrap_or(2);
    let first = model.param_range(1..3);
    for i in 1..depth {
        let to = model.param_range(1 + 2 * i..3 + 2 * i);
        model = model.tie_init(first.clone(), to);
    }
    model
}

/// The arch-grid "Transformer": one token x0 = Linear(64 → d)(image), then
/// `depth` (1) pre-norm blocks with `heads` (1) heads over that single token
/// (softmax over one key ≡ 1: attention reduces to W_out(v)) and biased
/// PyTorch-Linear projections; head Linear(d → 10), no final LayerNorm.
pub fn build_single<E: Real>(cfg: &ArchConfig) -> Model<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let d = cfg.width.unwrap_or(32);
    let depth = cfg.depth.unwrap_or(1);
    let heads = cfg.heads.unwrap_or(1);
    let mut layers: Vec<Box<dyn Layer<E>>> = vec![Box::new(Linear::new(ROWS * ROWS, d))];
    for i in 0..depth {
        layers.extend(block(i, d, heads, 1, true, AttentionInit::Linear));
    }
    layers.push(Box::new(Linear::new(d, 10)));
    Model::new("transformer-single", ROWS * ROWS, 10, layers)
        .with_temperature(cfg.temperature.unwrap_or(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ParamVec, ProbeKind};

    #[test]
    fn parameter_counts_match_the_paper() {
        let cfg = ArchConfig::default();
        assert_eq!(build_a::<f32>(&cfg).num_params(), 26_154);
        assert_eq!(build_b::<f32>(&cfg).num_params(), 26_410);
        assert_eq!(build_single::<f32>(&cfg).num_params(), 15_114);
    }

    #[test]
    fn b_blocks_start_identical_and_a_blocks_do_not() {
        let cfg = ArchConfig::default();
        let b = build_b::<f64>(&cfg);
        let (r0, r1) = (b.param_range(1..3), b.param_range(3..5));
        assert_eq!(r0.len(), r1.len());
        let th = b.init(7).params.0;
        assert_eq!(th[r0.clone()], th[r1.clone()]);
        // Xavier in-projection and zero biases: the MHA init is in place.
        let bound = (6.0f64 / 128.0).sqrt();
        let layout = b.layout();
        let (_, _, o, s) = layout
            .iter()
            .find(|(i, _, _, s)| *i == 1 && s.name == "1.in_proj.weight")
            .unwrap();
        assert!(
            th[*o..*o + s.numel()].iter().all(|v| v.abs() <= bound)
                && th[*o..*o + s.numel()].iter().any(|v| v.abs() > 0.9 * bound)
        );
        let (_, _, o, s) = layout
            .iter()
            .find(|(i, _, _, s)| *i == 1 && s.name == "1.in_proj.bias")
            .unwrap();
        assert!(th[*o..*o + s.numel()].iter().all(|&v| v == 0.0));
        let a = build_a::<f64>(&cfg);
        let th = a.init(7).params.0;
        assert_ne!(th[a.param_range(1..3)], th[a.param_range(3..5)]);
    }

    #[test]
    fn probes_cover_every_score_and_ffn_unit() {
        // transformer-radii reads ρ_attn from the score probes (rows = sample,
        // head, query; columns = keys) and ρ_ffn from the FFN probes.
        let model = build_a::<f64>(&ArchConfig::default());
        let state = model.init(1);
        let x = crate::Matrix::new(5, 64, (0..5 * 64).map(|i| (i % 17) as f64 / 17.0).collect());
        let v = ParamVec::<f64>::random_unit(model.num_params(), 2);
        let jvp = model.jvp_probed(&state, &x, &v);
        assert_eq!(jvp.slopes.shape(), (5, 10));
        let attn: Vec<_> = jvp
            .probes
            .iter()
            .filter(|p| p.kind == ProbeKind::AttentionScores)
            .collect();
        let ffn: Vec<_> = jvp
            .probes
            .iter()
            .filter(|p| p.kind == ProbeKind::FfnPreActivation)
            .collect();
        assert_eq!(
            attn.iter().map(|p| p.layer.as_str()).collect::<Vec<_>>(),
            ["block0.attn", "block1.attn"]
        );
        assert_eq!(
            ffn.iter().map(|p| p.layer.as_str()).collect::<Vec<_>>(),
            ["block0.ffn", "block1.ffn"]
        );
        assert!(attn.iter().all(|p| p.tangent.shape() == (5 * 4 * 9, 9)));
        assert!(ffn.iter().all(|p| p.tangent.shape() == (5 * 9, 128)));
    }
}
