//! Residual branch y = x + f(x), f = the inner layers applied in order (a
//! pre-norm transformer block: `[LayerNorm, attention]` or `[LayerNorm,
//! Linear, GELU, Linear]`). Tangent: ẏ = ẋ + ḟ, ḟ = the inner tangent passes
//! composed.
//!
//! The model splits θ, the direction and the buffers per layer by each
//! layer's [`Layer::params`] / [`Layer::init_state`]; a `Residual` presents
//! its inner layers' lists concatenated and splits them back here.

use crate::fast::{FastLayer, Mat, Record};
use crate::{Cache, Layer, Mode, ParamSpec, Plain, Probe, Real, Traced};
use dfdx::prelude::WithEmptyTape;
use std::ops::Range;

/// y = x + f(x) over a list of inner layers.
pub struct Residual<E: Real> {
    /// The branch f, applied in order (private: the ranges below index it).
    inner: Vec<Box<dyn Layer<E>>>,
    /// Per inner layer: its slice of this layer's parameter tensors.
    param_ranges: Vec<Range<usize>>,
    /// Per inner layer: its slice of this layer's buffers.
    state_ranges: Vec<Range<usize>>,
}

impl<E: Real> Residual<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    /// A residual branch over `inner` (at least one layer; shapes in = out).
    pub fn new(inner: Vec<Box<dyn Layer<E>>>) -> Self {
        assert!(
            !inner.is_empty(),
            "a residual branch needs at least one layer"
        );
        let (mut param_ranges, mut state_ranges) = (Vec::new(), Vec::new());
        let (mut np, mut ns) = (0, 0);
        for layer in &inner {
            let (p, s) = (layer.params().len(), layer.init_state().len());
            param_ranges.push(np..np + p);
            state_ranges.push(ns..ns + s);
            np += p;
            ns += s;
        }
        Residual {
            inner,
            param_ranges,
            state_ranges,
        }
    }

    /// The branch's layers, in order.
    pub fn inner(&self) -> &[Box<dyn Layer<E>>] {
        &self.inner
    }
}

impl<E: Real> Layer<E> for Residual<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    fn describe(&self) -> String {
        let parts: Vec<String> = self.inner.iter().map(|l| l.describe()).collect();
        format!("residual [{}]", parts.join(", "))
    }

    /// The inner layers' tensors in order, named "`<inner index>.<name>`".
    fn params(&self) -> Vec<ParamSpec> {
        self.inner
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.params().into_iter().map(move |mut s| {
                    s.name = format!("{i}.{}", s.name);
                    s
                })
            })
            .collect()
    }

    fn init_state(&self) -> Vec<f64> {
        self.inner.iter().flat_map(|l| l.init_state()).collect()
    }

    // The inner layers are trait objects, so they cannot be driven through one
    // tape-generic `fwd` (no generic methods on `dyn Layer`); the two forwards
    // are written out instead, each three lines.
    fn forward_traced(
        &self,
        p: &[Plain<E>],
        x: Traced<E>,
        state: &mut [E],
        mode: Mode,
        cache: &mut Cache<E>,
    ) -> Traced<E> {
        // The branch starts from a copy of x with an empty tape (dfdx's own
        // Residual does the same): both uses keep x's id, so the backward pass
        // sums the two gradient contributions into x.
        let mut h = x.with_empty_tape();
        for (i, layer) in self.inner.iter().enumerate() {
            h = layer.forward_traced(
                &p[self.param_ranges[i].clone()],
                h,
                &mut state[self.state_ranges[i].clone()],
                mode,
                cache,
            );
        }
        h + x
    }

    fn forward(
        &self,
        p: &[Plain<E>],
        x: Plain<E>,
        state: &mut [E],
        mode: Mode,
        cache: &mut Cache<E>,
    ) -> Plain<E> {
        let mut h = x.clone();
        for (i, layer) in self.inner.iter().enumerate() {
            h = layer.forward(
                &p[self.param_ranges[i].clone()],
                h,
                &mut state[self.state_ranges[i].clone()],
                mode,
                cache,
            );
        }
        h + x
    }

    /// A fast path when every inner layer has one.
    fn fast(&self) -> Option<Box<dyn FastLayer>> {
        let inner = self
            .inner
            .iter()
            .map(|l| l.fast())
            .collect::<Option<Vec<_>>>()?;
        Some(Box::new(FastResidual {
            inner,
            param_ranges: self.param_ranges.clone(),
            state_ranges: self.state_ranges.clone(),
        }))
    }

    /// ẏ = ẋ + ḟ (ḟ alone when ẋ is zero).
    fn tangent(
        &self,
        p: &[Plain<E>],
        dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        mode: Mode,
        cache: &mut Cache<E>,
        probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let mut dh = dx.clone();
        for (i, layer) in self.inner.iter().enumerate() {
            let r = self.param_ranges[i].clone();
            dh = Some(layer.tangent(&p[r.clone()], &dp[r], dh, mode, cache, probes));
        }
        let df = dh.expect("a residual branch has at least one layer");
        match dx {
            Some(dx) => df + dx,
            None => df,
        }
    }
}

/// The fast path of a [`Residual`]: y = x + f(x) with the inner layers'
/// fast layers, each given its slice of the parameters, gradients,
/// directions and buffers (by the same ranges as the dfdx path) and its own
/// [`Record`] in `Record::inner`.
struct FastResidual {
    inner: Vec<Box<dyn FastLayer>>,
    param_ranges: Vec<Range<usize>>,
    state_ranges: Vec<Range<usize>>,
}

/// A copy of `m` in a buffer from the pool (no fresh, page-faulting memory).
fn copy_of(m: &Mat) -> Mat {
    let mut c = Mat::scratch(m.rows, m.cols, m.layout);
    c.data.copy_from_slice(&m.data);
    c
}

/// a ← a + b (same shape); the sum keeps `a`'s layout.
fn add_into(a: &mut Mat, b: &Mat) {
    assert_eq!(
        (a.rows, a.cols),
        (b.rows, b.cols),
        "residual: the branch must keep the shape"
    );
    for (u, v) in a.data.iter_mut().zip(&b.data) {
        *u += v;
    }
}

impl FastLayer for FastResidual {
    fn output_form(&self, input: crate::fast::Form) -> Result<crate::fast::Form, String> {
        let mut form = input;
        for (i, layer) in self.inner.iter().enumerate() {
            form = layer
                .output_form(form)
                .map_err(|e| format!("residual branch layer {i}: {e}"))?;
        }
        if form == input {
            Ok(input)
        } else {
            Err(format!("residual branch maps {input} to {form}"))
        }
    }

    fn forward(
        &self,
        p: &[&[f32]],
        x: Mat,
        state: &mut [f32],
        mode: Mode,
        rec: &mut Record,
    ) -> Mat {
        let mut h = copy_of(&x);
        for (i, layer) in self.inner.iter().enumerate() {
            let mut r = Record {
                logits_only: rec.logits_only,
                ..Record::default()
            };
            h = layer.forward(
                &p[self.param_ranges[i].clone()],
                h,
                &mut state[self.state_ranges[i].clone()],
                mode,
                &mut r,
            );
            rec.inner.push(r);
        }
        add_into(&mut h, &x);
        h.layout = x.layout;
        x.recycle();
        h
    }

    /// ∂x = ∂y + (∂f/∂x)ᵀ∂y; each inner layer writes its own gradient slices.
    fn backward(
        &self,
        p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        let mut dh = copy_of(&dy);
        for i in (0..self.inner.len()).rev() {
            let r = self.param_ranges[i].clone();
            dh = self.inner[i].backward(
                &p[r.clone()],
                dh,
                &rec.inner[i],
                &mut grads[r],
                need_dx || i > 0,
            );
        }
        if need_dx {
            add_into(&mut dh, &dy);
        }
        dh.layout = dy.layout;
        dy.recycle();
        dh
    }

    /// ẏ = ẋ + ḟ (ḟ alone when ẋ is zero).
    fn tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        mode: Mode,
        rec: &Record,
        probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        let mut dh = dx.as_ref().map(copy_of);
        for (i, layer) in self.inner.iter().enumerate() {
            let r = self.param_ranges[i].clone();
            dh = Some(layer.tangent(&p[r.clone()], &dp[r], dh, mode, &rec.inner[i], probes));
        }
        let mut df = dh.expect("a residual branch has at least one layer");
        if let Some(dx) = dx {
            add_into(&mut df, &dx);
            df.layout = dx.layout;
            dx.recycle();
        }
        df
    }
}

#[cfg(test)]
mod tests {
    use super::Residual;
    use crate::layers::{Gelu, LayerNorm, Linear};
    use crate::{Dev, Layer, Mode, Model};
    use dfdx::prelude::SampleTensor;

    fn block() -> Residual<f64> {
        Residual::new(vec![
            Box::new(LayerNorm::new(6)),
            Box::new(Linear::new(6, 10)),
            Box::new(Gelu::new()),
            Box::new(Linear::new(10, 6)),
        ])
    }

    #[test]
    fn params_are_the_inner_lists_concatenated_and_shapes_are_kept() {
        let r = block();
        let names: Vec<String> = r.params().into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            ["0.gain", "0.shift", "1.weight", "1.bias", "3.weight", "3.bias"]
        );
        let model = Model::<f64>::new("res", 6, 6, vec![Box::new(block())]);
        assert_eq!(model.num_params(), 12 + 70 + 66);
        let mut state = model.init(1);
        let dev: Dev = Default::default();
        let x = crate::model::to_matrix::<f64>(&dev.sample_normal_like(&(5, 6)));
        let (y, _) = model.forward(&mut state, &x, Mode::Eval);
        assert_eq!(y.shape(), (5, 6));
    }

    #[test]
    fn residual_adds_the_input_and_its_tangent() {
        // y − x must equal the branch alone, and ẏ − ẋ the branch's tangent.
        let dev: Dev = Default::default();
        let branch = Model::<f64>::new(
            "branch",
            6,
            6,
            vec![
                Box::new(LayerNorm::new(6)),
                Box::new(Linear::new(6, 10)),
                Box::new(Gelu::new()),
                Box::new(Linear::new(10, 6)),
            ],
        );
        let res = Model::<f64>::new("res", 6, 6, vec![Box::new(block())]);
        let state = res.init(2);
        let x = crate::model::to_matrix::<f64>(&dev.sample_normal_like(&(4, 6)));
        let v = crate::ParamVec::<f64>::random_unit(res.num_params(), 3);
        let (jr, jb) = (res.jvp(&state, &x, &v), branch.jvp(&state, &x, &v));
        let diff = (jr.logits - x) - jb.logits;
        assert!(diff.as_vec().iter().all(|d| d.abs() < 1e-14));
        // The input has no tangent here, so ẏ = ḟ.
        assert!((jr.slopes - jb.slopes)
            .as_vec()
            .iter()
            .all(|d| d.abs() < 1e-14));
    }
}
