//! The README's monitor example (`examples/monitor_loop.rs`) run at a
//! its default size: its own `train` function, so the example cannot rot
//! unnoticed. A 1000x learning rate at one step destroys plain Adam; the
//! same loop with each update multiplied by the monitor's cap factor keeps
//! training, and both logs read back through `experiments::monitor`.

#[path = "../examples/monitor_loop.rs"]
#[allow(dead_code)]
mod monitor_loop;

use monitor_loop::{train, Settings};

#[test]
fn the_capped_loop_survives_the_spike_and_its_log_reads_back() {
    // The example's own settings: 300 steps, the spike at step 200 (the
    // loop takes well under a second).
    let s = Settings::default();
    let digits = data::load_default_digits().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (plain_log, capped_log) = (dir.path().join("plain.jsonl"), dir.path().join("capped.jsonl"));
    let plain = train(&s, false, &digits, &plain_log).unwrap();
    let capped = train(&s, true, &digits, &capped_log).unwrap();
    eprintln!("plain {plain:?}\ncapped {capped:?}");

    // The spike step reaches far beyond the radius; the cap brings it back.
    let spike = capped.spike.as_ref().unwrap();
    assert!(spike.r > 10.0 && spike.cap_factor < 0.1, "{spike:?}");
    assert!((spike.cap_factor * spike.r - 1.0).abs() < 1e-9);
    assert_eq!(capped.stopped_at, None);
    // The plain step wrecks the model (Adam then slowly repairs part of
    // it); the capped step does not.
    assert!(capped.around_spike.1 > 0.8 && capped.test_acc > 0.9, "capped run: {capped:?}");
    assert!(plain.around_spike.0 > 0.85, "plain run before the spike: {plain:?}");
    assert!(plain.around_spike.1 < 0.5, "plain run not destroyed: {plain:?}");
    assert!(plain.test_acc < capped.test_acc - 0.2, "plain run recovered: {plain:?}");

    // Every step is one line, read back with the records the loop saw.
    for (path, outcome) in [(&plain_log, &plain), (&capped_log, &capped)] {
        let recs = experiments::monitor::read_log(path).unwrap();
        assert_eq!(recs.len() as u64, outcome.lines);
        assert!(recs.iter().enumerate().all(|(i, r)| r.step == i as u64));
        assert_eq!(recs.iter().find(|r| r.step == s.spike_step as u64), outcome.spike.as_ref());
        assert!(recs.iter().all(|r| r.rho_top2.is_some() && r.closest.len() == 5));
    }
    assert_eq!(capped.lines, s.steps as u64);
    // One seed fixes everything: both runs start from the same parameters
    // and the same first batch, so their first records agree.
    let (a, b) = (
        experiments::monitor::read_log(&plain_log).unwrap(),
        experiments::monitor::read_log(&capped_log).unwrap(),
    );
    assert_eq!((a[0].tau, a[0].rho_a, a[0].class_pair), (b[0].tau, b[0].rho_a, b[0].class_pair));
}
