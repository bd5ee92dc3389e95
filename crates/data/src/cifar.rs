//! CIFAR-10 from the official binary release (spec §1.2; used only by
//! natural-instability, spec §6.9).
//!
//! The release (`cifar-10-binary.tar.gz`, folder `cifar-10-batches-bin`)
//! holds `data_batch_1.bin` .. `data_batch_5.bin` (train, 10,000 records
//! each) and `test_batch.bin` (10,000 records). A record is 3073 bytes: one
//! label byte (0..9), then 3072 pixel bytes, the R, G and B planes of the
//! 32x32 image in that order, each plane row-major. The data is never
//! downloaded: it is read only from a directory the user supplies.
//!
//! Images are kept as raw bytes ([`Cifar::pixels`], `N x 3 x 32 x 32`,
//! exactly the record layout) because the training augmentation
//! ([`crate::augment`]) works on them before normalisation, and bytes take a
//! quarter of the memory of f32 (150 MB for the train set). Model inputs are
//! made per batch by [`normalize_cifar`]: `((byte / 255) - mean[c]) / std[c]`
//! in f32, with [`CIFAR_MEAN`] and [`CIFAR_STD`] (torchvision's `ToTensor`
//! then `Normalize`), same `N x 3 x 32 x 32` channel-major layout.

use std::path::{Path, PathBuf};

use crate::{stratified_split, DataError, N_CLASSES};

/// Side of a CIFAR-10 image, in pixels.
pub const CIFAR_SIDE: usize = 32;
/// Colour channels (R, G, B).
pub const CIFAR_CHANNELS: usize = 3;
/// Values per image: 3 x 32 x 32 = 3072 (the model's input features).
pub const CIFAR_FEATURES: usize = CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE;
/// Bytes per record: one label byte plus [`CIFAR_FEATURES`] pixel bytes.
pub const CIFAR_RECORD_BYTES: usize = 1 + CIFAR_FEATURES;
/// Records in each file of the official release.
pub const CIFAR_RECORDS_PER_FILE: usize = 10_000;
/// Per-channel mean (R, G, B) of the [0, 1] pixels, subtracted by
/// [`normalize_cifar`] (spec §1.2).
pub const CIFAR_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// Per-channel standard deviation (R, G, B), divided by in
/// [`normalize_cifar`] (spec §1.2).
pub const CIFAR_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];
/// Train files of the release, in the order their records are concatenated.
pub const CIFAR_TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// Test file of the release.
pub const CIFAR_TEST_FILE: &str = "test_batch.bin";
/// Folder the release's tarball unpacks to; [`cifar_dir`] looks inside it.
pub const CIFAR_RELEASE_DIR: &str = "cifar-10-batches-bin";

/// CIFAR-10 images with their labels, as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cifar {
    /// `len() x 3 x 32 x 32` bytes (0..255): per image the R, G, B planes,
    /// each row-major 32x32 (the record layout without its label byte).
    pub pixels: Vec<u8>,
    /// Class label 0..9 of each image.
    pub labels: Vec<u8>,
}

/// The train and test sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CifarSplits {
    /// Records of `data_batch_1.bin` .. `data_batch_5.bin`, in file order.
    pub train: Cifar,
    /// Records of `test_batch.bin`, in file order.
    pub test: Cifar,
}

impl Cifar {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True if there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Shape of [`Cifar::pixels`] and of [`Cifar::normalized`]:
    /// `[len(), 3, 32, 32]`.
    pub fn shape(&self) -> [usize; 4] {
        [self.len(), CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE]
    }

    /// The [`CIFAR_FEATURES`] raw bytes of image `i` (3 x 32 x 32).
    /// Panics if `i >= len()`.
    pub fn sample(&self, i: usize) -> &[u8] {
        &self.pixels[i * CIFAR_FEATURES..(i + 1) * CIFAR_FEATURES]
    }

    /// A new set holding the images at `indices`, in that order.
    /// Panics if an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Cifar {
        Cifar {
            pixels: self.gather(indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// The raw bytes of the images at `indices`, concatenated
    /// (`indices.len() x 3 x 32 x 32`). Panics if an index is out of range.
    pub fn gather(&self, indices: &[usize]) -> Vec<u8> {
        let mut out = Vec::with_capacity(indices.len() * CIFAR_FEATURES);
        for &i in indices {
            out.extend_from_slice(self.sample(i));
        }
        out
    }

    /// All images normalised ([`normalize_cifar`]), `len() x 3 x 32 x 32` f32.
    pub fn normalized(&self) -> Vec<f32> {
        normalize_cifar(&self.pixels)
    }

    /// Model inputs for the images at `indices` without augmentation (the
    /// test set, or an evaluation of training images):
    /// `indices.len() x 3 x 32 x 32` normalised f32.
    pub fn batch(&self, indices: &[usize]) -> Vec<f32> {
        normalize_cifar(&self.gather(indices))
    }

    /// Model inputs for a training batch: the images at `indices` augmented
    /// by [`crate::augment::augment_cifar_batch`] with `rng` (padding black,
    /// before normalisation), then normalised;
    /// `indices.len() x 3 x 32 x 32` f32.
    pub fn augmented_batch<R: rand::Rng + ?Sized>(
        &self,
        indices: &[usize],
        rng: &mut R,
    ) -> Vec<f32> {
        normalize_cifar(&crate::augment::augment_cifar_batch(
            &self.gather(indices),
            rng,
        ))
    }

    /// Labels of the images at `indices` as class indices.
    pub fn batch_labels(&self, indices: &[usize]) -> Vec<usize> {
        indices.iter().map(|&i| self.labels[i] as usize).collect()
    }

    /// Indices of a fixed stratified subset of about `n` images:
    /// [`stratified_split`]`(labels, n / len(), seed).test`, i.e. from each
    /// class `round(n / len() * n_class)` images chosen with
    /// `ChaCha8Rng::seed_from_u64(seed)`, then shuffled. Exactly `n` when
    /// every class count times `n / len()` is a whole number (the balanced
    /// release: 5,000 of 50,000 is 500 per class, 1,000 of 10,000 is 100).
    /// `n >= len()` gives every index (shuffled).
    pub fn stratified_subset(&self, n: usize, seed: u64) -> Vec<usize> {
        if self.is_empty() {
            return Vec::new();
        }
        let ratio = (n as f64 / self.len() as f64).min(1.0);
        stratified_split(&self.labels, ratio, seed).test
    }
}

impl CifarSplits {
    /// Spec §6.9 Variant B: [`Cifar::stratified_subset`] of `n_train` train
    /// and `n_test` test images (5,000 and 1,000 in the spec), both with
    /// `seed`, as new sets.
    pub fn stratified_subset(&self, n_train: usize, n_test: usize, seed: u64) -> CifarSplits {
        CifarSplits {
            train: self
                .train
                .subset(&self.train.stratified_subset(n_train, seed)),
            test: self.test.subset(&self.test.stratified_subset(n_test, seed)),
        }
    }
}

/// Normalises raw CIFAR bytes (`B x 3 x 32 x 32`, channel-major): value at
/// channel `c` becomes `(byte as f32 / 255 - CIFAR_MEAN[c]) / CIFAR_STD[c]`.
/// Same layout and length as `raw`.
///
/// # Panics
/// If `raw.len()` is not a multiple of [`CIFAR_FEATURES`].
pub fn normalize_cifar(raw: &[u8]) -> Vec<f32> {
    assert_eq!(
        raw.len() % CIFAR_FEATURES,
        0,
        "not a whole number of 3x32x32 images"
    );
    let plane = CIFAR_SIDE * CIFAR_SIDE;
    raw.iter()
        .enumerate()
        .map(|(k, &b)| {
            let c = (k / plane) % CIFAR_CHANNELS;
            (b as f32 / 255.0 - CIFAR_MEAN[c]) / CIFAR_STD[c]
        })
        .collect()
}

/// The directory holding the release's files: `root` itself if it holds
/// `data_batch_1.bin`, else `root/cifar-10-batches-bin` if that holds it
/// (the tarball unpacked into `root`), else `root` (so errors name the file
/// under the directory the user gave).
pub fn cifar_dir(root: &Path) -> PathBuf {
    let nested = root.join(CIFAR_RELEASE_DIR);
    if !root.join(CIFAR_TRAIN_FILES[0]).is_file() && nested.join(CIFAR_TRAIN_FILES[0]).is_file() {
        nested
    } else {
        root.to_path_buf()
    }
}

/// Loads the train and test sets from the release under `root` (see
/// [`cifar_dir`]), each file with [`read_cifar_file`].
///
/// `records_per_file`: `Some(CIFAR_RECORDS_PER_FILE)` for the real release
/// (a file cut at a record boundary is then an error too); `None` accepts
/// any number of records >= 1 per file (small synthetic files).
///
/// # Errors
/// The first problem met, files in the order train 1..5 then test:
/// [`DataError::CifarMissing`], [`DataError::Io`],
/// [`DataError::CifarTruncated`], [`DataError::CifarRecordCount`],
/// [`DataError::CifarLabel`].
pub fn load_cifar10(
    root: &Path,
    records_per_file: Option<usize>,
) -> Result<CifarSplits, DataError> {
    let dir = cifar_dir(root);
    let mut train = Cifar {
        pixels: Vec::new(),
        labels: Vec::new(),
    };
    for name in CIFAR_TRAIN_FILES {
        let part = read_cifar_file(&dir.join(name), records_per_file)?;
        train.pixels.extend_from_slice(&part.pixels);
        train.labels.extend_from_slice(&part.labels);
    }
    let test = read_cifar_file(&dir.join(CIFAR_TEST_FILE), records_per_file)?;
    Ok(CifarSplits { train, test })
}

/// Reads one file of the release and parses it with [`parse_cifar_records`].
///
/// # Errors
/// [`DataError::CifarMissing`] if `path` does not exist,
/// [`DataError::Io`] if it cannot be read otherwise, then the errors of
/// [`parse_cifar_records`].
pub fn read_cifar_file(path: &Path, records: Option<usize>) -> Result<Cifar, DataError> {
    let bytes = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::CifarMissing {
                path: path.to_path_buf(),
            }
        } else {
            DataError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    parse_cifar_records(&bytes, path, records)
}

/// Parses the bytes of one release file; `path` is only used in errors.
/// `records`: the exact number of records required, or `None` for any
/// number >= 1.
///
/// # Errors
/// - [`DataError::CifarTruncated`] if the length is not a multiple of 3073
///   (names the incomplete record and how many of its bytes are present);
/// - [`DataError::CifarRecordCount`] if the number of records is not
///   `records` (or is 0 when `records` is `None`);
/// - [`DataError::CifarLabel`] for the first label byte above 9.
pub fn parse_cifar_records(
    bytes: &[u8],
    path: &Path,
    records: Option<usize>,
) -> Result<Cifar, DataError> {
    let whole = bytes.len() / CIFAR_RECORD_BYTES;
    let rest = bytes.len() % CIFAR_RECORD_BYTES;
    if rest != 0 {
        return Err(DataError::CifarTruncated {
            path: path.to_path_buf(),
            len: bytes.len(),
            record: whole,
            bytes: rest,
        });
    }
    let expected = records.unwrap_or(whole.max(1));
    if whole != expected {
        return Err(DataError::CifarRecordCount {
            path: path.to_path_buf(),
            expected,
            found: whole,
        });
    }
    let mut pixels = Vec::with_capacity(whole * CIFAR_FEATURES);
    let mut labels = Vec::with_capacity(whole);
    for (record, chunk) in bytes.chunks_exact(CIFAR_RECORD_BYTES).enumerate() {
        let label = chunk[0];
        if label as usize >= N_CLASSES {
            return Err(DataError::CifarLabel {
                path: path.to_path_buf(),
                record,
                label,
            });
        }
        labels.push(label);
        pixels.extend_from_slice(&chunk[1..]);
    }
    Ok(Cifar { pixels, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One record: `label`, then the R, G, B planes filled by `pixel(c, y, x)`.
    fn record(label: u8, pixel: impl Fn(usize, usize, usize) -> u8) -> Vec<u8> {
        let mut r = vec![label];
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    r.push(pixel(c, y, x));
                }
            }
        }
        r
    }

    /// Record `k` of a synthetic file with labels `labels`: plane `c` holds
    /// `10 * c + k` everywhere except (c, 0, 0) = 255 and (c, 31, 31) = 0.
    fn file_bytes(labels: &[u8], tag: u8) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (k, &l) in labels.iter().enumerate() {
            bytes.extend(record(l, |c, y, x| match (y, x) {
                (0, 0) => 255,
                (31, 31) => 0,
                _ => tag + 10 * c as u8 + k as u8,
            }));
        }
        bytes
    }

    /// A release under `dir`: train files of 2 records each (labels
    /// `2 * f, 2 * f + 1`, pixel tag `100 + f`) and a test file of 3.
    fn write_release(dir: &Path) {
        for (f, name) in CIFAR_TRAIN_FILES.iter().enumerate() {
            let l = 2 * f as u8;
            std::fs::write(dir.join(name), file_bytes(&[l, l + 1], 100 + f as u8)).unwrap();
        }
        std::fs::write(dir.join(CIFAR_TEST_FILE), file_bytes(&[9, 0, 4], 50)).unwrap();
    }

    fn load(dir: &Path) -> Result<CifarSplits, DataError> {
        load_cifar10(dir, None)
    }

    #[test]
    fn loads_synthetic_release() {
        let dir = tempfile::tempdir().unwrap();
        write_release(dir.path());
        let s = load(dir.path()).unwrap();
        assert_eq!(s.train.len(), 10);
        assert_eq!(s.train.shape(), [10, 3, 32, 32]);
        assert_eq!(s.train.pixels.len(), 10 * CIFAR_FEATURES);
        assert_eq!(s.train.labels, (0..10).collect::<Vec<u8>>());
        assert_eq!(s.test.labels, vec![9, 0, 4]);
        assert_eq!(s.test.shape(), [3, 3, 32, 32]);
        // Channel order and record order: train image 3 is file 2's record 1.
        let img = s.train.sample(3);
        assert_eq!(img[0], 255);
        assert_eq!(img[1], 101 + 1);
        assert_eq!(img[1024 + 5], 101 + 10 + 1);
        assert_eq!(img[2048 + 32 * 7 + 3], 101 + 20 + 1);
        assert_eq!(img[2048 + 1023], 0);
        // The tarball's folder is found inside root.
        let outer = tempfile::tempdir().unwrap();
        let nested = outer.path().join(CIFAR_RELEASE_DIR);
        std::fs::create_dir(&nested).unwrap();
        write_release(&nested);
        assert_eq!(load(outer.path()).unwrap(), s);
        assert_eq!(cifar_dir(outer.path()), nested);
    }

    #[test]
    fn normalisation_of_known_pixels() {
        let dir = tempfile::tempdir().unwrap();
        write_release(dir.path());
        let s = load(dir.path()).unwrap();
        let x = s.test.normalized();
        assert_eq!(x.len(), 3 * CIFAR_FEATURES);
        let norm = |b: u8, c: usize| (b as f32 / 255.0 - CIFAR_MEAN[c]) / CIFAR_STD[c];
        for c in 0..3 {
            let base = 2 * CIFAR_FEATURES + c * 1024; // test image 2
            assert_eq!(x[base], norm(255, c));
            assert_eq!(x[base + 1023], norm(0, c));
            assert_eq!(x[base + 40], norm(50 + 10 * c as u8 + 2, c));
        }
        // Hand values: white R = (1 - 0.4914) / 0.2470, black B = -0.4465 / 0.2616.
        assert!((x[0] - 2.059_109).abs() < 1e-5, "{}", x[0]);
        assert!(
            (x[2048 + 1023] + 1.706_804).abs() < 1e-5,
            "{}",
            x[2048 + 1023]
        );
        assert_eq!(
            s.test.batch(&[2, 0]),
            [&x[2 * CIFAR_FEATURES..], &x[..CIFAR_FEATURES]].concat()
        );
        assert_eq!(s.test.batch_labels(&[2, 0]), vec![4, 9]);
    }

    #[test]
    fn missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write_release(dir.path());
        let gone = dir.path().join("data_batch_4.bin");
        std::fs::remove_file(&gone).unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DataError::CifarMissing { path } if *path == gone),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(&gone.display().to_string()),
            "{err}"
        );
        let empty = tempfile::tempdir().unwrap();
        let err = load(empty.path()).unwrap_err();
        assert!(err.to_string().contains("data_batch_1.bin"), "{err}");
    }

    #[test]
    fn truncated_file_names_record_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        write_release(dir.path());
        let path = dir.path().join(CIFAR_TEST_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(2 * CIFAR_RECORD_BYTES + 100);
        std::fs::write(&path, &bytes).unwrap();
        let err = load(dir.path()).unwrap_err();
        match &err {
            DataError::CifarTruncated {
                path: p,
                len,
                record,
                bytes,
            } => {
                assert_eq!((p, *len, *record, *bytes), (&path, 2 * 3073 + 100, 2, 100));
            }
            other => panic!("{other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("test_batch.bin") && msg.contains("record 2"),
            "{msg}"
        );
        // A file shorter than one record, and one a byte too long.
        let short = parse_cifar_records(&[3; 10], Path::new("s.bin"), None).unwrap_err();
        assert!(
            matches!(
                short,
                DataError::CifarTruncated {
                    record: 0,
                    bytes: 10,
                    ..
                }
            ),
            "{short:?}"
        );
        let mut long = file_bytes(&[1], 0);
        long.push(0);
        let long = parse_cifar_records(&long, Path::new("l.bin"), None).unwrap_err();
        assert!(
            matches!(
                long,
                DataError::CifarTruncated {
                    record: 1,
                    bytes: 1,
                    ..
                }
            ),
            "{long:?}"
        );
    }

    #[test]
    fn record_count_checks() {
        let two = file_bytes(&[1, 2], 0);
        let p = Path::new("x.bin");
        assert_eq!(parse_cifar_records(&two, p, Some(2)).unwrap().len(), 2);
        let err = parse_cifar_records(&two, p, Some(CIFAR_RECORDS_PER_FILE)).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::CifarRecordCount {
                    expected: 10_000,
                    found: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("x.bin"), "{err}");
        let err = parse_cifar_records(&[], p, None).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::CifarRecordCount {
                    expected: 1,
                    found: 0,
                    ..
                }
            ),
            "{err:?}"
        );
        // The whole release with the real count: the synthetic one fails.
        let dir = tempfile::tempdir().unwrap();
        write_release(dir.path());
        let err = load_cifar10(dir.path(), Some(CIFAR_RECORDS_PER_FILE)).unwrap_err();
        assert!(err.to_string().contains("data_batch_1.bin"), "{err}");
    }

    #[test]
    fn label_out_of_range_names_record() {
        let dir = tempfile::tempdir().unwrap();
        write_release(dir.path());
        let path = dir.path().join("data_batch_2.bin");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[CIFAR_RECORD_BYTES] = 10; // label of record 1
        std::fs::write(&path, &bytes).unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DataError::CifarLabel { path: p, record: 1, label: 10 } if *p == path),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("data_batch_2.bin") && msg.contains("record 1") && msg.contains("10"),
            "{msg}"
        );
        let err =
            parse_cifar_records(&record(255, |_, _, _| 0), Path::new("y.bin"), None).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::CifarLabel {
                    record: 0,
                    label: 255,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    /// A set of `per_class[c]` images of class `c`, image `i`'s bytes all `i % 256`.
    fn synthetic(per_class: &[usize]) -> Cifar {
        let mut labels = Vec::new();
        for (c, &n) in per_class.iter().enumerate() {
            labels.extend(std::iter::repeat_n(c as u8, n));
        }
        let pixels = (0..labels.len())
            .flat_map(|i| std::iter::repeat_n((i % 256) as u8, CIFAR_FEATURES))
            .collect();
        Cifar { pixels, labels }
    }

    fn counts(c: &Cifar) -> Vec<usize> {
        let mut n = vec![0; N_CLASSES];
        for &l in &c.labels {
            n[l as usize] += 1;
        }
        n
    }

    #[test]
    fn stratified_subset_is_balanced_and_seeded() {
        // 10x smaller than the release: 500 train / 100 test per class.
        let full = CifarSplits {
            train: synthetic(&[500; 10]),
            test: synthetic(&[100; 10]),
        };
        let sub = full.stratified_subset(500, 100, 3);
        assert_eq!(counts(&sub.train), vec![50; 10]);
        assert_eq!(counts(&sub.test), vec![10; 10]);
        assert_eq!(sub, full.stratified_subset(500, 100, 3));
        assert_ne!(sub, full.stratified_subset(500, 100, 4));
        // Distinct images, each with its label.
        let idx = full.train.stratified_subset(500, 3);
        let mut sorted = idx.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 500);
        assert_eq!(sub.train, full.train.subset(&idx));
        // Classes are interleaved (shuffled), not in blocks.
        assert!(sub.train.labels[..50]
            .iter()
            .any(|&l| l != sub.train.labels[0]));
        // Unbalanced classes: rounding per class.
        let odd = synthetic(&[15, 25, 5, 5, 5, 5, 5, 5, 5, 5]);
        assert_eq!(
            counts(&odd.subset(&odd.stratified_subset(16, 0))),
            vec![3, 5, 1, 1, 1, 1, 1, 1, 1, 1]
        );
        assert_eq!(odd.stratified_subset(1000, 0).len(), odd.len());
        assert!(synthetic(&[]).stratified_subset(5, 0).is_empty());
    }

    #[test]
    fn augmented_batch_is_seeded_and_normalised_after_padding() {
        use crate::augment::{augment_rng, CropFlip};
        let set = synthetic(&[4; 10]);
        let idx = [3, 17, 22];
        let a = set.augmented_batch(&idx, &mut augment_rng(1, 2, 3));
        assert_eq!(a, set.augmented_batch(&idx, &mut augment_rng(1, 2, 3)));
        assert_eq!(a.len(), 3 * CIFAR_FEATURES);
        // Image 3's bytes are all 3; padding is byte 0, normalised per channel.
        let mut rng = augment_rng(1, 2, 3);
        let d = CropFlip::sample(&mut rng);
        let mut raw = vec![0; CIFAR_FEATURES];
        d.apply(set.sample(3), &mut raw);
        assert_eq!(&a[..CIFAR_FEATURES], &normalize_cifar(&raw)[..]);
        let norm0: Vec<f32> = (0..3).map(|c| -CIFAR_MEAN[c] / CIFAR_STD[c]).collect();
        let padded = a[..CIFAR_FEATURES]
            .iter()
            .enumerate()
            .filter(|&(k, &v)| v == norm0[k / 1024])
            .count();
        let rows = d.top.abs_diff(4);
        let cols = d.left.abs_diff(4);
        assert_eq!(padded, 3 * (32 * 32 - (32 - rows) * (32 - cols)), "{d:?}");
    }
}
