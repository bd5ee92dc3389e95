//! Directional curvature κ = vᵀHv of the mean loss (paper App. 5.4; spec
//! §6.3–6.4: "HVP: forward-over-reverse or f64 central differences of
//! gradients").
//!
//! We take the second route: the exact reverse-mode gradient at θ ± εv, in
//! f64, differenced along v,
//!
//! ```text
//! κ ≈ vᵀ(∇L(θ + εv) − ∇L(θ − εv)) / (2ε),
//! ```
//!
//! which is vᵀHv up to O(ε²) truncation (the next term is
//! ε²/6 · ∂⁴L[v, v, v, v]) plus rounding of order 1e-16·‖∇L‖/ε. With
//! ε = 1e-4 ([`DEFAULT_EPS`]) and unit v both are far below 1e-7 relative on
//! the digits models (the test compares the linear model with the analytic
//! aᵀ(diag p − ppᵀ)a). Only the two gradients are finite-differenced; each is
//! exact. Piecewise-linear layers (ReLU, max-pool) make κ one-sided where
//! θ ± εv straddles a kink; the paper's models with such layers are not
//! used here.

use crate::{cast, Batch, Mode, Model, ParamVec, Real, State};

/// Default central-difference step along the unit direction.
pub const DEFAULT_EPS: f64 = 1e-4;

/// κ = vᵀ∇²L(θ)v of the mean (tempered) training loss of `batch` at
/// `state`, by central differences of exact f64 gradients (eval mode, so
/// BatchNorm uses its running statistics and `state` is not touched). `v`
/// need not be unit; κ scales as ‖v‖² (ε is applied to `v` as given).
pub fn directional_curvature(
    model: &Model<f64>,
    state: &State<f64>,
    batch: &Batch<f64>,
    v: &ParamVec<f64>,
    eps: f64,
) -> f64 {
    assert!(
        eps > 0.0 && eps.is_finite(),
        "curvature step must be positive"
    );
    let grad_dot_v = |sign: f64| {
        let mut moved = state.clone();
        moved.params.axpy(sign * eps, v);
        model
            .loss_and_grad(&mut moved, batch, Mode::Eval)
            .grad
            .dot(v)
    };
    (grad_dot_v(1.0) - grad_dot_v(-1.0)) / (2.0 * eps)
}

/// A state in another element type (e.g. the f32 training state for an f64
/// check). Values are converted through f64.
pub fn cast_state<E: Real, F: Real>(state: &State<E>) -> State<F> {
    State {
        params: state.params.cast(),
        buffers: state
            .buffers
            .iter()
            .map(|b| cast::<F>(b.to_f64().expect("finite buffer")))
            .collect(),
    }
}
