"""The pipeline: sources -> column roles -> per-batch arrays -> checks -> scores -> totals.

``Run`` turns each record batch into validated float64 arrays, records the warnings, and
yields :class:`ScoredBatch` objects; :func:`evaluate` folds them into a :class:`Report`, and
:mod:`xent_cli.rows` formats them for ``xent rows``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from . import diagnostics as dx
from .accumulate import ClassTotals
from .arrays import floats, integers, null_mask, numbers, python_values
from .columns import Roles, resolve_roles
from .errors import XentError
from .labels import MISSING, BinaryLookup, ClassLookup, MultilabelLookup, encode
from .numerics import logsumexp_rows
from .options import NORMALIZATION_TOLERANCE, Base, InputFormat, Kind, Mode, Settings
from .readers import STDIN, BatchSource, TableSource, open_sources, prefetch
from .report import Report, build_report
from .scoring import Scored, score_binary, score_categorical, score_soft_targets

Float = NDArray[np.float64]
Int = NDArray[np.intp]
Bool = NDArray[np.bool_]

READ_AHEAD_BYTES = 4 << 20  # smaller inputs are read in the calling thread: cheaper than a thread
WIDE_COLUMNS = 64  # from this many score columns, Arrow builds the matrix in one call
MAX_MAGNITUDE = 1e100  # scores and weights beyond this are skipped like inf: their products
# and sums (weight x loss, summed over rows) could overflow float64
LOG_PROB_SLACK = 1e-9  # log-probabilities this far above 0 are rounding noise, read as 0


ProgressCallback = Callable[[int, "int | None"], None]
"""Called after each batch with (bytes read so far, total bytes or None if unknown)."""


class KindContradiction(XentError):
    """Scores judged by their first values to be one kind turned out not to be (internal)."""


@dataclass
class ScoredBatch:
    """Results for the evaluated rows (or cells) of one record batch."""

    rows: NDArray[np.int64]  # global 0-based row number of each entry
    scored: Scored
    weight: Float | None
    id_column: pa.Array | None  # the batch's --id column
    local: Int  # each entry's row within the batch

    def ids(self, entries: Int) -> list[str] | None:
        """The --id values of some entries (None without --id)."""
        return _take_ids(self.id_column, self.local[entries])


class Run:
    """One pass over the inputs with fixed settings; its counters grow as batches stream."""

    def __init__(self, sources: Sequence[BatchSource], settings: Settings) -> None:
        if not sources:
            raise XentError("no input given")
        self.sources = list(sources)
        self.settings = settings
        first = self.sources[0]
        self.roles: Roles = resolve_roles(first.schema, settings, first.name)
        self.kind = self.roles.kind
        self.kind_source = self.roles.kind_source
        self.class_names: list[str] = list(self.roles.class_names)
        self.lookup: Any = self._make_lookup()
        self.diagnostics = dx.Diagnostics(settings.top_warnings)
        self.n_rows = 0
        self.n_evaluated = 0
        self.looks_like_probs = True  # every row so far in [0, 1] and summing to 1
        self.on_progress: ProgressCallback | None = None

    @property
    def mode(self) -> Mode:
        return self.roles.mode

    def _make_lookup(self) -> Any:
        if self.mode is Mode.binary:
            return BinaryLookup(self.settings.positive)
        if self.mode is Mode.multilabel:
            return MultilabelLookup()
        return ClassLookup(self.class_names) if self.class_names else None

    def current_class_names(self) -> list[str]:
        if self.mode is Mode.binary:
            return list(self.lookup.class_names)
        return self.class_names

    def column_types(self) -> dict[str, pa.DataType]:
        """Types to parse text inputs with: floats for numbers, dictionary-encoded labels."""
        roles = self.roles
        floats = [*roles.score_columns, *roles.target_columns]
        if roles.weight_column:
            floats.append(roles.weight_column)
        types: dict[str, pa.DataType] = dict.fromkeys(floats, pa.float64())
        if roles.list_column:
            types[roles.list_column] = pa.list_(pa.float64())
        return types

    def _text_types(self, source: BatchSource) -> dict[str, pa.DataType]:
        types = self.column_types()
        if getattr(source, "format", None) is InputFormat.jsonl:
            # JSON that quotes its numbers ("0.5") is read as text and converted afterwards
            for column in list(types):
                seen = source.schema.field(column).type
                if pa.types.is_string(seen) or pa.types.is_large_string(seen):
                    types[column] = seen
        if getattr(source, "format", None) in (InputFormat.csv, InputFormat.tsv):
            for column in self.roles.label_columns:
                types[column] = pa.dictionary(pa.int32(), pa.string())
            if self.roles.id_column:
                types[self.roles.id_column] = pa.string()
        return types

    def batches(self) -> Iterator[ScoredBatch]:
        needed = self.roles.needed_columns
        for source in self.sources:
            present = set(source.schema.names)
            missing = [c for c in needed if c not in present]
            if missing:
                raise XentError(
                    f"{source.name}: column {missing[0]!r} not found "
                    f"(it is in {self.sources[0].name}; several files must share their columns)"
                )
            batches = source.batches(needed, self._text_types(source))
            if source.size is None or source.size > READ_AHEAD_BYTES:
                batches = prefetch(batches)
            for batch in batches:
                if batch.num_rows:
                    scored = self._score_batch(batch, source.name)
                    if scored is not None:
                        yield scored
                if self.on_progress is not None:
                    self._report_progress()
        if self.n_rows == 0:
            raise XentError(f"{self.input_names()}: no data rows (only a header, or empty)")
        if self.n_evaluated == 0:
            reasons = ", ".join(
                f"{r.count} {r.code}" for r in self.diagnostics.ordered() if r.count
            )
            raise XentError(
                f"{self.input_names()}: no rows to evaluate: all {self.n_rows} rows were skipped "
                f"({reasons})",
                hint="missing-label: empty label; non-finite: a NaN or infinite score or weight",
            )

    def input_names(self) -> str:
        """The inputs, for messages: the first file, and how many more."""
        names = [s.name for s in self.sources]
        return names[0] if len(names) == 1 else f"{names[0]} (and {len(names) - 1} more)"

    # -- one batch -------------------------------------------------------------------------

    def _score_batch(self, batch: pa.RecordBatch, source: str) -> ScoredBatch | None:
        roles = self.roles
        n = batch.num_rows
        start = self.n_rows
        self.n_rows += n
        ids = batch.column(roles.id_column) if roles.id_column else None

        def report(code: str, local: Int) -> None:
            if len(local):
                rows = (start + local).tolist()
                names = _take_ids(ids, local[: self.settings.top_warnings])
                self.diagnostics.add(code, rows, names)

        scores = self._scores(batch, source)
        labels, targets = self._labels(batch, source)
        weight = (
            floats(batch.column(roles.weight_column), source, roles.weight_column)
            if (roles.weight_column)
            else None
        )

        present = (labels != MISSING).all(axis=1) if labels.ndim == 2 else labels != MISSING
        if not present.all():
            report(dx.MISSING_LABEL, np.flatnonzero(~present))

        if self.kind is Kind.auto:
            candidates = _finite_rows(scores, allow_neg_inf=True) & present
            if not candidates.any():
                report(dx.NON_FINITE, np.flatnonzero(present))
                return None
            self.kind = self._kind_from_values(scores[candidates])
        finite = _finite_rows(scores, allow_neg_inf=self.kind is Kind.log_probs)
        if targets is not None and not _all_usable(targets):
            finite &= _usable(targets).all(axis=1)
        if weight is not None:
            if not _all_usable(weight):
                finite &= _usable(weight)
            negative = np.flatnonzero(np.isfinite(weight) & (weight < 0))
            if len(negative):
                raise XentError(
                    f"{source}: row {start + int(negative[0])} has a negative weight "
                    f"({weight[negative[0]]:g}) in column {roles.weight_column!r}",
                    hint="sample weights must be >= 0",
                )
        valid = present & finite
        if valid.all():  # the common case: every row is evaluated
            local = np.arange(n)
        else:
            report(dx.NON_FINITE, np.flatnonzero(present & ~finite))
            local = np.flatnonzero(valid)
        if len(local) == 0:
            return None
        self.n_evaluated += len(local)

        if len(local) < n:  # drop skipped rows (a copy; most batches have none)
            scores = scores[valid]
            labels = labels[valid]
            targets = targets[valid] if targets is not None else None
            weight = weight[valid] if weight is not None else None
        scores = self._check_values(scores, local, start, source, report)

        scored = self._compute(scores, labels, targets)
        if self.mode is Mode.multilabel:
            width = scores.shape[1]
            cell_rows = np.repeat(local, width)
            weight = np.repeat(weight, width) if weight is not None else None
        else:
            cell_rows = local
        zero_rows = np.unique(cell_rows[scored.zero]) if scored.zero.any() else cell_rows[:0]
        report(dx.ZERO_PROBABILITY, zero_rows)
        return ScoredBatch(
            rows=start + cell_rows,  # intp: int64 on 64-bit platforms
            scored=scored,
            weight=weight,
            id_column=ids,
            local=cell_rows,
        )

    def _scores(self, batch: pa.RecordBatch, source: str) -> Float:
        roles = self.roles
        if roles.list_column:
            scores = _list_matrix(batch.column(roles.list_column), source, roles.list_column)
            if not self.class_names:
                self.class_names = [str(i) for i in range(scores.shape[1])]
                self.lookup = ClassLookup(self.class_names)
            elif scores.shape[1] != len(self.class_names):
                raise XentError(
                    f"{source}: column {roles.list_column!r} holds {scores.shape[1]} values per "
                    f"row here but {len(self.class_names)} in earlier rows"
                )
            return scores
        return _float_matrix(batch, roles.score_columns, source)

    def _labels(self, batch: pa.RecordBatch, source: str) -> tuple[Int, Float | None]:
        """Class index per row (multilabel: per cell), or soft targets."""
        roles = self.roles
        if roles.target_columns:
            targets = _float_matrix(batch, roles.target_columns, source)
            if (targets < 0).any():
                raise XentError(f"{source}: soft targets must be >= 0 (found a negative value)")
            return np.zeros(batch.num_rows, np.intp), targets
        columns = []
        for name in roles.label_columns:
            try:
                codes, unknown = encode(batch.column(name), self.lookup)
            except pa.ArrowNotImplementedError:
                kind = batch.column(name).type
                raise XentError(f"{source}: label column {name!r} holds {kind} values") from None
            if unknown:
                raise self.lookup.unknown_error(unknown, source, f"column {name!r}")
            columns.append(codes)
        if self.mode is Mode.multilabel:
            return np.column_stack(columns), None
        return columns[0], None

    def _kind_from_values(self, scores: Float) -> Kind:
        """probs if all in [0, 1]; log-probs if all <= 0 and rows log-sum-exp to 0; else logits.

        ``scores`` may hold -inf (a log-probability of 0): such rows count against probs and,
        unless normalized, against log-probs too.
        """
        if scores.min() >= 0.0 and scores.max() <= 1.0:
            return Kind.probs
        if self.mode is Mode.categorical and scores.max() <= LOG_PROB_SLACK:
            if np.abs(logsumexp_rows(scores)).max() <= NORMALIZATION_TOLERANCE:
                return Kind.log_probs
        return Kind.logits

    def _check_values(
        self,
        scores: Float,
        local: Int,
        start: int,
        source: str,
        report: Callable[[str, Int], None],
    ) -> Float:
        """Range checks for the kind, the not-normalized warning and --renormalize."""
        categorical = self.mode is Mode.categorical
        if self.kind is Kind.probs:
            outside = (scores < 0.0) | (scores > 1.0)
            if scores.ndim == 2:
                outside = outside.any(axis=1)
            if outside.any():
                self._wrong_kind("outside [0, 1]", scores, outside, local, start, source)
            if categorical:
                sums = scores.sum(axis=1)
                off = np.abs(sums - 1.0) > NORMALIZATION_TOLERANCE
                report(dx.NOT_NORMALIZED, local[off])
                if self.settings.renormalize and off.any():
                    scale = np.where(sums > 0, sums, 1.0)
                    scores = scores / scale[:, None]
        elif self.kind is Kind.log_probs:
            positive = scores > LOG_PROB_SLACK
            if scores.ndim == 2:
                positive = positive.any(axis=1)
            if positive.any():
                self._wrong_kind("above 0", scores, positive, local, start, source)
            scores = np.minimum(scores, 0.0)
            if categorical:
                off = np.abs(logsumexp_rows(scores)) > NORMALIZATION_TOLERANCE
                if off.any() and self.kind_source == "values":
                    self._wrong_kind("not normalized", scores, off, local, start, source)
                report(dx.NOT_NORMALIZED, local[off])
                if self.settings.renormalize and off.any():
                    scores = scores - logsumexp_rows(scores)[:, None]
        elif self.kind is Kind.logits and self.kind_source != "values" and self.looks_like_probs:
            in_unit = bool(scores.min() >= 0.0 and scores.max() <= 1.0)
            if in_unit and scores.ndim == 2 and categorical:
                in_unit = bool((np.abs(scores.sum(axis=1) - 1.0) <= NORMALIZATION_TOLERANCE).all())
            self.looks_like_probs = in_unit
        return scores

    def _wrong_kind(
        self, problem: str, scores: Float, bad: Bool, local: Int, start: int, source: str
    ) -> None:
        first = int(np.flatnonzero(bad)[0])
        row = start + int(local[first])
        values = scores[first]
        shown = (
            f"{values:.6g}" if np.ndim(values) == 0 else ", ".join(f"{v:.6g}" for v in values[:4])
        )
        kind = self.kind.value
        if self.kind_source == "values":
            raise KindContradiction(
                f"{source}: the first rows looked like {kind}, but row {row} is {problem} "
                f"({shown})",
                hint="pass --kind logits (or the right --kind) to say what the scores are",
            )
        said = "--kind" if self.kind_source == "option" else f"the {self.kind_source}"
        raise XentError(
            f"{source}: {said} says {kind}, but row {row} has scores {problem} ({shown})",
            hint="if these are raw model outputs, pass --kind logits",
        )

    def _compute(self, scores: Float, labels: Int, targets: Float | None) -> Scored:
        eps = self.settings.eps
        if targets is not None:
            return score_soft_targets(scores, targets, self.kind, eps)
        if self.mode is Mode.categorical:
            return score_categorical(scores, labels, self.kind, eps)
        if self.mode is Mode.binary:
            return score_binary(scores[:, 0], labels, self.kind, eps)
        width = scores.shape[1]
        cells = score_binary(scores.ravel(), labels.ravel(), self.kind, eps)
        columns = np.tile(np.arange(width, dtype=np.intp), len(scores))
        return cells.as_cells(columns)

    def _report_progress(self) -> None:
        assert self.on_progress is not None
        sizes = [s.size for s in self.sources]
        total = None if None in sizes else sum(s or 0 for s in sizes)
        self.on_progress(sum(s.bytes_done() for s in self.sources), total)

    def warning_records(self) -> list[dx.WarningRecord]:
        """The warnings so far, in report order, each with its sentence."""
        records = self.diagnostics.ordered()
        for record in records:
            record.message = dx.describe(record, self.settings)
        return records

    def finish(self) -> None:
        """After the last batch: logits that were all probabilities get their warning."""
        if self.kind is Kind.logits and self.kind_source != "values" and self.looks_like_probs:
            record = dx.WarningRecord(dx.PROBABILITIES_AS_LOGITS, count=self.n_evaluated)
            self.diagnostics.records[dx.PROBABILITIES_AS_LOGITS] = record


# -- array extraction ----------------------------------------------------------------------


def _float_matrix(batch: pa.RecordBatch, columns: Sequence[str], source: str) -> Float:
    """Columns as one (n, k) float64 matrix.

    Few columns: each is copied once, contiguously, into a column-major matrix, so numpy's
    row reductions run as vectorised passes over whole columns. Many float columns of one
    type: Arrow builds a row-major tensor in one call (1000 columns: 4 ms instead of 13 ms
    per batch), which the row reductions need (column-major, arg-max alone copies it).
    """
    if len(columns) >= WIDE_COLUMNS:
        selected = batch.select(list(columns))
        types = set(selected.schema.types)
        if len(types) == 1 and pa.types.is_floating(next(iter(types))):  # float64 or float32
            try:
                tensor = selected.to_tensor(null_to_nan=True, row_major=True)
                return tensor.to_numpy().astype(np.float64, copy=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                pass  # convert column by column, with clear errors
    position = {name: i for i, name in enumerate(batch.schema.names)}
    arrays = batch.columns
    if len(columns) == 1:  # binary: the column itself (a read-only view when it can be)
        array = arrays[position[columns[0]]]
        return numbers(array, source, columns[0]).astype(np.float64, copy=False)[:, None]
    out = np.empty((len(columns), batch.num_rows), dtype=np.float64)
    for row, name in enumerate(columns):
        out[row] = numbers(arrays[position[name]], source, name)  # a view, copied once
    return out.T


def _list_matrix(array: pa.Array, source: str, column: str) -> Float:
    """A list-valued column (``logits: [..]`` per row) as an (n, k) float64 matrix."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_fixed_size_list(array.type):
        nulls = null_mask(array)
        lengths = np.full(len(array), array.type.list_size, dtype=np.int64)
        if nulls is not None:
            lengths[nulls] = -1
    else:
        lengths = integers(array.value_lengths(), missing=-1)
    present = lengths >= 0
    if not present.any():
        return np.full((len(array), 1), np.nan)
    width = int(lengths[present][0])
    ragged = np.flatnonzero(present & (lengths != width))
    if len(ragged):
        raise XentError(
            f"{source}: column {column!r} has rows of different lengths "
            f"({width} values, then {int(lengths[ragged[0]])} at batch row {int(ragged[0])})",
            hint="every row must hold one score per class",
        )
    out = np.full((len(array), max(width, 1)), np.nan)
    if width:
        flat = floats(array.filter(array.is_valid()).flatten(), source, column)
        out[present] = flat.reshape(-1, width)
    return out


def _finite_rows(scores: Float, *, allow_neg_inf: bool) -> Bool:
    """Rows whose scores are all usable numbers (log-probabilities may also be -inf).

    Beyond ±1e100 a number is as good as infinite: differences, products and sums of such
    numbers overflow float64, so those rows are skipped and reported like NaN and inf.
    """
    if _all_usable(scores):  # the common case, in two reductions
        return np.ones(len(scores), bool)
    if not allow_neg_inf:
        return _usable(scores).all(axis=1)
    ok = ((scores <= MAX_MAGNITUDE) & ((scores >= -MAX_MAGNITUDE) | np.isneginf(scores))).all(1)
    return ok & ~np.isneginf(scores).all(axis=1)  # all -inf: no probability anywhere


def _usable(values: Float) -> Bool:
    """Finite and within ±1e100 (NaN compares false)."""
    return np.abs(values) <= MAX_MAGNITUDE


def _all_usable(values: Float) -> bool:
    """Whether every value is finite and within ±1e100: a min and a max (NaN propagates)."""
    return bool(values.size and -MAX_MAGNITUDE <= values.min() and values.max() <= MAX_MAGNITUDE)


def _take_ids(ids: pa.Array | None, local: Int) -> list[str] | None:
    if ids is None:
        return None
    return [str(v) for v in python_values(ids, local)]


# -- public API ----------------------------------------------------------------------------


def make_sources(source: Any, input_format: InputFormat) -> list[BatchSource]:
    """Sources from a path, several paths, or a pandas DataFrame / Arrow table."""
    if isinstance(source, (str, Path)):
        return open_sources([str(source)], input_format)
    if isinstance(source, pa.Table):
        return [TableSource(source, "<table>")]
    if hasattr(source, "columns") and hasattr(source, "iloc"):
        return [TableSource.from_pandas(source)]
    return open_sources([str(s) for s in source], input_format)


def make_settings(**options: Any) -> Settings:
    """Settings from keyword options (strings accepted for the choices), validated."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(f"unknown option {unknown[0]!r}; known: {', '.join(sorted(fields))}")
    settings = Settings(**options)
    coerced = dataclasses.replace(
        settings,
        mode=Mode(settings.mode),
        kind=Kind(settings.kind),
        base=Base(str(getattr(settings.base, "value", settings.base))),
        input_format=InputFormat(settings.input_format),
    )
    if not (0.0 <= coerced.eps < 1.0):
        raise XentError(f"--eps must be in [0, 1), got {coerced.eps}")
    return coerced


def _replayable(sources: Sequence[BatchSource]) -> bool:
    return all(getattr(s, "path", None) != STDIN for s in sources)


def evaluate(source: Any, *, on_progress: ProgressCallback | None = None, **options: Any) -> Report:
    """Evaluate predictions in ``source`` (path(s) or DataFrame) and return the report.

    ``options`` are the CLI's options by their Python names: ``label``, ``scores``,
    ``targets``, ``weight``, ``id``, ``positive``, ``mode``, ``kind``, ``eps``, ``base``,
    ``renormalize``, ``input_format``, ``top_warnings``. ``on_progress(done, total)`` is
    called after each batch with bytes read so far.
    """
    settings = make_settings(**options)
    sources = make_sources(source, settings.input_format)
    files = [s.name for s in sources]
    try:
        run = Run(sources, settings)
        run.on_progress = on_progress
        totals = _accumulate(run)
    except KindContradiction:
        if not _replayable(sources):
            raise
        sources = make_sources(source, settings.input_format)
        run = Run(sources, dataclasses.replace(settings, kind=Kind.logits))
        run.kind_source = "values"  # as if decided from all rows: the same for any chunking
        run.on_progress = on_progress
        totals = _accumulate(run)
    return build_report(run, files, totals)


def _accumulate(run: Run) -> ClassTotals:
    totals: ClassTotals | None = None
    for batch in run.batches():
        if totals is None:
            k = len(run.current_class_names()) or 2
            totals = ClassTotals.zeros(k)
        s = batch.scored
        totals.add(s.classes, s.loss, batch.weight, s.correct, s.p_true, s.zero)
    assert totals is not None  # batches() raises when nothing was evaluated
    run.finish()
    if totals.weight.sum() <= 0:
        raise XentError(
            f"{run.input_names()}: the weights in column {run.roles.weight_column!r} are 0 "
            f"for all {run.n_evaluated} evaluated rows",
            hint="the weighted mean loss is undefined; check the --weight column",
        )
    return totals
