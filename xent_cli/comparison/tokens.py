"""``xent compare`` of two language models' token files: paired tokens, or paired documents.

Pairing (``--pair-by``): ``row`` (row order), ``id`` (``--id``), ``token`` (the document
``--doc`` and the position ``--position``: the default when both files have both), or ``doc``
(each document's summed loss; ``--per byte`` then compares models whose tokenizers differ).
Paired tokens must be the same token on both sides (when both files carry it: ``token_id``,
``token``, ...): else exit 2, "tokenized differently".

With ``l`` a row's loss (nats) and ``U`` its count in the ``--per`` unit: ``delta = (Σ l_c -
Σ l_b) / Σ U``; ``perplexity_ratio = exp(delta)``. The interval, at ``--confidence``:

- with documents (``cluster-t``): per document ``D_d = Lc_d - Lb_d``, ``r = delta``,
  ``se² = D/(D-1) · Σ_d (D_d - r U_d)² / (Σ U)²``, ``delta ± t(1-a/2, D-1) · se``; by
  documents each side is normalized by its own units: ``z_d = (Lc_d - r_c Uc_d)/ΣUc - (Lb_d -
  r_b Ub_d)/ΣUb``, ``se² = D/(D-1) Σ z_d²``;
- without: every row its own cluster (``t``; per token, the paired t interval).

``documents``: their count, ``candidate_better`` (the share whose loss per unit is lower
with the candidate) and the worst (largest delta). ``--by``: the same per slice of the
baseline's rows (:mod:`xent_cli.comparison.token_slices`). Sums are exact (``ExactSums``), so
the report is the same for any order and split of the rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from xent_cli.comparison.pairing import (
    Entries,
    JoinCounts,
    SliceCodes,
    hash_ids,
    pair_by_id,
    pair_by_position,
)
from xent_cli.comparison.report import ComparisonReport
from xent_cli.comparison.request import (
    CompareRequest,
    ci_dict,
    exp_or_inf,
    gate_dict,
    side_warnings,
)
from xent_cli.comparison.slices import SliceComparison, slice_regression_reasons
from xent_cli.comparison.stats import Statistics, gate_reasons, p_value, t_interval
from xent_cli.comparison.token_slices import DocumentSlices, PairedTokenSlices, SliceOptions
from xent_cli.comparison.token_stats import TokenPairTotals, cluster_se, pearson
from xent_cli.core.engine import ProgressCallback
from xent_cli.core.token_batch import score_batch
from xent_cli.core.token_engine import TokenScan
from xent_cli.core.token_report import build_token_report
from xent_cli.core.token_state import DocumentSums, KeyedSums, TokenRows, TokenState
from xent_cli.core.tokens import TokenPlan
from xent_cli.errors import XentError
from xent_cli.io.base import BatchSource
from xent_cli.io.prefetch import prefetch
from xent_cli.io.text import TextSource
from xent_cli.kernels.exact import exact_sum
from xent_cli.options import Interval, PairBy, Per, Settings, signature_line

POSITION_NAMES = ("position", "pos", "token_index")
_UNIT_COLUMN = {Per.token: 0, Per.byte: 1, Per.word: 2}
Float = NDArray[np.float64]


@dataclass
class _Recorder(TokenState):
    """A token state that also keeps the rows of the batch it was last given."""

    last: TokenRows | None = None

    def add(self, rows: TokenRows) -> None:
        super().add(rows)
        self.last = rows


def _recorder(settings: Settings, plan: TokenPlan) -> _Recorder:
    state = _Recorder.empty(settings.top_warnings, plan.doc_column is not None)
    assert isinstance(state, _Recorder)
    return state


def _column(names: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {n.strip().lower(): n for n in reversed(names)}
    return next((lowered[w] for w in wanted if w in lowered), None)


def _text(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return pc.cast(array, pa.string())


def _stream(
    scan: TokenScan,
    state: _Recorder,
    key: PairBy,
    position: str | None,
    token: str | None,
    codes: SliceCodes | None = None,
) -> Iterator[Entries]:
    """The scan's scored rows as entries (``state`` folds them all, as eval would), with the
    key ``key`` pairs them by: the --id value, or the document and position; with ``codes``
    (the baseline's ``--by``), each row's slice."""
    plan = scan.plan
    settings = plan.settings
    keyed = [token, position, settings.id if key is PairBy.id else None]
    columns = list(dict.fromkeys(c for c in [*plan.needed_columns, *keyed] if c is not None))
    start = scan.first_row
    for source in scan.sources:
        missing = [c for c in columns if c not in source.schema.names]
        if missing:
            raise XentError(f"{source.name}: column {missing[0]!r} not found")
        batches = source.batches(columns, _types(plan, source, columns, keyed))
        if source.size is None or source.size > (4 << 20):
            batches = prefetch(batches)
        for batch in batches:
            state.last = None
            score_batch(plan, batch, start, state, source.name)
            rows = state.last
            if rows is not None and rows.index is not None and len(rows.index):
                entries = _entries(batch, rows, start, key, position, token, settings)
                if codes is not None:
                    arrays = [batch.column(c) for c in codes.slicer.names]
                    entries.slice = codes.of_rows(arrays, rows.index)
                yield entries
            start += batch.num_rows
            if scan.on_progress is not None:
                done = sum(s.bytes_done() for s in scan.sources)
                sizes = [s.size for s in scan.sources]
                scan.on_progress(done, None if None in sizes else sum(s or 0 for s in sizes))


def _types(
    plan: TokenPlan, source: BatchSource, columns: list[str], keyed: list[str | None]
) -> dict[str, pa.DataType]:
    """Text inputs: numbers as float64, ids, documents and tokens as text; a ``--by``
    column as the reader infers it (as ``xent eval`` reads it)."""
    if not isinstance(source, TextSource):
        return {}
    numbers = [plan.value_column, plan.tokens_column, plan.bytes_column, plan.words_column]
    types: dict[str, pa.DataType] = {c: pa.float64() for c in numbers if c is not None}
    inferred = set(plan.slicer.names if plan.slicer is not None else ()) - {plan.doc_column, *keyed}
    for c in columns:
        if c not in inferred:
            types.setdefault(c, pa.string())
    if plan.topk_column is not None:
        types[plan.topk_column] = pa.list_(pa.float64())
    if plan.mask_column is not None:
        types[plan.mask_column] = pa.float64()
    return types


def _entries(
    batch: pa.RecordBatch,
    rows: TokenRows,
    start: int,
    key: PairBy,
    position: str | None,
    token: str | None,
    settings: Settings,
) -> Entries:
    assert rows.index is not None
    index = pa.array(rows.index.astype(np.int64))
    n = len(rows.index)
    ids = None
    if key is PairBy.id and settings.id:
        ids = _text(batch.column(settings.id).take(index))
    elif key is PairBy.token and position is not None and rows.doc is not None:
        where = _text(batch.column(position).take(index))
        ids = pc.binary_join_element_wise(_text(rows.doc), where, "\x1f")
    token_text = _text(batch.column(token).take(index)) if token is not None else None
    truth = np.zeros(n, np.int64)
    if token_text is not None:
        truth = hash_ids(token_text.fill_null("")).view(np.int64)
    return Entries(
        row=start + rows.index.astype(np.int64),
        sub=np.zeros(n, np.int64),
        cls=np.zeros(n, np.int64),
        truth=truth,
        loss=rows.loss,
        weight=None,
        ids=ids,
        unit=rows.unit.astype(np.int64),
        tokens=rows.tokens.astype(np.int64),
        n_bytes=None if rows.n_bytes is None else rows.n_bytes.astype(np.int64),
        words=None if rows.words is None else rows.words.astype(np.int64),
        doc=None if rows.doc is None else _text(rows.doc),
        token=token_text,
    )


def compare_tokens(
    bases: list[BatchSource],
    candidates: list[BatchSource],
    settings: Settings,
    request: CompareRequest,
    on_progress: ProgressCallback | None,
) -> ComparisonReport:
    """Two token files compared (see the module docstring)."""
    if request.ci is Interval.bootstrap:
        raise XentError(
            "--ci bootstrap resamples a classifier's rows; token files take the t interval "
            "by documents",
            hint="drop --ci bootstrap",
        )
    if request.top:
        raise XentError(
            "--top lists a classifier's rows; a token comparison lists its worst documents",
            hint="drop --top",
        )
    if request.max_kl is not None or request.max_churn is not None:
        raise XentError(
            "--max-kl and --max-churn need both sides' full distributions; a token file holds "
            "the actual token's log-probability only",
            hint="compare files of dense logits (one list per token, the token as label)",
        )
    # --by: the baseline's slices (the candidate's copy of the columns is never read)
    scans = (
        TokenScan(bases, settings, on_progress),
        TokenScan(candidates, dataclasses.replace(settings, by=None)),
    )
    plans = (scans[0].plan, scans[1].plan)
    names = [list(s.sources[0].schema.names) for s in scans]
    position = request.position or _column(names[0], POSITION_NAMES)
    if request.position is not None and any(request.position not in n for n in names):
        raise XentError(f"--position column {request.position!r} not found in both files")
    pair_by = request.pair_by
    if pair_by is PairBy.auto:
        has_position = position is not None and all(position in n for n in names)
        if settings.id:
            pair_by = PairBy.id
        elif plans[0].doc_column and plans[1].doc_column and has_position:
            pair_by = PairBy.token
        else:
            pair_by = PairBy.row
    if pair_by is PairBy.id and not settings.id:
        raise XentError("--pair-by id needs --id COLUMN (the column that names each token)")
    if pair_by in (PairBy.token, PairBy.doc) and not (plans[0].doc_column and plans[1].doc_column):
        raise XentError(
            f"--pair-by {pair_by.value} needs a document column in both files",
            hint="pass --doc COLUMN",
        )
    if pair_by is PairBy.token and position is None:
        raise XentError(
            "--pair-by token needs a position column (position, pos, token_index)",
            hint="pass --position COLUMN",
        )
    if pair_by is PairBy.doc:
        return _by_documents(scans, settings, request)
    return _by_tokens(scans, settings, request, pair_by, position)


def _by_tokens(
    scans: tuple[TokenScan, TokenScan],
    settings: Settings,
    request: CompareRequest,
    pair_by: PairBy,
    position: str | None,
) -> ComparisonReport:
    plans = (scans[0].plan, scans[1].plan)
    names = [set(s.sources[0].schema.names) for s in scans]
    token = plans[0].token_column if plans[0].token_column in names[1] else None
    with_docs = plans[0].doc_column is not None
    states = (_recorder(settings, plans[0]), _recorder(settings, plans[1]))
    codes = SliceCodes(plans[0].slicer) if plans[0].slicer is not None else None
    streams = (
        _stream(scans[0], states[0], pair_by, position, token, codes),
        _stream(scans[1], states[1], pair_by, position, token),
    )
    by = {PairBy.id: settings.id, PairBy.token: f"{plans[0].doc_column}+{position}"}
    counts = JoinCounts(by=by.get(pair_by) or "position")
    if pair_by is PairBy.row:
        pairs = pair_by_position(streams, lambda: (states[0].n_rows, states[1].n_rows), counts,
                                 [], 1)  # fmt: skip
    else:
        sizes = [s.size or 0 for scan in scans for s in scan.sources]
        pairs = pair_by_id(streams, sizes, counts, [], request.intersect)
    totals = TokenPairTotals()
    if with_docs:
        totals.documents = (DocumentSums(), DocumentSums())
    sliced = None
    if codes is not None:
        sliced = PairedTokenSlices(codes)
        if with_docs:
            sliced.documents = (KeyedSums(), KeyedSums())
    for chunk in pairs:
        totals.add(chunk.baseline, chunk.candidate)
        if sliced is not None:
            sliced.add(chunk.baseline, chunk.candidate)
    if counts.n_joined == 0:
        raise XentError("no tokens are evaluated in both files: nothing to compare")
    reports = tuple(
        build_token_report(s.plan, state, s.files, s.input_names())
        for s, state in zip(scans, states, strict=True)
    )
    exact = totals.exact()
    units = totals.units
    if units <= 0:
        raise XentError(f"the paired rows cover 0 {plans[0].per.value}s: nothing to normalise by")
    b_sum, c_sum = totals.sums["b"].total(), totals.sums["c"].total()
    delta, delta_exact = totals.delta()
    documents = None
    if totals.documents is not None:
        keys, lb, doc_counts = totals.documents[0].finish()
        _, lc, _ = totals.documents[1].finish()
        u = doc_counts[:, _UNIT_COLUMN[plans[0].per]].astype(np.float64)
        se, df = cluster_se(lb, lc, u, u, units, units)
        documents = _documents(keys, lb, lc, u, u, doc_counts[:, 0], settings, plans[0])
        method = "cluster-t"
    else:
        se, df = totals.rows_se(delta_exact), totals.n - 1
        method = "t"
    n = Fraction(totals.n)
    correlation = None
    if all(exact[k] is not None for k in ("b", "c", "bb", "cc", "bc")):
        correlation = pearson(n, exact["b"], exact["c"], exact["bb"], exact["cc"], exact["bc"])  # type: ignore[arg-type]
    stats = Statistics(totals.n, float(units), b_sum / units, c_sum / units, delta, se, df)
    join = {"by": counts.by, "n_joined": counts.n_joined,
            "n_only_baseline": counts.n_only_baseline,
            "n_only_candidate": counts.n_only_candidate}  # fmt: skip
    n_only = (counts.n_only_baseline, counts.n_only_candidate)
    slices = None
    if sliced is not None:
        slices = sliced.build(_UNIT_COLUMN[plans[0].per], units, _slice_options(scans, request))
    return _report(scans, reports, settings, request, stats, join, pair_by, method, correlation,
                   documents, n_only, "tokens", slices)  # fmt: skip


def _slice_options(scans: tuple[TokenScan, TokenScan], request: CompareRequest) -> SliceOptions:
    plan = scans[0].plan
    per_nat = 1.0 / plan.settings.base.log
    return SliceOptions(per_nat, request.confidence, request.min_slice_size, plan.tokens_known)


def _documents(
    keys: Sequence[str], lb: Float, lc: Float, ub: Float, uc: Float, tokens: NDArray[np.int64],
    settings: Settings, plan: TokenPlan,
) -> dict[str, Any]:  # fmt: skip
    """``count``, ``candidate_better`` and the worst documents (largest delta per unit)."""
    per_nat = 1.0 / settings.base.log
    has = (ub > 0) & (uc > 0)
    rate_b = np.divide(lb, ub, out=np.zeros(len(lb)), where=has)
    rate_c = np.divide(lc, uc, out=np.zeros(len(lc)), where=has)
    delta = rate_c - rate_b
    counted = int(has.sum())
    order = sorted(np.flatnonzero(has).tolist(), key=lambda i: (-delta[i], keys[i]))
    worst = [
        {
            "id": keys[i],
            "tokens": int(tokens[i]) if plan.tokens_known else None,
            "loss_baseline": float(rate_b[i]) * per_nat,
            "loss_candidate": float(rate_c[i]) * per_nat,
            "delta": float(delta[i]) * per_nat,
        }
        for i in order[: settings.top_docs]
    ]
    better = int((rate_c[has] < rate_b[has]).sum())
    return {
        "column": plan.doc_column,
        "count": len(keys),
        "candidate_better": better / counted if counted else None,
        "worst": worst,
    }


def _by_documents(
    scans: tuple[TokenScan, TokenScan], settings: Settings, request: CompareRequest
) -> ComparisonReport:
    """Per document: each side's summed loss over its own units, the documents joined by id;
    with ``--by``, each document in the slice of its baseline rows."""
    slicer = scans[0].plan.slicer
    per_document = None
    if slicer is None:
        base: TokenState = scans[0].state()
    else:  # the baseline's rows read with their slices (and folded as eval would)
        per_document = DocumentSlices(SliceCodes(slicer))
        base = recorder = _recorder(settings, scans[0].plan)
        for entries in _stream(scans[0], recorder, PairBy.doc, None, None, per_document.codes):
            assert recorder.last is not None  # the rows of these entries
            assert entries.slice is not None
            per_document.add(recorder.last, entries.slice)
    states = (base, scans[1].state())
    reports = tuple(
        build_token_report(s.plan, state, s.files, s.input_names())
        for s, state in zip(scans, states, strict=True)
    )
    sides = []
    for state in states:
        assert state.documents is not None
        sides.append(state.documents.finish())
    (keys_b, lb_all, counts_b), (keys_c, lc_all, counts_c) = sides
    where_c = {k: i for i, k in enumerate(keys_c)}
    shared = [i for i, k in enumerate(keys_b) if k in where_c]
    only_b, only_c = len(keys_b) - len(shared), len(keys_c) - len(shared)
    if (only_b or only_c) and not request.intersect:
        first = [k for k in keys_b if k not in where_c][:3] or [
            k for k in keys_c if k not in set(keys_b)
        ][:3]
        raise XentError(
            f"{only_b} documents only in the baseline and {only_c} only in the candidate "
            f"(first: {', '.join(map(repr, first))})",
            hint="pass --on-mismatch intersect to compare the documents both files hold",
        )
    if not shared:
        raise XentError("no document is evaluated in both files: nothing to compare")
    ib = np.array(shared, np.intp)
    ic = np.array([where_c[keys_b[i]] for i in shared], np.intp)
    column = _UNIT_COLUMN[scans[0].plan.per]
    lb, lc = lb_all[ib], lc_all[ic]
    ub = counts_b[ib, column].astype(np.float64)
    uc = counts_c[ic, column].astype(np.float64)
    total_b, total_c = float(exact_sum(ub)), float(exact_sum(uc))
    if total_b <= 0 or total_c <= 0:
        raise XentError(f"the documents cover 0 {scans[0].plan.per.value}s on one side")
    loss_b, loss_c = exact_sum(lb) / total_b, exact_sum(lc) / total_c
    se, df = cluster_se(lb, lc, ub, uc, total_b, total_c)
    keys = [keys_b[i] for i in shared]
    documents = _documents(keys, lb, lc, ub, uc, counts_b[ib, 0], settings, scans[0].plan)
    has = (ub > 0) & (uc > 0)
    rb, rc = lb[has] / ub[has], lc[has] / uc[has]
    correlation = None
    if has.sum() > 1 and rb.std() > 0 and rc.std() > 0:
        sums = [Fraction(exact_sum(x)) for x in (rb, rc, rb * rb, rc * rc, rb * rc)]
        correlation = pearson(Fraction(int(has.sum())), *sums)
    stats = Statistics(len(shared), total_b, loss_b, loss_c, loss_c - loss_b, se, df)
    join = {"by": f"doc:{scans[0].plan.doc_column}", "n_joined": len(shared),
            "n_only_baseline": only_b if request.intersect else 0,
            "n_only_candidate": only_c if request.intersect else 0}  # fmt: skip
    n_only = (only_b if request.intersect else 0, only_c if request.intersect else 0)
    slices = None
    if per_document is not None:
        slices = per_document.build(keys, (lb, lc, ub, uc), counts_b[ib, 0],
                                    _slice_options(scans, request))  # fmt: skip
    return _report(scans, reports, settings, request, stats, join, PairBy.doc, "cluster-t",
                   correlation, documents, n_only, "documents", slices)  # fmt: skip


def _report(
    scans: tuple[TokenScan, TokenScan],
    reports: tuple[Any, ...],
    settings: Settings,
    request: CompareRequest,
    stats: Statistics,
    join: dict[str, Any],
    pair_by: PairBy,
    method: str,
    correlation: float | None,
    documents: dict[str, Any] | None,
    n_only: tuple[int, int],
    what: str,
    slices: SliceComparison | None,
) -> ComparisonReport:
    per_nat = 1.0 / settings.base.log
    low, high = t_interval(stats, request.confidence)
    reasons = gate_reasons(request.gates, stats, low, high, request.confidence, per_nat)
    if slices is not None:
        fail_on = request.gates.fail_on
        reasons += slice_regression_reasons(slices, request.max_slice_regression, fail_on, per_nat)
    plans = (scans[0].plan, scans[1].plan)
    signature = signature_line(
        "xent-compare",
        [
            ("mode", "tokens"),
            ("kind", f"{plans[0].kind}/{plans[1].kind}"),
            ("per", plans[0].per.value),
            ("eps", settings.eps),
            ("base", settings.base.value),
            ("ci", method),
            ("level", request.confidence),
            ("join", f"{pair_by.value}={join['by']}"),
            ("v", reports[0].version),
        ],
    )
    relative = stats.delta / stats.loss_baseline if stats.loss_baseline > 0 else None
    return ComparisonReport(
        baseline=reports[0],
        candidate=reports[1],
        join=join,
        unit=settings.base.unit,
        delta=stats.delta * per_nat,
        relative_delta=relative,
        loss_baseline=stats.loss_baseline * per_nat,
        loss_candidate=stats.loss_candidate * per_nat,
        ci=ci_dict(
            request, method, low, high, stats.se, per_nat, df=stats.df, per=plans[0].per.value
        ),
        test={
            "method": f"paired {method}",
            "alternative": "two-sided",
            "p_value": p_value(stats),
        },
        classes=[],
        gate=gate_dict(request, reasons, slices is not None),
        signature=signature,
        warnings=side_warnings((reports[0], reports[1]), n_only, what),
        pair_by=pair_by.value,
        perplexity_ratio=exp_or_inf(stats.delta),
        correlation=correlation,
        documents=documents,
        slices=slices,
    )
