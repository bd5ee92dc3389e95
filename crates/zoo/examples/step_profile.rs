//! Time full-batch training steps of one architecture (profiling aid).
//!
//! Run: `cargo run --release -p zoo --example step_profile -- cnn-bn 20`
use zoo::{arch, ArchConfig, Batch, Mode};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map_or("cnn-bn", |s| s.as_str());
    let steps: usize = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let digits = data::load_default_digits()?;
    let model = arch::find(name)?.build::<f32>(&ArchConfig::default());
    let idx: Vec<usize> = (0..1438).collect();
    let batch: Batch<f32> = Batch::from_digits(model.device(), &digits, &idx);
    let mut state = model.init(0);
    let start = std::time::Instant::now();
    for _ in 0..steps {
        let out = model.loss_and_grad(&mut state, &batch, Mode::Train);
        state.params.axpy(-1e-3, &out.grad);
    }
    let per = start.elapsed().as_secs_f64() / steps as f64;
    println!("{name}: {:.1} ms per full-batch step", 1e3 * per);
    Ok(())
}
