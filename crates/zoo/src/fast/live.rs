//! Row liveness for the tangent pass: compute only the rows a later layer
//! reads.
//!
//! After a CLS pool only one token row in T reaches the logits, so in the
//! last block everything row-wise (the FFN branch, LayerNorms, the
//! attention's output projection) needs only the CLS rows' tangent. The
//! backward gets the same saving from the gradient itself (its rows are
//! exactly zero there, `sparse`); the tangent runs forward, so the model
//! asks each layer, from the last to the first, which input rows it reads
//! for the output rows wanted ([`FastLayer::live_input`]) and then runs
//! each layer's restricted tangent ([`FastLayer::tangent_rows`]).
//!
//! Only passes that report no probes restrict rows: a probe (attention
//! scores, FFN pre-activations) reports every row. The rows that are
//! computed are computed by the same arithmetic as in the full pass.

use super::{gather_rows, FastLayer, FastProbes, Mat, Record};
use crate::Mode;

/// Which rows of a [`Layout::Rows`](crate::fast::Layout::Rows) matrix a tangent pass computes. A
/// restricted tangent is compact: its row j is row `rows[j]` of the full one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    /// Every row.
    All,
    /// These rows, strictly ascending.
    Rows(Vec<usize>),
}

impl Live {
    /// Rows wanted by either.
    pub fn union(&self, other: &Live) -> Live {
        match (self, other) {
            (Live::Rows(a), Live::Rows(b)) => {
                let mut rows: Vec<usize> = a.iter().chain(b).copied().collect();
                rows.sort_unstable();
                rows.dedup();
                Live::Rows(rows)
            }
            _ => Live::All,
        }
    }

    /// `m`, whose rows are `self`'s, restricted to the rows `to` (a subset
    /// of `self`): a new matrix, `m` untouched.
    ///
    /// # Panics
    /// If `to` asks for a row `self` does not hold.
    pub fn select(&self, m: &Mat, to: &Live) -> Mat {
        match (self, to) {
            (_, Live::All) => {
                assert_eq!(*self, Live::All, "live rows: cannot widen to all rows");
                m.pooled_copy()
            }
            (Live::All, Live::Rows(rows)) => gather_rows(m, rows),
            (Live::Rows(from), Live::Rows(rows)) => {
                let at: Vec<usize> = rows
                    .iter()
                    .map(|r| {
                        from.binary_search(r)
                            .unwrap_or_else(|_| panic!("live rows: row {r} was not computed"))
                    })
                    .collect();
                gather_rows(m, &at)
            }
        }
    }
}

/// For each layer of a chain, the rows of its input and of its output that
/// a tangent pass computes when the rows `out` of the chain's output are
/// wanted (one `(input, output)` per layer, in order). A layer without a
/// restricted tangent reads all its input rows.
pub fn chain_liveness(
    layers: &[Box<dyn FastLayer>],
    recs: &[Record],
    out: Live,
) -> Vec<(Live, Live)> {
    let mut plan = Vec::with_capacity(layers.len());
    let mut wanted = out;
    for (layer, rec) in layers.iter().zip(recs).rev() {
        let input = layer.live_input(&wanted, rec).unwrap_or(Live::All);
        plan.push((input.clone(), wanted));
        wanted = input;
    }
    plan.reverse();
    plan
}

/// One layer's tangent under its `(input, output)` rows from
/// [`chain_liveness`]: the full tangent when both are all rows (probes
/// reported), else [`FastLayer::tangent_rows`] (no probes).
#[allow(clippy::too_many_arguments)]
pub fn layer_tangent(
    layer: &dyn FastLayer,
    p: &[&[f32]],
    dp: &[&[f32]],
    dx: Option<Mat>,
    mode: Mode,
    rec: &Record,
    probes: &mut FastProbes,
    rows: &(Live, Live),
) -> Mat {
    match rows {
        (Live::All, Live::All) => layer.tangent(p, dp, dx, mode, rec, probes),
        (input, out) => layer.tangent_rows(p, dp, dx, mode, rec, input, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::Layout;

    #[test]
    fn union_and_select_keep_rows_in_order() {
        let a = Live::Rows(vec![0, 4, 8]);
        let b = Live::Rows(vec![2, 4]);
        assert_eq!(a.union(&b), Live::Rows(vec![0, 2, 4, 8]));
        assert_eq!(a.union(&Live::All), Live::All);
        let m = Mat::new(4, 2, (0..8).map(|v| v as f32).collect());
        // Rows 0, 2, 4, 8 held compactly; select rows 4 and 8.
        let held = Live::Rows(vec![0, 2, 4, 8]);
        let s = held.select(&m, &Live::Rows(vec![4, 8]));
        assert_eq!(s.data, vec![4.0, 5.0, 6.0, 7.0]);
        let s = Live::All.select(&m, &Live::Rows(vec![1, 3]));
        assert_eq!(s.data, vec![2.0, 3.0, 6.0, 7.0]);
        assert_eq!(held.select(&m, &held), m);
        assert_eq!(s.layout, Layout::Rows);
    }

    #[test]
    #[should_panic(expected = "was not computed")]
    fn selecting_a_row_that_was_not_computed_panics() {
        let m = Mat::new(2, 1, vec![1.0, 2.0]);
        Live::Rows(vec![0, 3]).select(&m, &Live::Rows(vec![1]));
    }
}
