//! `ghosts figures` trains nothing: re-rendering every figure, table and the
//! report from stored results runs no model (checked with the zoo's global
//! forward-pass counter, so this file holds exactly one test: a separate
//! process, no other test can move the counter meanwhile).

use experiments::Context;

const TINY: &str = "\
arch: mlp
temperatures: [0.5, 4]
extra_temperatures: []
seeds: [0, 1]
test_ratio: 0.2
lr: 0.01
steps: 10
batch: 128
tau_points: 8
tau_min: 1.0e-3
tau_max_floor: 2.0
tau_max_rho_factor: 4.0
onset_loss_ratio: 2.0
slope_estimator: fd
fd_eps: 1.0e-4
bootstrap_resamples: 50
ci_level: 0.9
bootstrap_seed: 3
";

#[test]
fn rendering_from_the_store_runs_no_model() {
    let root = tempfile::tempdir().unwrap();
    let cfg = root.path().join("tiny.yaml");
    std::fs::write(&cfg, TINY).unwrap();
    let ctx = Context::new(root.path(), true).with_config(Some(cfg));
    let e = experiments::select(&["temperature-fingerprint".into()]).unwrap()[0];
    let before_run = zoo::model::model_passes();
    e.run(&ctx).unwrap();
    assert!(
        zoo::model::model_passes() > before_run,
        "the run itself evaluates models (the counter works)"
    );

    let figures = root.path().join("figures");
    let _ = std::fs::remove_dir_all(&figures);
    let before = zoo::model::model_passes();
    let report = experiments::render_all(&Context::new(root.path(), false)).unwrap();
    assert_eq!(
        zoo::model::model_passes(),
        before,
        "rendering ran a model forward pass"
    );
    assert!(figures
        .join("temperature-fingerprint/fig9_temperature_fingerprint.png")
        .exists());
    let text = std::fs::read_to_string(report).unwrap();
    assert!(text.contains("Temperature fingerprint"), "{text}");
}
