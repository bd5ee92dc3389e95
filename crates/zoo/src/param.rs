//! Parameter-space vectors: every trainable tensor of a model, flattened in
//! layer order. Directions, gradients and optimiser steps are all [`ParamVec`]s.

use crate::Real;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// How a parameter tensor is initialised (PyTorch defaults, spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Init {
    /// U(−b, b), e.g. b = 1/√fan_in for Linear/Conv weights and biases.
    Uniform(f64),
    /// N(0, σ²), e.g. σ = 0.02 for CLS and positions.
    Normal(f64),
    /// All ones (LayerNorm/BatchNorm gain).
    Ones,
    /// All zeros (LayerNorm/BatchNorm shift).
    Zeros,
}

/// One trainable tensor: its name, 2-D shape (rows, cols) and initialiser.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    /// Name within its layer, e.g. "weight".
    pub name: String,
    /// Shape (rows, cols); vectors are (1, n). Weights are (in, out).
    pub shape: (usize, usize),
    /// Initialiser.
    pub init: Init,
}

impl ParamSpec {
    /// A spec.
    pub fn new(name: &str, shape: (usize, usize), init: Init) -> Self {
        ParamSpec {
            name: name.into(),
            shape,
            init,
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.0 * self.shape.1
    }
}

/// A vector in parameter space (θ, a direction v, a gradient g, a step p).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamVec<E>(pub Vec<E>);

impl<E: Real> ParamVec<E> {
    /// The zero vector of length n.
    pub fn zeros(n: usize) -> Self {
        ParamVec(vec![E::zero(); n])
    }

    /// Number of scalar parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for a model without parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Inner product ⟨self, other⟩, accumulated in f64.
    pub fn dot(&self, other: &Self) -> f64 {
        assert_eq!(
            self.len(),
            other.len(),
            "parameter vectors of different models"
        );
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| a.to_f64().unwrap() * b.to_f64().unwrap())
            .sum()
    }

    /// Global L2 norm over all trainable tensors.
    pub fn norm(&self) -> f64 {
        self.dot(self).sqrt()
    }

    /// self ← self + α·x.
    pub fn axpy(&mut self, alpha: f64, x: &Self) {
        assert_eq!(self.len(), x.len(), "parameter vectors of different models");
        let a: E = crate::cast(alpha);
        self.0.iter_mut().zip(&x.0).for_each(|(s, &x)| *s += a * x);
    }

    /// self ← α·self.
    pub fn scale(&mut self, alpha: f64) {
        let a: E = crate::cast(alpha);
        self.0.iter_mut().for_each(|s| *s *= a);
    }

    /// A copy scaled to unit norm (the zero vector stays zero).
    pub fn normalized(&self) -> Self {
        let n = self.norm();
        let mut out = self.clone();
        if n > 0.0 {
            out.scale(1.0 / n);
        }
        out
    }

    /// Seeded random unit direction: iid N(0, 1) per parameter, normalised
    /// by the global norm (spec §6.2).
    pub fn random_unit(n: usize, seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let v: Vec<E> = (0..n)
            .map(|_| crate::cast(standard_normal(&mut rng)))
            .collect();
        ParamVec(v).normalized()
    }

    /// Convert to another element type.
    pub fn cast<F: Real>(&self) -> ParamVec<F> {
        ParamVec(
            self.0
                .iter()
                .map(|x| crate::cast(x.to_f64().unwrap()))
                .collect(),
        )
    }

    /// True if every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.0.iter().all(|x| x.is_finite())
    }
}

/// One N(0, 1) draw by Box–Muller (deterministic given the RNG stream).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Draw a tensor's initial values.
pub fn init_values(spec: &ParamSpec, rng: &mut impl Rng) -> Vec<f64> {
    (0..spec.numel())
        .map(|_| match spec.init {
            Init::Uniform(b) => rng.gen_range(-b..=b),
            Init::Normal(s) => s * standard_normal(rng),
            Init::Ones => 1.0,
            Init::Zeros => 0.0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_algebra() {
        let mut a = ParamVec(vec![3.0f64, 4.0]);
        assert_eq!(a.norm(), 5.0);
        a.axpy(2.0, &ParamVec(vec![1.0, 0.0]));
        assert_eq!(a.0, vec![5.0, 4.0]);
        a.scale(0.5);
        assert_eq!(a.0, vec![2.5, 2.0]);
        assert!((a.normalized().norm() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn random_unit_is_seeded_and_unit() {
        let a = ParamVec::<f64>::random_unit(1000, 7);
        assert!((a.norm() - 1.0).abs() < 1e-12);
        assert_eq!(a, ParamVec::random_unit(1000, 7));
        assert_ne!(a, ParamVec::random_unit(1000, 8));
        let mean: f64 = a.0.iter().sum::<f64>() / 1000.0;
        assert!(mean.abs() < 0.01);
    }
}
