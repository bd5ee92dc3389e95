//! Convolution as im2col + matmul, by default stride 1 with zero padding
//! (kh/2, kw/2) ("same" output size), in general with a stride, explicit
//! zero padding and with or without bias (ResNet convolutions): dfdx 0.13 has conv2d only behind its nightly feature and
//! no conv1d at all (shared/dfdx-notes.md).
//!
//! Activations are rows of C·H·W values, channel-major (the PyTorch flatten
//! order). A 1-D convolution over a sequence of length L is the case H = 1
//! with a 1×k kernel.
//!
//! im2col: one zero column is appended to the input as the padding slot,
//! then a fixed index (built once per layer) `gather`s, for every output
//! position, the C_in·kh·kw input values its kernel covers (out-of-image
//! taps point at the zero column). The columns, reshaped to
//! (B·H·W, C_in·kh·kw), times the weight (C_in·kh·kw, C_out) give the output
//! position-major; a permute brings it back to channel-major rows.
//!
//! Tangent: the convolution is bilinear in (W, x), so
//! d conv(W, x) = conv(Ẇ, x) + conv(W, ẋ) + ḃ, with the columns of x taken
//! from the forward's cache.

use super::broadcast_row;
use crate::fast::{
    col2im, im2col, image_dims, image_to_rows, matmul, padded_dims, rows_to_image, ConvBackward,
    ConvShape, Layout, Mat, MatRef, Record, SeqConv,
};
use crate::layer::TapeOps;
use crate::{forward_via_fwd, Cache, Dev, Init, Layer, Mode, ParamSpec, Plain, Probe, Real};
use dfdx::prelude::*;

/// Convolution `c_in × h × w → c_out × h' × w'` with a `kh × kw` kernel,
/// a stride and zero padding (stride 1 and padding (kh/2, kw/2) unless
/// built by [`Conv::strided`]: then h' = h, w' = w); weight
/// (C_in·kh·kw, C_out) and optionally a bias, both U(±1/√(C_in·kh·kw))
/// (PyTorch).
///
/// The weight's row index is ci·kh·kw + ky·kw + kx, i.e. the transpose of
/// PyTorch's (C_out, C_in, kh, kw) weight flattened per output channel.
#[derive(Debug, Clone)]
pub struct Conv {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Input height; 1 for a 1-D convolution.
    pub height: usize,
    /// Input width, or the sequence length.
    pub width: usize,
    /// Kernel height (1 for 1-D).
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Step between output pixels, in input pixels (both directions).
    pub stride: usize,
    /// Zero rows above and below the input.
    pub pad_h: usize,
    /// Zero columns left and right of the input.
    pub pad_w: usize,
    /// Whether there is a bias (parameter `bias`, after the weight).
    pub bias: bool,
    /// Weight drawn from He-normal N(0, 2/fan_out), fan_out = C_out·kh·kw
    /// (torchvision's ResNet: `kaiming_normal_(mode="fan_out",
    /// nonlinearity="relu")`), instead of PyTorch's default uniform.
    pub he_normal: bool,
    /// im2col index into a row of C·H·W inputs plus the zero column: entry
    /// `pos·patch + j` is the input feature that output position `pos` reads
    /// with kernel tap `j` (C·H·W, the zero column, where the tap falls in
    /// the padding). The shapes are fixed per layer, so it is built once.
    index: Tensor<(usize,), usize, Dev>,
}

impl Conv {
    /// 2-D convolution `c_in × h × w → c_out × h × w`, kernel `k × k`, padding k/2.
    pub fn new_2d(c_in: usize, c_out: usize, height: usize, width: usize, k: usize) -> Self {
        Self::with_kernel(c_in, c_out, height, width, k, k)
    }

    /// 1-D convolution over a sequence: `c_in × len → c_out × len`, kernel k, padding k/2.
    pub fn new_1d(c_in: usize, c_out: usize, len: usize, k: usize) -> Self {
        Self::with_kernel(c_in, c_out, 1, len, 1, k)
    }

    /// General `kh × kw` kernel (odd sizes keep the output the input's size).
    pub fn with_kernel(
        c_in: usize,
        c_out: usize,
        height: usize,
        width: usize,
        kh: usize,
        kw: usize,
    ) -> Self {
        assert!(
            kh % 2 == 1 && kw % 2 == 1,
            "'same' padding k/2 needs odd kernel sizes, got {kh}x{kw}"
        );
        Self::strided(c_in, c_out, height, width, (kh, kw), 1, (kh / 2, kw / 2))
    }

    /// General convolution: kernel `(kh, kw)`, `stride`, zero padding
    /// `(pad_h, pad_w)`, with bias (see [`Conv::without_bias`]). Output
    /// size ⌊(H + 2·pad_h − kh)/stride⌋ + 1 by ⌊(W + 2·pad_w − kw)/stride⌋ + 1.
    pub fn strided(
        c_in: usize,
        c_out: usize,
        height: usize,
        width: usize,
        (kh, kw): (usize, usize),
        stride: usize,
        (pad_h, pad_w): (usize, usize),
    ) -> Self {
        assert!(stride >= 1, "conv: stride 0");
        assert!(
            height + 2 * pad_h >= kh && width + 2 * pad_w >= kw,
            "conv: a {kh}x{kw} kernel does not fit a padded {height}x{width} input"
        );
        let mut conv = Conv {
            c_in,
            c_out,
            height,
            width,
            kh,
            kw,
            stride,
            pad_h,
            pad_w,
            bias: true,
            he_normal: false,
            index: Dev::default().tensor_from_vec(Vec::new(), (0,)),
        };
        let index = im2col_index_strided(&conv.shape());
        conv.index = Dev::default().tensor_from_vec(index, (conv.positions() * conv.patch(),));
        conv
    }

    /// The same convolution without bias (ResNet convolutions).
    pub fn without_bias(mut self) -> Self {
        self.bias = false;
        self
    }

    /// The same convolution with its weight drawn He-normal, N(0, 2/fan_out)
    /// with fan_out = C_out·kh·kw (ResNet convolutions, spec §5).
    pub fn he_normal(mut self) -> Self {
        self.he_normal = true;
        self
    }

    /// Output height.
    pub fn out_height(&self) -> usize {
        self.shape().out_height()
    }

    /// Output width.
    pub fn out_width(&self) -> usize {
        self.shape().out_width()
    }

    /// Output positions per sample (H'·W').
    pub fn positions(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Inputs one output value reads (C_in·kh·kw), the fan-in.
    pub fn patch(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Features of an input row (C_in·H·W).
    pub fn in_features(&self) -> usize {
        self.c_in * self.height * self.width
    }

    /// Features of an output row (C_out·H'·W').
    pub fn out_features(&self) -> usize {
        self.c_out * self.positions()
    }

    /// im2col: (B, C_in·H·W) rows → (B·H'·W', C_in·kh·kw) columns, one row per
    /// (sample, output position). Differentiable (gather scatters back).
    pub fn im2col<E: Real, T: TapeOps<E>>(
        &self,
        x: Tensor<(usize, usize), E, Dev, T>,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: dfdx::prelude::Device<E>,
    {
        let (b, n) = *x.shape();
        assert_eq!(
            n,
            self.in_features(),
            "conv: input rows have {n} features, expected {}",
            self.in_features()
        );
        let zeros = x.device().zeros_like(&(b, 1usize));
        let padded = (x, zeros).concat_along(Axis::<1>);
        // The same index serves every sample: broadcast it over the batch
        // (a stride-0 view; gather honours strides).
        let index = self
            .index
            .clone()
            .broadcast_like::<_, Axis<0>>(&(b, self.index.shape().0));
        let cols: Tensor<(usize, usize), E, Dev, T> = padded.gather(index);
        cols.reshape_like(&(b * self.positions(), self.patch()))
    }

    /// Position-major (B·H·W, C_out) → channel-major rows (B, C_out·H·W).
    pub fn to_rows<E: Real, T: TapeOps<E>>(
        &self,
        y: Tensor<(usize, usize), E, Dev, T>,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: dfdx::prelude::Device<E>,
    {
        let (rows, c_out) = *y.shape();
        let l = self.positions();
        let b = rows / l;
        // (B, L, C) → (B, C, L): permute is a strided view, the reshape copies
        // it into contiguous channel-major order.
        y.reshape_like(&(b, l, c_out))
            .permute::<_, Axes3<0, 2, 1>>()
            .reshape_like(&(b, c_out * l))
    }

    fn fwd<E: Real, T: TapeOps<E>>(
        &self,
        p: &[Plain<E>],
        x: Tensor<(usize, usize), E, Dev, T>,
        _state: &mut [E],
        _mode: Mode,
        cache: &mut Cache<E>,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: dfdx::prelude::Device<E>,
    {
        let cols = self.im2col(x);
        // The tangent reuses these columns for conv(Ẇ, x) instead of gathering again.
        cache.push(cols.retaped::<NoneTape>());
        let rows = cols.shape().0;
        let y = cols.matmul(p[0].retaped::<T>());
        let y = if self.bias {
            y + broadcast_row(p[1].retaped::<T>(), rows)
        } else {
            y
        };
        self.to_rows(y)
    }
}

/// The im2col gather index of a `c_in × h × w` input and a `kh × kw` kernel
/// (stride 1, padding kh/2, kw/2): for output position pos = oy·w + ox and
/// tap j = ci·kh·kw + ky·kw + kx, entry pos·(c_in·kh·kw) + j is the input
/// feature ci·h·w + iy·w + ix with iy = oy + ky − kh/2, ix = ox + kx − kw/2,
/// or c_in·h·w (the appended zero column) outside the image.
pub fn im2col_index(c_in: usize, h: usize, w: usize, kh: usize, kw: usize) -> Vec<usize> {
    im2col_index_strided(&ConvShape {
        c_in,
        height: h,
        width: w,
        kh,
        kw,
        stride: 1,
        pad_h: kh / 2,
        pad_w: kw / 2,
    })
}

/// [`im2col_index`] for any stride and padding: output position
/// pos = oy·W' + ox reads, with tap j = ci·kh·kw + ky·kw + kx, input
/// feature ci·h·w + iy·w + ix with iy = oy·stride + ky − pad_h,
/// ix = ox·stride + kx − pad_w, or c_in·h·w (the zero column) outside.
pub fn im2col_index_strided(g: &ConvShape) -> Vec<usize> {
    let (c_in, h, w, kh, kw) = (g.c_in, g.height, g.width, g.kh, g.kw);
    let zero = c_in * h * w;
    let (ph, pw, st) = (g.pad_h as isize, g.pad_w as isize, g.stride as isize);
    let mut index = Vec::with_capacity(g.out_height() * g.out_width() * g.patch());
    for oy in 0..g.out_height() as isize {
        for ox in 0..g.out_width() as isize {
            for ci in 0..c_in {
                for ky in 0..kh as isize {
                    for kx in 0..kw as isize {
                        let (iy, ix) = (oy * st + ky - ph, ox * st + kx - pw);
                        let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                        index.push(if inside {
                            ci * h * w + iy as usize * w + ix as usize
                        } else {
                            zero
                        });
                    }
                }
            }
        }
    }
    index
}

impl<E: Real> Layer<E> for Conv
where
    Dev: dfdx::prelude::Device<E>,
{
    fn describe(&self) -> String {
        let extra = format!(
            "{}{}",
            if self.stride != 1 || (self.pad_h, self.pad_w) != (self.kh / 2, self.kw / 2) {
                format!(" stride {} pad {}x{}", self.stride, self.pad_h, self.pad_w)
            } else {
                String::new()
            },
            if self.bias { "" } else { " (no bias)" }
        );
        if self.height == 1 && self.kh == 1 {
            format!(
                "conv1d {}->{} k{} len {}{extra}",
                self.c_in, self.c_out, self.kw, self.width
            )
        } else {
            format!(
                "conv2d {}->{} k{}x{} on {}x{}{extra}",
                self.c_in, self.c_out, self.kh, self.kw, self.height, self.width
            )
        }
    }

    fn params(&self) -> Vec<ParamSpec> {
        let bound = 1.0 / (self.patch() as f64).sqrt();
        let weight = if self.he_normal {
            Init::Normal((2.0 / (self.c_out * self.kh * self.kw) as f64).sqrt())
        } else {
            Init::Uniform(bound)
        };
        let mut p = vec![ParamSpec::new("weight", (self.patch(), self.c_out), weight)];
        if self.bias {
            p.push(ParamSpec::new(
                "bias",
                (1, self.c_out),
                Init::Uniform(bound),
            ));
        }
        p
    }

    forward_via_fwd!(E);

    /// Every convolution runs fast: 1-D ones with kernel 1 or 3 on padded
    /// sequences, the others on images.
    fn fast(&self) -> Option<Box<dyn crate::fast::FastLayer>> {
        Some(Box::new(self.clone()))
    }

    /// ẏ = conv(Ẇ, x) + conv(W, ẋ) + ḃ (no ḃ without bias).
    fn tangent(
        &self,
        p: &[Plain<E>],
        dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        _mode: Mode,
        cache: &mut Cache<E>,
        _probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let cols = cache.next();
        let rows = cols.shape().0;
        let mut dy = cols.matmul(dp[0].clone());
        if self.bias {
            dy = dy + broadcast_row(dp[1].clone(), rows);
        }
        if let Some(dx) = dx {
            dy = dy + self.im2col(dx).matmul(p[0].clone());
        }
        self.to_rows(dy)
    }
}

impl Conv {
    /// True when the fast path runs on padded sequences (1-D, kernel 1 or
    /// 3); the other convolutions run on images ([`Layout::Image`]).
    pub(crate) fn on_sequences(&self) -> bool {
        let same = self.stride == 1 && (self.pad_h, self.pad_w) == (0, self.kw / 2);
        self.height == 1 && self.kh == 1 && (self.kw == 1 || self.kw == 3) && same && self.bias
    }

    /// The geometry: input, kernel, stride and padding.
    pub fn shape(&self) -> ConvShape {
        ConvShape {
            c_in: self.c_in,
            height: self.height,
            width: self.width,
            kh: self.kh,
            kw: self.kw,
            stride: self.stride,
            pad_h: self.pad_h,
            pad_w: self.pad_w,
        }
    }

    /// The 1-D padded-sequence kernels' description of this convolution
    /// (when `Self::on_sequences`).
    pub fn seq(&self) -> SeqConv {
        debug_assert!(self.on_sequences());
        SeqConv {
            c_in: self.c_in,
            c_out: self.c_out,
            len: self.width,
            kw: self.kw,
        }
    }

    /// Weight (C_in·taps, C_out) with taps = kh·kw, rows ci·taps + t →
    /// rows t·C_in + ci (tap-major, as im2col reads the input).
    fn permuted(&self, w: &[f32]) -> Vec<f32> {
        let (ci_n, taps, co_n) = (self.c_in, self.kh * self.kw, self.c_out);
        let mut out = vec![0.0; ci_n * taps * co_n];
        for ci in 0..ci_n {
            for t in 0..taps {
                let src = (ci * taps + t) * co_n;
                let dst = (t * ci_n + ci) * co_n;
                out[dst..dst + co_n].copy_from_slice(&w[src..src + co_n]);
            }
        }
        out
    }
}

/// Fast path for 1-D convolutions with kernel 1 or 3: the padded-sequence
/// kernels of [`SeqConv`] (one GEMM over overlapping rows, see
/// `fast::conv_kernels`). Rows input (channel-major C_in·L, the model input)
/// is converted to a padded sequence first and its ∂x converted back; the
/// output is always a padded sequence.
/// Fast path for the other convolutions, on [`Layout::Image`] (channels-last
/// pixels): the input's [`im2col`] columns (one row per output pixel,
/// tap-major) times the weight permuted to the same tap-major rows, one
/// GEMM per batch into rows pre-filled with the bias. The columns are the
/// record: backward forms ∂W' = colsᵀ·∂Y and ∂x = col2im(∂Y·W'ᵀ), the
/// tangent cols·Ẇ' + im2col(ẋ)·W' + ḃ. Rows input (channel-major C_in·H·W,
/// the model input) is converted to images first and its ∂x converted back.
impl Conv {
    /// The input as images, and the layout it came in.
    fn image_input(&self, x: Mat) -> (Mat, Layout) {
        let layout = x.layout;
        let x = match layout {
            Layout::Rows => {
                let img = rows_to_image(&x, self.c_in, self.height, self.width);
                x.recycle();
                img
            }
            _ => x,
        };
        (x, layout)
    }

    /// bias + Σ_terms cols·W' over `samples` images (each `W'` from
    /// [`Self::permuted`], each `cols` from [`im2col`]); `bias` None: 0.
    fn image_conv(&self, terms: &[(&Mat, &[f32])], bias: Option<&[f32]>, samples: usize) -> Mat {
        let g = self.shape();
        let co_n = self.c_out;
        let layout = Layout::Image {
            samples,
            height: g.out_height(),
            width: g.out_width(),
        };
        let mut y = Mat::scratch(terms[0].0.rows, co_n, layout);
        match bias {
            Some(bias) => crate::fast::fill_rows(&mut y.data, bias),
            None => y.data.fill(0.0),
        }
        for &(cols, w) in terms {
            let w = MatRef::row_major(w, g.patch(), co_n);
            matmul(&mut y.data, co_n, cols.view(), w, true);
        }
        y
    }

    fn image_forward(&self, p: &[&[f32]], x: Mat, rec: &mut Record) -> Mat {
        let (x, layout) = self.image_input(x);
        let (samples, _, _) = image_dims(&x, self.c_in, "conv2d");
        let cols = im2col(&x, &self.shape());
        x.recycle();
        let bias = self.bias.then(|| p[1]);
        let y = self.image_conv(&[(&cols, &self.permuted(p[0]))], bias, samples);
        rec.mats.push(cols);
        // The batch size and the input's layout, for ∂x and ẋ.
        rec.mats.push(Mat::zeros(samples, 0, layout));
        y
    }

    fn image_backward(
        &self,
        p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        let g = self.shape();
        let (cols, samples, layout) = (&rec.mats[0], rec.mats[1].rows, rec.mats[1].layout);
        let (ci_n, co_n, taps, patch) = (self.c_in, self.c_out, self.kh * self.kw, g.patch());
        assert_eq!(
            image_dims(&dy, co_n, "conv2d backward"),
            (samples, g.out_height(), g.out_width())
        );
        // ∂W' = colsᵀ·∂Y, computed transposed (C_out × patch) when the patch
        // is the longer side: gemm tiles the contiguous side of its output
        // by 24, so that side should be the long one.
        let transposed = patch >= co_n;
        let mut dw = vec![0.0; co_n * patch];
        if transposed {
            matmul(&mut dw, patch, dy.view().t(), cols.view(), false);
        } else {
            matmul(&mut dw, co_n, cols.view().t(), dy.view(), false);
        }
        for ci in 0..ci_n {
            for t in 0..taps {
                let j = t * ci_n + ci;
                let dst = &mut grads[0][(ci * taps + t) * co_n..][..co_n];
                if transposed {
                    for (co, v) in dst.iter_mut().enumerate() {
                        *v = dw[co * patch + j];
                    }
                } else {
                    dst.copy_from_slice(&dw[j * co_n..(j + 1) * co_n]);
                }
            }
        }
        // ∂b: column sums, f32 within blocks of rows, f64 across them.
        let mut db = vec![0.0f64; co_n];
        let mut part = vec![0.0f32; co_n];
        for block in dy.data.chunks(64 * co_n) {
            part.fill(0.0);
            for row in block.chunks_exact(co_n) {
                for (a, &v) in part.iter_mut().zip(row) {
                    *a += v;
                }
            }
            for (a, &v) in db.iter_mut().zip(&part) {
                *a += v as f64;
            }
        }
        if self.bias {
            for (gb, v) in grads[1].iter_mut().zip(&db) {
                *gb = *v as f32;
            }
        }
        let (h, w) = (self.height, self.width);
        let dx = if need_dx {
            let wp = self.permuted(p[0]);
            let mut dcols = Mat::scratch(cols.rows, patch, Layout::Rows);
            let wt = MatRef::row_major(&wp, patch, co_n).t();
            matmul(&mut dcols.data, patch, dy.view(), wt, false);
            let dx = col2im(&dcols, &g, samples);
            dcols.recycle();
            match layout {
                Layout::Rows => {
                    let rows = image_to_rows(&dx);
                    dx.recycle();
                    rows
                }
                _ => dx,
            }
        } else {
            // Not read (the input is data); shaped as the input was.
            match layout {
                Layout::Rows => Mat::zeros(samples, ci_n * h * w, Layout::Rows),
                _ => Mat::zeros(samples * h * w, ci_n, layout),
            }
        };
        dy.recycle();
        dx
    }

    fn image_tangent(&self, p: &[&[f32]], dp: &[&[f32]], dx: Option<Mat>, rec: &Record) -> Mat {
        let (cols, samples) = (&rec.mats[0], rec.mats[1].rows);
        let dw = self.permuted(dp[0]);
        let db = self.bias.then(|| dp[1]);
        match dx {
            None => self.image_conv(&[(cols, &dw)], db, samples),
            Some(dx) => {
                let (dx, _) = self.image_input(dx);
                let dcols = im2col(&dx, &self.shape());
                dx.recycle();
                let w = self.permuted(p[0]);
                let dy = self.image_conv(&[(cols, &dw), (&dcols, &w)], db, samples);
                dcols.recycle();
                dy
            }
        }
    }
}

impl crate::fast::FastLayer for Conv {
    fn output_form(&self, input: crate::fast::Form) -> Result<crate::fast::Form, String> {
        use crate::fast::Form;
        if !self.on_sequences() {
            let (c, h, w) = (self.c_in, self.height, self.width);
            match input {
                Form::Rows(n) if n == c * h * w => {}
                Form::Image {
                    channels,
                    height,
                    width,
                } if (channels, height, width) == (c, h, w) => {}
                _ => return Err(format!("conv2d needs {c} channels x {h}x{w}, got {input}")),
            }
            let g = self.shape();
            return Ok(Form::Image {
                channels: self.c_out,
                height: g.out_height(),
                width: g.out_width(),
            });
        }
        let (c, l) = (self.c_in, self.width);
        match input {
            Form::Rows(n) if n == c * l => {}
            Form::PaddedSeq { channels, len } if (channels, len) == (c, l) => {}
            _ => {
                return Err(format!(
                    "conv1d needs {c} channels x {l} positions, got {input}"
                ))
            }
        }
        Ok(Form::PaddedSeq {
            channels: self.c_out,
            len: l,
        })
    }

    fn fusion(&self) -> Option<crate::fast::Fusible> {
        self.on_sequences()
            .then(|| crate::fast::Fusible::SeqConv(self.seq()))
    }

    fn forward(
        &self,
        p: &[&[f32]],
        x: Mat,
        _state: &mut [f32],
        _mode: Mode,
        rec: &mut Record,
    ) -> Mat {
        if !self.on_sequences() {
            return self.image_forward(p, x, rec);
        }
        let sc = self.seq();
        let (x, layout) = sc.fast_input(x);
        let y = sc.conv_sum(&[(&x, &sc.permuted(p[0]))], p[1]);
        rec.mats.push(x);
        // The input's layout, for ∂x and ẋ.
        rec.mats.push(Mat::zeros(0, 0, layout));
        y
    }

    fn backward(
        &self,
        p: &[&[f32]],
        mut dy: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        if !self.on_sequences() {
            return self.image_backward(p, dy, rec, grads, need_dx);
        }
        let x = &rec.mats[0];
        assert_eq!(
            padded_dims(&dy, self.c_out, "conv1d backward"),
            padded_dims(x, self.c_in, "conv1d backward")
        );
        let sc = self.seq();
        let mut back = ConvBackward::new(&sc, p[0], rec, need_dx);
        for r in sc.chunks(x.rows) {
            back.chunk(
                r.clone(),
                &mut dy.data[r.start * self.c_out..r.end * self.c_out],
            );
        }
        dy.recycle();
        back.finish(grads)
    }

    /// ẏ = conv(Ẇ, x) + ḃ + conv(W, ẋ).
    fn tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        _probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        if !self.on_sequences() {
            return self.image_tangent(p, dp, dx, rec);
        }
        let (x, sc) = (&rec.mats[0], self.seq());
        let dw = sc.permuted(dp[0]);
        match dx {
            None => sc.conv_sum(&[(x, &dw)], dp[1]),
            Some(dx) => {
                let (dx, _) = sc.fast_input(dx);
                assert_eq!(dx.layout, x.layout, "conv1d tangent: input tangent shape");
                let w = sc.permuted(p[0]);
                let dy = sc.conv_sum(&[(x, &dw), (&dx, &w)], dp[1]);
                dx.recycle();
                dy
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    /// Direct convolution, PyTorch semantics (zero padding, stride), with
    /// our weight layout w[(ci·kh·kw + ky·kw + kx)·c_out + co]; `bias`
    /// empty for none.
    fn naive(conv: &Conv, x: &[f64], w: &[f64], bias: &[f64], b: usize) -> Vec<f64> {
        let (h, wd, kh, kw) = (conv.height, conv.width, conv.kh, conv.kw);
        let (oh, ow, st) = (conv.out_height(), conv.out_width(), conv.stride as isize);
        let mut out = vec![0.0; b * conv.out_features()];
        for s in 0..b {
            for co in 0..conv.c_out {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = bias.get(co).copied().unwrap_or(0.0);
                        for ci in 0..conv.c_in {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = oy as isize * st + ky as isize - conv.pad_h as isize;
                                    let ix = ox as isize * st + kx as isize - conv.pad_w as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let xi = x[s * conv.in_features()
                                        + ci * h * wd
                                        + iy as usize * wd
                                        + ix as usize];
                                    acc += xi * w[((ci * kh + ky) * kw + kx) * conv.c_out + co];
                                }
                            }
                        }
                        out[s * conv.out_features() + co * oh * ow + oy * ow + ox] = acc;
                    }
                }
            }
        }
        out
    }

    fn check_against_naive(conv: &Conv, b: usize) {
        let dev = Dev::default();
        let x = random(b * conv.in_features(), 1);
        let w = random(conv.patch() * conv.c_out, 2);
        let bias = if conv.bias {
            random(conv.c_out, 3)
        } else {
            Vec::new()
        };
        let mut p = vec![dev.tensor_from_vec(w.clone(), (conv.patch(), conv.c_out))];
        if conv.bias {
            p.push(dev.tensor_from_vec(bias.clone(), (1, conv.c_out)));
        }
        let xt = dev.tensor_from_vec(x.clone(), (b, conv.in_features()));
        let y = conv.forward(&p, xt.clone(), &mut [], Mode::Eval, &mut Cache::new());
        assert_eq!(*y.shape(), (b, conv.out_features()));
        let expect = naive(conv, &x, &w, &bias, b);
        let err = y
            .as_vec()
            .iter()
            .zip(&expect)
            .fold(0.0f64, |m, (a, e)| m.max((a - e).abs()));
        assert!(
            err < 1e-12,
            "{}: max error {err:e}",
            Layer::<f64>::describe(conv)
        );
        // The taped forward computes the same values.
        let yt = conv.forward_traced(
            &p,
            xt.retaped::<OwnedTape<f64, Dev>>(),
            &mut [],
            Mode::Eval,
            &mut Cache::new(),
        );
        assert_eq!(yt.as_vec(), y.as_vec());
    }

    #[test]
    fn conv2d_matches_direct_convolution() {
        // Non-square so that a swapped H/W shows up.
        check_against_naive(&Conv::new_2d(2, 3, 5, 4, 3), 3);
        check_against_naive(&Conv::new_2d(1, 2, 3, 3, 1), 2);
        check_against_naive(&Conv::with_kernel(2, 2, 4, 6, 3, 5), 2);
    }

    #[test]
    fn strided_padded_and_biasless_convs_match_direct_convolution() {
        check_against_naive(&Conv::strided(3, 4, 6, 5, (3, 3), 2, (1, 1)), 2);
        check_against_naive(
            &Conv::strided(2, 3, 6, 6, (1, 1), 2, (0, 0)).without_bias(),
            3,
        );
        check_against_naive(
            &Conv::strided(2, 3, 5, 5, (3, 3), 1, (0, 2)).without_bias(),
            2,
        );
        check_tangent(&Conv::strided(2, 3, 6, 5, (3, 3), 2, (1, 1)).without_bias());
        check_tangent(&Conv::strided(3, 2, 4, 4, (1, 1), 2, (0, 0)));
    }

    #[test]
    fn conv1d_matches_direct_convolution() {
        check_against_naive(&Conv::new_1d(2, 3, 7, 3), 3);
        check_against_naive(&Conv::new_1d(1, 4, 5, 5), 2);
    }

    #[test]
    fn permute_then_reshape_is_channel_major_on_cpu() {
        // dfdx 0.13 on the Cpu: permute is a strided view and reshape of a
        // non-contiguous tensor copies in the permuted (logical) order.
        let dev = Dev::default();
        let (b, l, c) = (2, 3, 4);
        let v: Vec<f64> = (0..b * l * c).map(|i| i as f64).collect();
        let t = dev.tensor_from_vec(v.clone(), (b * l, c));
        let rows = t
            .reshape_like(&(b, l, c))
            .permute::<_, Axes3<0, 2, 1>>()
            .reshape_like(&(b, c * l))
            .as_vec();
        for s in 0..b {
            for ci in 0..c {
                for pos in 0..l {
                    assert_eq!(rows[s * c * l + ci * l + pos], v[(s * l + pos) * c + ci]);
                }
            }
        }
    }

    #[test]
    fn tangent_is_the_exact_bilinear_derivative() {
        check_tangent(&Conv::new_2d(2, 3, 4, 5, 3));
    }

    /// conv is bilinear in (W, x) and affine in b, so the central
    /// difference of (W ± εẆ, b ± εḃ, x ± εẋ) is exact up to rounding.
    fn check_tangent(conv: &Conv) {
        let dev = Dev::default();
        let b = 2;
        let t = |v: Vec<f64>, s: (usize, usize)| dev.tensor_from_vec(v, s);
        let (ws, bs, xs) = (
            (conv.patch(), conv.c_out),
            (1, conv.c_out),
            (b, conv.in_features()),
        );
        let (w, bias, x) = (
            random(ws.0 * ws.1, 4),
            random(bs.1, 5),
            random(xs.0 * xs.1, 6),
        );
        let (dw, db, dx) = (
            random(ws.0 * ws.1, 7),
            random(bs.1, 8),
            random(xs.0 * xs.1, 9),
        );
        let p = vec![t(w.clone(), ws), t(bias.clone(), bs)];
        let dp = vec![t(dw.clone(), ws), t(db.clone(), bs)];
        let mut cache = Cache::new();
        conv.forward(&p, t(x.clone(), xs), &mut [], Mode::Eval, &mut cache);
        let tangent = conv
            .tangent(
                &p,
                &dp,
                Some(t(dx.clone(), xs)),
                Mode::Eval,
                &mut cache,
                &mut Vec::new(),
            )
            .as_vec();
        let eps = 1e-3;
        let at = |s: f64| {
            let shift =
                |a: &[f64], d: &[f64]| a.iter().zip(d).map(|(a, d)| a + s * d).collect::<Vec<_>>();
            let p = vec![t(shift(&w, &dw), ws), t(shift(&bias, &db), bs)];
            conv.forward(
                &p,
                t(shift(&x, &dx), xs),
                &mut [],
                Mode::Eval,
                &mut Cache::new(),
            )
            .as_vec()
        };
        let (plus, minus) = (at(eps), at(-eps));
        for (i, d) in tangent.iter().enumerate() {
            let fd = (plus[i] - minus[i]) / (2.0 * eps);
            assert!((d - fd).abs() < 1e-9, "entry {i}: {d} vs {fd}");
        }
        // With ẋ = None only the parameter terms remain.
        let mut cache = Cache::new();
        conv.forward(&p, t(x.clone(), xs), &mut [], Mode::Eval, &mut cache);
        let param_only = conv
            .tangent(&p, &dp, None, Mode::Eval, &mut cache, &mut Vec::new())
            .as_vec();
        let mut cache = Cache::new();
        conv.forward(&p, t(x, xs), &mut [], Mode::Eval, &mut cache);
        let zero_dp = vec![t(vec![0.0; ws.0 * ws.1], ws), t(vec![0.0; bs.1], bs)];
        let input_only = conv
            .tangent(
                &p,
                &zero_dp,
                Some(t(dx, xs)),
                Mode::Eval,
                &mut cache,
                &mut Vec::new(),
            )
            .as_vec();
        for i in 0..tangent.len() {
            assert!((param_only[i] + input_only[i] - tangent[i]).abs() < 1e-12);
        }
    }
}
