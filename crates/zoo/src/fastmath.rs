//! Branch-free single-precision elementary functions for hot loops over
//! slices (they vectorise; libm's scalar calls do not). Used where f32 is
//! the precision of the values anyway: the f32 GELU and the cross-entropy
//! of logit sweeps. f64 code paths use libm / std.

/// exp(x) in single precision, branch-free (so loops over it vectorise):
/// Cody–Waite reduction by ln 2 and Cephes' degree-6 polynomial, relative
/// error below 2e-7. Inputs are clamped to [−87, 88]: below −87 the
/// result is ≈ 1e-38, never a subnormal (subnormal arithmetic is a
/// hundredfold slower on x86); callers use it where that is negligible.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    exp_f32_with::<false>(x)
}

/// a·b + c, fused (one rounding) when `FMA`. Only code compiled for a CPU
/// with FMA may pass `true`: elsewhere `mul_add` is a slow library call.
#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// [`exp_f32`] with its polynomial in fused multiply-adds when `FMA` (same
/// accuracy bound; the last bit may differ from the unfused version).
#[inline(always)]
pub fn exp_f32_with<const FMA: bool>(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest without a libm call: the 1.5·2^23 trick.
    let n = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let m = madd::<FMA>;
    let p = m(
        m(
            m(
                m(m(1.987_569_1e-4, r, 1.398_199_9e-3), r, 8.333_452e-3),
                r,
                4.166_579_6e-2,
            ),
            r,
            1.666_666_5e-1,
        ),
        r,
        5.000_000_1e-1,
    );
    let y = m(p * r, r, r) + 1.0;
    // 2^n without a float-to-int conversion: n + 127 sits in the low
    // mantissa bits of n + 127 + 1.5·2^23.
    y * f32::from_bits(((n + 12_583_039.0).to_bits() & 0xff) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_is_accurate_and_never_subnormal() {
        let mut worst = 0.0f64;
        for i in 0..=400_000 {
            let x = -87.0 + 175.0 * i as f64 / 400_000.0;
            let x = x as f32;
            let want = (x as f64).exp();
            worst = worst.max((exp_f32(x) as f64 - want).abs() / want);
        }
        assert!(worst < 2e-7, "worst relative error {worst:e}");
        let mut worst_fma = 0.0f64;
        for i in 0..=40_000 {
            let x = (-87.0 + 175.0 * i as f64 / 40_000.0) as f32;
            let want = (x as f64).exp();
            worst_fma = worst_fma.max((exp_f32_with::<true>(x) as f64 - want).abs() / want);
        }
        assert!(
            worst_fma < 2e-7,
            "fused: worst relative error {worst_fma:e}"
        );
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-1000.0) < 1e-37 && exp_f32(-1000.0).is_normal());
        assert!(exp_f32(f32::NAN).is_nan());
    }
}
