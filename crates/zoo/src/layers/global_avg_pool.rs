//! Global average pooling: the mean over the length (or H·W) of each
//! channel, channel-major rows (B, C·L) → (B, C). Linear, so the tangent is
//! the same mean of ẋ.

use crate::fast::{
    image_dims, interiors, interiors_mut, padded_dims, zero_pad_rows, Layout, Mat, Record,
};
use crate::layer::TapeOps;
use crate::{forward_via_fwd, Cache, Dev, Layer, Mode, Plain, Probe, Real};
use dfdx::prelude::*;

/// Mean over the `length` values of each of `channels` channels.
#[derive(Debug, Clone)]
pub struct GlobalAvgPool {
    /// Channels C.
    pub channels: usize,
    /// Values averaged per channel (L, or H·W).
    pub length: usize,
}

impl GlobalAvgPool {
    /// Average `channels × length` rows over the length.
    pub fn new(channels: usize, length: usize) -> Self {
        GlobalAvgPool { channels, length }
    }

    /// (B, C·L) → (B, C), generic over the tape (shared by forward and tangent).
    fn pool<E: Real, T: TapeOps<E>>(
        &self,
        x: Tensor<(usize, usize), E, Dev, T>,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: dfdx::prelude::Device<E>,
    {
        let (b, n) = *x.shape();
        assert_eq!(
            n,
            self.channels * self.length,
            "global average pool: rows have {n} features, expected {}x{}",
            self.channels,
            self.length
        );
        x.reshape_like(&(b, self.channels, self.length))
            .mean::<_, Axis<2>>()
    }

    fn fwd<E: Real, T: TapeOps<E>>(
        &self,
        _p: &[Plain<E>],
        x: Tensor<(usize, usize), E, Dev, T>,
        _state: &mut [E],
        _mode: Mode,
        cache: &mut Cache<E>,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: dfdx::prelude::Device<E>,
    {
        // Only the batch size is needed (for a zero tangent); the record is
        // a shared handle, not a copy.
        cache.push(x.retaped::<NoneTape>());
        self.pool(x)
    }
}

impl<E: Real> Layer<E> for GlobalAvgPool
where
    Dev: dfdx::prelude::Device<E>,
{
    fn describe(&self) -> String {
        format!("global average pool {}x{}", self.channels, self.length)
    }

    forward_via_fwd!(E);

    fn fast(&self) -> Option<Box<dyn crate::fast::FastLayer>> {
        Some(Box::new(self.clone()))
    }

    /// ẏ = mean over the length of ẋ.
    fn tangent(
        &self,
        _p: &[Plain<E>],
        _dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        _mode: Mode,
        cache: &mut Cache<E>,
        _probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let x = cache.next();
        match dx {
            Some(dx) => self.pool(dx),
            None => x.device().zeros_like(&(x.shape().0, self.channels)),
        }
    }
}

/// Fast path: padded sequences or images (channels-last, H·W = length) or
/// channel-major rows in,
/// rows of `channels` means out. The record is a `samples × 0` matrix in
/// the input's layout (for the shape of ∂x and of a zero tangent).
impl GlobalAvgPool {
    /// The means of `x` (either layout), `samples × channels`.
    fn fast_pool(&self, x: &Mat) -> Mat {
        let (c, l) = (self.channels, self.length);
        let inv = 1.0 / l as f32;
        match x.layout {
            Layout::PaddedSeq { .. } => {
                let (samples, len) = padded_dims(x, c, "global average pool");
                assert_eq!(len, l, "global average pool: sequence length");
                let mut y = Mat::zeros(samples, c, Layout::Rows);
                for (yr, xb) in y.data.chunks_exact_mut(c).zip(interiors(&x.data, c, l)) {
                    for xr in xb.chunks_exact(c) {
                        for (a, &v) in yr.iter_mut().zip(xr) {
                            *a += v;
                        }
                    }
                    yr.iter_mut().for_each(|a| *a *= inv);
                }
                y
            }
            Layout::Image { .. } => {
                let (samples, h, w) = image_dims(x, c, "global average pool");
                assert_eq!(h * w, l, "global average pool: pixels per image");
                let mut y = Mat::zeros(samples, c, Layout::Rows);
                for (yr, xb) in y.data.chunks_exact_mut(c).zip(x.data.chunks_exact(c * l)) {
                    for xr in xb.chunks_exact(c) {
                        for (a, &v) in yr.iter_mut().zip(xr) {
                            *a += v;
                        }
                    }
                    yr.iter_mut().for_each(|a| *a *= inv);
                }
                y
            }
            Layout::Rows => {
                assert_eq!(x.cols, c * l, "global average pool: row width");
                let data = x
                    .data
                    .chunks_exact(l)
                    .map(|seq| seq.iter().sum::<f32>() * inv)
                    .collect();
                Mat::new(x.rows, c, data)
            }
        }
    }
}

impl crate::fast::FastLayer for GlobalAvgPool {
    fn output_form(&self, input: crate::fast::Form) -> Result<crate::fast::Form, String> {
        use crate::fast::Form;
        let (c, l) = (self.channels, self.length);
        match input {
            Form::Rows(n) if n == c * l => Ok(Form::Rows(c)),
            Form::PaddedSeq { channels, len } if (channels, len) == (c, l) => Ok(Form::Rows(c)),
            Form::Image {
                channels,
                height,
                width,
            } if (channels, height * width) == (c, l) => Ok(Form::Rows(c)),
            _ => Err(format!(
                "global average pool needs {c} channels x {l} positions, got {input}"
            )),
        }
    }

    fn fusion(&self) -> Option<crate::fast::Fusible> {
        Some(crate::fast::Fusible::GlobalAvgPool {
            channels: self.channels,
            length: self.length,
        })
    }

    fn forward(
        &self,
        _p: &[&[f32]],
        x: Mat,
        _state: &mut [f32],
        _mode: Mode,
        rec: &mut Record,
    ) -> Mat {
        let y = self.fast_pool(&x);
        rec.mats.push(Mat::zeros(y.rows, 0, x.layout));
        x.recycle();
        y
    }

    /// ∂x = ∂y/L at every position of its channel (zero pad rows).
    fn backward(
        &self,
        _p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        _grads: &mut [&mut [f32]],
        _need_dx: bool,
    ) -> Mat {
        let (c, l) = (self.channels, self.length);
        let (samples, layout) = (rec.mats[0].rows, rec.mats[0].layout);
        assert_eq!((dy.rows, dy.cols), (samples, c), "global average pool: ∂y");
        let inv = 1.0 / l as f32;
        match layout {
            Layout::PaddedSeq { .. } => {
                let mut dx = Mat::scratch(samples * (l + 2), c, layout);
                zero_pad_rows(&mut dx.data, c, l);
                for (xb, dr) in interiors_mut(&mut dx.data, c, l).zip(dy.data.chunks_exact(c)) {
                    for xr in xb.chunks_exact_mut(c) {
                        for (a, &d) in xr.iter_mut().zip(dr) {
                            *a = d * inv;
                        }
                    }
                }
                dx
            }
            Layout::Image { .. } => {
                let mut dx = Mat::scratch(samples * l, c, layout);
                for (xb, dr) in dx.data.chunks_exact_mut(c * l).zip(dy.data.chunks_exact(c)) {
                    for xr in xb.chunks_exact_mut(c) {
                        for (a, &d) in xr.iter_mut().zip(dr) {
                            *a = d * inv;
                        }
                    }
                }
                dx
            }
            Layout::Rows => {
                let mut dx = Mat::zeros(samples, c * l, Layout::Rows);
                for (seq, &d) in dx.data.chunks_exact_mut(l).zip(&dy.data) {
                    seq.fill(d * inv);
                }
                dx
            }
        }
    }

    /// ẏ = the means of ẋ.
    fn tangent(
        &self,
        _p: &[&[f32]],
        _dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        _probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        match dx {
            Some(dx) => {
                let y = self.fast_pool(&dx);
                dx.recycle();
                y
            }
            None => Mat::zeros(rec.mats[0].rows, self.channels, Layout::Rows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_each_channel_over_its_length() {
        let dev = Dev::default();
        let (b, c, l) = (2, 3, 4);
        let x: Vec<f64> = (0..b * c * l).map(|i| (i * i % 11) as f64).collect();
        let pool = GlobalAvgPool::new(c, l);
        let y = pool
            .forward(
                &[],
                dev.tensor_from_vec(x.clone(), (b, c * l)),
                &mut [],
                Mode::Eval,
                &mut Cache::new(),
            )
            .as_vec();
        for s in 0..b {
            for ch in 0..c {
                let expect = (0..l).map(|j| x[s * c * l + ch * l + j]).sum::<f64>() / l as f64;
                assert!((y[s * c + ch] - expect).abs() < 1e-14);
            }
        }
    }
}
