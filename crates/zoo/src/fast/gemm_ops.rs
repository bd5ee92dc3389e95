//! The one safe door to the `gemm` crate: bounds-checked strided views.

/// A read-only strided view of a matrix: element (i, j) is
/// `data[i·row_stride + j·col_stride]`. Rows may overlap (a k = 3
/// convolution reads each padded input row three times through one view).
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A view with explicit strides.
    ///
    /// # Panics
    /// If some element (i, j) of the view lies outside `data`.
    pub fn strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * row_stride + (cols - 1) * col_stride;
            assert!(last < data.len(), "MatRef: {rows}x{cols} view with strides ({row_stride}, {col_stride}) reads index {last} of {}", data.len());
        }
        MatRef {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// A dense row-major `rows × cols` view.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "MatRef::row_major: {rows}x{cols} over {} values",
            data.len()
        );
        Self::strided(data, rows, cols, cols, 1)
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }
}

thread_local! {
    /// Floating-point operations (2·m·k·n per product) of this thread's
    /// [`matmul`] calls so far.
    static GEMM_FLOPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The floating-point operations (2·m·k·n per product: a multiply and an
/// add per term) of every [`matmul`] this thread has run so far: with a
/// step's wall time, the arithmetic rate its products reach (benchmarks
/// and profiles; a counter, never a result).
pub fn gemm_flops() -> u64 {
    GEMM_FLOPS.with(|c| c.get())
}

/// `dst = a·b` (or `dst += a·b` with `accumulate`), single-threaded.
/// `dst` is row-major with row stride `dst_stride` (≥ `b.cols`), so a
/// product can land in a shifted or interleaved window of a larger buffer.
///
/// # Panics
/// On mismatched inner dimensions or a `dst` too short for the product.
pub fn matmul(dst: &mut [f32], dst_stride: usize, a: MatRef<'_>, b: MatRef<'_>, accumulate: bool) {
    assert_eq!(
        a.cols, b.rows,
        "matmul: ({}x{})·({}x{})",
        a.rows, a.cols, b.rows, b.cols
    );
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    GEMM_FLOPS.with(|c| c.set(c.get() + 2 * (m * k * n) as u64));
    assert!(
        dst_stride >= n,
        "matmul: row stride {dst_stride} < {n} columns"
    );
    assert!(
        (m - 1) * dst_stride + n <= dst.len(),
        "matmul: {m}x{n} result with row stride {dst_stride} does not fit {} values",
        dst.len()
    );
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                dst[i * dst_stride..i * dst_stride + n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: every index gemm touches is inside the slices: the views were
    // bounds-checked at construction ((rows−1)·rs + (cols−1)·cs < len) and
    // `dst` just above; strides are non-negative usizes that fit isize
    // because they index allocated slices. `dst` is a unique borrow, so it
    // aliases neither operand; the operands are only read.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: MatRef, b: MatRef) -> Vec<f32> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for l in 0..a.cols {
                    out[i * b.cols + j] += a.data[i * a.row_stride + l * a.col_stride]
                        * b.data[l * b.row_stride + j * b.col_stride];
                }
            }
        }
        out
    }

    #[test]
    fn strided_overlapping_and_transposed_products_match_the_naive_loop() {
        let x: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..24).map(|i| (i as f32 * 0.11).cos()).collect();
        // Overlapping rows: row i = x[2i .. 2i+6] (a k = 3 window over 2 channels).
        let a = MatRef::strided(&x, 10, 6, 2, 1);
        let b = MatRef::row_major(&w, 6, 4);
        let mut c = vec![0.0; 40];
        matmul(&mut c, 4, a, b, false);
        for (u, v) in c.iter().zip(naive(a, b)) {
            assert!((u - v).abs() < 1e-5);
        }
        // Accumulate into a transposed product: c += aᵀ·d.
        let d: Vec<f32> = (0..40).map(|i| i as f32 * 0.01).collect();
        let dm = MatRef::row_major(&d, 10, 4);
        let mut e = vec![1.0; 24];
        matmul(&mut e, 4, a.t(), dm, true);
        for (u, v) in e.iter().zip(naive(a.t(), dm)) {
            assert!((u - (v + 1.0)).abs() < 1e-4);
        }
    }

    #[test]
    #[should_panic(expected = "reads index")]
    fn a_view_past_the_end_is_refused() {
        // The last element (2, 3) sits at 2·3 + 3 = 9: one past a 9-long slice.
        let x = vec![0.0; 9];
        MatRef::strided(&x, 3, 4, 3, 1);
    }
}
