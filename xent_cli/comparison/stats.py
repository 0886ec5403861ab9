"""``xent compare``: is the candidate worse than the baseline on the same rows, and by how much?

Per paired row (or cell) ``d = loss_candidate - loss_baseline``. Per class, exact sums of the
weight, both weighted losses and ``w·d²`` (:class:`PairedTotals`, mergeable like every state
in xent); from them:

- ``delta = (Σ w·l_c - Σ w·l_b) / Σ w`` (the two sums exact, their difference rounded once);
  ``relative_delta = delta / baseline loss``; per class ``contribution = (Σ_k w·l_c - Σ_k w·l_b)
  / Σ w``, which add up to ``delta``;
- the paired t interval ``delta ± t(1 - alpha/2, df) · se`` with ``se = s / √n``,
  ``s² = (Σ w·d² - (Σ w·d)² / Σ w) / (Σ w - 1)`` computed exactly from the exact sums, and
  ``n = df + 1 = Σ w`` (weights are frequency weights; unweighted, ``Σ w`` is the row count);
- the two-sided paired t test of ``delta = 0``. Identical inputs give delta 0, [0, 0], p = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from xent_cli.comparison.pairing import Pairs
from xent_cli.kernels.accumulate import weighted
from xent_cli.kernels.exact import ExactSums
from xent_cli.kernels.mergeable import FieldState, counted, nested
from xent_cli.kernels.tdist import t_ppf, t_sf, t_two_sided_p
from xent_cli.options import FailOn

Float = NDArray[np.float64]


@dataclass(eq=False)
class PairedTotals(FieldState):
    """Exact per-class sums over paired entries; mergeable (:mod:`xent_cli.kernels.mergeable`)."""

    count: NDArray[np.int64] = counted()
    weight: ExactSums = nested(ExactSums)
    baseline: ExactSums = nested(ExactSums)  # Σ w·l_b
    candidate: ExactSums = nested(ExactSums)  # Σ w·l_c
    difference: ExactSums = nested(ExactSums)  # Σ w·l_c - Σ w·l_b, exactly (one negated)
    squares: ExactSums = nested(ExactSums)  # Σ w·d², d = l_c - l_b rounded per row
    # Pearson's correlation of the paired losses: Σ w·l_b², Σ w·l_c², Σ w·l_b·l_c (one bucket)
    baseline_squares: ExactSums = nested(ExactSums)
    candidate_squares: ExactSums = nested(ExactSums)
    products: ExactSums = nested(ExactSums)

    @classmethod
    def zeros(cls, n_classes: int) -> PairedTotals:
        weight, baseline, candidate, difference, squares = (ExactSums(n_classes) for _ in range(5))
        counts = np.zeros(n_classes, np.int64)
        return cls(counts, weight, baseline, candidate, difference, squares,
                   ExactSums(1), ExactSums(1), ExactSums(1))  # fmt: skip

    def add(self, pairs: Pairs) -> None:
        b, c = pairs.baseline, pairs.candidate
        classes = b.cls.astype(np.intp)
        k = len(self.count)
        self.count += np.bincount(classes, minlength=k)
        w = b.weight
        d = c.loss - b.loss
        if w is None:
            self.weight.add(classes, np.ones(len(classes)))
            wb, wc, wd2 = b.loss, c.loss, d * d
        else:
            self.weight.add(classes, w)
            wb, wc, wd2 = weighted(b.loss, w), weighted(c.loss, w), weighted(d * d, w)
        self.baseline.add(classes, wb)
        self.candidate.add(classes, wc)
        self.difference.add(np.concatenate([classes, classes]), np.concatenate([wc, -wb]))
        self.squares.add(classes, wd2)
        self.baseline_squares.add(None, b.loss * wb)
        self.candidate_squares.add(None, c.loss * wc)
        self.products.add(None, b.loss * wc)


@dataclass(frozen=True)
class Statistics:
    n: int
    weight: float
    loss_baseline: float  # nats, over the paired rows
    loss_candidate: float
    delta: float
    se: float
    df: float


def statistics(totals: PairedTotals) -> Statistics:
    """delta and its standard error from the exact sums (see the module docstring)."""
    n = int(totals.count.sum())
    weight = totals.weight.total()
    if n == 0 or not weight > 0:
        return Statistics(n, weight, math.nan, math.nan, math.nan, math.nan, 0.0)
    delta = totals.difference.total() / weight
    w = totals.weight.exact_total()
    s1 = totals.difference.exact_total()
    s2 = totals.squares.exact_total()
    se = math.nan
    if w is not None and s1 is not None and s2 is not None and w > 1:
        variance = (s2 - s1 * s1 / w) / (w - 1)
        se = math.sqrt(float(max(variance, Fraction(0)) / w))
    elif w is not None and s1 is not None and s2 is not None:
        se = 0.0 if s2 == 0 else math.inf
    return Statistics(
        n,
        weight,
        totals.baseline.total() / weight,
        totals.candidate.total() / weight,
        delta,
        se,
        float(w - 1) if w is not None else math.nan,
    )


def correlation(totals: PairedTotals) -> float | None:
    """Pearson's correlation of the paired losses (weighted: frequency weights), exactly from
    the exact sums: ``cov / sqrt(var_b var_c)`` with ``cov = Σ w l_b l_c - Σ w l_b Σ w l_c / Σ
    w``; None when either side's losses do not vary (or a sum is not finite)."""
    w = totals.weight.exact_total()
    sb, sc = totals.baseline.exact_total(), totals.candidate.exact_total()
    bb, cc, bc = (
        s.exact_total()
        for s in (totals.baseline_squares, totals.candidate_squares, totals.products)
    )
    if w is None or sb is None or sc is None or bb is None or cc is None or bc is None:
        return None
    if w <= 0:
        return None
    vb, vc = bb - sb * sb / w, cc - sc * sc / w
    if vb <= 0 or vc <= 0:
        return None
    r = float(bc - sb * sc / w) / math.sqrt(float(vb) * float(vc))
    return max(-1.0, min(1.0, r))


def t_interval(stats: Statistics, level: float) -> tuple[float, float]:
    if stats.se == 0.0:
        return stats.delta, stats.delta
    if not (stats.df > 0 and math.isfinite(stats.se)):
        return -math.inf, math.inf
    half = t_ppf(0.5 + level / 2, stats.df) * stats.se
    return stats.delta - half, stats.delta + half


def p_value(stats: Statistics) -> float:
    """Two-sided paired t test of delta = 0 (1 when every difference is 0)."""
    if stats.se == 0.0:
        return 1.0 if stats.delta == 0 else 0.0
    if not (stats.df > 0 and math.isfinite(stats.se)):
        return math.nan
    return t_two_sided_p(stats.delta / stats.se, stats.df)


def one_sided_p(stats: Statistics, bound: float, above: bool) -> float:
    """p of the test that rejects ``delta <= bound`` (``above``) or ``delta >= bound``."""
    if stats.se == 0.0:
        return 0.0 if (stats.delta > bound if above else stats.delta < bound) else 1.0
    if not (stats.df > 0 and math.isfinite(stats.se)):
        return math.nan
    t = (stats.delta - bound) / stats.se
    return t_sf(t if above else -t, stats.df)


@dataclass(frozen=True)
class Gates:
    max_regression: float | None = None
    max_relative_regression: float | None = None
    min_improvement: float | None = None
    fail_on: FailOn = FailOn.estimate


def gate_reasons(
    gates: Gates, stats: Statistics, low: float, high: float, confidence: float, per_nat: float
) -> list[str]:
    """Why the gates fail (empty: passed). Thresholds are in the report's unit."""
    reasons = []
    alpha = 1 - confidence
    unit_delta, unit_high = stats.delta * per_nat, high * per_nat

    def regression(limit: float, what: str) -> None:
        bound = limit / per_nat  # nats
        if gates.fail_on is FailOn.estimate and stats.delta > bound:
            reasons.append(f"delta {unit_delta:+.6g} exceeds {what} {limit:g}")
        elif gates.fail_on is FailOn.ci and high > bound:
            reasons.append(f"the interval's upper end {unit_high:+.6g} exceeds {what} {limit:g}")
        elif gates.fail_on is FailOn.significant and stats.delta > bound:
            p = one_sided_p(stats, bound, above=True)
            if p < alpha:
                reasons.append(
                    f"delta {unit_delta:+.6g} exceeds {what} {limit:g} significantly "
                    f"(one-sided p={p:.3g} < {alpha:g})"
                )

    if gates.max_regression is not None:
        regression(gates.max_regression, "--max-regression")
    if gates.max_relative_regression is not None and stats.loss_baseline > 0:
        relative = gates.max_relative_regression
        what = f"--max-relative-regression {relative:g} x baseline ="
        regression(relative * stats.loss_baseline * per_nat, what)
    if gates.min_improvement is not None:
        bound = -gates.min_improvement / per_nat
        if gates.fail_on is FailOn.estimate and not stats.delta <= bound:
            reasons.append(
                f"delta {unit_delta:+.6g} is not an improvement of "
                f"--min-improvement {gates.min_improvement:g}"
            )
        elif gates.fail_on is FailOn.ci and not high <= bound:
            reasons.append(
                f"the interval's upper end {unit_high:+.6g} is not below "
                f"-{gates.min_improvement:g} (--min-improvement)"
            )
        elif gates.fail_on is FailOn.significant:
            p = one_sided_p(stats, bound, above=False)
            if not p < alpha:
                reasons.append(
                    f"the improvement is not significantly more than {gates.min_improvement:g} "
                    f"(--min-improvement; one-sided p={p:.3g} >= {alpha:g})"
                )
    return reasons
