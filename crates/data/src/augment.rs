//! Seeded training-set augmentation (spec §1.2 and §6.9).
//!
//! - CIFAR-10 (paper, spec §1.2): random 32x32 crop from the image
//!   zero-padded by 4 pixels on each side, then a horizontal flip with
//!   probability 0.5 ([`CropFlip`], [`augment_cifar_batch`]). As in the
//!   author's pipeline (`RandomCrop(32, padding=4)`, `RandomHorizontalFlip`,
//!   `ToTensor`, `Normalize`) this runs on the raw `u8` pixels **before**
//!   normalisation, so the padding is black (byte 0, i.e. 0 in [0, 1] pixel
//!   space), not the channel mean.
//! - digits (spec §6.9 Variant A): a random shift of -1, 0 or +1 pixel along
//!   each axis (drawn independently and uniformly), with zero padding, on
//!   1x8x8 images ([`Shift`], [`shift_digits_batch`]). Digits are not
//!   standardised (pixels in [0, 1]), so 0 is the background here too.
//!
//! Randomness: every batch function takes an RNG and draws, image by image in
//! batch order, the parameters documented on [`CropFlip::sample`] and
//! [`Shift::sample`]. A training loop should take that RNG from
//! [`augment_rng`]`(seed, epoch, batch)`: the draws then depend only on
//! that triple, not on the thread count, on other uses of randomness (the
//! epoch's shuffle) or on where a resumed run restarts.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cifar::{CIFAR_CHANNELS, CIFAR_FEATURES, CIFAR_SIDE};
use crate::N_PIXELS;

/// Zero padding on each side before the random CIFAR-10 crop, in pixels.
pub const CIFAR_PAD: usize = 4;
/// Side of the digits images (8x8, one channel).
pub const DIGITS_SIDE: usize = 8;
/// Largest digits shift along each axis, in pixels.
pub const DIGITS_MAX_SHIFT: i32 = 1;

/// The RNG for the augmentation of one batch: a [`ChaCha8Rng`] keyed by the
/// 32 bytes `seed`, `epoch`, `batch` (each little-endian u64) and the tag
/// `b"augment\0"`, so distinct triples give independent streams.
pub fn augment_rng(seed: u64, epoch: u64, batch: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&epoch.to_le_bytes());
    key[16..24].copy_from_slice(&batch.to_le_bytes());
    key[24..].copy_from_slice(b"augment\0");
    ChaCha8Rng::from_seed(key)
}

/// Copies `src` (`channels x side x side`, channel-major, row-major planes)
/// into `dst` translated by `dy` rows down and `dx` columns right:
/// `dst[c][y][x] = src[c][y - dy][x - dx]`, `T::default()` (zero) where that
/// source pixel lies outside the image; if `flip`, column `x` of the result
/// is then mirrored to `side - 1 - x`.
fn translate<T: Copy + Default>(
    src: &[T],
    dst: &mut [T],
    side: usize,
    dy: i32,
    dx: i32,
    flip: bool,
) {
    debug_assert_eq!(src.len(), dst.len());
    let s = side as i32;
    for (plane_in, plane_out) in src
        .chunks_exact(side * side)
        .zip(dst.chunks_exact_mut(side * side))
    {
        for y in 0..s {
            let sy = y - dy;
            for x in 0..s {
                let sx = x - dx;
                let v = if (0..s).contains(&sy) && (0..s).contains(&sx) {
                    plane_in[(sy * s + sx) as usize]
                } else {
                    T::default()
                };
                let ox = if flip { s - 1 - x } else { x };
                plane_out[(y * s + ox) as usize] = v;
            }
        }
    }
}

/// One CIFAR-10 training augmentation: the 32x32 window at (`top`, `left`)
/// of the image zero-padded by [`CIFAR_PAD`] on each side (so both offsets
/// are in `0..=8`, and `top = left = 4` is the unshifted image), then a
/// horizontal flip if `flip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropFlip {
    /// Row of the padded (40x40) image that becomes row 0, in `0..=8`.
    pub top: usize,
    /// Column of the padded image that becomes column 0, in `0..=8`.
    pub left: usize,
    /// Mirror columns (`x -> 31 - x`) after cropping.
    pub flip: bool,
}

impl CropFlip {
    /// Draws, in this order, `top` and `left` uniformly from `0..=8` and
    /// `flip` with probability 0.5 (the order of torchvision's
    /// `RandomCrop` then `RandomHorizontalFlip`).
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let top = rng.gen_range(0..=2 * CIFAR_PAD);
        let left = rng.gen_range(0..=2 * CIFAR_PAD);
        let flip = rng.gen_bool(0.5);
        CropFlip { top, left, flip }
    }

    /// Writes the augmented copy of one raw image `src` (3x32x32 bytes,
    /// [`CIFAR_FEATURES`] long, channel-major) into `dst`; padding is byte 0.
    ///
    /// # Panics
    /// If `src` or `dst` is not [`CIFAR_FEATURES`] long, or an offset
    /// exceeds 8.
    pub fn apply(&self, src: &[u8], dst: &mut [u8]) {
        assert_eq!(src.len(), CIFAR_FEATURES, "src is not one 3x32x32 image");
        assert_eq!(dst.len(), CIFAR_FEATURES, "dst is not one 3x32x32 image");
        assert!(
            self.top <= 2 * CIFAR_PAD && self.left <= 2 * CIFAR_PAD,
            "crop offset above 8"
        );
        let dy = CIFAR_PAD as i32 - self.top as i32;
        let dx = CIFAR_PAD as i32 - self.left as i32;
        debug_assert_eq!(src.len(), CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE);
        translate(src, dst, CIFAR_SIDE, dy, dx, self.flip);
    }
}

/// Augments a batch of raw CIFAR-10 images (`B x 3 x 32 x 32` bytes,
/// channel-major, as stored in [`crate::cifar::Cifar::pixels`]): one
/// [`CropFlip::sample`] per image in batch order, applied with
/// [`CropFlip::apply`]. Returns the augmented bytes, same layout; normalise
/// them afterwards ([`crate::cifar::normalize_cifar`]).
///
/// # Panics
/// If `raw.len()` is not a multiple of [`CIFAR_FEATURES`].
pub fn augment_cifar_batch<R: Rng + ?Sized>(raw: &[u8], rng: &mut R) -> Vec<u8> {
    assert_eq!(
        raw.len() % CIFAR_FEATURES,
        0,
        "not a whole number of 3x32x32 images"
    );
    let mut out = vec![0u8; raw.len()];
    for (src, dst) in raw
        .chunks_exact(CIFAR_FEATURES)
        .zip(out.chunks_exact_mut(CIFAR_FEATURES))
    {
        CropFlip::sample(rng).apply(src, dst);
    }
    out
}

/// One digits augmentation: the 8x8 image moved `dy` rows down and `dx`
/// columns right (negative: up / left), zero filled:
/// `out[y][x] = in[y - dy][x - dx]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    /// Rows down, in `-1..=1`.
    pub dy: i32,
    /// Columns right, in `-1..=1`.
    pub dx: i32,
}

impl Shift {
    /// Draws `dy` then `dx`, each uniformly from `{-1, 0, 1}` (so 1/9 of the
    /// images stay unshifted).
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let dy = rng.gen_range(-DIGITS_MAX_SHIFT..=DIGITS_MAX_SHIFT);
        let dx = rng.gen_range(-DIGITS_MAX_SHIFT..=DIGITS_MAX_SHIFT);
        Shift { dy, dx }
    }

    /// Writes the shifted copy of one image `src` ([`N_PIXELS`] values,
    /// row-major 8x8, pixels in [0, 1]) into `dst`; uncovered pixels get
    /// `T::default()` (0).
    ///
    /// # Panics
    /// If `src` or `dst` is not [`N_PIXELS`] long.
    pub fn apply<T: Copy + Default>(&self, src: &[T], dst: &mut [T]) {
        assert_eq!(src.len(), N_PIXELS, "src is not one 8x8 image");
        assert_eq!(dst.len(), N_PIXELS, "dst is not one 8x8 image");
        translate(src, dst, DIGITS_SIDE, self.dy, self.dx, false);
    }
}

/// Augments a batch of digits images (`B x 64`, row-major 8x8 each, pixels
/// in [0, 1], e.g. the rows of [`crate::Digits::pixels`] or of a model
/// batch in f32): one [`Shift::sample`] per image in batch order. Returns
/// the shifted batch, same layout.
///
/// # Panics
/// If `x.len()` is not a multiple of [`N_PIXELS`].
pub fn shift_digits_batch<T: Copy + Default, R: Rng + ?Sized>(x: &[T], rng: &mut R) -> Vec<T> {
    assert_eq!(x.len() % N_PIXELS, 0, "not a whole number of 8x8 images");
    let mut out = vec![T::default(); x.len()];
    for (src, dst) in x.chunks_exact(N_PIXELS).zip(out.chunks_exact_mut(N_PIXELS)) {
        Shift::sample(rng).apply(src, dst);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x32x32 image whose byte at (c, y, x) is distinct within a plane
    /// (`1 + (y * 7 + x) % 250`, never 0) plus a channel offset.
    fn ramp() -> Vec<u8> {
        let mut v = vec![0u8; CIFAR_FEATURES];
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    v[c * 1024 + y * 32 + x] = (1 + (y * 7 + x + c * 3) % 250) as u8;
                }
            }
        }
        v
    }

    fn at(img: &[u8], c: usize, y: usize, x: usize) -> u8 {
        img[c * 1024 + y * 32 + x]
    }

    #[test]
    fn centre_crop_is_identity_and_flip_mirrors_columns() {
        let src = ramp();
        let mut dst = vec![0; CIFAR_FEATURES];
        CropFlip {
            top: 4,
            left: 4,
            flip: false,
        }
        .apply(&src, &mut dst);
        assert_eq!(dst, src);
        CropFlip {
            top: 4,
            left: 4,
            flip: true,
        }
        .apply(&src, &mut dst);
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    assert_eq!(at(&dst, c, y, x), at(&src, c, y, 31 - x));
                }
            }
        }
    }

    #[test]
    fn crop_offsets_move_pixels_and_pad_with_zero() {
        let src = ramp();
        let mut dst = vec![0; CIFAR_FEATURES];
        // Window at the padded image's top-left corner: the image moves 4
        // down and 4 right; rows/columns 0..4 are padding.
        CropFlip {
            top: 0,
            left: 0,
            flip: false,
        }
        .apply(&src, &mut dst);
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    let want = if y < 4 || x < 4 {
                        0
                    } else {
                        at(&src, c, y - 4, x - 4)
                    };
                    assert_eq!(at(&dst, c, y, x), want, "({c},{y},{x})");
                }
            }
        }
        // Bottom-right window, then flipped: image moves 4 up and 4 left,
        // then column x comes from column 31 - x of the crop.
        CropFlip {
            top: 8,
            left: 8,
            flip: true,
        }
        .apply(&src, &mut dst);
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    let cx = 31 - x;
                    let want = if y >= 28 || cx >= 28 {
                        0
                    } else {
                        at(&src, c, y + 4, cx + 4)
                    };
                    assert_eq!(at(&dst, c, y, x), want, "({c},{y},{x})");
                }
            }
        }
        // One step from the centre: shift by one row up, two columns right.
        CropFlip {
            top: 5,
            left: 2,
            flip: false,
        }
        .apply(&src, &mut dst);
        assert_eq!(at(&dst, 1, 0, 2), at(&src, 1, 1, 0));
        assert_eq!(at(&dst, 2, 10, 1), 0);
        assert!((0..32).all(|x| at(&dst, 0, 31, x) == 0));
    }

    #[test]
    fn cifar_batch_is_deterministic_and_covers_all_offsets() {
        let one = ramp();
        let batch: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(64 * CIFAR_FEATURES)
            .collect();
        let a = augment_cifar_batch(&batch, &mut augment_rng(7, 2, 3));
        assert_eq!(a, augment_cifar_batch(&batch, &mut augment_rng(7, 2, 3)));
        assert_ne!(a, augment_cifar_batch(&batch, &mut augment_rng(7, 2, 4)));
        assert_ne!(a, augment_cifar_batch(&batch, &mut augment_rng(7, 3, 3)));
        assert_ne!(a, augment_cifar_batch(&batch, &mut augment_rng(8, 2, 3)));
        // Each image equals the documented draw applied to it.
        let mut rng = augment_rng(7, 2, 3);
        let mut dst = vec![0; CIFAR_FEATURES];
        for img in a.chunks_exact(CIFAR_FEATURES) {
            CropFlip::sample(&mut rng).apply(&one, &mut dst);
            assert_eq!(img, &dst[..]);
        }
        // Draws: offsets span 0..=8, flips about half.
        let mut rng = augment_rng(0, 0, 0);
        let draws: Vec<CropFlip> = (0..4000).map(|_| CropFlip::sample(&mut rng)).collect();
        for o in 0..=8 {
            assert!(draws.iter().any(|d| d.top == o) && draws.iter().any(|d| d.left == o));
        }
        assert!(draws.iter().all(|d| d.top <= 8 && d.left <= 8));
        let flips = draws.iter().filter(|d| d.flip).count();
        assert!((1800..2200).contains(&flips), "{flips}");
    }

    #[test]
    fn digits_shift_moves_pixels_with_zero_fill() {
        let src: Vec<f64> = (0..64).map(|i| (i + 1) as f64 / 64.0).collect();
        let mut dst = vec![0.0; 64];
        Shift { dy: 0, dx: 1 }.apply(&src, &mut dst);
        for y in 0..8 {
            assert_eq!(dst[y * 8], 0.0, "first column is zero");
            for x in 1..8 {
                assert_eq!(dst[y * 8 + x], src[y * 8 + x - 1]);
            }
        }
        Shift { dy: -1, dx: -1 }.apply(&src, &mut dst);
        for y in 0..8 {
            for x in 0..8 {
                let want = if y == 7 || x == 7 {
                    0.0
                } else {
                    src[(y + 1) * 8 + x + 1]
                };
                assert_eq!(dst[y * 8 + x], want);
            }
        }
        Shift { dy: 0, dx: 0 }.apply(&src, &mut dst);
        assert_eq!(dst, src);
    }

    #[test]
    fn digits_batch_is_deterministic_and_uses_all_shifts() {
        let img: Vec<f32> = (0..64).map(|i| (i + 1) as f32 / 64.0).collect();
        let batch: Vec<f32> = img.iter().copied().cycle().take(128 * 64).collect();
        let a = shift_digits_batch(&batch, &mut augment_rng(1, 0, 5));
        assert_eq!(a, shift_digits_batch(&batch, &mut augment_rng(1, 0, 5)));
        assert_ne!(a, shift_digits_batch(&batch, &mut augment_rng(1, 0, 6)));
        let mut rng = augment_rng(1, 0, 5);
        let mut dst = vec![0.0f32; 64];
        let mut seen = std::collections::BTreeSet::new();
        for out in a.chunks_exact(64) {
            let s = Shift::sample(&mut rng);
            seen.insert((s.dy, s.dx));
            s.apply(&img, &mut dst);
            assert_eq!(out, &dst[..]);
        }
        assert_eq!(seen.len(), 9, "all nine shifts occur in 128 draws");
    }
}
