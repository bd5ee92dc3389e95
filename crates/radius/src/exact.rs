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
    /// A difference of the inputs exceeds the largest f64, so the problem
    /// cannot be put in normalised units (the slopes' spread never does
    /// this: it is handled in halves).
    #[error("{what} = {hi:e} - ({lo:e}) overflows f64 (above {max:e})", max = f64::MAX)]
    Overflow {
        /// Which difference overflowed.
        what: &'static str,
        /// The larger value.
        hi: f64,
        /// The smaller value.
        lo: f64,
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
    let none = ExactRadius {
        rho_exact: f64::INFINITY,
        ghost: None,
        certified_zero_free: f64::INFINITY,
    };
    if hi == lo {
        return Ok(none);
    }
    let (zlo, zhi) = logits
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &z| {
            (l.min(z), h.max(z))
        });
    if !(zhi - zlo).is_finite() {
        return Err(ExactError::Overflow {
            what: "logit spread max z - min z",
            hi: zhi,
            lo: zlo,
        });
    }
    // Δa = hi − lo may exceed the largest f64 (slopes ±1e308) although the
    // radius π/Δa is representable: then work with the halves, which never
    // overflow (halving is exact), and t = s / Δa = (s / 2) / (Δa / 2).
    let scale = if (hi - lo).is_finite() { 1.0 } else { 0.5 };
    let (lo, hi) = (lo * scale, hi * scale);
    let delta = hi - lo;
    let scaled: Vec<f64> = slopes.iter().map(|a| a * scale).collect();
    let sum = ExpSum::new(logits, &scaled, lo, delta);
    if sum.b.len() < 2 {
        return Ok(none);
    }
    let s0 = if sum.b.len() == 2 {
        // Two distinct slopes: e^{z0} + e^{z1 + s} vanishes exactly at
        // s = z0 − z1 + iπ(2m + 1); the nearest is m = 0 (paper eq. 7).
        Complex64::new(sum.z[0] - sum.z[1], PI)
    } else {
        sum.nearest_zero()?
    };
    let t0 = s0 * scale / delta;
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

    /// The largest θ' ≥ θ such that on the arc of |s| = `radius` from
    /// angle θ to θ' one term, j, outweighs all others together by at least
    /// 2 : 1 (Σ_{k≠j} |e_k| ≤ |e_j| / 2 at every point), with j; `None`
    /// when no term dominates at θ.
    ///
    /// Along the upper arc Re s = R cos θ decreases, and each ratio
    /// |e_k / e_j| = exp(z_k − z_j + (b_k − b_j) Re s) is monotone in Re s,
    /// so its largest value on the arc is at an end: checking both ends
    /// bounds it everywhere between.
    fn dominated_arc(&self, radius: f64, theta: f64) -> Option<(f64, usize)> {
        let n = self.b.len();
        let x0 = radius * theta.cos();
        let j = (0..n).max_by(|&p, &q| {
            (self.z[p] + self.b[p] * x0).total_cmp(&(self.z[q] + self.b[q] * x0))
        })?;
        // Each other term at most 1/(2(n − 1)) of term j: a half-line in x per term.
        let c = (2.0 * (n - 1) as f64).ln();
        let mut x_end = -radius;
        for k in 0..n {
            if self.b[k] < self.b[j] {
                x_end = x_end.max((self.z[j] - self.z[k] - c) / (self.b[k] - self.b[j]));
            }
        }
        if x_end >= x0 {
            return None;
        }
        let theta_end = if x_end <= -radius {
            PI
        } else {
            (x_end / radius).clamp(-1.0, 1.0).acos().max(theta)
        };
        // The guard: the bound at both ends as computed, rounding included.
        let (xa, xb) = (x0, radius * theta_end.cos());
        let worst: f64 = (0..n)
            .filter(|&k| k != j)
            .map(|k| {
                let r = |x: f64| (self.z[k] - self.z[j] + (self.b[k] - self.b[j]) * x).exp();
                r(xa).max(r(xb))
            })
            .sum();
        (worst <= 0.5 && theta_end > theta).then_some((theta_end, j))
    }

    /// G(s) = F(s) / e_j(s) = Σ_k exp(z_k − z_j + (b_k − b_j) s).
    fn relative_to(&self, j: usize, s: Complex64) -> Complex64 {
        self.z
            .iter()
            .zip(&self.b)
            .map(|(z, b)| {
                Complex64::from_polar(
                    (z - self.z[j] + (b - self.b[j]) * s.re).exp(),
                    (b - self.b[j]) * s.im,
                )
            })
            .sum()
    }

    /// Zeros inside the open disk |s| < radius, by the argument principle.
    ///
    /// Where one term dominates an arc (`dominated_arc`), F = e_j·G with
    /// |G − 1| ≤ 1/2 there, so F has no zero on it and arg F changes by
    /// b_j·ΔIm s (exact) plus arg G's change, which stays within (−π/2, π/2):
    /// the arc is crossed in one step. This keeps the count's cost bounded
    /// by the arcs near the envelope's corners, whatever the radius (a
    /// logit gap of 2e6 puts the zero 2e6 out).
    fn count_zeros(&self, radius: f64) -> Count {
        self.count_zeros_with(radius, true)
    }

    /// [`Self::count_zeros`], with the dominated arcs crossed in one step
    /// (`jump`) or walked like the rest (the tests compare both).
    fn count_zeros_with(&self, radius: f64, jump: bool) -> Count {
        const RELATIVE_EPS: f64 = 1e-13;
        let mut theta = 0.0f64;
        let mut winding = 0.0f64;
        let mut e = self.eval(Complex64::from_polar(radius, 0.0));
        let mut steps = 0usize;
        while theta < PI {
            if let Some((theta_end, j)) = self.dominated_arc(radius, theta).filter(|_| jump) {
                let (s0, s1) = (
                    Complex64::from_polar(radius, theta),
                    Complex64::from_polar(radius, theta_end),
                );
                let dominant_turn = self.b[j] * (s1.im - s0.im);
                let g_turn = (self.relative_to(j, s1) / self.relative_to(j, s0)).arg();
                winding += dominant_turn + g_turn;
                theta = theta_end;
                e = self.eval(s1);
                steps += 1;
                continue;
            }
            // Guaranteed lower bound of |F(s0)| despite rounding.
            let margin = e.f.norm() - RELATIVE_EPS * e.abs_sum;
            if margin <= 0.0 || steps > 50_000_000 {
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
        // Zeros lie where no term dominates, so their real parts are near
        // the crossings of pairs of terms (logit gap over slope gap): the
        // doubling search's reach grows with the widest crossing (never
        // below 1e9), instead of a fixed bound that large gaps exceed.
        let n = self.b.len();
        let widest = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .map(|(i, j)| ((self.z[i] - self.z[j]) / (self.b[j] - self.b[i])).abs())
            .fold(0.0f64, f64::max);
        let reach = (4.0 * (widest + 2.0 * PI * (n + 1) as f64)).max(1e9);
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
                    if r > reach {
                        return Err(ExactError::NotCertified(format!(
                            "no zero found within |s| < {reach:e} (normalised units)"
                        )));
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
    fn large_logit_gaps_scale_the_search() {
        // Issue 18, input 1: the radius is sqrt(delta^2 + pi^2)/|Delta| with
        // delta = 2e6, Delta = 1 (paper eq. 7), 2000000.0000024674 to f64.
        let want = 2000000.0000024674;
        assert_eq!(binary_radius(2e6, 1.0), want);
        let r = exact_radius(&[0.0, -2e6], &[1.0, 0.0]).unwrap();
        assert_eq!(r.rho_exact, want);
        // A third class far below the envelope moves the zero by about
        // e^-500000: the same radius, now found and certified by the search.
        let (z, a) = ([0.0, -2e6, -1.5e6], [1.0, 0.0, 0.5]);
        let r = exact_radius(&z, &a).unwrap();
        assert!(
            (r.rho_exact - want).abs() <= 1e-15 * want,
            "{}",
            r.rho_exact
        );
        assert!(residual(&z, &a, r.ghost.unwrap()) < 1e-9);
        // Every decade of gaps up to 1e9: the certified radius tracks the
        // binary formula (the third class is negligible).
        for gap in [1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9] {
            let (z, a) = ([0.0, -gap, -0.75 * gap], [1.0, 0.0, 0.5]);
            let r = exact_radius(&z, &a).unwrap();
            let want = binary_radius(gap, 1.0);
            assert!(
                (r.rho_exact - want).abs() <= 1e-12 * want,
                "gap {gap}: {}",
                r.rho_exact
            );
        }
    }

    #[test]
    fn overflowing_slope_spread_is_computed_in_halves() {
        // Issue 18, input 4: Δa = 2e308 exceeds f64, π/Δa does not.
        let want = (PI * 0.5) / 1e308;
        assert!(want > 0.0 && want.is_finite());
        let r = exact_radius(&[0.0, 0.0], &[1e308, -1e308]).unwrap();
        assert_eq!(r.rho_exact, want);
        assert_eq!(crate::rho_a(&[1e308, -1e308]), want);
        assert_eq!(crate::delta_a(&[1e308, -1e308]), f64::INFINITY);
        // Three classes: certified, and at least ρa.
        let r = exact_radius(&[0.0, 1.0, -1.0], &[1e308, -1e308, 0.0]).unwrap();
        assert!(
            r.rho_exact >= want && r.rho_exact < 10.0 * want,
            "{}",
            r.rho_exact
        );
        // A logit spread beyond f64 cannot be normalised: named, not guessed.
        let err = exact_radius(&[1e308, -1e308], &[1.0, 0.0]).unwrap_err();
        assert!(matches!(err, ExactError::Overflow { .. }), "{err}");
        assert!(err.to_string().contains("logit spread"), "{err}");
    }

    #[test]
    fn jumping_dominated_arcs_counts_the_same_zeros() {
        let cases: [(&[f64], &[f64]); 4] = [
            (&[2.0, 0.0, -1.0], &[1.0, 0.5, -3.0]),
            (&[0.0, -20.0, -15.0], &[1.0, 0.0, 0.5]),
            (&[3.0, -4.0, 1.0, 0.5, -2.0], &[0.3, -1.2, 2.0, 0.9, -0.1]),
            (&[0.0, -40.0, 5.0, -10.0], &[1.0, 0.0, 0.25, 0.75]),
        ];
        for (z, a) in cases {
            let (lo, hi) = a
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                    (l.min(x), h.max(x))
                });
            let sum = ExpSum::new(z, a, lo, hi - lo);
            for radius in [3.5, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 89.0] {
                let (fast, slow) = (
                    sum.count_zeros_with(radius, true),
                    sum.count_zeros_with(radius, false),
                );
                match (fast, slow) {
                    (Count::Zeros(f), Count::Zeros(s)) => {
                        assert_eq!(f, s, "z {z:?} a {a:?} radius {radius}")
                    }
                    _ => panic!("z {z:?} a {a:?} radius {radius}: a zero on the circle"),
                }
            }
        }
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
