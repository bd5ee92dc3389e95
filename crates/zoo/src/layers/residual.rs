//! Residual branch y = x + f(x), f = the inner layers applied in order (a
//! pre-norm transformer block: `[LayerNorm, attention]` or `[LayerNorm,
//! Linear, GELU, Linear]`). Tangent: ẏ = ẋ + ḟ, ḟ = the inner tangent passes
//! composed. With a projection shortcut g (a ResNet BasicBlock where the
//! shape changes: conv1x1 stride s + BatchNorm), y = f(x) + g(x) and
//! ẏ = ḟ + ġ.
//!
//! The model splits θ, the direction and the buffers per layer by each
//! layer's [`Layer::params`] / [`Layer::init_state`]; a `Residual` presents
//! its inner layers' lists concatenated and splits them back here.

use crate::fast::{chain_liveness, layer_tangent, FastLayer, Live, Mat, Record};
use crate::{Cache, Layer, Mode, ParamSpec, Plain, Probe, Real, Traced};
use dfdx::prelude::WithEmptyTape;
use std::ops::Range;

/// y = g(x) + f(x) over a list of inner layers f and a shortcut g (the
/// identity unless built by [`Residual::with_shortcut`]).
pub struct Residual<E: Real> {
    /// The branch f, applied in order (private: the ranges below index it).
    inner: Vec<Box<dyn Layer<E>>>,
    /// The shortcut g, applied in order; empty for the identity.
    shortcut: Vec<Box<dyn Layer<E>>>,
    /// Per inner layer, then per shortcut layer: its slice of this layer's
    /// parameter tensors (the shortcut's after the branch's).
    param_ranges: Vec<Range<usize>>,
    /// Per inner layer, then per shortcut layer: its slice of the buffers.
    state_ranges: Vec<Range<usize>>,
}

impl<E: Real> Residual<E>
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    /// A residual branch over `inner` (at least one layer; shapes in = out).
    pub fn new(inner: Vec<Box<dyn Layer<E>>>) -> Self {
        Self::with_shortcut(inner, Vec::new())
    }

    /// y = f(x) + g(x) with f = `inner` and g = `shortcut` (both applied in
    /// order, the same output shape; an empty shortcut is the identity).
    /// Parameters and buffers: the branch's, then the shortcut's.
    pub fn with_shortcut(inner: Vec<Box<dyn Layer<E>>>, shortcut: Vec<Box<dyn Layer<E>>>) -> Self {
        assert!(
            !inner.is_empty(),
            "a residual branch needs at least one layer"
        );
        let (mut param_ranges, mut state_ranges) = (Vec::new(), Vec::new());
        let (mut np, mut ns) = (0, 0);
        for layer in inner.iter().chain(&shortcut) {
            let (p, s) = (layer.params().len(), layer.init_state().len());
            param_ranges.push(np..np + p);
            state_ranges.push(ns..ns + s);
            np += p;
            ns += s;
        }
        Residual {
            inner,
            shortcut,
            param_ranges,
            state_ranges,
        }
    }

    /// `(index into the ranges, layer)` of the shortcut's layers.
    fn shortcut_layers(&self) -> impl Iterator<Item = (usize, &Box<dyn Layer<E>>)> {
        let n = self.inner.len();
        self.shortcut
            .iter()
            .enumerate()
            .map(move |(j, l)| (n + j, l))
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
        if self.shortcut.is_empty() {
            return format!("residual [{}]", parts.join(", "));
        }
        let short: Vec<String> = self.shortcut.iter().map(|l| l.describe()).collect();
        format!(
            "residual [{}] + shortcut [{}]",
            parts.join(", "),
            short.join(", ")
        )
    }

    /// The inner layers' tensors in order, named "`<inner index>.<name>`",
    /// then the shortcut's, named "`s<shortcut index>.<name>`".
    fn params(&self) -> Vec<ParamSpec> {
        let named = |prefix: &'static str, layers: &[Box<dyn Layer<E>>]| -> Vec<ParamSpec> {
            layers
                .iter()
                .enumerate()
                .flat_map(|(i, l)| {
                    l.params().into_iter().map(move |mut s| {
                        s.name = format!("{prefix}{i}.{}", s.name);
                        s
                    })
                })
                .collect()
        };
        let mut specs = named("", &self.inner);
        specs.extend(named("s", &self.shortcut));
        specs
    }

    fn init_state(&self) -> Vec<f64> {
        self.inner
            .iter()
            .chain(&self.shortcut)
            .flat_map(|l| l.init_state())
            .collect()
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
        let mut g = x;
        for (i, layer) in self.shortcut_layers() {
            g = layer.forward_traced(
                &p[self.param_ranges[i].clone()],
                g,
                &mut state[self.state_ranges[i].clone()],
                mode,
                cache,
            );
        }
        h + g
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
        let mut g = x;
        for (i, layer) in self.shortcut_layers() {
            g = layer.forward(
                &p[self.param_ranges[i].clone()],
                g,
                &mut state[self.state_ranges[i].clone()],
                mode,
                cache,
            );
        }
        h + g
    }

    /// A fast path when every inner and shortcut layer has one.
    fn fast(&self) -> Option<Box<dyn FastLayer>> {
        let inner = self
            .inner
            .iter()
            .map(|l| l.fast())
            .collect::<Option<Vec<_>>>()?;
        let shortcut = self
            .shortcut
            .iter()
            .map(|l| l.fast())
            .collect::<Option<Vec<_>>>()?;
        Some(Box::new(FastResidual {
            inner,
            shortcut,
            param_ranges: self.param_ranges.clone(),
            state_ranges: self.state_ranges.clone(),
        }))
    }

    /// ẏ = ġ + ḟ, ġ = ẋ for the identity (ḟ alone when ẋ is zero);
    /// the branch's tangents first, then the shortcut's (cache order).
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
        let mut dg = dx;
        for (i, layer) in self.shortcut_layers() {
            let r = self.param_ranges[i].clone();
            dg = Some(layer.tangent(&p[r.clone()], &dp[r], dg, mode, cache, probes));
        }
        match dg {
            Some(dg) => df + dg,
            None => df,
        }
    }
}

/// The fast path of a [`Residual`]: y = g(x) + f(x) with the inner and
/// shortcut layers' fast layers, each given its slice of the parameters,
/// gradients, directions and buffers (by the same ranges as the dfdx path)
/// and its own [`Record`] in `Record::inner` (the branch's, then the
/// shortcut's).
struct FastResidual {
    inner: Vec<Box<dyn FastLayer>>,
    /// Empty for the identity.
    shortcut: Vec<Box<dyn FastLayer>>,
    param_ranges: Vec<Range<usize>>,
    state_ranges: Vec<Range<usize>>,
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
        let mut short = input;
        for (j, layer) in self.shortcut.iter().enumerate() {
            short = layer
                .output_form(short)
                .map_err(|e| format!("residual shortcut layer {j}: {e}"))?;
        }
        if form == short {
            Ok(form)
        } else {
            Err(format!(
                "residual branch maps {input} to {form}, its shortcut to {short}"
            ))
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
        let mut h = x.pooled_copy();
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
        let n = self.inner.len();
        let mut g = x;
        for (j, layer) in self.shortcut.iter().enumerate() {
            let mut r = Record {
                logits_only: rec.logits_only,
                ..Record::default()
            };
            g = layer.forward(
                &p[self.param_ranges[n + j].clone()],
                g,
                &mut state[self.state_ranges[n + j].clone()],
                mode,
                &mut r,
            );
            rec.inner.push(r);
        }
        add_into(&mut h, &g);
        h.layout = g.layout;
        g.recycle();
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
        let mut dh = dy.pooled_copy();
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
        let n = self.inner.len();
        let mut dg = dy;
        for j in (0..self.shortcut.len()).rev() {
            let r = self.param_ranges[n + j].clone();
            dg = self.shortcut[j].backward(
                &p[r.clone()],
                dg,
                &rec.inner[n + j],
                &mut grads[r],
                need_dx || j > 0,
            );
        }
        if need_dx {
            add_into(&mut dh, &dg);
        }
        dh.layout = dg.layout;
        dg.recycle();
        dh
    }

    /// ẏ = ġ + ḟ, ġ = ẋ for the identity (ḟ alone when ẋ is zero).
    fn tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        mode: Mode,
        rec: &Record,
        probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        let mut dh = dx.as_ref().map(Mat::pooled_copy);
        for (i, layer) in self.inner.iter().enumerate() {
            let r = self.param_ranges[i].clone();
            dh = Some(layer.tangent(&p[r.clone()], &dp[r], dh, mode, &rec.inner[i], probes));
        }
        let mut df = dh.expect("a residual branch has at least one layer");
        let n = self.inner.len();
        let mut dg = dx;
        for (j, layer) in self.shortcut.iter().enumerate() {
            let r = self.param_ranges[n + j].clone();
            dg = Some(layer.tangent(&p[r.clone()], &dp[r], dg, mode, &rec.inner[n + j], probes));
        }
        if let Some(dg) = dg {
            add_into(&mut df, &dg);
            df.layout = dg.layout;
            dg.recycle();
        }
        df
    }

    /// The rows either path reads (the identity reads the rows `out`).
    fn live_input(&self, out: &Live, rec: &Record) -> Option<Live> {
        let (branch, shortcut) = self.liveness(out, rec);
        Some(branch.union(&shortcut))
    }

    /// ẏ = ġ + ḟ on the rows `out`, each path on the rows it reads.
    fn tangent_rows(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        mode: Mode,
        rec: &Record,
        input: &Live,
        out: &Live,
    ) -> Mat {
        let n = self.inner.len();
        let branch = chain_liveness(&self.inner, &rec.inner[..n], out.clone());
        let shortcut = chain_liveness(&self.shortcut, &rec.inner[n..], out.clone());
        let mut no_probes = crate::fast::FastProbes::new(false);
        let mut run = |layers: &[Box<dyn FastLayer>], plan: &[(Live, Live)], first: usize| {
            let reads = plan.first().map_or(out, |(input, _)| input);
            let mut dh = dx.as_ref().map(|dx| input.select(dx, reads));
            for (j, layer) in layers.iter().enumerate() {
                let r = self.param_ranges[first + j].clone();
                let rec = &rec.inner[first + j];
                dh = Some(layer_tangent(
                    &**layer,
                    &p[r.clone()],
                    &dp[r],
                    dh,
                    mode,
                    rec,
                    &mut no_probes,
                    &plan[j],
                ));
            }
            dh
        };
        let mut df =
            run(&self.inner, &branch, 0).expect("a residual branch has at least one layer");
        let dg = run(&self.shortcut, &shortcut, n);
        if let Some(dx) = dx {
            dx.recycle();
        }
        if let Some(dg) = dg {
            add_into(&mut df, &dg);
            df.layout = dg.layout;
            dg.recycle();
        }
        df
    }
}

impl FastResidual {
    /// The rows of the input the branch and the shortcut read for the
    /// output rows `out`.
    fn liveness(&self, out: &Live, rec: &Record) -> (Live, Live) {
        let n = self.inner.len();
        let reads =
            |plan: Vec<(Live, Live)>| plan.into_iter().next().map_or(out.clone(), |(i, _)| i);
        (
            reads(chain_liveness(&self.inner, &rec.inner[..n], out.clone())),
            reads(chain_liveness(&self.shortcut, &rec.inner[n..], out.clone())),
        )
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

    /// A BasicBlock with a projection shortcut (convolutions, 2-D
    /// BatchNorm; the small ResNet of `fast_tests`) in f64: the eval JVP
    /// equals central differences of the logits, and the train-mode cached
    /// tangent equals forward differences in train mode.
    #[test]
    fn projection_shortcut_tangent_matches_central_differences() {
        let model = Model::<f64>::new("resnet", 64, 10, crate::layers::fast_tests::small_resnet());
        let state = model.init(5);
        let dev: Dev = Default::default();
        let x = crate::model::to_matrix::<f64>(&dev.sample_normal_like(&(6, 64)));
        let v = crate::ParamVec::<f64>::random_unit(model.num_params(), 7);
        let jvp = model.jvp(&state, &x, &v);
        let fd = model.fd_jvp(&state, &x, &v, 1e-5);
        let scale = fd.as_vec().iter().fold(0.0f64, |m, a| m.max(a.abs()));
        let err = (jvp.slopes - fd)
            .as_vec()
            .iter()
            .fold(0.0f64, |m, a| m.max(a.abs()));
        assert!(
            err < 1e-7 * scale.max(1.0),
            "eval JVP vs central differences: {err:e}"
        );
        // Train mode (batch statistics): the cached tangent against
        // central differences of train-mode forwards on state copies.
        let mut s0 = state.clone();
        let (_, mut cache) = model.forward(&mut s0, &x, Mode::Train);
        let a = model.tangent(&state, &mut cache, &v, Mode::Train);
        let at = |eps: f64| {
            let mut moved = state.clone();
            moved.params.axpy(eps, &v);
            model.forward(&mut moved, &x, Mode::Train).0
        };
        let h = 1e-5;
        let fd = (at(h) - at(-h)).scaled(0.5 / h);
        let scale = fd.as_vec().iter().fold(0.0f64, |m, a| m.max(a.abs()));
        let err = (a - fd).as_vec().iter().fold(0.0f64, |m, d| m.max(d.abs()));
        assert!(
            err < 1e-6 * scale.max(1.0),
            "train tangent vs central differences: {err:e}"
        );
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
