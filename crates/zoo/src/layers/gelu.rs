//! Exact GELU, y = x·Φ(x) (the erf form; the tanh approximation adds complex
//! singularities at distance π/2, paper Appendix 2). Tangent:
//! ẏ = (Φ(x) + x φ(x))·ẋ.

use super::tangent_or_zeros;
use crate::fast::{Live, Mat, Record};

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
        // Φ(x) on the host in one vectorised pass; y = x·Φ(x). A taped pass
        // also needs the slope Φ(x) + xφ(x) (one more exp per unit); the
        // tangent pass recomputes φ from the cached x when it needs it.
        let xv = x.as_vec();
        let cdf = cdf_of(&xv);
        let y: Vec<E> = xv.iter().zip(&cdf).map(|(&a, &c)| a * c).collect();
        let dev = x.device().clone();
        let shape = *x.shape();
        let taped = std::any::TypeId::of::<T>() != std::any::TypeId::of::<NoneTape>();
        let slope = taped.then(|| {
            let s = slope_of(&xv, &cdf, None);
            dev.tensor_from_vec(s, shape)
        });
        // A copy with its own tensor id on the taped pass: dfdx cannot
        // differentiate x − x when both operands are the same tensor.
        let x_plain = if taped {
            dev.tensor_from_vec(xv, shape)
        } else {
            x.retaped::<NoneTape>()
        };
        // Recorded for the tangent: x and Φ(x).
        cache.push(x_plain.clone());
        cache.push(dev.tensor_from_vec(cdf, shape));
        let y = dev.tensor_from_vec(y, shape);
        match slope {
            None => y.retaped::<T>(),
            // Value exactly y (x − x = 0), derivative exactly the slope:
            // reverse mode sees GELU as one elementwise op with a known
            // derivative (dfdx 0.13's own accurate_gelu has a wrong slope).
            Some(slope) => (x - x_plain) * slope + y,
        }
    }
}

/// `v` itself when `E` is f32 (zero-copy, via `Any`): the f32 paths below
/// run on plain `f32` slices so their loops vectorise.
fn as_f32<E: Real>(v: &Vec<E>) -> Option<&Vec<f32>> {
    (v as &dyn std::any::Any).downcast_ref()
}

/// The inverse of [`as_f32`] for a result computed in f32 (only called
/// when `E` is f32).
fn from_f32<E: Real>(v: Vec<f32>) -> Vec<E> {
    let any: Box<dyn std::any::Any> = Box::new(v);
    *any.downcast::<Vec<E>>().expect("E is f32 here")
}

/// Φ(x) elementwise: f32 by [`cdf_f32`], f64 by libm's erfc (exact to the
/// last bits; every exactness test runs in f64).
fn cdf_of<E: Real>(xs: &Vec<E>) -> Vec<E> {
    if let Some(xf) = as_f32(xs) {
        return from_f32(xf.iter().map(|&x| cdf_f32(x)).collect());
    }
    xs.iter()
        .map(|x| {
            let x = x.to_f64().unwrap();
            cast(0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2))
        })
        .collect()
}

/// The GELU slope Φ(x) + xφ(x) from x and Φ(x), times `dx` if given.
fn slope_of<E: Real>(xs: &Vec<E>, cdf: &Vec<E>, dx: Option<&Vec<E>>) -> Vec<E> {
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    if let (Some(xf), Some(cf)) = (as_f32(xs), as_f32(cdf)) {
        let df = dx.map(|d| as_f32(d).expect("dx has the element type of x"));
        let slope = xf.iter().zip(cf).enumerate().map(|(i, (&x, &c))| {
            let s = slope_f32(x, c);
            df.map_or(s, |d| s * d[i])
        });
        return from_f32(slope.collect());
    }
    (0..xs.len())
        .map(|i| {
            let x = xs[i].to_f64().unwrap();
            let s = cdf[i].to_f64().unwrap() + x * (-0.5 * x * x).exp() * INV_SQRT_2PI;
            cast(s * dx.map_or(1.0, |d| d[i].to_f64().unwrap()))
        })
        .collect()
}

/// The GELU slope Φ(x) + xφ(x) in single precision from x and Φ(x) = `cdf`
/// (the f32 dfdx path and the fast path share it, so they agree bit for bit).
#[inline(always)]
pub fn slope_f32(x: f32, cdf: f32) -> f32 {
    slope_f32_with::<false>(x, cdf)
}

/// [`slope_f32`] with a fused-multiply-add exp when `FMA`.
#[inline(always)]
pub fn slope_f32_with<const FMA: bool>(x: f32, cdf: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_280_401_432_7_f64 as f32;
    cdf + x * gauss_f32_with::<FMA>(x) * INV_SQRT_2PI
}

/// Φ(x) = erfc(−x/√2)/2 in single precision: erfc by the Chebyshev fit of
/// Numerical Recipes (erfcc: fractional error below 1.2e-7 for every
/// argument, so the left tail of Φ keeps its relative accuracy, unlike
/// 1 + erf) with [`exp_f32`](crate::fastmath::exp_f32); branch-free, a fraction of the cost of
/// libm's erff. Relative error below 1e-6 (a few ulp) for |x| ≤ 4; further out in the
/// left tail the f32 rounding of x²/2 itself bounds it by ≈ x²·6e-8
/// (2e-5 at |x| = 12, where Φ(x) ≈ 2e-33).
#[inline(always)]
pub fn cdf_f32(x: f32) -> f32 {
    cdf_f32_with::<false>(x)
}

/// [`cdf_f32`] in fused multiply-adds when `FMA` (code compiled for FMA only).
#[inline(always)]
pub fn cdf_f32_with<const FMA: bool>(x: f32) -> f32 {
    let m = crate::fastmath::madd::<FMA>;
    let z_true = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    // Beyond z = 9, erfc(z) < 5e-37: return 0 there, and never compute
    // with subnormals (a hundredfold slowdown on x86).
    let z = z_true.min(9.0);
    let t = 1.0 / (1.0 + 0.5 * z);
    // Horner from the highest coefficient: c0 + t(c1 + t(c2 + ...)).
    let mut poly = 0.170_872_77f32;
    for c in [
        -0.822_152_23,
        1.488_515_87,
        -1.135_203_98,
        0.278_868_07,
        -0.186_288_06,
        0.096_784_18,
        0.374_091_96,
        1.000_023_7,
        -1.265_512_2,
    ] {
        poly = m(t, poly, c);
    }
    let tail = 0.5 * t * crate::fastmath::exp_f32_with::<FMA>(poly - z * z);
    let tail = if z_true > 9.0 { 0.0 } else { tail };
    if x >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// exp(−x²/2) in single precision (0 beyond |x| = 12.7, never subnormal).
#[inline(always)]
pub fn gauss_f32(x: f32) -> f32 {
    gauss_f32_with::<false>(x)
}

/// [`gauss_f32`] with a fused-multiply-add exp when `FMA`.
#[inline(always)]
pub fn gauss_f32_with<const FMA: bool>(x: f32) -> f32 {
    let h = 0.5 * x * x;
    if h > 81.0 {
        0.0
    } else {
        crate::fastmath::exp_f32_with::<FMA>(-h.min(81.0))
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

    /// The fast path (it reports the same probe as the dfdx path).
    fn fast(&self) -> Option<Box<dyn crate::fast::FastLayer>> {
        Some(Box::new(self.clone()))
    }

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
            probes.push(Probe::from_tensors(
                ProbeKind::FfnPreActivation,
                name,
                &x,
                &dx,
            ));
        }
        let cdf = cache.next();
        let slope = slope_of(&x.as_vec(), &cdf.as_vec(), Some(&dx.as_vec()));
        x.device().tensor_from_vec(slope, *x.shape())
    }
}

/// Fast path: y = x·Φ(x) in place, with [`cdf_f32`] as the f32 dfdx path
/// (same values bit for bit). The forward also records the slope
/// s = Φ(x) + xφ(x) (one more exp per unit), the only thing backward
/// (∂x = s·∂y) and tangent (ẏ = s·ẋ) need: neither recomputes Φ. Any
/// [`Layout`](crate::fast::Layout) passes through (GELU(0) = 0 keeps padding
/// rows zero). A probed GELU also records its input x (its output goes to a
/// new buffer instead of over x), and its tangent pass reports x and ẋ as
/// the FFN probe when probes are wanted, as the dfdx path does.
impl crate::fast::FastLayer for Gelu {
    fn output_form(&self, input: crate::fast::Form) -> Result<crate::fast::Form, String> {
        Ok(input)
    }

    fn forward(
        &self,
        _p: &[&[f32]],
        mut x: Mat,
        _state: &mut [f32],
        _mode: Mode,
        rec: &mut Record,
    ) -> Mat {
        if rec.logits_only {
            gelu_in_place(&mut x.data);
        } else if self.probe.is_some() {
            // The probe reports the input: keep x, write y to a new buffer.
            let mut slope = Mat::scratch(x.rows, x.cols, x.layout);
            let mut y = Mat::scratch(x.rows, x.cols, x.layout);
            gelu_and_slope_to(&x.data, &mut y.data, &mut slope.data);
            rec.mats.push(slope);
            rec.mats.push(x);
            return y;
        } else {
            // Written in full by gelu_and_slope.
            let mut slope = Mat::scratch(x.rows, x.cols, x.layout);
            gelu_and_slope(&mut x.data, &mut slope.data);
            rec.mats.push(slope);
        }
        x
    }

    /// ∂x = (Φ(x) + xφ(x))·∂y.
    fn backward(
        &self,
        _p: &[&[f32]],
        mut dy: Mat,
        rec: &Record,
        _grads: &mut [&mut [f32]],
        _need_dx: bool,
    ) -> Mat {
        scale_by_slope(&mut dy, &rec.mats[0]);
        dy
    }

    /// ẏ = (Φ(x) + xφ(x))·ẋ (zeros for a zero input tangent).
    fn tangent(
        &self,
        _p: &[&[f32]],
        _dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        let slope = &rec.mats[0];
        if let (Some(name), Some(x), true) = (
            &self.probe,
            rec.mats.get(1),
            probes.wants(ProbeKind::FfnPreActivation),
        ) {
            // ẋ itself becomes the probe's tangent; ẏ goes to a new buffer.
            let dx = dx.unwrap_or_else(|| x.zeros_like());
            let mut dy = Mat::scratch(dx.rows, dx.cols, slope.layout);
            product_with_slope(&dx, slope, &mut dy);
            // A copy of x in a pooled buffer (the caller may give it back:
            // `Model::recycle_probes`).
            let mut value = Mat::scratch(x.rows, x.cols, x.layout);
            value.data.copy_from_slice(&x.data);
            probes.push_with(|| crate::fast::FastProbe {
                kind: ProbeKind::FfnPreActivation,
                layer: name.clone(),
                value,
                tangent: dx,
            });
            return dy;
        }
        match dx {
            Some(mut dx) => {
                scale_by_slope(&mut dx, slope);
                dx
            }
            None => slope.zeros_like(),
        }
    }

    /// Element-wise: output row i reads input row i only.
    fn live_input(&self, out: &Live, _rec: &Record) -> Option<Live> {
        Some(out.clone())
    }

    /// ẏ = slope ⊙ ẋ on the rows `out`.
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
        let slope = Live::All.select(&rec.mats[0], out);
        let dy = match dx {
            Some(mut dx) => {
                scale_by_slope(&mut dx, &slope);
                dx
            }
            None => slope.zeros_like(),
        };
        slope.recycle();
        dy
    }
}

/// y = x·Φ(x) in place. Compiled three times: for AVX-512 and for AVX2, both
/// with FMA (chosen at run time when the CPU has them; the polynomials then
/// use fused multiply-adds, same accuracy, last bits may differ from the
/// baseline; the two FMA versions give the same values, only wider), and
/// for the baseline. A given machine always takes the same version, so runs
/// stay bit-reproducible there.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn gelu_in_place(x: &mut [f32]) {
    const FMA: bool = multiversion::target::target_cfg_f!(target_feature = "fma");
    for v in x.iter_mut() {
        *v *= cdf_f32_with::<FMA>(*v);
    }
}

/// y = x·Φ(x) in place, and the slope Φ(x) + xφ(x) the backward and tangent
/// passes need (dispatched as [`gelu_in_place`]).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn gelu_and_slope(x: &mut [f32], slope: &mut [f32]) {
    const FMA: bool = multiversion::target::target_cfg_f!(target_feature = "fma");
    for (v, s) in x.iter_mut().zip(slope.iter_mut()) {
        let c = cdf_f32_with::<FMA>(*v);
        *s = slope_f32_with::<FMA>(*v, c);
        *v *= c;
    }
}

/// y = x·Φ(x) into `y` and the slope Φ(x) + xφ(x) into `slope`, `x`
/// kept (dispatched as [`gelu_in_place`]; same values as
/// [`gelu_and_slope`]).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma"
))]
fn gelu_and_slope_to(x: &[f32], y: &mut [f32], slope: &mut [f32]) {
    const FMA: bool = multiversion::target::target_cfg_f!(target_feature = "fma");
    for ((&v, o), s) in x.iter().zip(y.iter_mut()).zip(slope.iter_mut()) {
        let c = cdf_f32_with::<FMA>(v);
        *s = slope_f32_with::<FMA>(v, c);
        *o = v * c;
    }
}

/// out = s ⊙ d (the same products as [`scale_by_slope`]), in the slope's
/// layout.
fn product_with_slope(d: &Mat, slope: &Mat, out: &mut Mat) {
    assert_eq!(
        (d.rows, d.cols),
        (slope.rows, slope.cols),
        "gelu: tangent shape"
    );
    out.layout = slope.layout;
    for ((o, &d), &s) in out.data.iter_mut().zip(&d.data).zip(&slope.data) {
        *o = d * s;
    }
}

/// d ← s ⊙ d; `d` takes the slope's layout.
fn scale_by_slope(d: &mut Mat, slope: &Mat) {
    assert_eq!(
        (d.rows, d.cols),
        (slope.rows, slope.cols),
        "gelu: tangent shape"
    );
    d.layout = slope.layout;
    for (d, &s) in d.data.iter_mut().zip(&slope.data) {
        *d *= s;
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
        }
        // Φ(1) + φ(1) = 1.0833 (dfdx's accurate_gelu backward returns 1.1835 here).
        assert!((gelu_slope(1.0) - 1.083_315).abs() < 1e-6);
    }

    #[test]
    fn single_precision_cdf_and_gauss_are_accurate_everywhere() {
        // Against libm in f64 over [-12, 12], relative errors: below 1e-6
        // for |x| <= 4 (also in the left tail, where 1 + erf would lose
        // every digit); beyond, bounded by the rounding of x²/2 (x²·6e-8).
        for i in -120_000..=120_000 {
            let x = (i as f64 * 1e-4) as f32;
            let (c, g) = (cdf_f32(x), gauss_f32(x));
            let x = x as f64;
            let c_ref = 0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2);
            let g_ref = (-0.5 * x * x).exp();
            let bound = 1e-6_f64.max(x * x * 1.5e-7);
            let (ec, eg) = (
                ((c as f64 - c_ref) / c_ref).abs(),
                ((g as f64 - g_ref) / g_ref).abs(),
            );
            assert!(ec < bound, "Phi({x}): relative error {ec:e} > {bound:e}");
            assert!(
                eg < bound,
                "exp(-x^2/2) at {x}: relative error {eg:e} > {bound:e}"
            );
        }
        assert_eq!(cdf_f32(f32::INFINITY), 1.0);
        assert_eq!(cdf_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(gauss_f32(f32::INFINITY), 0.0);
        // A NaN input gives a NaN output y = x·Φ(x) (a diverged run stays NaN).
        assert!((f32::NAN * cdf_f32(f32::NAN)).is_nan());
    }
}

#[cfg(test)]
mod fast_tests {
    use super::{cdf_f32, slope_f32, Gelu};
    use crate::fast::{FastLayer, Layout, Mat, Record};
    use crate::Mode;

    #[test]
    fn fast_gelu_keeps_the_layout_and_zero_padding_rows_and_records_the_slope() {
        let layout = Layout::PaddedSeq { samples: 1, len: 1 };
        let x = Mat {
            layout,
            ..Mat::new(3, 2, vec![0.0, 0.0, -1.3, 0.7, 0.0, 0.0])
        };
        let mut rec = Record::default();
        let gelu = Gelu::probed("ffn");
        let y = gelu.forward(&[], x.clone(), &mut [], Mode::Eval, &mut rec);
        assert_eq!(y.layout, layout);
        for (&yv, &xv) in y.data.iter().zip(&x.data) {
            assert_eq!(yv, xv * cdf_f32(xv));
        }
        let d = Mat {
            layout,
            ..Mat::new(3, 2, vec![2.0; 6])
        };
        let dx = gelu.backward(&[], d.clone(), &rec, &mut [], true);
        let dy = gelu.tangent(
            &[],
            &[],
            Some(d),
            Mode::Eval,
            &rec,
            &mut crate::fast::FastProbes::new(false),
        );
        for ((&g, &t), &xv) in dx.data.iter().zip(&dy.data).zip(&x.data) {
            let s = 2.0 * slope_f32(xv, cdf_f32(xv));
            assert_eq!((g, t), (s, s));
        }
        assert_eq!((dx.layout, dy.layout), (layout, layout));
        // Padding rows: GELU(0) = 0, and its slope Φ(0) = 1/2 scales a zero tangent to 0.
        assert_eq!(&y.data[..2], &[0.0, 0.0]);
        assert_eq!(&y.data[4..], &[0.0, 0.0]);
    }

    #[test]
    fn fast_path_matches_the_f64_layer_and_reports_the_ffn_probe() {
        crate::fast::tests::check_layer_against_f64("gelu", &Gelu::new(), 7, 5);
        crate::fast::tests::check_layer_against_f64("probed gelu", &Gelu::probed("ffn"), 7, 5);
    }
}
