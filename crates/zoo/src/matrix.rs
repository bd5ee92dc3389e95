//! [`Matrix`]: the zoo's public currency for inputs, logits, slopes and
//! probes. Plain row-major buffers, so callers need no tensor library and
//! either backend (dfdx or the fast f32 path) can fill them.

/// A row-major 2-D array of `rows × cols` values.
///
/// Inputs are (samples, features); logits and slopes (samples, classes);
/// probes as [`crate::ProbeKind`] describes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matrix<E> {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows × cols` values, row-major.
    pub data: Vec<E>,
}

impl<E> Matrix<E> {
    /// A `rows × cols` matrix from row-major `data`.
    ///
    /// # Panics
    /// If `data` does not hold `rows × cols` values.
    pub fn new(rows: usize, cols: usize, data: Vec<E>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "Matrix::new: {rows}x{cols} needs {} values, got {}",
            rows * cols,
            data.len()
        );
        Matrix { rows, cols, data }
    }

    /// (rows, cols).
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[E] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows, in order.
    pub fn row_iter(&self) -> std::slice::ChunksExact<'_, E> {
        self.data.chunks_exact(self.cols.max(1))
    }

    /// The values, row-major.
    pub fn as_slice(&self) -> &[E] {
        &self.data
    }

    /// A copy of the values, row-major.
    pub fn as_vec(&self) -> Vec<E>
    where
        E: Clone,
    {
        self.data.clone()
    }

    /// The values, row-major, by value.
    pub fn into_vec(self) -> Vec<E> {
        self.data
    }
}

impl<E: crate::Real> Matrix<E> {
    /// Zeros, `rows × cols`.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix::new(rows, cols, vec![E::zero(); rows * cols])
    }

    /// The values as f64, row-major (what the `radius` crate takes).
    pub fn to_f64(&self) -> Vec<f64> {
        self.data.iter().map(|v| crate::to_f64(*v)).collect()
    }

    /// The rows `indices`, in that order.
    pub fn select_rows(&self, indices: &[usize]) -> Self {
        let mut data = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Matrix::new(indices.len(), self.cols, data)
    }

    /// `s·self`, elementwise.
    pub fn scaled(mut self, s: f64) -> Self {
        let s = crate::cast::<E>(s);
        for v in self.data.iter_mut() {
            *v = *v * s;
        }
        self
    }

    /// `self + s·other`, elementwise (same shape).
    ///
    /// # Panics
    /// If the shapes differ.
    pub fn add_scaled(&self, s: f64, other: &Self) -> Self {
        assert_eq!(self.shape(), other.shape(), "add_scaled: shapes differ");
        let s = crate::cast::<E>(s);
        let data = self
            .data
            .iter()
            .zip(&other.data)
            .map(|(&a, &b)| a + s * b)
            .collect();
        Matrix::new(self.rows, self.cols, data)
    }
}

/// Elementwise difference (same shape; panics otherwise).
impl<E: crate::Real> std::ops::Sub for Matrix<E> {
    type Output = Matrix<E>;
    fn sub(self, other: Matrix<E>) -> Matrix<E> {
        self.add_scaled(-1.0, &other)
    }
}
