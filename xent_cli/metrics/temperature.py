r"""Temperature scaling on a fixed grid: how much of the loss is miscalibration.

Every score row is turned into logits ``z`` (logits as given; probabilities: ``log(clip(p,
eps, 1))``; log-probabilities: clipped as for the loss; binary: the log-odds ``log q1 - log
q0``) and scored again at each temperature ``T`` of the grid ``2^(j/8)``, ``j = -16..16``
(0.25 to 4, T = 1 excluded), with the same stable kernels as the loss:

.. math::  L(T) = \frac{\sum_i w_i \, \ell(z_i / T, y_i)}{\sum_i w_i}

The per-temperature sums are exact (one bucket each), so they merge like every other sum.
The report's ``best`` is the grid's (or 1's) arg-min, ``loss_at_best = L(best)`` and
``calibration_loss = loss - loss_at_best`` (>= 0: L(1) is the reported loss itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from xent_cli.kernels import numerics as nx
from xent_cli.kernels.accumulate import weighted
from xent_cli.kernels.exact import ExactSums
from xent_cli.kernels.mergeable import FieldState, nested
from xent_cli.options import Kind, Mode

Float = NDArray[np.float64]
Int = NDArray[np.intp]
Bool = NDArray[np.bool_]

STEPS_PER_OCTAVE = 8
GRID_EXPONENTS = [j for j in range(-16, 17) if j != 0]
GRID = [2.0 ** (j / STEPS_PER_OCTAVE) for j in GRID_EXPONENTS]
_BIG = 1e300  # a certain outcome (+-inf log-odds) stays certain at every temperature


def as_logits(scores: Float, kind: Kind, mode: Mode, eps: float) -> Float:
    """The scores as logits whose softmax (binary: sigmoid) is the scores' distribution."""
    if kind is Kind.logits:
        return scores
    if mode is Mode.categorical:
        if kind is Kind.probs:
            return nx.log_probs_from_probs(scores, eps)
        return nx.clip_log_prob(scores, eps)
    if kind is Kind.probs:
        log_p = nx.log_probs_from_probs(scores, eps)
        log_q = nx.log_probs_from_probs(1.0 - scores, eps)
    else:
        log_p = nx.clip_log_prob(scores, eps)
        log_q = nx.clip_log_prob(nx.log1mexp(np.minimum(scores, 0.0)), eps)
    with np.errstate(invalid="ignore"):
        return np.clip(log_p - log_q, -_BIG, _BIG)


def grid_losses(
    logits: Float, mode: Mode, labels: Int, soft: Float | None, kept: Bool | None = None
) -> list[Float]:
    """Per-entry losses (nats) at each grid temperature, entries as ``Prepared``'s (``kept``:
    the multilabel cells that are entries; None: all)."""
    out = []
    for t in GRID:
        z = logits / t
        if soft is not None:
            out.append(nx.soft_target_loss(nx.log_softmax(z), soft))
        elif mode is Mode.categorical:
            out.append(nx.categorical_logits_loss(z, labels)[0])
        else:
            y = labels if labels.ndim == 2 else labels[:, None]
            z_cells, y_cells = (z.ravel(), y.ravel()) if kept is None else (z[kept], y[kept])
            out.append(nx.binary_logits_loss(z_cells, y_cells.astype(np.float64)))
    return out


@dataclass(eq=False)
class TemperatureSums(FieldState):
    """Exact ``sum w * loss`` at each grid temperature (saved with the grid: states of another
    grid do not load)."""

    STATE_HEADER: ClassVar[dict[str, Any]] = {"grid": GRID_EXPONENTS}

    sums: ExactSums = nested(ExactSums)

    @classmethod
    def zeros(cls) -> TemperatureSums:
        return cls(ExactSums(len(GRID)))

    def add(self, losses: list[Float], weight: Float | None) -> None:
        for j, loss in enumerate(losses):
            values = loss if weight is None else weighted(loss, weight)
            self.sums.add(np.full(len(values), j, np.intp), values)


@dataclass(frozen=True)
class Decomposition:
    """``loss = calibration_loss + loss_at_best`` (in the report's base)."""

    best: float
    loss_at_best: float
    calibration_loss: float
    at_grid_end: bool  # the best temperature is the grid's smallest or largest
    losses: tuple[tuple[float, float], ...]  # (T, L(T)) for the whole grid and T = 1

    def to_dict(self) -> dict[str, Any]:
        from xent_cli.jsonvalues import json_number

        return {
            "best": self.best,
            "loss_at_best": json_number(self.loss_at_best),
            "calibration_loss": json_number(self.calibration_loss),
            "at_grid_end": self.at_grid_end,
            "grid": f"T = 2^(j/{STEPS_PER_OCTAVE}), j = {GRID_EXPONENTS[0]}..{GRID_EXPONENTS[-1]}",
            "losses": [{"t": t, "loss": json_number(v)} for t, v in self.losses],
        }


def decompose(
    sums: TemperatureSums, loss_sum: float, total_weight: float, log_base: float
) -> Decomposition | None:
    """The decomposition from the grid's sums and the run's own loss sum (T = 1), nats."""
    if total_weight <= 0:
        return None
    per_t = sums.sums.finish()
    points = sorted([(1.0, loss_sum), *zip(GRID, per_t.tolist(), strict=True)])
    means = [(t, s / total_weight / log_base) for t, s in points]
    loss = loss_sum / total_weight / log_base
    best_t, best = min(means, key=lambda tv: (tv[1], abs(np.log(tv[0]))))
    if not best < loss:  # ties and NaN: T = 1 is as good
        best_t, best = 1.0, loss
    return Decomposition(best_t, best, loss - best, best_t in (GRID[0], GRID[-1]), tuple(means))
