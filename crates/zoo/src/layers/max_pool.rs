//! 2×2 max-pool, stride 2, on channel-major rows of C·H·W values
//! (→ C·(H/2)·(W/2)).
//!
//! The forward picks each window's winner on the host (the first maximal
//! entry in row-major window order, as PyTorch) and `gather`s it. Gathering
//! rather than dfdx's `max` reduction matters for ties: dfdx's `max` backward
//! sends the gradient to *every* tied entry, PyTorch and the tangent pass to
//! the winner only. Ties do happen here: blank corners of a digit give
//! identical conv patches, hence bit-identical pooled values.
//!
//! Tangent: ẏ = ẋ at the winner. The map is piecewise linear; its kink is
//! where the winner changes, so the tangent pass reports the gap
//! (winner − runner-up) and its tangent as a [`ProbeKind::Kink`] probe.

use crate::fast::{
    image_dims, image_to_rows, mask_buffer, rows_to_image, with_const_channels, FastProbe,
    FastProbes, Form, Layout, Mat, Record,
};
use crate::layer::TapeOps;
use crate::{Cache, Dev, Layer, Mode, Plain, Probe, ProbeKind, Real};
use dfdx::prelude::*;

/// 2×2 max-pool with stride 2 over `channels × height × width` rows.
#[derive(Debug, Clone)]
pub struct MaxPool2 {
    /// Channels.
    pub channels: usize,
    /// Input height (even).
    pub height: usize,
    /// Input width (even).
    pub width: usize,
    /// Per output feature, the input features of its window in row-major
    /// order (fixed per layer, so built once).
    windows: Vec<[usize; 4]>,
}

impl MaxPool2 {
    /// Max-pool over `channels × height × width` (height and width even).
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        assert_eq!(
            (height % 2, width % 2),
            (0, 0),
            "2x2 max-pool needs even sizes, got {height}x{width}"
        );
        let mut windows = Vec::with_capacity(channels * height * width / 4);
        for c in 0..channels {
            for oy in 0..height / 2 {
                for ox in 0..width / 2 {
                    let at = |dy: usize, dx: usize| {
                        c * height * width + (2 * oy + dy) * width + 2 * ox + dx
                    };
                    windows.push([at(0, 0), at(0, 1), at(1, 0), at(1, 1)]);
                }
            }
        }
        MaxPool2 {
            channels,
            height,
            width,
            windows,
        }
    }

    /// Features of an input row (C·H·W).
    pub fn in_features(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Features of an output row (C·H/2·W/2).
    pub fn out_features(&self) -> usize {
        self.windows.len()
    }

    /// Per (sample, output feature), the input feature within the sample's
    /// row that wins its window.
    fn winners<E: Real>(&self, x: &[E]) -> Vec<usize> {
        let n = self.in_features();
        x.chunks_exact(n)
            .flat_map(|row| {
                self.windows
                    .iter()
                    .map(move |w| w[first_max(w.map(|i| row[i]))])
            })
            .collect()
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
        let (b, n) = *x.shape();
        assert_eq!(
            n,
            self.in_features(),
            "max-pool: rows have {n} features, expected {}",
            self.in_features()
        );
        let plain = x.retaped::<NoneTape>();
        let winners = self.winners(&plain.as_vec());
        cache.push(plain);
        let index = x
            .device()
            .tensor_from_vec(winners, (b, self.out_features()));
        x.gather(index)
    }
}

/// Position of the first maximal entry (ties go to the earliest, as PyTorch).
fn first_max<E: Real>(v: [E; 4]) -> usize {
    (1..4).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

impl<E: Real> Layer<E> for MaxPool2
where
    Dev: dfdx::prelude::Device<E>,
{
    fn describe(&self) -> String {
        format!(
            "maxpool 2x2 on {}x{}x{}",
            self.channels, self.height, self.width
        )
    }

    crate::forward_via_fwd!(E);

    fn fast(&self) -> Option<Box<dyn crate::fast::FastLayer>> {
        Some(Box::new(self.clone()))
    }

    /// ẏ = ẋ at each window's winner. Reports the kink probe: value = gap
    /// winner − runner-up, tangent = ẋ_winner − ẋ_runner-up.
    ///
    /// An entry whose value *and* tangent equal the winner's bit for bit is
    /// the winner's twin (the same patch, as on a blank image corner), not a
    /// competitor: it is the same function of θ, and the max of a function
    /// with itself has no kink. The runner-up is therefore the best entry
    /// that differs from the winner in value or tangent; a window of twins
    /// only has no kink at all and reports gap +∞ with tangent 0 (radius
    /// |h|/|ḣ| = +∞). A tie in value with different tangents is a genuine
    /// kink and reports gap 0.
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
        let (b, n) = *x.shape();
        let xv = x.as_vec();
        let dxv = dx
            .map(|d| d.as_vec())
            .unwrap_or_else(|| vec![E::zero(); b * n]);
        let m = self.out_features();
        let (mut dy, mut gap, mut dgap) = (
            Vec::with_capacity(b * m),
            Vec::with_capacity(b * m),
            Vec::with_capacity(b * m),
        );
        for s in 0..b {
            let (row, drow) = (&xv[s * n..(s + 1) * n], &dxv[s * n..(s + 1) * n]);
            for w in &self.windows {
                let win = w[first_max(w.map(|i| row[i]))];
                dy.push(drow[win]);
                let runner = w
                    .iter()
                    .copied()
                    .filter(|&i| i != win && (row[i] != row[win] || drow[i] != drow[win]))
                    .fold(None, |best: Option<usize>, i| match best {
                        Some(j) if row[j] >= row[i] => Some(j),
                        _ => Some(i),
                    });
                match runner {
                    Some(r) => {
                        gap.push(row[win] - row[r]);
                        dgap.push(drow[win] - drow[r]);
                    }
                    None => {
                        gap.push(E::infinity());
                        dgap.push(E::zero());
                    }
                }
            }
        }
        let dev = x.device();
        probes.push(Probe {
            kind: ProbeKind::Kink,
            layer: "maxpool".into(),
            value: crate::Matrix::new(b, m, gap),
            tangent: crate::Matrix::new(b, m, dgap),
        });
        dev.tensor_from_vec(dy, (b, m))
    }
}

/// Fast path on channels-last images ([`Layout::Image`]; channel-major
/// rows, the model input, are converted first and ∂x converted back); the
/// output is images of half the height and width. The winners are picked
/// as on the dfdx path (first maximal entry in row-major window order), so
/// outputs are the same values bit for bit.
///
/// Record: `mats[0]` a `samples × 0` matrix in the input's layout, `mats[1]`
/// the input images (moved, not copied: the tangent's kink probes read
/// them), `masks[0]` the winner per output value (0..4, its position in
/// the window). Backward puts ∂y on the winners, the tangent reads ẋ there
/// and, when probes are wanted, reports the same Kink probe as the dfdx
/// tangent (gap winner − runner-up and its tangent, twins excluded;
/// channel-major rows `samples × C·H/2·W/2`).
impl MaxPool2 {
    /// The input as images, and the layout it came in.
    fn image_input(&self, x: Mat) -> (Mat, Layout) {
        let layout = x.layout;
        let x = match layout {
            Layout::Rows => {
                let img = rows_to_image(&x, self.channels, self.height, self.width);
                x.recycle();
                img
            }
            _ => x,
        };
        (x, layout)
    }

    /// The layout of the output for `samples` images.
    fn out_layout(&self, samples: usize) -> Layout {
        Layout::Image {
            samples,
            height: self.height / 2,
            width: self.width / 2,
        }
    }

    /// `f(sample, output pixel, first value of the output pixel, first
    /// values of the window's four input pixels in row-major order)` for
    /// every window of `samples` images, in order.
    #[inline(always)]
    fn windows_of(&self, samples: usize, mut f: impl FnMut(usize, usize, usize, [usize; 4])) {
        let (c, h, w) = (self.channels, self.height, self.width);
        let (oh, ow) = (h / 2, w / 2);
        for s in 0..samples {
            for oy in 0..oh {
                for ox in 0..ow {
                    let p = oy * ow + ox;
                    let a = ((s * h + 2 * oy) * w + 2 * ox) * c;
                    let b = a + w * c;
                    f(s, p, (s * oh * ow + p) * c, [a, a + c, b, b + c]);
                }
            }
        }
    }
}

impl crate::fast::FastLayer for MaxPool2 {
    fn output_form(&self, input: Form) -> Result<Form, String> {
        let (c, h, w) = (self.channels, self.height, self.width);
        match input {
            Form::Rows(n) if n == c * h * w => {}
            Form::Image {
                channels,
                height,
                width,
            } if (channels, height, width) == (c, h, w) => {}
            _ => {
                return Err(format!(
                    "max-pool needs {c} channels x {h}x{w}, got {input}"
                ))
            }
        }
        Ok(Form::Image {
            channels: c,
            height: h / 2,
            width: w / 2,
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
        let c = self.channels;
        let (x, layout) = self.image_input(x);
        let (samples, h, w) = image_dims(&x, c, "max-pool");
        assert_eq!((h, w), (self.height, self.width), "max-pool: image size");
        let out_rows = samples * h * w / 4;
        let mut y = Mat::scratch(out_rows, c, self.out_layout(samples));
        let mut win = mask_buffer(out_rows * c);
        let xd = &x.data;
        with_const_channels!(c, |c| {
            self.windows_of(samples, |_, _, o, at| {
                let (y, win) = (&mut y.data[o..o + c], &mut win[o..o + c]);
                let [r0, r1, r2, r3] = at.map(|a| &xd[a..a + c]);
                let lanes = y.iter_mut().zip(win.iter_mut());
                for (((yv, wv), (&v0, &v1)), (&v2, &v3)) in
                    lanes.zip(r0.iter().zip(r1)).zip(r2.iter().zip(r3))
                {
                    // The first maximal entry (strict > keeps the earlier one).
                    let (mut best, mut bv) = (0u8, v0);
                    if v1 > bv {
                        (best, bv) = (1, v1);
                    }
                    if v2 > bv {
                        (best, bv) = (2, v2);
                    }
                    if v3 > bv {
                        (best, bv) = (3, v3);
                    }
                    *yv = bv;
                    *wv = best;
                }
            })
        });
        rec.mats.push(Mat::zeros(samples, 0, layout));
        rec.mats.push(x);
        rec.masks.push(win);
        y
    }

    /// ∂x = ∂y at each window's winner, 0 elsewhere.
    fn backward(
        &self,
        _p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        _grads: &mut [&mut [f32]],
        _need_dx: bool,
    ) -> Mat {
        let (c, h, w) = (self.channels, self.height, self.width);
        let (samples, layout, win) = (rec.mats[0].rows, rec.mats[0].layout, &rec.masks[0]);
        assert_eq!(
            image_dims(&dy, c, "max-pool backward"),
            (samples, h / 2, w / 2)
        );
        let in_layout = Layout::Image {
            samples,
            height: h,
            width: w,
        };
        // Written in full: every input value is in one window.
        let mut dx = Mat::scratch(samples * h * w, c, in_layout);
        let dxd = &mut dx.data;
        with_const_channels!(c, |c| {
            self.windows_of(samples, |_, _, o, at| {
                for (k, &a) in at.iter().enumerate() {
                    let lanes = dxd[a..a + c].iter_mut().zip(&dy.data[o..o + c]);
                    for ((d, &g), &wk) in lanes.zip(&win[o..o + c]) {
                        *d = if wk as usize == k { g } else { 0.0 };
                    }
                }
            })
        });
        dy.recycle();
        match layout {
            Layout::Rows => {
                let rows = image_to_rows(&dx);
                dx.recycle();
                rows
            }
            _ => dx,
        }
    }

    /// ẏ = ẋ at each window's winner; the Kink probe when wanted.
    fn tangent(
        &self,
        _p: &[&[f32]],
        _dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        probes: &mut FastProbes,
    ) -> Mat {
        let c = self.channels;
        let (samples, x, win) = (rec.mats[0].rows, &rec.mats[1], &rec.masks[0]);
        let out_rows = samples * self.height * self.width / 4;
        let dx = dx.map(|d| self.image_input(d).0);
        if let Some(d) = &dx {
            assert_eq!(
                (d.rows, d.cols, d.layout),
                (x.rows, x.cols, x.layout),
                "max-pool: input tangent shape"
            );
        }
        let mut dy = Mat::scratch(out_rows, c, self.out_layout(samples));
        // The probe, channel-major: value s·m + ch·P + p with P pixels per
        // channel and m = C·P values per sample.
        let pixels = out_rows / samples.max(1);
        let m = c * pixels;
        let mut kink = probes.wants(ProbeKind::Kink).then(|| {
            (
                Mat::scratch(samples, m, Layout::Rows),
                Mat::scratch(samples, m, Layout::Rows),
            )
        });
        let (xd, dxd) = (&x.data, dx.as_ref().map(|d| &d.data[..]));
        let dyd = &mut dy.data;
        match (&kink, dxd) {
            (None, None) => dyd.fill(0.0),
            (None, Some(d)) => with_const_channels!(c, |c| {
                self.windows_of(samples, |_, _, o, at| {
                    let [r0, r1, r2, r3] = at.map(|a| &d[a..a + c]);
                    let lanes = dyd[o..o + c].iter_mut().zip(&win[o..o + c]);
                    for ((y, &k), ((&v0, &v1), (&v2, &v3))) in
                        lanes.zip(r0.iter().zip(r1).zip(r2.iter().zip(r3)))
                    {
                        let low = if k & 1 != 0 { v1 } else { v0 };
                        let high = if k & 1 != 0 { v3 } else { v2 };
                        *y = if k & 2 != 0 { high } else { low };
                    }
                })
            }),
            (Some(_), _) => {}
        }
        if let Some((gap, dgap)) = &mut kink {
            self.windows_of(samples, |s, p, o, at| {
                for ch in 0..c {
                    let k = win[o + ch] as usize;
                    let row = at.map(|a| xd[a + ch]);
                    let drow = dxd.map_or([0.0; 4], |d| at.map(|a| d[a + ch]));
                    dyd[o + ch] = drow[k];
                    // As the dfdx tangent: the best entry that differs from the
                    // winner in value or tangent (earliest on ties).
                    let runner = (0..4)
                        .filter(|&i| i != k && (row[i] != row[k] || drow[i] != drow[k]))
                        .fold(None, |best: Option<usize>, i| match best {
                            Some(j) if row[j] >= row[i] => Some(j),
                            _ => Some(i),
                        });
                    let at = s * m + ch * pixels + p;
                    (gap.data[at], dgap.data[at]) = match runner {
                        Some(r) => (row[k] - row[r], drow[k] - drow[r]),
                        None => (f32::INFINITY, 0.0),
                    };
                }
            });
        }
        if let Some(d) = dx {
            d.recycle();
        }
        if let Some((value, tangent)) = kink {
            probes.push_with(|| FastProbe {
                kind: ProbeKind::Kink,
                layer: "maxpool".into(),
                value,
                tangent,
            });
        }
        dy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn forward_matches_naive_loop_and_gradient_goes_to_the_winner() {
        let dev = Dev::default();
        let (b, c, h, w) = (3, 2, 4, 6);
        let pool = MaxPool2::new(c, h, w);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let x: Vec<f64> = (0..b * c * h * w)
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect();
        let xt = dev.tensor_from_vec(x.clone(), (b, c * h * w));
        let y = pool
            .forward(&[], xt.clone(), &mut [], Mode::Eval, &mut Cache::new())
            .as_vec();
        let (ho, wo) = (h / 2, w / 2);
        let mut expect = vec![0.0; b * c * ho * wo];
        for s in 0..b {
            for ch in 0..c {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut m = f64::NEG_INFINITY;
                        for dy in 0..2 {
                            for dx in 0..2 {
                                m = m.max(
                                    x[s * c * h * w + ch * h * w + (2 * oy + dy) * w + 2 * ox + dx],
                                );
                            }
                        }
                        expect[s * c * ho * wo + ch * ho * wo + oy * wo + ox] = m;
                    }
                }
            }
        }
        assert_eq!(y, expect);
        // Reverse mode: d(sum y)/dx is 1 exactly at each window's maximum.
        let yt = pool.forward_traced(
            &[],
            xt.leaky_trace(),
            &mut [],
            Mode::Eval,
            &mut Cache::new(),
        );
        let grads = yt.sum::<Rank0, _>().backward();
        let g = grads.get(&xt).as_vec();
        let hits = x.iter().zip(&g).filter(|(_, &g)| g == 1.0).count();
        assert_eq!(hits, expect.len());
        for (xi, gi) in x.iter().zip(&g) {
            assert!(*gi == 0.0 || expect.contains(xi));
        }
    }

    #[test]
    fn ties_go_to_the_first_entry_and_twins_are_not_kinks() {
        let dev = Dev::default();
        let pool = MaxPool2::new(1, 2, 6);
        // Windows (row-major entries): [5, 5, 1, 0] twins at the top,
        // [2, 2, 2, 2] all twins, [3, 3, 0, 1] tie in value only.
        let x = dev.tensor_from_vec(
            vec![5.0, 5.0, 2.0, 2.0, 3.0, 3.0, 1.0, 0.0, 2.0, 2.0, 0.0, 1.0],
            (1, 12),
        );
        let dx = dev.tensor_from_vec(
            vec![
                0.5, 0.5, 1.0, 1.0, 0.25, -0.75, 0.1, 0.3, 1.0, 1.0, 7.0, 7.0,
            ],
            (1, 12),
        );
        let xt = x.leaky_trace();
        let mut cache = Cache::new();
        let y = pool.forward_traced(&[], xt, &mut [], Mode::Eval, &mut cache);
        assert_eq!(y.as_vec(), vec![5.0, 2.0, 3.0]);
        let g = y.sum::<Rank0, _>().backward().get(&x).as_vec();
        assert_eq!(
            g,
            vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        let mut probes = Vec::new();
        let dy = pool.tangent(&[], &[], Some(dx), Mode::Eval, &mut cache, &mut probes);
        assert_eq!(dy.as_vec(), vec![0.5, 1.0, 0.25]);
        assert_eq!(probes.len(), 1);
        assert_eq!(probes[0].kind, ProbeKind::Kink);
        // Window 1: runner-up is the 1.0 entry (ẋ 0.1); window 2: no
        // competitor; window 3: the value twin with another tangent.
        assert_eq!(probes[0].value.as_vec(), vec![4.0, f64::INFINITY, 0.0]);
        assert_eq!(probes[0].tangent.as_vec(), vec![0.4, 0.0, 1.0]);
    }
}
