//! Every architecture trains on digits with its recipe (stratified 70/30,
//! split seed 42) to a test-accuracy floor. Floors are set below what the
//! recipes reach here, so a regression in a forward or backward pass fails.

use zoo::train::{evaluate, fit, Recipe};
use zoo::{registry, ArchConfig, Batch};

/// Test-accuracy floor per architecture (the spec's converged models reach
/// 97-100% training accuracy; CNN+BN-1D tops out near 72% test accuracy in
/// the reference code, which evaluates with train-mode BatchNorm; ours
/// recalibrates the running statistics and evaluates in eval mode).
fn floor(name: &str) -> f64 {
    // Reached here (split seed 42, init seed 0): linear 93.9%, MLPs 95.5-98.3%,
    // transformers 96.5-96.8%, cnn 98.0%, cnn-bn 79.0%.
    match name {
        "linear" => 0.90,
        n if n.starts_with("cnn-bn") => 0.72,
        _ => 0.93,
    }
}

#[test]
fn every_architecture_trains_to_its_floor() {
    let digits = data::load_default_digits().unwrap();
    let split = data::stratified_split(&digits.labels, 0.3, 42);
    let all: Batch<f32> = Batch::from_digits(&digits, &(0..digits.len()).collect::<Vec<_>>());
    let (train, test) = (&all.subset(&split.train), &all.subset(&split.test));
    for entry in registry()
        .into_iter()
        .filter(|e| e.input == zoo::InputKind::Digits)
    {
        let model = entry.build::<f32>(&ArchConfig::default());
        let mut state = model.init(0);
        let recipe = Recipe::for_arch(entry.name);
        let loss = fit(&model, &mut state, &train, &recipe, 1);
        let acc = evaluate(&model, &state, &test);
        eprintln!(
            "{:<20} {} steps: final train loss {loss:.4}, test accuracy {:.1}%",
            entry.name,
            recipe.steps,
            100.0 * acc
        );
        assert!(
            acc >= floor(entry.name),
            "{}: test accuracy {acc} below {}",
            entry.name,
            floor(entry.name)
        );
    }
}

#[test]
fn training_is_deterministic() {
    let digits = data::load_default_digits().unwrap();
    let idx: Vec<usize> = (0..300).collect();
    let data: Batch<f32> = Batch::from_digits(&digits, &idx);
    let entry = zoo::arch::find("mlp").unwrap();
    let model = entry.build::<f32>(&ArchConfig::default());
    let run = || {
        let mut s = model.init(3);
        fit(
            &model,
            &mut s,
            &data,
            &Recipe::for_arch("mlp").with_steps(20),
            9,
        );
        s
    };
    assert_eq!(run(), run());
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // dfdx's matmuls run on rayon's current pool: train in a 1-thread and a
    // 2-thread pool and demand bit-identical parameters.
    let digits = data::load_default_digits().unwrap();
    let idx: Vec<usize> = (0..400).collect();
    let data: Batch<f32> = Batch::from_digits(&digits, &idx);
    for name in ["mlp-ln", "cnn", "tiny-transformer"] {
        let model = zoo::arch::find(name)
            .unwrap()
            .build::<f32>(&ArchConfig::default());
        let train_in = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut s = model.init(5);
                fit(
                    &model,
                    &mut s,
                    &data,
                    &Recipe::for_arch(name).with_steps(8),
                    2,
                );
                s
            })
        };
        assert_eq!(train_in(1), train_in(2), "{name}");
    }
}
