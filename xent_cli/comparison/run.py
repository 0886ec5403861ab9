"""Run ``xent compare``: two scans under the same options, paired, into one report.

The Python API is :func:`compare`; :mod:`xent_cli.comparison.stats` holds the statistics and
:mod:`xent_cli.comparison.pairing` the pairing.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, cast

import numpy as np

from xent_cli.comparison.pairing import (
    JoinCounts,
    Pairs,
    SliceCodes,
    hash_ids,
    mode_width,
    pair_by_id,
    pair_by_position,
)
from xent_cli.comparison.report import ClassDelta, ComparisonReport, RowDelta
from xent_cli.comparison.slices import (
    PairedSlices,
    build_slice_comparison,
    slice_regression_reasons,
)
from xent_cli.comparison.stats import (
    Gates,
    PairedTotals,
    gate_reasons,
    p_value,
    statistics,
    t_interval,
)
from xent_cli.core.columns import by_column_names
from xent_cli.core.engine import ProgressCallback, Scan
from xent_cli.core.report import build_report
from xent_cli.core.state import EvalState
from xent_cli.errors import XentError
from xent_cli.io.base import BatchSource
from xent_cli.io.sources import make_sources
from xent_cli.options import (
    FailOn,
    Interval,
    Mode,
    OnMismatch,
    Settings,
    make_settings,
    signature_line,
)


def compare(
    baseline: Any,
    candidate: Any,
    *,
    on_mismatch: str = "error",
    confidence: float = 0.95,
    ci: str = "t",
    resamples: int = 9999,
    seed: int = 0,
    top: int | None = None,
    max_regression: float | None = None,
    max_relative_regression: float | None = None,
    min_improvement: float | None = None,
    fail_on: str = "estimate",
    on_progress: ProgressCallback | None = None,
    min_slice_size: int = 20,
    max_slice_regression: float | None = None,
    **options: Any,
) -> ComparisonReport:
    """Compare ``candidate`` with ``baseline`` (each anything :func:`xent_cli.evaluate`
    takes) on the same rows; ``options`` are evaluate's (``id`` pairs rows by that column).
    Thresholds are in the ``base`` unit. ``report.passed`` tells whether the gates passed.
    ``by="col,col:N"``: the paired figures per slice of the baseline's columns in
    ``report.slices`` (see :mod:`xent_cli.comparison.slices`)."""
    if not 0 < confidence < 1:
        raise XentError(f"--confidence must be in (0, 1), got {confidence}")
    if on_mismatch not in {m.value for m in OnMismatch}:
        raise XentError(f"--on-mismatch must be error or intersect, got {on_mismatch!r}")
    if resamples < 1:
        raise XentError(f"--resamples must be at least 1, got {resamples}")
    for name, value in (
        ("--max-regression", max_regression),
        ("--max-relative-regression", max_relative_regression),
        ("--min-improvement", min_improvement),
        ("--max-slice-regression", max_slice_regression),
    ):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise XentError(f"{name} must be a number >= 0, got {value}")
    interval_method = Interval(ci)
    gates = Gates(max_regression, max_relative_regression, min_improvement, FailOn(fail_on))
    settings = make_settings(**{**options, "confidence": confidence})
    if max_slice_regression is not None and settings.by is None:
        raise XentError("--max-slice-regression needs --by COL (the slices it judges)")
    if min_slice_size < 0:
        raise XentError(f"--min-slice-size must be >= 0, got {min_slice_size}")
    candidates = make_sources(candidate, settings.input_format)
    scans = (
        Scan(make_sources(baseline, settings.input_format), settings, on_progress),
        Scan(candidates, _candidate_settings(settings, candidates[0])),
    )
    names = _same_classes(*scans)
    multilabel = scans[0].plan.mode is Mode.multilabel
    label_names = [] if multilabel else names  # multilabel labels are 0/1 per column
    states = (EvalState.empty(scans[0].plan), EvalState.empty(scans[1].plan))
    for state in states:
        state.slices = None  # the slices are the paired ones below
    codes = SliceCodes(scans[0].plan.slicer) if scans[0].plan.slicer is not None else None
    sliced = PairedSlices()
    counts = JoinCounts(by=settings.id or "position")
    if settings.id:
        intersect = on_mismatch == "intersect"
        pairs = pair_by_id(*scans, states, counts, label_names, intersect, codes)
    else:
        width = mode_width(scans[0])
        pairs = pair_by_position(*scans, states, counts, label_names, width, codes)
    totals = PairedTotals.zeros(scans[0].plan.n_classes)
    bootstrap = None
    if interval_method is Interval.bootstrap:
        from xent_cli.kernels.bootstrap import PoissonBootstrap

        bootstrap = PoissonBootstrap(resamples, seed)
    worst: list[RowDelta] = []
    per_nat = 1.0 / settings.base.log
    for chunk in pairs:
        totals.add(chunk)
        if codes is not None:
            sliced.add(chunk)
        if bootstrap is not None:
            bootstrap.add(
                _keys(chunk, mode_width(scans[0])), _differences(chunk), chunk.baseline.weight
            )
        if top:
            worst = _worst(worst + _rows(chunk, top, names, per_nat, multilabel), top)
    for scan, state in zip(scans, states, strict=True):
        if scan.plan.mode is Mode.binary:
            state.labels = scan.plan.lookup.learned()
    reports = tuple(
        build_report(scan.plan, state, scan.files, scan.input_names())
        for scan, state in zip(scans, states, strict=True)
    )
    if counts.n_joined == 0:
        raise XentError("no rows are evaluated in both files: nothing to compare")
    stats = statistics(totals)
    if bootstrap is not None:
        low, high = bootstrap.interval(confidence)
    else:
        low, high = t_interval(stats, confidence)
    reasons = gate_reasons(gates, stats, low, high, confidence, per_nat)
    slices = None
    if codes is not None:
        slices = build_slice_comparison(
            codes, sliced, stats.weight, per_nat, confidence, min_slice_size
        )
        reasons += slice_regression_reasons(
            slices, sliced, codes, max_slice_regression, gates.fail_on, per_nat
        )
    weight = stats.weight
    classes = []
    counts_by_class = totals.count
    sums = [
        s.finish() for s in (totals.weight, totals.baseline, totals.candidate, totals.difference)
    ]
    for k, name in enumerate(states[0].class_names(scans[0].plan)):
        w_k, b_k, c_k, d_k = (float(s[k]) for s in sums)
        has = counts_by_class[k] > 0 and w_k > 0
        classes.append(
            ClassDelta(
                name=name,
                count=int(counts_by_class[k]),
                loss_baseline=b_k / w_k * per_nat if has else None,
                loss_candidate=c_k / w_k * per_nat if has else None,
                delta=d_k / w_k * per_nat if has else None,
                contribution=d_k / weight * per_nat,
            )
        )
    relative = stats.delta / stats.loss_baseline if stats.loss_baseline > 0 else None
    bootstrapped = bootstrap is not None
    signature = signature_line(
        "xent-compare",
        [
            ("mode", scans[0].plan.mode.value),
            ("kind", f"{scans[0].plan.kind.value}/{scans[1].plan.kind.value}"),
            ("eps", settings.eps),
            ("base", settings.base.value),
            ("ci", interval_method.value),
            ("level", confidence),
            ("resamples", resamples if bootstrapped else None),
            ("seed", seed if bootstrapped else None),
            ("join", f"id={settings.id}" if settings.id else "position"),
            ("weighted", bool(settings.weight)),
            ("v", reports[0].version),
        ],
    )
    warnings = [
        {"side": side, **w.to_dict(report.has_ids)}
        for side, report in (("baseline", reports[0]), ("candidate", reports[1]))
        for w in report.warnings
    ]
    unpaired = counts.n_only_baseline + counts.n_only_candidate
    if unpaired:
        warnings.append(
            {
                "side": "both",
                "code": "unpaired",
                "count": unpaired,
                "message": f"{counts.n_only_baseline} rows evaluated only in the baseline and "
                f"{counts.n_only_candidate} only in the candidate are not compared",
            }
        )
    return ComparisonReport(
        baseline=reports[0],
        candidate=reports[1],
        join={
            "by": counts.by,
            "n_joined": counts.n_joined,
            "n_only_baseline": counts.n_only_baseline,
            "n_only_candidate": counts.n_only_candidate,
        },
        unit=settings.base.unit,
        delta=stats.delta * per_nat,
        relative_delta=relative,
        loss_baseline=stats.loss_baseline * per_nat,
        loss_candidate=stats.loss_candidate * per_nat,
        ci={
            "method": interval_method.value,
            "level": confidence,
            "low": low * per_nat,
            "high": high * per_nat,
            "se": stats.se * per_nat,
            **({"resamples": resamples, "seed": seed} if bootstrap is not None else {}),
        },
        test={"method": "paired t", "alternative": "two-sided", "p_value": p_value(stats)},
        classes=classes,
        gate={
            "max_regression": max_regression,
            "max_relative_regression": max_relative_regression,
            "min_improvement": min_improvement,
            **({"max_slice_regression": max_slice_regression} if codes is not None else {}),
            "fail_on": gates.fail_on.value,
            "passed": not reasons,
            "reasons": reasons,
        },
        signature=signature,
        rows=worst if top else None,
        warnings=warnings,
        slices=slices,
    )


def _candidate_settings(settings: Settings, first: BatchSource) -> Settings:
    """The candidate's options: ``--by`` only if it holds the columns too (so that they are
    not taken for scores); its slices are never read, the baseline's are."""
    if settings.by is None:
        return settings
    try:
        by_column_names(settings.by, first.schema.names, first.name)
    except XentError:
        return dataclasses.replace(settings, by=None)
    return settings


def _same_classes(baseline: Scan, candidate: Scan) -> list[str]:
    a, b = baseline.plan, candidate.plan
    if a.mode is not b.mode:
        raise XentError(
            f"the baseline is {a.mode.value} but the candidate {b.mode.value}",
            hint="both files need the same mode (pass --mode)",
        )
    if a.class_names != b.class_names:
        raise XentError(
            f"the classes differ: {', '.join(a.class_names[:6])} in the baseline, "
            f"{', '.join(b.class_names[:6])} in the candidate",
            hint="both files need the same score columns (pass --scores)",
        )
    return a.current_class_names()


def _differences(chunk: Pairs) -> np.ndarray:
    return chunk.candidate.loss - chunk.baseline.loss


def _keys(chunk: Pairs, width: int) -> np.ndarray:
    """Each pair's identity for the bootstrap: its row (by position) or a hash of its id."""
    b = chunk.baseline
    if b.ids is None:
        return (b.row * width + b.sub).astype(np.uint64)
    return cast(
        "np.ndarray", hash_ids(b.ids) ^ (b.sub.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    )


def _rows(
    chunk: Pairs, top: int, names: list[str], per_nat: float, multilabel: bool
) -> list[RowDelta]:
    b, c = chunk.baseline, chunk.candidate
    d = c.loss - b.loss
    keep = np.argsort(-d, kind="stable")[:top]
    out = []
    for i in keep.tolist():
        truth = int(b.truth[i])
        label = f"{names[int(b.sub[i])]}={truth}" if multilabel else names[truth]
        out.append(
            RowDelta(
                row=int(b.row[i]),
                id=None if b.ids is None else str(b.ids[i].as_py()),
                label=label,
                loss_baseline=float(b.loss[i]) * per_nat,
                loss_candidate=float(c.loss[i]) * per_nat,
                delta=float(d[i]) * per_nat,
            )
        )
    return out


def _worst(rows: list[RowDelta], top: int) -> list[RowDelta]:
    def key(r: RowDelta) -> tuple[float, int]:
        return (-r.delta if not math.isnan(r.delta) else -math.inf, r.row)

    return sorted(rows, key=key)[:top]
