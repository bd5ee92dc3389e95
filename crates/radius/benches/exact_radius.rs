//! Exact radius for a digits-sized sample set: 1797 samples × 10 classes.
//! Target (issue 2): under 1 s on one core.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};

fn digits_sized_set() -> Vec<(Vec<f64>, Vec<f64>)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1797);
    (0..1797)
        .map(|_| {
            // Trained-classifier-like logits: one confident class, spread slopes.
            let y = rng.gen_range(0..10);
            let z = (0..10)
                .map(|k| rng.gen_range(-4.0..4.0) + if k == y { 8.0 } else { 0.0 })
                .collect();
            let a = (0..10).map(|_| rng.gen_range(-15.0..15.0)).collect();
            (z, a)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let set = digits_sized_set();
    let mut group = c.benchmark_group("exact_radius");
    group.sample_size(10);
    group.bench_function("digits_1797x10", |b| {
        b.iter(|| {
            set.iter()
                .map(|(z, a)| radius::exact_radius(z, a).unwrap().rho_exact)
                .fold(f64::INFINITY, f64::min)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
