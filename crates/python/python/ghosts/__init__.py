"""Convergence radius of cross-entropy along a direction ("Ghosts of Softmax").

Along an update direction v, the logits of a sample move as z + a t with the
slopes a = J_z v (one forward-mode JVP). The cross-entropy loss is then
-z_y - a_y t + log F(t) with F(t) = sum_k exp(z_k + a_k t), whose complex
zeros ("ghosts") cap the Taylor radius of the loss in t. P. Sao, *Ghosts of
Softmax* (arXiv 2603.13552), bounds it below by

    rho_a = pi / Delta_a,   Delta_a = max_k a_k - min_k a_k   (paper eq. 8, section 4)

This package is the reproduction's Rust crate ``radius`` behind numpy arrays:
the same functions, hence bit for bit the numbers of ``ghosts radius`` and
of the reproduction's experiments.

Conventions of every function:

* Inputs are batched: ``(B, K)`` arrays of B samples and K classes, float64
  or float32 (widened exactly; all arithmetic is float64), any memory order
  (C, Fortran, strided views). Other array-likes (lists) are converted with
  ``numpy.asarray(x, dtype=float64)``; numpy arrays of other dtypes are a
  ``TypeError``.
* Units: slopes are logit change per unit of t, so Delta_a is in logits per
  unit t and every radius is in units of t. For a unit-norm direction v
  (global L2 norm over all trainable parameters), t is the step length tau in
  parameter space, and r = tau / rho_a (paper eq. 10) is the normalised step.
* NaN or infinite inputs, wrong shapes and mismatched lengths are
  ``ValueError`` with the messages of ``ghosts radius`` (for example
  ``sample 3: slope 1 is NaN: finite numbers expected``).
* The work runs with the GIL released.

The PyTorch helpers (slopes by ``torch.func.jvp``, ``rho_a_along``, the
step cap ``RhoCap``) are in ``ghosts.torch``, imported separately (it needs
PyTorch).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _core

__version__: str = _core.__version__

#: Relative gap eta between an exact radius and the disk certified free of
#: zeros: ``certified_zero_free = (1 - CERTIFY_SHRINK) * rho_exact``.
CERTIFY_SHRINK: float = _core.CERTIFY_SHRINK

__all__ = [
    "CERTIFY_SHRINK",
    "ExactRadius",
    "SetRadius",
    "Top2",
    "binary_radius",
    "delta_a",
    "rho_a",
    "rho_exact",
    "rho_top2",
]

class SetRadius(NamedTuple):
    """Radius of a sample set along one direction (paper section 4.4).

    Attributes:
        rho_a: set radius rho_a(S) = pi / Delta_a(S), units of t; ``inf``
            when every sample's logits move together (Delta_a = 0) or the
            set is empty.
        delta_a: the aggregated spread Delta_a(S) (the largest spread for
            ``"max"``, the q-quantile of the spreads otherwise), logits per
            unit t.
        bottleneck: index of the sample that sets the radius (the largest
            spread for ``"max"``, first on ties; for a quantile, the sample
            with the smallest spread at or above it); ``None`` for B = 0.
        per_sample: ``(B,)`` float64, every sample's own rho_a = pi / Delta_a.
    """

    rho_a: float
    delta_a: float
    bottleneck: Optional[int]
    per_sample: np.ndarray


class Top2(NamedTuple):
    """Top-2 reduction of each sample (paper eq. 13), arrays of shape ``(B,)``.

    Attributes:
        rho_top2: sqrt(delta^2 + pi^2) / |Delta_yc|, units of t; ``inf``
            when Delta_yc = 0 or K = 1.
        ghost: complex128, the pair's nearest zero t0 = (-delta + i pi) /
            Delta_yc with Im t0 > 0 (its conjugate is one too); ``nan+nanj``
            when there is none.
        label: int64, the reference class y: the given label, else the
            predicted class (argmax of the logits, first on ties).
        competitor: int64, the strongest other class c = argmax_{k != y} z_k;
            -1 when K = 1.
        margin: logit margin delta = z_y - z_c (nan when K = 1).
        slope_gap: Delta_yc = a_y - a_c, logits per unit t (nan when K = 1).
    """

    rho_top2: np.ndarray
    ghost: np.ndarray
    label: np.ndarray
    competitor: np.ndarray
    margin: np.ndarray
    slope_gap: np.ndarray


class ExactRadius(NamedTuple):
    """Certified nearest zero of F(t) = sum_k exp(z_k + a_k t), shape ``(B,)``.

    Attributes:
        rho_exact: rho* = |t0|, the Taylor radius of the loss along the
            direction, units of t; ``inf`` when F has no zero (K = 1 or all
            slopes equal). Always rho_exact >= rho_a.
        ghost: complex128, the nearest zero t0 with Im t0 > 0 (its conjugate
            is one too); ``nan+nanj`` when there is none.
        certified_zero_free: radius of the disk proven free of zeros by the
            argument principle, (1 - CERTIFY_SHRINK) * rho_exact.
    """

    rho_exact: np.ndarray
    ghost: np.ndarray
    certified_zero_free: np.ndarray


def delta_a(slopes: ArrayLike) -> np.ndarray:
    """Per-sample logit-slope spread Delta_a = max_k a_k - min_k a_k (paper eq. 8).

    Args:
        slopes: ``(B, K)`` slopes a = J_z v, logits per unit t, K >= 1.

    Returns:
        ``(B,)`` float64 spreads (0 for K = 1); ``inf`` if a spread of finite
        slopes exceeds the float64 range.

    Raises:
        ValueError: not 2-D, K = 0, or a NaN/infinite slope.
        TypeError: a numpy array of a dtype other than float64/float32.
    """
    return _core.delta_a(slopes)


def rho_a(slopes: ArrayLike, aggregation: Union[str, float] = "max") -> SetRadius:
    """Radius bound rho_a = pi / Delta_a of a sample set (paper section 4, 4.4).

    One step moves every sample, so the theory's set radius is the smallest
    per-sample radius, pi / max_x Delta_a(x) (``aggregation="max"``). A
    quantile q in [0, 1] (linear interpolation between order statistics,
    numpy's default) is the robust alternative the paper lists as future
    work: ``aggregation=0.99`` ignores the 1% widest spreads.

    Args:
        slopes: ``(B, K)`` slopes a = J_z v, logits per unit t.
        aggregation: ``"max"`` or a quantile q in [0, 1].

    Returns:
        A :class:`SetRadius` (set radius, aggregated spread, bottleneck
        sample, ``(B,)`` per-sample radii), in units of t.

    Raises:
        ValueError: as :func:`delta_a`, or an aggregation that is neither
            ``"max"`` nor a number in [0, 1].
    """
    rho, spread, bottleneck, per_sample = _core.rho_a(slopes, aggregation)
    return SetRadius(rho, spread, bottleneck, per_sample)


def _labels(labels: Optional[ArrayLike]) -> Optional[np.ndarray]:
    if labels is None:
        return None
    array = np.asarray(labels)
    if array.dtype.kind not in "iu":
        raise TypeError(f"labels has dtype {array.dtype}: integer class indices expected")
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise ValueError(f"labels: {array.max()} is out of range")
    return array.astype(np.int64, copy=False)


def rho_top2(logits: ArrayLike, slopes: ArrayLike, labels: Optional[ArrayLike] = None) -> Top2:
    """Top-2 radius: the exact binary radius of the reference class and its
    strongest competitor (paper eq. 13, section 4.2).

    rho_top2 = sqrt(delta^2 + pi^2) / |Delta_yc| with the margin
    delta = z_y - z_c and the slope gap Delta_yc = a_y - a_c. It ignores the
    other classes, so it approximates (and may exceed) the exact radius;
    confident samples exceed pi / Delta_yc by sqrt(1 + (delta / pi)^2).

    Args:
        logits: ``(B, K)`` logits z.
        slopes: ``(B, K)`` slopes a = J_z v, logits per unit t.
        labels: optional ``(B,)`` integer reference classes in 0..K-1;
            ``None`` uses each sample's predicted class.

    Returns:
        A :class:`Top2` of ``(B,)`` arrays.

    Raises:
        ValueError: shapes that differ, not 2-D, K = 0, NaN/infinite
            values, a label out of range or labels not of shape ``(B,)``.
        TypeError: labels that are not integers; arrays of another dtype.
    """
    return Top2(*_core.rho_top2(logits, slopes, _labels(labels)))


def rho_exact(logits: ArrayLike, slopes: ArrayLike) -> ExactRadius:
    """Certified exact radius: the nearest complex zero of
    F(t) = sum_k exp(z_k + a_k t) (the paper leaves it as future work).

    Found from the tropical envelope's corners, polished by Newton's method
    and certified by the argument principle: no zero of F lies closer than
    ``certified_zero_free``. Equal slopes are merged; it is the Taylor
    radius of the loss along the direction, and always >= rho_a (the
    half-plane lemma, paper section 4). For K = 2 it equals the binary
    radius sqrt(delta^2 + pi^2) / |Delta| (paper eq. 7).

    Args:
        logits: ``(B, K)`` logits z.
        slopes: ``(B, K)`` slopes a = J_z v, logits per unit t.

    Returns:
        An :class:`ExactRadius` of ``(B,)`` arrays, radii in units of t.

    Raises:
        ValueError: shapes that differ, not 2-D, K = 0, NaN/infinite values,
            or a logit spread max z - min z beyond the float64 range.
        RuntimeError: the search could not certify a zero (not expected for
            finite input; reported instead of a guess).
    """
    return ExactRadius(*_core.rho_exact(logits, slopes))


def binary_radius(margin: ArrayLike, slope: ArrayLike) -> Union[np.ndarray, np.float64]:
    """Exact radius of a two-class softmax (paper eq. 7, section 4.2).

    For F(t) = exp(z_1 + a_1 t) + exp(z_2 + a_2 t) with the logit gap
    delta = z_1 - z_2 and the slope gap Delta = a_1 - a_2:
    rho* = sqrt(delta^2 + pi^2) / |Delta|, smallest (pi / |Delta|, where
    rho_a is tight) at delta = 0; ``inf`` for Delta = 0.

    Args:
        margin: logit gaps delta, any shape (a scalar too).
        slope: slope gaps Delta, logits per unit t, the same shape.

    Returns:
        float64 radii in units of t, of that shape (a numpy scalar for
        scalar input).

    Raises:
        ValueError: shapes that differ, or a NaN/infinite value (its index
            counted in C order over the flattened array).
    """
    out = _core.binary_radius(margin, slope)
    return out[()] if out.ndim == 0 else out
