"""One record batch -> validated float64 arrays -> scored rows, with the batch's warnings.

The one place where rows are checked and skipped: missing labels, non-finite scores or
weights, negative weights, scores outside what the plan's kind allows. Everything here is a
function of the plan and the batch's rows (and its position in the input, for row numbers),
so the same rows give the same arrays however the input is cut into batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.core import diagnostics as dx
from xent_cli.core.columns import Roles
from xent_cli.core.labels import IGNORED, MISSING, canonical, encode
from xent_cli.core.plan import LOG_PROB_SLACK, Plan
from xent_cli.errors import XentError
from xent_cli.io.arrays import floats, python_values
from xent_cli.io.matrices import all_usable, column, finite_rows, float_matrix, list_matrix, usable
from xent_cli.kernels.numerics import logsumexp_rows, row_sums
from xent_cli.kernels.scoring import (
    Scored,
    score_binary,
    score_categorical,
    score_categorical_logits_parts,
    score_soft_targets,
)
from xent_cli.metrics.base import BatchScores
from xent_cli.options import NORMALIZATION_TOLERANCE, Kind, Mode

Float = NDArray[np.float64]
Int = NDArray[np.intp]
Bool = NDArray[np.bool_]


@dataclass
class Prepared:
    """The evaluated rows (or row x label cells) of one record batch, scored."""

    start: int  # global 0-based number of the batch's first row
    n_rows: int  # rows in the batch, evaluated or not
    n_evaluated: int  # rows evaluated (multilabel: rows with a scored cell, not cells)
    local: Int  # each entry's row within the batch
    scored: Scored | None  # None when no row of the batch was evaluated
    weight: Float | None  # per entry
    id_column: pa.Array | None  # the batch's --id column
    warnings: dict[str, Int] = field(default_factory=dict)  # code -> rows within the batch
    in_unit: bool = True  # logits checked: every evaluated score in [0, 1] (rows sum to 1)
    slice_columns: tuple[pa.Array, ...] = ()  # --by: the batch's slice columns
    metric_inputs: dict[str, Any] = field(default_factory=dict)  # add-on metrics' inputs, by key
    n_ignored: int = 0  # rows whose label is --ignore-label's value (multilabel: cells)
    scores: Float | None = None  # the evaluated rows' validated scores (n, k); binary (n, 1)
    # multilabel --ignore-label: which of the evaluated rows' cells (n, k) are entries (None:
    # all), and the rows whose every cell is ignored (neither evaluated nor skipped)
    kept: Bool | None = None
    n_ignored_rows: int = 0

    @property
    def rows(self) -> NDArray[np.int64]:
        """Global 0-based row number of each entry."""
        return self.start + self.local

    def ids(self, entries: Int) -> list[str] | None:
        """The --id values of some entries (None without --id)."""
        return take_ids(self.id_column, self.local[entries])

    def ids_of_rows(self, local: Int) -> list[str] | None:
        """The --id values of some rows of the batch (None without --id)."""
        return take_ids(self.id_column, local)


def take_ids(ids: pa.Array | None, local: Int) -> list[str] | None:
    if ids is None:
        return None
    return [str(v) for v in python_values(ids, local)]


def score_matrix(plan: Plan, batch: pa.RecordBatch, source: str) -> Float:
    """The batch's scores as an (n, k) float64 matrix (binary: k = 1)."""
    roles = plan.roles
    if roles.list_column:
        scores = list_matrix(batch.column(roles.list_column), source, roles.list_column)
        if scores.shape[1] != len(plan.class_names) and not np.isnan(scores).all():
            if plan.settings.classes is not None:
                raise XentError(
                    f"{source}: column {roles.list_column!r} holds {scores.shape[1]} scores "
                    f"per row but --classes names {len(plan.class_names)} classes",
                    hint="name one class per score, in their order",
                )
            raise XentError(
                f"{source}: column {roles.list_column!r} holds {scores.shape[1]} values per "
                f"row here but {len(plan.class_names)} in earlier rows"
            )
        return scores
    return float_matrix(batch, roles.score_columns, source)


def prepare(plan: Plan, batch: pa.RecordBatch, source: str, start: int) -> Prepared:
    """Validate and score one batch whose first row is global row ``start``."""
    roles = plan.roles
    n = batch.num_rows
    warnings: dict[str, Int] = {}
    ids = batch.column(roles.id_column) if roles.id_column else None
    by = tuple(batch.column(c) for c in roles.by_columns) if plan.slicer is not None else ()

    scores = score_matrix(plan, batch, source)
    batch, ignored = _without_ignored_labels(plan, batch)
    labels, targets = _labels(plan, batch, source, len(plan.class_names))
    n_ignored = 0 if ignored is None else int(ignored.sum())
    ignored_cells, n_ignored_rows = None, 0
    if plan.mode is Mode.multilabel and plan.settings.ignore_label is not None:
        ignored_cells, labels, scores = _ignored_cells(plan, labels, scores)
        # a row with no cell left is ignored, not skipped
        ignored = np.asarray(ignored_cells.all(axis=1), dtype=bool)
        n_ignored, n_ignored_rows = int(ignored_cells.sum()), int(ignored.sum())
    weight = (
        floats(column(batch, roles.weight_column), source, roles.weight_column)
        if (roles.weight_column)
        else None
    )

    present = (labels != MISSING).all(axis=1) if labels.ndim == 2 else labels != MISSING
    if ignored is not None:
        present &= ~ignored
    missing = ~present if ignored is None else ~present & ~ignored
    if missing.any():
        warnings[dx.MISSING_LABEL] = np.flatnonzero(missing)
    finite = finite_rows(scores, allow_neg_inf=plan.kind is Kind.log_probs)
    if targets is not None and not all_usable(targets):
        finite &= usable(targets).all(axis=1)
    if weight is not None:
        if not all_usable(weight):
            finite &= usable(weight)
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
        if (present & ~finite).any():
            warnings[dx.NON_FINITE] = np.flatnonzero(present & ~finite)
        local = np.flatnonzero(valid)
    if len(local) == 0:
        empty = Prepared(start, n, 0, local, None, None, ids, warnings, slice_columns=by)
        empty.n_ignored, empty.n_ignored_rows = n_ignored, n_ignored_rows
        return empty
    if len(local) < n:  # drop skipped rows (a copy; most batches have none)
        scores = scores[valid]
        labels = labels[valid]
        targets = targets[valid] if targets is not None else None
        weight = weight[valid] if weight is not None else None
        ignored_cells = ignored_cells[valid] if ignored_cells is not None else None
    kept = ~ignored_cells if ignored_cells is not None and ignored_cells.any() else None
    scores, in_unit = _check_values(plan, scores, local, start, source, warnings)

    parts = None  # a metric's use of categorical logits: the loss kernel's exp sums
    if (
        any(metric.uses_logit_parts for metric in plan.metrics)
        and plan.mode is Mode.categorical
        and plan.kind is Kind.logits
        and targets is None
    ):
        scored, parts = score_categorical_logits_parts(scores, labels)
    else:
        scored = _score(plan, scores, labels, targets, kept)
    if plan.mode is Mode.multilabel:
        width = scores.shape[1]
        cells = np.repeat(local, width)
        weight = np.repeat(weight, width) if weight is not None else None
        if kept is not None:
            cells = cells[kept.ravel()]
            weight = weight[kept.ravel()] if weight is not None else None
    else:
        cells = local
    if scored.zero.any():
        warnings[dx.ZERO_PROBABILITY] = np.unique(cells[scored.zero])
    prepared = Prepared(start, n, len(local), cells, scored, weight, ids, warnings, in_unit, by)
    prepared.scores = scores  # (xent compare's distributions are computed from them)
    prepared.n_ignored, prepared.n_ignored_rows, prepared.kept = n_ignored, n_ignored_rows, kept
    if plan.metrics:
        batch_scores = BatchScores(
            plan.mode, plan.kind, plan.settings.eps, scores, labels, targets, scored, parts, kept
        )
        prepared.metric_inputs = {m.key: m.inputs(batch_scores) for m in plan.metrics}
    return prepared


def _without_ignored_labels(
    plan: Plan, batch: pa.RecordBatch
) -> tuple[pa.RecordBatch, NDArray[np.bool_] | None]:
    """``--ignore-label VALUE``: the batch with those rows' labels null, and which rows they
    are (PyTorch's ``ignore_index``: ``-100``, ``-100.0`` and ``"-100"`` are one value).
    Multilabel files are left to :func:`_labels`, which marks ignored cells."""
    wanted = plan.settings.ignore_label
    if wanted is None or plan.mode is Mode.multilabel:
        return batch, None
    name = plan.roles.label_columns[0]
    index = batch.schema.get_field_index(name)
    nulled, ignored = _without_value(batch.column(index), wanted)
    return batch.set_column(index, batch.schema.field(index), nulled), ignored


def _without_value(column: pa.Array, wanted: str) -> tuple[pa.Array, Bool]:
    """A label column with the entries equal to ``wanted`` (canonically) made null, and
    which entries those are."""
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    key = canonical(wanted)
    values = pc.unique(column.dictionary if pa.types.is_dictionary(column.type) else column)
    matching = [v for v in values.to_pylist() if v is not None and canonical(v) == key]
    if not matching:
        return column, np.zeros(len(column), bool)
    plain = column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
    hit = pc.is_in(plain, value_set=pa.array(matching, plain.type))
    ignored = np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), bool)
    return pc.if_else(pa.array(ignored), pa.nulls(len(column), column.type), column), ignored


def ignored_cells_in(roles: Roles, wanted: str, batch: pa.RecordBatch, source: str) -> Bool | None:
    """Multilabel ``--ignore-label``: the cells (rows, labels) of a batch that hold VALUE, read
    before there is a plan (the sample that settles the kind reads no padded cell's score).
    None when they cannot be told here (the batch's own checks report why)."""
    if not roles.label_list:
        hits = [_without_value(batch.column(name), wanted)[1] for name in roles.label_columns]
        return np.column_stack(hits)
    number = _as_number(wanted)
    if number is None:
        return None
    name = roles.label_columns[0]
    array = batch.column(name)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    try:
        return np.asarray(list_matrix(array, source, name) == number)
    except (XentError, pa.ArrowException):
        return None


NEUTRAL_SCORE = {Kind.logits: 0.0, Kind.probs: 0.5, Kind.log_probs: -math.log(2.0)}


def _ignored_cells(plan: Plan, labels: Int, scores: Float) -> tuple[Bool, Int, Float]:
    """Multilabel ``--ignore-label``: which cells are ignored, and the labels and scores with
    those cells made harmless (label 0, p = 1/2): never scored, range-checked or warned
    about, whatever a padded cell's score holds."""
    ignored = np.asarray(labels == IGNORED)
    if not ignored.any():
        return ignored, labels, scores
    labels = np.where(ignored, 0, labels)
    return ignored, labels, np.where(ignored, NEUTRAL_SCORE.get(plan.kind, 0.0), scores)


def _labels(plan: Plan, batch: pa.RecordBatch, source: str, width: int) -> tuple[Int, Float | None]:
    """Class index per row (multilabel: per cell), or soft targets; ``width``: the scores
    per row, which a list of targets or labels must match."""
    roles = plan.roles
    if roles.target_columns:
        if roles.target_list:
            name = roles.target_columns[0]
            targets = list_matrix(batch.column(name), source, name)
            targets = _check_width(targets, width, source, name, "targets")
        else:
            targets = float_matrix(batch, roles.target_columns, source)
        if targets.shape[1] != width:
            raise XentError(
                f"{source}: {targets.shape[1]} soft targets per row but {width} scores",
                hint="give one target probability per class, in the order of the scores",
            )
        if (targets < 0).any():
            raise XentError(f"{source}: soft targets must be >= 0 (found a negative value)")
        return np.zeros(batch.num_rows, np.intp), targets
    if roles.label_list:
        return _label_lists(plan, batch, source, width), None
    columns = []
    wanted = plan.settings.ignore_label if plan.mode is Mode.multilabel else None
    for name in roles.label_columns:
        array, ignored = batch.column(name), None
        if wanted is not None:  # a cell of VALUE is marked IGNORED, not looked up
            array, ignored = _without_value(array, wanted)
        try:
            codes, unknown = encode(array, plan.lookup)
        except pa.ArrowNotImplementedError:
            kind = batch.column(name).type
            raise XentError(f"{source}: label column {name!r} holds {kind} values") from None
        if unknown:
            error = plan.lookup.unknown_error(unknown, source, f"column {name!r}")
            if roles.list_column and plan.settings.classes is None and plan.mode is not Mode.binary:
                error.hint = (
                    f"the {len(plan.class_names)} scores of list column {roles.list_column!r} "
                    "are classes 0..K-1 by position: name them in order with --classes "
                    "NAME,NAME,..."
                )
            raise error
        columns.append(codes if ignored is None else np.where(ignored, IGNORED, codes))
    if plan.mode is Mode.multilabel:
        return np.column_stack(columns), None
    return columns[0], None


def _check_width(values: Float, width: int, source: str, column: str, what: str) -> Float:
    """A list column of per-class values (targets, labels) must hold one per score (a batch
    of only null lists: NaN in each)."""
    if values.shape[1] == width:
        return values
    if np.isnan(values).all():
        return np.full((len(values), width), np.nan)
    raise XentError(
        f"{source}: column {column!r} holds {values.shape[1]} {what} per row but there are "
        f"{width} scores per row",
        hint=f"give one of the {what} per class, in the order of the scores",
    )


def _label_lists(plan: Plan, batch: pa.RecordBatch, source: str, width: int) -> Int:
    """Multilabel labels from one list column (``labels: [0, 1, 1]``): 0/1 per cell,
    MISSING for a null list or element, IGNORED for --ignore-label's value."""
    name = plan.roles.label_columns[0]
    array = batch.column(name)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_boolean(array.type.value_type):
        array = array.cast(pa.list_(pa.float64()))
    try:
        values = list_matrix(array, source, name)
    except XentError as error:
        if "not numeric" not in error.message:
            raise
        raise XentError(
            f"{source}: label column {name!r} holds lists of {array.type.value_type}, not of 0/1",
            hint="a multilabel list holds 0 or 1 for each label, in the order of the scores",
        ) from None
    values = _check_width(values, width, source, name, "labels")
    codes = np.full(values.shape, MISSING, dtype=np.intp)
    codes[values == 0] = 0
    codes[values == 1] = 1
    other = ~np.isnan(values) & (values != 0) & (values != 1)
    number = _as_number(plan.settings.ignore_label)
    if number is not None:
        ignored = values == number
        codes[ignored] = IGNORED
        other &= ~ignored
    if other.any():
        shown = sorted({float(v) for v in values[other]})[:5]
        raise plan.lookup.unknown_error(shown, source, f"column {name!r}")
    return codes


def _as_number(wanted: str | None) -> float | None:
    """--ignore-label's value as the number a list of floats holds where it is that value
    (canonically: ``-100`` is -100.0); None when no float is that value."""
    key = canonical(wanted) if wanted is not None else None
    if key is None:
        return None
    try:
        number = float(key)
    except ValueError:
        return None
    return number if canonical(number) == key else None


def _check_values(
    plan: Plan, scores: Float, local: Int, start: int, source: str, warnings: dict[str, Int]
) -> tuple[Float, bool]:
    """Range checks for the kind, the not-normalized warning and --renormalize; and, for
    logits named so by an option or column, whether they all look like probabilities."""
    categorical = plan.mode is Mode.categorical
    renormalize = plan.settings.renormalize
    in_unit = True
    if plan.kind is Kind.probs:
        outside = (scores < 0.0) | (scores > 1.0)
        if scores.ndim == 2:
            outside = np.asarray(outside.any(axis=1))
        if outside.any():
            _wrong_kind(plan, "outside [0, 1]", scores, outside, local, start, source)
        if categorical:
            sums = row_sums(scores)
            off = np.abs(sums - 1.0) > NORMALIZATION_TOLERANCE
            if off.any():
                warnings[dx.NOT_NORMALIZED] = local[off]
                if renormalize:
                    scale = np.where(sums > 0, sums, 1.0)
                    scores = scores / scale[:, None]
    elif plan.kind is Kind.log_probs:
        positive = scores > LOG_PROB_SLACK
        if scores.ndim == 2:
            positive = np.asarray(positive.any(axis=1))
        if positive.any():
            _wrong_kind(plan, "above 0", scores, positive, local, start, source)
        scores = np.minimum(scores, 0.0)
        if categorical:
            off = np.abs(logsumexp_rows(scores)) > NORMALIZATION_TOLERANCE
            if off.any():
                if plan.kind_source == "values":
                    _wrong_kind(plan, "not normalized", scores, off, local, start, source)
                warnings[dx.NOT_NORMALIZED] = local[off]
                if renormalize:
                    scores = scores - logsumexp_rows(scores)[:, None]
    elif plan.checks_probabilities_as_logits:
        in_unit = bool(scores.min() >= 0.0 and scores.max() <= 1.0)
        if in_unit and categorical:
            in_unit = bool((np.abs(row_sums(scores) - 1.0) <= NORMALIZATION_TOLERANCE).all())
    return scores, in_unit


def _wrong_kind(
    plan: Plan, problem: str, scores: Float, bad: Bool, local: Int, start: int, source: str
) -> None:
    first = int(np.flatnonzero(bad)[0])
    row = start + int(local[first])
    values = scores[first]
    shown = f"{values:.6g}" if np.ndim(values) == 0 else ", ".join(f"{v:.6g}" for v in values[:4])
    kind = plan.kind.value
    if plan.kind_source == "values":
        raise XentError(
            f"{source}: the first rows looked like {kind}, but row {row} is {problem} ({shown})",
            hint="pass --kind logits (or the right --kind) to say what the scores are",
        )
    said = "--kind" if plan.kind_source == "option" else f"the {plan.kind_source}"
    raise XentError(
        f"{source}: {said} says {kind}, but row {row} has scores {problem} ({shown})",
        hint="if these are raw model outputs, pass --kind logits",
    )


def _score(
    plan: Plan, scores: Float, labels: Int, targets: Float | None, kept: Bool | None = None
) -> Scored:
    eps = plan.settings.eps
    if targets is not None:
        return score_soft_targets(scores, targets, plan.kind, eps)
    if plan.mode is Mode.categorical:
        return score_categorical(scores, labels, plan.kind, eps)
    if plan.mode is Mode.binary:
        return score_binary(scores[:, 0], labels, plan.kind, eps)
    width = scores.shape[1]
    columns = np.tile(np.arange(width, dtype=np.intp), len(scores))
    if kept is None:
        cells = score_binary(scores.ravel(), labels.ravel(), plan.kind, eps)
        return cells.as_cells(columns)
    keep = kept.ravel()  # multilabel --ignore-label: the cells left to score, row-major
    cells = score_binary(scores.ravel()[keep], labels.ravel()[keep], plan.kind, eps)
    return cells.as_cells(columns[keep])
