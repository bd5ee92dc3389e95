//! The fast backend's passes per sample: a training step's forward +
//! backward (`loss_and_grad`), the tangent over its record (`tangent`, the
//! exact-JVP radius of a step) and a cache-free forward (`forward_logits`,
//! the FD radius), for the zoo's transformer (whose attention heads run in
//! lanes of samples) and two smaller architectures, at batch sizes where
//! the per-sample kernels and the lanes differ. `cargo bench -p zoo`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zoo::{ArchConfig, Backend, Batch, Mode, ParamVec};

fn bench(c: &mut Criterion) {
    let digits = data::load_default_digits().expect("datasets/digits.csv.gz");
    for name in ["tiny-transformer-b", "mlp-ln", "cnn-bn"] {
        let model = zoo::arch::find(name)
            .unwrap()
            .build_on::<f32>(&ArchConfig::default(), Backend::Fast)
            .unwrap();
        let mut group = c.benchmark_group(name);
        group.sample_size(20);
        for n in [64usize, 256, 1258] {
            let idx: Vec<usize> = (0..n).map(|i| (i * 37) % digits.len()).collect();
            let batch: Batch<f32> = Batch::from_digits(&digits, &idx);
            let v = ParamVec::<f32>::random_unit(model.num_params(), 1);
            group.throughput(Throughput::Elements(n as u64));
            let mut state = model.init(0);
            group.bench_with_input(BenchmarkId::new("loss_and_grad", n), &n, |b, _| {
                b.iter(|| model.loss_and_grad(&mut state, &batch, Mode::Train).loss)
            });
            let mut step = model.loss_and_grad(&mut state, &batch, Mode::Train);
            group.bench_with_input(BenchmarkId::new("tangent", n), &n, |b, _| {
                b.iter(|| model.tangent(&state, &mut step.cache, &v, Mode::Train))
            });
            group.bench_with_input(BenchmarkId::new("forward_logits", n), &n, |b, _| {
                b.iter(|| model.forward_logits(&mut state.clone(), &batch.x, Mode::Train))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
