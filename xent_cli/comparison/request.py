"""What ``xent compare`` was asked beyond reading the files: pairing, interval, gates, output
extras, checked once; and the pieces of the report every kind of input finishes alike (the
interval's dict with its perplexity ratio, the gate, the warnings)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from xent_cli.comparison.stats import Gates
from xent_cli.errors import XentError
from xent_cli.options import FailOn, Interval, OnMismatch, PairBy


@dataclass(frozen=True)
class CompareRequest:
    """compare's own options (the reading options are a :class:`~xent_cli.options.Settings`)."""

    on_mismatch: OnMismatch = OnMismatch.error
    confidence: float = 0.95
    ci: Interval = Interval.t
    resamples: int = 9999
    seed: int = 0
    top: int | None = None
    gates: Gates = field(default_factory=Gates)
    max_kl: float | None = None
    max_churn: float | None = None
    min_slice_size: int = 20
    max_slice_regression: float | None = None
    pair_by: PairBy = PairBy.auto
    position: str | None = None
    distribution: bool = True

    @property
    def intersect(self) -> bool:
        return self.on_mismatch is OnMismatch.intersect


def make_request(
    *,
    on_mismatch: str,
    confidence: float,
    ci: str,
    resamples: int,
    seed: int,
    top: int | None,
    max_regression: float | None,
    max_relative_regression: float | None,
    min_improvement: float | None,
    fail_on: str,
    max_kl: float | None,
    max_churn: float | None,
    min_slice_size: int,
    max_slice_regression: float | None,
    pair_by: str,
    position: str | None,
    distribution: bool,
) -> CompareRequest:
    """The options checked (exit 2 naming the first that is wrong)."""
    if not 0 < confidence < 1:
        raise XentError(f"--confidence must be in (0, 1), got {confidence}")
    if on_mismatch not in {m.value for m in OnMismatch}:
        raise XentError(f"--on-mismatch must be error or intersect, got {on_mismatch!r}")
    if pair_by not in {m.value for m in PairBy}:
        choices = ", ".join(m.value for m in PairBy)
        raise XentError(f"--pair-by must be one of {choices}, got {pair_by!r}")
    if resamples < 1:
        raise XentError(f"--resamples must be at least 1, got {resamples}")
    for name, value in (
        ("--max-regression", max_regression),
        ("--max-relative-regression", max_relative_regression),
        ("--min-improvement", min_improvement),
        ("--max-slice-regression", max_slice_regression),
        ("--max-kl", max_kl),
        ("--max-churn", max_churn),
    ):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise XentError(f"{name} must be a number >= 0, got {value}")
    if max_churn is not None and max_churn > 1:
        raise XentError(f"--max-churn is a share of rows, in [0, 1]; got {max_churn}")
    if min_slice_size < 0:
        raise XentError(f"--min-slice-size must be >= 0, got {min_slice_size}")
    if not distribution and (max_kl is not None or max_churn is not None):
        raise XentError("--max-kl and --max-churn judge the distributions: drop --no-distribution")
    return CompareRequest(
        on_mismatch=OnMismatch(on_mismatch),
        confidence=confidence,
        ci=Interval(ci),
        resamples=resamples,
        seed=seed,
        top=top,
        gates=Gates(max_regression, max_relative_regression, min_improvement, FailOn(fail_on)),
        max_kl=max_kl,
        max_churn=max_churn,
        min_slice_size=min_slice_size,
        max_slice_regression=max_slice_regression,
        pair_by=PairBy(pair_by),
        position=position,
        distribution=distribution,
    )


def exp_or_inf(x: float) -> float:
    """``e**x``, ``inf`` past float64 (NaN stays NaN)."""
    if math.isnan(x):
        return x
    return math.exp(x) if x < 709.0 else math.inf


def ci_dict(
    request: CompareRequest,
    method: str,
    low: float,
    high: float,
    se: float,
    per_nat: float,
    **extra: Any,
) -> dict[str, Any]:
    """The JSON ``ci`` (nats in, the report's unit out) with ``perplexity_ratio_low/high``."""
    return {
        "method": method,
        "level": request.confidence,
        "low": low * per_nat,
        "high": high * per_nat,
        "se": se * per_nat,
        "perplexity_ratio_low": exp_or_inf(low),
        "perplexity_ratio_high": exp_or_inf(high),
        **extra,
    }


def gate_dict(request: CompareRequest, reasons: list[str], sliced: bool) -> dict[str, Any]:
    gates = request.gates
    return {
        "max_regression": gates.max_regression,
        "max_relative_regression": gates.max_relative_regression,
        "min_improvement": gates.min_improvement,
        **({"max_slice_regression": request.max_slice_regression} if sliced else {}),
        "max_kl": request.max_kl,
        "max_churn": request.max_churn,
        "fail_on": gates.fail_on.value,
        "passed": not reasons,
        "reasons": reasons,
    }


def side_warnings(
    reports: tuple[Any, Any], n_only: tuple[int, int], what: str = "rows"
) -> list[dict[str, Any]]:
    """Each side's warnings (``side`` added), and one for the entries left unpaired."""
    warnings = [
        {"side": side, **w.to_dict(getattr(report, "has_ids", False))}
        for side, report in (("baseline", reports[0]), ("candidate", reports[1]))
        for w in report.warnings
    ]
    if n_only[0] or n_only[1]:
        warnings.append(
            {
                "side": "both",
                "code": "unpaired",
                "count": n_only[0] + n_only[1],
                "message": f"{n_only[0]} {what if n_only[0] != 1 else what.rstrip('s')} "
                f"evaluated only in the baseline and {n_only[1]} only in the candidate are "
                "not compared",
            }
        )
    return warnings
