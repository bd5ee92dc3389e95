//! The 1-D convolution kernels on [`Layout::PaddedSeq`], shared by the
//! `Conv` layer's fast path and the fused Conv → BatchNorm → ReLU block
//! (`fused`): described by plain shapes ([`SeqConv`]), so that `fast`
//! depends on no layer type.

use super::{
    fill_rows, matmul, padded_dims, padded_to_rows, rows_to_padded, zero_pad_rows, Layout, Mat,
    MatRef, Record,
};

/// A 1-D convolution `c_in × len → c_out × len` with kernel `kw` ∈ {1, 3},
/// stride 1, zero padding kw/2, on padded sequences. Its weight is the
/// zoo's (C_in·kw, C_out), row ci·kw + kx; its bias (1, C_out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqConv {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Positions per sample.
    pub len: usize,
    /// Kernel width (1 or 3).
    pub kw: usize,
}

/// Padded rows per GEMM chunk: a chunk's input, output and gradient rows
/// (1 MB each at 32 channels) mostly stay in L2/L3 between the passes over
/// them (bias fill, GEMM, pad zeroing, BatchNorm moments; column sums, ∂W,
/// ∂x). Measured on cnn-bn's full batch: 2048 rows 41 ms per step, 8192
/// and 16384 rows 38.5–39 ms, unchunked 41 ms (gemm prefers long panels).
pub const CHUNK_ROWS: usize = 8192;

/// Fast path for 1-D convolutions on [`Layout::PaddedSeq`] (channels-last,
/// one zero row each side of every sample): with h = kw/2 ≤ 1, the kw
/// input rows output position q reads are the kw·C_in contiguous values
/// from padded row q − h, so a batch is ONE GEMM of an overlapping row view
/// (row stride C_in, kw·C_in wide) with the weight permuted to rows
/// kx·C_in + ci. The view runs across sample boundaries; the outputs it
/// puts on pad rows are garbage and are zeroed. (The GEMM runs in chunks of
/// whole samples, see [`CHUNK_ROWS`].) Rows input (channel-major C_in·L, the
/// model input) is converted to a padded sequence first and its ∂x
/// converted back; the output is always a padded sequence.
///
/// Backward: ∂W' = Xviewᵀ·∂Y; ∂b = column sums of ∂Y (zero pad rows);
/// ∂x is again one overlapping-view GEMM, ∂x_q = Σ_j ∂y_{q−h+j}·W'ᵀ_{kw−1−j}
/// (the transposed convolution), with the flipped, transposed weight.
impl SeqConv {
    /// h = kw/2 of the fast path (0 or 1: the layout pads one row).
    pub fn half(&self) -> usize {
        debug_assert!(self.kw <= 3);
        self.kw / 2
    }

    /// The padded-row ranges of the GEMM chunks (whole samples each).
    pub fn chunks(&self, rows: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        let per_sample = self.len + 2;
        let step = (CHUNK_ROWS / per_sample).max(1) * per_sample;
        (0..rows)
            .step_by(step)
            .map(move |a| a..(a + step).min(rows))
    }

    /// The input as a padded sequence, and the layout it came in.
    pub fn fast_input(&self, x: Mat) -> (Mat, Layout) {
        let layout = x.layout;
        let x = match layout {
            Layout::Rows => {
                let padded = rows_to_padded(&x, self.c_in, self.len);
                x.recycle();
                padded
            }
            Layout::PaddedSeq { .. } => x,
            Layout::Image { .. } => unreachable!("conv1d refuses images (output_form)"),
        };
        let (_, len) = padded_dims(&x, self.c_in, "conv1d");
        assert_eq!(len, self.len, "conv1d: sequence length");
        (x, layout)
    }

    /// Weight (C_in·kw, C_out), rows ci·kw + kx → rows kx·C_in + ci.
    pub fn permuted(&self, w: &[f32]) -> Vec<f32> {
        let (ci_n, taps, co_n) = (self.c_in, self.kw, self.c_out);
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

    /// y = bias + Σ_terms conv(w', x) over padded sequences shaped like
    /// `terms[0].0`, each `w'` from [`Self::permuted`]; pad rows zero.
    pub fn conv_sum(&self, terms: &[(&Mat, &[f32])], bias: &[f32]) -> Mat {
        let like = terms[0].0;
        let mut y = Mat::scratch(like.rows, self.c_out, like.layout);
        for r in self.chunks(like.rows) {
            let out = &mut y.data[r.start * self.c_out..r.end * self.c_out];
            self.conv_chunk(out, terms, bias, r);
        }
        y
    }

    /// [`Self::conv_sum`] on the padded rows `r` (a chunk of
    /// [`Self::chunks`]), into `out` (those rows of y).
    #[inline]
    pub fn conv_chunk(
        &self,
        out: &mut [f32],
        terms: &[(&Mat, &[f32])],
        bias: &[f32],
        r: std::ops::Range<usize>,
    ) {
        let (ci_n, co_n, kw, h) = (self.c_in, self.c_out, self.kw, self.half());
        fill_rows(out, bias);
        for &(x, w) in terms {
            let xv = MatRef::strided(
                &x.data[r.start * ci_n..r.end * ci_n],
                r.len() - 2 * h,
                kw * ci_n,
                ci_n,
                1,
            );
            let w = MatRef::row_major(w, kw * ci_n, co_n);
            matmul(&mut out[h * co_n..], co_n, xv, w, true);
        }
        zero_pad_rows(out, co_n, self.len);
    }
}

/// The backward pass of a fast conv, chunk by chunk (so that a fused caller
/// can hand over each ∂y chunk while it is in cache): ∂W' and ∂b
/// accumulate, ∂x is written chunk by chunk.
pub struct ConvBackward<'a> {
    conv: &'a SeqConv,
    /// The recorded (padded) input.
    x: &'a Mat,
    /// The layout the input came in.
    layout: Layout,
    /// ∂W', transposed (C_out × patch) when `transposed`, else patch × C_out.
    dw: Vec<f32>,
    transposed: bool,
    db: Vec<f64>,
    db_chunk: Vec<f32>,
    /// Flipped, transposed weight: row j·C_out + co, column ci holds
    /// W[(ci·kw + kw−1−j), co].
    wf: Vec<f32>,
    /// ∂x (padded), when asked for.
    dx: Option<Mat>,
}

impl<'a> ConvBackward<'a> {
    /// Start from the weight and the conv's forward record.
    pub fn new(conv: &'a SeqConv, w: &[f32], rec: &'a Record, need_dx: bool) -> Self {
        let (ci_n, co_n, kw) = (conv.c_in, conv.c_out, conv.kw);
        let x = &rec.mats[0];
        let patch = kw * ci_n;
        let mut wf = vec![0.0; kw * co_n * ci_n];
        if need_dx {
            for j in 0..kw {
                for co in 0..co_n {
                    for ci in 0..ci_n {
                        wf[(j * co_n + co) * ci_n + ci] = w[(ci * kw + kw - 1 - j) * co_n + co];
                    }
                }
            }
        }
        ConvBackward {
            conv,
            x,
            layout: rec.mats[1].layout,
            dw: vec![0.0; patch * co_n],
            // gemm tiles the contiguous dimension of its output by 24 (3 AVX
            // registers): put the longer side there (the patch, 96 for the
            // second conv, rather than C_out = 32 = 24 + a slow remainder).
            transposed: patch >= co_n,
            db: vec![0.0; co_n],
            db_chunk: vec![0.0; co_n],
            wf,
            // Every row is written: rows h..len−h of each chunk by the GEMM,
            // then the pads.
            dx: need_dx.then(|| Mat::scratch(x.rows, ci_n, x.layout)),
        }
    }

    /// Padded rows `r` (a chunk of [`SeqConv::chunks`]) with their ∂y `dyc`
    /// (pad rows are zeroed here: the forward zeroed those outputs).
    /// Inlined, so that the fused block's multiversioned backward compiles
    /// its ∂b sums at the block's width.
    #[inline(always)]
    pub fn chunk(&mut self, r: std::ops::Range<usize>, dyc: &mut [f32]) {
        let conv = self.conv;
        let (ci_n, co_n, kw, h) = (conv.c_in, conv.c_out, conv.kw, conv.half());
        let (patch, rows) = (kw * ci_n, r.len() - 2 * h);
        zero_pad_rows(dyc, co_n, conv.len);
        self.db_chunk.fill(0.0);
        let db_chunk = &mut self.db_chunk;
        crate::fast::with_const_channels!(co_n, |co_n| {
            for row in dyc.chunks_exact(co_n) {
                for (a, &v) in db_chunk.iter_mut().zip(row) {
                    *a += v;
                }
            }
        });
        for (a, &v) in self.db.iter_mut().zip(&self.db_chunk) {
            *a += v as f64;
        }
        let dyc: &[f32] = dyc;
        let xv = MatRef::strided(
            &self.x.data[r.start * ci_n..r.end * ci_n],
            rows,
            patch,
            ci_n,
            1,
        );
        let dyv = MatRef::strided(&dyc[h * co_n..], rows, co_n, co_n, 1);
        if self.transposed {
            matmul(&mut self.dw, patch, dyv.t(), xv, true);
        } else {
            matmul(&mut self.dw, co_n, xv.t(), dyv, true);
        }
        if let Some(dx) = &mut self.dx {
            let dxc = &mut dx.data[r.start * ci_n..r.end * ci_n];
            let dyv = MatRef::strided(dyc, rows, kw * co_n, co_n, 1);
            let wf = MatRef::row_major(&self.wf, kw * co_n, ci_n);
            matmul(&mut dxc[h * ci_n..], ci_n, dyv, wf, false);
            zero_pad_rows(dxc, ci_n, conv.len);
        }
    }

    /// Write ∂W (the zoo's row order ci·kw + kx) and ∂b into `grads`;
    /// return ∂x in the input's layout (zeros if it was not asked for).
    pub fn finish(self, grads: &mut [&mut [f32]]) -> Mat {
        let conv = self.conv;
        let (ci_n, co_n, kw) = (conv.c_in, conv.c_out, conv.kw);
        let patch = kw * ci_n;
        for ci in 0..ci_n {
            for kx in 0..kw {
                let j = kx * ci_n + ci;
                let dst = &mut grads[0][(ci * kw + kx) * co_n..][..co_n];
                if self.transposed {
                    for (co, g) in dst.iter_mut().enumerate() {
                        *g = self.dw[co * patch + j];
                    }
                } else {
                    dst.copy_from_slice(&self.dw[j * co_n..(j + 1) * co_n]);
                }
            }
        }
        for (g, &v) in grads[1].iter_mut().zip(&self.db) {
            *g = v as f32;
        }
        let x = self.x;
        match (self.dx, self.layout) {
            // Not read (the input is data); shaped as the input was.
            (None, Layout::Rows) => {
                Mat::zeros(x.rows / (conv.len + 2), ci_n * conv.len, Layout::Rows)
            }
            (None, Layout::PaddedSeq { .. }) => Mat::zeros(x.rows, ci_n, x.layout),
            (Some(dx), Layout::Rows) => {
                let rows = padded_to_rows(&dx);
                dx.recycle();
                rows
            }
            (Some(dx), Layout::PaddedSeq { .. }) => dx,
            (_, Layout::Image { .. }) => unreachable!("conv1d refuses images (output_form)"),
        }
    }
}
