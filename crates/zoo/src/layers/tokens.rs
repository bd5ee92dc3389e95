//! Row tokens of an image: (B, rows·row_len) → `rows` tokens of `row_len`
//! pixels → shared Linear(row_len → d) → a learned CLS token prepended →
//! learned positions added → (B·T, d), T = rows + 1, sample-major
//! (row b·T + t is token t of sample b; t = 0 is CLS).
//!
//! Tangent: ẏ = [ċls ; x Ẇ + ḃ (+ ẋ W)] + ṗos; the model input has no tangent,
//! so the ẋ term only runs if a layer before this one supplies ẋ.

use super::broadcast_row;
use crate::fast::{FastLayer, FastProbes, Form, Layout, Mat, Record};
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

    fn fast(&self) -> Option<Box<dyn crate::fast::FastLayer>> {
        Some(Box::new(self.clone()))
    }

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

impl RowTokens {
    /// Write the (B·T, d) tokens for the (B, rows·row_len) images `x`:
    /// row b·T is `cls` + `pos[0]`, row b·T + 1 + r is
    /// `bias` + `pos[r + 1]` + (row r of image b)·`w`, plus (row r of
    /// `dx`)·`dw` when `dx` is given (the tangent's ẋ W term). Every entry of
    /// `y` is written.
    #[allow(clippy::too_many_arguments)]
    fn assemble_fast(
        &self,
        y: &mut Mat,
        x: &Mat,
        w: &[f32],
        bias: &[f32],
        cls: &[f32],
        pos: &[f32],
        extra: Option<(&Mat, &[f32])>,
    ) {
        let (d, t, rl) = (self.dim, self.tokens(), self.row_len);
        let samples = y
            .data
            .chunks_exact_mut(t * d)
            .zip(x.data.chunks_exact(self.rows * rl));
        for (s, (out, img)) in samples.enumerate() {
            let (first, rest) = out.split_at_mut(d);
            for ((o, &c), &p) in first.iter_mut().zip(cls).zip(&pos[..d]) {
                *o = c + p;
            }
            let rows = rest.chunks_exact_mut(d).zip(img.chunks_exact(rl));
            for (r, (o, pixels)) in rows.enumerate() {
                for ((o, &b), &p) in o.iter_mut().zip(bias).zip(&pos[(r + 1) * d..]) {
                    *o = b + p;
                }
                for (&v, wr) in pixels.iter().zip(w.chunks_exact(d)) {
                    for (o, &wv) in o.iter_mut().zip(wr) {
                        *o += v * wv;
                    }
                }
                if let Some((dx, wx)) = extra {
                    let pixels = &dx.data[s * self.rows * rl + r * rl..][..rl];
                    for (&v, wr) in pixels.iter().zip(wx.chunks_exact(d)) {
                        for (o, &wv) in o.iter_mut().zip(wr) {
                            *o += v * wv;
                        }
                    }
                }
            }
        }
    }
}

/// Fast path: the (B, rows·row_len) images to (B·T, d) token rows in one
/// pass (an 8 → d embedding per row is a short loop, not worth a GEMM);
/// records the input. The tangent is the same map at (Ẇ, ḃ, ċls, ṗos)
/// plus ẋ W when the input has a tangent.
impl FastLayer for RowTokens {
    fn output_form(&self, input: Form) -> Result<Form, String> {
        match input {
            Form::Rows(c) if c == self.rows * self.row_len => Ok(Form::Rows(self.dim)),
            _ => Err(format!(
                "row tokens need rows of {} pixels, got {input}",
                self.rows * self.row_len
            )),
        }
    }

    fn forward(&self, p: &[&[f32]], x: Mat, _s: &mut [f32], _m: Mode, rec: &mut Record) -> Mat {
        assert_eq!(
            (x.cols, x.layout),
            (self.rows * self.row_len, Layout::Rows),
            "row tokens: input"
        );
        let mut y = Mat::scratch(x.rows * self.tokens(), self.dim, Layout::Rows);
        self.assemble_fast(&mut y, &x, p[0], p[1], p[2], p[3], None);
        if rec.logits_only {
            x.recycle();
        } else {
            rec.mats.push(x);
        }
        y
    }

    /// ∂W = Σ_tokens pixelsᵀ ∂y, ∂b = Σ_tokens ∂y, ∂cls = Σ_samples ∂y_cls,
    /// ∂pos_t = Σ_samples ∂y_t; ∂x = ∂y_tokens Wᵀ per image row.
    fn backward(
        &self,
        p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        let x = &rec.mats[0];
        let (d, t, rl) = (self.dim, self.tokens(), self.row_len);
        assert_eq!(
            (dy.rows, dy.cols),
            (x.rows * t, d),
            "row tokens: gradient shape"
        );
        let [dw, db, dcls, dpos] = grads else {
            panic!("row tokens: four gradient tensors")
        };
        for g in [&mut **dw, &mut **db, &mut **dcls, &mut **dpos] {
            g.fill(0.0);
        }
        let mut dx = if need_dx {
            Mat::scratch(x.rows, x.cols, Layout::Rows)
        } else {
            Mat::zeros(x.rows, 0, Layout::Rows)
        };
        for (s, (g, img)) in dy
            .data
            .chunks_exact(t * d)
            .zip(x.data.chunks_exact(x.cols))
            .enumerate()
        {
            for (pos, &v) in dpos.iter_mut().zip(g) {
                *pos += v;
            }
            for (c, &v) in dcls.iter_mut().zip(&g[..d]) {
                *c += v;
            }
            for (r, (g, pixels)) in g[d..].chunks_exact(d).zip(img.chunks_exact(rl)).enumerate() {
                for (b, &v) in db.iter_mut().zip(g) {
                    *b += v;
                }
                for (&xv, wr) in pixels.iter().zip(dw.chunks_exact_mut(d)) {
                    for (w, &v) in wr.iter_mut().zip(g) {
                        *w += xv * v;
                    }
                }
                if need_dx {
                    let out = &mut dx.data[s * x.cols + r * rl..][..rl];
                    for (o, wr) in out.iter_mut().zip(p[0].chunks_exact(d)) {
                        *o = wr.iter().zip(g).map(|(a, b)| a * b).sum();
                    }
                }
            }
        }
        dy.recycle();
        dx
    }

    /// ẏ = [ċls ; pixels Ẇ + ḃ (+ ẋ W)] + ṗos.
    fn tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        _probes: &mut FastProbes,
    ) -> Mat {
        let x = &rec.mats[0];
        let mut dy = Mat::scratch(x.rows * self.tokens(), self.dim, Layout::Rows);
        let extra = dx.as_ref().map(|dx| (dx, p[0]));
        self.assemble_fast(&mut dy, x, dp[0], dp[1], dp[2], dp[3], extra);
        if let Some(dx) = dx {
            dx.recycle();
        }
        dy
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

    #[test]
    fn fast_path_matches_the_f64_layer() {
        // Forward, ∂θ, ∂x (unused as a first layer, but exact), tangent.
        crate::fast::tests::check_layer_against_f64("row tokens", &RowTokens::new(8, 8, 5), 3, 64);
        crate::fast::tests::check_layer_against_f64(
            "row tokens 2x3",
            &RowTokens::new(2, 3, 4),
            5,
            6,
        );
    }
}
