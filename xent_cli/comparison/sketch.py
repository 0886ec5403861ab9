"""A mergeable histogram of real values with log-spaced bins: percentiles to a relative accuracy.

The DDSketch idea (Masson, Rim and Lee, 2019), with counts kept whole. With ``gamma = (1 +
alpha) / (1 - alpha)``, a value ``x > 0`` falls in bin ``i = ceil(log(x) / log(gamma))``, which
holds ``(gamma**(i-1), gamma**i]``; a negative value in the mirrored bin of ``-x``; zero, and
each infinity, have a count of their own. A bin stands for ``2 gamma**i / (gamma + 1)``, within
``alpha`` of every value in it (relatively). The bins of a value depend on the value alone, so
the counts — and every percentile read from them — are the same for any order and any split
of the values; :meth:`LogHistogram.merge` adds the counts.

A percentile ``q`` reads as numpy's default ("linear"): with ``N`` values sorted, ``h = q/100 ·
(N - 1)``, the values of ranks ``floor(h)`` and ``floor(h) + 1`` interpolated. Each of the two
is a bin's value, so the result is within ``alpha · max(|x_floor|, |x_ceil|)`` of
``numpy.percentile`` over the same values. The smallest and largest values are kept exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

#: The relative accuracy of every percentile (0.1 %).
ALPHA = 1e-3
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)

Float = NDArray[np.float64]
Counts = NDArray[np.int64]


@dataclass
class _Store:
    """Counts of bins ``offset, offset + 1, ...`` (empty: no bins)."""

    offset: int = 0
    counts: Counts = field(default_factory=lambda: np.zeros(0, np.int64))

    def add(self, index: NDArray[np.int64]) -> None:
        if not len(index):
            return
        lo, hi = int(index.min()), int(index.max())
        added = np.bincount(index - lo, minlength=hi - lo + 1).astype(np.int64)
        self.counts, self.offset = _added(self.offset, self.counts, lo, added)

    def merge(self, other: _Store) -> _Store:
        counts, offset = _added(self.offset, self.counts.copy(), other.offset, other.counts)
        return _Store(offset, counts)

    def trimmed(self) -> tuple[int, list[int]]:
        """(offset, counts) without empty bins at either end: the same bins, one form."""
        nonzero = np.flatnonzero(self.counts)
        if not len(nonzero):
            return 0, []
        first, last = int(nonzero[0]), int(nonzero[-1])
        return self.offset + first, self.counts[first : last + 1].tolist()

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def _added(offset: int, counts: Counts, other_offset: int, other: Counts) -> tuple[Counts, int]:
    """``counts`` (bins from ``offset``) plus ``other`` (from ``other_offset``)."""
    if not len(other):
        return counts, offset
    if not len(counts):
        return other.copy(), other_offset
    lo = min(offset, other_offset)
    hi = max(offset + len(counts), other_offset + len(other))
    if lo != offset or hi != offset + len(counts):
        grown = np.zeros(hi - lo, np.int64)
        grown[offset - lo : offset - lo + len(counts)] = counts
        counts, offset = grown, lo
    counts[other_offset - offset : other_offset - offset + len(other)] += other
    return counts, offset


def bin_index(magnitudes: Float) -> NDArray[np.int64]:
    """The bin of each positive finite value: ``ceil(log(x) / log(gamma))``."""
    return np.ceil(np.log(magnitudes) / _LOG_GAMMA).astype(np.int64)


def bin_value(index: int) -> float:
    """The value a bin stands for: ``2 gamma**i / (gamma + 1)``."""
    return 2.0 * math.exp(index * _LOG_GAMMA) / (GAMMA + 1.0)


def bin_values(index: NDArray[np.int64]) -> Float:
    """:func:`bin_value` of each bin (the same numbers: the same operations, elementwise)."""
    return np.array([bin_value(int(i)) for i in index.tolist()], np.float64)


@dataclass
class LogHistogram:
    """Counts of values by sign and log-spaced magnitude; the exact minimum and maximum."""

    positive: _Store = field(default_factory=_Store)
    negative: _Store = field(default_factory=_Store)
    zero: int = 0
    pos_inf: int = 0
    neg_inf: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf

    @property
    def count(self) -> int:
        return self.positive.total + self.negative.total + self.zero + self.pos_inf + self.neg_inf

    def add(self, values: Float) -> None:
        """Count ``values`` (NaN is not a value: the caller leaves it out)."""
        if not len(values):
            return
        low, high = float(values.min()), float(values.max())
        self.minimum, self.maximum = min(self.minimum, low), max(self.maximum, high)
        if not (math.isfinite(low) and math.isfinite(high)):
            self.pos_inf += int((values == np.inf).sum())
            self.neg_inf += int((values == -np.inf).sum())
            values = values[np.isfinite(values)]
            if not len(values):
                return
            low, high = float(values.min()), float(values.max())
        if low > 0:  # the usual case of a KL: every value positive, no masks
            self.positive.add(bin_index(values))
            return
        positive = values > 0
        negative = values < 0
        n_positive, n_negative = int(positive.sum()), int(negative.sum())
        self.zero += len(values) - n_positive - n_negative
        if n_positive:
            self.positive.add(bin_index(values[positive]))
        if n_negative:
            self.negative.add(bin_index(-values[negative]))

    def merge(self, other: LogHistogram) -> LogHistogram:
        return LogHistogram(
            self.positive.merge(other.positive),
            self.negative.merge(other.negative),
            self.zero + other.zero,
            self.pos_inf + other.pos_inf,
            self.neg_inf + other.neg_inf,
            min(self.minimum, other.minimum),
            max(self.maximum, other.maximum),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogHistogram):
            return NotImplemented
        return self.key() == other.key()

    __hash__ = None  # type: ignore[assignment]

    def key(self) -> tuple[object, ...]:
        """Everything the histogram holds, in one canonical form."""
        return (
            self.positive.trimmed(),
            self.negative.trimmed(),
            self.zero,
            self.pos_inf,
            self.neg_inf,
            self.minimum,
            self.maximum,
        )

    def _sorted_bins(self) -> tuple[Float, Counts]:
        """Each non-empty group's value and count, smallest value first."""
        parts: list[tuple[Float, Counts]] = []
        if self.neg_inf:
            parts.append((np.array([-math.inf]), np.array([self.neg_inf], np.int64)))
        offset, neg = self.negative.trimmed()
        if neg:
            counts = np.array(neg, np.int64)[::-1]
            index = offset + np.arange(len(neg) - 1, -1, -1)
            keep = counts > 0
            parts.append((-bin_values(index[keep]), counts[keep]))
        if self.zero:
            parts.append((np.array([0.0]), np.array([self.zero], np.int64)))
        offset, pos = self.positive.trimmed()
        if pos:
            counts = np.array(pos, np.int64)
            index = offset + np.arange(len(pos))
            keep = counts > 0
            parts.append((bin_values(index[keep]), counts[keep]))
        if self.pos_inf:
            parts.append((np.array([math.inf]), np.array([self.pos_inf], np.int64)))
        if not parts:
            return np.zeros(0), np.zeros(0, np.int64)
        return np.concatenate([v for v, _ in parts]), np.concatenate([c for _, c in parts])

    def percentiles(self, qs: list[float]) -> list[float | None]:
        """Each percentile ``q`` (0..100) as numpy's linear rule would read it off the bins;
        the smallest and largest ranks give the exact minimum and maximum."""
        n = self.count
        if n == 0:
            return [None for _ in qs]
        values, counts = self._sorted_bins()
        ends = np.cumsum(counts)  # rank r is in the first group whose end > r

        def at(rank: int) -> float:
            if rank <= 0:
                return self.minimum
            if rank >= n - 1:
                return self.maximum
            value = float(values[int(np.searchsorted(ends, rank, side="right"))])
            return min(max(value, self.minimum), self.maximum)

        out: list[float | None] = []
        for q in qs:
            h = q / 100.0 * (n - 1)
            low = math.floor(h)
            lo_value, hi_value = at(low), at(min(low + 1, n - 1))
            frac = h - low
            if frac == 0 or lo_value == hi_value:
                out.append(lo_value)
            else:
                out.append(lo_value + frac * (hi_value - lo_value))
        return out

    def coarse(self, per_decade: int = 5) -> list[tuple[float, float, int]]:
        """The positive values' counts in wider log bins (``per_decade`` a factor of 10), for
        a figure: (low, high, count) of each non-empty one; zeros as (0, 0, count) first."""
        out: list[tuple[float, float, int]] = []
        if self.zero:
            out.append((0.0, 0.0, self.zero))
        offset, pos = self.positive.trimmed()
        if not pos:
            return out
        tops = bin_value(offset) * GAMMA ** np.arange(len(pos)) * (GAMMA + 1) / 2
        wide = np.floor(np.log10(tops) * per_decade - 1e-9).astype(np.int64)
        counts = np.bincount(wide - wide[0], weights=np.array(pos, np.float64))
        for j, c in enumerate(counts.tolist()):
            if c:
                k = int(wide[0]) + j
                out.append((10.0 ** (k / per_decade), 10.0 ** ((k + 1) / per_decade), int(c)))
        return out
