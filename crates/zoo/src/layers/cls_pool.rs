//! CLS pooling: keep token 0 of each sample, (B·T, d) → (B, d). Linear in
//! its input, so the tangent is the same selection of ẋ.

use crate::fast::{FastLayer, FastProbes, Form, Layout, Live, Mat, Record};
use crate::layer::TapeOps;
use crate::{forward_via_fwd, Cache, Dev, Layer, Mode, Plain, Probe, Real};
use dfdx::prelude::*;

/// Token 0 (CLS) of every sample of a sample-major token matrix.
#[derive(Debug, Clone, Copy)]
pub struct ClsPool {
    /// Tokens per sample T.
    pub tokens: usize,
}

impl ClsPool {
    /// Pool sequences of `tokens` tokens.
    pub fn new(tokens: usize) -> Self {
        ClsPool { tokens }
    }

    /// Row b·T of each sample: viewed as (B, T·d), token 0 is the first d
    /// columns, a plain slice.
    fn select<E: Real, T: TapeOps<E>>(
        &self,
        x: Tensor<(usize, usize), E, Dev, T>,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: Device<E>,
    {
        let (n, d) = *x.shape();
        assert_eq!(
            n % self.tokens,
            0,
            "cls pool: {n} rows is not a multiple of {} tokens",
            self.tokens
        );
        // dfdx 0.13's slice backward assigns (not adds) into the input's
        // gradient; correct here because the pooled tensor has no other
        // consumer.
        x.reshape_like(&(n / self.tokens, self.tokens * d))
            .slice((.., 0..d))
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
        Dev: Device<E>,
    {
        // Only the shape is needed for a zero input tangent; record nothing
        // big.
        let (n, d) = *x.shape();
        cache.push(x.device().zeros_like(&(n / self.tokens, d)));
        self.select(x)
    }
}

impl<E: Real> Layer<E> for ClsPool
where
    Dev: Device<E>,
{
    fn describe(&self) -> String {
        format!("cls pool (token 0 of {})", self.tokens)
    }

    forward_via_fwd!(E);

    fn fast(&self) -> Option<Box<dyn FastLayer>> {
        Some(Box::new(*self))
    }

    fn tangent(
        &self,
        _p: &[Plain<E>],
        _dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        _mode: Mode,
        cache: &mut Cache<E>,
        _probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let zeros = cache.next();
        match dx {
            Some(dx) => self.select(dx),
            None => zeros,
        }
    }
}

/// Fast path: copies row b·T of each sample; records only the input's
/// shape (two empty matrices, `n × 0` and `0 × d`). Backward scatters ∂y into zeros, the
/// tangent selects the same rows of ẋ (zeros for a zero input tangent).
impl FastLayer for ClsPool {
    fn output_form(&self, input: Form) -> Result<Form, String> {
        match input {
            Form::Rows(_) => Ok(input),
            _ => Err(format!("cls pool needs token rows, got {input}")),
        }
    }

    fn forward(&self, _p: &[&[f32]], x: Mat, _s: &mut [f32], _m: Mode, rec: &mut Record) -> Mat {
        assert_eq!(x.layout, Layout::Rows, "cls pool: input");
        let y = self.select_fast(&x);
        rec.mats.push(Mat::zeros(x.rows, 0, Layout::Rows));
        rec.mats.push(Mat::zeros(0, x.cols, Layout::Rows));
        x.recycle();
        y
    }

    fn backward(
        &self,
        _p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        _grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        let n = rec.mats[0].rows;
        if !need_dx {
            return Mat::zeros(n, 0, Layout::Rows);
        }
        let d = dy.cols;
        assert_eq!(dy.rows * self.tokens, n, "cls pool: gradient shape");
        let mut dx = Mat::zeroed(n, d, Layout::Rows);
        for (block, g) in dx
            .data
            .chunks_exact_mut(self.tokens * d)
            .zip(dy.data.chunks_exact(d))
        {
            block[..d].copy_from_slice(g);
        }
        dy.recycle();
        dx
    }

    fn tangent(
        &self,
        _p: &[&[f32]],
        _dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        _probes: &mut FastProbes,
    ) -> Mat {
        match dx {
            Some(dx) => {
                let y = self.select_fast(&dx);
                dx.recycle();
                y
            }
            None => Mat::zeros(
                rec.mats[0].rows / self.tokens,
                rec.mats[1].cols,
                Layout::Rows,
            ),
        }
    }

    /// Output row s is input row s·T (token 0 of sample s).
    fn live_input(&self, out: &Live, rec: &Record) -> Option<Live> {
        let samples = rec.mats[0].rows / self.tokens;
        let rows = match out {
            Live::All => (0..samples).map(|s| s * self.tokens).collect(),
            Live::Rows(kept) => kept.iter().map(|s| s * self.tokens).collect(),
        };
        Some(Live::Rows(rows))
    }

    /// The input tangent, restricted to the CLS rows, is the output's.
    fn tangent_rows(
        &self,
        _p: &[&[f32]],
        _dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        _input: &Live,
        out: &Live,
    ) -> Mat {
        match dx {
            Some(dx) => dx,
            None => {
                let rows = match out {
                    Live::All => rec.mats[0].rows / self.tokens,
                    Live::Rows(kept) => kept.len(),
                };
                Mat::zeros(rows, rec.mats[1].cols, Layout::Rows)
            }
        }
    }
}

impl ClsPool {
    /// Row b·T of every sample of a (B·T, d) matrix, as (B, d).
    fn select_fast(&self, x: &Mat) -> Mat {
        assert_eq!(
            x.rows % self.tokens,
            0,
            "cls pool: {} rows is not a multiple of {} tokens",
            x.rows,
            self.tokens
        );
        let d = x.cols;
        let mut y = Mat::scratch(x.rows / self.tokens, d, Layout::Rows);
        for (o, block) in y
            .data
            .chunks_exact_mut(d)
            .zip(x.data.chunks_exact(self.tokens * d))
        {
            o.copy_from_slice(&block[..d]);
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_row_zero_of_each_sample() {
        let dev: Dev = Default::default();
        let x: Plain<f64> =
            dev.tensor_from_vec((0..3 * 4 * 2).map(|v| v as f64).collect(), (12, 2));
        let mut cache = Cache::new();
        let y = Layer::<f64>::forward(&ClsPool::new(4), &[], x, &mut [], Mode::Eval, &mut cache);
        assert_eq!(*y.shape(), (3, 2));
        assert_eq!(y.as_vec(), vec![0.0, 1.0, 8.0, 9.0, 16.0, 17.0]);
    }

    #[test]
    fn fast_path_matches_the_f64_layer() {
        crate::fast::tests::check_layer_against_f64("cls pool", &ClsPool::new(4), 12, 3);
        crate::fast::tests::check_layer_against_f64("cls pool of one", &ClsPool::new(1), 5, 2);
    }
}
