"""Record batch columns -> float64 numpy matrices, and which rows hold usable numbers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.errors import XentError
from xent_cli.io.arrays import floats, integers, null_mask, numbers

Float = NDArray[np.float64]
Bool = NDArray[np.bool_]

WIDE_COLUMNS = 64  # from this many score columns, Arrow builds the matrix in one call
MAX_MAGNITUDE = 1e100  # scores and weights beyond this are skipped like inf: their products
# and sums (weight x loss, summed over rows) could overflow float64


# -- packed columns ------------------------------------------------------------------------------
# A reader may hand on a run of adjacent float columns (thousands of score columns of a wide
# CSV) as one fixed-size-list column of float64, in place of thousands of Arrow arrays whose
# per-column overhead would cost more than the numbers (see :mod:`xent_cli.io.widetext`). Such a
# field's name starts with PACKED_PREFIX, its metadata lists the columns it holds, and the
# batch's schema metadata has PACKED_MARK. ``float_matrix`` and ``column`` read either form.

PACKED_PREFIX = "\x00xent.packed:"
PACKED_MARK = b"xent.packed"
PACKED_COLUMNS = b"xent.columns"
_PACKED_INDEX: dict[str, tuple[tuple[str, ...], dict[str, int]]] = {}  # field name -> columns


def packed_field(columns: Sequence[str]) -> pa.Field:
    """The field of one packed run of float64 columns (named by a digest of the names)."""
    import hashlib  # (its import costs 3 ms: only for wide files)

    names = json.dumps(list(columns))
    digest = hashlib.sha1(names.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    field_type = pa.list_(pa.float64(), len(columns))
    return pa.field(PACKED_PREFIX + digest, field_type, metadata={PACKED_COLUMNS: names})


def packed_schema(fields: Sequence[pa.Field]) -> pa.Schema:
    """A batch schema that holds packed fields (marked, so readers of a batch look for them)."""
    return pa.schema(fields, metadata={PACKED_MARK: b"1"})


def _packed_runs(batch: pa.RecordBatch) -> list[tuple[int, tuple[str, ...], dict[str, int]]]:
    """The batch's packed fields: (field position, the columns, column -> position in the run)."""
    metadata = batch.schema.metadata
    if not metadata or PACKED_MARK not in metadata:
        return []
    runs = []
    for position, field in enumerate(batch.schema):
        if field.name.startswith(PACKED_PREFIX):
            known = _PACKED_INDEX.get(field.name)
            if known is None:
                names = tuple(json.loads((field.metadata or {})[PACKED_COLUMNS]))
                known = _PACKED_INDEX[field.name] = (names, {n: i for i, n in enumerate(names)})
            runs.append((position, *known))
    return runs


def _packed_values(batch: pa.RecordBatch, position: int, source: str) -> Float:
    """A packed field's values as an (n, width) row-major matrix (a view)."""
    array = batch.column(position)
    width = array.type.list_size
    values = floats(array.flatten(), source, None)
    return values.reshape(len(array), width)


def column(batch: pa.RecordBatch, name: str, source: str = "") -> pa.Array:
    """The batch's column ``name``, also when it is one of a packed run's."""
    index = batch.schema.get_field_index(name)
    if index >= 0:
        return batch.column(index)
    for position, _, where in _packed_runs(batch):
        if name in where:
            values = np.ascontiguousarray(_packed_values(batch, position, source)[:, where[name]])
            return pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)])
    raise KeyError(name)


def _from_packed(
    batch: pa.RecordBatch,
    runs: list[tuple[int, tuple[str, ...], dict[str, int]]],
    columns: Sequence[str],
    source: str,
) -> Float:
    """``float_matrix`` of a batch with packed runs: a view when the columns are one stretch
    of a run in its order (the usual case), else gathered column by column."""
    for position, names, where in runs:
        start = where.get(columns[0])
        if start is not None and tuple(names[start : start + len(columns)]) == tuple(columns):
            return _packed_values(batch, position, source)[:, start : start + len(columns)]
    out = np.empty((batch.num_rows, len(columns)), dtype=np.float64)
    packed = {position: _packed_values(batch, position, source) for position, _, _ in runs}
    for j, name in enumerate(columns):
        found = next(((p, w[name]) for p, _, w in runs if name in w), None)
        if found is not None:
            out[:, j] = packed[found[0]][:, found[1]]
        else:
            out[:, j] = numbers(batch.column(name), source, name)
    return out


def float_matrix(batch: pa.RecordBatch, columns: Sequence[str], source: str) -> Float:
    """Columns as one (n, k) float64 matrix.

    Few columns: each is copied once, contiguously, into a column-major matrix, so numpy's
    row reductions run as vectorised passes over whole columns. Many float columns of one
    type: Arrow builds a row-major tensor in one call (1000 columns: 4 ms instead of 13 ms
    per batch), which the row reductions need (column-major, arg-max alone copies it).
    Columns a reader packed into one list column are a view of it.
    """
    runs = _packed_runs(batch)
    if runs:
        return _from_packed(batch, runs, columns, source)
    if len(columns) >= WIDE_COLUMNS:
        selected = batch.select(list(columns))
        types = set(selected.schema.types)
        if len(types) == 1 and pa.types.is_floating(next(iter(types))):  # float64 or float32
            try:
                tensor = selected.to_tensor(null_to_nan=True, row_major=True)
                return cast("Float", tensor.to_numpy().astype(np.float64, copy=False))
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
    return cast("Float", out.T)


def list_matrix(array: pa.Array, source: str, column: str) -> Float:
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


def finite_rows(scores: Float, *, allow_neg_inf: bool) -> Bool:
    """Rows whose scores are all usable numbers (log-probabilities may also be -inf).

    Beyond ±1e100 a number is as good as infinite: differences, products and sums of such
    numbers overflow float64, so those rows are skipped and reported like NaN and inf.
    """
    if all_usable(scores):  # the common case, in two reductions
        return np.ones(len(scores), bool)
    if not allow_neg_inf:
        return np.asarray(usable(scores).all(axis=1))
    ok = ((scores <= MAX_MAGNITUDE) & ((scores >= -MAX_MAGNITUDE) | np.isneginf(scores))).all(1)
    return np.asarray(ok & ~np.isneginf(scores).all(axis=1))  # all -inf: no probability anywhere


def usable(values: Float) -> Bool:
    """Finite and within ±1e100 (NaN compares false)."""
    return np.abs(values) <= MAX_MAGNITUDE


def all_usable(values: Float) -> bool:
    """Whether every value is finite and within ±1e100: a min and a max (NaN propagates)."""
    return bool(values.size and -MAX_MAGNITUDE <= values.min() and values.max() <= MAX_MAGNITUDE)
