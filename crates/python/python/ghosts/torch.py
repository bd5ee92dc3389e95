"""PyTorch helpers: logit slopes by forward-mode AD, rho_a along a direction,
and ``RhoCap``, the paper's step cap around any ``torch.optim`` optimiser.

Needs PyTorch 2.0 or later (``torch.func``); ``import ghosts.torch`` raises
ImportError without it, and ``import ghosts`` never imports it.

Directions: a direction v over the model's trainable parameters (those with
``requires_grad``, in ``model.named_parameters()`` order) is given as

* a mapping ``{name: tensor}`` (missing names move by 0),
* a sequence of tensors, one per trainable parameter, in that order, or
* one flat 1-D tensor of their total size, in that order (the layout of
  ``torch.nn.utils.parameters_to_vector``).

Units: along v the logits move as z(theta + t v) = z + a t + O(t^2) with the
slopes a = J_z v (logits per unit t). Radii are in units of t; for a
unit-norm v (global L2 norm over all trainable parameters, as in the paper)
t is the step length tau in parameter space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

try:
    import torch
    from torch.func import functional_call, jvp
except ImportError as error:  # pragma: no cover - exercised without torch
    raise ImportError(
        "ghosts.torch needs PyTorch 2.0 or later (torch.func): pip install torch"
    ) from error

import numpy as np

import ghosts

__all__ = ["RhoCap", "StepRecord", "rho_a_along", "slopes", "trainable"]

Direction = Union[Mapping[str, torch.Tensor], Sequence[torch.Tensor], torch.Tensor]


def trainable(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The parameters a direction moves: ``{name: parameter}`` of every
    parameter with ``requires_grad``, in ``model.named_parameters()`` order."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _tangents(params: Dict[str, torch.Tensor], direction: Direction) -> Dict[str, torch.Tensor]:
    """The direction as one tangent per trainable parameter (same shape,
    dtype and device)."""
    if isinstance(direction, torch.Tensor):
        total = sum(p.numel() for p in params.values())
        if direction.dim() != 1 or direction.numel() != total:
            raise ValueError(
                f"direction has shape {tuple(direction.shape)}: a flat vector of "
                f"{total} values (the trainable parameters) expected"
            )
        out, start = {}, 0
        for name, p in params.items():
            piece = direction[start : start + p.numel()]
            out[name] = piece.reshape(p.shape).to(dtype=p.dtype, device=p.device)
            start += p.numel()
        return out
    if isinstance(direction, Mapping):
        unknown = sorted(set(direction) - set(params))
        if unknown:
            raise ValueError(
                f"direction names {unknown}, which are not trainable parameters of the model"
            )
        pairs = {name: direction.get(name) for name in params}
    else:
        direction = list(direction)
        if len(direction) != len(params):
            raise ValueError(
                f"direction has {len(direction)} tensors but the model has "
                f"{len(params)} trainable parameters: one tensor per parameter expected"
            )
        pairs = dict(zip(params, direction))
    out = {}
    for name, p in params.items():
        d = pairs[name]
        if d is None:
            out[name] = torch.zeros_like(p)
            continue
        if tuple(d.shape) != tuple(p.shape):
            raise ValueError(
                f"direction for {name} has shape {tuple(d.shape)} but the parameter "
                f"has shape {tuple(p.shape)}"
            )
        out[name] = d.detach().to(dtype=p.dtype, device=p.device)
    return out


def slopes(model: torch.nn.Module, inputs: Any, direction: Direction) -> torch.Tensor:
    """Logit slopes a = J_z v of every sample: one forward-mode JVP.

    ``torch.func.jvp`` of ``functional_call(model, params, (inputs,))`` in
    the trainable parameters, at their current values, with tangent v
    (buffers such as BatchNorm statistics are the model's own). The model
    runs in its current mode (``train()`` / ``eval()``): call ``eval()``
    first if it has dropout or BatchNorm, whose training mode would update
    running statistics.

    Args:
        model: maps ``inputs`` to logits of shape ``(B, K)``.
        inputs: the model's input (one positional argument).
        direction: v, as described in the module docstring.

    Returns:
        ``(B, K)`` tensor of slopes (the logits' dtype and device), logits
        per unit t, detached.
    """
    params = {name: p.detach() for name, p in trainable(model).items()}
    tangents = _tangents(params, direction)

    def logits(p: Dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(model, p, (inputs,))

    with torch.no_grad():
        z, a = jvp(logits, (params,), (tangents,))
    if a.dim() != 2:
        raise ValueError(f"the model returned shape {tuple(z.shape)}: logits (B, K) expected")
    return a.detach()


def _numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float64)
    return t.numpy()


def rho_a_along(
    model: torch.nn.Module,
    inputs: Any,
    direction: Direction,
    aggregation: Union[str, float] = "max",
) -> ghosts.SetRadius:
    """rho_a = pi / Delta_a of the batch ``inputs`` along ``direction``
    (paper eq. 8, section 4.4): :func:`slopes` then :func:`ghosts.rho_a`.

    The direction is used as given (not normalised): the radius is in units
    of t along it, a step length in parameter space when v has unit norm.

    Returns:
        A :class:`ghosts.SetRadius` (set radius, aggregated spread,
        bottleneck sample, per-sample radii).
    """
    return ghosts.rho_a(_numpy(slopes(model, inputs, direction)), aggregation)


@dataclass(frozen=True)
class StepRecord:
    """One step of :class:`RhoCap` (all lengths in parameter space, L2 over
    the optimiser's parameters).

    Attributes:
        tau_proposed: ||u||, the inner optimiser's update.
        rho_a: rho_a along v = u / ||u|| at the parameters before the step
            (``inf`` for u = 0, ``nan`` if u is not finite).
        scale: s = min(1, r_target * rho_a / ||u||); 0 when the update was
            not applied (u not finite, or rho_a NaN).
        tau: ||s u||, the applied step length.
        r: tau / rho_a, the applied normalised step (paper eq. 10), at most
            r_target.
    """

    tau_proposed: float
    rho_a: float
    scale: float
    tau: float
    r: float


class RhoCap:
    """The paper's rho-cap (Prop. 5.2) around any ``torch.optim`` optimiser.

    Each :meth:`step` lets the inner optimiser step, takes the update it
    applied, u = theta_new - theta, puts the parameters back, measures rho_a
    along v = u / ||u|| on the given batch (one JVP, :func:`rho_a_along`, the
    model in eval mode unless ``eval_probe=False``), and applies
    ``s * u`` with s = min(1, r_target * rho_a / ||u||), so the applied step
    has tau = ||s u|| <= r_target * rho_a, i.e. r = tau / rho_a <= r_target.
    A step inside the radius is applied unchanged. Each step's numbers are
    appended to :attr:`log` (:class:`StepRecord`).

    Optimiser state: the inner step updates its state as usual (momentum
    buffers, Adam's moments and step count see the full gradient); only the
    applied update is scaled, as in the paper's controller (its learning-rate
    form: lr_eff = min(lr, r_target * rho_a / ||u / lr||)). ||u|| is the
    L2 norm over every parameter the optimiser holds; all of them must be
    trainable parameters of ``model`` (the ones the direction moves).

    An update that is not finite (or a NaN radius) is not applied: the
    parameters stay as they were and the record has ``scale = 0``.

    Args:
        optimizer: any ``torch.optim.Optimizer`` over parameters of ``model``.
        model: the model whose logits define rho_a.
        r_target: the largest applied r (the paper: 1).
        aggregation: ``"max"`` (the paper) or a quantile, as :func:`ghosts.rho_a`.
        eval_probe: run the probe's JVP in eval mode (no dropout, BatchNorm's
            running statistics), restoring each module's mode afterwards.

    Example::

        opt = RhoCap(torch.optim.Adam(model.parameters(), lr=1e-3), model)
        loss = loss_fn(model(x), y); opt.zero_grad(); loss.backward()
        opt.step(x)  # the batch whose logits set rho_a
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        model: torch.nn.Module,
        r_target: float = 1.0,
        aggregation: Union[str, float] = "max",
        eval_probe: bool = True,
    ) -> None:
        if not (r_target > 0 and math.isfinite(r_target)):
            raise ValueError(f"r_target = {r_target}: a positive finite number expected")
        self.optimizer = optimizer
        self.model = model
        self.r_target = float(r_target)
        self.aggregation = aggregation
        self.eval_probe = eval_probe
        #: One :class:`StepRecord` per :meth:`step`.
        self.log: List[StepRecord] = []
        names = {id(p): name for name, p in trainable(model).items()}
        self._params: List[torch.Tensor] = []
        for group in optimizer.param_groups:
            for p in group["params"]:
                if id(p) not in names:
                    raise ValueError(
                        f"the optimiser holds a parameter of shape {tuple(p.shape)} that is "
                        "not a trainable parameter of the model"
                    )
                self._params.append(p)
        self._names = [names[id(p)] for p in self._params]

    @property
    def param_groups(self) -> List[Dict[str, Any]]:
        """The inner optimiser's parameter groups (learning rates live here)."""
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        """The inner optimiser's ``zero_grad``."""
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> Dict[str, Any]:
        """The inner optimiser's state (the log is not part of it)."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Loads the inner optimiser's state."""
        self.optimizer.load_state_dict(state)

    def _probe(self, inputs: Any, direction: Dict[str, torch.Tensor]) -> float:
        modes = [(m, m.training) for m in self.model.modules()]
        if self.eval_probe:
            self.model.eval()
        try:
            return rho_a_along(self.model, inputs, direction, self.aggregation).rho_a
        finally:
            for m, training in modes:
                m.training = training

    @torch.no_grad()
    def step(self, inputs: Any, closure: Optional[Callable[[], Any]] = None) -> Any:
        """One capped step; ``inputs`` is the batch whose logits set rho_a.

        Returns whatever the inner optimiser's ``step(closure)`` returns.
        """
        before = [p.detach().clone() for p in self._params]
        if closure is None:
            result = self.optimizer.step()
        else:
            with torch.enable_grad():
                result = self.optimizer.step(closure)
        after = [p.detach().clone() for p in self._params]
        updates = [a - b for a, b in zip(after, before)]
        tau = math.sqrt(sum(float(u.double().pow(2).sum()) for u in updates))
        for p, b in zip(self._params, before):
            p.copy_(b)
        if tau == 0.0:
            self.log.append(StepRecord(0.0, math.inf, 1.0, 0.0, 0.0))
            return result
        if not math.isfinite(tau):
            self.log.append(StepRecord(tau, math.nan, 0.0, 0.0, math.nan))
            return result
        direction = {name: u / tau for name, u in zip(self._names, updates)}
        rho = self._probe(inputs, direction)
        scale = min(1.0, self.r_target * rho / tau) if not math.isnan(rho) else 0.0
        if scale == 1.0:
            # Inside the radius: the inner optimiser's own result, bit for bit.
            for p, a in zip(self._params, after):
                p.copy_(a)
        elif scale > 0.0:
            for p, u in zip(self._params, updates):
                p.add_(u, alpha=scale)
        applied = scale * tau
        r = applied / rho if rho > 0 else math.nan
        self.log.append(StepRecord(tau, rho, scale, applied, r))
        return result
