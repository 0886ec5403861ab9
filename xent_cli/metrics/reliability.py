r"""Reliability bins as mergeable exact sums, and the ECE / MCE they give.

Each bin keeps its row count and the exact sums of ``w``, ``w p`` and ``w o`` (p: the
confidence, o: the outcome), so any split of the rows merged in any order gives equal bins.
Finished, a bin's ``mean_p = S_wp / S_w`` and ``observed = S_wo / S_w``, and

.. math::  \mathrm{ECE} = \sum_k \frac{S_{w,k}}{S_w} |\mathrm{mean\_p}_k - \mathrm{observed}_k|,
           \qquad \mathrm{MCE} = \max_k |\mathrm{mean\_p}_k - \mathrm{observed}_k|

over the non-empty bins.

Equal-width bins: edges ``i * (1 / B)`` (as ``numpy.linspace(0, 1, B + 1)``, which the
peers use), a p on an edge placed by the
:class:`~xent_cli.options.BinEdges` rule. Equal-mass bins are built from a fixed fine
histogram (:func:`fine_bin`): 128 bins per octave of ``min(p, 1 - p)`` down to 2^-40, 10241
in all, exact and the same on every machine; at the end, each fine bin joins the coarse bin
in which the middle of its mass falls (B equal parts of the total weight). So equal-mass
edges sit on fine-bin edges (within 1/128 of an octave of the exact quantile), and mass
concentrated in one fine bin gives fewer than B bins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from xent_cli.kernels.accumulate import weighted
from xent_cli.kernels.exact import ExactSums
from xent_cli.kernels.mergeable import FieldState, counted, nested
from xent_cli.options import BinEdges

Float = NDArray[np.float64]
Int = NDArray[np.intp]

FINE_BITS = 7  # fine bins per octave: 2**FINE_BITS
FINE_OCTAVES = 40  # min(p, 1 - p) below 2**-40 shares the first (last) fine bin
_SHIFT = 52 - FINE_BITS
_BASE = (1023 - FINE_OCTAVES - 1) << FINE_BITS  # bits >> _SHIFT of 2**-41
HALF = FINE_OCTAVES << FINE_BITS  # fine index of p = 0.5
N_FINE = 2 * HALF + 1


def _low_key(q: Float) -> Int:
    """Fine index of q in [0, 0.5] from its float64 bits (monotone, exact)."""
    keys = (q.view(np.int64) >> _SHIFT) - _BASE
    return cast("Int", np.clip(keys, 0, HALF).astype(np.intp))


def fine_bin(p: Float) -> Int:
    """The fine histogram's bin of each p in [0, 1]: non-decreasing in p, exact (1 - p is
    exact for p >= 0.5), 128 bins per octave of min(p, 1 - p)."""
    p = np.ascontiguousarray(p, dtype=np.float64)
    upper = p > 0.5
    keys = _low_key(np.where(upper, 1.0 - p, p))
    return np.where(upper, 2 * HALF - keys, keys)


def fine_edges() -> Float:
    """The N_FINE + 1 edges of the fine bins in p (0, ..., 0.5, ..., 1)."""
    low = ((np.arange(1, HALF + 1, dtype=np.int64) + _BASE) << _SHIFT).view(np.float64)
    return np.concatenate([[0.0], low, 1.0 - low[::-1], [1.0]])


def width_cuts(n_bins: int) -> Float:
    """Equal-width edges ``i * (1 / n_bins)``, the last exactly 1: what ``numpy.linspace(0,
    1, n_bins + 1)`` gives, so p = 0.6 is below the 7th of 11 edges (0.6000000000000001)."""
    cuts = np.arange(n_bins + 1, dtype=np.float64) * (1.0 / n_bins)
    cuts[-1] = 1.0
    return cuts


def width_bin(p: Float, n_bins: int, edges: BinEdges) -> Int:
    """Equal-width bin of each p (edges :func:`width_cuts`; see BinEdges)."""
    cuts = width_cuts(n_bins)
    # a first guess from p * n_bins (off by at most one near an edge), then exact compares
    # with the edges themselves: the same bins as a search, at a third of the cost
    guess = np.clip((p * n_bins).astype(np.intp), 0, n_bins - 1)
    if edges is BinEdges.right:  # (lo, hi]: p = 0 in the first bin
        guess -= (p <= cuts[guess]) & (guess > 0)
        guess += p > cuts[guess + 1]
        return guess
    guess -= p < cuts[guess]  # [lo, hi)
    guess += (p >= cuts[guess + 1]) & (guess < n_bins - 1)
    if edges is BinEdges.left_own_one:  # p = 1 in a bin of its own: n_bins
        guess[p >= 1.0] = n_bins
    return guess


def n_width_buckets(n_bins: int, edges: BinEdges) -> int:
    return n_bins + 1 if edges is BinEdges.left_own_one else n_bins


@dataclass(eq=False)
class BinSums(FieldState):
    """Count and exact weighted sums per bucket (bucket = group * per_group + bin);
    mergeable (:mod:`xent_cli.kernels.mergeable`)."""

    count: NDArray[np.int64] = counted()
    p_sum: ExactSums = nested(ExactSums)  # sum of w * p
    o_sum: ExactSums = nested(ExactSums)  # sum of w * o
    weight: ExactSums | None = nested(ExactSums, optional=True)  # sum of w; None: the count

    @classmethod
    def zeros(cls, n: int, weighted: bool) -> BinSums:
        return cls(
            np.zeros(n, np.int64), ExactSums(n), ExactSums(n), ExactSums(n) if weighted else None
        )

    def add(self, buckets: Int, p: Float, o: Float, w: Float | None, soft: bool = False) -> None:
        """Add entries; unweighted 0/1 outcomes (not ``soft``) are counted per bucket (exact
        integers), then added as one value per bucket."""
        n = len(self.count)
        self.count += np.bincount(buckets, minlength=n)
        if w is None:
            self.p_sum.add(buckets, p)
            if soft:
                self.o_sum.add(buckets, o)
            else:
                hits = np.bincount(buckets, weights=o, minlength=n).astype(np.float64)  # exact
                used = np.flatnonzero(hits)
                self.o_sum.add(used, hits[used])
            return
        assert self.weight is not None
        self.weight.add(buckets, w)
        self.p_sum.add(buckets, weighted(p, w))
        self.o_sum.add(buckets, weighted(o, w))

    def finish(self) -> tuple[NDArray[np.int64], Float, Float, Float]:
        """Per bucket: count, weight, sum of w p, sum of w o (each rounded once)."""
        weight = self.weight.finish() if self.weight is not None else self.count.astype(float)
        return self.count.copy(), weight, self.p_sum.finish(), self.o_sum.finish()


@dataclass(frozen=True)
class Bin:
    """One non-empty reliability bin."""

    lo: float
    hi: float
    count: int
    weight: float
    mean_p: float
    observed: float

    @property
    def gap(self) -> float:
        return abs(self.mean_p - self.observed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lo": self.lo,
            "hi": self.hi,
            "count": self.count,
            "weight": self.weight,
            "mean_p": self.mean_p,
            "observed": self.observed,
        }


def make_bins(
    lo: Float, hi: Float, count: NDArray[np.int64], weight: Float, p_sum: Float, o_sum: Float
) -> list[Bin]:
    """The non-empty bins (positive weight) of finished sums."""
    keep = np.flatnonzero((count > 0) & (weight > 0))
    return [
        Bin(
            float(lo[i]),
            float(hi[i]),
            int(count[i]),
            float(weight[i]),
            float(p_sum[i] / weight[i]),
            float(o_sum[i] / weight[i]),
        )
        for i in keep.tolist()
    ]


def width_bins(
    finished: tuple[NDArray[np.int64], Float, Float, Float], n_bins: int, edges: BinEdges
) -> list[Bin]:
    cuts = width_cuts(n_bins)
    lo, hi = cuts[:-1], cuts[1:]
    if edges is BinEdges.left_own_one:
        lo, hi = np.append(lo, 1.0), np.append(hi, 1.0)
    return make_bins(lo, hi, *finished)


def mass_bins(finished: tuple[NDArray[np.int64], Float, Float, Float], n_bins: int) -> list[Bin]:
    """Coarse equal-mass bins from the fine histogram: fine bin j joins coarse bin
    ``floor(B * (mass before j + mass of j / 2) / total)``."""
    count, weight, p_sum, o_sum = finished
    total = float(weight.sum())
    if total <= 0:
        return []
    before = np.cumsum(weight) - weight
    coarse = np.minimum(np.floor(n_bins * (before + weight / 2) / total), n_bins - 1)
    coarse = coarse.astype(np.intp)
    used = (count > 0) & (weight > 0)
    edges = fine_edges()
    groups = np.unique(coarse[used])
    lo, hi = np.zeros(len(groups)), np.zeros(len(groups))
    sums = np.zeros((4, len(groups)))
    for g, group in enumerate(groups.tolist()):
        members = np.flatnonzero(used & (coarse == group))
        lo[g], hi[g] = edges[members[0]], edges[members[-1] + 1]
        for row, values in enumerate((count, weight, p_sum, o_sum)):
            sums[row, g] = math.fsum(values[members].tolist())
    return make_bins(lo, hi, sums[0].astype(np.int64), sums[1], sums[2], sums[3])


def ece_mce(bins: list[Bin], total_weight: float) -> tuple[float | None, float | None]:
    """ECE = sum_k (w_k / W) |mean_p_k - observed_k|; MCE = max_k |...| (None: no bins)."""
    if not bins or total_weight <= 0:
        return None, None
    ece = math.fsum(b.weight * b.gap for b in bins) / total_weight
    return ece, max(b.gap for b in bins)
