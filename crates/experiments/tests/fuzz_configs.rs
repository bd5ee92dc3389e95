//! Fuzzing the settings files (issue 18, on stable Rust with proptest):
//! generated YAML (random keys, types, values and nesting; the real
//! configs with keys replaced, added or removed; arbitrary text) given to
//! every experiment's config reader never panics: it is a named error or a
//! config whose runs can be listed. Cases that once failed are kept below
//! as regression tests.

use experiments::{registry, Context};
use proptest::prelude::*;
use serde_yaml::{Mapping, Value};
use std::path::Path;

/// Every experiment's paper-scale config as a YAML mapping.
fn real_configs() -> Vec<(&'static str, Mapping)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    registry()
        .into_iter()
        .map(|e| {
            let text = std::fs::read_to_string(root.join(format!("{}.yaml", e.id()))).unwrap();
            (e.id(), serde_yaml::from_str(&text).unwrap())
        })
        .collect()
}

/// Read `text` as experiment `id`'s settings the way `ghosts` does (file,
/// check, then list its runs); any outcome but a panic is fine.
fn read_as(id: &str, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.yaml");
    std::fs::write(&path, text).unwrap();
    let e = registry().into_iter().find(|e| e.id() == id).unwrap();
    if e.check_config(&path).is_ok() {
        let ctx = Context::new(dir.path(), false).with_config(Some(path));
        let _ = e.runs(&ctx);
    }
}

/// Scalars of every YAML type, including the awkward ones.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Number(i.into())),
        any::<u64>().prop_map(|i| Value::Number(i.into())),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-f64::INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(1e-320),
            Just(f64::MAX),
        ]
        .prop_map(|f| Value::Number(f.into())),
        "[a-z_.\\-0-9 ]{0,12}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ]
}

/// Values with nesting (sequences and mappings of values).
fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Sequence),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Mapping(kv.into_iter().collect())),
        ]
    })
}

/// Keys: mostly the real configs' own, sometimes anything.
fn key() -> impl Strategy<Value = Value> {
    let known: Vec<String> = real_configs()
        .into_iter()
        .flat_map(|(_, m)| m.keys().filter_map(|k| k.as_str().map(String::from)).collect::<Vec<_>>())
        .collect();
    prop_oneof![
        4 => prop::sample::select(known).prop_map(Value::String),
        1 => "[a-z_]{1,10}".prop_map(Value::String),
        1 => scalar(),
    ]
}

/// One edit of a real config: replace, add or remove a key.
#[derive(Debug, Clone)]
enum Edit {
    Replace(prop::sample::Index, Value),
    Add(Value, Value),
    Remove(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<prop::sample::Index>(), value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        1 => (key(), value()).prop_map(|(k, v)| Edit::Add(k, v)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// A real config with one to four keys edited: the reader gets past
    /// parsing into each experiment's own checks.
    #[test]
    fn edited_real_configs_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let configs = real_configs();
        let (id, mut map) = configs[which.index(configs.len())].clone();
        for e in edits {
            let keys: Vec<Value> = map.keys().cloned().collect();
            match e {
                Edit::Replace(i, v) if !keys.is_empty() => {
                    map.insert(keys[i.index(keys.len())].clone(), v);
                }
                Edit::Remove(i) if !keys.is_empty() => {
                    map.remove(&keys[i.index(keys.len())]);
                }
                Edit::Add(k, v) => {
                    map.insert(k, v);
                }
                _ => {}
            }
        }
        read_as(id, &serde_yaml::to_string(&Value::Mapping(map)).unwrap());
    }

    /// Any YAML document at all, for every experiment.
    #[test]
    fn random_yaml_documents_never_panic(doc in value(), which in any::<prop::sample::Index>()) {
        let ids: Vec<&str> = registry().iter().map(|e| e.id()).collect();
        read_as(ids[which.index(ids.len())], &serde_yaml::to_string(&doc).unwrap());
    }

    /// Arbitrary text (often not YAML at all).
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), which in any::<prop::sample::Index>()) {
        let ids: Vec<&str> = registry().iter().map(|e| e.id()).collect();
        read_as(ids[which.index(ids.len())], &text);
    }
}

/// YAML a generator rarely makes, kept as regression cases: empty and
/// null documents, a top-level list or scalar, aliases and tags, duplicate
/// keys, numbers beyond f64, deep nesting.
#[test]
fn kept_yaml_cases_never_panic() {
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let cases = [
        "",
        "~",
        "- 1\n- 2\n",
        "42",
        "seeds: &s [0, 1]\nother: *s\n",
        "seeds: !!binary aGVsbG8=\n",
        "seeds: [0]\nseeds: [1]\n",
        "lr: 1e400\n",
        "lr: -.inf\n",
        "lr: .nan\n",
        "seeds: [-1]\n",
        "seeds: [18446744073709551616]\n",
        "? [a, b]\n: 1\n",
        "\u{feff}seeds: [0]\n",
        deep.as_str(),
    ];
    for e in registry() {
        for text in cases {
            read_as(e.id(), text);
        }
    }
}
