//! BatchNorm over the channels of channel-major rows of C·L values
//! (BatchNorm1d on (B, C, L)): per channel, statistics over the batch and
//! the length. y = γ x̂ + β, x̂ = (x − μ)/σ, σ = √(var + ε), ε = 1e-5.
//!
//! Train mode normalises with the batch statistics (biased variance) and
//! moves the running statistics: running ← 0.9·running + 0.1·batch, the
//! variance with the unbiased batch variance (PyTorch, momentum 0.1). Eval
//! mode normalises with the running statistics.
//!
//! Tangents, per channel over its N = B·L values:
//! - eval (μ, σ constant): ẏ = γ ẋ/σ + γ̇ x̂ + β̇;
//! - train (μ, σ depend on the batch):
//!   x̂̇ = (ẋ − mean(ẋ) − x̂·mean(ẋ ⊙ x̂))/σ, ẏ = γ x̂̇ + γ̇ x̂ + β̇.
//!
//! The forward records x̂ and 1/σ of its own mode, so the tangent pass must
//! be called with the mode of the forward it reads.

use crate::fast::{
    backward_constants, image_to_padded, interiors, interiors_mut, padded_dims, padded_to_image,
    padded_to_rows, rows_to_padded, zero_pad_rows, BnKernel, Layout, Mat, Record,
};
use crate::layer::TapeOps;
use crate::{cast, forward_via_fwd, Cache, Dev, Init, Layer, Mode, ParamSpec, Plain, Probe, Real};
use dfdx::prelude::*;

/// BatchNorm over `channels` of rows holding `channels × length` values.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    /// Channels C.
    pub channels: usize,
    /// Values per channel in a row (sequence length L, or H·W).
    pub length: usize,
    /// ε added to the variance.
    pub eps: f64,
    /// Weight of the batch statistics in the running-statistics update.
    pub momentum: f64,
}

impl BatchNorm {
    /// BatchNorm(C) on rows of C × L values; ε = 1e-5, momentum 0.1.
    pub fn new(channels: usize, length: usize) -> Self {
        BatchNorm {
            channels,
            length,
            eps: 1e-5,
            momentum: 0.1,
        }
    }

    /// Per-channel (mean, biased variance) over batch and length, in f64.
    pub fn batch_stats<E: Real>(&self, x: &[E]) -> (Vec<f64>, Vec<f64>) {
        let (c, l) = (self.channels, self.length);
        let n = (x.len() / (c * l) * l) as f64;
        let mut mean = vec![0.0; c];
        let mut var = vec![0.0; c];
        for row in x.chunks_exact(c * l) {
            for (ch, vals) in row.chunks_exact(l).enumerate() {
                mean[ch] += vals.iter().map(|v| v.to_f64().unwrap()).sum::<f64>();
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        for row in x.chunks_exact(c * l) {
            for (ch, vals) in row.chunks_exact(l).enumerate() {
                var[ch] += vals
                    .iter()
                    .map(|v| (v.to_f64().unwrap() - mean[ch]).powi(2))
                    .sum::<f64>();
            }
        }
        var.iter_mut().for_each(|v| *v /= n);
        (mean, var)
    }

    /// A per-channel vector broadcast over (B, C, L).
    fn per_channel<E: Real, T: TapeOps<E>>(
        v: Tensor<(usize, usize), E, Dev, T>,
        shape: (usize, usize, usize),
    ) -> Tensor<(usize, usize, usize), E, Dev, T>
    where
        Dev: dfdx::prelude::Device<E>,
    {
        v.reshape_like(&(shape.1,))
            .broadcast_like::<_, Axes2<0, 2>>(&shape)
    }

    fn fwd<E: Real, T: TapeOps<E>>(
        &self,
        p: &[Plain<E>],
        x: Tensor<(usize, usize), E, Dev, T>,
        state: &mut [E],
        mode: Mode,
        cache: &mut Cache<E>,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: dfdx::prelude::Device<E>,
    {
        let (b, n) = *x.shape();
        let (c, l) = (self.channels, self.length);
        assert_eq!(
            n,
            c * l,
            "batchnorm: rows have {n} features, expected {c}x{l}"
        );
        let shape = (b, c, l);
        let dev = x.device().clone();
        let x3 = x.reshape_like(&shape);
        let (xhat, inv_sigma) = match mode {
            Mode::Train => {
                let count = b * l;
                assert!(
                    count > 1,
                    "batchnorm in train mode needs more than one value per channel"
                );
                let (mean, var) = self.batch_stats(&x3.retaped::<NoneTape>().as_vec());
                let unbiased = count as f64 / (count - 1) as f64;
                for ch in 0..c {
                    let (m, keep) = (self.momentum, 1.0 - self.momentum);
                    state[ch] = cast(keep * state[ch].to_f64().unwrap() + m * mean[ch]);
                    state[c + ch] =
                        cast(keep * state[c + ch].to_f64().unwrap() + m * var[ch] * unbiased);
                }
                let inv_sigma: Vec<E> = var
                    .iter()
                    .map(|v| cast(1.0 / (v + self.eps).sqrt()))
                    .collect();
                // On the tape, so that the gradient flows through μ and σ.
                (x3.normalize::<Axes2<0, 2>>(self.eps), inv_sigma)
            }
            Mode::Eval => {
                let mean: Vec<E> = state[..c].to_vec();
                let inv_sigma: Vec<E> = state[c..2 * c]
                    .iter()
                    .map(|v| cast(1.0 / (v.to_f64().unwrap() + self.eps).sqrt()))
                    .collect();
                let mean_t = Self::per_channel(dev.tensor_from_vec(mean, (1, c)), shape);
                let inv_t =
                    Self::per_channel(dev.tensor_from_vec(inv_sigma.clone(), (1, c)), shape);
                ((x3 - mean_t) * inv_t, inv_sigma)
            }
        };
        cache.push(xhat.retaped::<NoneTape>().reshape_like(&(b, n)));
        cache.push(dev.tensor_from_vec(inv_sigma, (1, c)));
        let y = xhat * Self::per_channel(p[0].retaped::<T>(), shape)
            + Self::per_channel(p[1].retaped::<T>(), shape);
        y.reshape_like(&(b, n))
    }
}

impl<E: Real> Layer<E> for BatchNorm
where
    Dev: dfdx::prelude::Device<E>,
{
    fn describe(&self) -> String {
        format!("batchnorm {} (length {})", self.channels, self.length)
    }

    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new("gain", (1, self.channels), Init::Ones),
            ParamSpec::new("shift", (1, self.channels), Init::Zeros),
        ]
    }

    /// Running mean (zeros) then running variance (ones).
    fn init_state(&self) -> Vec<f64> {
        let mut s = vec![0.0; self.channels];
        s.resize(2 * self.channels, 1.0);
        s
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
        mode: Mode,
        cache: &mut Cache<E>,
        _probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let xhat_t = cache.next();
        let inv_sigma = cache.next().as_vec();
        let (b, n) = *xhat_t.shape();
        let (c, l) = (self.channels, self.length);
        let xhat = xhat_t.as_vec();
        let (gain, dgain, dshift) = (p[0].as_vec(), dp[0].as_vec(), dp[1].as_vec());
        // x̂̇ per channel: ẋ/σ, minus (train mode) the statistics' response.
        let mut dxhat = vec![E::zero(); b * n];
        if let Some(dx) = dx {
            let dxv = dx.as_vec();
            for (ch, &inv) in inv_sigma.iter().enumerate() {
                let at = |s: usize, j: usize| s * n + ch * l + j;
                let (mut mean_d, mut mean_dx) = (E::zero(), E::zero());
                if mode == Mode::Train {
                    for s in 0..b {
                        for j in 0..l {
                            mean_d += dxv[at(s, j)];
                            mean_dx += dxv[at(s, j)] * xhat[at(s, j)];
                        }
                    }
                    let inv_count: E = cast(1.0 / (b * l) as f64);
                    mean_d *= inv_count;
                    mean_dx *= inv_count;
                }
                for s in 0..b {
                    for j in 0..l {
                        let i = at(s, j);
                        dxhat[i] = (dxv[i] - mean_d - xhat[i] * mean_dx) * inv;
                    }
                }
            }
        }
        let mut out = dxhat;
        for s in 0..b {
            for ch in 0..c {
                for j in 0..l {
                    let i = s * n + ch * l + j;
                    out[i] = gain[ch] * out[i] + dgain[ch] * xhat[i] + dshift[ch];
                }
            }
        }
        xhat_t.device().tensor_from_vec(out, (b, n))
    }
}

/// Fast path on padded sequences (channels-last: a channel is a column,
/// statistics over the interior rows only; output pad rows stay zero).
/// Rows input (channel-major C·L) and images (channels-last, H·W = L: a
/// 2-D BatchNorm) are converted to a padded sequence and the output back. The record holds the input x (x̂ = (x − μ)/σ is recomputed
/// where needed, which is cheaper than storing it), μ, 1/σ and the weight
/// of the batch statistics' response: 1/N in train mode, 0 in eval mode.
///
/// Backward per channel, with x̂ and N = samples·len:
/// ∂γ = Σ ∂y x̂, ∂β = Σ ∂y, ∂x = γ/σ·(∂y − mean(∂y) − x̂·mean(∂y x̂)) in train
/// mode (the means drop out in eval mode). Sums are accumulated in f64.
impl BatchNorm {
    /// The fast kernels' description of this BatchNorm (plain shapes and
    /// constants: `fast` knows no layer types).
    pub fn kernel(&self) -> BnKernel {
        BnKernel {
            channels: self.channels,
            length: self.length,
            eps: self.eps,
            momentum: self.momentum,
        }
    }

    /// The input as a padded sequence, and the layout it came in.
    fn fast_input(&self, x: Mat) -> (Mat, Layout) {
        let layout = x.layout;
        let x = match layout {
            Layout::Rows => {
                let padded = rows_to_padded(&x, self.channels, self.length);
                x.recycle();
                padded
            }
            Layout::PaddedSeq { .. } => x,
            Layout::Image { .. } => {
                let padded = image_to_padded(&x);
                x.recycle();
                padded
            }
        };
        let (_, len) = padded_dims(&x, self.channels, "batchnorm");
        assert_eq!(len, self.length, "batchnorm: sequence length");
        (x, layout)
    }
}

/// A padded-sequence result in the layout the layer's input came in.
fn to_layout(y: Mat, layout: Layout) -> Mat {
    match layout {
        Layout::Rows => {
            let rows = padded_to_rows(&y);
            y.recycle();
            rows
        }
        Layout::PaddedSeq { .. } => y,
        Layout::Image { height, width, .. } => {
            let image = padded_to_image(&y, height, width);
            y.recycle();
            image
        }
    }
}

impl crate::fast::FastLayer for BatchNorm {
    fn output_form(&self, input: crate::fast::Form) -> Result<crate::fast::Form, String> {
        use crate::fast::Form;
        let (c, l) = (self.channels, self.length);
        match input {
            Form::Rows(n) if n == c * l => Ok(input),
            Form::PaddedSeq { channels, len } if (channels, len) == (c, l) => Ok(input),
            Form::Image {
                channels,
                height,
                width,
            } if (channels, height * width) == (c, l) => Ok(input),
            _ => Err(format!(
                "batchnorm needs {c} channels x {l} positions, got {input}"
            )),
        }
    }

    fn fusion(&self) -> Option<crate::fast::Fusible> {
        Some(crate::fast::Fusible::BatchNorm(self.kernel()))
    }

    fn forward(
        &self,
        p: &[&[f32]],
        x: Mat,
        state: &mut [f32],
        mode: Mode,
        rec: &mut Record,
    ) -> Mat {
        let c = self.channels;
        let (x, layout) = self.fast_input(x);
        let (samples, len) = padded_dims(&x, c, "batchnorm");
        let (mean, inv, weight) = match mode {
            Mode::Train => {
                let shift = x.data[c.min(x.data.len())..(2 * c).min(x.data.len())].to_vec();
                let (mut s1, mut s2) = (vec![0.0; c], vec![0.0; c]);
                if samples > 0 {
                    self.kernel().add_moments(&x.data, &shift, &mut s1, &mut s2);
                }
                self.kernel()
                    .train_statistics(&s1, &s2, &shift, samples * len, state)
            }
            Mode::Eval => self.kernel().eval_statistics(state),
        };
        let (gain, shift) = (p[0], p[1]);
        let mut y = Mat::scratch(x.rows, c, x.layout);
        zero_pad_rows(&mut y.data, c, len);
        for (yb, xb) in interiors_mut(&mut y.data, c, len).zip(interiors(&x.data, c, len)) {
            for (yr, xr) in yb.chunks_exact_mut(c).zip(xb.chunks_exact(c)) {
                for ((((yv, &xv), &m), &s), (&g, &b)) in yr
                    .iter_mut()
                    .zip(xr)
                    .zip(&mean)
                    .zip(&inv)
                    .zip(gain.iter().zip(shift))
                {
                    *yv = (xv - m) * s * g + b;
                }
            }
        }
        rec.mats.push(x);
        rec.mats.push(Mat::zeros(0, 0, layout));
        rec.vecs.push(mean);
        rec.vecs.push(inv);
        rec.vecs.push(vec![weight]);
        to_layout(y, layout)
    }

    fn backward(
        &self,
        p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        let (c, len) = (self.channels, self.length);
        let (x, layout) = (&rec.mats[0], rec.mats[1].layout);
        let (mean, inv, weight) = (&rec.vecs[0], &rec.vecs[1], rec.vecs[2][0]);
        let (mut dy, _) = self.fast_input(dy);
        assert_eq!(dy.layout, x.layout, "batchnorm backward: ∂y shape");
        let (sd, sdx) = self.kernel().sums_with_xhat(&dy, x, mean, inv);
        for (g, v) in grads[0].iter_mut().zip(&sdx) {
            *g = *v as f32;
        }
        for (g, v) in grads[1].iter_mut().zip(&sd) {
            *g = *v as f32;
        }
        if need_dx {
            let (scale, m1, m2) = backward_constants(p[0], inv, &sd, &sdx, weight);
            for (db, xb) in interiors_mut(&mut dy.data, c, len).zip(interiors(&x.data, c, len)) {
                for (dr, xr) in db.chunks_exact_mut(c).zip(xb.chunks_exact(c)) {
                    for (((dv, &xv), (&m, &s)), ((&a, &u1), &u2)) in dr
                        .iter_mut()
                        .zip(xr)
                        .zip(mean.iter().zip(inv))
                        .zip(scale.iter().zip(&m1).zip(&m2))
                    {
                        let xh = (xv - m) * s;
                        *dv = a * (*dv - u1 - xh * u2);
                    }
                }
            }
        } else {
            dy.data.fill(0.0);
        }
        zero_pad_rows(&mut dy.data, c, len);
        to_layout(dy, layout)
    }

    /// As the dfdx tangent: ẏ = γ x̂̇ + γ̇ x̂ + β̇ with
    /// x̂̇ = (ẋ − mean(ẋ) − x̂·mean(ẋ x̂))/σ in train mode, ẋ/σ in eval mode.
    fn tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        mode: Mode,
        rec: &Record,
        _probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        let (c, len) = (self.channels, self.length);
        let (x, layout) = (&rec.mats[0], rec.mats[1].layout);
        let (mean, inv, weight) = (&rec.vecs[0], &rec.vecs[1], rec.vecs[2][0]);
        assert_eq!(
            mode == Mode::Train,
            weight > 0.0,
            "batchnorm: tangent in {mode:?} mode over a forward of the other mode"
        );
        let (gain, dgain, dshift) = (p[0], dp[0], dp[1]);
        let out = match dx {
            None => {
                let mut out = Mat::scratch(x.rows, c, x.layout);
                zero_pad_rows(&mut out.data, c, len);
                for (ob, xb) in interiors_mut(&mut out.data, c, len).zip(interiors(&x.data, c, len))
                {
                    for (or, xr) in ob.chunks_exact_mut(c).zip(xb.chunks_exact(c)) {
                        for (((ov, &xv), (&m, &s)), (&dg, &db)) in or
                            .iter_mut()
                            .zip(xr)
                            .zip(mean.iter().zip(inv))
                            .zip(dgain.iter().zip(dshift))
                        {
                            *ov = dg * ((xv - m) * s) + db;
                        }
                    }
                }
                out
            }
            Some(dx) => {
                let (mut dx, _) = self.fast_input(dx);
                assert_eq!(dx.layout, x.layout, "batchnorm tangent: ẋ shape");
                let (m1, m2): (Vec<f32>, Vec<f32>) = if weight > 0.0 {
                    let (sd, sdx) = self.kernel().sums_with_xhat(&dx, x, mean, inv);
                    let w = weight as f64;
                    (
                        sd.iter().map(|v| (v * w) as f32).collect(),
                        sdx.iter().map(|v| (v * w) as f32).collect(),
                    )
                } else {
                    (vec![0.0; c], vec![0.0; c])
                };
                for (db, xb) in interiors_mut(&mut dx.data, c, len).zip(interiors(&x.data, c, len))
                {
                    for (dr, xr) in db.chunks_exact_mut(c).zip(xb.chunks_exact(c)) {
                        for ((((dv, &xv), (&m, &s)), (&g, (&u1, &u2))), (&dg, &dsh)) in dr
                            .iter_mut()
                            .zip(xr)
                            .zip(mean.iter().zip(inv))
                            .zip(gain.iter().zip(m1.iter().zip(&m2)))
                            .zip(dgain.iter().zip(dshift))
                        {
                            let xh = (xv - m) * s;
                            let dxh = (*dv - u1 - xh * u2) * s;
                            *dv = g * dxh + dg * xh + dsh;
                        }
                    }
                }
                zero_pad_rows(&mut dx.data, c, len);
                dx
            }
        };
        to_layout(out, layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::Conv;
    use crate::{Batch, Model, ParamVec};
    use rand::{Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    fn max_rel(a: &[f64], b: &[f64]) -> f64 {
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        a.iter()
            .zip(b)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
            / scale
    }

    #[test]
    fn train_forward_matches_naive_and_updates_running_stats() {
        let dev = Dev::default();
        let (b, c, l) = (4, 3, 5);
        let bn = BatchNorm::new(c, l);
        let x: Vec<f64> = random(b * c * l, 1)
            .iter()
            .enumerate()
            .map(|(i, v)| 2.0 * v + (i % 7) as f64)
            .collect();
        let (gain, shift) = (random(c, 2), random(c, 3));
        let p = vec![
            dev.tensor_from_vec(gain.clone(), (1, c)),
            dev.tensor_from_vec(shift.clone(), (1, c)),
        ];
        let mut state: Vec<f64> = vec![0.5, -1.0, 2.0, 3.0, 0.25, 1.5];
        let before = state.clone();
        let y = bn
            .forward(
                &p,
                dev.tensor_from_vec(x.clone(), (b, c * l)),
                &mut state,
                Mode::Train,
                &mut Cache::new(),
            )
            .as_vec();
        let n = (b * l) as f64;
        for ch in 0..c {
            let vals: Vec<f64> = (0..b)
                .flat_map(|s| (0..l).map(move |j| s * c * l + ch * l + j))
                .map(|i| x[i])
                .collect();
            let mean = vals.iter().sum::<f64>() / n;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            for s in 0..b {
                for j in 0..l {
                    let i = s * c * l + ch * l + j;
                    let expect = gain[ch] * (x[i] - mean) / (var + 1e-5).sqrt() + shift[ch];
                    assert!((y[i] - expect).abs() < 1e-12, "{} vs {expect}", y[i]);
                }
            }
            assert!((state[ch] - (0.9 * before[ch] + 0.1 * mean)).abs() < 1e-14);
            assert!(
                (state[c + ch] - (0.9 * before[c + ch] + 0.1 * var * n / (n - 1.0))).abs() < 1e-14
            );
        }
        // The taped forward gives the same values and the same update.
        let mut state2 = before.clone();
        let yt = bn.forward_traced(
            &p,
            dev.tensor_from_vec(x.clone(), (b, c * l)).retaped(),
            &mut state2,
            Mode::Train,
            &mut Cache::new(),
        );
        assert!(max_rel(&yt.as_vec(), &y) < 1e-14);
        assert_eq!(state2, state);
        // Eval mode reads the running statistics and leaves them alone.
        let frozen = state.clone();
        let ye = bn
            .forward(
                &p,
                dev.tensor_from_vec(x.clone(), (b, c * l)),
                &mut state,
                Mode::Eval,
                &mut Cache::new(),
            )
            .as_vec();
        assert_eq!(state, frozen);
        for (i, v) in ye.iter().enumerate() {
            let ch = (i % (c * l)) / l;
            let expect =
                gain[ch] * (x[i] - frozen[ch]) / (frozen[c + ch] + 1e-5).sqrt() + shift[ch];
            assert!((v - expect).abs() < 1e-12);
        }
    }

    /// conv1d → BN → linear: BN sees a nonzero input tangent.
    fn model() -> (Model<f64>, crate::State<f64>, Batch<f64>) {
        let (c_in, c, l, b) = (2, 3, 6, 5);
        let layers: Vec<Box<dyn Layer<f64>>> = vec![
            Box::new(Conv::new_1d(c_in, c, l, 3)),
            Box::new(BatchNorm::new(c, l)),
            Box::new(crate::layers::Linear::new(c * l, 4)),
        ];
        let model = Model::new("conv-bn", c_in * l, 4, layers);
        let mut state = model.init(1);
        // Move γ, β off 1, 0 and the running statistics off 0, 1.
        let bn_offset = model.layout().iter().find(|(i, ..)| *i == 1).unwrap().2;
        for (k, v) in random(2 * c, 9).into_iter().enumerate() {
            state.params.0[bn_offset + k] += 0.5 * v;
        }
        let x: Vec<f64> = random(b * c_in * l, 2);
        let batch = Batch::new(x, c_in * l, vec![0, 1, 2, 3, 0], 4);
        for _ in 0..3 {
            model.forward(&mut state, &batch.x, Mode::Train);
        }
        assert_ne!(state.buffers[..c], vec![0.0; c][..]);
        (model, state, batch)
    }

    #[test]
    fn eval_jvp_matches_central_differences() {
        let (model, state, batch) = model();
        let v = ParamVec::<f64>::random_unit(model.num_params(), 3);
        let exact = model.jvp(&state, &batch.x, &v).slopes.as_vec();
        let fd = model.fd_jvp(&state, &batch.x, &v, 1e-6).as_vec();
        let err = max_rel(&exact, &fd);
        assert!(err < 1e-7, "eval-mode JVP vs FD: {err:e}");
    }

    #[test]
    fn train_tangent_matches_central_differences() {
        let (model, mut state, batch) = model();
        let v = ParamVec::<f64>::random_unit(model.num_params(), 4);
        // Train-mode FD: every forward on its own copy of the state, so the
        // running statistics (unused by train-mode normalisation) never drift.
        let eps = 1e-6;
        let train_logits = |s: f64| {
            let mut st = state.clone();
            st.params.axpy(s, &v);
            model.forward(&mut st, &batch.x, Mode::Train).0.as_vec()
        };
        let (plus, minus) = (train_logits(eps), train_logits(-eps));
        let fd: Vec<f64> = plus
            .iter()
            .zip(&minus)
            .map(|(p, m)| (p - m) / (2.0 * eps))
            .collect();
        // The tangent of a training step's own (taped) forward.
        let frozen = state.clone();
        let mut step = model.loss_and_grad(&mut state, &batch, Mode::Train);
        let cached = model.tangent(&frozen, &mut step.cache, &v, Mode::Train);
        let err = max_rel(&cached.as_vec(), &fd);
        assert!(err < 1e-7, "train-mode tangent vs FD: {err:e}");
        // The same from a plain train-mode forward.
        let mut st = frozen.clone();
        let (_, mut cache) = model.forward(&mut st, &batch.x, Mode::Train);
        let plain = model.tangent(&frozen, &mut cache, &v, Mode::Train);
        assert!(max_rel(&plain.as_vec(), &fd) < 1e-7);
        // Train-mode batch statistics make the tangent differ from eval's.
        let eval = model.jvp(&frozen, &batch.x, &v).slopes.as_vec();
        assert!(max_rel(&eval, &fd) > 1e-3);
    }
}
