//! Exact GELU, y = x·Φ(x) (the erf form; the tanh approximation adds complex
//! singularities at distance π/2, paper Appendix 2). Tangent:
//! ẏ = (Φ(x) + x φ(x))·ẋ.

use super::zip_map;
use crate::layer::TapeOps;
use crate::{cast, forward_via_fwd, Cache, Layer, Mode, Plain, Probe, ProbeKind, Real};
use dfdx::prelude::*;

/// Exact (erf) GELU. With `probe` set, the tangent pass reports its
/// pre-activations as FFN probes (transformer-radii's ρ_ffn).
#[derive(Debug, Clone, Default)]
pub struct Gelu {
    /// Report pre-activations and their tangents under this name.
    pub probe: Option<String>,
}

impl Gelu {
    /// A plain GELU.
    pub fn new() -> Self {
        Gelu { probe: None }
    }

    /// A GELU whose tangent pass reports its pre-activations.
    pub fn probed(name: &str) -> Self {
        Gelu {
            probe: Some(name.into()),
        }
    }

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
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<NoneTape>() {
            // No tape, no slope: accurate_gelu's value is exact.
            return x.accurate_gelu();
        }
        // dfdx 0.13's accurate_gelu has the exact value but a wrong slope (its
        // derivative drops the 1/√2 of the Gaussian term). Add a term whose
        // value is exactly zero and whose slope cancels the surplus
        // (checked against f64 central differences in tests).
        let k = (1.0 - std::f64::consts::FRAC_1_SQRT_2) / std::f64::consts::PI.sqrt();
        let constant = (x.retaped::<NoneTape>().square() * cast::<E>(-0.5)).exp();
        let correction =
            ((x.with_empty_tape().square() * cast::<E>(-0.5)).exp() - constant) * cast::<E>(k);
        x.accurate_gelu() + correction
    }
}

/// Φ(x) + x φ(x), the exact GELU slope.
pub fn gelu_slope(x: f64) -> f64 {
    let phi = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2)) + x * phi
}

impl<E: Real> Layer<E> for Gelu
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    fn describe(&self) -> String {
        "gelu (exact erf)".into()
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
        let dx = dx.unwrap_or_else(|| x.device().zeros_like(x.shape()));
        if let Some(name) = &self.probe {
            probes.push(Probe {
                kind: ProbeKind::FfnPreActivation,
                layer: name.clone(),
                value: x.clone(),
                tangent: dx.clone(),
            });
        }
        zip_map(&x, &dx, |x, d| {
            cast::<E>(gelu_slope(x.to_f64().unwrap())) * d
        })
    }
}
