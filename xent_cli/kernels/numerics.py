"""Pure numpy kernels: per-row cross-entropy in float64, stable for any finite input.

Every function takes arrays that were already validated (finite where it matters) and
returns per-row (or per-cell) losses in nats. Nothing here reads files, prints or warns.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]
Int = NDArray[np.intp]
FEW_COLUMNS = 64  # up to this many classes, arg-max scans columns (see argmax_rows)


def categorical_logits_loss(logits: Float, labels: Int) -> tuple[Float, Int]:
    r"""Softmax cross-entropy from logits, with full relative precision per row.

    .. math::  \ell_i = \operatorname{logsumexp}(z_i) - z_{i,y_i}
               = (m_i - z_{i,y_i}) + \log1p\Big(\sum_{j \ne a_i} e^{z_{ij} - m_i}\Big)

    where ``a_i = argmax_j z_ij`` and ``m_i = z_{i,a_i}``. Taking the arg-max term out of the
    sum keeps a confidently right row exact: its loss is ``log1p(tiny) = tiny`` (1e-80 stays
    1e-80), where ``logsumexp(z) - z_y`` would round it to 0.

    logits: (n, k); labels: (n,) class indices. Returns (loss (n,), predicted (n,)).
    """
    loss, predicted, _ = categorical_logits_parts(logits, labels, squares=False)
    return loss, predicted


def categorical_logits_parts(
    logits: Float, labels: Int, *, squares: bool = True
) -> tuple[Float, Int, tuple[Float, Float | None]]:
    """:func:`categorical_logits_loss`, and per row the sums over ``j != argmax`` of
    ``e_j = exp(z_j - m)`` and (``squares``) of ``e_j^2``: the softmax is ``e / (1 + sum)``,
    so calibration figures need no second pass of exponentials."""
    rows = np.arange(logits.shape[0])
    predicted, top = argmax_rows(logits)
    rest = logits - top[:, None]  # <= 0, so exp never overflows
    np.exp(rest, out=rest)
    rest[rows, predicted] = 0.0
    rest_sum = row_sums(rest)
    loss = (top - logits[rows, labels]) + np.log1p(rest_sum)
    if not squares:
        return loss, predicted, (rest_sum, None)
    np.multiply(rest, rest, out=rest)
    return loss, predicted, (rest_sum, row_sums(rest))


def row_sums(values: Float) -> Float:
    """Per row the sum of its values, added in an order that depends on the width alone.

    numpy's ``sum(axis=1)`` adds a row-major row pairwise but a column-major matrix column by
    column, and a one-row matrix is both: the same row summed in two batches (one with a
    skipped row, which makes a copy in the other layout) could differ in the last bit. Up to
    FEW_COLUMNS classes the columns are added left to right, whatever the layout; wider rows
    are summed row-major (pairwise, numpy's own order for a contiguous row).
    """
    n, k = values.shape
    if k > FEW_COLUMNS:
        return cast("Float", np.ascontiguousarray(values).sum(axis=1))
    if k == 0:
        return np.zeros(n)
    total = values[:, 0].copy()
    for j in range(1, k):
        total += values[:, j]
    return cast("Float", total)


def argmax_rows(values: Float) -> tuple[Int, Float]:
    """Per row the index of the largest value (the first of ties, as ``ndarray.argmax``) and
    that value. NaN-free input.

    A column-major matrix of few columns is scanned a column at a time: a row max plus one
    compare per column, about twice as fast as ``argmax(axis=1)``, which copies the matrix
    into row-major order and then scans each short row on its own.
    """
    n, k = values.shape
    if values.flags.f_contiguous and 1 < k <= FEW_COLUMNS:
        top = values.max(axis=1)
        predicted = np.empty(n, np.intp)
        for j in range(k - 1, -1, -1):  # from the right, so the first of ties is kept
            np.putmask(predicted, values[:, j] == top, j)
        return predicted, top
    predicted = values.argmax(axis=1)
    return predicted, values[np.arange(n), predicted]


def log_softmax(logits: Float) -> Float:
    r"""Row-wise ``log softmax(z) = z - m - log(sum_j exp(z_j - m))`` with ``m = max(z)``."""
    top = logits.max(axis=1, keepdims=True)
    shifted = logits - top
    return cast("Float", shifted - np.log(row_sums(np.exp(shifted)))[:, None])


def logsumexp_rows(values: Float) -> Float:
    """Row-wise log-sum-exp with the max shift (rows of -inf give -inf)."""
    top = values.max(axis=1, keepdims=True)
    safe_top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):  # log(0) = -inf for an all -inf row, by design
        return np.log(row_sums(np.exp(values - safe_top))) + safe_top[:, 0]


def binary_logits_loss(logits: Float, targets: Float) -> Float:
    r"""Sigmoid (binary) cross-entropy from logits, elementwise.

    .. math::  \ell = \max(z, 0) - z\,y + \log1p(e^{-|z|})

    the softplus form: no overflow for any finite ``z``, and exact for confident rows.
    ``targets`` are 0/1 (soft values in [0, 1] work too).
    """
    loss = np.maximum(logits, 0.0)
    loss -= logits * targets  # first: max(z, 0) - z y is exact, 0 for a confidently right row
    tail = np.abs(logits)
    np.negative(tail, out=tail)
    np.exp(tail, out=tail)
    np.log1p(tail, out=tail)
    loss += tail
    return loss


def clipped_neg_log(prob: Float, eps: float) -> Float:
    r"""``-log(clip(q, eps, 1))``: the loss of an outcome that was given probability ``q``.

    With ``eps = 0`` a zero probability gives ``inf`` (the caller counts and reports it).
    """
    return 0.0 - log_probs_from_probs(prob, eps)  # 0.0 - x: log(1) gives 0.0, not -0.0


def log1mexp(log_p: Float) -> Float:
    r"""``log(1 - exp(a))`` for ``a <= 0``, accurate on both sides of ``-log 2`` (Mächler 2012)."""
    out = np.empty_like(log_p)
    near_zero = log_p > -np.log(2.0)
    with np.errstate(divide="ignore"):  # a == 0 means p == 1: log(0) = -inf, by design
        out[near_zero] = np.log(-np.expm1(log_p[near_zero]))
    out[~near_zero] = np.log1p(-np.exp(log_p[~near_zero]))
    return out


def clip_log_prob(log_q: Float, eps: float) -> Float:
    """A log-probability of ``-inf`` (probability zero) becomes ``log(eps)``; finite ones stay."""
    if eps <= 0:
        return log_q
    return np.where(np.isneginf(log_q), np.log(eps), log_q)


def soft_target_loss(log_q: Float, targets: Float) -> Float:
    r"""``-sum_c t_c log q_c`` per row, with ``0 * log 0 = 0``. log_q, targets: (n, k)."""
    # where t == 0, log q may be -inf: use 0 there, so that 0 * log 0 is 0, not NaN
    return -row_sums(targets * np.where(targets > 0, log_q, 0.0))


def log_probs_from_probs(probs: Float, eps: float) -> Float:
    """Elementwise ``log(clip(p, eps, 1))`` (``-inf`` for zero when ``eps == 0``)."""
    with np.errstate(divide="ignore"):  # log(0) = -inf only when eps == 0, reported upstream
        return np.log(np.clip(probs, eps, 1.0))
