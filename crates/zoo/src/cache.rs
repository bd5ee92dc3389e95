//! What the forward pass leaves for the tangent pass.

use crate::{Plain, Real};

/// Tensors recorded by a forward pass, read back in the same order by the
/// tangent pass (each layer pushes what its tangent needs: its input, a
/// normalised activation, attention probabilities, ...).
#[derive(Debug, Clone, Default)]
pub struct Cache<E: Real> {
    items: Vec<Plain<E>>,
    cursor: usize,
}

impl<E: Real> Cache<E> {
    /// An empty cache.
    pub fn new() -> Self {
        Cache {
            items: Vec::new(),
            cursor: 0,
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

    /// Start reading from the beginning again.
    pub fn rewind(&mut self) {
        self.cursor = 0;
    }
}
