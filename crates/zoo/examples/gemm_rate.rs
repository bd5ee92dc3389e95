//! The f32 GEMM rate of this CPU through the fast backend's one door to
//! the `gemm` crate (`zoo::fast::matmul`, single thread): a large square
//! product (the machine's practical arithmetic limit) and the products of
//! one TinyTransformer-A step on 1258 samples x 9 tokens (what the model's
//! layers can reach at their shapes).
//!
//! Run: `cargo run --release -p zoo --example gemm_rate`.
use std::time::Instant;
use zoo::fast::{matmul, MatRef};

/// Best GFLOP/s of `reps` products (m × k)·(k × n), optionally with the
/// left operand transposed in memory (a weight gradient xᵀ·dy).
fn rate(m: usize, k: usize, n: usize, transposed_a: bool, reps: usize) -> f64 {
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i % 97) as f32 - 48.0) / 97.0)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i % 89) as f32 - 44.0) / 89.0)
        .collect();
    let mut c = vec![0.0f32; m * n];
    let a_view = if transposed_a {
        MatRef::row_major(&a, k, m).t()
    } else {
        MatRef::row_major(&a, m, k)
    };
    let b_view = MatRef::row_major(&b, k, n);
    matmul(&mut c, n, a_view, b_view, false);
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        matmul(&mut c, n, a_view, b_view, false);
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n) as f64 / best / 1e9
}

fn main() {
    println!(
        "square 2048 x 2048 x 2048: {:.1} GFLOP/s",
        rate(2048, 2048, 2048, false, 3)
    );
    let rows = 1258 * 9;
    for (what, m, k, n, t) in [
        ("qkv projection (11322 x 32)(32 x 96)", rows, 32, 96, false),
        ("fc1 (11322 x 32)(32 x 128)", rows, 32, 128, false),
        ("fc2 (11322 x 128)(128 x 32)", rows, 128, 32, false),
        ("out projection (11322 x 32)(32 x 32)", rows, 32, 32, false),
        (
            "fc1 weight gradient (32 x 11322)(11322 x 128)",
            32,
            rows,
            128,
            true,
        ),
        (
            "fc2 weight gradient (128 x 11322)(11322 x 32)",
            128,
            rows,
            32,
            true,
        ),
    ] {
        println!("{what}: {:.1} GFLOP/s", rate(m, k, n, t, 20));
    }
}
