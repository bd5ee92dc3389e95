//! Row tokens of an image: (B, rows·row_len) → `rows` tokens of `row_len`
//! pixels → shared Linear(row_len → d) → a learned CLS token prepended →
//! learned positions added → (B·T, d), T = rows + 1, sample-major
//! (row b·T + t is token t of sample b; t = 0 is CLS).
//!
//! Tangent: ẏ = [ċls ; x Ẇ + ḃ (+ ẋ W)] + ṗos; the model input has no tangent,
//! so the ẋ term only runs if a layer before this one supplies ẋ.

use super::broadcast_row;
use crate::layer::TapeOps;
use crate::{forward_via_fwd, Cache, Dev, Init, Layer, Mode, ParamSpec, Plain, Probe, Real};
use dfdx::prelude::*;

/// Image rows as tokens, with CLS and learned positions (TinyTransformer).
#[derive(Debug, Clone)]
pub struct RowTokens {
    /// Tokens per image (8 rows of the 8×8 digits).
    pub rows: usize,
    /// Pixels per token.
    pub row_len: usize,
    /// Model dimension d.
    pub dim: usize,
}

impl RowTokens {
    /// `rows` tokens of `row_len` pixels embedded in `dim` dimensions.
    pub fn new(rows: usize, row_len: usize, dim: usize) -> Self {
        RowTokens { rows, row_len, dim }
    }

    /// Tokens per sample including CLS.
    pub fn tokens(&self) -> usize {
        self.rows + 1
    }

    /// [cls ; tok] + pos for (B·rows, d) embedded rows `tok`: the forward and
    /// the tangent pass share it (the map is affine in (tok, cls, pos)).
    fn assemble<E: Real, T: TapeOps<E>>(
        &self,
        tok: Tensor<(usize, usize), E, Dev, T>,
        cls: Tensor<(usize, usize), E, Dev, T>,
        pos: Tensor<(usize, usize), E, Dev, T>,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: Device<E>,
    {
        let (d, t) = (self.dim, self.tokens());
        let b = tok.shape().0 / self.rows;
        let tok = tok.reshape_like(&(b, self.rows, d));
        let cls = cls
            .reshape_like(&(d,))
            .broadcast_like::<_, Axes2<0, 1>>(&(b, 1usize, d));
        let seq = (cls, tok).concat_along(Axis::<1>);
        let pos = pos.broadcast_like::<_, Axis<0>>(&(b, t, d));
        (seq + pos).reshape_like(&(b * t, d))
    }

    fn fwd<E: Real, T: TapeOps<E>>(
        &self,
        p: &[Plain<E>],
        x: Tensor<(usize, usize), E, Dev, T>,
        _state: &mut [E],
        _mode: Mode,
        cache: &mut Cache<E>,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: Device<E>,
    {
        let (b, f) = *x.shape();
        assert_eq!(
            f,
            self.rows * self.row_len,
            "row tokens: input has {f} features, expected {}",
            self.rows * self.row_len
        );
        let n = b * self.rows;
        // Row-major pixels: each run of row_len values is one image row.
        let xr = x.reshape_like(&(n, self.row_len));
        cache.push(xr.retaped::<NoneTape>());
        let tok = xr.matmul(p[0].retaped::<T>()) + broadcast_row(p[1].retaped::<T>(), n);
        self.assemble(tok, p[2].retaped::<T>(), p[3].retaped::<T>())
    }
}

impl<E: Real> Layer<E> for RowTokens
where
    Dev: Device<E>,
{
    fn describe(&self) -> String {
        format!(
            "row tokens {}x{} -> {} tokens x {} (cls, positions)",
            self.rows,
            self.row_len,
            self.tokens(),
            self.dim
        )
    }

    /// Embedding weight and bias (PyTorch Linear init U(±1/√row_len)), CLS
    /// (1, d) and positions (T, d), both N(0, 0.02²).
    fn params(&self) -> Vec<ParamSpec> {
        let bound = 1.0 / (self.row_len as f64).sqrt();
        vec![
            ParamSpec::new(
                "embed.weight",
                (self.row_len, self.dim),
                Init::Uniform(bound),
            ),
            ParamSpec::new("embed.bias", (1, self.dim), Init::Uniform(bound)),
            ParamSpec::new("cls", (1, self.dim), Init::Normal(0.02)),
            ParamSpec::new("pos", (self.tokens(), self.dim), Init::Normal(0.02)),
        ]
    }

    forward_via_fwd!(E);

    fn tangent(
        &self,
        p: &[Plain<E>],
        dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        _mode: Mode,
        cache: &mut Cache<E>,
        _probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let xr = cache.next();
        let n = xr.shape().0;
        let mut dtok = xr.matmul(dp[0].clone()) + broadcast_row(dp[1].clone(), n);
        if let Some(dx) = dx {
            dtok = dtok + dx.reshape_like(&(n, self.row_len)).matmul(p[0].clone());
        }
        self.assemble(dtok, dp[2].clone(), dp[3].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Model;

    #[test]
    fn tokens_are_cls_then_embedded_rows_plus_positions() {
        let dev: Dev = Default::default();
        let layer = RowTokens::new(8, 8, 5);
        let model = Model::<f64>::new("tokens", 64, 5, vec![Box::new(layer.clone())]);
        assert_eq!(model.num_params(), 8 * 5 + 5 + 5 + 9 * 5);
        let mut state = model.init(1);
        let x = crate::model::to_matrix::<f64>(&dev.sample_normal_like(&(3, 64)));
        let (y, _) = model.forward(&mut state, &x, Mode::Eval);
        assert_eq!(y.shape(), (27, 5));
        // Naive recomputation from θ = [W (8×5), b, cls, pos (9×5)].
        let th = &state.params.0;
        let (w, bias, cls, pos) = (&th[0..40], &th[40..45], &th[45..50], &th[50..95]);
        let (xv, yv) = (x.as_vec(), y.as_vec());
        for b in 0..3 {
            for t in 0..9 {
                for j in 0..5 {
                    let base = if t == 0 {
                        cls[j]
                    } else {
                        bias[j]
                            + (0..8)
                                .map(|c| xv[b * 64 + (t - 1) * 8 + c] * w[c * 5 + j])
                                .sum::<f64>()
                    };
                    let expect = base + pos[t * 5 + j];
                    assert!((yv[(b * 9 + t) * 5 + j] - expect).abs() < 1e-13);
                }
            }
        }
    }

    #[test]
    fn tangent_is_the_map_at_the_direction() {
        // The layer is affine in θ with zero input tangent: ẏ = y(θ + v) − y(θ).
        let dev: Dev = Default::default();
        let model = Model::<f64>::new("tokens", 64, 5, vec![Box::new(RowTokens::new(8, 8, 5))]);
        let state = model.init(2);
        let x = crate::model::to_matrix::<f64>(&dev.sample_normal_like(&(4, 64)));
        let v = crate::ParamVec::<f64>::random_unit(model.num_params(), 4);
        let mut moved = state.clone();
        moved.params.axpy(1.0, &v);
        let expect = model.logits(&moved, &x) - model.logits(&state, &x);
        let got = model.jvp(&state, &x, &v).slopes;
        assert!((got - expect).as_vec().iter().all(|d| d.abs() < 1e-13));
    }
}
