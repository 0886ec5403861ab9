"""Large, wide Parquet row groups: read a block of columns at a time, handed on in rows.

pyarrow decodes a row group's column chunks whole (a chunk is often a single page), so
streaming the rows of one 100k x 1000 row group with ``ParquetFile.iter_batches`` holds all
of it decoded at once: 1.2 GB for 603 MB of float32 on disk, and seconds of per-batch work.
Here the score columns of such a row group are read a block of columns at a time (rows x
block values in memory), each block written row-major, in its own float type, to an
unlinked temporary file; then batches of rows are put together from the blocks' stretches of
that file and handed on with the scores packed into one fixed-size-list column of float64
(see :func:`xent_cli.io.matrices.packed_field`), the other needed columns beside them.

The values that reach the kernels are the ones ``iter_batches`` would give (the same float32
or float64 numbers, nulls as NaN, widened to float64 as :func:`~xent_cli.io.matrices.float_matrix`
does), so the report is byte-identical; memory is bounded by a block, not by the row group,
and the temporary file holds the row group's scores once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.errors import XentError
from xent_cli.io.arrays import numbers
from xent_cli.io.matrices import WIDE_COLUMNS, packed_field, packed_schema

#: A row group whose packed columns hold more than this as float64 is read in column blocks.
GROUP_BYTES = 64 << 20
#: Values of one column block (rows x columns, in the file's float type), about.
BLOCK_BYTES = 4 << 20
#: Values per batch handed on (rows x packed columns), about.
BATCH_VALUES = 1 << 20
FLOAT_TYPES: dict[pa.DataType, np.dtype[Any]] = {
    pa.float32(): np.dtype(np.float32),
    pa.float64(): np.dtype(np.float64),
}


def packed_columns(
    schema: pa.Schema, columns: Sequence[str], types: dict[str, pa.DataType]
) -> list[str]:
    """The columns to pack: of those to be read as floats (scores, targets, weight), the ones
    of the most common float type in the file, if there are at least WIDE_COLUMNS of them."""
    by_type: dict[pa.DataType, list[str]] = {}
    for name in columns:
        if types.get(name) != pa.float64() or schema.get_field_index(name) < 0:
            continue
        kind = schema.field(name).type
        if kind in FLOAT_TYPES:
            by_type.setdefault(kind, []).append(name)
    best = max(by_type.values(), key=len, default=[])
    return best if len(best) >= WIDE_COLUMNS else []


def is_large(file: Any, group: int, packed: Sequence[str]) -> bool:
    """Whether the packed columns of the row group hold more than GROUP_BYTES as float64."""
    return bool(packed) and file.metadata.row_group(group).num_rows * len(packed) * 8 > GROUP_BYTES


def group_batches(
    file: Any, group: int, columns: Sequence[str], packed: Sequence[str], name: str
) -> Iterator[pa.RecordBatch]:
    """Row group ``group`` of the ``pyarrow.parquet.ParquetFile`` (of input ``name``) as
    batches of about BATCH_VALUES scores: the ``packed`` columns in one packed field, the
    other ``columns`` as they are. Raises what pyarrow raises, or XentError if the temporary
    file cannot be written."""
    rows = file.metadata.row_group(group).num_rows
    if rows == 0:
        return
    batch_rows = max(16, BATCH_VALUES // len(packed))
    wanted = set(packed)
    others = [c for c in columns if c not in wanted]
    rest = file.read_row_group(group, columns=others, use_threads=True) if others else None
    dtype = FLOAT_TYPES[file.schema_arrow.field(packed[0]).type]
    field = packed_field(packed)
    schema = packed_schema([*(rest.schema if rest is not None else []), field])
    k = len(packed)
    with _spill_file(name) as spill:
        _write_blocks(file, group, packed, dtype, rows, batch_rows, spill, name)
        scratch = np.empty(min(batch_rows, rows) * k, dtype)
        for start in range(0, rows, batch_rows):
            n = min(batch_rows, rows - start)
            tile = scratch[: k * n].reshape(k, n)  # this batch's rows, column after column
            spill.seek(start * k * dtype.itemsize)
            if spill.readinto(tile.data) != tile.nbytes:
                raise OSError("the temporary copy of the scores ended early")
            matrix = np.empty((n, k))  # new each time: a batch may be kept
            matrix[...] = tile.T
            flat = pa.Array.from_buffers(pa.float64(), matrix.size, [None, pa.py_buffer(matrix)])
            arrays = [] if rest is None else [c.combine_chunks() for c in rest.slice(start, n)]
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, type=field.type))
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _write_blocks(
    file: Any,
    group: int,
    packed: Sequence[str],
    dtype: np.dtype[Any],
    rows: int,
    batch_rows: int,
    spill: Any,
    name: str,
) -> None:
    """Write the packed columns to ``spill``, read a block of columns at a time, laid out
    batch after batch of ``batch_rows`` rows, each batch's rows column after column: the
    batch that starts at row ``s`` is the (columns, rows) matrix at byte ``s * k * itemsize``."""
    k = len(packed)
    item = dtype.itemsize
    width = max(1, BLOCK_BYTES // (rows * item))
    for first in range(0, k, width):
        names = list(packed[first : first + width])
        table = file.read_row_group(group, columns=names, use_threads=True)
        values = [numbers(table.column(c), name, c).astype(dtype, copy=False) for c in names]
        del table
        for start in range(0, rows, batch_rows):
            n = min(batch_rows, rows - start)
            pieces = [v[start : start + n] for v in values]
            _write(spill, pieces, (start * k + first * n) * item, name)


def _spill_file(name: str) -> Any:
    import tempfile  # (not at every start: only wide row groups spill)

    try:
        return tempfile.TemporaryFile(prefix="xent-")
    except OSError as error:
        raise _no_room(name, error) from None


def _write(spill: Any, pieces: list[NDArray[Any]], offset: int, name: str) -> None:
    """Write the arrays one after another at ``offset`` of the file."""
    try:
        if hasattr(os, "pwritev"):
            done = os.pwritev(spill.fileno(), [p.data for p in pieces], offset)
            if done == sum(p.nbytes for p in pieces):
                return
        spill.seek(offset)  # no pwritev, or a short write: again, plainly
        for piece in pieces:
            spill.write(piece.data)
        spill.flush()
    except OSError as error:
        raise _no_room(name, error) from None


def _no_room(name: str, error: OSError) -> XentError:
    import tempfile

    return XentError(
        f"{name}: cannot write a temporary copy of a wide row group's scores in "
        f"{tempfile.gettempdir()} ({error.strerror or error})",
        hint="set TMPDIR to a directory with room for it (about the scores' size on disk)",
    )
