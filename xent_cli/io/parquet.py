"""Parquet as Arrow record batches: the schema from the footer, then only the needed columns
in bounded batches (large, wide row groups by :mod:`xent_cli.io.wideparquet`).
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from xent_cli.io import base
from xent_cli.io.arrays import is_text
from xent_cli.io.base import SLICE_TEXT, STDIN, Remote, arrow_error

PARQUET_BATCH_VALUES = 1 << 22  # rows x score values per batch: 32 MiB of float64
PARQUET_BUFFER_BYTES = 1 << 16
#: A part whose values take at most this as float64 is decoded whole, then cut into batches.
WHOLE_PART_BYTES = 32 << 20


class ParquetSource:
    """A Parquet file, read one row-group batch at a time and only the needed columns."""

    def __init__(
        self,
        path: str,
        stdin: Any = None,
        row_groups: Sequence[int] | None = None,
        remote: Remote | None = None,
    ) -> None:
        """``stdin``: for path ``-``, standard input as ``_stdin_input`` opened it;
        ``row_groups``: read only these (one part of the file, for a Dask task);
        ``remote``: the file on an object store, read by range requests."""
        self.row_groups = None if row_groups is None else list(row_groups)
        import pyarrow.parquet as pq

        self.path = path
        self.name = "<stdin>" if path == STDIN else path.split("?", 1)[0]
        try:
            target: Any = path
            if path == STDIN:
                target = pa.BufferReader(stdin.read())
            elif remote is not None:
                target = remote.fs.open_input_file(remote.path)
            # Buffered column reads: a wide row group is not loaded whole, column by column.
            # Remote: pre-buffered, so a row group's column chunks come in a few coalesced
            # range requests rather than one request per 64 KiB.
            buffering = {"pre_buffer": True} if remote is not None else {
                "buffer_size": PARQUET_BUFFER_BYTES, "pre_buffer": False
            }  # fmt: skip
            file = pq.ParquetFile(target, **buffering)
            self._reopen = functools.partial(pq.ParquetFile, target, **buffering)
        except (pa.ArrowException, OSError, ValueError) as error:
            if remote is not None and not isinstance(error, pa.ArrowInvalid):
                raise remote.error(self.name, error) from None
            raise arrow_error(self.name, error) from None
        self.schema = file.schema_arrow
        self.metadata = file.metadata  # (the footer, parsed once)
        self._local_path = None if path == STDIN or remote is not None else path
        # A file on disk is opened again for each pass, with this footer, and closed after
        # it: a directory of many files holds no open file per file (a limit of 256 or 1024
        # open files is common). Standard input and a remote handle stay as they are.
        self._file = None if self._local_path is not None else file
        if self._file is None:
            file.close()
        if remote is not None:
            self.size = remote.size
        else:
            self.size = None if path == STDIN else os.path.getsize(path)
        self._total_rows = self.metadata.num_rows
        self._rows_read = 0

    def bytes_done(self) -> int:
        return int((self.size or 0) * self._rows_read / max(self._total_rows, 1))

    def parts(
        self, columns: Sequence[str], types: dict[str, pa.DataType], rows: int
    ) -> list[RowGroups] | None:
        """The file as parts that several threads can decode at once, each with a reader of
        its own: its row groups, consecutive ones joined up to ``rows`` rows. None when the
        file must be streamed by one reader: standard input, an object store, packed scores.
        (Decoding a part whole in the thread that scores it keeps both cores busy, where one
        thread reading ahead for two left them waiting on each other.)"""
        from xent_cli.io import wideparquet

        if self._local_path is None or wideparquet.packed_columns(self.schema, columns, types):
            return None
        text = tuple(self._text_columns(columns, types))
        rows = min(rows, self._batch_rows(columns))  # (wide rows, e.g. top-k lists: fewer)
        groups = self.row_groups
        if groups is None:
            groups = list(range(self.metadata.num_row_groups))
        metadata = self.metadata
        parts: list[RowGroups] = []
        run: list[int] = []
        held = 0
        for group in groups:
            n = metadata.row_group(group).num_rows
            if run and held + n > rows:
                parts.append(RowGroups(self, tuple(run), held, tuple(columns), text, rows))
                run, held = [], 0
            run.append(group)
            held += n
        if run:
            parts.append(RowGroups(self, tuple(run), held, tuple(columns), text, rows))
        return parts

    def _thread_reader(self, text: tuple[str, ...]) -> Any:
        """This thread's reader of the file (the footer parsed once, by the first); a thread
        keeps one reader open, of the file it reads now (a directory of files: not one open
        file per file and thread)."""
        held = getattr(_THREAD, "reader", None)
        if held is not None and held[0] is self and held[1] == text:
            return held[2]
        if held is not None and held[2] is not held[0]._file:
            held[2].close()
        file = self._reader(text)
        _THREAD.reader = (self, text, file)
        return file

    def _text_columns(self, columns: Sequence[str], types: dict[str, pa.DataType]) -> list[str]:
        """The ``--by`` columns of text, read as the file's own dictionaries."""
        return [
            c for c in columns if types.get(c) == SLICE_TEXT and is_text(self.schema.field(c).type)
        ]

    def _batch_rows(self, columns: Sequence[str]) -> int:
        """Rows per batch so that a batch holds about PARQUET_BATCH_VALUES values (at least
        256 rows)."""
        metadata = self.metadata
        if metadata.num_row_groups == 0 or metadata.num_rows == 0:
            return PARQUET_BATCH_VALUES
        values = group_values(metadata, 0, columns)
        per_row = max(values / max(metadata.row_group(0).num_rows, 1), 1.0)
        return int(max(256, PARQUET_BATCH_VALUES / per_row))

    def batches(
        self, columns: Sequence[str], types: dict[str, pa.DataType], rows: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Batches of the columns, row group after row group. A large row group of many
        float columns (scores) is read a block of columns at a time (see
        :mod:`xent_cli.io.wideparquet`), the others streamed by ``iter_batches`` in batches
        of ``rows`` rows (None: about PARQUET_BATCH_VALUES values each)."""
        from xent_cli.io import wideparquet

        groups = self.row_groups
        if groups is None:
            groups = list(range(self.metadata.num_row_groups))
        packed = wideparquet.packed_columns(self.schema, columns, types)
        budget = self._batch_rows(columns)  # (wide rows, e.g. top-k lists: fewer per batch)
        rows = min(base.PARQUET_BATCH_ROWS if rows is None else rows, budget)
        try:
            # (--by values as the file's own dictionaries: no hashing of our own)
            file = self._reader(tuple(self._text_columns(columns, types)))
        except (pa.ArrowException, OSError) as error:
            raise arrow_error(self.name, error) from None
        try:
            for large, run in itertools.groupby(
                groups, key=lambda g: wideparquet.is_large(file, g, packed)
            ):
                if large:
                    parts = (
                        wideparquet.group_batches(file, g, columns, packed, self.name) for g in run
                    )
                    stream: Iterator[pa.RecordBatch] = itertools.chain.from_iterable(parts)
                else:
                    stream = file.iter_batches(
                        batch_size=rows, row_groups=list(run), columns=list(columns),
                        use_threads=True,
                    )  # fmt: skip
                for batch in stream:
                    self._rows_read += batch.num_rows
                    yield batch
        except (pa.ArrowException, OSError) as error:
            raise arrow_error(self.name, error) from None
        finally:
            if file is not self._file:
                file.close()

    def _reader(self, text: tuple[str, ...] = ()) -> Any:
        """A reader of the file (``text``: columns read as their dictionaries): a new one of
        a file on disk, which the caller closes, else the one handle."""
        import pyarrow.parquet as pq

        if self._local_path is not None:
            return pq.ParquetFile(
                self._local_path, metadata=self.metadata, buffer_size=PARQUET_BUFFER_BYTES,
                pre_buffer=False, read_dictionary=list(text) or None,
            )  # fmt: skip
        return self._reopen(read_dictionary=list(text)) if text else self._file


def group_values(metadata: Any, group: int, columns: Sequence[str]) -> int:
    """The values of ``columns`` in row group ``group`` (a list column's elements each)."""
    chunks = metadata.row_group(group)
    wanted = set(columns)
    return sum(
        chunks.column(i).num_values
        for i in range(chunks.num_columns)
        if chunks.column(i).path_in_schema.split(".")[0] in wanted
    )


_THREAD = threading.local()  # a thread's reader of the Parquet file it reads parts of


class RowGroups:
    """Consecutive row groups of a Parquet file, decoded by the thread that takes them."""

    __slots__ = ("batch_rows", "columns", "groups", "rows", "source", "text")

    def __init__(
        self,
        source: ParquetSource,
        groups: tuple[int, ...],
        rows: int,
        columns: tuple[str, ...],
        text: tuple[str, ...],
        batch_rows: int,
    ) -> None:
        self.source, self.groups, self.rows = source, groups, rows
        self.columns, self.text, self.batch_rows = columns, text, batch_rows

    def read(self) -> Iterator[pa.RecordBatch]:
        """The part's rows in batches of at most ``batch_rows`` rows, as even as they come:
        decoded whole when its values fit in WHOLE_PART_BYTES as float64, else streamed."""
        source = self.source
        try:
            file = source._thread_reader(self.text)
            values = sum(group_values(file.metadata, g, self.columns) for g in self.groups)
            if values * 8 <= WHOLE_PART_BYTES:
                table = file.read_row_groups(
                    list(self.groups), columns=list(self.columns), use_threads=False
                )
                if len(self.groups) > 1:
                    table = table.combine_chunks()
                pieces = max(1, -(-self.rows // self.batch_rows))
                batches: Iterator[pa.RecordBatch] = iter(
                    table.to_batches(max_chunksize=max(1, -(-self.rows // pieces)))
                )
            else:
                batches = file.iter_batches(
                    batch_size=self.batch_rows, row_groups=list(self.groups),
                    columns=list(self.columns), use_threads=False,
                )  # fmt: skip
            for batch in batches:
                source._rows_read += batch.num_rows
                yield batch
        except (pa.ArrowException, OSError) as error:
            raise arrow_error(source.name, error) from None
