//! The sklearn "digits" data set (8x8 handwritten digits, 1797 samples) and
//! the deterministic train/test splits used by the experiments.
//!
//! The file `datasets/digits.csv.gz` is a gzip CSV without header: 1797 rows
//! of 65 integers, 64 pixels (row-major 8x8, values 0..16) followed by the
//! label (0..9). [`load_digits`] checks its sha256 before anything else, then
//! parses it and scales the pixels to `pixel / 16` in [0, 1] (no
//! standardisation). See `datasets/README.md` for provenance and licence.
//!
//! CIFAR-10 (module [`cifar`]) is read from the official binary release when
//! the user supplies it; [`augment`] holds the seeded training augmentations
//! of CIFAR-10 (crop and flip) and of the digits (one-pixel shifts).
//!
//! All splits use [`rand_chacha::ChaCha8Rng`] seeded with `seed_from_u64` and
//! [`rand::seq::SliceRandom::shuffle`], so they are identical on every
//! platform.

#![warn(missing_docs)]

use std::io::Read;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub mod augment;
pub mod cifar;

pub use augment::{augment_rng, shift_digits_batch, CropFlip, Shift};
pub use cifar::{load_cifar10, normalize_cifar, Cifar, CifarSplits};

/// sha256 (lowercase hex) of `datasets/digits.csv.gz`.
pub const DIGITS_SHA256: &str = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22";
/// Number of pixels per image (8x8).
pub const N_PIXELS: usize = 64;
/// Number of classes (digits 0..9).
pub const N_CLASSES: usize = 10;
/// Number of rows in `digits.csv.gz`.
pub const N_SAMPLES: usize = 1797;

/// Largest raw pixel value in the file; pixels are divided by this.
const MAX_PIXEL: i64 = 16;
/// File name looked for in the data set directory.
const DIGITS_FILE: &str = "digits.csv.gz";

/// Errors from loading or parsing the data files. Every variant names the
/// file; digits parse errors also give the 1-based row (line) and field
/// (column), CIFAR-10 errors the 0-based record index within the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read (missing, unreadable, ...).
    #[error("{}: cannot read file: {source}", path.display())]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file's sha256 differs from [`DIGITS_SHA256`].
    #[error("{}: sha256 mismatch: expected {expected}, found {found}", path.display())]
    Checksum {
        /// The file that was checked.
        path: PathBuf,
        /// The expected hex digest.
        expected: String,
        /// The hex digest of the file's bytes.
        found: String,
    },
    /// The file is not valid gzip, or does not decompress to UTF-8 text.
    #[error("{}: cannot decompress gzip: {source}", path.display())]
    Gzip {
        /// The file that failed to decompress.
        path: PathBuf,
        /// The underlying decoder error.
        #[source]
        source: std::io::Error,
    },
    /// A row does not have 65 comma-separated fields.
    #[error("{}: row {row}: expected {expected} comma-separated fields, found {found}", path.display())]
    FieldCount {
        /// The file being parsed.
        path: PathBuf,
        /// 1-based line number.
        row: usize,
        /// Expected number of fields (65).
        expected: usize,
        /// Number of fields found.
        found: usize,
    },
    /// A field is not an integer.
    #[error("{}: row {row}, field {field}: expected an integer, found {text:?}", path.display())]
    NotInteger {
        /// The file being parsed.
        path: PathBuf,
        /// 1-based line number.
        row: usize,
        /// 1-based field (column) number.
        field: usize,
        /// The offending field text.
        text: String,
    },
    /// A pixel value is outside 0..=16.
    #[error("{}: row {row}, field {field}: expected a pixel value in 0..=16, found {value}", path.display())]
    PixelRange {
        /// The file being parsed.
        path: PathBuf,
        /// 1-based line number.
        row: usize,
        /// 1-based field (column) number.
        field: usize,
        /// The offending value.
        value: i64,
    },
    /// The label (last field) is outside 0..=9.
    #[error("{}: row {row}, field {field}: expected a label in 0..=9, found {value}", path.display())]
    LabelRange {
        /// The file being parsed.
        path: PathBuf,
        /// 1-based line number.
        row: usize,
        /// 1-based field (column) number (always 65).
        field: usize,
        /// The offending value.
        value: i64,
    },
    /// The file has the wrong number of data rows.
    #[error("{}: expected {expected} rows, found {found}", path.display())]
    RowCount {
        /// The file being parsed.
        path: PathBuf,
        /// Expected number of rows (at least 1 for [`parse_digits_csv`],
        /// exactly [`N_SAMPLES`] for [`load_digits`]).
        expected: usize,
        /// Number of rows found.
        found: usize,
    },
    /// A CIFAR-10 file does not exist.
    #[error(
        "{}: CIFAR-10 file not found (expected the binary release: data_batch_1.bin .. data_batch_5.bin and test_batch.bin in the data root or in its cifar-10-batches-bin folder)",
        path.display()
    )]
    CifarMissing {
        /// The missing file.
        path: PathBuf,
    },
    /// A CIFAR-10 file's length is not a whole number of 3073-byte records.
    #[error(
        "{}: {len} bytes is not a multiple of the 3073-byte record: record {record} (0-based) is truncated, {bytes} of 3073 bytes present",
        path.display()
    )]
    CifarTruncated {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// 0-based index of the incomplete (last) record.
        record: usize,
        /// Bytes of that record present (1..=3072).
        bytes: usize,
    },
    /// A CIFAR-10 file holds the wrong number of records.
    #[error("{}: expected {expected} records of 3073 bytes, found {found}", path.display())]
    CifarRecordCount {
        /// The file.
        path: PathBuf,
        /// Records required (10,000 in the release; 1, meaning at least
        /// one, when no count is required).
        expected: usize,
        /// Whole records in the file.
        found: usize,
    },
    /// A CIFAR-10 record's label byte is not in 0..=9.
    #[error("{}: record {record} (0-based): expected a label in 0..=9, found {label}", path.display())]
    CifarLabel {
        /// The file.
        path: PathBuf,
        /// 0-based index of the record in the file.
        record: usize,
        /// The offending label byte.
        label: u8,
    },
}

/// Digit images with their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Digits {
    /// Row-major `len() x N_PIXELS` matrix of pixels scaled to [0, 1].
    pub pixels: Vec<f64>,
    /// Class label 0..9 of each sample.
    pub labels: Vec<u8>,
}

impl Digits {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True if there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The `N_PIXELS` scaled pixels of sample `i`. Panics if `i >= len()`.
    pub fn sample(&self, i: usize) -> &[f64] {
        &self.pixels[i * N_PIXELS..(i + 1) * N_PIXELS]
    }

    /// A new data set holding the samples at `indices`, in that order.
    /// Panics if an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Digits {
        let mut pixels = Vec::with_capacity(indices.len() * N_PIXELS);
        for &i in indices {
            pixels.extend_from_slice(self.sample(i));
        }
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        Digits { pixels, labels }
    }
}

/// Reads `path`, verifies its sha256 against [`DIGITS_SHA256`] before
/// anything else, then gunzips, parses, and checks there are exactly
/// [`N_SAMPLES`] rows.
pub fn load_digits(path: &Path) -> Result<Digits, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let found = sha256_hex(&bytes);
    if found != DIGITS_SHA256 {
        return Err(DataError::Checksum {
            path: path.to_path_buf(),
            expected: DIGITS_SHA256.to_string(),
            found,
        });
    }
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .map_err(|source| DataError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    let digits = parse_digits_csv(&text, path)?;
    if digits.len() != N_SAMPLES {
        return Err(DataError::RowCount {
            path: path.to_path_buf(),
            expected: N_SAMPLES,
            found: digits.len(),
        });
    }
    Ok(digits)
}

/// Parses the (already decompressed) CSV text; `source` is only used in
/// error messages. Blank lines are skipped; row numbers in errors are 1-based
/// line numbers. Accepts any number of rows >= 1 and does no checksum.
pub fn parse_digits_csv(text: &str, source: &Path) -> Result<Digits, DataError> {
    let path = || source.to_path_buf();
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (line_idx, line) in text.lines().enumerate() {
        let row = line_idx + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != N_PIXELS + 1 {
            return Err(DataError::FieldCount {
                path: path(),
                row,
                expected: N_PIXELS + 1,
                found: fields.len(),
            });
        }
        for (field_idx, raw) in fields.iter().enumerate() {
            let field = field_idx + 1;
            let text = raw.trim();
            let value: i64 = text.parse().map_err(|_| DataError::NotInteger {
                path: path(),
                row,
                field,
                text: text.to_string(),
            })?;
            if field_idx < N_PIXELS {
                if !(0..=MAX_PIXEL).contains(&value) {
                    return Err(DataError::PixelRange {
                        path: path(),
                        row,
                        field,
                        value,
                    });
                }
                pixels.push(value as f64 / MAX_PIXEL as f64);
            } else {
                if !(0..N_CLASSES as i64).contains(&value) {
                    return Err(DataError::LabelRange {
                        path: path(),
                        row,
                        field,
                        value,
                    });
                }
                labels.push(value as u8);
            }
        }
    }
    if labels.is_empty() {
        return Err(DataError::RowCount {
            path: path(),
            expected: 1,
            found: 0,
        });
    }
    Ok(Digits { pixels, labels })
}

/// Location of `digits.csv.gz`: `$GHOSTS_DATASETS/digits.csv.gz` if that
/// variable is set; else the first `datasets/digits.csv.gz` found walking up
/// from the current directory; else `<workspace>/datasets/digits.csv.gz`
/// relative to this crate's source directory at compile time.
pub fn default_digits_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("GHOSTS_DATASETS") {
        return PathBuf::from(dir).join(DIGITS_FILE);
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let candidate = dir.join("datasets").join(DIGITS_FILE);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets")
        .join(DIGITS_FILE)
}

/// [`load_digits`] on [`default_digits_path`].
pub fn load_default_digits() -> Result<Digits, DataError> {
    load_digits(&default_digits_path())
}

/// Indices of a train/test split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training sample indices.
    pub train: Vec<usize>,
    /// Test sample indices.
    pub test: Vec<usize>,
}

/// Stratified split with one `ChaCha8Rng::seed_from_u64(seed)`: for each
/// class in increasing label order, shuffle that class's indices and put the
/// first `round(test_ratio * n_class)` into test, the rest into train;
/// concatenate over classes; finally shuffle train, then test, with the same
/// RNG.
pub fn stratified_split(labels: &[u8], test_ratio: f64, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    let max_label = labels.iter().copied().max().unwrap_or(0);
    for class in 0..=max_label {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        if idx.is_empty() {
            continue;
        }
        idx.shuffle(&mut rng);
        let n_test = ((test_ratio * idx.len() as f64).round() as usize).min(idx.len());
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.shuffle(&mut rng);
    test.shuffle(&mut rng);
    Split { train, test }
}

/// Unshuffled split: the first `n_test` indices (`0..n_test`) are test, the
/// rest (`n_test..n`) train. `n_test` is clamped to `n`.
pub fn head_split(n: usize, n_test: usize) -> Split {
    let n_test = n_test.min(n);
    Split {
        train: (n_test..n).collect(),
        test: (0..n_test).collect(),
    }
}

/// Non-stratified split: one random permutation of `0..n` with
/// `ChaCha8Rng::seed_from_u64(seed)`; its first `floor(test_ratio * n)`
/// entries are test, the rest train.
pub fn permutation_split(n: usize, test_ratio: f64, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut rng);
    let n_test = ((test_ratio * n as f64).floor() as usize).min(n);
    let train = perm.split_off(n_test);
    Split { train, test: perm }
}

/// The SHA-256 digest of `bytes` as 64 lowercase hex digits (the form of
/// [`DIGITS_SHA256`] and of `sha256sum`'s output).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASS_COUNTS: [usize; 10] = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];

    fn digits() -> Digits {
        load_default_digits().expect("real digits file loads")
    }

    fn class_counts(labels: &[u8], idx: &[usize]) -> Vec<usize> {
        let mut c = vec![0; N_CLASSES];
        for &i in idx {
            c[labels[i] as usize] += 1;
        }
        c
    }

    fn assert_partition(s: &Split, n: usize) {
        let mut seen = vec![false; n];
        for &i in s.train.iter().chain(&s.test) {
            assert!(!seen[i], "index {i} appears twice");
            seen[i] = true;
        }
        assert!(seen.iter().all(|&b| b), "split does not cover all indices");
    }

    /// One synthetic row: 64 pixels then the label.
    fn row(pixel: &str, label: &str) -> String {
        let mut f = vec![pixel.to_string(); N_PIXELS];
        f.push(label.to_string());
        f.join(",")
    }

    fn parse_err(text: &str) -> String {
        parse_digits_csv(text, Path::new("synthetic.csv"))
            .expect_err("parse should fail")
            .to_string()
    }

    #[test]
    fn real_file_loads() {
        let d = digits();
        assert_eq!(d.len(), N_SAMPLES);
        assert_eq!(d.pixels.len(), N_SAMPLES * N_PIXELS);
        assert_eq!(
            class_counts(&d.labels, &(0..d.len()).collect::<Vec<_>>()),
            CLASS_COUNTS
        );
        assert!(d.pixels.iter().all(|&p| (0.0..=1.0).contains(&p)));
        assert!(d.pixels.contains(&1.0) && d.pixels.contains(&0.0));
        // First row of the file: 0,0,5,13,9,1,... label 0.
        assert_eq!(&d.sample(0)[..4], &[0.0, 0.0, 5.0 / 16.0, 13.0 / 16.0]);
        assert_eq!(d.labels[0], 0);
        let sub = d.subset(&[3, 0]);
        assert_eq!(sub.len(), 2);
        assert_eq!(sub.sample(1), d.sample(0));
        assert_eq!(sub.labels, vec![d.labels[3], d.labels[0]]);
    }

    #[test]
    fn checksum_mismatch_names_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("digits.csv.gz");
        let mut bytes = std::fs::read(default_digits_path()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = load_digits(&path).unwrap_err();
        assert!(matches!(err, DataError::Checksum { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(DIGITS_SHA256), "{msg}");
    }

    #[test]
    fn missing_file_names_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.csv.gz");
        let err = load_digits(&path).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn parse_synthetic_ok() {
        let text = format!("{}\n{}\n", row("16", "9"), row("0", "0"));
        let d = parse_digits_csv(&text, Path::new("x")).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.labels, vec![9, 0]);
        assert!(d.sample(0).iter().all(|&p| p == 1.0));
        assert!(parse_digits_csv("", Path::new("x")).is_err());
    }

    #[test]
    fn parse_short_row() {
        let short = vec!["0"; 64].join(",");
        let text = format!("{}\n{}\n{short}\n", row("1", "1"), row("1", "1"));
        let msg = parse_err(&text);
        assert!(msg.contains("synthetic.csv"), "{msg}");
        assert!(
            msg.contains("row 3: expected 65 comma-separated fields, found 64"),
            "{msg}"
        );
    }

    #[test]
    fn parse_non_integer() {
        let mut fields = vec!["0"; 65];
        fields[11] = "1.5";
        let text = format!("{}\n{}\n", row("0", "0"), fields.join(","));
        let msg = parse_err(&text);
        assert!(
            msg.contains("row 2, field 12: expected an integer, found \"1.5\""),
            "{msg}"
        );
    }

    #[test]
    fn parse_label_out_of_range() {
        let msg = parse_err(&row("0", "10"));
        assert!(msg.contains("row 1, field 65"), "{msg}");
        assert!(msg.contains("label") && msg.contains("found 10"), "{msg}");
    }

    #[test]
    fn parse_pixel_out_of_range() {
        let mut fields = vec!["0"; 65];
        fields[6] = "17";
        let text = format!(
            "{}\n{}\n{}\n",
            row("0", "0"),
            row("0", "0"),
            fields.join(",")
        );
        let msg = parse_err(&text);
        assert!(msg.contains("row 3, field 7"), "{msg}");
        assert!(msg.contains("pixel") && msg.contains("found 17"), "{msg}");
    }

    #[test]
    fn stratified_sizes() {
        let d = digits();
        let cases: [(f64, usize, [usize; 10]); 2] = [
            (0.30, 539, [53, 55, 53, 55, 54, 55, 54, 54, 52, 54]),
            (0.20, 359, [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]),
        ];
        for (ratio, n_test, per_class) in cases {
            let s = stratified_split(&d.labels, ratio, 0);
            assert_eq!(s.test.len(), n_test);
            assert_eq!(s.train.len(), N_SAMPLES - n_test);
            assert_eq!(class_counts(&d.labels, &s.test), per_class);
            assert_partition(&s, N_SAMPLES);
        }
    }

    #[test]
    fn stratified_deterministic() {
        let d = digits();
        let a = stratified_split(&d.labels, 0.3, 42);
        assert_eq!(a, stratified_split(&d.labels, 0.3, 42));
        assert_ne!(a, stratified_split(&d.labels, 0.3, 43));
    }

    #[test]
    fn head_and_permutation_splits() {
        let h = head_split(N_SAMPLES, (0.2 * N_SAMPLES as f64) as usize);
        assert_eq!((h.test.len(), h.train.len()), (359, 1438));
        assert_eq!(h.test, (0..359).collect::<Vec<_>>());
        assert_eq!(h.train[0], 359);
        assert_partition(&h, N_SAMPLES);

        let p = permutation_split(N_SAMPLES, 0.3, 7);
        assert_eq!((p.test.len(), p.train.len()), (539, 1258));
        assert_partition(&p, N_SAMPLES);
        assert_eq!(p, permutation_split(N_SAMPLES, 0.3, 7));
        assert_ne!(p, permutation_split(N_SAMPLES, 0.3, 8));
    }

    #[test]
    fn sha256_hex_matches_known_digests() {
        // FIPS 180-2 test vectors.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
