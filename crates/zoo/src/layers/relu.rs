//! ReLU, y = max(x, 0). Its tangent is ẏ = 1[x > 0]·ẋ, exact away from the
//! kink at 0 (tests keep pre-activations away from it).

use super::{tangent_or_zeros, zip_map};
use crate::layer::TapeOps;
use crate::{forward_via_fwd, Cache, Layer, Mode, Plain, Probe, ProbeKind, Real};
use dfdx::prelude::*;

/// Rectified linear unit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relu;

impl Relu {
    fn fwd<E: Real, T: TapeOps<E>>(
        &self,
        _p: &[Plain<E>],
        x: Tensor<(usize, usize), E, crate::Dev, T>,
        _state: &mut [E],
        _mode: Mode,
        cache: &mut Cache<E>,
    ) -> Tensor<(usize, usize), E, crate::Dev, T>
    where
        crate::Dev: dfdx::prelude::Device<E>,
    {
        cache.push(x.retaped::<NoneTape>());
        x.relu()
    }
}

impl<E: Real> Layer<E> for Relu
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    fn describe(&self) -> String {
        "relu".into()
    }

    forward_via_fwd!(E);

    fn tangent(
        &self,
        _p: &[Plain<E>],
        _dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        _mode: Mode,
        cache: &mut Cache<E>,
        probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let x = cache.next();
        let dx = tangent_or_zeros(dx, &x);
        probes.push(Probe {
            kind: ProbeKind::Kink,
            layer: "relu".into(),
            value: x.clone(),
            tangent: dx.clone(),
        });
        zip_map(&x, &dx, |x, d| if x > E::zero() { d } else { E::zero() })
    }
}
