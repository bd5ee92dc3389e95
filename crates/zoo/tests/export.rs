//! `zoo::export`: an export read back rebuilds the same model, parameters,
//! direction and samples bit for bit, and recomputing the logits and the
//! exact JVP from what was loaded gives the stored numbers bit for bit; the
//! manifest describes every tensor; bad inputs and damaged files are named
//! errors.

use safetensors::tensor::{Dtype, SafeTensors};
use std::path::Path;
use zoo::export::{
    export, load_export, sha256_hex, SampleCountError, DATA_FILE, DIRECTION_FILE, MANIFEST_FILE,
    PARAMS_FILE,
};
use zoo::{ArchConfig, ArchEntry, Cache, Layer, Mode, Model, ParamVec, Plain, Probe, Real, Traced};

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn manifest_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap()).unwrap()
}

#[test]
fn mlp_ln_export_round_trips_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mlp-ln");
    let entry = zoo::arch::find("mlp-ln").unwrap();
    let (seed, samples) = (7, 12);
    let summary = export(&entry, seed, samples, &dir).unwrap();
    for f in [PARAMS_FILE, DIRECTION_FILE, DATA_FILE, MANIFEST_FILE] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let loaded = load_export(&dir).unwrap();

    // Parameters and direction: the model's own, bit for bit.
    let model = entry.build::<f64>(&ArchConfig::default());
    let state = model.init(seed);
    assert_eq!(bits(&loaded.params.0), bits(&state.params.0));
    assert!(loaded.buffers.is_empty() && state.buffers.is_empty());
    let v = ParamVec::<f64>::random_unit(model.num_params(), seed + 1);
    assert_eq!(bits(&loaded.direction.0), bits(&v.0));
    assert!((loaded.direction.norm() - 1.0).abs() < 1e-12);

    // Samples: the first N of the stratified 70/30 split's test part (seed 42).
    let digits = data::load_default_digits().unwrap();
    let split = data::stratified_split(&digits.labels, 0.3, 42);
    assert_eq!(loaded.indices, split.test[..samples]);
    let inputs: Vec<f64> = loaded
        .indices
        .iter()
        .flat_map(|&i| digits.sample(i).to_vec())
        .collect();
    assert_eq!(bits(&loaded.inputs), bits(&inputs));
    let labels: Vec<usize> = loaded
        .indices
        .iter()
        .map(|&i| digits.labels[i] as usize)
        .collect();
    assert_eq!(loaded.labels, labels);
    assert_eq!(loaded.samples(), samples);

    // Logits and exact JVP recomputed from the loaded files: identical.
    let batch = loaded.batch();
    let jvp = model.jvp(&loaded.state(), &batch.x, &loaded.direction);
    assert_eq!(bits(&jvp.logits.as_vec()), bits(&loaded.logits));
    assert_eq!(bits(&jvp.slopes.as_vec()), bits(&loaded.slopes));
    let spreads = radius::spreads_of_rows(&loaded.slopes, 10);
    assert_eq!(bits(&spreads), bits(&loaded.delta_a));
    let max = spreads.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(summary.rho_a, std::f64::consts::PI / max);
    assert_eq!(loaded.manifest.rho_a, Some(summary.rho_a));
    assert!(zoo::check::normwise_rel_error(&loaded.slopes, &loaded.fd_slopes) < 1e-6);

    // Manifest: the documented keys, every tensor in model order with our shape.
    let m = manifest_json(&dir);
    for key in [
        "format",
        "format_version",
        "arch",
        "description",
        "config",
        "seed",
        "element_type",
        "num_params",
        "num_buffers",
        "input_features",
        "classes",
        "layers",
        "tensors",
        "direction",
        "data",
        "rho_a",
        "jvp",
        "conventions",
        "pytorch",
        "files",
    ] {
        assert!(m.get(key).is_some(), "manifest lacks {key:?}");
    }
    assert_eq!(m["arch"], "mlp-ln");
    assert_eq!(m["seed"], seed);
    assert_eq!(m["element_type"], "f64");
    assert_eq!(m["num_params"], model.num_params());
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), model.layers().len());
    for (i, (l, layer)) in layers.iter().zip(model.layers()).enumerate() {
        assert_eq!(l["index"], i);
        assert_eq!(l["description"], layer.describe());
    }
    let tensors = m["tensors"].as_array().unwrap();
    let layout = model.layout();
    assert_eq!(tensors.len(), layout.len());
    for (t, (layer, desc, offset, spec)) in tensors.iter().zip(&layout) {
        assert_eq!(t["name"], format!("{layer}.{}", spec.name));
        assert_eq!(t["kind"], "param");
        assert_eq!(t["layer"], *layer);
        assert_eq!(t["layer_description"], desc.as_str());
        assert_eq!(t["shape"], serde_json::json!([spec.shape.0, spec.shape.1]));
        assert_eq!(t["offset"], *offset);
        assert!(!t["layout"].as_str().unwrap().is_empty());
    }
    // Linear weights are stored (in, out): PyTorch's is the transpose.
    assert_eq!(tensors[0]["torch_name"], "weight");
    assert_eq!(tensors[0]["transpose"], true);
    assert_eq!(tensors[0]["torch_shape"], serde_json::json!([128, 64]));
    assert!(tensors[0]["layout"]
        .as_str()
        .unwrap()
        .contains("ours.T.reshape([128, 64])"));
    for key in [
        "linear",
        "gelu",
        "layernorm",
        "batchnorm",
        "direction",
        "rho_a",
        "layout",
    ] {
        assert!(
            m["conventions"].get(key).is_some(),
            "conventions lack {key:?}"
        );
    }
    assert!(m["pytorch"].as_array().unwrap().iter().any(|l| l
        .as_str()
        .unwrap()
        .contains("from safetensors.torch import load_file")));
    let files = m["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    for f in files {
        let name = f["name"].as_str().unwrap();
        assert_eq!(
            f["sha256"],
            sha256_hex(&std::fs::read(dir.join(name)).unwrap()),
            "{name}"
        );
    }
    assert_eq!(summary.files.len(), 4);

    // The safetensors files themselves: names, dtypes and shapes.
    let pbytes = std::fs::read(dir.join(PARAMS_FILE)).unwrap();
    let dbytes = std::fs::read(dir.join(DIRECTION_FILE)).unwrap();
    let (p, d) = (
        SafeTensors::deserialize(&pbytes).unwrap(),
        SafeTensors::deserialize(&dbytes).unwrap(),
    );
    assert_eq!(p.len(), layout.len());
    assert_eq!(d.len(), layout.len());
    for (layer, _, _, spec) in &layout {
        let name = format!("{layer}.{}", spec.name);
        for st in [&p, &d] {
            let t = st.tensor(&name).unwrap();
            assert_eq!(t.dtype(), Dtype::F64);
            assert_eq!(t.shape(), &[spec.shape.0, spec.shape.1]);
        }
    }
    let xbytes = std::fs::read(dir.join(DATA_FILE)).unwrap();
    let x = SafeTensors::deserialize(&xbytes).unwrap();
    for (name, dtype, shape) in [
        ("inputs", Dtype::F64, vec![samples, 64]),
        ("labels", Dtype::I64, vec![samples]),
        ("indices", Dtype::I64, vec![samples]),
        ("logits", Dtype::F64, vec![samples, 10]),
        ("slopes", Dtype::F64, vec![samples, 10]),
        ("fd_slopes", Dtype::F64, vec![samples, 10]),
        ("delta_a", Dtype::F64, vec![samples]),
    ] {
        let t = x.tensor(name).unwrap();
        assert_eq!((t.dtype(), t.shape().to_vec()), (dtype, shape), "{name}");
    }
}

/// A layer with BatchNorm-like buffers (running mean 0.25, variance 2.0 per
/// channel) that passes its input through: enough to test buffer export
/// without depending on a particular BatchNorm implementation.
struct Buffered {
    channels: usize,
}

impl<E: Real> Layer<E> for Buffered
where
    zoo::Dev: dfdx::prelude::Device<E>,
{
    fn describe(&self) -> String {
        format!("buffered identity {}", self.channels)
    }

    fn init_state(&self) -> Vec<f64> {
        let mut s = vec![0.25; self.channels];
        s.extend(vec![2.0; self.channels]);
        s
    }

    fn forward_traced(
        &self,
        _p: &[Plain<E>],
        x: Traced<E>,
        _state: &mut [E],
        _mode: Mode,
        _cache: &mut Cache<E>,
    ) -> Traced<E> {
        x
    }

    fn forward(
        &self,
        _p: &[Plain<E>],
        x: Plain<E>,
        _state: &mut [E],
        _mode: Mode,
        _cache: &mut Cache<E>,
    ) -> Plain<E> {
        x
    }

    fn tangent(
        &self,
        _p: &[Plain<E>],
        _dp: &[Plain<E>],
        dx: Option<Plain<E>>,
        _mode: Mode,
        _cache: &mut Cache<E>,
        _probes: &mut Vec<Probe<E>>,
    ) -> Plain<E> {
        dx.expect("placed after a linear layer")
    }
}

fn buffered<E: Real>(_cfg: &ArchConfig) -> Model<E>
where
    zoo::Dev: dfdx::prelude::Device<E>,
{
    use zoo::layers::Linear;
    let layers: Vec<Box<dyn Layer<E>>> = vec![
        Box::new(Linear::new(64, 4)),
        Box::new(Buffered { channels: 4 }),
        Box::new(Linear::new(4, 6)),
        Box::new(Buffered { channels: 6 }),
        Box::new(Linear::new(6, 10)),
    ];
    Model::new("buffered", 64, 10, layers)
}

#[test]
fn buffers_are_exported_as_running_statistics() {
    let entry = ArchEntry {
        name: "buffered",
        description: "test model with buffers",
        input: zoo::InputKind::Digits,
        build_f32: buffered::<f32>,
        build_f64: buffered::<f64>,
    };
    let tmp = tempfile::tempdir().unwrap();
    let summary = export(&entry, 3, 5, tmp.path()).unwrap();
    assert_eq!(summary.num_buffers, 20);
    let loaded = load_export(tmp.path()).unwrap();
    let model = entry.build::<f64>(&ArchConfig::default());
    assert_eq!(
        model
            .buffer_layout()
            .iter()
            .map(|(i, _, r)| (*i, r.clone()))
            .collect::<Vec<_>>(),
        vec![(1, 0..8), (3, 8..20)]
    );
    let state = model.init(3);
    assert_eq!(bits(&loaded.buffers), bits(&state.buffers));
    assert_eq!(bits(&loaded.params.0), bits(&state.params.0));
    let buffers: Vec<_> = loaded
        .manifest
        .tensors
        .iter()
        .filter(|t| t.kind == "buffer")
        .map(|t| (t.name.as_str(), t.shape.clone(), t.offset))
        .collect();
    // A layer the format does not know is exported as kind "custom", its
    // buffers as one "<layer>.buffers" tensor in its init_state order; the
    // layers after it are custom too (their input shape is unknown).
    assert_eq!(
        buffers,
        vec![("1.buffers", vec![1, 8], 0), ("3.buffers", vec![1, 12], 8)]
    );
    let kinds: Vec<&str> = loaded.manifest.layers.iter().map(|l| l.kind()).collect();
    assert_eq!(kinds, ["linear", "custom", "custom", "custom", "custom"]);
    let bytes = std::fs::read(tmp.path().join(PARAMS_FILE)).unwrap();
    let p = SafeTensors::deserialize(&bytes).unwrap();
    let var: Vec<f64> = p
        .tensor("3.buffers")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(var, [vec![0.25; 6], vec![2.0; 6]].concat());
    // The direction has no buffer tensors.
    let dbytes = std::fs::read(tmp.path().join(DIRECTION_FILE)).unwrap();
    assert!(SafeTensors::deserialize(&dbytes)
        .unwrap()
        .tensor("1.buffers")
        .is_err());
    let batch = loaded.batch();
    let jvp = model.jvp(&loaded.state(), &batch.x, &loaded.direction);
    assert_eq!(bits(&jvp.slopes.as_vec()), bits(&loaded.slopes));
}

#[test]
fn exports_are_deterministic_and_damage_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = zoo::arch::find("linear").unwrap();
    let first = export(&entry, 1, 4, tmp.path()).unwrap();
    // Re-exporting replaces the files with identical bytes and leaves no temporaries.
    let second = export(&entry, 1, 4, tmp.path()).unwrap();
    assert_eq!(first.files, second.files);
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [DATA_FILE, DIRECTION_FILE, MANIFEST_FILE, PARAMS_FILE]
    );

    for bad in [0, 100_000] {
        let err = export(&entry, 1, bad, &tmp.path().join("bad")).unwrap_err();
        let e = err
            .downcast_ref::<SampleCountError>()
            .expect("a SampleCountError");
        assert_eq!(e.requested, bad);
        assert!(!tmp.path().join("bad").exists());
    }

    let path = tmp.path().join(DATA_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let msg = format!("{:#}", load_export(tmp.path()).unwrap_err());
    assert!(msg.contains(DATA_FILE) && msg.contains("sha256"), "{msg}");

    std::fs::remove_file(tmp.path().join(MANIFEST_FILE)).unwrap();
    let msg = format!("{:#}", load_export(tmp.path()).unwrap_err());
    assert!(msg.contains(MANIFEST_FILE), "{msg}");
}
