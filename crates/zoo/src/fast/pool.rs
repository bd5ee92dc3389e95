//! Recycled activation buffers.
//!
//! A full-batch step of cnn-bn allocates about eight 12 MB matrices. Fresh
//! allocations that large are fresh `mmap`s: every step would page-fault
//! and clear ~100 MB again (a third of the step time before this pool).
//! Instead the buffers of a finished step (a dropped [`FastCache`], a
//! consumed gradient) go back to a small per-thread pool and the next step
//! takes them from there.
//!
//! Only large buffers are pooled, at most [`MAX_BUFFERS`] of them and
//! [`MAX_POOLED`] values per thread; anything else is freed as usual.
//!
//! [`FastCache`]: super::FastCache

use super::{Layout, Mat, Record};
use std::cell::RefCell;

/// Smaller buffers are not worth pooling.
const MIN_POOLED: usize = 1 << 15;
/// Most buffers kept per thread (a tiny-transformer step with its tangent
/// keeps about 40 activation-sized buffers in flight; fewer slots would
/// drop some every step).
pub const MAX_BUFFERS: usize = 64;
/// Most values kept per thread (256 MiB of f32; a cnn-bn step needs ~100).
pub const MAX_POOLED: usize = 1 << 26;

/// One thread's spare buffers of one element type, oldest first.
struct Pool<T>(Vec<Vec<T>>);

impl<T: Copy + Default> Pool<T> {
    /// The smallest spare buffer that holds `len` values, resized to `len`.
    fn take(&mut self, len: usize) -> Option<Vec<T>> {
        let best = self
            .0
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i)?;
        let mut v = self.0.remove(best);
        v.resize(len, T::default());
        Some(v)
    }

    /// Keep `v`, dropping the oldest buffers to stay within the limits.
    fn give(&mut self, v: Vec<T>) {
        if v.capacity() < MIN_POOLED || v.capacity() > MAX_POOLED {
            return;
        }
        while self.0.len() >= MAX_BUFFERS
            || self.0.iter().map(|b| b.capacity()).sum::<usize>() + v.capacity() > MAX_POOLED
        {
            self.0.remove(0);
        }
        self.0.push(v);
    }
}

thread_local! {
    static VALUES: RefCell<Pool<f32>> = const { RefCell::new(Pool(Vec::new())) };
    static MASKS: RefCell<Pool<u8>> = const { RefCell::new(Pool(Vec::new())) };
}

/// A buffer of `len` values with unspecified contents (zeros, or the stale
/// values of a recycled buffer): for outputs that are written in full.
pub fn scratch(len: usize) -> Vec<f32> {
    if len >= MIN_POOLED {
        if let Some(v) = VALUES.with(|p| p.borrow_mut().take(len)) {
            return v;
        }
    }
    vec![0.0; len]
}

/// A buffer of `len` zeros (a recycled one is cleared: a memset, no page faults).
pub fn zeroed(len: usize) -> Vec<f32> {
    let mut v = scratch(len);
    v.fill(0.0);
    v
}

/// Hand a buffer back for reuse (or free it). A full pool drops its oldest
/// buffers first, so buffers the steps stopped asking for (another size)
/// cannot crowd out the ones they use.
pub fn recycle(v: Vec<f32>) {
    VALUES.with(|p| p.borrow_mut().give(v));
}

/// A byte mask of `len` entries with unspecified contents.
pub fn mask_buffer(len: usize) -> Vec<u8> {
    if len >= MIN_POOLED {
        if let Some(v) = MASKS.with(|p| p.borrow_mut().take(len)) {
            return v;
        }
    }
    vec![0; len]
}

/// Hand a mask back for reuse (or free it).
pub fn recycle_mask(v: Vec<u8>) {
    MASKS.with(|p| p.borrow_mut().give(v));
}

/// Recycle every matrix of a record, inner records included.
pub fn recycle_record(rec: &mut Record) {
    for m in rec.mats.drain(..) {
        recycle(m.data);
    }
    for m in rec.masks.drain(..) {
        recycle_mask(m);
    }
    for inner in rec.inner.iter_mut() {
        recycle_record(inner);
    }
}

impl Mat {
    /// `rows × cols` in `layout` with unspecified contents ([`scratch`]).
    pub fn scratch(rows: usize, cols: usize, layout: Layout) -> Self {
        Mat {
            rows,
            cols,
            data: scratch(rows * cols),
            layout,
        }
    }

    /// `rows × cols` zeros in `layout`, from the pool when possible.
    pub fn zeroed(rows: usize, cols: usize, layout: Layout) -> Self {
        Mat {
            rows,
            cols,
            data: zeroed(rows * cols),
            layout,
        }
    }

    /// A copy in a buffer from the pool (no fresh, page-faulting memory),
    /// same shape and layout.
    pub fn pooled_copy(&self) -> Self {
        let mut c = Mat::scratch(self.rows, self.cols, self.layout);
        c.data.copy_from_slice(&self.data);
        c
    }

    /// Give the buffer back to the pool.
    pub fn recycle(self) {
        recycle(self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_buffers_are_reused_and_sized() {
        let v = scratch(1 << 16);
        let ptr = v.as_ptr();
        recycle(v);
        let w = scratch((1 << 16) - 5);
        assert_eq!(w.as_ptr(), ptr, "the recycled buffer comes back");
        assert_eq!(w.len(), (1 << 16) - 5);
        recycle(w);
        let z = zeroed(1 << 16);
        assert!(z.iter().all(|&v| v == 0.0));
    }
}
