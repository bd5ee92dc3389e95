//! Tests of `transformer-radii`: r = 1 at every adaptive step, the three
//! radii of the one probed tangent pass against separate computations, a
//! small end-to-end run, the frame round trip and the value checks.

use super::*;
use crate::config::Validate;
use crate::Experiment;
use control::{ComponentRadii, Optimizer};
use zoo::{Model, ParamVec, ProbeKind, State};

/// The quick settings cut down: one seed, steps 0..=6 logged every 2.
fn tiny() -> TransformerRadiiConfig {
    let mut cfg: TransformerRadiiConfig =
        crate::config::built_in(TransformerRadii::ID, true).unwrap();
    cfg.seeds = vec![3];
    cfg.last_step = 6;
    cfg.log_every = 2;
    cfg.phases = vec![
        Phase {
            name: "early".into(),
            start: 0,
        },
        Phase {
            name: "late".into(),
            start: 4,
        },
    ];
    cfg
}

#[test]
fn the_adaptive_step_is_exactly_rho_used_at_every_step() {
    let mut cfg = tiny();
    cfg.log_every = 1;
    let splits = Splits::new(&cfg).unwrap();
    for mode in [RunMode::AllRadii, RunMode::AttnOut, RunMode::OutputOnly] {
        let run = one_run(&cfg, &splits, &RunSpec { mode, seed: 3 }).unwrap();
        assert_eq!(run.stop_step, None, "{}", mode.name());
        assert_eq!(run.tau.len(), cfg.last_step + 1);
        for i in 0..run.tau.len() {
            // τ = lr_eff·‖u‖ = ρ_used: r = 1 up to the rounding of one
            // division and one product in f64.
            let r = run.tau[i] / run.rho_net[i];
            assert!(
                (r - 1.0).abs() <= 4.0 * f64::EPSILON,
                "{} step {i}: r = {r}",
                mode.name()
            );
            // ρ_used is the minimum of the mode's terms, and the binding
            // term attains it.
            let terms = [run.rho_out[i], run.rho_attn[i], run.rho_ffn[i]];
            let used: &[f64] = match mode {
                RunMode::AllRadii => &terms,
                RunMode::AttnOut => &terms[..2],
                _ => &terms[..1],
            };
            let min = used.iter().copied().fold(f64::INFINITY, f64::min);
            assert_eq!(run.rho_net[i], min);
            let bound = match run.binding[i] {
                Binding::Out => run.rho_out[i],
                Binding::Attn => run.rho_attn[i],
                Binding::Ffn => run.rho_ffn[i],
                Binding::None => f64::NAN,
            };
            assert_eq!(bound, min, "{} step {i}", mode.name());
            assert!(run.rho_out[i] > 0.0 && run.rho_attn[i] > 0.0 && run.rho_ffn[i] > 0.0);
        }
    }
    // A fixed mode records its rate and no radius.
    let run = one_run(
        &cfg,
        &splits,
        &RunSpec {
            mode: RunMode::Fixed(16.0),
            seed: 3,
        },
    )
    .unwrap();
    assert!(run.lr_eff.iter().all(|&lr| lr == 16.0 * cfg.base_lr));
    assert!(run.rho_net.iter().all(|r| r.is_nan()));
    assert!(run.binding.iter().all(|&b| b == Binding::None));
}

/// ρ_out, ρ_attn and ρ_ffn straight from their definitions (spec C8), in
/// f64, from one probed JVP of the f64 dfdx model.
fn by_definition(slopes: &[f64], probes: &[zoo::Probe<f64>], q: f64) -> [f64; 3] {
    let spread = |row: &[f64]| {
        row.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            - row.iter().copied().fold(f64::INFINITY, f64::min)
    };
    let out = slopes.chunks(10).map(spread).fold(0.0, f64::max);
    let attn = probes
        .iter()
        .filter(|p| p.kind == ProbeKind::AttentionScores)
        .flat_map(|p| p.tangent.data.chunks(p.tangent.cols).map(spread))
        .fold(0.0, f64::max);
    let mut ratios: Vec<f64> = probes
        .iter()
        .filter(|p| p.kind == ProbeKind::FfnPreActivation)
        .flat_map(|p| {
            p.value
                .data
                .iter()
                .zip(&p.tangent.data)
                .map(|(h, d)| h.abs() / d.abs().max(1e-12))
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let pos = q * (ratios.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let ffn = ratios[lo] + (ratios[hi] - ratios[lo]) * (pos - lo as f64);
    let pi = std::f64::consts::PI;
    [pi / out.max(1e-12), pi / attn.max(1e-12), ffn]
}

#[test]
fn the_radii_of_the_one_tangent_pass_equal_those_computed_separately() {
    let cfg = tiny();
    let full = Splits::new(&cfg).unwrap();
    // 256 training rows keep the three f64 dfdx passes short.
    let train = full.train.subset(&(0..256).collect::<Vec<_>>());
    let splits = Splits {
        train,
        test: full.test,
    };
    let entry = zoo::arch::find(&cfg.arch).unwrap();
    let fast: Model<f32> = entry
        .build_on(&ArchConfig::default(), Backend::Fast)
        .unwrap();
    let exact: Model<f64> = entry.build(&ArchConfig::default());
    let mut state: State<f32> = fast.init(3);
    // A few AdamW steps first, so the radii are not those of the init.
    let mut adam = Adam::with_config(fast.num_params(), cfg.adam);
    for _ in 0..3 {
        let out = fast.loss_and_grad(&mut state, &splits.train, Mode::Train);
        let p = adam.propose(&state.params, &out.grad, 2e-3);
        adam.apply(&mut state.params, p, 1.0);
    }
    let mut out = fast.loss_and_grad(&mut state, &splits.train, Mode::Train);
    let p = adam.propose(&state.params, &out.grad, 1.0);
    let v: ParamVec<f32> = p.direction();
    let q = cfg.ffn_quantile;
    // The controller's way: one probed tangent pass over the step's own
    // forward, on the fast f32 backend.
    let probe = RadiusProbe::<f32>::on_current_batch();
    let one = probe.measure_components_reusing(&fast, &state, &mut out.cache, Mode::Train, &v, q);
    // Separately: three f64 passes on dfdx at the same (f32-rounded) point,
    // each radius from its definition.
    let state64 = State {
        params: state.params.cast::<f64>(),
        buffers: Vec::new(),
    };
    let x64 = splits.train.cast::<f64>().x;
    let v64: ParamVec<f64> = v.cast();
    let mut separate = [0.0; 3];
    for (k, s) in separate.iter_mut().enumerate() {
        let jvp = exact.jvp_probed(&state64, &x64, &v64);
        *s = by_definition(&jvp.slopes.data, &jvp.probes, q)[k];
    }
    let names = ["rho_out", "rho_attn", "rho_ffn"];
    let ours = [one.rho_out, one.rho_attn, one.rho_ffn];
    for k in 0..3 {
        let rel = (ours[k] - separate[k]).abs() / separate[k];
        // f32 JVP vs f64: agreement to f32 rounding of the activations.
        assert!(
            rel < 1e-3,
            "{}: one pass {} vs separate f64 {} (rel {rel:e})",
            names[k],
            ours[k],
            separate[k]
        );
    }
    // The same definitions on the f32 pass's own probes give the same
    // numbers up to f64 rounding of the reduction (no second pass).
    let (slopes, probes) =
        fast.tangent_probed(&state, &mut out.cache, &v.normalized(), Mode::Train);
    let wide = |p: &zoo::Probe<f32>| zoo::Probe {
        kind: p.kind,
        layer: p.layer.clone(),
        value: zoo::Matrix::new(
            p.value.rows,
            p.value.cols,
            p.value.data.iter().map(|&x| x as f64).collect(),
        ),
        tangent: zoo::Matrix::new(
            p.tangent.rows,
            p.tangent.cols,
            p.tangent.data.iter().map(|&x| x as f64).collect(),
        ),
    };
    let probes64: Vec<zoo::Probe<f64>> = probes.iter().map(wide).collect();
    let slopes64: Vec<f64> = slopes.data.iter().map(|&a| a as f64).collect();
    let direct = by_definition(&slopes64, &probes64, q);
    for k in 0..3 {
        assert_eq!(ours[k], direct[k], "{}", names[k]);
    }
    // And the eval-mode probed JVP (its own forward) gives the same radii:
    // the model has no BatchNorm.
    let fresh = probe.measure_components(&fast, &state, &splits.train, &v, q);
    assert_eq!(fresh, one);
    let on_inputs = RadiusProbe::on_inputs(splits.train.x.clone()).measure_components(
        &fast,
        &state,
        &splits.train,
        &v,
        q,
    );
    assert_eq!(on_inputs, one);
    assert_ne!(one, ComponentRadii::NOT_MEASURED);
}

#[test]
fn small_config_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny();
    cfg.modes = vec![RunMode::AllRadii, RunMode::OutputOnly, RunMode::Fixed(16.0)];
    let cfg_path = dir.path().join("small.yaml");
    std::fs::write(&cfg_path, serde_yaml::to_string(&cfg).unwrap()).unwrap();
    let ctx = Context::new(dir.path(), true).with_config(Some(cfg_path));
    let e = TransformerRadii;
    e.run(&ctx).unwrap();
    let section = e.render(&ctx).unwrap();
    assert!(!section.verdict.is_empty());
    // tau = rho_used holds by construction: said as a check, after the
    // counted claims and numbers, never as one of them.
    let (counted, check) = section
        .verdict
        .split_once("Check (true by construction, not counted): the adaptive modes step exactly")
        .unwrap_or_else(|| panic!("{}", section.verdict));
    assert!(!counted.contains("step exactly") && check.contains("holds"), "{}", section.verdict);
    assert!(section
        .notes
        .iter()
        .any(|n| n.contains("Paper text vs its figure")));
    let summary: TransformerRadiiSummary = ctx.read_summary(e.id()).unwrap();
    // Steps 0, 2, 4, 6: early holds 0 and 2, late 4 and 6.
    assert_eq!(summary.table2_points["early"], 2);
    assert_eq!(summary.table2_points["late"], 2);
    for cells in summary.table2.values() {
        let binds: usize = cells.values().map(|c| c.binding).sum();
        assert_eq!(binds, 2);
        assert!(cells.values().all(|c| c.median > 0.0));
    }
    for m in &cfg.modes {
        let f = &summary.final_[&m.name()];
        assert!(
            f.loss_median.is_finite() && f.acc_median > 0.0,
            "{}",
            m.name()
        );
    }
    assert!(summary.final_["all-radii"].max_r_error <= 4.0 * f64::EPSILON);
    let json = std::fs::read_to_string(ctx.results_dir(e.id()).join("summary.json")).unwrap();
    assert!(json.contains("\"final\"") && json.contains("\"table2\""));
    for f in [
        "fig11_transformer_radii.png",
        "fig11_transformer_radii.svg",
        "fig11b_transformer_radii_terms.png",
    ] {
        assert!(ctx.figures_dir(e.id()).join(f).is_file(), "{f}");
    }
    assert!(ctx.table_path(e.id()).is_file());
    // Stored runs are skipped.
    ctx.tally.reset();
    e.run(&ctx).unwrap();
    assert_eq!(ctx.tally.computed(), 0);
    assert_eq!(ctx.tally.stored(), 3);
}

#[test]
fn a_run_round_trips_through_its_frame_and_repeats_bit_for_bit() {
    let cfg = tiny();
    let splits = Splits::new(&cfg).unwrap();
    let spec = RunSpec {
        mode: RunMode::AllRadii,
        seed: 3,
    };
    let run = one_run(&cfg, &splits, &spec).unwrap();
    assert_eq!(run.step, cfg.logged_steps());
    let f = <TransformerRadii as Study>::to_frame(&run).unwrap();
    assert_eq!(f.height(), 4);
    let back = <TransformerRadii as Study>::from_frame(&cfg, &spec, &f).unwrap();
    let bits = |r: &RadiiRun| -> Vec<u64> {
        [
            &r.loss,
            &r.test_acc,
            &r.lr_eff,
            &r.tau,
            &r.rho_out,
            &r.rho_attn,
            &r.rho_ffn,
            &r.rho_net,
        ]
        .into_iter()
        .flat_map(|v| v.iter().map(|x| x.to_bits()))
        .collect()
    };
    assert_eq!(bits(&back), bits(&run));
    assert_eq!(back.binding, run.binding);
    assert_eq!(
        (back.mode, back.seed, back.stop_step),
        (RunMode::AllRadii, 3, None)
    );
    // A second run of the same job, on another thread count, is the same.
    let again = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| one_run(&cfg, &splits, &spec).unwrap());
    assert_eq!(bits(&again), bits(&run));
}

#[test]
fn divergence_stops_the_run_without_a_panic() {
    let mut cfg = tiny();
    // An absurd fixed rate: the loss turns non-finite, the run stops and
    // the rest is NaN.
    cfg.base_lr = 1e6;
    let splits = Splits::new(&cfg).unwrap();
    let run = one_run(
        &cfg,
        &splits,
        &RunSpec {
            mode: RunMode::Fixed(1.0),
            seed: 3,
        },
    )
    .unwrap();
    let t = run.stop_step.expect("the run stops");
    assert!(t <= cfg.last_step);
    assert!(run.loss.last().unwrap().is_nan());
    let summary = summary::summarize(&cfg, &[run]);
    assert_eq!(summary.stopped_runs.len(), 1);
}

#[test]
fn modes_read_and_write_as_the_paper_names_them() {
    for (text, mode) in [
        ("all-radii", RunMode::AllRadii),
        ("attn-out", RunMode::AttnOut),
        ("output-only", RunMode::OutputOnly),
        ("fixed-1x", RunMode::Fixed(1.0)),
        ("fixed-16x", RunMode::Fixed(16.0)),
        ("fixed-0.5x", RunMode::Fixed(0.5)),
    ] {
        assert_eq!(RunMode::try_from(text.to_string()).unwrap(), mode);
        assert_eq!(mode.name(), text);
    }
    for bad in ["all", "fixed-x", "fixed-0x", "fixed--1x", "fixed-16"] {
        assert!(RunMode::try_from(bad.to_string()).is_err(), "{bad}");
    }
}

#[test]
fn bad_values_are_refused() {
    assert!(tiny().validate().is_ok());
    let bad = |f: fn(&mut TransformerRadiiConfig)| {
        let mut c = tiny();
        f(&mut c);
        c.validate().unwrap_err().0
    };
    assert_eq!(bad(|c| c.arch = "nope".into()), "arch");
    assert_eq!(bad(|c| c.modes = vec![]), "modes");
    assert_eq!(
        bad(|c| c.modes = vec![RunMode::AllRadii, RunMode::AllRadii]),
        "modes"
    );
    assert_eq!(bad(|c| c.base_lr = 0.0), "base_lr");
    assert_eq!(bad(|c| c.seeds = vec![]), "seeds");
    assert_eq!(bad(|c| c.seeds = vec![1, 1]), "seeds");
    assert_eq!(bad(|c| c.test_ratio = 1.0), "test_ratio");
    assert_eq!(bad(|c| c.log_every = 0), "log_every");
    assert_eq!(bad(|c| c.adam.beta1 = 1.0), "adam");
    assert_eq!(bad(|c| c.r_target = -1.0), "r_target");
    assert_eq!(bad(|c| c.ffn_quantile = 1.5), "ffn_quantile");
    assert_eq!(bad(|c| c.phases = vec![]), "phases");
    assert_eq!(bad(|c| c.phases[0].start = 1), "phases");
    assert_eq!(bad(|c| c.phases[1].start = 100), "phases");
    assert_eq!(bad(|c| c.phases[1].name = "early".into()), "phases");
    // An unknown mode name is a parse error naming it.
    let text = serde_yaml::to_string(&tiny())
        .unwrap()
        .replace("all-radii", "all-radius");
    let err = crate::config::parse_config::<TransformerRadiiConfig>(&text, "t.yaml").unwrap_err();
    assert!(err.to_string().contains("all-radius"), "{err}");
}

#[test]
fn measuring_only_the_modes_terms_gives_the_same_radii_and_run() {
    let cfg = tiny();
    let splits = Splits::new(&cfg).unwrap();
    let fast: Model<f32> = zoo::arch::find(&cfg.arch)
        .unwrap()
        .build_on(&ArchConfig::default(), Backend::Fast)
        .unwrap();
    let mut state: State<f32> = fast.init(5);
    let mut adam = Adam::with_config(fast.num_params(), cfg.adam);
    for _ in 0..2 {
        let out = fast.loss_and_grad(&mut state, &splits.train, Mode::Train);
        let p = adam.propose(&state.params, &out.grad, 2e-3);
        adam.apply(&mut state.params, p, 1.0);
    }
    let v: ParamVec<f32> = {
        let out = fast.loss_and_grad(&mut state, &splits.train, Mode::Train);
        adam.propose(&state.params, &out.grad, 1.0).direction()
    };
    let probe = RadiusProbe::<f32>::on_current_batch();
    let measure = |terms: &[RadiusTerm]| {
        let mut out = fast.loss_and_grad(&mut state.clone(), &splits.train, Mode::Train);
        probe.measure_terms_reusing(
            &fast,
            &state,
            &mut out.cache,
            Mode::Train,
            &v,
            cfg.ffn_quantile,
            terms,
        )
    };
    use RadiusTerm::{Attn, Ffn, Out};
    let all = measure(&[Out, Attn, Ffn]);
    // The logits' slopes of the row-pruned pass (no probes) equal those of
    // the full pass bit for bit, and so do the probes of a subset.
    let out_only = measure(&[Out]);
    assert_eq!(out_only.rho_out.to_bits(), all.rho_out.to_bits());
    assert!(out_only.rho_attn.is_nan() && out_only.rho_ffn.is_nan());
    let attn_out = measure(&[Out, Attn]);
    assert_eq!(attn_out.rho_out.to_bits(), all.rho_out.to_bits());
    assert_eq!(attn_out.rho_attn.to_bits(), all.rho_attn.to_bits());
    assert!(attn_out.rho_ffn.is_nan());
    let ffn = measure(&[Ffn]);
    assert_eq!(ffn.rho_ffn.to_bits(), all.rho_ffn.to_bits());
    assert!(ffn.rho_attn.is_nan());
    // End to end: logging every step (every radius measured at every step)
    // and every third step (the others measure the mode's terms only) give
    // the same run at the common logged steps.
    for mode in [RunMode::AttnOut, RunMode::OutputOnly] {
        let (mut every, mut third) = (cfg.clone(), cfg.clone());
        every.log_every = 1;
        third.log_every = 3;
        let spec = RunSpec { mode, seed: 3 };
        let (a, b) = (
            one_run(&every, &splits, &spec).unwrap(),
            one_run(&third, &splits, &spec).unwrap(),
        );
        for (j, t) in third.logged_steps().iter().enumerate() {
            let i = *t as usize;
            for (x, y, what) in [
                (a.loss[i], b.loss[j], "loss"),
                (a.tau[i], b.tau[j], "tau"),
                (a.lr_eff[i], b.lr_eff[j], "lr_eff"),
                (a.rho_ffn[i], b.rho_ffn[j], "rho_ffn"),
            ] {
                assert_eq!(x.to_bits(), y.to_bits(), "{} step {t}: {what}", mode.name());
            }
        }
    }
}
