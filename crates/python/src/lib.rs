//! `ghosts._core`: the `radius` crate for Python, batched over numpy arrays.
//!
//! Every formula is the `radius` crate's: this crate reads arrays, checks
//! them (with the messages of `ghosts radius`), calls `radius` per sample
//! with the GIL released, and writes arrays. The public, documented API is
//! the pure-Python package `ghosts` (python/ghosts/__init__.py), which wraps
//! these functions' tuples in named tuples; `_core.pyi` types them.
//!
//! Inputs: float64 or float32 numpy arrays of any memory order (C, Fortran,
//! strided), read in logical row-major order and widened exactly to f64;
//! other array-likes go through `numpy.asarray(x, dtype="float64")`. Outputs
//! are new float64 / complex128 / int64 arrays.

use num_complex::Complex64;
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};
use radius::{Aggregation, ExactError};

/// An array read as f64 in logical (C) order, with its shape.
struct Values {
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// A (B, K) matrix: B samples of K classes, row-major.
struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    fn shape(&self) -> String {
        shape_text(&[self.rows, self.cols])
    }
}

/// A shape as Python prints it: `(3,)`, `(2, 5)`.
fn shape_text(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Reads `obj` (named `name` in errors) as f64 values.
fn read_values(py: Python<'_>, name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Values> {
    if let Ok(array) = obj.cast::<PyArrayDyn<f64>>() {
        let view = array.try_readonly()?;
        let view = view.as_array();
        return Ok(Values {
            shape: view.shape().to_vec(),
            data: view.iter().copied().collect(),
        });
    }
    if let Ok(array) = obj.cast::<PyArrayDyn<f32>>() {
        let view = array.try_readonly()?;
        let view = view.as_array();
        return Ok(Values {
            shape: view.shape().to_vec(),
            data: view.iter().map(|&v| f64::from(v)).collect(),
        });
    }
    if let Ok(array) = obj.cast::<PyUntypedArray>() {
        return Err(PyTypeError::new_err(format!(
            "{name} has dtype {}: float64 or float32 expected",
            array.dtype()
        )));
    }
    let converted = py
        .import("numpy")?
        .call_method1("asarray", (obj, "float64"))?;
    let array = converted.cast::<PyArrayDyn<f64>>()?;
    let view = array.try_readonly()?;
    let view = view.as_array();
    Ok(Values {
        shape: view.shape().to_vec(),
        data: view.iter().copied().collect(),
    })
}

/// Reads a (B, K) matrix with K ≥ 1.
fn read_matrix(py: Python<'_>, name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Matrix> {
    let values = read_values(py, name, obj)?;
    let &[rows, cols] = values.shape.as_slice() else {
        return Err(PyValueError::new_err(format!(
            "{name} must be a 2-D array of shape (B, K) (samples x classes); got shape {}",
            shape_text(&values.shape)
        )));
    };
    if cols == 0 {
        return Err(PyValueError::new_err(format!(
            "{name} has shape {}: empty input: at least one class expected",
            shape_text(&values.shape)
        )));
    }
    Ok(Matrix {
        rows,
        cols,
        data: values.data,
    })
}

/// The first NaN or infinite entry as the exact radius reports it:
/// "sample i: slope k is NaN: finite numbers expected".
fn check_finite(m: &Matrix, what: &'static str) -> PyResult<()> {
    match m.data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(at) => Err(sample_error(
            at / m.cols,
            &ExactError::NonFinite {
                what,
                index: at % m.cols,
                value: m.data[at],
            },
        )),
    }
}

/// A sample's error, worded as `ghosts radius --file` words it (the file
/// and line there; the 0-based sample index here).
fn sample_error(sample: usize, e: &ExactError) -> PyErr {
    let text = format!("sample {sample}: {e}");
    match e {
        ExactError::NotCertified(_) => PyRuntimeError::new_err(text),
        _ => PyValueError::new_err(text),
    }
}

/// Logits and slopes of one shape, or the CLI's "one slope per logit" error
/// (`ghosts radius`: "--logits has 3 values but --slopes has 2: one slope
/// per logit expected").
fn check_pair(logits: &Matrix, slopes: &Matrix) -> PyResult<()> {
    if (logits.rows, logits.cols) == (slopes.rows, slopes.cols) {
        return Ok(());
    }
    Err(PyValueError::new_err(format!(
        "logits has shape {} but slopes has shape {}: one slope per logit expected",
        logits.shape(),
        slopes.shape()
    )))
}

/// Logits and slopes read as matrices of one shape with finite entries
/// (the inputs of `rho_top2` and `rho_exact`), or the CLI's errors.
fn read_logits_and_slopes(
    py: Python<'_>,
    logits: &Bound<'_, PyAny>,
    slopes: &Bound<'_, PyAny>,
) -> PyResult<(Matrix, Matrix)> {
    let logits = read_matrix(py, "logits", logits)?;
    let slopes = read_matrix(py, "slopes", slopes)?;
    check_pair(&logits, &slopes)?;
    check_finite(&logits, "logit")?;
    check_finite(&slopes, "slope")?;
    Ok((logits, slopes))
}

/// Spread Δa = max_k a_k − min_k a_k of every sample (`radius::spreads_of_rows`).
#[pyfunction]
fn delta_a<'py>(
    py: Python<'py>,
    slopes: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let slopes = read_matrix(py, "slopes", slopes)?;
    check_finite(&slopes, "slope")?;
    let spreads = py.detach(|| radius::spreads_of_rows(&slopes.data, slopes.cols));
    Ok(PyArray1::from_vec(py, spreads))
}

fn aggregation(value: &Bound<'_, PyAny>) -> PyResult<Aggregation> {
    let wrong = || {
        PyValueError::new_err(format!(
            "aggregation must be \"max\" or a quantile q in [0, 1]; got {}",
            value
                .repr()
                .map_or_else(|_| "?".to_string(), |r| r.to_string())
        ))
    };
    if let Ok(text) = value.cast::<PyString>() {
        return match text.to_str()? {
            "max" => Ok(Aggregation::Max),
            _ => Err(wrong()),
        };
    }
    if value.is_instance_of::<PyBool>() {
        return Err(wrong());
    }
    match value.extract::<f64>() {
        Ok(q) if (0.0..=1.0).contains(&q) => Ok(Aggregation::Quantile(q)),
        _ => Err(wrong()),
    }
}

/// Set radius ρa(S) = π / Δa(S) with the bottleneck sample
/// (`radius::set_rho_a`), and every sample's ρa (`radius::rho_a`).
///
/// Returns (rho_a, delta_a, bottleneck, per_sample_rho_a).
#[pyfunction]
#[allow(clippy::type_complexity)]
fn rho_a<'py>(
    py: Python<'py>,
    slopes: &Bound<'py, PyAny>,
    aggregation: &Bound<'py, PyAny>,
) -> PyResult<(f64, f64, Option<usize>, Bound<'py, PyArray1<f64>>)> {
    let aggregation = self::aggregation(aggregation)?;
    let slopes = read_matrix(py, "slopes", slopes)?;
    check_finite(&slopes, "slope")?;
    let (rho, spread, bottleneck, per_sample) = py.detach(|| {
        let rows = || slopes.data.chunks_exact(slopes.cols);
        let per_sample: Vec<f64> = rows().map(radius::rho_a).collect();
        let spreads = radius::spreads_of_rows(&slopes.data, slopes.cols);
        if spreads.iter().all(|d| d.is_finite()) {
            let set = radius::set_rho_a(&spreads, aggregation);
            (set.rho_a, set.delta_a, set.bottleneck, per_sample)
        } else {
            // A spread of finite slopes beyond the f64 range (slopes near
            // ±1e308), as `ghosts radius --file` does: aggregate the half
            // spreads h, which always fit (same order, same interpolation).
            // The radius π/(2h) is that of the slopes (−h, h), whose spread
            // 2h `radius::rho_a` handles in halves when it overflows.
            let halves: Vec<f64> = rows()
                .map(|r| radius::delta_a(&r.iter().map(|a| a * 0.5).collect::<Vec<_>>()))
                .collect();
            let set = radius::set_rho_a(&halves, aggregation);
            let h = set.delta_a;
            (radius::rho_a(&[-h, h]), h * 2.0, set.bottleneck, per_sample)
        }
    });
    Ok((rho, spread, bottleneck, PyArray1::from_vec(py, per_sample)))
}

/// Labels as int64 of shape (B,), each in 0..K.
fn read_labels(labels: &Bound<'_, PyAny>, rows: usize, classes: usize) -> PyResult<Vec<usize>> {
    let array = labels.cast::<PyArrayDyn<i64>>().map_err(|_| {
        PyTypeError::new_err(
            "labels must be an int64 array (the ghosts package converts integer arrays)",
        )
    })?;
    let view = array.try_readonly()?;
    let view = view.as_array();
    if view.shape() != [rows] {
        return Err(PyValueError::new_err(format!(
            "labels has shape {} but logits has {rows} samples: one label per sample expected",
            shape_text(view.shape())
        )));
    }
    view.iter()
        .enumerate()
        .map(|(i, &y)| {
            usize::try_from(y)
                .ok()
                .filter(|&y| y < classes)
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "sample {i}: label {y} is out of range: {classes} classes (labels 0..{})",
                        classes - 1
                    ))
                })
        })
        .collect()
}

/// Complex "no ghost" marker: NaN + NaN i.
const NO_GHOST: Complex64 = Complex64::new(f64::NAN, f64::NAN);

/// Top-2 reduction of every sample (`radius::top2`, paper eq. 13).
///
/// Returns (rho_top2, ghost, label, competitor, margin, slope_gap).
#[pyfunction]
#[pyo3(signature = (logits, slopes, labels=None))]
#[allow(clippy::type_complexity)]
fn rho_top2<'py>(
    py: Python<'py>,
    logits: &Bound<'py, PyAny>,
    slopes: &Bound<'py, PyAny>,
    labels: Option<&Bound<'py, PyAny>>,
) -> PyResult<(
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<Complex64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
)> {
    let (logits, slopes) = read_logits_and_slopes(py, logits, slopes)?;
    let labels = labels
        .map(|l| read_labels(l, logits.rows, logits.cols))
        .transpose()?;
    let n = logits.rows;
    let (mut rho, mut ghost, mut class, mut competitor, mut margin, mut gap) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    py.detach(|| {
        for i in 0..n {
            let label = labels.as_ref().map(|l| l[i]);
            match radius::top2(logits.row(i), slopes.row(i), label) {
                Some(t) => {
                    rho.push(t.rho_top2);
                    ghost.push(t.ghost.unwrap_or(NO_GHOST));
                    class.push(t.class as i64);
                    competitor.push(t.competitor as i64);
                    margin.push(t.margin);
                    gap.push(t.slope_gap);
                }
                // One class: no competitor, no ghost (`ghosts radius`
                // prints rho_top2 inf).
                None => {
                    rho.push(f64::INFINITY);
                    ghost.push(NO_GHOST);
                    class.push(label.unwrap_or(0) as i64);
                    competitor.push(-1);
                    margin.push(f64::NAN);
                    gap.push(f64::NAN);
                }
            }
        }
    });
    Ok((
        PyArray1::from_vec(py, rho),
        PyArray1::from_vec(py, ghost),
        PyArray1::from_vec(py, class),
        PyArray1::from_vec(py, competitor),
        PyArray1::from_vec(py, margin),
        PyArray1::from_vec(py, gap),
    ))
}

/// Certified exact radius of every sample (`radius::exact_radius`): the
/// nearest complex zero of F(t) = Σ_k exp(z_k + a_k t).
///
/// Returns (rho_exact, ghost, certified_zero_free).
#[pyfunction]
#[allow(clippy::type_complexity)]
fn rho_exact<'py>(
    py: Python<'py>,
    logits: &Bound<'py, PyAny>,
    slopes: &Bound<'py, PyAny>,
) -> PyResult<(
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<Complex64>>,
    Bound<'py, PyArray1<f64>>,
)> {
    let (logits, slopes) = read_logits_and_slopes(py, logits, slopes)?;
    let results = py.detach(|| {
        (0..logits.rows)
            .map(|i| radius::exact_radius(logits.row(i), slopes.row(i)).map_err(|e| (i, e)))
            .collect::<Result<Vec<_>, _>>()
    });
    let results = results.map_err(|(i, e)| sample_error(i, &e))?;
    let rho = results.iter().map(|r| r.rho_exact).collect();
    let ghost = results
        .iter()
        .map(|r| r.ghost.unwrap_or(NO_GHOST))
        .collect();
    let free = results.iter().map(|r| r.certified_zero_free).collect();
    Ok((
        PyArray1::from_vec(py, rho),
        PyArray1::from_vec(py, ghost),
        PyArray1::from_vec(py, free),
    ))
}

/// Exact two-class radius √(δ² + π²)/|Δ| (`radius::binary_radius`, paper
/// eq. 7), elementwise over equal shapes.
#[pyfunction]
fn binary_radius<'py>(
    py: Python<'py>,
    margin: &Bound<'py, PyAny>,
    slope: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let margin = read_values(py, "margin", margin)?;
    let slope = read_values(py, "slope", slope)?;
    if margin.shape != slope.shape {
        return Err(PyValueError::new_err(format!(
            "margin has shape {} but slope has shape {}: one slope per margin expected",
            shape_text(&margin.shape),
            shape_text(&slope.shape)
        )));
    }
    for (what, values) in [("margin", &margin), ("slope", &slope)] {
        if let Some(at) = values.data.iter().position(|v| !v.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "{what} {at} is {}: finite numbers expected",
                values.data[at]
            )));
        }
    }
    let radii: Vec<f64> = py.detach(|| {
        margin
            .data
            .iter()
            .zip(&slope.data)
            .map(|(&d, &s)| radius::binary_radius(d, s))
            .collect()
    });
    PyArray1::from_vec(py, radii).reshape(margin.shape)
}

/// The compiled half of the `ghosts` package (see `ghosts/__init__.py`).
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("CERTIFY_SHRINK", radius::exact::CERTIFY_SHRINK)?;
    m.add_function(wrap_pyfunction!(delta_a, m)?)?;
    m.add_function(wrap_pyfunction!(rho_a, m)?)?;
    m.add_function(wrap_pyfunction!(rho_top2, m)?)?;
    m.add_function(wrap_pyfunction!(rho_exact, m)?)?;
    m.add_function(wrap_pyfunction!(binary_radius, m)?)?;
    Ok(())
}
