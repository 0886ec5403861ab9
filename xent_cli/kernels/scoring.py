"""Score validated arrays: per-row loss, predicted class, probability of the truth.

The one place that knows how each (mode, kind) pair turns scores into a loss; the formulas
themselves live in :mod:`xent_cli.kernels.numerics`. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

from xent_cli.kernels import numerics as nx
from xent_cli.options import Kind

Float = NDArray[np.float64]
Int = NDArray[np.intp]
Bool = NDArray[np.bool_]


@dataclass
class Scored:
    """One entry per evaluated row (per row x label cell in multilabel mode).

    classes: the true class (per-class bucket); predicted: arg-max class (binary: 0/1);
    loss: nats; p_true: probability given to the truth; zero: truth had probability < eps.
    """

    classes: Int
    predicted: Int
    loss: Float
    p_true: Float
    zero: Bool

    @property
    def correct(self) -> Bool:
        return cast("Bool", self.classes == self.predicted)

    def as_cells(self, columns: Int) -> Scored:
        """Multilabel: the same binary results filed under their label column instead."""
        return Cells(columns, self.predicted, self.loss, self.p_true, self.zero, self.classes)


@dataclass
class Cells(Scored):
    """Multilabel cells: ``classes`` is the label column, ``outcome`` the 0/1 truth."""

    outcome: Int

    @property
    def correct(self) -> Bool:
        return cast("Bool", self.outcome == self.predicted)


def _below_eps(prob: Float, eps: float) -> Bool:
    return prob < eps if eps > 0 else prob <= 0.0


def score_categorical(scores: Float, labels: Int, kind: Kind, eps: float) -> Scored:
    """Softmax cross-entropy; scores (n, k) are logits, probabilities or log-probabilities."""
    rows = np.arange(len(labels))
    if kind is Kind.logits:
        loss, predicted = nx.categorical_logits_loss(scores, labels)
        return Scored(labels, predicted, loss, np.exp(-loss), np.zeros(len(labels), bool))
    predicted, _ = nx.argmax_rows(scores)
    if kind is Kind.probs:
        q = scores[rows, labels]
        return Scored(labels, predicted, nx.clipped_neg_log(q, eps), q, _below_eps(q, eps))
    log_q = scores[rows, labels]
    zero = np.isneginf(log_q)
    loss = 0.0 - nx.clip_log_prob(log_q, eps)
    return Scored(labels, predicted, loss, np.exp(log_q), zero)


def score_categorical_logits_parts(
    logits: Float, labels: Int
) -> tuple[Scored, tuple[Float, Float | None]]:
    """:func:`score_categorical` of logits, with the per-row sums of ``exp(z_j - m)`` and
    their squares over ``j != argmax`` (see :func:`numerics.categorical_logits_parts`)."""
    loss, predicted, parts = nx.categorical_logits_parts(logits, labels)
    zero = np.zeros(len(labels), bool)
    return Scored(labels, predicted, loss, np.exp(-loss), zero), parts


def score_binary(scores: Float, labels: Int, kind: Kind, eps: float) -> Scored:
    """Sigmoid cross-entropy of 0/1 labels; scores (n,) for the positive class."""
    y = labels.astype(np.float64)
    if kind is Kind.logits:
        loss = nx.binary_logits_loss(scores, y)
        predicted = (scores > 0).astype(np.intp)
        return Scored(labels, predicted, loss, np.exp(-loss), np.zeros(len(labels), bool))
    if kind is Kind.probs:
        q = np.where(labels == 1, scores, 1.0 - scores)
        predicted = (scores > 0.5).astype(np.intp)
        return Scored(labels, predicted, nx.clipped_neg_log(q, eps), q, _below_eps(q, eps))
    log_q = np.where(labels == 1, scores, nx.log1mexp(np.minimum(scores, 0.0)))
    predicted = (scores > -np.log(2.0)).astype(np.intp)
    zero = np.isneginf(log_q)
    return Scored(labels, predicted, 0.0 - nx.clip_log_prob(log_q, eps), np.exp(log_q), zero)


def score_soft_targets(scores: Float, targets: Float, kind: Kind, eps: float) -> Scored:
    """``-sum_c t_c log q_c`` per row; the row's class for the per-class table is argmax t."""
    if kind is Kind.logits:
        log_q = nx.log_softmax(scores)
        zero = np.zeros(len(scores), bool)
    elif kind is Kind.probs:
        log_q = nx.log_probs_from_probs(scores, eps)
        zero = np.asarray(((targets > 0) & _below_eps(scores, eps)).any(axis=1))
    else:
        zero = np.asarray(((targets > 0) & np.isneginf(scores)).any(axis=1))
        log_q = nx.clip_log_prob(scores, eps)
    loss = nx.soft_target_loss(log_q, targets)
    classes, _ = nx.argmax_rows(targets)
    p_true = np.exp(log_q[np.arange(len(classes)), classes])
    return Scored(classes, nx.argmax_rows(scores)[0], loss, p_true, zero)
