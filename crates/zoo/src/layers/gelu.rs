//! Exact GELU, y = x·Φ(x) (the erf form; the tanh approximation adds complex
//! singularities at distance π/2, paper Appendix 2). Tangent:
//! ẏ = (Φ(x) + x φ(x))·ẋ.

use super::{tangent_or_zeros, zip_map};
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
        // Recorded for the tangent: x, then (taped pass only) the Gaussian
        // factor exp(−x²/2) and the output x·Φ(x), which the step computes
        // anyway; the slope is then Φ(x) + xφ(x) = y/x + x·exp(−x²/2)/√(2π)
        // without another erf per unit.
        cache.push(x.retaped::<NoneTape>());
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<NoneTape>() {
            // No tape, no slope: accurate_gelu's value is exact.
            cache.push(x.device().zeros_like(&(0usize, 0usize)));
            return x.accurate_gelu();
        }
        // dfdx 0.13's accurate_gelu has the exact value but a wrong slope (its
        // derivative drops the 1/√2 of the Gaussian term). Add a term whose
        // value is exactly zero and whose slope cancels the surplus
        // (checked against f64 central differences in tests).
        let k = (1.0 - std::f64::consts::FRAC_1_SQRT_2) / std::f64::consts::PI.sqrt();
        let constant = (x.retaped::<NoneTape>().square() * cast::<E>(-0.5)).exp();
        let correction = ((x.with_empty_tape().square() * cast::<E>(-0.5)).exp()
            - constant.clone())
            * cast::<E>(k);
        cache.push(constant);
        let y = x.accurate_gelu() + correction;
        cache.push(y.retaped::<NoneTape>());
        y
    }
}

/// ẏ = (Φ(x) + xφ(x))·ẋ from the forward's y = xΦ(x) and g = exp(−x²/2):
/// Φ = y/x (its Taylor form 1/2 + x/√(2π) for |x| < 1e-4, where y/x loses digits).
fn slope_from_forward<E: Real>(
    x: &Plain<E>,
    y: &Plain<E>,
    gauss: &Plain<E>,
    dx: &Plain<E>,
) -> Plain<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    let inv_sqrt_2pi: E = cast(1.0 / (2.0 * std::f64::consts::PI).sqrt());
    let (half, tiny): (E, E) = (cast(0.5), cast(1e-4));
    let (xv, yv, gv, dv) = (x.as_vec(), y.as_vec(), gauss.as_vec(), dx.as_vec());
    let out = (0..xv.len())
        .map(|i| {
            let x = xv[i];
            let phi_cdf = if x.abs() < tiny {
                half + x * inv_sqrt_2pi
            } else {
                yv[i] / x
            };
            (phi_cdf + x * gv[i] * inv_sqrt_2pi) * dv[i]
        })
        .collect();
    x.device().tensor_from_vec(out, *x.shape())
}

/// Φ(x) + x φ(x), the exact GELU slope.
pub fn gelu_slope(x: f64) -> f64 {
    let phi = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2)) + x * phi
}

/// [`gelu_slope`] in single precision (the f32 tangent pass: libm's erff is
/// several times cheaper than erf, and f32 is the precision of the values).
pub fn gelu_slope_f32(x: f32) -> f32 {
    let phi = (-0.5 * x * x).exp() * 0.398_942_28;
    0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2)) + x * phi
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
        let dx = tangent_or_zeros(dx, &x);
        if let Some(name) = &self.probe {
            probes.push(Probe {
                kind: ProbeKind::FfnPreActivation,
                layer: name.clone(),
                value: x.clone(),
                tangent: dx.clone(),
            });
        }
        let gauss = cache.next();
        if gauss.shape().0 > 0 {
            let y = cache.next();
            return slope_from_forward(&x, &y, &gauss, &dx);
        }
        if std::mem::size_of::<E>() == 4 {
            zip_map(&x, &dx, |x, d| {
                cast::<E>(gelu_slope_f32(x.to_f32().unwrap()) as f64) * d
            })
        } else {
            zip_map(&x, &dx, |x, d| {
                cast::<E>(gelu_slope(x.to_f64().unwrap())) * d
            })
        }
    }
}

#[cfg(test)]
mod slope_tests {
    use super::*;

    #[test]
    fn slope_is_the_derivative_of_the_exact_gelu() {
        let gelu = |x: f64| 0.5 * x * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2));
        for &x in &[-4.0, -1.3, -0.2, 0.0, 0.7, 1.0, 2.5, 6.0] {
            let h = 1e-5;
            let fd = (gelu(x + h) - gelu(x - h)) / (2.0 * h);
            assert!((gelu_slope(x) - fd).abs() < 1e-9, "x = {x}");
            assert!(
                (gelu_slope_f32(x as f32) as f64 - gelu_slope(x)).abs() < 1e-6,
                "f32 at x = {x}"
            );
        }
        // Φ(1) + φ(1) = 1.0833 (dfdx's accurate_gelu backward returns 1.1835 here).
        assert!((gelu_slope(1.0) - 1.083_315).abs() < 1e-6);
    }
}
