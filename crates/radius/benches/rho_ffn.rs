//! ρ_ffn (spec C8) over TinyTransformer-A's full-batch FFN probes: two FFN
//! layers × 1258 samples × 9 tokens × 128 units of f32 (h, ḣ), the 1%
//! quantile. transformer-radii computes this once per adaptive step.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};

/// One layer's (h, ḣ): h ~ N(0, 1), ḣ ~ N(0, 0.1²) (Box–Muller).
fn layer(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> (Vec<f32>, Vec<f32>) {
    let mut normal = || {
        let (u, v): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen_range(0.0..1.0));
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    };
    let h = (0..n).map(|_| normal()).collect();
    let d = (0..n).map(|_| 0.1 * normal()).collect();
    (h, d)
}

fn bench(c: &mut Criterion) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1258);
    let layers: Vec<_> = (0..2).map(|_| layer(&mut rng, 1258 * 9 * 128)).collect();
    let segments: Vec<(&[f32], &[f32])> = layers.iter().map(|(h, d)| (&h[..], &d[..])).collect();
    let mut group = c.benchmark_group("rho_ffn");
    group.sample_size(20);
    group.bench_function("tiny_transformer_full_batch_f32", |b| {
        b.iter(|| radius::rho_ffn(&segments, 0.01))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
