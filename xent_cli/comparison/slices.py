"""``xent compare --by COL[:N][,COL...]``: the paired difference per slice, and its gate.

The slices are the baseline's (its ``--by`` columns, bins decided from its first rows, as in
``xent eval``); the candidate's copy of the columns, if it has one, is not read. Each paired
entry goes to its baseline row's slice, whose :class:`~xent_cli.comparison.stats.PairedTotals`
(exact, mergeable, one bucket) give the slice's losses, ``delta`` and a paired t interval,
exactly as the whole comparison's. Slices smaller than ``min_size`` entries are shown,
marked ``small``, and never gated. ``--max-slice-regression X`` fails when an eligible
slice's delta exceeds X (``--fail-on ci``: its interval's upper end; ``significant``: delta
above X and the one-sided t test rejecting delta <= X). Token files:
:mod:`xent_cli.comparison.token_slices` builds the same groups, with their token figures.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xent_cli.comparison.pairing import Pairs, SliceCodes
from xent_cli.comparison.stats import (
    PairedTotals,
    Statistics,
    one_sided_p,
    p_value,
    statistics,
    t_interval,
)
from xent_cli.core.slice_report import slice_order
from xent_cli.jsonvalues import json_number
from xent_cli.options import FailOn


@dataclass
class PairedSlices:
    """One single-bucket :class:`PairedTotals` per slice code."""

    totals: dict[int, PairedTotals] = field(default_factory=dict)

    def add(self, pairs: Pairs) -> None:
        codes = pairs.baseline.slice
        assert codes is not None
        order = np.argsort(codes, kind="stable")
        present, starts = np.unique(codes[order], return_index=True)
        ends = [*starts[1:].tolist(), len(order)]
        for code, start, end in zip(present.tolist(), starts.tolist(), ends, strict=True):
            index = np.sort(order[start:end])
            b, c = pairs.baseline.take(index), pairs.candidate.take(index)
            zero = np.zeros(len(index), np.int64)
            part = Pairs(dataclasses.replace(b, cls=zero), dataclasses.replace(c, cls=zero))
            totals = self.totals.get(code)
            if totals is None:
                totals = self.totals[code] = PairedTotals.zeros(1)
            totals.add(part)


@dataclass(frozen=True)
class TokenFigures:
    """What a slice of a token comparison adds: its baseline tokens and ``--per`` units, its
    documents (the interval's clusters; None without documents), the se and degrees of
    freedom of its interval, and ``exp`` of its delta and of the interval's ends (nats)."""

    tokens: int | None
    units: int
    documents: int | None
    se: float
    df: int
    perplexity_ratio: float
    perplexity_ratio_low: float
    perplexity_ratio_high: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "units": self.units,
            "documents": self.documents,
            "se": json_number(self.se),
            "df": self.df,
            "perplexity_ratio": json_number(self.perplexity_ratio),
            "perplexity_ratio_low": json_number(self.perplexity_ratio_low),
            "perplexity_ratio_high": json_number(self.perplexity_ratio_high),
        }


@dataclass(frozen=True)
class SliceDelta:
    key: dict[str, str]
    count: int
    weight: float
    loss_baseline: float | None
    loss_candidate: float | None
    delta: float | None
    contribution: float  # its share of the overall delta: the slices' add up to delta
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    small: bool
    token: TokenFigures | None = None  # token files
    stats: Statistics | None = field(default=None, repr=False, compare=False)  # nats: the gate

    @property
    def name(self) -> str:
        return ", ".join(f"{c}={v}" for c, v in self.key.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "count": self.count,
            "weight": json_number(self.weight),
            "loss_baseline": json_number(self.loss_baseline),
            "loss_candidate": json_number(self.loss_candidate),
            "delta": json_number(self.delta),
            "contribution": json_number(self.contribution),
            "ci_low": json_number(self.ci_low),
            "ci_high": json_number(self.ci_high),
            "p_value": json_number(self.p_value),
            "small": self.small,
            **(self.token.to_dict() if self.token is not None else {}),
        }


@dataclass(frozen=True)
class SliceComparison:
    by: list[str]
    min_size: int
    level: float
    groups: list[SliceDelta]  # sorted by key
    worst: dict[str, str] | None  # the eligible slice whose delta is largest
    method: str = "paired t"  # token files: "cluster-t" (by documents) or "t" (by rows)
    entries: str = "rows"  # what count counts (token files paired by document: documents)

    @property
    def eligible(self) -> list[SliceDelta]:
        return [g for g in self.groups if not g.small and g.delta is not None]

    def worst_first(self) -> list[SliceDelta]:
        def key(g: SliceDelta) -> tuple[float, bool]:
            delta = g.delta if g.delta is not None and not math.isnan(g.delta) else -math.inf
            return (-delta, g.small)

        return sorted(self.groups, key=key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "min_size": self.min_size,
            "interval": {"method": self.method, "level": self.level},
            "groups": [g.to_dict() for g in self.groups],
            "worst": self.worst,
        }


def build_slice_comparison(
    codes: SliceCodes,
    sliced: PairedSlices,
    total_weight: float,
    per_nat: float,
    confidence: float,
    min_size: int,
) -> SliceComparison:
    """Each slice's paired figures (in the report's unit), sorted by key."""
    slicer = codes.slicer
    groups = []
    order = sorted(sliced.totals, key=lambda code: slice_order(slicer, codes.keys[code]))
    for code in order:
        totals = sliced.totals[code]
        stats = statistics(totals)
        count = int(totals.count.sum())
        has = count > 0 and stats.weight > 0
        low, high = t_interval(stats, confidence) if has else (math.nan, math.nan)
        groups.append(
            SliceDelta(
                key=dict(zip(slicer.names, codes.keys[code], strict=True)),
                count=count,
                weight=stats.weight,
                loss_baseline=stats.loss_baseline * per_nat if has else None,
                loss_candidate=stats.loss_candidate * per_nat if has else None,
                delta=stats.delta * per_nat if has else None,
                contribution=totals.difference.total() / total_weight * per_nat,
                ci_low=low * per_nat if has else None,
                ci_high=high * per_nat if has else None,
                p_value=p_value(stats) if has else None,
                small=count < min_size,
                stats=stats,
            )
        )
    eligible = [g for g in groups if not g.small and g.delta is not None]
    worst = max(eligible, key=lambda g: g.delta or 0.0) if eligible else None
    return SliceComparison(slicer.names, min_size, confidence, groups, worst.key if worst else None)


def slice_regression_reasons(
    report: SliceComparison, limit: float | None, fail_on: FailOn, per_nat: float
) -> list[str]:
    """``--max-slice-regression``: one sentence naming the worst failing slice (and how many
    fail), or none."""
    if limit is None:
        return []
    failing = []
    for group in report.eligible:
        assert group.delta is not None
        assert group.ci_high is not None
        if fail_on is FailOn.estimate:
            failed = group.delta > limit
        elif fail_on is FailOn.ci:
            failed = group.ci_high > limit
        else:
            assert group.stats is not None
            p = one_sided_p(group.stats, limit / per_nat, above=True)
            failed = group.delta > limit and p < 1 - report.level
        if failed:
            failing.append(group)
    if not failing:
        return []
    worst = max(failing, key=lambda g: g.delta or 0.0)
    what = {FailOn.estimate: "delta", FailOn.ci: "interval's upper end",
            FailOn.significant: "delta (significantly)"}[fail_on]  # fmt: skip
    value = worst.ci_high if fail_on is FailOn.ci else worst.delta
    return [
        f"{len(failing)} slice(s) exceed --max-slice-regression {limit:g}; worst: "
        f"{worst.name} with {what} {value:+.6g} ({worst.count} {report.entries})"
    ]
