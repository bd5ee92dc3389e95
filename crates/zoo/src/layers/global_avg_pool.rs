//! Global average pooling: the mean over the length (or H·W) of each
//! channel, channel-major rows (B, C·L) → (B, C). Linear, so the tangent is
//! the same mean of ẋ.

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
