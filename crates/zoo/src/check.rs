//! The exact JVP checked against central finite differences in f64 (what
//! `ghosts zoo check-jvp` and the tests run).

use crate::{ArchConfig, ArchEntry, Batch, ParamVec, ProbeKind};

/// Largest FD step of the check: central differences in f64 (truncation
/// ~ε², rounding ~1e-16/ε). The step shrinks to stay 100 steps inside the
/// closest kink, never below [`MIN_CHECK_EPS`].
pub const CHECK_EPS: f64 = 1e-6;
/// Smallest FD step used (below it rounding error would dominate).
pub const MIN_CHECK_EPS: f64 = 1e-9;
/// Acceptance threshold on the normwise relative error.
pub const CHECK_TOLERANCE: f64 = 1e-6;
/// Acceptance threshold for the fast backend's f32 JVP against the same
/// f64 central differences (f32 rounding through a few layers is ~1e-6).
pub const FAST_CHECK_TOLERANCE: f64 = 1e-4;

/// Outcome of one architecture's check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JvpCheck {
    /// Registry name.
    pub arch: String,
    /// Trainable parameters.
    pub params: usize,
    /// max |a_exact − a_fd| / max |a_fd| over samples and classes.
    pub max_rel_error: f64,
    /// Smallest |h|/|ḣ| over the kinks (ReLU inputs, max-pool gaps), in
    /// units of the direction: the FD step must stay well inside it.
    pub kink_clearance: f64,
    /// The FD step used: min(1e-6, clearance/100), so no kink is crossed.
    pub fd_eps: f64,
    /// The fast backend's f32 JVP (same θ, inputs and direction, rounded to
    /// f32) against the same differences, normwise relative; `None` when
    /// the architecture has no fast path.
    pub fast_rel_error: Option<f64>,
    /// Why the architecture cannot run on the fast backend, if it cannot.
    pub no_fast_path: Option<String>,
}

impl JvpCheck {
    /// True if the error is within tolerance and the FD step stayed 100
    /// steps inside the closest kink.
    pub fn passed(&self) -> bool {
        self.max_rel_error <= CHECK_TOLERANCE
            && self.kink_clearance >= 100.0 * self.fd_eps
            && self
                .fast_rel_error
                .map_or(true, |e| e <= FAST_CHECK_TOLERANCE)
    }
}

/// max |a − b| / max |b|: a relative error that does not blow up on entries
/// that happen to be near zero.
pub fn normwise_rel_error(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// Check one architecture at seeded random parameters (moved by a small
/// random step where a unit sits exactly on a kink, see the code), on
/// `batch`, along a seeded random unit direction. Inputs are real digits, so ReLU and
/// max-pool inputs are generic; the returned clearance proves the FD step
/// crossed no kink.
///
/// θ, the direction and the inputs are rounded to f32 first, so the fast
/// backend (f32) is checked at exactly the point the f64 check uses.
pub fn check_jvp(entry: &ArchEntry, batch: &Batch<f64>, seed: u64) -> JvpCheck {
    check_jvp_with(entry, &ArchConfig::default(), batch, seed)
}

/// [`check_jvp`] of the architecture built with `cfg` (e.g. a narrow
/// ResNet-18 for a quick test).
pub fn check_jvp_with(
    entry: &ArchEntry,
    cfg: &ArchConfig,
    batch: &Batch<f64>,
    seed: u64,
) -> JvpCheck {
    let model = entry.build::<f64>(cfg);
    let mut state = model.init(seed);
    let round = |v: &mut Vec<f64>| v.iter_mut().for_each(|x| *x = *x as f32 as f64);
    round(&mut state.params.0);
    round(&mut state.buffers);
    let mut v = ParamVec::<f64>::random_unit(model.num_params(), seed.wrapping_add(1));
    round(&mut v.0);
    let batch32 = batch.cast::<f32>();
    let batch = &batch32.cast::<f64>();
    let clearance = |state: &crate::State<f64>| {
        let jvp = model.jvp_probed(state, &batch.x, &v);
        let c = jvp
            .probes
            .iter()
            .filter(|p| p.kind == ProbeKind::Kink)
            .flat_map(|p| {
                p.value
                    .data
                    .iter()
                    .zip(&p.tangent.data)
                    .map(|(h, d)| h.abs() / d.abs().max(1e-300))
                    .collect::<Vec<_>>()
            })
            .fold(f64::INFINITY, f64::min);
        (jvp, c)
    };
    let (mut jvp, mut kink_clearance) = clearance(&state);
    // A unit exactly on a kink with a non-zero tangent has no derivative
    // along v (its one-sided slopes differ), e.g. a ReLU after BatchNorm at
    // its initial shift 0 fed by an all-zero patch of the digits through
    // bias-free convolutions (ResNets). Move θ off it by a small random
    // step (at most three times) and check there.
    for k in 0..3 {
        if kink_clearance > 0.0 {
            break;
        }
        let mut nudge =
            ParamVec::<f64>::random_unit(model.num_params(), seed.wrapping_add(100 + k));
        round(&mut nudge.0);
        state.params.axpy(1e-2, &nudge);
        round(&mut state.params.0);
        (jvp, kink_clearance) = clearance(&state);
    }
    // Many kinks (thousands of ReLU units or max-pool windows) put the closest
    // one near 1e-5: shrink the step rather than risk crossing it.
    let fd_eps = CHECK_EPS.min(kink_clearance / 100.0).max(MIN_CHECK_EPS);
    let fd = model.fd_jvp(&state, &batch.x, &v, fd_eps);
    let (fast_rel_error, no_fast_path) = match entry.build_on::<f32>(cfg, crate::Backend::Fast) {
        Ok(fast) => {
            let state32 = crate::curvature::cast_state::<f64, f32>(&state);
            let slopes = fast.jvp(&state32, &batch32.x, &v.cast()).slopes;
            (Some(normwise_rel_error(&slopes.to_f64(), &fd.data)), None)
        }
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    JvpCheck {
        arch: entry.name.into(),
        params: model.num_params(),
        max_rel_error: normwise_rel_error(&jvp.slopes.data, &fd.data),
        kink_clearance,
        fd_eps,
        fast_rel_error,
        no_fast_path,
    }
}

/// A fixed batch of `n` samples of the kind `entry` reads: digits
/// ([`digits_check_batch`]) or CIFAR-10-shaped images
/// ([`cifar_check_batch`]).
///
/// # Errors
/// The digits file cannot be read.
pub fn check_batch(entry: &ArchEntry, n: usize) -> anyhow::Result<Batch<f64>> {
    match entry.input {
        crate::InputKind::Digits => digits_check_batch(n),
        crate::InputKind::Cifar10 => Ok(cifar_check_batch(n, 0)),
    }
}

/// `n` synthetic CIFAR-10-shaped images for checks (no data set is read):
/// seeded random bytes, normalised as the real images are
/// (`data::normalize_cifar`), labels `i mod 10`.
pub fn cifar_check_batch(n: usize, seed: u64) -> Batch<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let bytes: Vec<u8> = (0..n * data::cifar::CIFAR_FEATURES)
        .map(|_| rng.gen())
        .collect();
    let x = data::normalize_cifar(&bytes)
        .into_iter()
        .map(f64::from)
        .collect();
    Batch::new(
        x,
        data::cifar::CIFAR_FEATURES,
        (0..n).map(|i| i % 10).collect(),
        10,
    )
}

/// A fixed digits batch for checks: `n` samples spread over the file.
pub fn digits_check_batch(n: usize) -> anyhow::Result<Batch<f64>> {
    let digits = data::load_default_digits()?;
    let idx: Vec<usize> = (0..n).map(|i| (i * 37) % digits.len()).collect();
    Ok(Batch::from_digits(&digits, &idx))
}
