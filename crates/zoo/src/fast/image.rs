//! [`Layout::Image`] helpers: conversion from and to the zoo's channel-major
//! rows, and the im2col gather of a 2-D convolution (and its adjoint,
//! col2im) on channels-last images.
//!
//! im2col puts, for every output pixel, the `kh·kw·C` input values its
//! kernel covers in one row, tap-major: column `(ky·kw + kx)·C + c`. A tap's
//! C channels are contiguous in a channels-last image, and so are the taps
//! of one kernel row (consecutive input pixels), so a row of the columns is
//! `kh` copies of at most `kw·C` contiguous values (zeros where the kernel
//! reaches into the padding).

use super::{Layout, Mat};

/// `(samples, height, width)` of a [`Layout::Image`] matrix with `channels`
/// columns.
///
/// # Panics
/// If `x` is not an image batch of `channels` channels, or its row count
/// does not match.
pub fn image_dims(x: &Mat, channels: usize, who: &str) -> (usize, usize, usize) {
    match x.layout {
        Layout::Image {
            samples,
            height,
            width,
        } => {
            assert_eq!(
                (x.cols, x.rows),
                (channels, samples * height * width),
                "{who}: images of {samples}x{height}x{width} with {channels} channels expected"
            );
            (samples, height, width)
        }
        other => panic!("{who}: images expected, got {other:?}"),
    }
}

/// Channel-major rows (`samples × channels·height·width`) → channels-last
/// images (`samples·height·width × channels`).
pub fn rows_to_image(x: &Mat, channels: usize, height: usize, width: usize) -> Mat {
    assert_eq!(x.layout, Layout::Rows, "rows_to_image: input layout");
    let hw = height * width;
    assert_eq!(
        x.cols,
        channels * hw,
        "rows_to_image: rows of {} values, expected {channels}x{height}x{width}",
        x.cols
    );
    let samples = x.rows;
    let layout = Layout::Image {
        samples,
        height,
        width,
    };
    let mut out = Mat::scratch(samples * hw, channels, layout);
    if channels == 1 {
        out.data.copy_from_slice(&x.data);
        return out;
    }
    for (src, dst) in x
        .data
        .chunks_exact(channels * hw)
        .zip(out.data.chunks_exact_mut(channels * hw))
    {
        for (ch, plane) in src.chunks_exact(hw).enumerate() {
            for (p, &v) in plane.iter().enumerate() {
                dst[p * channels + ch] = v;
            }
        }
    }
    out
}

/// Channels-last images → channel-major rows (`samples × channels·height·width`).
pub fn image_to_rows(x: &Mat) -> Mat {
    let channels = x.cols;
    let (samples, height, width) = image_dims(x, channels, "image_to_rows");
    let hw = height * width;
    let mut out = Mat::scratch(samples, channels * hw, Layout::Rows);
    if channels == 1 {
        out.data.copy_from_slice(&x.data);
        return out;
    }
    for (src, dst) in x
        .data
        .chunks_exact(channels * hw)
        .zip(out.data.chunks_exact_mut(channels * hw))
    {
        for (ch, plane) in dst.chunks_exact_mut(hw).enumerate() {
            for (p, v) in plane.iter_mut().enumerate() {
                *v = src[p * channels + ch];
            }
        }
    }
    out
}

/// Images → padded sequences of `height·width` positions (one zero row
/// before and after each sample), for the padded-sequence kernels
/// (BatchNorm's statistics).
pub fn image_to_padded(x: &Mat) -> Mat {
    let c = x.cols;
    let (samples, height, width) = image_dims(x, c, "image_to_padded");
    let len = height * width;
    let mut out = Mat::scratch(samples * (len + 2), c, Layout::PaddedSeq { samples, len });
    super::zero_pad_rows(&mut out.data, c, len);
    for (dst, src) in super::interiors_mut(&mut out.data, c, len).zip(x.data.chunks_exact(c * len))
    {
        dst.copy_from_slice(src);
    }
    out
}

/// Padded sequences of `height·width` positions → images.
pub fn padded_to_image(x: &Mat, height: usize, width: usize) -> Mat {
    let c = x.cols;
    let (samples, len) = super::padded_dims(x, c, "padded_to_image");
    assert_eq!(len, height * width, "padded_to_image: positions per sample");
    let layout = Layout::Image {
        samples,
        height,
        width,
    };
    let mut out = Mat::scratch(samples * len, c, layout);
    for (dst, src) in out
        .data
        .chunks_exact_mut(c * len)
        .zip(super::interiors(&x.data, c, len))
    {
        dst.copy_from_slice(src);
    }
    out
}

/// The geometry of a 2-D convolution on images: `c_in` channels of
/// `height × width`, a `kh × kw` kernel moved by `stride`, `pad_h`/`pad_w`
/// zero rows/columns on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Step between output pixels, in input pixels (both directions).
    pub stride: usize,
    /// Zero rows above and below.
    pub pad_h: usize,
    /// Zero columns left and right.
    pub pad_w: usize,
}

impl ConvShape {
    /// Output height, ⌊(H + 2·pad_h − kh)/stride⌋ + 1.
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.pad_h - self.kh) / self.stride + 1
    }

    /// Output width, ⌊(W + 2·pad_w − kw)/stride⌋ + 1.
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.pad_w - self.kw) / self.stride + 1
    }

    /// Values one output pixel reads, `kh·kw·c_in` (im2col's columns).
    pub fn patch(&self) -> usize {
        self.kh * self.kw * self.c_in
    }

    /// For output column `ox`: the first and one-past-last kernel column
    /// inside the image, and the input column of the first one.
    #[inline(always)]
    fn kx_range(&self, ox: usize) -> (usize, usize, usize) {
        let left = ox * self.stride; // input column of kx = 0, plus pad_w
        let kx0 = self.pad_w.saturating_sub(left).min(self.kw);
        let kx1 = (self.width + self.pad_w).saturating_sub(left).min(self.kw);
        let kx1 = kx1.max(kx0);
        (kx0, kx1, (left + kx0).saturating_sub(self.pad_w))
    }

    /// Visit, for every (sample, output pixel, kernel row), the parts of
    /// its im2col row: `f(col_offset, Some(img_offset), n)` for the run that
    /// reads `n` contiguous input values at `img_offset` (values, not
    /// pixels), `f(col_offset, None, n)` for `n` values in the padding.
    /// Rows in order, each covered exactly once.
    #[inline(always)]
    fn runs(&self, samples: usize, mut f: impl FnMut(usize, Option<usize>, usize)) {
        let (c, patch) = (self.c_in, self.patch());
        let (oh, ow) = (self.out_height(), self.out_width());
        let kwc = self.kw * c;
        for s in 0..samples {
            for oy in 0..oh {
                for ox in 0..ow {
                    let row = ((s * oh + oy) * ow + ox) * patch;
                    let (kx0, kx1, ix0) = self.kx_range(ox);
                    for ky in 0..self.kh {
                        let at = row + ky * kwc;
                        let iy = oy * self.stride + ky;
                        if iy < self.pad_h || iy >= self.height + self.pad_h || kx1 == kx0 {
                            f(at, None, kwc);
                            continue;
                        }
                        let iy = iy - self.pad_h;
                        let img = ((s * self.height + iy) * self.width + ix0) * c;
                        if kx0 > 0 {
                            f(at, None, kx0 * c);
                        }
                        f(at + kx0 * c, Some(img), (kx1 - kx0) * c);
                        if kx1 < self.kw {
                            f(at + kx1 * c, None, (self.kw - kx1) * c);
                        }
                    }
                }
            }
        }
    }

    fn check_input(&self, x: &Mat, who: &str) -> usize {
        let (samples, h, w) = image_dims(x, self.c_in, who);
        assert_eq!((h, w), (self.height, self.width), "{who}: image size");
        samples
    }
}

/// im2col of channels-last images `x` (shape `g`): `samples·OH·OW` rows (one
/// per output pixel, in [`Layout::Rows`]) of `g.patch()` values, column
/// `(ky·kw + kx)·C + c` holding channel c of the input pixel kernel tap
/// (ky, kx) covers (0 in the padding).
pub fn im2col(x: &Mat, g: &ConvShape) -> Mat {
    let samples = g.check_input(x, "im2col");
    let rows = samples * g.out_height() * g.out_width();
    // Written in full: every value of a row is a copy or a padding zero.
    let mut cols = Mat::scratch(rows, g.patch(), Layout::Rows);
    let (src, dst) = (&x.data, &mut cols.data);
    g.runs(samples, |at, from, n| {
        let dst = &mut dst[at..at + n];
        match from {
            Some(from) => copy_run(dst, &src[from..from + n]),
            None => dst.fill(0.0),
        }
    });
    cols
}

/// col2im, the adjoint of [`im2col`]: the images (shape `g`, `samples` of
/// them) whose pixels receive the sum of the column entries that read them.
pub fn col2im(cols: &Mat, g: &ConvShape, samples: usize) -> Mat {
    let rows = samples * g.out_height() * g.out_width();
    assert_eq!(
        (cols.rows, cols.cols),
        (rows, g.patch()),
        "col2im: columns shape"
    );
    let layout = Layout::Image {
        samples,
        height: g.height,
        width: g.width,
    };
    let mut x = Mat::zeroed(samples * g.height * g.width, g.c_in, layout);
    let (src, dst) = (&cols.data, &mut x.data);
    g.runs(samples, |at, to, n| {
        if let Some(to) = to {
            for (d, &v) in dst[to..to + n].iter_mut().zip(&src[at..at + n]) {
                *d += v;
            }
        }
    });
    x
}

/// `dst ← src`; runs of a few values (a single-channel image's kernel row)
/// are copied inline rather than through a `memcpy` call each.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    match (dst, src) {
        ([d0], [s0]) => *d0 = *s0,
        ([d0, d1], [s0, s1]) => (*d0, *d1) = (*s0, *s1),
        ([d0, d1, d2], [s0, s1, s2]) => (*d0, *d1, *d2) = (*s0, *s1, *s2),
        (dst, src) => dst.copy_from_slice(src),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_images_convert_both_ways() {
        let (samples, channels, h, w) = (2, 3, 2, 3);
        let x = Mat::new(
            samples,
            channels * h * w,
            (0..samples * channels * h * w).map(|i| i as f32).collect(),
        );
        let img = rows_to_image(&x, channels, h, w);
        assert_eq!(
            img.layout,
            Layout::Image {
                samples,
                height: h,
                width: w
            }
        );
        for s in 0..samples {
            for ch in 0..channels {
                for p in 0..h * w {
                    assert_eq!(
                        img.row(s * h * w + p)[ch],
                        x.data[s * channels * h * w + ch * h * w + p]
                    );
                }
            }
        }
        assert_eq!(image_to_rows(&img), x);
    }

    /// im2col against its definition, with stride 2 and uneven padding
    /// reach; col2im is its adjoint: <im2col(x), c> = <x, col2im(c)>.
    #[test]
    fn im2col_matches_its_definition_and_col2im_is_its_adjoint() {
        for g in [
            ConvShape {
                c_in: 2,
                height: 5,
                width: 4,
                kh: 3,
                kw: 3,
                stride: 1,
                pad_h: 1,
                pad_w: 1,
            },
            ConvShape {
                c_in: 3,
                height: 6,
                width: 5,
                kh: 3,
                kw: 3,
                stride: 2,
                pad_h: 1,
                pad_w: 1,
            },
            ConvShape {
                c_in: 2,
                height: 4,
                width: 6,
                kh: 1,
                kw: 1,
                stride: 2,
                pad_h: 0,
                pad_w: 0,
            },
            ConvShape {
                c_in: 1,
                height: 4,
                width: 5,
                kh: 3,
                kw: 5,
                stride: 1,
                pad_h: 1,
                pad_w: 2,
            },
        ] {
            let samples = 2;
            let layout = Layout::Image {
                samples,
                height: g.height,
                width: g.width,
            };
            let n = samples * g.height * g.width * g.c_in;
            let x = Mat {
                layout,
                ..Mat::new(
                    samples * g.height * g.width,
                    g.c_in,
                    (0..n).map(|i| (i as f32).sin()).collect(),
                )
            };
            let cols = im2col(&x, &g);
            let (oh, ow) = (g.out_height(), g.out_width());
            assert_eq!((cols.rows, cols.cols), (samples * oh * ow, g.patch()));
            for s in 0..samples {
                for oy in 0..oh {
                    for ox in 0..ow {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                for c in 0..g.c_in {
                                    let iy = (oy * g.stride + ky) as isize - g.pad_h as isize;
                                    let ix = (ox * g.stride + kx) as isize - g.pad_w as isize;
                                    let inside = (0..g.height as isize).contains(&iy)
                                        && (0..g.width as isize).contains(&ix);
                                    let expect = if inside {
                                        x.row((s * g.height + iy as usize) * g.width + ix as usize)
                                            [c]
                                    } else {
                                        0.0
                                    };
                                    let got = cols.row((s * oh + oy) * ow + ox)
                                        [(ky * g.kw + kx) * g.c_in + c];
                                    assert_eq!(got, expect, "{g:?}");
                                }
                            }
                        }
                    }
                }
            }
            let m = cols.rows * cols.cols;
            let c = Mat::new(
                cols.rows,
                cols.cols,
                (0..m).map(|i| (0.3 * i as f32).cos()).collect(),
            );
            let back = col2im(&c, &g, samples);
            assert_eq!(back.layout, layout);
            let lhs: f64 = cols
                .data
                .iter()
                .zip(&c.data)
                .map(|(a, b)| (a * b) as f64)
                .sum();
            let rhs: f64 = x
                .data
                .iter()
                .zip(&back.data)
                .map(|(a, b)| (a * b) as f64)
                .sum();
            assert!(
                (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
                "{g:?}: {lhs} vs {rhs}"
            );
        }
    }
}
