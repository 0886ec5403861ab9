"""Per-class sums that merge across batches, files and machines, exactly.

Counts are integers; every float sum (weighted loss, weight, weighted correct, weighted
p_true) is an :class:`~xent_cli.kernels.exact.ExactSums`, accumulated without rounding and rounded
once in :meth:`ClassTotals.finish`. So the totals of the same rows are bit-identical whatever
their order and however they were cut into batches, and merging is plain addition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from xent_cli.kernels import exact
from xent_cli.kernels.exact import ExactSums
from xent_cli.kernels.mergeable import FieldState, counted, nested

Float = NDArray[np.float64]
Int = NDArray[np.intp]


@dataclass(frozen=True)
class ClassSums:
    """Finished totals: per class, and overall (each rounded once from the exact sum)."""

    count: NDArray[np.int64]
    weight: Float
    loss_sum: Float  # nats
    correct: Float
    p_true_sum: Float
    zero_probability: NDArray[np.int64]
    total_weight: float
    total_loss: float
    total_correct: float
    total_p_true: float


@dataclass(eq=False)
class ClassTotals(FieldState):
    """Sums per true class over evaluated rows (or row x label cells in multilabel mode).

    ``loss``, ``p_true``, ``weight`` and ``correct`` are weighted by the sample weight;
    unweighted, ``weight`` and ``correct`` are the integer counts ``count`` and ``hits``.
    Mergeable (:mod:`xent_cli.kernels.mergeable`): merging is addition, so any split of the
    rows gives the same totals.
    """

    count: NDArray[np.int64] = counted()
    hits: NDArray[np.int64] = counted()  # rows whose arg-max is the truth
    zero_probability: NDArray[np.int64] = counted()
    loss: ExactSums = nested(ExactSums)
    p_true: ExactSums = nested(ExactSums)
    weight: ExactSums | None = nested(ExactSums, optional=True)  # None: unweighted
    correct: ExactSums | None = nested(ExactSums, optional=True)

    @classmethod
    def zeros(cls, n_classes: int, weighted: bool) -> ClassTotals:
        def ints() -> NDArray[np.int64]:
            return np.zeros(n_classes, np.int64)

        return cls(
            ints(),
            ints(),
            ints(),
            ExactSums(n_classes),
            ExactSums(n_classes),
            ExactSums(n_classes) if weighted else None,
            ExactSums(n_classes) if weighted else None,
        )

    @property
    def n_classes(self) -> int:
        return len(self.count)

    def add(
        self,
        classes: Int,
        loss: Float,
        weight: Float | None,
        correct: NDArray[np.bool_],
        p_true: Float,
        zero: NDArray[np.bool_],
    ) -> None:
        """Add one batch: arrays of equal length, one entry per evaluated row (or cell)."""
        k = self.n_classes
        # rows per (class, correct) pair in one pass: [wrong per class..., right per class...]
        pairs = np.bincount(classes + k * correct, minlength=2 * k)
        self.count += pairs[:k] + pairs[k:]
        self.hits += pairs[k:]
        if zero.any():
            self.zero_probability += np.bincount(classes[zero], minlength=k)
        if weight is None:
            self.loss.add(classes, loss)
            self.p_true.add(classes, p_true)
            return
        assert self.weight is not None
        assert self.correct is not None
        self.weight.add(classes, weight)
        self.correct.add(classes[correct], weight[correct])
        self.loss.add(classes, weighted(loss, weight))
        self.p_true.add(classes, weighted(p_true, weight))

    def resized(self, n_classes: int) -> ClassTotals:
        """These totals with ``n_classes`` (at least as many) classes, the new ones empty."""

        def ints(counts: NDArray[np.int64]) -> NDArray[np.int64]:
            return np.pad(counts, (0, n_classes - len(counts)))

        def sums(exact: ExactSums | None) -> ExactSums | None:
            return exact.resized(n_classes) if exact is not None else None

        loss, p_true = self.loss.resized(n_classes), self.p_true.resized(n_classes)
        return ClassTotals(
            ints(self.count),
            ints(self.hits),
            ints(self.zero_probability),
            loss,
            p_true,
            sums(self.weight),
            sums(self.correct),
        )

    def split(self, size: int) -> list[ClassTotals]:
        """Consecutive groups of ``size`` classes as totals of their own (e.g. totals kept
        side by side for many slices, class ``c * size + j`` being slice c's class j)."""
        n = self.n_classes // size

        def ints(counts: NDArray[np.int64]) -> list[NDArray[np.int64]]:
            return list(counts.reshape(n, size).copy())

        def sums(exact: ExactSums | None) -> list[ExactSums | None]:
            return list(exact.split(size)) if exact is not None else [None] * n

        parts = zip(
            ints(self.count),
            ints(self.hits),
            ints(self.zero_probability),
            self.loss.split(size),
            self.p_true.split(size),
            sums(self.weight),
            sums(self.correct),
            strict=True,
        )
        return [ClassTotals(*part) for part in parts]

    def finish(self) -> ClassSums:
        """Round every sum once: per class, and the overall totals from the exact sums."""

        def exact_or_count(sums: ExactSums | None, counts: NDArray[np.int64]) -> Float:
            return sums.finish() if sums is not None else counts.astype(np.float64)

        def total(sums: ExactSums | None, counts: NDArray[np.int64]) -> float:
            return sums.total() if sums is not None else float(int(counts.sum()))

        return ClassSums(
            count=self.count.copy(),
            weight=exact_or_count(self.weight, self.count),
            loss_sum=self.loss.finish(),
            correct=exact_or_count(self.correct, self.hits),
            p_true_sum=self.p_true.finish(),
            zero_probability=self.zero_probability.copy(),
            total_weight=total(self.weight, self.count),
            total_loss=self.loss.total(),
            total_correct=total(self.correct, self.hits),
            total_p_true=self.p_true.total(),
        )


@dataclass(frozen=True)
class Totals:
    """The overall figures of one :class:`ClassTotals` (those of its ``finish()``)."""

    weight: float
    loss: float
    correct: float
    p_true: float
    zero_probability: int


def overall_totals(many: Sequence[ClassTotals]) -> list[Totals]:
    """Each one's overall totals, the same as ``finish()`` gives, computed together (one
    exact pass for thousands of slices instead of a ``finish()`` each)."""

    def column(sums: list[ExactSums | None], counts: list[NDArray[np.int64]]) -> list[float]:
        kept = [s for s in sums if s is not None]
        if len(kept) == len(sums):
            return exact.totals(kept)
        return [float(int(c.sum())) for c in counts]

    weight = column([t.weight for t in many], [t.count for t in many])
    loss = exact.totals([t.loss for t in many])
    correct = column([t.correct for t in many], [t.hits for t in many])
    p_true = exact.totals([t.p_true for t in many])
    zeros = [int(t.zero_probability.sum()) for t in many]
    return [Totals(*figures) for figures in zip(weight, loss, correct, p_true, zeros, strict=True)]


def weighted(values: Float, weight: Float) -> Float:
    """``values * weight`` per row, one rounding each; a row of weight 0 adds 0, even when its
    value is inf (0 * inf would be NaN)."""
    return np.multiply(values, weight, out=np.zeros(len(weight)), where=weight != 0)
