#!/usr/bin/env python3
"""Independent high-precision reference for the exact radius rho* of an exponential sum.

For logits z in R^K and slopes a in R^K let

    F(t) = sum_k exp(z_k + a_k t),   t complex.

F > 0 on the real axis but has complex zeros (in conjugate pairs).  The exact
radius is rho* = min{|t| : F(t) = 0}.  This script writes the fixture
``crates/radius/tests/fixtures/exact_radius_mpmath.csv`` that the Rust test
compares its f64 exact-radius solver against (1e-6 relative).  It uses only
the Python standard library and mpmath (1.3); run it as

    python3 tools/exact_radius_reference.py

Method (independent of the Rust solver)
---------------------------------------
1. Normalise.  With Delta = max a - min a > 0, b_k = (a_k - min a)/Delta in
   [0, 1], s = Delta t and c_k = z_k - max z,

       G(s) = sum_k exp(c_k + b_k s) = F(s/Delta) * exp(-max z - min a * s/Delta),

   so G has exactly the zeros s = Delta t and rho* = min|s| / Delta.  Every
   zero has |Im s| >= pi, hence the open disk |s| < pi is zero-free.

2. Count zeros with the argument principle.  N(R) = number of zeros in
   |s| < R = (change of arg G along the circle |s| = R) / (2 pi).  Because the
   c_k, b_k are real, G(conj s) = conj G(s), so N(R) = (change of arg G along
   the upper semicircle) / pi.  The change of argument is accumulated over
   adaptively bisected arcs with a *rigorous* acceptance test instead of a
   quadrature rule: on an arc with midpoint m and half arc-length h, every
   point s satisfies |s - m| <= h and Re s <= Re m + h, so

       |G(s) - G(m)| <= h * M,   M = sum_k b_k exp(c_k + b_k (Re m + h)).

   If h*M <= |G(m)|/2, G stays in a disk around G(m) that excludes 0, so the
   argument change from m to either end point is the principal value of
   arg(G(end)/G(m)).  Arcs failing the test are halved.  The sum is an exact
   multiple of pi up to rounding; we require it to be within 0.01 of an (even)
   integer.  If the circle passes numerically through a zero (|G(m)| at the
   rounding-noise level), the radius is perturbed slightly.  Terms are scaled
   by exp(-max_k Re(exponent)) at every point, so nothing overflows.

3. Bracket.  Starting from lo = pi (N = 0 known) double hi from 2 pi until
   N(hi) >= 1, then bisect until hi/lo - 1 < 1e-6.  (This search phase uses
   the same rigorous counting in double precision, for speed.)

4. Locate.  All N(hi) zeros of |s| < hi lie in the thin annulus lo <= |s| < hi.
   Sample |G|/sum|terms| on the circle |s| = hi at fine angular spacing in the
   upper half plane (zeros with Im s >= pi come with their conjugates), take
   the deepest local minima, and run Newton from them.  We require that the
   number of distinct roots found in the annulus (upper half) equals N(hi)/2,
   i.e. every zero in the disk is found; the nearest one is the minimum
   modulus.  On failure the grid is refined and the bracket tightened; if that
   still fails an error is raised (a guess is never written).

5. Polish and verify at mp.dps = 40.  The root is polished by Newton in
   mpmath (relative residual |G|/sum|terms| < 1e-30), then the nearest-zero
   property is re-proved in 40-digit arithmetic: the mpmath argument-principle
   count on the circle |s| = |root| (1 - 1e-10) must be 0.  Hence
   rho* lies in [|root| (1 - 1e-10), |root|].  Further sanity checks:
   |root| >= pi (i.e. rho* >= pi/Delta), t0 = root/Delta is a zero of the
   original F (relative residual), and for K = 2 rho* agrees with the closed
   form sqrt(delta^2 + pi^2)/|a1 - a2|, delta = z1 - z2.

Cases
-----
Four hand-made cases first, then 200 random cases from
random.Random(20261124), drawn in this order per case: K = randint(2, 20);
z_k = uniform(-20, 20) for k = 1..K; then for k = 1..K: sign = choice((-1, 1)),
magnitude = exp(uniform(log 0.1, log 30)), a_k = sign * magnitude.

Output columns: case,K,rho_exact,t0_re,t0_im,z,a.  z and a are
space-separated, each value printed with 17 significant digits (round-trips to
the identical f64).  rho_exact = |t0| and t0 (the nearest zero with Im t0 > 0)
are rounded to the nearest f64 and printed with 17 significant digits.
"""

from __future__ import annotations

import cmath
import math
import os
import random
import statistics
import sys
import time

import mpmath
from mpmath import mp, mpf, mpc

mp.dps = 40

SEED = 20261124
N_RANDOM = 200
BISECT_RTOL = 1e-6
VERIFY_EPS = mpf("1e-10")
OUT_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "crates",
    "radius",
    "tests",
    "fixtures",
    "exact_radius_mpmath.csv",
)

HAND_MADE = [
    ([0.0, 0.0], [1.0, 0.0]),
    ([3.0, 0.0], [2.0, -1.0]),
    ([2.0, 0.0, -1.0], [1.0, 0.5, -3.0]),
    ([1.0, 0.0, 0.5], [1.0, 1.0, -2.0]),
]


class NearZero(Exception):
    """The counting circle passes (numerically) through a zero of G."""


class ReferenceError_(Exception):
    """The reference could not be established; never write a guess."""


def random_cases(rng: random.Random, n: int):
    cases = []
    lo, hi = math.log(0.1), math.log(30.0)
    for _ in range(n):
        k = rng.randint(2, 20)
        z = [rng.uniform(-20.0, 20.0) for _ in range(k)]
        a = []
        for _ in range(k):
            sign = rng.choice((-1.0, 1.0))
            mag = math.exp(rng.uniform(lo, hi))
            a.append(sign * mag)
        cases.append((z, a))
    return cases


# --------------------------------------------------------------------------
# Arithmetic back-ends: double precision (search) and mpmath (verification)
# --------------------------------------------------------------------------


class FloatBackend:
    pi = math.pi
    noise = 1e-11  # |G| / sum|terms| below this: circle too close to a zero
    cos = staticmethod(math.cos)
    sin = staticmethod(math.sin)
    exp = staticmethod(math.exp)
    phase = staticmethod(cmath.phase)

    def __init__(self, c, b):
        self.c = [float(x) for x in c]
        self.b = [float(x) for x in b]

    def terms(self, s):
        """Return (G, G', e, shift, A): G and G' scaled by exp(-shift), A = sum|terms| scaled."""
        x, y = s.real, s.imag
        e = [ck + bk * x for ck, bk in zip(self.c, self.b)]
        sh = max(e)
        g = 0j
        gp = 0j
        A = 0.0
        for ek, bk in zip(e, self.b):
            w = math.exp(ek - sh)
            A += w
            u = cmath.rect(w, bk * y)
            g += u
            gp += bk * u
        return g, gp, e, sh, A

    def point(self, R, th):
        return complex(R * math.cos(th), R * math.sin(th))


class MpBackend:
    noise = mpf("1e-32")
    cos = staticmethod(mp.cos)
    sin = staticmethod(mp.sin)
    exp = staticmethod(mp.exp)

    def __init__(self, c, b):
        self.c = list(c)
        self.b = list(b)
        self.pi = +mp.pi

    @staticmethod
    def phase(w):
        return mp.arg(w)

    def terms(self, s):
        x, y = s.real, s.imag
        e = [ck + bk * x for ck, bk in zip(self.c, self.b)]
        sh = max(e)
        g = mpc(0)
        gp = mpc(0)
        A = mpf(0)
        for ek, bk in zip(e, self.b):
            w = mp.exp(ek - sh)
            A += w
            u = w * mp.expj(bk * y)
            g += u
            gp += bk * u
        return g, gp, e, sh, A

    def point(self, R, th):
        return mpc(R * mp.cos(th), R * mp.sin(th))


def count_zeros(be, R, max_evals=5_000_000):
    """Number of zeros of G in the open disk |s| < R (rigorous arc test, upper semicircle)."""
    pi = be.pi
    n0 = max(16, int(math.ceil(float(pi * R))))  # initial arcs of length <= ~1
    ths = [pi * j / n0 for j in range(n0 + 1)]
    gs = [be.terms(be.point(R, th))[0] for th in ths]
    stack = [(ths[j], ths[j + 1], gs[j], gs[j + 1]) for j in range(n0)]
    total = 0
    evals = n0 + 1
    while stack:
        t0, t1, g0, g1 = stack.pop()
        tm = (t0 + t1) / 2
        gm, _, e, sh, A = be.terms(be.point(R, tm))
        evals += 1
        if abs(gm) < be.noise * A:
            raise NearZero(R)
        h = R * (t1 - t0) / 2
        M = sum(bk * be.exp(ek - sh + bk * h) for ek, bk in zip(e, be.b))
        if M * h <= abs(gm) / 2:
            total += be.phase(g1 / gm) + be.phase(gm / g0)
        else:
            stack.append((t0, tm, g0, gm))
            stack.append((tm, t1, gm, g1))
        if evals > max_evals:
            raise ReferenceError_(f"count_zeros: too many evaluations at R={R}")
    n = float(total / pi)
    ni = round(n)
    if abs(n - ni) > 0.01 or ni % 2 != 0 or ni < 0:
        raise NearZero(R)  # treat as an unreliable circle; caller perturbs R
    return ni, evals


def count_robust(be, R, stats):
    """count_zeros with slight radius perturbations if the circle is numerically unsafe."""
    for j in range(6):
        Rj = R * (1 + 1e-9 * j * (-1) ** j) if j else R
        try:
            n, ev = count_zeros(be, Rj)
            stats["evals"] += ev
            if j:
                stats["notes"].append(f"count radius perturbed ({j}x)")
            return n, Rj
        except NearZero:
            continue
    raise ReferenceError_(f"could not count zeros near R={R}")


# --------------------------------------------------------------------------
# Bracketing, locating, polishing
# --------------------------------------------------------------------------


def bracket(be, rtol, stats, lo=None, hi=None, nhi=None):
    if lo is None:
        lo = math.pi  # open disk |s| < pi is zero-free
        hi = 2 * math.pi
        while True:
            nhi, hi = count_robust(be, hi, stats)
            if nhi >= 1:
                break
            lo = hi
            hi *= 2
            if hi > 1e5:
                raise ReferenceError_("no zero found below |s| = 1e5")
    while hi / lo - 1 > rtol:
        mid = 0.5 * (lo + hi)
        n, mid = count_robust(be, mid, stats)
        if n == 0:
            lo = mid
        else:
            hi, nhi = mid, n
    return lo, hi, nhi


def newton_float(be, s, iters=60):
    for _ in range(iters):
        g, gp, _, _, A = be.terms(s)
        if gp == 0:
            return None
        step = g / gp
        s = s - step
        if not (cmath.isfinite(s) and abs(s) < 1e6):
            return None
        if abs(step) < 1e-14 * max(1.0, abs(s)):
            g, _, _, _, A = be.terms(s)
            return s if abs(g) < 1e-9 * A else None
    return None


def locate(be, lo, hi, nhi, spacing, n_min):
    """Find the distinct zeros with Im > 0 in lo*(1-1e-6) <= |s| <= hi*(1+1e-6)."""
    n = max(64, int(math.ceil(math.pi * hi / spacing)))
    vals = []
    for j in range(1, n):
        th = math.pi * j / n
        g, _, _, _, A = be.terms(be.point(hi, th))
        vals.append((abs(g) / A, th))
    minima = [
        vals[i]
        for i in range(len(vals))
        if (i == 0 or vals[i][0] <= vals[i - 1][0])
        and (i == len(vals) - 1 or vals[i][0] <= vals[i + 1][0])
    ]
    minima.sort()
    roots = []
    for _, th in minima[: max(n_min, 2 * nhi)]:
        r = newton_float(be, be.point(hi, th))
        if r is None:
            continue
        if r.imag < 0:
            r = r.conjugate()
        m = abs(r)
        if not (lo * (1 - 1e-6) <= m <= hi * (1 + 1e-6)):
            continue
        if all(abs(r - q) > 1e-8 * m for q in roots):
            roots.append(r)
    return roots


def newton_mp(mb, s0):
    s = mpc(s0)
    for _ in range(100):
        g, gp, _, _, A = mb.terms(s)
        step = g / gp
        s -= step
        if abs(step) < mpf("1e-36") * abs(s):
            break
    g, _, _, _, A = mb.terms(s)
    if not abs(g) < mpf("1e-30") * A:
        raise ReferenceError_(f"mp Newton did not converge from {s0}")
    return s


def solve_case(z, a):
    stats = {"evals": 0, "notes": []}
    K = len(z)
    zm = [mpf(x) for x in z]  # exact conversion of the doubles
    am = [mpf(x) for x in a]
    amin, amax, zmax = min(am), max(am), max(zm)
    delta = amax - amin
    if not delta > 0:
        raise ReferenceError_("Delta = 0: F has no zeros")
    b_mp = [(x - amin) / delta for x in am]
    c_mp = [x - zmax for x in zm]
    fb = FloatBackend(c_mp, b_mp)
    mb = MpBackend(c_mp, b_mp)

    lo, hi, nhi = bracket(fb, BISECT_RTOL, stats)
    roots = []
    attempts = [(0.02, 8), (0.005, 32), (0.001, 128)]
    for ai, (spacing, n_min) in enumerate(attempts):
        roots = locate(fb, lo, hi, nhi, spacing, n_min)
        if 2 * len(roots) == nhi:
            break
        stats["notes"].append(
            f"annulus search found {len(roots)} of {nhi // 2} upper zeros "
            f"(spacing {spacing}); refining"
        )
        if ai == 1:
            lo, hi, nhi = bracket(fb, 1e-9, stats, lo, hi, nhi)
    else:
        raise ReferenceError_(f"annulus search failed: {len(roots)} roots, N(hi)={nhi}")
    if nhi > 2:
        stats["notes"].append(f"{nhi // 2} conjugate pairs in the final annulus")

    # Polish every candidate at 40 digits and take the nearest.
    polished = [newton_mp(mb, mpc(r.real, r.imag)) for r in roots]
    polished = [p if p.imag > 0 else mp.conj(p) for p in polished]
    root = min(polished, key=abs)
    rs = abs(root)
    if not (mpf(lo) * (1 - mpf("1e-6")) <= rs <= mpf(hi) * (1 + mpf("1e-6"))):
        raise ReferenceError_("polished root left the annulus")

    # Re-prove, at 40 digits, that no zero lies strictly inside |s| < |root|(1-eps).
    rin = rs * (1 - VERIFY_EPS)
    try:
        n_in, ev = count_zeros(mb, rin)
    except NearZero:
        raise ReferenceError_("mp verification circle unreliable")
    stats["evals"] += ev
    if n_in != 0:
        raise ReferenceError_(f"mp verification found {n_in} zeros inside |root|")

    # Sanity checks.
    if rs < mp.pi * (1 - mpf("1e-30")):
        raise ReferenceError_("|root| < pi contradicts the strip bound")
    t0 = root / delta
    rho = abs(t0)
    if abs(t0.real) < mpf("1e-30") * rho:
        t0 = mpc(0, t0.imag)  # exact purely imaginary zero (delta = 0); drop 1e-40 noise
    fterms = [mp.exp(zk + ak * t0) for zk, ak in zip(zm, am)]
    fres = abs(mp.fsum(fterms)) / mp.fsum(abs(u) for u in fterms)
    if not fres < mpf("1e-28"):
        raise ReferenceError_(f"t0 is not a zero of F (relative residual {fres})")
    if K == 2:
        closed = mp.sqrt((zm[0] - zm[1]) ** 2 + mp.pi**2) / abs(am[0] - am[1])
        if abs(rho / closed - 1) > mpf("1e-30"):
            raise ReferenceError_(f"K=2 closed form mismatch: {rho} vs {closed}")
    return rho, t0, rs / mp.pi, stats


def fmt(x) -> str:
    return format(float(x), ".17g")


def main() -> int:
    t_start = time.time()
    rng = random.Random(SEED)
    cases = HAND_MADE + random_cases(rng, N_RANDOM)
    rows = []
    ratios = []
    for i, (z, a) in enumerate(cases):
        t_case = time.time()
        rho, t0, ratio, stats = solve_case(z, a)
        ratios.append(float(ratio))
        rows.append(
            ",".join(
                [
                    str(i),
                    str(len(z)),
                    fmt(rho),
                    fmt(t0.real),
                    fmt(t0.imag),
                    " ".join(fmt(x) for x in z),
                    " ".join(fmt(x) for x in a),
                ]
            )
        )
        note = ("  [" + "; ".join(stats["notes"]) + "]") if stats["notes"] else ""
        print(
            f"case {i:3d} K={len(z):2d} rho*Delta/pi={float(ratio):10.5f} "
            f"rho={fmt(rho)} evals={stats['evals']} {time.time() - t_case:6.2f}s{note}",
            flush=True,
        )
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    with open(OUT_PATH, "w", newline="\n") as f:
        f.write("case,K,rho_exact,t0_re,t0_im,z,a\n")
        for r in rows:
            f.write(r + "\n")
    print(
        f"wrote {len(rows)} cases to {os.path.normpath(OUT_PATH)} in {time.time() - t_start:.1f}s; "
        f"rho*Delta/pi min {min(ratios):.6f} median {statistics.median(ratios):.6f} "
        f"max {max(ratios):.6f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
