//! CLS pooling: keep token 0 of each sample, (B·T, d) → (B, d). Linear in
//! its input, so the tangent is the same selection of ẋ.

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
}
