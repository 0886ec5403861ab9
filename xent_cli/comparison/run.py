"""Run ``xent compare``: two scans under the same options, paired, into one report.

The Python API is :func:`compare`; :mod:`xent_cli.comparison.stats` holds the statistics and
:mod:`xent_cli.comparison.pairing` the pairing.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, cast

import numpy as np

from xent_cli.comparison.distribution import (
    DistributionTotals,
    distribution_reasons,
    divergence,
    finish,
    logits_norm,
)
from xent_cli.comparison.pairing import (
    JoinCounts,
    Pairs,
    SliceCodes,
    hash_ids,
    mode_width,
    pair_by_id,
    pair_by_position,
    stream,
)
from xent_cli.comparison.report import ClassDelta, ComparisonReport, RowDelta
from xent_cli.comparison.request import (
    CompareRequest,
    ci_dict,
    exp_or_inf,
    gate_dict,
    make_request,
    side_warnings,
)
from xent_cli.comparison.slices import (
    PairedSlices,
    build_slice_comparison,
    slice_regression_reasons,
)
from xent_cli.comparison.stats import (
    PairedTotals,
    correlation,
    gate_reasons,
    p_value,
    statistics,
    t_interval,
)
from xent_cli.core.columns import by_column_names
from xent_cli.core.engine import ProgressCallback, Scan
from xent_cli.core.report import build_report
from xent_cli.core.state import EvalState
from xent_cli.core.tokens import is_token_layout
from xent_cli.errors import XentError
from xent_cli.io.base import BatchSource
from xent_cli.io.sources import make_sources
from xent_cli.options import (
    Interval,
    Kind,
    Mode,
    PairBy,
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
    max_kl: float | None = None,
    max_churn: float | None = None,
    pair_by: str = "auto",
    position: str | None = None,
    distribution: bool = True,
    **options: Any,
) -> ComparisonReport:
    """Compare ``candidate`` with ``baseline`` (each anything :func:`xent_cli.evaluate`
    takes) on the same rows; ``options`` are evaluate's (``id`` pairs rows by that column).
    Thresholds are in the ``base`` unit. ``report.passed`` tells whether the gates passed.
    ``by="col,col:N"``: the paired figures per slice of the baseline's columns in
    ``report.slices`` (see :mod:`xent_cli.comparison.slices`).

    ``report.distribution`` compares both sides' predicted distributions row by row (KL,
    top-1 agreement, flips: see :mod:`xent_cli.comparison.distribution`); ``max_kl`` and
    ``max_churn`` gate on them; ``distribution=False`` leaves them out. Token files (see
    :mod:`xent_cli.comparison.tokens`) pair by ``pair_by`` (``auto``, ``row``, ``id``,
    ``token``: ``doc`` + ``position`` columns, ``doc``: per document); their ``by`` slices
    carry token figures (see :mod:`xent_cli.comparison.token_slices`)."""
    request = make_request(
        on_mismatch=on_mismatch,
        confidence=confidence,
        ci=ci,
        resamples=resamples,
        seed=seed,
        top=top,
        max_regression=max_regression,
        max_relative_regression=max_relative_regression,
        min_improvement=min_improvement,
        fail_on=fail_on,
        max_kl=max_kl,
        max_churn=max_churn,
        min_slice_size=min_slice_size,
        max_slice_regression=max_slice_regression,
        pair_by=pair_by,
        position=position,
        distribution=distribution,
    )
    settings = make_settings(**{**options, "confidence": confidence})
    if max_slice_regression is not None and settings.by is None:
        raise XentError("--max-slice-regression needs --by COL (the slices it judges)")
    bases = make_sources(baseline, settings.input_format)
    candidates = make_sources(candidate, settings.input_format)
    if bases and is_token_layout(bases[0].schema, settings):
        from xent_cli.comparison.tokens import compare_tokens

        return compare_tokens(bases, candidates, settings, request, on_progress)
    return _compare_rows(bases, candidates, settings, request, on_progress)


def _compare_rows(
    bases: list[BatchSource],
    candidates: list[BatchSource],
    settings: Settings,
    request: CompareRequest,
    on_progress: ProgressCallback | None,
) -> ComparisonReport:
    """A classifier's two files: paired by row or by --id."""
    pair_by = request.pair_by
    if pair_by is PairBy.auto:
        pair_by = PairBy.id if settings.id else PairBy.row
    if pair_by in (PairBy.token, PairBy.doc):
        raise XentError(
            f"--pair-by {pair_by.value} pairs the rows of language-model token files",
            hint="pair a classifier's rows by row order or by --id COLUMN",
        )
    if pair_by is PairBy.id and not settings.id:
        raise XentError("--pair-by id needs --id COLUMN (the column that names each row)")
    if request.position is not None:
        raise XentError("--position pairs token files (by document and position)")
    scans = (
        Scan(bases, settings, on_progress),
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
    counts = JoinCounts(by=settings.id if pair_by is PairBy.id and settings.id else "position")
    with_scores = request.distribution
    streams = (
        stream(scans[0], states[0], codes, with_scores),
        stream(scans[1], states[1], None, with_scores),
    )
    if pair_by is PairBy.id:
        sizes = [s.size or 0 for scan in scans for s in scan.sources]
        pairs = pair_by_id(streams, sizes, counts, label_names, request.intersect)
    else:
        width = mode_width(scans[0])
        pairs = pair_by_position(
            streams, lambda: (states[0].n_rows, states[1].n_rows), counts, label_names, width
        )
    totals = PairedTotals.zeros(scans[0].plan.n_classes)
    moved = DistributionTotals() if with_scores else None
    kinds = (scans[0].plan.kind, scans[1].plan.kind)
    mode = scans[0].plan.mode
    bootstrap = None
    if request.ci is Interval.bootstrap:
        from xent_cli.kernels.bootstrap import PoissonBootstrap

        bootstrap = PoissonBootstrap(request.resamples, request.seed)
    worst: list[RowDelta] = []
    per_nat = 1.0 / settings.base.log
    top = request.top
    for chunk in pairs:
        totals.add(chunk)
        if moved is not None:
            _add_distribution(moved, chunk, mode, kinds, settings)
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
        low, high = bootstrap.interval(request.confidence)
    else:
        low, high = t_interval(stats, request.confidence)
    gates = request.gates
    reasons = gate_reasons(gates, stats, low, high, request.confidence, per_nat)
    block = finish(moved, per_nat) if moved is not None else None
    if block is not None:
        reasons += distribution_reasons(
            block, request.max_kl, request.max_churn, gates.fail_on, request.confidence
        )
    slices = None
    if codes is not None:
        slices = build_slice_comparison(
            codes, sliced, stats.weight, per_nat, request.confidence, request.min_slice_size
        )
        reasons += slice_regression_reasons(
            slices, request.max_slice_regression, gates.fail_on, per_nat
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
            ("ci", request.ci.value),
            ("level", request.confidence),
            ("resamples", request.resamples if bootstrapped else None),
            ("seed", request.seed if bootstrapped else None),
            ("join", f"id={settings.id}" if pair_by is PairBy.id else "position"),
            ("weighted", bool(settings.weight)),
            ("v", reports[0].version),
        ],
    )
    extra = {"resamples": request.resamples, "seed": request.seed} if bootstrapped else {}
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
        ci=ci_dict(request, request.ci.value, low, high, stats.se, per_nat, **extra),
        test={"method": "paired t", "alternative": "two-sided", "p_value": p_value(stats)},
        classes=classes,
        gate=gate_dict(request, reasons, codes is not None),
        signature=signature,
        rows=worst if top else None,
        warnings=side_warnings(
            (reports[0], reports[1]), (counts.n_only_baseline, counts.n_only_candidate)
        ),
        slices=slices,
        pair_by=pair_by.value,
        perplexity_ratio=exp_or_inf(stats.delta),
        correlation=correlation(totals),
        distribution=block,
    )


def _add_distribution(
    moved: DistributionTotals,
    chunk: Pairs,
    mode: Mode,
    kinds: tuple[Kind, Kind],
    settings: Settings,
) -> None:
    """One chunk's KL, delta_p, agreement and flips into ``moved``."""
    b, c = chunk.baseline, chunk.candidate
    assert b.scores is not None
    assert c.scores is not None
    assert b.predicted is not None
    assert c.predicted is not None
    assert b.p_true is not None
    assert c.p_true is not None
    norms: list[Any] = [None, None]
    if mode is Mode.categorical and not settings.targets:  # the losses give log Σ e^z
        for side, entries in enumerate((b, c)):
            if kinds[side] is Kind.logits:
                assert entries.scores is not None
                norms[side] = logits_norm(entries.scores, entries.loss, entries.truth)
    kl = divergence((b.scores, c.scores), mode, kinds, settings.eps, (norms[0], norms[1]))
    right = (b.predicted == b.truth, c.predicted == c.truth)
    moved.add(kl, c.p_true - b.p_true, b.predicted == c.predicted, right, b.weight)


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
