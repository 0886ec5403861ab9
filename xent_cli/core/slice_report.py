"""``--by``'s part of the report: every slice's figures from its finished state, ordered
worst first, and the slice gates."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from xent_cli.core.slicer import DEFAULT_MIN_SLICE_SIZE, MISSING_SLICE, Key, Slicer
from xent_cli.core.state import SliceStates
from xent_cli.jsonvalues import json_number
from xent_cli.kernels.accumulate import overall_totals
from xent_cli.metrics.base import ActiveMetric, CoreTotals


@dataclass(frozen=True)
class SliceResult:
    key: dict[str, str]
    count: int
    weight: float
    loss: float | None
    share: float | None
    accuracy: float | None
    mean_p_true: float | None
    zero_probability: int
    small: bool
    # add-on metrics' figures for the slice, by key (--calibration: its ece, mce, brier)
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def calibration(self) -> dict[str, float | None] | None:
        """--calibration: the slice's ece, mce and brier (None without)."""
        return self.metrics.get("calibration")

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "count": self.count,
            "weight": json_number(self.weight),
            "loss": json_number(self.loss),
            "accuracy": json_number(self.accuracy),
            "mean_p_true": json_number(self.mean_p_true),
            "small": self.small,
            "zero_probability": self.zero_probability,
            "share": json_number(self.share),
            **{
                name: json_number(value)
                for figures in self.metrics.values()
                for name, value in figures.items()
            },
        }

    @property
    def name(self) -> str:
        return ", ".join(f"{c}={v}" for c, v in self.key.items())


@dataclass(frozen=True)
class SliceReport:
    by: list[str]
    min_size: int
    groups: list[SliceResult]
    worst: dict[str, str] | None
    difference_between: float | None
    difference_to_overall: float | None

    @property
    def eligible(self) -> list[SliceResult]:
        return [g for g in self.groups if not g.small and g.loss is not None]

    def worst_first(self) -> list[SliceResult]:
        return sorted(
            self.groups, key=lambda g: (-(g.loss if g.loss is not None else -math.inf), g.small)
        )

    def to_dict(self) -> dict[str, Any]:

        return {
            "by": self.by,
            "min_size": self.min_size,
            "groups": [g.to_dict() for g in self.groups],
            "worst": self.worst,
            "difference_between": json_number(self.difference_between),
            "difference_to_overall": json_number(self.difference_to_overall),
        }


def slice_order(slicer: Slicer, key: Key) -> tuple[Any, ...]:
    parts: list[Any] = []
    for column, value in zip(slicer.columns, key, strict=True):
        if value == MISSING_SLICE:
            parts.append((2, 0.0, ""))
        elif column.edges is not None:
            parts.append((0, float(column.bin_names.index(value)), ""))
        else:
            try:
                parts.append((0, float(value), value))
            except ValueError:
                parts.append((1, 0.0, value))
    return tuple(parts)


def build_slices(
    slicer: Slicer,
    slices: SliceStates,
    overall_loss: float,
    per_nat: float,
    min_size: int = DEFAULT_MIN_SLICE_SIZE,
    metrics: tuple[ActiveMetric, ...] = (),
) -> SliceReport:
    """Each slice's figures (in the report's base; ``metrics``: the add-on metrics with
    figures per slice), sorted by key; the differences and the worst slice over the eligible
    (not small) slices."""

    states = slices.states
    totals = dict(zip(states, overall_totals([s.totals for s in states.values()]), strict=True))
    grand = math.fsum(t.loss for t in totals.values())  # fsum: in any order, one sum
    groups = []
    columns = slicer.names
    for key in sorted(states, key=lambda k: slice_order(slicer, k)):
        state, sums = states[key], totals[key]
        w = sums.weight
        groups.append(
            SliceResult(
                key=dict(zip(columns, key, strict=True)),
                count=state.n_evaluated,
                weight=w,
                loss=sums.loss / w * per_nat if w > 0 else None,
                share=sums.loss / grand if grand > 0 and math.isfinite(grand) else 0.0,
                accuracy=sums.correct / w if w > 0 else None,
                mean_p_true=sums.p_true / w if w > 0 else None,
                zero_probability=sums.zero_probability,
                small=state.n_evaluated < min_size,
                metrics={
                    m.key: m.slice_figures(
                        state.metrics[m.key], CoreTotals([], sums.loss, w, 1.0 / per_nat)
                    )
                    for m in metrics
                    if m.key in state.metrics
                },
            )
        )
    eligible = [g for g in groups if not g.small and g.loss is not None]
    worst = max(eligible, key=lambda g: g.loss or 0.0) if eligible else None
    losses = [g.loss for g in eligible if g.loss is not None]
    return SliceReport(
        by=slicer.names,
        min_size=min_size,
        groups=groups,
        worst=worst.key if worst else None,
        difference_between=max(losses) - min(losses) if losses else None,
        difference_to_overall=max(abs(x - overall_loss) for x in losses) if losses else None,
    )


def slice_gate_reasons(
    report: SliceReport,
    overall_loss: float,
    unit: str,
    max_loss: float | None,
    max_gap: float | None,
) -> list[str]:
    """The failed slice gates, one sentence each."""
    reasons = []
    eligible = report.eligible
    if max_loss is not None:
        over = [g for g in eligible if not (g.loss is not None and g.loss <= max_loss)]
        if over:
            worst = max(over, key=lambda g: g.loss or 0.0)
            reasons.append(
                f"{len(over)} slice(s) exceed --max-slice-loss {max_loss:g}; worst: "
                f"{worst.name} with loss {worst.loss:.6g} {unit} ({worst.count} rows)"
            )
    if max_gap is not None and eligible:
        worst = max(eligible, key=lambda g: g.loss or 0.0)
        gap = (worst.loss or 0.0) - overall_loss
        if not gap <= max_gap:
            reasons.append(
                f"slice {worst.name} has loss {worst.loss:.6g} {unit}, {gap:.6g} above the "
                f"overall {overall_loss:.6g}: exceeds --max-slice-gap {max_gap:g}"
            )
    return reasons
