//! Affine layer y = x W + b (W stored as (in, out)).

use super::broadcast_row;
use crate::fast::{matmul, Layout, Live, Mat, MatRef, Record};
use crate::layer::TapeOps;
use crate::{forward_via_fwd, Cache, Init, Layer, Mode, ParamSpec, Plain, Probe, Real};
use dfdx::prelude::*;

/// Linear layer `in -> out`, PyTorch init U(±1/√in) for weight and bias.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// Whether there is a bias.
    pub bias: bool,
}

impl Linear {
    /// `in -> out` with bias.
    pub fn new(inputs: usize, outputs: usize) -> Self {
        Linear {
            inputs,
            outputs,
            bias: true,
        }
    }

    /// `in -> out` without bias (transformer projections).
    pub fn no_bias(inputs: usize, outputs: usize) -> Self {
        Linear {
            inputs,
            outputs,
            bias: false,
        }
    }

    fn fwd<E: Real, T: TapeOps<E>>(
        &self,
        p: &[Plain<E>],
        x: Tensor<(usize, usize), E, crate::Dev, T>,
        _state: &mut [E],
        _mode: Mode,
        cache: &mut Cache<E>,
    ) -> Tensor<(usize, usize), E, crate::Dev, T>
    where
        crate::Dev: dfdx::prelude::Device<E>,
    {
        cache.push(x.retaped::<NoneTape>());
        let rows = x.shape().0;
        let y = x.matmul(p[0].retaped::<T>());
        if self.bias {
            y + broadcast_row(p[1].retaped::<T>(), rows)
        } else {
            y
        }
    }
}

impl<E: Real> Layer<E> for Linear
where
    crate::Dev: dfdx::prelude::Device<E>,
{
    fn describe(&self) -> String {
        format!(
            "linear {}->{}{}",
            self.inputs,
            self.outputs,
            if self.bias { "" } else { " (no bias)" }
        )
    }

    fn params(&self) -> Vec<ParamSpec> {
        let bound = 1.0 / (self.inputs as f64).sqrt();
        let mut p = vec![ParamSpec::new(
            "weight",
            (self.inputs, self.outputs),
            Init::Uniform(bound),
        )];
        if self.bias {
            p.push(ParamSpec::new(
                "bias",
                (1, self.outputs),
                Init::Uniform(bound),
            ));
        }
        p
    }

    forward_via_fwd!(E);

    fn fast(&self) -> Option<Box<dyn crate::fast::FastLayer>> {
        Some(Box::new(self.clone()))
    }

    /// ẏ = ẋ W + x Ẇ + ḃ.
    fn tangent(
        &self,
        p: &[Plain<E>],
        dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        _mode: Mode,
        cache: &mut Cache<E>,
        _probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let x = cache.next();
        let rows = x.shape().0;
        let mut dy = x.matmul(dp[0].clone());
        if let Some(dx) = dx {
            dy = dy + dx.matmul(p[0].clone());
        }
        if self.bias {
            dy = dy + broadcast_row(dp[1].clone(), rows);
        }
        dy
    }
}

/// Fast path: y = xW + b as one GEMM into rows pre-filled with b.
impl crate::fast::FastLayer for Linear {
    fn output_form(&self, input: crate::fast::Form) -> Result<crate::fast::Form, String> {
        use crate::fast::Form;
        match input {
            Form::Rows(c) if c == self.inputs => Ok(Form::Rows(self.outputs)),
            _ => Err(format!("linear needs rows of {}, got {input}", self.inputs)),
        }
    }

    fn forward(
        &self,
        p: &[&[f32]],
        x: Mat,
        _state: &mut [f32],
        _mode: Mode,
        rec: &mut Record,
    ) -> Mat {
        assert_eq!(
            (x.cols, x.layout),
            (self.inputs, Layout::Rows),
            "linear: input"
        );
        let w = MatRef::row_major(p[0], self.inputs, self.outputs);
        // Every entry is written: bias rows then a GEMM adding into them, or a
        // GEMM overwriting.
        let mut y = Mat::scratch(x.rows, self.outputs, Layout::Rows);
        if self.bias {
            crate::fast::fill_rows(&mut y.data, p[1]);
        }
        matmul(&mut y.data, self.outputs, x.view(), w, self.bias);
        rec.mats.push(x);
        y
    }

    fn affine_in_params(&self) -> bool {
        true
    }

    /// ∂W = xᵀ·dy, ∂b = Σ_rows dy, ∂x = dy·Wᵀ (by [`crate::fast::affine_backward`]:
    /// exactly-zero rows of dy are skipped when they are most rows).
    fn backward(
        &self,
        p: &[&[f32]],
        dy: Mat,
        rec: &Record,
        grads: &mut [&mut [f32]],
        need_dx: bool,
    ) -> Mat {
        let x = &rec.mats[0];
        let w = MatRef::row_major(p[0], self.inputs, self.outputs);
        let (dw, rest) = grads.split_at_mut(1);
        let db = rest.first_mut().filter(|_| self.bias).map(|g| &mut **g);
        // Rows of dy that are exactly zero (after a CLS pool) are skipped.
        let dx = crate::fast::affine_backward(x, &dy, w, dw[0], db, need_dx);
        dy.recycle();
        dx.unwrap_or_else(|| Mat::zeros(x.rows, 0, Layout::Rows))
    }

    /// ẏ = xẆ + ḃ + ẋW.
    fn tangent(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        _probes: &mut crate::fast::FastProbes,
    ) -> Mat {
        self.tangent_at(p, dp, &rec.mats[0], dx)
    }

    /// Row-wise: output row i reads input row i only.
    fn live_input(&self, out: &Live, _rec: &Record) -> Option<Live> {
        Some(out.clone())
    }

    /// ẏ = xẆ + ḃ + ẋW on the rows `out` of x.
    fn tangent_rows(
        &self,
        p: &[&[f32]],
        dp: &[&[f32]],
        dx: Option<Mat>,
        _mode: Mode,
        rec: &Record,
        _input: &Live,
        out: &Live,
    ) -> Mat {
        let x = Live::All.select(&rec.mats[0], out);
        let dy = self.tangent_at(p, dp, &x, dx);
        x.recycle();
        dy
    }
}

impl Linear {
    /// ẏ = xẆ + ḃ + ẋW for inputs `x` (rows) and their tangents `dx`.
    fn tangent_at(&self, p: &[&[f32]], dp: &[&[f32]], x: &Mat, dx: Option<Mat>) -> Mat {
        let mut dy = Mat::scratch(x.rows, self.outputs, Layout::Rows);
        if self.bias {
            crate::fast::fill_rows(&mut dy.data, dp[1]);
        }
        let dw = MatRef::row_major(dp[0], self.inputs, self.outputs);
        matmul(&mut dy.data, self.outputs, x.view(), dw, self.bias);
        if let Some(dx) = dx {
            let w = MatRef::row_major(p[0], self.inputs, self.outputs);
            matmul(&mut dy.data, self.outputs, dx.view(), w, true);
            dx.recycle();
        }
        dy
    }
}
