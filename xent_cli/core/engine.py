"""One streaming pass: sources -> plan -> prepared batches -> mergeable state -> report.

:class:`Scan` makes the plan once (from the first input's schema, the options and a fixed
sample of its first rows), then yields every input batch validated and scored
(:func:`xent_cli.core.prepare.prepare`). :meth:`Scan.state` folds them into an
:class:`~xent_cli.core.state.EvalState` (finished into a report by ``core.report``);
``xent rows`` streams the same batches. Every command shares this one loop.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.core.columns import Roles, resolve_roles
from xent_cli.core.plan import Plan, make_plan, sample_rows
from xent_cli.core.prepare import Prepared, ignored_cells_in, prepare
from xent_cli.core.state import EvalState
from xent_cli.errors import XentError
from xent_cli.io.arrays import is_text
from xent_cli.io.base import LABEL_TEXT, SLICE_TEXT, BatchSource
from xent_cli.io.matrices import finite_rows, float_matrix, list_matrix
from xent_cli.io.parquet import ParquetSource
from xent_cli.io.prefetch import prefetch
from xent_cli.options import (
    InputFormat,
    Kind,
    Mode,
    Settings,
)

READ_AHEAD_BYTES = 4 << 20  # smaller inputs are read in the calling thread: cheaper than a thread

ProgressCallback = Callable[[int, "int | None"], None]
"""Called after each batch with (bytes read so far, total bytes or None if unknown)."""

Batches = Iterator[pa.RecordBatch]


class Scan:
    """One pass over the inputs: the frozen plan, then the prepared batches, in input order."""

    def __init__(
        self,
        sources: Sequence[BatchSource],
        settings: Settings,
        on_progress: ProgressCallback | None = None,
        *,
        first_row: int = 0,
        plan: Plan | None = None,
    ) -> None:
        """``first_row``: the global number of the inputs' first row, when they are one part
        of a larger input (warnings name rows by it). ``plan``: one made already (a worker
        reading its part of the input under the client's plan)."""
        if not sources:
            raise XentError("no input given")
        self.sources = list(sources)
        self.on_progress = on_progress
        self.first_row = first_row
        first = self.sources[0]
        if plan is not None:
            self._first = self._read(first, plan.roles)
            self.plan = plan
            return
        roles = resolve_roles(first.schema, settings, first.name)
        if settings.ignore_label is not None and not roles.label_columns:
            raise XentError(
                "--ignore-label leaves out rows (multilabel: cells) by their label: it needs "
                "a label column (soft targets have no label)",
                hint="leave rows out by an empty label (counted as missing-label)",
            )
        self._first = self._read(first, roles)
        sample, width, labels = None, None, None
        if (
            roles.kind is Kind.auto
            or (roles.list_column and not roles.class_names)
            or roles.scores_guessed
            or (roles.mode is Mode.binary and settings.positive is None)
        ):
            ignore = settings.ignore_label if roles.mode is Mode.multilabel else None
            sample, width, labels, self._first = _sample(roles, self._first, first.name, ignore)
        plan = make_plan(
            settings, roles, sample, width, labels=labels, schema=first.schema, source=first.name
        )
        if settings.by is not None:
            from xent_cli.core.slicer import make_slicer

            slicer, self._first = make_slicer(settings.by, first.schema, self._first, first.name)
            plan = dataclasses.replace(plan, slicer=slicer)
        self.plan = plan

    @property
    def files(self) -> list[str]:
        return [s.name for s in self.sources]

    def input_names(self) -> str:
        """The inputs, for messages: the first file, and how many more."""
        names = self.files
        return names[0] if len(names) == 1 else f"{names[0]} (and {len(names) - 1} more)"

    def _read(self, source: BatchSource, roles: Roles) -> Batches:
        needed = roles.needed_columns
        present = set(source.schema.names)
        missing = [c for c in needed if c not in present]
        if missing:
            raise XentError(
                f"{source.name}: column {missing[0]!r} not found "
                f"(it is in {self.sources[0].name}; several files must share their columns)"
            )
        batches = source.batches(needed, _text_types(roles, source))
        if source.size is None or source.size > READ_AHEAD_BYTES:
            batches = prefetch(batches)
        return batches

    def batches(self) -> Iterator[Prepared]:
        """Every batch of every input, validated and scored (row numbers over all inputs)."""
        start = self.first_row
        for i, source in enumerate(self.sources):
            stream = self._first if i == 0 else self._read(source, self.plan.roles)
            for batch in stream:
                if batch.num_rows:
                    yield prepare(self.plan, batch, source.name, start)
                    start += batch.num_rows
                if self.on_progress is not None:
                    self._report_progress()

    def state(self) -> EvalState:
        """The whole pass folded into one state."""
        state = EvalState.empty(self.plan)
        for batch in self.batches():
            state.add(batch)
        if self.plan.mode is Mode.binary:
            state.labels = self.plan.lookup.learned()
        return state

    def _report_progress(self) -> None:
        assert self.on_progress is not None
        sizes = [s.size for s in self.sources]
        total = None if None in sizes else sum(s or 0 for s in sizes)
        self.on_progress(sum(s.bytes_done() for s in self.sources), total)


def _text_types(roles: Roles, source: BatchSource) -> dict[str, pa.DataType]:
    """Types to parse text inputs with: floats for numbers, dictionary-encoded labels."""
    floats = [*roles.score_columns, *(() if roles.target_list else roles.target_columns)]
    if roles.weight_column:
        floats.append(roles.weight_column)
    types: dict[str, pa.DataType] = dict.fromkeys(floats, pa.float64())
    if roles.list_column:
        types[roles.list_column] = pa.list_(pa.float64())
    fmt = getattr(source, "format", None)
    if fmt is InputFormat.jsonl:
        # JSON that quotes its numbers ("0.5") is read as text and converted afterwards
        for column in list(types):
            seen = source.schema.field(column).type
            if is_text(seen):
                types[column] = seen
    if isinstance(source, ParquetSource):
        for column in roles.by_values:  # read as the file's dictionaries where it is text
            types.setdefault(column, SLICE_TEXT)
    if fmt in (InputFormat.csv, InputFormat.tsv):
        for column in roles.by_columns:  # --by: as text (binned: converted afterwards)
            types.setdefault(column, SLICE_TEXT if column in roles.by_values else pa.string())
        for column in roles.label_columns:
            types[column] = LABEL_TEXT
        if roles.id_column:
            types[roles.id_column] = pa.string()
    return types


def _sample(
    roles: Roles, batches: Batches, source: str, ignore: str | None = None
) -> tuple[NDArray[np.float64], int | None, list[Any], Batches]:
    """The scores of the first rows whose scores are all finite (how many depends on the
    width only), the width of a list column, the distinct values of those rows' label (with
    one label column; else none), and the batches again from the first. ``ignore``:
    multilabel --ignore-label's value, whose cells' scores are read as 1/2 (a probability,
    and a logit: a multilabel kind is settled by the range of the values alone)."""
    seen: list[pa.RecordBatch] = []
    rows: list[NDArray[np.float64]] = []
    labels: dict[Any, None] = {}
    label = roles.label_columns[0] if len(roles.label_columns) == 1 else None
    if roles.label_list:
        label = None  # a list of 0/1 per row: no label values to learn from
    wanted, width = 0, None
    for batch in batches:
        seen.append(batch)
        if roles.list_column:
            scores = list_matrix(batch.column(roles.list_column), source, roles.list_column)
        else:
            scores = float_matrix(batch, roles.score_columns, source)
        if ignore is not None:
            hit = ignored_cells_in(roles, ignore, batch, source)
            if hit is not None and hit.shape == scores.shape and hit.any():
                scores = np.where(hit, 0.5, scores)
        mask = finite_rows(scores, allow_neg_inf=True)
        finite = scores[mask]
        if not len(finite):
            continue
        if width is None:
            width = scores.shape[1]
            wanted = sample_rows(width)
        if finite.shape[1] != width:
            break  # a ragged list column: the batch's own check reports it
        taken = finite[: wanted - sum(len(r) for r in rows)]
        rows.append(taken)
        if label is not None:
            chosen = np.flatnonzero(mask)[: len(taken)].astype(np.int64)
            indices = pa.Array.from_buffers(pa.int64(), len(chosen), [None, pa.py_buffer(chosen)])
            labels.update(dict.fromkeys(_distinct(batch.column(label).take(indices))))
        if sum(len(r) for r in rows) >= wanted:
            break
    sample = np.concatenate(rows) if rows else np.empty((0, width or 1))
    return sample, width, list(labels), itertools.chain(seen, batches)


def _distinct(array: pa.Array) -> list[Any]:
    """A label column's distinct values as Python values (nulls and unhashables left out)."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    values = array.unique().drop_null().to_pylist()
    return [v for v in values if isinstance(v, (str, int, float, bool, bytes))]
