//! Time full-batch training steps of one architecture (profiling aid).
//!
//! Run: `cargo run --release -p zoo --example step_profile -- cnn-bn 20`
//! (dfdx backend) or `... -- cnn-bn 20 --fast` (the fast f32 backend);
//! `--tangent` adds to each step the train-mode tangent along a random
//! direction over the step's own forward (what a controller does), and
//! reports the tangent pass's own time and its ratio to the rest of the step;
//! `--probes` makes that tangent report the layers' probes (every row, as
//! transformer-radii's all-radii step does).
//! `--rows N` sets the batch (default 1258: the 70/30 permutation split's
//! training rows that the 5x target names; arch-grid uses 1438).
//! One untimed warm-up step runs first (first-touch page faults, caches).
use zoo::{arch, ArchConfig, Backend, Batch, Mode, ParamVec};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fast = args.iter().any(|a| a == "--fast");
    let probed = args.iter().any(|a| a == "--probes");
    let tangent = probed || args.iter().any(|a| a == "--tangent");
    let rows: usize = match args.iter().position(|a| a == "--rows") {
        Some(i) => args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("--rows needs a number"))?
            .parse()?,
        None => 1258,
    };
    let positional: Vec<&str> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--rows"))
        .map(|(_, s)| s.as_str())
        .collect();
    let name = positional.first().copied().unwrap_or("cnn-bn");
    let steps: usize = positional.get(1).map_or(Ok(20), |s| s.parse())?;
    let digits = data::load_default_digits()?;
    let mut model = arch::find(name)?.build::<f32>(&ArchConfig::default());
    if fast {
        model = model.with_backend(Backend::Fast)?;
    }
    anyhow::ensure!(
        (1..=digits.len()).contains(&rows),
        "--rows {rows}: the digits have {} rows",
        digits.len()
    );
    let idx: Vec<usize> = (0..rows).collect();
    let batch: Batch<f32> = Batch::from_digits(&digits, &idx);
    let mut state = model.init(0);
    let direction = ParamVec::<f32>::random_unit(model.num_params(), 1);
    // One step; returns the wall time of its tangent pass (ms, 0 without).
    let mut step = || {
        let frozen = tangent.then(|| state.clone());
        let mut out = model.loss_and_grad(&mut state, &batch, Mode::Train);
        let mut tangent_ms = 0.0;
        if let Some(frozen) = frozen {
            let t = std::time::Instant::now();
            if probed {
                model.tangent_probed(&frozen, &mut out.cache, &direction, Mode::Train);
            } else {
                model.tangent(&frozen, &mut out.cache, &direction, Mode::Train);
            }
            tangent_ms = 1e3 * t.elapsed().as_secs_f64();
        }
        state.params.axpy(-1e-3, &out.grad);
        tangent_ms
    };
    step();
    let cpu_start = thread_cpu_ns();
    let flops_start = zoo::fast::gemm_flops();
    // Per-step times: the median and minimum resist other processes
    // sharing the cores better than the mean.
    let mut tangent_times = Vec::with_capacity(steps);
    let mut times: Vec<f64> = (0..steps)
        .map(|_| {
            let t = std::time::Instant::now();
            tangent_times.push(step());
            1e3 * t.elapsed().as_secs_f64()
        })
        .collect();
    let cpu = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) => format!(
            ", {:.1} ms on the CPU",
            (b - a) as f64 / 1e6 / steps.max(1) as f64
        ),
        _ => String::new(),
    };
    let mean = times.iter().sum::<f64>() / steps.max(1) as f64;
    let times_unsorted = times.clone();
    times.sort_by(f64::total_cmp);
    let (min, median) = (times.first().copied(), times.get(steps / 2).copied());
    println!(
        "{name} ({:?} backend, {} rows per step{}): {mean:.1} ms per full-batch step (median {:.1}, min {:.1}{cpu})",
        model.backend(),
        idx.len(),
        match (tangent, probed) {
            (_, true) => ", with a probed tangent",
            (true, false) => ", with a tangent",
            _ => "",
        },
        median.unwrap_or(f64::NAN),
        min.unwrap_or(f64::NAN),
    );
    // The fast backend's GEMM work per step and the rate the whole step
    // reaches on it (time in the products and everything else).
    let gemm_gflop = (zoo::fast::gemm_flops() - flops_start) as f64 / 1e9 / steps.max(1) as f64;
    if gemm_gflop > 0.0 {
        println!(
            "  GEMM work {gemm_gflop:.3} GFLOP per step: {:.1} GFLOP/s over the median step",
            gemm_gflop / (median.unwrap_or(f64::NAN) / 1e3)
        );
    }
    if tangent {
        // The tangent's share: per step, tangent / (step − tangent).
        let mut shares: Vec<f64> = times_unsorted
            .iter()
            .zip(&tangent_times)
            .map(|(&s, &t)| 100.0 * t / (s - t))
            .collect();
        shares.sort_by(f64::total_cmp);
        tangent_times.sort_by(f64::total_cmp);
        println!(
            "  of which the tangent pass: median {:.1} ms, min {:.1} ms; tangent / (step without it): median {:.0}%",
            tangent_times.get(steps / 2).copied().unwrap_or(f64::NAN),
            tangent_times.first().copied().unwrap_or(f64::NAN),
            shares.get(steps / 2).copied().unwrap_or(f64::NAN),
        );
    }
    Ok(())
}

/// This thread's time on the CPU so far (Linux `schedstat`), in ns: unlike
/// wall time it does not count waiting for a core other processes hold.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}
