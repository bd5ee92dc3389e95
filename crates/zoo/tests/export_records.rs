//! The export manifest's structured layer records (format 2), read back as
//! JSON: every layer of every registered digits architecture has a kind
//! from the documented set and the fields of its kind; shapes chain from
//! the input to the logits; every tensor belongs to exactly one record and
//! matches the safetensors files; the facts a PyTorch rebuild relies on
//! (attention packing and scale, row tokens, the single-token transformer,
//! BatchNorm eps/momentum, residual shortcuts) are stated. Trained and
//! checkpoint exports: deterministic, statistics moved, bit-identical
//! round trip, and named errors for bad checkpoints.

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use zoo::export::{
    export, export_with, load_export, CheckpointError, ExportOptions, ParamSource, DATA_FILE,
    DIRECTION_FILE, LAYER_KINDS, MANIFEST_FILE, PARAMS_FILE,
};

/// The kinds README.md and `zoo::export::spec` document, and the fields
/// each kind must carry (besides index, path, description, kind,
/// input_shape, output_shape, tensors, torch).
fn kind_fields() -> BTreeMap<&'static str, Vec<&'static str>> {
    BTreeMap::from([
        ("linear", vec!["in_features", "out_features", "bias"]),
        ("layernorm", vec!["features", "eps", "elementwise_affine"]),
        (
            "batchnorm",
            vec![
                "channels",
                "length",
                "eps",
                "momentum",
                "uses_running_stats",
            ],
        ),
        ("gelu", vec!["approximate"]),
        ("relu", vec![]),
        (
            "conv1d",
            vec![
                "in_channels",
                "out_channels",
                "in_length",
                "out_length",
                "kernel_size",
                "stride",
                "padding",
                "bias",
            ],
        ),
        (
            "conv2d",
            vec![
                "in_channels",
                "out_channels",
                "in_size",
                "out_size",
                "kernel_size",
                "stride",
                "padding",
                "bias",
            ],
        ),
        (
            "maxpool2d",
            vec!["channels", "in_size", "kernel_size", "stride"],
        ),
        ("global_avg_pool", vec!["channels", "length"]),
        (
            "row_tokens",
            vec!["rows", "row_len", "tokens", "dim", "cls_index"],
        ),
        (
            "attention",
            vec![
                "name",
                "dim",
                "heads",
                "d_head",
                "tokens",
                "bias",
                "scale",
                "qkv_packing",
                "head_layout",
            ],
        ),
        ("cls_pool", vec!["tokens", "token"]),
        ("residual", vec!["branch", "shortcut"]),
        ("custom", vec![]),
    ])
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap()).unwrap()
}

fn product(v: &Value) -> usize {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .product()
}

/// Check a list of records reading `input` values per sample; returns the
/// values per sample the list writes. Collects every tensor name.
fn check_chain(records: &[Value], mut values: usize, arch: &str, names: &mut Vec<String>) -> usize {
    let fields = kind_fields();
    for r in records {
        let at = format!("{arch}: layer {} ({})", r["path"], r["description"]);
        let kind = r["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: no kind"));
        assert!(
            LAYER_KINDS.contains(&kind),
            "{at}: kind {kind} not in LAYER_KINDS"
        );
        assert_ne!(kind, "custom", "{at}: a zoo layer exported as custom");
        for f in [
            "index",
            "path",
            "description",
            "input_shape",
            "output_shape",
            "tensors",
            "torch",
        ]
        .iter()
        .chain(&fields[kind])
        {
            assert!(r.get(*f).is_some(), "{at}: field {f} missing");
        }
        assert_eq!(
            product(&r["input_shape"]),
            values,
            "{at}: input shape does not follow its predecessor"
        );
        let out = product(&r["output_shape"]);
        if kind == "residual" {
            let b = check_chain(r["branch"].as_array().unwrap(), values, arch, names);
            let s = check_chain(r["shortcut"].as_array().unwrap(), values, arch, names);
            assert_eq!(
                (b, s),
                (out, out),
                "{at}: branch and shortcut must write the output shape"
            );
            assert!(
                r["tensors"].as_array().unwrap().is_empty(),
                "{at}: a residual's tensors are in its children"
            );
        }
        for t in r["tensors"].as_array().unwrap() {
            let name = t["name"].as_str().unwrap();
            assert!(
                name.starts_with(&format!("{}.", r["path"].as_str().unwrap())),
                "{at}: tensor {name} outside its path"
            );
            names.push(name.to_string());
        }
        values = out;
    }
    values
}

fn f64s(st: &SafeTensors, name: &str) -> Vec<f64> {
    st.tensor(name)
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn every_digits_architecture_exports_structured_layer_records() {
    let tmp = tempfile::tempdir().unwrap();
    let mut documented: Vec<&str> = kind_fields().keys().copied().collect();
    let mut kinds = LAYER_KINDS.to_vec();
    documented.sort();
    kinds.sort();
    assert_eq!(kinds, documented);
    let mut seen_kinds = std::collections::BTreeSet::new();
    for entry in zoo::registry()
        .into_iter()
        .filter(|e| e.input == zoo::InputKind::Digits)
    {
        let dir = tmp.path().join(entry.name);
        export(&entry, 5, 3, &dir).unwrap();
        let m = manifest(&dir);
        assert_eq!(m["format_version"], 2);
        assert_eq!(m["layer_kinds"], json!(LAYER_KINDS));
        assert_eq!(product(&m["input_shape"]), 64);
        let mut names = Vec::new();
        let out = check_chain(m["layers"].as_array().unwrap(), 64, entry.name, &mut names);
        assert_eq!(
            out, 10,
            "{}: the last layer does not write the 10 logits",
            entry.name
        );

        // Every tensor of the table in exactly one record, in table order,
        // with the safetensors shape and a PyTorch shape of the same size.
        let table = m["tensors"].as_array().unwrap();
        let mut table_names: Vec<String> = table
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        let params_first: Vec<String> = table
            .iter()
            .filter(|t| t["kind"] == "param")
            .chain(table.iter().filter(|t| t["kind"] == "buffer"))
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            table_names, params_first,
            "{}: params before buffers",
            entry.name
        );
        let mut sorted = names.clone();
        sorted.sort();
        table_names.sort();
        assert_eq!(
            sorted, table_names,
            "{}: records and tensor table name different tensors",
            entry.name
        );
        let pbytes = std::fs::read(dir.join(PARAMS_FILE)).unwrap();
        let dbytes = std::fs::read(dir.join(DIRECTION_FILE)).unwrap();
        let (p, d) = (
            SafeTensors::deserialize(&pbytes).unwrap(),
            SafeTensors::deserialize(&dbytes).unwrap(),
        );
        assert_eq!(p.len(), table.len());
        for t in table {
            let name = t["name"].as_str().unwrap();
            let shape: Vec<usize> = t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            let view = p.tensor(name).unwrap();
            assert_eq!(
                (view.dtype(), view.shape()),
                (Dtype::F64, shape.as_slice()),
                "{name}"
            );
            assert_eq!(
                product(&t["torch_shape"]),
                shape.iter().product::<usize>(),
                "{name}"
            );
            assert_eq!(
                d.tensor(name).is_ok(),
                t["kind"] == "param",
                "{name}: direction holds params only"
            );
        }
        assert_eq!(
            d.len(),
            table.iter().filter(|t| t["kind"] == "param").count()
        );

        // Kind-specific facts the rebuild relies on.
        let mut stack: Vec<Value> = m["layers"].as_array().unwrap().clone();
        while let Some(r) = stack.pop() {
            let kind = r["kind"].as_str().unwrap();
            seen_kinds.insert(kind.to_string());
            match kind {
                "attention" => {
                    let (dim, heads, dh) = (
                        r["dim"].as_u64().unwrap(),
                        r["heads"].as_u64().unwrap(),
                        r["d_head"].as_u64().unwrap(),
                    );
                    assert_eq!(heads * dh, dim);
                    assert_eq!(r["scale"].as_f64().unwrap(), 1.0 / (dh as f64).sqrt());
                    assert_eq!(
                        (r["qkv_packing"].as_str(), r["head_layout"].as_str()),
                        (Some("q|k|v"), Some("contiguous"))
                    );
                    assert_eq!(r["input_shape"], json!([r["tokens"], r["dim"]]));
                    let t = &r["tensors"][0];
                    assert_eq!(
                        (t["torch_name"].as_str(), t["transpose"].as_bool()),
                        (Some("in_proj_weight"), Some(true))
                    );
                    assert_eq!(t["torch_shape"], json!([3 * dim, dim]));
                    assert_eq!(
                        r["tensors"].as_array().unwrap().len(),
                        if r["bias"] == true { 4 } else { 2 }
                    );
                }
                "batchnorm" => {
                    assert_eq!(
                        (r["eps"].as_f64(), r["momentum"].as_f64()),
                        (Some(1e-5), Some(0.1))
                    );
                    assert_eq!(r["input_shape"][0], r["channels"]);
                    let roles: Vec<&str> = r["tensors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t["role"].as_str().unwrap())
                        .collect();
                    assert_eq!(roles, ["param", "param", "buffer", "buffer"]);
                }
                "layernorm" => assert_eq!(r["eps"].as_f64(), Some(1e-5)),
                "gelu" => assert_eq!(r["approximate"], "none"),
                "residual" => {
                    stack.extend(r["branch"].as_array().unwrap().iter().cloned());
                    stack.extend(r["shortcut"].as_array().unwrap().iter().cloned());
                }
                _ => {}
            }
        }

        match entry.name {
            "tiny-transformer" | "tiny-transformer-b" => {
                let t = &m["layers"][0];
                assert_eq!(
                    (
                        t["kind"].as_str(),
                        t["rows"].as_u64(),
                        t["row_len"].as_u64(),
                        t["tokens"].as_u64(),
                        t["dim"].as_u64(),
                        t["cls_index"].as_u64()
                    ),
                    (
                        Some("row_tokens"),
                        Some(8),
                        Some(8),
                        Some(9),
                        Some(32),
                        Some(0)
                    )
                );
                assert_eq!(t["input_shape"], json!([8, 8]));
                assert_eq!(t["output_shape"], json!([9, 32]));
                let attn = &m["layers"][1]["branch"][1];
                assert_eq!(
                    (
                        attn["heads"].as_u64(),
                        attn["d_head"].as_u64(),
                        attn["tokens"].as_u64()
                    ),
                    (Some(4), Some(8), Some(9))
                );
                assert_eq!(attn["bias"], entry.name == "tiny-transformer-b");
                let pool = &m["layers"][5];
                assert_eq!(
                    (
                        pool["kind"].as_str(),
                        pool["index"].as_u64(),
                        pool["token"].as_u64(),
                        pool["tokens"].as_u64()
                    ),
                    (Some("cls_pool"), Some(5), Some(0), Some(9))
                );
            }
            "transformer-single" => {
                // One token fed to attention as a sequence of length 1.
                let block = &m["layers"][1];
                assert_eq!(block["input_shape"], json!([32]));
                assert_eq!(block["branch"][1]["kind"], "attention");
                assert_eq!(block["branch"][1]["tokens"], 1);
                assert_eq!(block["branch"][1]["input_shape"], json!([1, 32]));
                assert_eq!(block["output_shape"], json!([32]));
            }
            "cnn" => {
                let c = &m["layers"][0];
                assert_eq!(
                    (
                        c["kernel_size"].clone(),
                        c["stride"].clone(),
                        c["padding"].clone(),
                        c["bias"].clone()
                    ),
                    (json!([3, 3]), json!([1, 1]), json!([1, 1]), json!(true))
                );
                assert_eq!(c["tensors"][0]["torch_shape"], json!([16, 1, 3, 3]));
                assert_eq!(m["layers"][6]["input_shape"], json!([128]));
            }
            "cnn-bn" => {
                assert_eq!(m["layers"][0]["kind"], "conv1d");
                assert_eq!(
                    m["layers"][0]["tensors"][0]["torch_shape"],
                    json!([32, 1, 3])
                );
                assert_eq!(m["layers"][1]["input_shape"], json!([32, 64]));
            }
            "resnet8" => {
                // The stride-2 blocks have a 1x1 stride-2 projection shortcut;
                // their BatchNorm buffers are named by path, one C-vector each.
                let block = m["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|l| {
                        l["kind"] == "residual" && !l["shortcut"].as_array().unwrap().is_empty()
                    })
                    .unwrap();
                let sc = &block["shortcut"][0];
                assert_eq!(
                    (
                        sc["kind"].as_str(),
                        sc["kernel_size"].clone(),
                        sc["stride"].clone(),
                        sc["padding"].clone(),
                        sc["bias"].clone()
                    ),
                    (
                        Some("conv2d"),
                        json!([1, 1]),
                        json!([2, 2]),
                        json!([0, 0]),
                        json!(false)
                    )
                );
                let path = block["path"].as_str().unwrap();
                let c = sc["out_channels"].as_u64().unwrap() as usize;
                for b in [
                    "1.running_mean",
                    "1.running_var",
                    "4.running_var",
                    "s1.running_mean",
                ] {
                    let t = table
                        .iter()
                        .find(|t| t["name"] == format!("{path}.{b}"))
                        .unwrap_or_else(|| panic!("{path}.{b}"));
                    assert_eq!(t["numel"], c);
                }
                let vals = f64s(&p, &format!("{path}.s1.running_var"));
                assert_eq!(vals, vec![1.0; c]);
            }
            _ => {}
        }
    }
    for k in LAYER_KINDS.iter().filter(|k| **k != "custom") {
        assert!(
            seen_kinds.contains(*k),
            "no registered architecture uses kind {k}"
        );
    }
}

fn write_safetensors(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<f64>)],
    meta: Option<HashMap<String, String>>,
) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F64, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, &meta).unwrap()).unwrap();
}

#[test]
fn trained_exports_are_deterministic_and_round_trip_through_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = zoo::arch::find("cnn-bn").unwrap();
    let trained = |dir: &Path| {
        export_with(
            &entry,
            &ExportOptions {
                seed: 2,
                samples: 4,
                source: ParamSource::Train { steps: 3 },
            },
            dir,
        )
        .unwrap()
    };
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert_eq!(
        trained(&a).files,
        trained(&b).files,
        "training is deterministic from the seed"
    );
    let ta = load_export(&a).unwrap();
    let init = entry.build::<f64>(&Default::default()).init(2);
    assert_ne!(ta.params.0, init.params.0);
    // Running statistics moved off their init (means 0, variances 1).
    assert!(
        ta.buffers[..32].iter().all(|&m| m != 0.0) && ta.buffers[32..64].iter().all(|&v| v != 1.0)
    );
    let m = manifest(&a);
    assert_eq!(m["parameters"]["source"], "trained");
    assert_eq!(m["parameters"]["training"]["recipe"]["steps"], 3);
    assert_eq!(m["parameters"]["training"]["train_samples"], 1258);

    // The trained params.safetensors as a checkpoint: the same export bit for bit.
    let c = tmp.path().join("c");
    let from_ckpt = |source: ParamSource, dir: &Path| {
        export_with(
            &entry,
            &ExportOptions {
                seed: 2,
                samples: 4,
                source,
            },
            dir,
        )
    };
    from_ckpt(ParamSource::Checkpoint(a.join(PARAMS_FILE)), &c).unwrap();
    let tc = load_export(&c).unwrap();
    assert_eq!(tc.params, ta.params);
    assert_eq!(tc.buffers, ta.buffers);
    assert_eq!(
        (tc.logits.clone(), tc.slopes.clone()),
        (ta.logits.clone(), ta.slopes.clone())
    );
    assert_eq!(
        std::fs::read(c.join(DATA_FILE)).unwrap(),
        std::fs::read(a.join(DATA_FILE)).unwrap()
    );
    let mc = manifest(&c);
    assert_eq!(mc["parameters"]["source"], "checkpoint");
    assert_eq!(
        mc["parameters"]["checkpoint"]["sha256"],
        m["files"][0]["sha256"]
    );
    // A directory works too.
    from_ckpt(ParamSource::Checkpoint(a.clone()), &tmp.path().join("d")).unwrap();

    // Bad checkpoints: named errors of type CheckpointError.
    let bad = |source: ParamSource, needle: &str| {
        let e = from_ckpt(source, &tmp.path().join("bad")).unwrap_err();
        let msg = e
            .downcast_ref::<CheckpointError>()
            .unwrap_or_else(|| panic!("not a CheckpointError: {e:#}"))
            .to_string();
        assert!(msg.contains(needle), "{msg} lacks {needle:?}");
        msg
    };
    bad(
        ParamSource::Checkpoint(tmp.path().join("missing.safetensors")),
        "missing.safetensors",
    );
    let bytes = std::fs::read(a.join(PARAMS_FILE)).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut all: Vec<(String, Vec<usize>, Vec<f64>)> = st
        .names()
        .into_iter()
        .map(|n| {
            (
                n.clone(),
                st.tensor(n).unwrap().shape().to_vec(),
                f64s(&st, n),
            )
        })
        .collect();
    all.sort_by(|x, y| x.0.cmp(&y.0));
    let path = tmp.path().join("ckpt.safetensors");
    let without: Vec<_> = all
        .iter()
        .filter(|t| t.0 != "1.running_var")
        .cloned()
        .collect();
    write_safetensors(&path, &without, None);
    let msg = bad(
        ParamSource::Checkpoint(path.clone()),
        "\"1.running_var\" missing",
    );
    assert!(msg.contains("ckpt.safetensors"), "{msg}");
    let mut reshaped = all.clone();
    let w = reshaped.iter_mut().find(|t| t.0 == "0.weight").unwrap();
    w.1 = vec![w.1[1], w.1[0]];
    write_safetensors(&path, &reshaped, None);
    bad(
        ParamSource::Checkpoint(path.clone()),
        "\"0.weight\" has shape [32, 3]",
    );
    let mut extra = all.clone();
    extra.push(("9.weight".into(), vec![1, 1], vec![0.0]));
    write_safetensors(&path, &extra, None);
    bad(ParamSource::Checkpoint(path.clone()), "\"9.weight\"");
    let note = HashMap::from([("ghosts".to_string(), json!({"arch": "linear"}).to_string())]);
    write_safetensors(&path, &all, Some(note));
    bad(
        ParamSource::Checkpoint(path),
        "written for architecture \"linear\"",
    );
    assert!(
        !tmp.path().join("bad").exists(),
        "a refused checkpoint writes nothing"
    );
}
