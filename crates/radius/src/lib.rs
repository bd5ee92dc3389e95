//! # radius: the convergence radius of cross-entropy along a direction
//!
//! Pure `f64` mathematics of *Ghosts of Softmax* (arXiv 2603.13552), with no
//! tensor library: everything here takes plain slices of logits `z` and
//! directional logit derivatives ("slopes") `a = J_z v`.
//!
//! Along a direction `v`, with linearised logits `z_k + a_k t`, the loss of a
//! sample is `-z_y - a_y t + log F(t)` with the partition function
//! `F(t) = sum_k exp(z_k + a_k t)`. `F` is positive on the real line but has
//! complex zeros ("ghosts"); the nearest one caps the Taylor radius of the loss.
//!
//! | paper symbol | here |
//! |---|---|
//! | Δa = max_k a_k − min_k a_k | [`delta_a`] |
//! | ρa = π / Δa | [`rho_a`], [`set_rho_a`] for a sample set |
//! | r = τ / ρa | [`normalized_step`] |
//! | ρ* = √(δ² + π²) / \|Δ\| (binary) | [`binary_radius`], [`binary_ghost`] |
//! | top-2 reduction (eq. 13) | [`top2`] |
//! | exact nearest zero of F (future work in the paper) | [`exact_radius`] |
//! | π T / Δa (temperature) | [`rho_a_tempered`] |
//! | KL(p(τ)‖p(0)) ≈ (τ²/2) Var(a), remainder ≤ \|τ\|³Δa³/(18√3) | [`kl`] |
//! | σ(δ)(1 − σ(δ)) vs √(δ² + π²) (Appendix 5) | [`logistic`] |
//! | kink distance \|h\|/\|ḣ\| (Appendix 2); ρ_ffn = its 1% quantile (Table 2) | [`kink_distance`], [`rho_ffn`] |
//!
//! Architecture invariant: this crate knows nothing of tensors, models or
//! files. It is the one place the paper's formulas live.

#![warn(missing_docs)]

pub mod binary;
pub mod exact;
pub mod kink;
pub mod kl;
pub mod logistic;
pub mod spread;

pub use binary::{binary_ghost, binary_radius, top2, Top2};
pub use exact::{exact_radius, ExactError, ExactRadius};
pub use kink::{kink_distance, rho_ffn, KINK_TANGENT_FLOOR};
pub use spread::{
    delta_a, max_row_spread, normalized_step, normalized_step_tempered, quantile,
    quantile_in_place, rho_a, rho_a_from_delta, rho_a_tempered, set_rho_a, spreads_of_rows,
    Aggregation, SetRadius,
};
