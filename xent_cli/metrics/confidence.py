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
from typing import cast

import numpy as np
from numpy.typing import NDArray

from xent_cli.kernels.numerics import categorical_logits_parts, row_sums
from xent_cli.kernels.scoring import Scored
from xent_cli.options import EceTarget, Kind, Mode

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
    soft: bool = False  # outcomes are soft-target probabilities, not 0/1
    class_kept: NDArray[np.bool_] | None = None  # multilabel --ignore-label: the cells scored


def sigmoid(z: Float) -> Float:
    r"""``1 / (1 + e^{-z})``, evaluated without overflow on either side."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(logits: Float) -> Float:
    """Row-wise softmax with the max shift (every row's largest probability is exact)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= row_sums(shifted)[:, None]
    return cast("Float", shifted)


def probabilities(scores: Float, kind: Kind, categorical: bool) -> Float:
    """The scores as probabilities: softmax / sigmoid of logits, exp of log-probabilities,
    probabilities as given (after --renormalize, if asked)."""
    if kind is Kind.logits:
        return softmax(scores) if categorical else sigmoid(scores)
    if kind is Kind.log_probs:
        return np.exp(scores)
    return scores


def _from_parts(scored: Scored, rest: Float, rest_sq: Float | None) -> tuple[Float, Float]:
    """Top-label probability and Brier score from the loss kernel's sums over the classes
    other than the arg-max a: ``R1 = sum e_j``, ``R2 = sum e_j^2`` (``e_a = 1``, ``S = 1 +
    R1``, ``e_y = p_true S``); the sums over the classes other than the label y follow by
    swapping ``e_y`` for 1."""
    assert rest_sq is not None
    total = 1.0 + rest
    e_y = scored.p_true * total
    right = scored.classes == scored.predicted
    others = np.where(right, rest, 1.0 + (rest - e_y))
    others_sq = np.where(right, rest_sq, 1.0 + (rest_sq - e_y * e_y))
    return 1.0 / total, (others_sq + others * others) / (total * total)


def _top_and_brier(scores: Float, kind: Kind, labels: Int, predicted: Int) -> tuple[Float, Float]:
    """Top-label probability and Brier score per row of probabilities (log-probabilities:
    their exp): ``p_top`` and ``sum_{c != y} p_c^2 + (1 - p_y)^2``, as the definition
    reads."""
    rows = np.arange(len(labels))
    p = np.exp(scores) if kind is Kind.log_probs else scores
    squares = p * p
    squares[rows, labels] = 0.0
    miss = 1.0 - p[rows, labels]
    return p[rows, predicted].copy(), row_sums(squares) + miss * miss


def confidences(
    mode: Mode,
    kind: Kind,
    target: EceTarget,
    scores: Float,
    labels: Int,
    soft: Float | None,
    scored: Scored,
    parts: tuple[Float, Float | None] | None = None,
    kept: NDArray[np.bool_] | None = None,
) -> Confidences:
    """Calibration inputs of one batch's evaluated rows (see the module's docstring).

    scores: validated (n, k) scores (binary: (n, 1)); labels: class per row (multilabel:
    (n, L) 0/1); soft: soft targets or None; scored: the batch's scored entries; kept:
    multilabel, the cells that are entries (None: all).
    """
    if mode is Mode.categorical and soft is None and target is not EceTarget.classwise:
        if kind is Kind.logits:
            if parts is None:  # the loss kernel's sums, unless the caller kept them
                parts = categorical_logits_parts(scores, labels)[2]
            confidence, brier = _from_parts(scored, *parts)
        else:
            confidence, brier = _top_and_brier(scores, kind, labels, scored.predicted)
        return Confidences(confidence, scored.correct.astype(np.float64), brier)
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
            return Confidences(confidence, observed, brier, p, y, soft is not None)
        return Confidences(confidence, observed, brier)
    # binary, and multilabel cells (row-major, as Prepared's entries)
    y = (labels if labels.ndim == 2 else labels[:, None]).astype(np.float64)
    if kind is Kind.logits and target is not EceTarget.classwise:
        # from the loss: q = p(observed) = exp(-loss), 1 - q = -expm1(-loss) (exact also
        # for a confident row); p = q for a positive, 1 - q for a negative
        miss = np.expm1(-scored.loss)
        np.negative(miss, out=miss)
        cell_y = y.ravel() if kept is None else y[kept]
        if target is EceTarget.top:
            top = np.maximum(scored.p_true, miss)
            return Confidences(top, scored.correct.astype(np.float64), miss * miss)
        cell_p = np.where(cell_y == 1.0, scored.p_true, miss)
        return Confidences(cell_p, cell_y, miss * miss)
    p = probabilities(scores, kind, categorical=False)
    cell_p, cell_y = (p.ravel(), y.ravel()) if kept is None else (p[kept], y[kept])
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
    return Confidences(cell_p, cell_y, brier, p, y, class_kept=kept)
