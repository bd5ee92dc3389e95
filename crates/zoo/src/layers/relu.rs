//! ReLU, y = max(x, 0). Its tangent is ẏ = `1[x > 0]`·ẋ, exact away from the
//! kink at 0 (tests keep pre-activations away from it).

use super::{tangent_or_zeros, zip_map};
use crate::fast::{mask_buffer, Mat, Record};
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

    fn fast(&self) -> Option<Box<dyn crate::fast::FastLayer>> {
        Some(Box::new(*self))
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
        probes.push(Probe::from_tensors(ProbeKind::Kink, "relu", &x, &dx));
        zip_map(&x, &dx, |x, d| if x > E::zero() { d } else { E::zero() })
    }
}

/// Fast path: elementwise, any layout (kept). The record is the byte mask
/// `1[x > 0]` (a quarter of x's bytes), an empty `rows × 0` matrix with x's
/// layout and the input x itself (moved, not copied: the output is a new
/// buffer), which the tangent reports as the Kink probe (h = x, ḣ = ẋ, in
/// rows) when probes are wanted, as the dfdx tangent does. A logits-only
/// forward works in place and records nothing. A zero pad row stays zero
/// in every pass.
impl crate::fast::FastLayer for Relu {
    fn output_form(&self, input: crate::fast::Form) -> Result<crate::fast::Form, String> {
        Ok(input)
    }

    fn fusion(&self) -> Option<crate::fast::Fusible> {
        Some(crate::fast::Fusible::Relu)
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
            crate::fast::vectorized(|| {
                for v in x.data.iter_mut() {
                    *v = if *v > 0.0 { *v } else { 0.0 };
                }
            });
            return x;
        }
        let mut mask = mask_buffer(x.data.len());
        // Written in full.
        let mut y = Mat::scratch(x.rows, x.cols, x.layout);
        crate::fast::vectorized(|| {
            for ((out, m), &v) in y.data.iter_mut().zip(mask.iter_mut()).zip(&x.data) {
                let on = v > 0.0;
                *m = on as u8;
                *out = if on { v } else { 0.0 };
            }
        });
        rec.masks.push(mask);
        // The shape and layout, for a zero tangent: rows × 0 in x's layout.
        rec.mats.push(Mat::zeros(x.rows, 0, x.layout));
        // The pre-activation, for the Kink probe.
        rec.mats.push(x);
        y
    }

    /// ∂x = ∂y·`1[x > 0]`, in place.
    fn backward(
        &self,
        _p: &[&[f32]],
        mut dy: Mat,
        rec: &Record,
        _grads: &mut [&mut [f32]],
        _need_dx: bool,
    ) -> Mat {
        apply_mask(&mut dy, &rec.masks[0]);
        dy
    }

    /// ẏ = ẋ·`1[x > 0]`; with probes wanted, the Kink probe h = x, ḣ = ẋ.
    fn tangent(
        &self,
        _p: &[&[f32]],
        _dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        probes.push_with(|| {
            let x = rec
                .mats
                .get(1)
                .expect("relu: a probed tangent needs the input the forward records");
            let tangent = match &dx {
                Some(d) => crate::fast::rows_copy(d),
                None => Mat::zeroed(x.rows, x.cols, x.layout),
            };
            crate::fast::FastProbe {
                kind: ProbeKind::Kink,
                layer: "relu".into(),
                value: crate::fast::rows_copy(x),
                tangent: crate::fast::rows_copy(&tangent),
            }
        });
        let mask = &rec.masks[0];
        match dx {
            Some(mut dx) => {
                apply_mask(&mut dx, mask);
                dx
            }
            None => {
                let shape = &rec.mats[0];
                let cols = mask.len().checked_div(shape.rows).unwrap_or(0);
                Mat::zeroed(shape.rows, cols, shape.layout)
            }
        }
    }
}

/// `d ← d·1[mask]`.
fn apply_mask(d: &mut Mat, mask: &[u8]) {
    assert_eq!(d.data.len(), mask.len(), "relu: gradient or tangent shape");
    crate::fast::vectorized(|| {
        for (v, &m) in d.data.iter_mut().zip(mask) {
            *v = if m != 0 { *v } else { 0.0 };
        }
    });
}

#[cfg(test)]
mod fast_tests {
    use super::Relu;
    use crate::fast::{FastLayer, Layout, Mat, Record};
    use crate::Mode;

    #[test]
    fn fast_relu_keeps_the_layout_and_zero_padding_rows() {
        // One sample of 2 positions, 3 channels: rows 0 and 3 are padding.
        let layout = Layout::PaddedSeq { samples: 1, len: 2 };
        let data = vec![
            0.0, 0.0, 0.0, 1.0, -2.0, 3.0, -0.5, 0.25, -4.0, 0.0, 0.0, 0.0,
        ];
        let x = Mat {
            layout,
            ..Mat::new(4, 3, data)
        };
        let mut rec = Record::default();
        let y = Relu.forward(&[], x, &mut [], Mode::Train, &mut rec);
        assert_eq!(y.layout, layout);
        assert_eq!(
            y.data,
            [0.0, 0.0, 0.0, 1.0, 0.0, 3.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0]
        );
        let ones = Mat {
            layout,
            ..Mat::new(4, 3, vec![1.0; 12])
        };
        let mask = [0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        let dx = Relu.backward(&[], ones.clone(), &rec, &mut [], true);
        assert_eq!((dx.layout, dx.data.as_slice()), (layout, &mask[..]));
        let dy = Relu.tangent(
            &[],
            &[],
            Some(ones),
            Mode::Train,
            &rec,
            &mut crate::fast::FastProbes::new(false),
        );
        assert_eq!((dy.layout, dy.data.as_slice()), (layout, &mask[..]));
        let zero = Relu.tangent(
            &[],
            &[],
            None,
            Mode::Train,
            &rec,
            &mut crate::fast::FastProbes::new(false),
        );
        assert_eq!(zero.layout, layout);
        assert!(zero.data.iter().all(|&v| v == 0.0));
    }
}
