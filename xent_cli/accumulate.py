"""Per-class running sums that merge across batches (and across files or machines)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass
class ClassTotals:
    """Sums per true class over evaluated rows (or row x label cells in multilabel mode).

    ``weight``, ``loss_sum`` (nats), ``correct`` and ``p_true_sum`` are weighted by the
    sample weight; ``count`` and ``zero_probability`` count rows.
    """

    count: NDArray[np.int64]
    weight: NDArray[np.float64]
    loss_sum: NDArray[np.float64]
    correct: NDArray[np.float64]
    p_true_sum: NDArray[np.float64]
    zero_probability: NDArray[np.int64]

    @classmethod
    def zeros(cls, n_classes: int) -> ClassTotals:
        return cls(
            count=np.zeros(n_classes, np.int64),
            weight=np.zeros(n_classes),
            loss_sum=np.zeros(n_classes),
            correct=np.zeros(n_classes),
            p_true_sum=np.zeros(n_classes),
            zero_probability=np.zeros(n_classes, np.int64),
        )

    @property
    def n_classes(self) -> int:
        return len(self.count)

    def add(
        self,
        classes: NDArray[np.intp],
        loss: NDArray[np.float64],
        weight: NDArray[np.float64] | None,
        correct: NDArray[np.bool_],
        p_true: NDArray[np.float64],
        zero: NDArray[np.bool_],
    ) -> None:
        """Add one batch: arrays of equal length, one entry per evaluated row (or cell)."""
        k = self.n_classes

        indicators: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
        if k == 2 and weight is None:
            is_one = classes.astype(np.float64)
            indicators = (1.0 - is_one, is_one)

        def total(values: NDArray[np.float64] | NDArray[np.bool_]) -> NDArray[np.float64]:
            if indicators is not None and np.isfinite(values.sum()):
                # two classes: two dot products, several times as fast as bincount (not with
                # inf or NaN, which a dot product would spread to the other class as 0 * inf)
                return np.array([values @ indicator for indicator in indicators])
            if weight is None:
                return np.bincount(classes, weights=values, minlength=k)
            # A row of weight 0 adds nothing, even when its loss is inf (0 * inf would be NaN).
            weighted = np.multiply(values, weight, out=np.zeros(len(weight)), where=weight != 0)
            return np.bincount(classes, weights=weighted, minlength=k)

        # rows per (class, correct) pair in one pass: [wrong per class..., right per class...]
        pairs = np.bincount(classes + k * correct, minlength=2 * k)
        counts = pairs[:k] + pairs[k:]
        self.count += counts
        self.weight += counts if weight is None else np.bincount(classes, weight, minlength=k)
        self.loss_sum += total(loss)
        self.p_true_sum += total(p_true)
        if weight is None:
            self.correct += pairs[k:]
        else:
            self.correct += total(correct.astype(np.float64))
        if zero.any():
            self.zero_probability += np.bincount(classes[zero], minlength=k)

    def merge(self, other: ClassTotals) -> ClassTotals:
        """The totals of both: merging is addition, so any split of the rows gives the same."""
        return ClassTotals(
            count=self.count + other.count,
            weight=self.weight + other.weight,
            loss_sum=self.loss_sum + other.loss_sum,
            correct=self.correct + other.correct,
            p_true_sum=self.p_true_sum + other.p_true_sum,
            zero_probability=self.zero_probability + other.zero_probability,
        )
