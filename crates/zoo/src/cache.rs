//! What the forward pass leaves for the tangent pass.

use crate::{Plain, Real};

/// Tensors recorded by a forward pass, read back in the same order by the
/// tangent pass (each layer pushes what its tangent needs: its input, a
/// normalised activation, attention probabilities, ...).
#[derive(Debug, Clone, Default)]
pub struct Cache<E: Real> {
    items: Vec<Plain<E>>,
    cursor: usize,
    /// The per-layer parameter tensors of the recorded forward, so the
    /// tangent pass neither rebuilds them nor mixes θ of another step.
    params: Option<Vec<Vec<Plain<E>>>>,
    /// The record of a forward on the fast path ([`crate::Backend::Fast`]),
    /// with the θ it ran at.
    pub(crate) fast: Option<(crate::fast::FastCache, Vec<f32>)>,
}

impl<E: Real> Cache<E> {
    /// An empty cache.
    pub fn new() -> Self {
        Cache {
            items: Vec::new(),
            cursor: 0,
            params: None,
            fast: None,
        }
    }

    /// Record a tensor (cheap: dfdx tensors share their data).
    pub fn push(&mut self, t: Plain<E>) {
        self.items.push(t);
    }

    /// Read the next recorded tensor.
    ///
    /// # Panics
    /// If a layer's tangent reads more than its forward recorded (a bug).
    pub fn next(&mut self) -> Plain<E> {
        let t = self
            .items
            .get(self.cursor)
            .cloned()
            .expect("tangent pass read past the forward cache");
        self.cursor += 1;
        t
    }

    /// Remember the parameter tensors the forward ran with.
    pub fn set_params(&mut self, params: Vec<Vec<Plain<E>>>) {
        self.params = Some(params);
    }

    /// The parameter tensors of the recorded forward, if stored.
    pub fn params(&self) -> Option<&Vec<Vec<Plain<E>>>> {
        self.params.as_ref()
    }

    /// Start reading from the beginning again.
    pub fn rewind(&mut self) {
        self.cursor = 0;
    }
}
