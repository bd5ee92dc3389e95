"""Types of the compiled module ``ghosts._core`` (crates/python/src/lib.rs).

The documented API is ``ghosts`` (``__init__.py``), which wraps these tuples
in named tuples. Shapes: ``(B, K)`` in, ``(B,)`` out; see ``ghosts``.
"""

from typing import Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str
CERTIFY_SHRINK: float

def delta_a(slopes: ArrayLike) -> NDArray[np.float64]: ...
def rho_a(
    slopes: ArrayLike, aggregation: Union[str, float]
) -> Tuple[float, float, Optional[int], NDArray[np.float64]]: ...
def rho_top2(
    logits: ArrayLike, slopes: ArrayLike, labels: Optional[NDArray[np.int64]] = None
) -> Tuple[
    NDArray[np.float64],
    NDArray[np.complex128],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.float64],
]: ...
def rho_exact(
    logits: ArrayLike, slopes: ArrayLike
) -> Tuple[NDArray[np.float64], NDArray[np.complex128], NDArray[np.float64]]: ...
def binary_radius(margin: ArrayLike, slope: ArrayLike) -> NDArray[np.float64]: ...
