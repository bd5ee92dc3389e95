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
    if narrow::product(dst, dst_stride, a, b, accumulate) {
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

/// Products with at most 16 columns (every model's 10-class head, and its
/// tangent): gemm runs them through its 16 × 6 edge kernel at a third of
/// its speed. Here each row's ≤ 16 outputs sit in one vector register and
/// eight rows advance together, each output accumulated over k in order
/// with fused multiply-adds from zero and then added to `dst`, as gemm's
/// kernels do, so the values are gemm's (tested). Only on CPUs with FMA
/// (AVX2 or AVX-512, chosen at run time); elsewhere gemm runs.
mod narrow {
    use super::MatRef;

    /// Widest product this path takes.
    const WIDTH: usize = 16;
    /// Rows advanced together.
    const ROWS: usize = 8;
    /// Longest inner dimension (gemm accumulates longer ones in blocks).
    const MAX_K: usize = 256;

    /// `dst (+)= a·b` if the shape suits this path and the CPU has FMA;
    /// false (nothing written) otherwise.
    pub(super) fn product(
        dst: &mut [f32],
        dst_stride: usize,
        a: MatRef<'_>,
        b: MatRef<'_>,
        accumulate: bool,
    ) -> bool {
        let (k, n) = (a.cols, b.cols);
        if n > WIDTH || k > MAX_K || a.rows < ROWS || !has_fma() {
            return false;
        }
        // b, zero-padded to WIDTH columns, row-major.
        let mut bp = vec![0.0f32; k * WIDTH];
        for (l, row) in bp.chunks_exact_mut(WIDTH).enumerate() {
            for (j, v) in row[..n].iter_mut().enumerate() {
                *v = b.data[l * b.row_stride + j * b.col_stride];
            }
        }
        kernel(dst, dst_stride, a, &bp, n, accumulate);
        true
    }

    fn has_fma() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// The loops ([`product`]): compiled for AVX-512 and AVX2 with FMA; the
    /// baseline version is never called (`has_fma`).
    #[multiversion::multiversion(targets(
        "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
        "x86_64+avx2+fma"
    ))]
    fn kernel<'a>(
        dst: &mut [f32],
        dst_stride: usize,
        a: MatRef<'a>,
        bp: &[f32],
        n: usize,
        accumulate: bool,
    ) {
        let (m, k) = (a.rows, a.cols);
        let at = |i: usize, l: usize| a.data[i * a.row_stride + l * a.col_stride];
        let mut store = |i: usize, acc: &[f32; WIDTH]| {
            let out = &mut dst[i * dst_stride..i * dst_stride + n];
            for (o, &v) in out.iter_mut().zip(acc) {
                *o = if accumulate { *o + v } else { v };
            }
        };
        let mut i = 0;
        while i + ROWS <= m {
            let mut acc = [[0.0f32; WIDTH]; ROWS];
            for (l, brow) in bp.chunks_exact(WIDTH).enumerate() {
                let brow: &[f32; WIDTH] = brow.try_into().unwrap();
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = at(i + r, l);
                    for (v, &w) in acc.iter_mut().zip(brow) {
                        *v = x.mul_add(w, *v);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                store(i + r, acc);
            }
            i += ROWS;
        }
        for i in i..m {
            let mut acc = [0.0f32; WIDTH];
            for l in 0..k {
                let x = at(i, l);
                for (v, &w) in acc.iter_mut().zip(&bp[l * WIDTH..(l + 1) * WIDTH]) {
                    *v = x.mul_add(w, *v);
                }
            }
            store(i, &acc);
        }
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

    /// The narrow path gives gemm's values bit for bit, overwriting and
    /// accumulating, on the shapes the models use (10-class heads).
    #[test]
    fn narrow_products_equal_gemm() {
        for &(m, k, n) in &[
            (45, 32, 10),
            (64, 128, 10),
            (1438, 128, 10),
            (9, 64, 16),
            (13, 3, 7),
        ] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7919 % 1013) as f32 - 506.0) * 1e-3)
                .collect();
            let w: Vec<f32> = (0..k * n)
                .map(|i| ((i * 104_729 % 997) as f32 - 498.0) * 1e-3)
                .collect();
            let (a, b) = (MatRef::row_major(&x, m, k), MatRef::row_major(&w, k, n));
            for accumulate in [false, true] {
                let init: Vec<f32> = (0..m * n).map(|i| (i % 13) as f32 * 0.1).collect();
                let mut ours = init.clone();
                if !super::narrow::product(&mut ours, n, a, b, accumulate) {
                    return; // no FMA on this CPU: gemm runs anyway
                }
                let mut reference = init;
                // SAFETY: as in `matmul` (row-major views of exact lengths).
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        reference.as_mut_ptr(),
                        1,
                        n as isize,
                        accumulate,
                        x.as_ptr(),
                        1,
                        k as isize,
                        w.as_ptr(),
                        1,
                        n as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                assert_eq!(ours, reference, "{m}x{k}x{n}, accumulate {accumulate}");
            }
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
