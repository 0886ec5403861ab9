"""Per-row probabilities for calibration: what each row predicted and what happened.

From the validated scores of one batch (logits, probabilities or log-probabilities) this
derives, per entry (row; multilabel: row x label cell, in the order of ``Prepared``):

- ``confidence``: the probability a reliability bin averages — the top label's (``top``) or
  the positive class's (``positive``);
- ``observed``: 1 when that prediction came true (top: arg-max is the truth; positive: the
  label is positive), soft targets give their probability;
- ``brier``: ``sum_c (p_c - y_c)^2`` (binary, and each multilabel cell: ``(p - y)^2``);

and for ``classwise`` the whole (rows, classes) matrices of p and y. Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .numerics import row_sums
from .options import EceTarget, Kind, Mode
from .scoring import Scored

Float = NDArray[np.float64]
Int = NDArray[np.intp]


@dataclass
class Confidences:
    """One batch's calibration inputs (entries aligned with ``Prepared``'s)."""

    confidence: Float
    observed: Float
    brier: Float
    class_p: Float | None = None  # classwise: (rows, classes) probabilities
    class_y: Float | None = None  # classwise: (rows, classes) outcomes (0/1 or soft)

    def take(self, entries: Int, rows: Int | None) -> Confidences:
        """Some entries (a slice's); ``rows``: their rows in the matrices (classwise)."""
        pick = (lambda m: m[rows]) if rows is not None else (lambda m: m)
        return Confidences(
            self.confidence[entries],
            self.observed[entries],
            self.brier[entries],
            pick(self.class_p) if self.class_p is not None else None,
            pick(self.class_y) if self.class_y is not None else None,
        )


def sigmoid(z: Float) -> Float:
    r"""``1 / (1 + e^{-z})``, evaluated without overflow on either side."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(logits: Float) -> Float:
    """Row-wise softmax with the max shift (every row's largest probability is exact)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= row_sums(shifted)[:, None]
    return shifted


def probabilities(scores: Float, kind: Kind, categorical: bool) -> Float:
    """The scores as probabilities: softmax / sigmoid of logits, exp of log-probabilities,
    probabilities as given (after --renormalize, if asked)."""
    if kind is Kind.logits:
        return softmax(scores) if categorical else sigmoid(scores)
    if kind is Kind.log_probs:
        return np.exp(scores)
    return scores


def confidences(
    mode: Mode,
    kind: Kind,
    target: EceTarget,
    scores: Float,
    labels: Int,
    soft: Float | None,
    scored: Scored,
) -> Confidences:
    """Calibration inputs of one batch's evaluated rows (see the module's docstring).

    scores: validated (n, k) scores (binary: (n, 1)); labels: class per row (multilabel:
    (n, L) 0/1); soft: soft targets or None; scored: the batch's scored entries.
    """
    if mode is Mode.categorical:
        p = probabilities(scores, kind, categorical=True)
        n = len(p)
        rows = np.arange(n)
        if soft is not None:
            y = soft
        else:
            y = np.zeros_like(p)
            y[rows, labels] = 1.0
        diff = p - y
        brier = row_sums(diff * diff)
        predicted = scored.predicted
        confidence = p[rows, predicted]
        observed = scored.correct.astype(np.float64)
        if target is EceTarget.classwise:
            return Confidences(confidence, observed, brier, p, y)
        return Confidences(confidence, observed, brier)
    # binary, and multilabel cells (row-major, as Prepared's entries)
    p = probabilities(scores, kind, categorical=False)
    y = (labels if labels.ndim == 2 else labels[:, None]).astype(np.float64)
    cell_p, cell_y = p.ravel(), y.ravel()
    diff = cell_p - cell_y
    brier = diff * diff
    if target is EceTarget.positive:
        return Confidences(cell_p, cell_y, brier)
    if target is EceTarget.top:
        top = np.maximum(cell_p, 1.0 - cell_p)
        return Confidences(top, scored.correct.astype(np.float64), brier)
    if mode is Mode.binary:  # classwise: the negative and the positive class
        return Confidences(cell_p, cell_y, brier, np.column_stack([1.0 - p[:, 0], p[:, 0]]),
                           np.column_stack([1.0 - y[:, 0], y[:, 0]]))  # fmt: skip
    return Confidences(cell_p, cell_y, brier, p, y)
