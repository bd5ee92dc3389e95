//! A seventh architecture defined outside the zoo crate, and its ρa along
//! the gradient on digits.
//!
//! Run: `cargo run --release -p zoo --example seventh_architecture`
//!
//! It defines a new layer (Softplus, whose singularities at iπ(2k+1) put a
//! per-neuron radius √(h² + π²)/|ḣ| on the network, paper Appendix 2) with
//! its forward and tangent pass, builds a model from it and zoo layers,
//! trains it with the zoo's recipe loop, and measures the radius ρa of the
//! training set along the normalised gradient with one exact JVP. Inside the
//! repository the same model becomes a registry entry with one file under
//! `crates/zoo/src/arch/` and one line in `zoo::registry()`.
//!
//! A new layer needs only its dfdx forward and its tangent; the backward
//! comes from dfdx's autodiff. A hand-written fast f32 path
//! (`zoo::fast::FastLayer`, returned by `Layer::fast`) is optional: without
//! one the model runs on the dfdx backend, and asking for the fast backend
//! is refused when the model is built, naming the layer (shown below).

use dfdx::prelude::*;
use radius::{set_rho_a, spreads_of_rows, Aggregation};
use zoo::layer::TapeOps;
use zoo::layers::{tangent_or_zeros, zip_map, Linear};
use zoo::train::{evaluate, fit, Recipe};
use zoo::{forward_via_fwd, Batch, Cache, Dev, Layer, Mode, Model, Plain, Probe, Real};

/// softplus(x) = log(1 + eˣ), computed as relu(x) + log(1 + e^{−|x|}) so it never overflows.
struct Softplus;

impl Softplus {
    fn fwd<E: Real, T: TapeOps<E>>(
        &self,
        _p: &[Plain<E>],
        x: Tensor<(usize, usize), E, Dev, T>,
        _state: &mut [E],
        _mode: Mode,
        cache: &mut Cache<E>,
    ) -> Tensor<(usize, usize), E, Dev, T>
    where
        Dev: Device<E>,
    {
        cache.push(x.retaped::<NoneTape>());
        let tail = (x.with_empty_tape().abs().negate().exp() + E::one()).ln();
        x.relu() + tail
    }
}

impl<E: Real> Layer<E> for Softplus
where
    Dev: Device<E>,
{
    fn describe(&self) -> String {
        "softplus".into()
    }

    forward_via_fwd!(E);

    /// ẏ = σ(x)·ẋ.
    fn tangent(
        &self,
        _p: &[Plain<E>],
        _dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        _mode: Mode,
        cache: &mut Cache<E>,
        _probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        let x = cache.next();
        let dx = tangent_or_zeros(dx, &x);
        zip_map(&x, &dx, |x, d| d / (E::one() + (-x).exp()))
    }
}

/// The seventh architecture: 64 → 96, softplus, 96 → 96, softplus, 96 → 10.
fn softplus_mlp<E: Real>() -> Model<E>
where
    Dev: Device<E>,
{
    let layers: Vec<Box<dyn Layer<E>>> = vec![
        Box::new(Linear::new(64, 96)),
        Box::new(Softplus),
        Box::new(Linear::new(96, 96)),
        Box::new(Softplus),
        Box::new(Linear::new(96, 10)),
    ];
    Model::new("softplus-mlp", 64, 10, layers)
}

fn main() -> anyhow::Result<()> {
    let digits = data::load_default_digits()?;
    let split = data::stratified_split(&digits.labels, 0.3, 42);
    let all: Batch<f32> = Batch::from_digits(&digits, &(0..digits.len()).collect::<Vec<_>>());
    let (train, test) = (&all.subset(&split.train), &all.subset(&split.test));

    let model = softplus_mlp::<f32>();
    // No fast path for Softplus: the fast backend is refused at build time.
    if let Err(e) = softplus_mlp::<f32>().with_backend(zoo::Backend::Fast) {
        println!("fast backend: {e} (the model runs on dfdx)");
    }
    let mut state = model.init(0);
    let loss = fit(&model, &mut state, &train, &Recipe::for_arch("mlp"), 1);
    println!(
        "{}: {} parameters, final train loss {loss:.4}, test accuracy {:.1}%",
        model.name,
        model.num_params(),
        100.0 * evaluate(&model, &state, &test)
    );

    // Gradient of the full training loss, then one JVP along v = −g/‖g‖.
    let step = model.loss_and_grad(&mut state.clone(), &train, Mode::Eval);
    let mut v = step.grad.normalized();
    v.scale(-1.0);
    let jvp = model.jvp(&state, &train.x, &v);
    let slopes: Vec<f64> = jvp.slopes.as_vec().iter().map(|&a| a as f64).collect();
    let set = set_rho_a(&spreads_of_rows(&slopes, 10), Aggregation::Max);
    let q99 = set_rho_a(&spreads_of_rows(&slopes, 10), Aggregation::Quantile(0.99));
    println!("rho_a along the descent direction on {} training samples: {:.5} (bottleneck sample {:?}, Delta_a = {:.3})", train.len(), set.rho_a, set.bottleneck, set.delta_a);
    println!("99th-percentile aggregation: rho_a = {:.5}", q99.rho_a);
    println!(
        "a gradient step of size tau = lr * ||g|| is inside the radius while tau < {:.5}",
        set.rho_a
    );

    // The same JVP in f64 against central differences.
    let model64 = softplus_mlp::<f64>();
    let state64 = zoo::State {
        params: state.params.cast(),
        buffers: vec![],
    };
    let x64 = zoo::Matrix::new(
        32,
        64,
        train
            .x
            .data
            .iter()
            .take(64 * 32)
            .map(|&p| p as f64)
            .collect(),
    );
    let v64 = v.cast::<f64>();
    let exact = model64.jvp(&state64, &x64, &v64).slopes.as_vec();
    let fd = model64.fd_jvp(&state64, &x64, &v64, 1e-6).as_vec();
    println!(
        "exact JVP vs f64 central differences: relative error {:.2e}",
        zoo::check::normwise_rel_error(&exact, &fd)
    );
    Ok(())
}
