//! Products whose gradient has exactly-zero rows.
//!
//! After a CLS pool only one token row in T receives a gradient: the rows
//! of every other token are exactly zero all the way back to the last
//! attention. Zero rows add nothing to a weight gradient and give zero rows
//! of the input gradient, so an affine layer's backward multiplies only the
//! others when they are few (exact: the skipped terms are zeros).

use super::{column_sums, matmul, Layout, Mat, MatRef};

/// The rows of `m` that hold a value other than ±0 (NaN included), when
/// they are at most half of its rows; `None` when `m` is denser (then the
/// dense product is as cheap), or when more than half of its first 16 or
/// more rows are live (a dense matrix is recognised after a few rows; a
/// matrix dense at the start and sparse later is simply treated as dense).
pub fn sparse_rows(m: &Mat) -> Option<Vec<usize>> {
    if m.cols == 0 || m.rows < 2 {
        return None;
    }
    let mut live = Vec::new();
    for (i, row) in m.data.chunks_exact(m.cols).enumerate() {
        if row.iter().any(|&v| v != 0.0 || v.is_nan()) {
            live.push(i);
            let seen = i + 1;
            if 2 * live.len() > m.rows || (seen >= 16 && 2 * live.len() > seen) {
                return None;
            }
        }
    }
    Some(live)
}

/// Rows `rows` of `m`, stacked in order ([`Layout::Rows`]).
pub fn gather_rows(m: &Mat, rows: &[usize]) -> Mat {
    let c = m.cols;
    let mut out = Mat::scratch(rows.len(), c, Layout::Rows);
    for (o, &r) in out.data.chunks_exact_mut(c.max(1)).zip(rows) {
        o.copy_from_slice(m.row(r));
    }
    out
}

/// ∂x, ∂W and ∂b of y = x W (+ b) at ∂y = `dy`: ∂W = xᵀ∂y into `dw`
/// (overwritten), ∂b = Σ_rows ∂y into `db` if given, and ∂x = ∂y Wᵀ
/// (`x.rows × w.rows`, [`Layout::Rows`]) when `need_dx`. When at most half
/// of the rows of ∂y are nonzero ([`sparse_rows`]), only those rows are
/// multiplied and ∂x is zero elsewhere.
pub fn affine_backward(
    x: &Mat,
    dy: &Mat,
    w: MatRef<'_>,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    need_dx: bool,
) -> Option<Mat> {
    let (inputs, outputs) = (w.rows, w.cols);
    assert_eq!(
        (x.rows, x.cols, dy.rows, dy.cols),
        (dy.rows, inputs, x.rows, outputs),
        "affine backward: shapes"
    );
    let Some(live) = sparse_rows(dy) else {
        matmul(dw, outputs, x.view().t(), dy.view(), false);
        if let Some(db) = db {
            column_sums(dy, db);
        }
        return need_dx.then(|| {
            let mut dx = Mat::scratch(x.rows, inputs, Layout::Rows);
            matmul(&mut dx.data, inputs, dy.view(), w.t(), false);
            dx
        });
    };
    let (xs, dys) = (gather_rows(x, &live), gather_rows(dy, &live));
    matmul(dw, outputs, xs.view().t(), dys.view(), false);
    if let Some(db) = db {
        column_sums(&dys, db);
    }
    xs.recycle();
    let dx = need_dx.then(|| {
        let mut compact = Mat::scratch(live.len(), inputs, Layout::Rows);
        matmul(&mut compact.data, inputs, dys.view(), w.t(), false);
        let mut dx = Mat::zeroed(x.rows, inputs, Layout::Rows);
        for (row, &r) in compact.data.chunks_exact(inputs.max(1)).zip(&live) {
            dx.data[r * inputs..(r + 1) * inputs].copy_from_slice(row);
        }
        compact.recycle();
        dx
    });
    dys.recycle();
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_and_dense_gradients_agree() {
        let (n, i, o) = (12, 5, 3);
        let x = Mat::new(n, i, (0..n * i).map(|v| (v as f32 * 0.37).sin()).collect());
        let wv: Vec<f32> = (0..i * o).map(|v| (v as f32 * 0.11).cos()).collect();
        let w = MatRef::row_major(&wv, i, o);
        // Rows 0, 4 and 8 live (a CLS pool over T = 4), one of them a NaN.
        let mut dy = Mat::zeros(n, o, Layout::Rows);
        for r in [0, 4, 8] {
            for c in 0..o {
                dy.data[r * o + c] = (r * o + c) as f32 * 0.1 - 0.5;
            }
        }
        assert_eq!(sparse_rows(&dy), Some(vec![0, 4, 8]));
        let (mut dw, mut db) = (vec![f32::NAN; i * o], vec![f32::NAN; o]);
        let dx = affine_backward(&x, &dy, w, &mut dw, Some(&mut db), true).unwrap();
        let (mut dw2, mut db2) = (vec![0.0; i * o], vec![0.0; o]);
        matmul(&mut dw2, o, x.view().t(), dy.view(), false);
        column_sums(&dy, &mut db2);
        let mut dx2 = vec![0.0; n * i];
        matmul(&mut dx2, i, dy.view(), w.t(), false);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(u, v)| (u - v).abs() < 1e-6);
        assert!(close(&dw, &dw2) && close(&db, &db2) && close(&dx.data, &dx2));
        // A NaN row stays live; a dense matrix is not sparse.
        dy.data[1] = f32::NAN;
        assert_eq!(sparse_rows(&dy), Some(vec![0, 4, 8]));
        dy.data[3 * o] = f32::NAN;
        assert_eq!(sparse_rows(&dy), Some(vec![0, 3, 4, 8]));
        assert_eq!(sparse_rows(&x), None);
    }
}
