"""In-memory inputs of the Python API: a pyarrow Table (pandas and polars frames become one)
and any Arrow stream, read batch by batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from xent_cli.errors import XentError
from xent_cli.io import base
from xent_cli.io.base import arrow_error


class TableSource:
    """An in-memory Arrow table or pandas DataFrame (the Python API)."""

    def __init__(self, table: pa.Table, name: str = "<dataframe>") -> None:
        self.name = name
        self._table = table
        self.schema = table.schema
        self.size: int | None = None

    def bytes_done(self) -> int:
        return 0

    @classmethod
    def from_pandas(cls, frame: Any) -> TableSource:
        frame = frame.copy(deep=False)
        frame.columns = [str(c) for c in frame.columns]
        return cls(pa.Table.from_pandas(frame, preserve_index=False))

    def batches(
        self, columns: Sequence[str], types: dict[str, pa.DataType], rows: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        yield from self._table.select(list(columns)).to_batches(
            max_chunksize=base.PARQUET_BATCH_ROWS if rows is None else rows
        )


class StreamSource:
    """A stream of Arrow record batches, read once and never whole (the Python API): a
    ``pyarrow.RecordBatchReader``, or any object with ``__arrow_c_stream__`` (a polars
    DataFrame, a duckdb relation, ...)."""

    def __init__(self, reader: pa.RecordBatchReader, name: str) -> None:
        self.name = name
        self._reader = reader
        self.schema = pa.schema([f.with_type(_without_views(f.type)) for f in reader.schema])
        self.size: int | None = None
        self._started = False

    def bytes_done(self) -> int:
        return 0

    def batches(
        self, columns: Sequence[str], types: dict[str, pa.DataType], rows: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        if self._started:
            raise XentError(f"{self.name}: a stream of record batches can be read only once")
        self._started = True
        wanted = list(columns)
        plain = {c: self.schema.field(c).type for c in wanted}
        try:
            for batch in self._reader:
                batch = batch.select(wanted)
                if batch.schema.types != list(plain.values()):
                    arrays = [a.cast(plain[c]) for a, c in zip(batch.columns, wanted, strict=True)]
                    batch = pa.RecordBatch.from_arrays(arrays, names=wanted)
                for start in range(0, batch.num_rows, base.PARQUET_BATCH_ROWS):
                    yield batch.slice(start, base.PARQUET_BATCH_ROWS)
        except (pa.ArrowException, OSError) as error:
            raise arrow_error(self.name, error) from None


def _without_views(field_type: pa.DataType) -> pa.DataType:
    """Strings as large strings, not views (polars' ``string_view``, which several Arrow
    kernels do not take), also as a dictionary's values (a polars Enum or Categorical)."""
    if field_type == pa.string_view():
        return pa.large_string()
    if field_type == pa.binary_view():
        return pa.large_binary()
    if pa.types.is_dictionary(field_type):
        values = _without_views(field_type.value_type)
        if values != field_type.value_type:
            return pa.dictionary(field_type.index_type, values, field_type.ordered)
    return field_type
