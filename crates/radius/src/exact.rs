//! The exact multiclass radius: the nearest complex zero of
//! F(t) = Σ_k exp(z_k + a_k t) (the paper leaves it as future work).
//!
//! Method, in normalised units s = Δa·t with slopes b_k = (a_k − min a)/Δa ∈ [0, 1]
//! (the shift multiplies F by a zero-free exp(c t); the scaling maps zeros to
//! zeros), so that the half-plane lemma reads |Im s| ≥ π for every zero:
//!
//! 1. **Seeds from the tropical envelope.** Zeros of an exponential sum sit
//!    near the real parts where two terms tie for the maximum of
//!    z_k + b_k Re s. Each corner of that upper envelope (terms i, j) seeds the
//!    binary zeros s = x_c + iπ(2m+1)/(b_j − b_i), m = 0, 1, 2.
//! 2. **Newton polishing** of each seed in the log domain (every evaluation
//!    is scaled by exp(−max_k Re(z_k + b_k s)), so logits of size 1e3 neither
//!    overflow nor underflow); a root is accepted only if |F| is tiny relative
//!    to Σ|terms|. The smallest modulus U is the candidate radius.
//! 3. **Certification by the argument principle.** The number of zeros inside
//!    |s| < (1 − η)U is counted by tracking arg F along the circle. Each step
//!    from s0 along the arc is short enough that
//!    |F(s) − F(s0)| ≤ L·Σ_k b_k |e_k(s0)| < |F(s0)| (the bound holds because
//!    Re s only decreases along the upper arc from θ = 0 to π), so F cannot
//!    wind around 0 unseen between samples. By conjugate symmetry only the
//!    upper half circle is walked. Zero count 0 certifies that no zero lies
//!    closer than (1 − η)U.
//! 4. **Fallback** if the count is not zero (a seed was missed): seeds from
//!    every pair of terms; then, if still needed, bisection on the radius
//!    with zero counts (from the zero-free floor π upwards) and an angular
//!    scan of the thin annulus where the first zero lies.
//!
//! The returned radius is the modulus of a verified zero, so
//! (1 − η)·ρ_exact ≤ ρ* ≤ ρ_exact with η = [`CERTIFY_SHRINK`].

use num_complex::Complex64;
use std::f64::consts::PI;

/// Relative gap η between the returned zero's modulus and the radius of the
/// disk certified zero-free.
pub const CERTIFY_SHRINK: f64 = 1e-9;

/// A verified nearest zero of the partition function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExactRadius {
    /// ρ* = |t0|, the Taylor radius of log F at t = 0; `+inf` when F has no
    /// zero (one class, or all slopes equal).
    pub rho_exact: f64,
    /// The nearest zero t0 with Im t0 > 0 (its conjugate is a zero too);
    /// `None` when there is none.
    pub ghost: Option<Complex64>,
    /// Radius of the disk proven free of zeros: (1 − η)·ρ_exact.
    pub certified_zero_free: f64,
}

/// Why the exact radius could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExactError {
    /// Logits and slopes have different lengths.
    #[error("{logits} logits but {slopes} slopes: one slope per logit expected")]
    LengthMismatch {
        /// Number of logits.
        logits: usize,
        /// Number of slopes.
        slopes: usize,
    },
    /// No logits at all.
    #[error("empty input: at least one logit expected")]
    Empty,
    /// A logit or slope is NaN or infinite.
    #[error("{what} {index} is {value}: finite numbers expected")]
    NonFinite {
        /// "logit" or "slope".
        what: &'static str,
        /// 0-based position.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// The search did not certify a nearest zero (should not happen for
    /// finite input; reported instead of a guess).
    #[error("could not certify the nearest zero: {0}")]
    NotCertified(String),
}

/// Exact radius ρ* = min{|t| : F(t) = 0} for F(t) = Σ_k exp(z_k + a_k t).
///
/// Always ρ* ≥ ρa = π/Δa. Equal slopes are merged (their weights add);
/// n = 1 or Δa = 0 give an infinite radius.
pub fn exact_radius(logits: &[f64], slopes: &[f64]) -> Result<ExactRadius, ExactError> {
    if logits.len() != slopes.len() {
        return Err(ExactError::LengthMismatch {
            logits: logits.len(),
            slopes: slopes.len(),
        });
    }
    if logits.is_empty() {
        return Err(ExactError::Empty);
    }
    for (what, values) in [("logit", logits), ("slope", slopes)] {
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ExactError::NonFinite { what, index, value });
        }
    }
    let (lo, hi) = slopes
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &a| {
            (l.min(a), h.max(a))
        });
    let delta = hi - lo;
    let none = ExactRadius {
        rho_exact: f64::INFINITY,
        ghost: None,
        certified_zero_free: f64::INFINITY,
    };
    if delta == 0.0 {
        return Ok(none);
    }
    let sum = ExpSum::new(logits, slopes, lo, delta);
    if sum.b.len() < 2 {
        return Ok(none);
    }
    let s0 = sum.nearest_zero()?;
    let t0 = s0 / delta;
    Ok(ExactRadius {
        rho_exact: t0.norm(),
        ghost: Some(t0),
        certified_zero_free: t0.norm() * (1.0 - CERTIFY_SHRINK),
    })
}

/// F(s) = Σ_k exp(z_k + b_k s) with b sorted ascending in [0, 1], distinct,
/// b[0] = 0, b[last] = 1, and max_k z_k = 0.
struct ExpSum {
    z: Vec<f64>,
    b: Vec<f64>,
}

/// F, F' and Σ|terms|, all scaled by the same exp(−m) (log-domain evaluation).
struct Eval {
    f: Complex64,
    df: Complex64,
    abs_sum: f64,
    /// Σ_k b_k |e_k|: bounds |F'| on any segment where Re s does not grow.
    slope_abs_sum: f64,
}

/// Arg-principle outcome on a circle.
enum Count {
    Zeros(usize),
    /// A zero lies (numerically) on the circle.
    OnCircle,
}

impl ExpSum {
    fn new(logits: &[f64], slopes: &[f64], lo: f64, delta: f64) -> Self {
        let mut terms: Vec<(f64, f64)> = slopes
            .iter()
            .zip(logits)
            .map(|(&a, &z)| (((a - lo) / delta).clamp(0.0, 1.0), z))
            .collect();
        terms.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut b: Vec<f64> = Vec::with_capacity(terms.len());
        let mut z: Vec<f64> = Vec::with_capacity(terms.len());
        for (bk, zk) in terms {
            match b.last() {
                // Equal slopes: e^{z1 + b s} + e^{z2 + b s} = e^{logaddexp(z1, z2) + b s}.
                Some(&last) if last == bk => {
                    let zl = z.last_mut().expect("b and z grow together");
                    let m = zl.max(zk);
                    *zl = m + ((*zl - m).exp() + (zk - m).exp()).ln();
                }
                _ => {
                    b.push(bk);
                    z.push(zk);
                }
            }
        }
        let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        z.iter_mut().for_each(|v| *v -= zmax);
        ExpSum { z, b }
    }

    fn eval(&self, s: Complex64) -> Eval {
        let m = self
            .z
            .iter()
            .zip(&self.b)
            .map(|(z, b)| z + b * s.re)
            .fold(f64::NEG_INFINITY, f64::max);
        let mut out = Eval {
            f: Complex64::new(0.0, 0.0),
            df: Complex64::new(0.0, 0.0),
            abs_sum: 0.0,
            slope_abs_sum: 0.0,
        };
        for (z, b) in self.z.iter().zip(&self.b) {
            let mag = (z + b * s.re - m).exp();
            let e = Complex64::from_polar(mag, b * s.im);
            out.f += e;
            out.df += e * b;
            out.abs_sum += mag;
            out.slope_abs_sum += b * mag;
        }
        out
    }

    /// Newton's method from `seed`; a converged, verified zero or `None`.
    fn newton(&self, seed: Complex64) -> Option<Complex64> {
        let mut s = seed;
        for _ in 0..80 {
            let e = self.eval(s);
            if e.df.norm() == 0.0 {
                return None;
            }
            let mut step = e.f / e.df;
            // Features of F vary on the unit scale (b ∈ [0, 1]): damp long jumps.
            if step.norm() > 1.0 {
                step /= step.norm();
            }
            s -= step;
            if !s.re.is_finite() || !s.im.is_finite() {
                return None;
            }
            if step.norm() <= 1e-15 * s.norm().max(1.0) {
                break;
            }
        }
        let e = self.eval(s);
        // A true zero: residual at rounding level, and outside the zero-free strip.
        if e.f.norm() <= 1e-10 * e.abs_sum && s.im.abs() >= PI * (1.0 - 1e-9) {
            Some(if s.im < 0.0 { s.conj() } else { s })
        } else {
            None
        }
    }

    /// Seeds from the corners of the upper envelope max_k (z_k + b_k x).
    fn envelope_seeds(&self) -> Vec<Complex64> {
        // Walk the upper envelope from x = −∞ (smallest slope wins) to +∞.
        let n = self.b.len();
        let mut seeds = Vec::new();
        let mut current = 0usize;
        let mut x = f64::NEG_INFINITY;
        loop {
            // Next term to overtake `current`: the earliest crossing to the right of x.
            let mut best: Option<(f64, usize)> = None;
            for j in current + 1..n {
                let xc = (self.z[current] - self.z[j]) / (self.b[j] - self.b[current]);
                if xc >= x
                    && best.is_none_or(|(bx, bj)| xc < bx || (xc == bx && self.b[j] > self.b[bj]))
                {
                    best = Some((xc, j));
                }
            }
            let Some((xc, j)) = best else { break };
            let gap = self.b[j] - self.b[current];
            for m in 0..3 {
                seeds.push(Complex64::new(xc, PI * (2 * m + 1) as f64 / gap));
            }
            current = j;
            x = xc;
        }
        seeds
    }

    /// Seeds from the binary zeros of the pairs of terms whose crossing lies
    /// within `slack` nats of the upper envelope (`f64::INFINITY`: every pair).
    fn pair_seeds(&self, slack: f64) -> Vec<Complex64> {
        let n = self.b.len();
        let mut seeds = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                let gap = self.b[j] - self.b[i];
                let xc = (self.z[i] - self.z[j]) / gap;
                let top = self
                    .z
                    .iter()
                    .zip(&self.b)
                    .map(|(z, b)| z + b * xc)
                    .fold(f64::NEG_INFINITY, f64::max);
                if self.z[i] + self.b[i] * xc >= top - slack {
                    seeds.push(Complex64::new(xc, PI / gap));
                    seeds.push(Complex64::new(xc, 3.0 * PI / gap));
                }
            }
        }
        seeds
    }

    fn best_root(&self, seeds: &[Complex64], mut best: Option<Complex64>) -> Option<Complex64> {
        for &seed in seeds {
            if let Some(root) = self.newton(seed) {
                if best.is_none_or(|b| root.norm() < b.norm()) {
                    best = Some(root);
                }
            }
        }
        best
    }

    /// Zeros inside the open disk |s| < radius, by the argument principle.
    fn count_zeros(&self, radius: f64) -> Count {
        const RELATIVE_EPS: f64 = 1e-13;
        let mut theta = 0.0f64;
        let mut winding = 0.0f64;
        let mut e = self.eval(Complex64::from_polar(radius, 0.0));
        let mut steps = 0usize;
        while theta < PI {
            // Guaranteed lower bound of |F(s0)| despite rounding.
            let margin = e.f.norm() - RELATIVE_EPS * e.abs_sum;
            if margin <= 0.0 || steps > 5_000_000 {
                return Count::OnCircle;
            }
            let arc = 0.9 * margin / e.slope_abs_sum;
            let dtheta = (arc / radius).min(PI - theta).min(0.25);
            if dtheta <= 1e-15 {
                return Count::OnCircle;
            }
            let next_theta = if theta + dtheta >= PI {
                PI
            } else {
                theta + dtheta
            };
            let next = self.eval(Complex64::from_polar(radius, next_theta));
            // Both evaluations share no scale; the ratio's argument is scale-free.
            winding += (next.f / e.f).arg();
            theta = next_theta;
            e = next;
            steps += 1;
        }
        // Upper half contributes half of the full winding (conjugate symmetry).
        let half = winding / (2.0 * PI);
        let n = half.round();
        if (half - n).abs() > 0.05 || n < 0.0 {
            return Count::OnCircle;
        }
        Count::Zeros(2 * n as usize)
    }

    fn certified(&self, candidate: Complex64) -> Option<bool> {
        match self.count_zeros(candidate.norm() * (1.0 - CERTIFY_SHRINK)) {
            Count::Zeros(0) => Some(true),
            Count::Zeros(_) => Some(false),
            Count::OnCircle => None,
        }
    }

    fn nearest_zero(&self) -> Result<Complex64, ExactError> {
        let mut best = self.best_root(&self.envelope_seeds(), None);
        if let Some(c) = best {
            if self.certified(c) == Some(true) {
                return Ok(c);
            }
        }
        // Pairs near the envelope first (cheap), then every pair.
        for slack in [4.0, f64::INFINITY] {
            best = self.best_root(&self.pair_seeds(slack), best);
            if let Some(c) = best {
                if self.certified(c) == Some(true) {
                    return Ok(c);
                }
            }
        }
        // Bisection on the radius between the zero-free floor π and an upper
        // radius that holds a zero, then an angular scan of the thin annulus.
        let mut hi = match best {
            Some(c) => c.norm() * (1.0 - CERTIFY_SHRINK),
            None => {
                let mut r = 2.0 * PI;
                loop {
                    if let Count::Zeros(n) = self.count_zeros(r) {
                        if n > 0 {
                            break r;
                        }
                    }
                    r *= 2.0;
                    if r > 1e9 {
                        return Err(ExactError::NotCertified(
                            "no zero found within |s| < 1e9".into(),
                        ));
                    }
                }
            }
        };
        let mut lo = PI;
        for _attempt in 0..4 {
            while hi / lo - 1.0 > 1e-7 {
                let mid = 0.5 * (lo + hi);
                match self.count_zeros(mid) {
                    Count::Zeros(0) => lo = mid,
                    Count::Zeros(_) => hi = mid,
                    Count::OnCircle => {
                        // A zero sits on this circle: it is within the band.
                        hi = mid * (1.0 + 1e-9);
                    }
                }
            }
            let ring = 0.5 * (lo + hi);
            let seeds: Vec<Complex64> = (1..4000)
                .map(|i| Complex64::from_polar(ring, PI * i as f64 / 4000.0))
                .filter(|s| s.im >= PI * (1.0 - 1e-9))
                .collect();
            let mut ranked: Vec<(f64, Complex64)> = seeds
                .iter()
                .map(|&s| {
                    let e = self.eval(s);
                    (e.f.norm() / e.abs_sum, s)
                })
                .collect();
            ranked.sort_by(|x, y| x.0.total_cmp(&y.0));
            let found = self.best_root(
                &ranked.iter().take(16).map(|r| r.1).collect::<Vec<_>>(),
                None,
            );
            if let Some(c) = found {
                if c.norm() <= hi * (1.0 + 1e-6) && self.certified(c) != Some(false) {
                    return Ok(c);
                }
            }
            lo = PI;
            hi *= 1.0 + 1e-6;
        }
        Err(ExactError::NotCertified(format!(
            "nearest zero lies in {lo} < |s| < {hi} but could not be located"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::binary_radius;

    /// |F(t)| / Σ|terms| in the log domain.
    fn residual(z: &[f64], a: &[f64], t: Complex64) -> f64 {
        let m = z
            .iter()
            .zip(a)
            .map(|(&z, &a)| z + a * t.re)
            .fold(f64::NEG_INFINITY, f64::max);
        let terms: Vec<Complex64> = z
            .iter()
            .zip(a)
            .map(|(&z, &a)| (Complex64::from(z - m) + a * t).exp())
            .collect();
        let sum: Complex64 = terms.iter().sum();
        sum.norm() / terms.iter().map(|x| x.norm()).sum::<f64>()
    }

    #[test]
    fn binary_case_matches_closed_form() {
        let r = exact_radius(&[3.0, 0.0], &[2.0, -1.0]).unwrap();
        assert!((r.rho_exact - binary_radius(3.0, 3.0)).abs() < 1e-12 * r.rho_exact);
        let r = exact_radius(&[0.0, 0.0], &[1.0, 0.0]).unwrap();
        assert!((r.rho_exact - PI).abs() < 1e-12);
    }

    #[test]
    fn three_class_example_is_a_certified_zero() {
        let (z, a) = ([2.0, 0.0, -1.0], [1.0, 0.5, -3.0]);
        let r = exact_radius(&z, &a).unwrap();
        let t = r.ghost.unwrap();
        assert!(t.im > 0.0);
        assert!(residual(&z, &a, t) < 1e-12);
        assert!(r.rho_exact >= PI / 4.0);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(
            exact_radius(&[1.0], &[3.0]).unwrap().rho_exact,
            f64::INFINITY
        );
        assert_eq!(exact_radius(&[1.0, 2.0], &[3.0, 3.0]).unwrap().ghost, None);
        assert_eq!(exact_radius(&[], &[]), Err(ExactError::Empty));
        assert!(matches!(
            exact_radius(&[1.0], &[1.0, 2.0]),
            Err(ExactError::LengthMismatch { .. })
        ));
        assert!(matches!(
            exact_radius(&[1.0, f64::NAN], &[1.0, 2.0]),
            Err(ExactError::NonFinite {
                what: "logit",
                index: 1,
                ..
            })
        ));
    }

    #[test]
    fn equal_slopes_merge() {
        // e^{1+t} + e^{0+t} + e^{0.5-2t} = e^{ln(e+1)+t} + e^{0.5-2t}: binary.
        let r = exact_radius(&[1.0, 0.0, 0.5], &[1.0, 1.0, -2.0]).unwrap();
        let merged = (1f64.exp() + 1.0).ln();
        assert!((r.rho_exact - binary_radius(merged - 0.5, 3.0)).abs() < 1e-12 * r.rho_exact);
    }

    #[test]
    fn huge_logits_do_not_overflow() {
        let z = [1000.0, -1000.0, 400.0];
        let a = [1.0, -2.0, 0.5];
        let r = exact_radius(&z, &a).unwrap();
        assert!(r.rho_exact.is_finite() && r.rho_exact >= PI / 3.0);
        assert!(residual(&z, &a, r.ghost.unwrap()) < 1e-9);
    }

    #[test]
    fn count_detects_zeros_inside() {
        let sum = ExpSum::new(&[0.0, 0.0], &[1.0, 0.0], 0.0, 1.0);
        // Zeros at ±iπ, ±3iπ, ...
        assert!(matches!(sum.count_zeros(3.0), Count::Zeros(0)));
        assert!(matches!(sum.count_zeros(4.0), Count::Zeros(2)));
        assert!(matches!(sum.count_zeros(10.0), Count::Zeros(4)));
    }
}
