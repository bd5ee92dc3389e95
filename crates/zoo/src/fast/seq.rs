//! [`Layout::PaddedSeq`] helpers: conversion from and to the zoo's
//! channel-major rows, the interior (non-pad) rows of each sample, and
//! re-zeroing the pad rows after a GEMM wrote garbage there.

use super::{Layout, Mat};

/// `(samples, len)` of a [`Layout::PaddedSeq`] matrix with `cols` channels.
///
/// # Panics
/// If `x` is not a padded sequence of `cols` channels, or its row count does
/// not match.
pub fn padded_dims(x: &Mat, cols: usize, who: &str) -> (usize, usize) {
    match x.layout {
        Layout::PaddedSeq { samples, len } => {
            assert_eq!(
                (x.cols, x.rows),
                (cols, samples * (len + 2)),
                "{who}: padded sequence of {samples}x{len} with {cols} channels expected"
            );
            (samples, len)
        }
        other => panic!("{who}: padded sequence expected, got {other:?}"),
    }
}

/// Channel-major rows (`samples × channels·len`) → a padded sequence
/// (`samples·(len+2) × channels`, zero pad rows).
pub fn rows_to_padded(x: &Mat, channels: usize, len: usize) -> Mat {
    assert_eq!(x.layout, Layout::Rows, "rows_to_padded: input layout");
    assert_eq!(
        x.cols,
        channels * len,
        "rows_to_padded: rows of {} values, expected {channels}x{len}",
        x.cols
    );
    let samples = x.rows;
    let mut out = Mat::scratch(
        samples * (len + 2),
        channels,
        Layout::PaddedSeq { samples, len },
    );
    zero_pad_rows(&mut out.data, channels, len);
    for (src, dst) in x
        .data
        .chunks_exact(channels * len)
        .zip(out.data.chunks_exact_mut(channels * (len + 2)))
    {
        let dst = &mut dst[channels..channels * (len + 1)];
        if channels == 1 {
            dst.copy_from_slice(src);
            continue;
        }
        for (ch, seq) in src.chunks_exact(len).enumerate() {
            for (l, &v) in seq.iter().enumerate() {
                dst[l * channels + ch] = v;
            }
        }
    }
    out
}

/// A padded sequence → channel-major rows (`samples × channels·len`).
pub fn padded_to_rows(x: &Mat) -> Mat {
    let (samples, len) = padded_dims(x, x.cols, "padded_to_rows");
    let channels = x.cols;
    let mut out = Mat::scratch(samples, channels * len, Layout::Rows);
    for (src, dst) in x
        .data
        .chunks_exact(channels * (len + 2))
        .zip(out.data.chunks_exact_mut(channels * len))
    {
        let src = &src[channels..channels * (len + 1)];
        if channels == 1 {
            dst.copy_from_slice(src);
            continue;
        }
        for (ch, seq) in dst.chunks_exact_mut(len).enumerate() {
            for (l, v) in seq.iter_mut().enumerate() {
                *v = src[l * channels + ch];
            }
        }
    }
    out
}

/// Set the two pad rows of every sample to zero.
#[inline]
pub fn zero_pad_rows<T: Copy + Default>(data: &mut [T], cols: usize, len: usize) {
    for sample in data.chunks_exact_mut(cols * (len + 2)) {
        sample[..cols].fill(T::default());
        sample[cols * (len + 1)..].fill(T::default());
    }
}

/// Each sample's `len × cols` interior (non-pad) rows, contiguous.
pub fn interiors<T>(data: &[T], cols: usize, len: usize) -> impl Iterator<Item = &[T]> {
    data.chunks_exact(cols * (len + 2))
        .map(move |s| &s[cols..cols * (len + 1)])
}

/// Mutable [`interiors`].
pub fn interiors_mut<T>(data: &mut [T], cols: usize, len: usize) -> impl Iterator<Item = &mut [T]> {
    data.chunks_exact_mut(cols * (len + 2))
        .map(move |s| &mut s[cols..cols * (len + 1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_padded_sequences_convert_both_ways() {
        let (samples, channels, len) = (3, 2, 4);
        let x = Mat::new(
            samples,
            channels * len,
            (0..samples * channels * len).map(|i| i as f32).collect(),
        );
        let p = rows_to_padded(&x, channels, len);
        assert_eq!(p.layout, Layout::PaddedSeq { samples, len });
        for s in 0..samples {
            assert_eq!(p.row(s * (len + 2)), &[0.0, 0.0]);
            assert_eq!(p.row(s * (len + 2) + len + 1), &[0.0, 0.0]);
            for l in 0..len {
                for ch in 0..channels {
                    assert_eq!(
                        p.row(s * (len + 2) + 1 + l)[ch],
                        x.data[s * channels * len + ch * len + l]
                    );
                }
            }
        }
        assert_eq!(padded_to_rows(&p), x);
    }
}
