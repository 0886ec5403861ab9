"""Arrow IPC files and streams (``.arrow``, ``.feather``, ``.ipc``): Feather v2 files and the
shards Hugging Face ``datasets`` writes (the IPC stream format). Local files are
memory-mapped, so a batch costs no copy until its columns are used; only the wanted columns
are handed on."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any, cast

import pyarrow as pa

from xent_cli.errors import XentError
from xent_cli.io import base
from xent_cli.io.base import STDIN, Remote, arrow_error

IPC_MAGIC = b"ARROW1"  # the file format starts (and ends) with it; a stream does not


class ArrowSource:
    """An Arrow IPC file or stream, read record batch by record batch."""

    def __init__(self, path: str, stdin: Any = None, remote: Remote | None = None) -> None:
        self.path = path
        self.name = "<stdin>" if path == STDIN else path.split("?", 1)[0]
        self._stdin = stdin
        self._remote = remote
        self._rows_read = 0
        if remote is not None:
            self.size: int | None = remote.size
        else:
            self.size = None if path == STDIN else os.path.getsize(path)
        reader, source = self._reader()
        self.schema = reader.schema
        self._total_rows = _rows_of(reader)
        # A file on disk is mapped again for each pass and closed after it: a directory of
        # many files holds no open file per file. Standard input and a remote handle are
        # read once, from the reader that read the schema.
        self._first: Any = reader if path == STDIN or remote is not None else None
        if self._first is None:
            source.close()

    def _open(self) -> Any:
        try:
            if self.path == STDIN:
                return pa.BufferReader(self._stdin.read())
            if self._remote is not None:
                return self._remote.fs.open_input_file(self._remote.path)
            return pa.memory_map(self.path, "r")
        except (OSError, pa.ArrowException) as error:
            if self._remote is not None:
                raise self._remote.error(self.name, error) from None
            raise arrow_error(self.name, error) from None

    def _reader(self) -> tuple[Any, Any]:
        """A file reader (random access) when the input is the IPC file format, else a
        stream reader; and what it reads from."""
        import pyarrow.ipc as ipc

        source = self._open()
        try:
            head = source.read(len(IPC_MAGIC))
            source.seek(0)
            if head == IPC_MAGIC:
                return ipc.open_file(source), source
            return ipc.open_stream(source), source
        except (pa.ArrowException, OSError) as error:
            source.close()
            raise XentError(
                f"{self.name}: not an Arrow IPC file or stream ({_short(error)})",
                hint="pass --input-format to say what the file is",
            ) from None

    def bytes_done(self) -> int:
        if not self._total_rows:
            return 0
        return int((self.size or 0) * min(self._rows_read / self._total_rows, 1.0))

    def batches(
        self, columns: Sequence[str], types: dict[str, pa.DataType], rows: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        source = None
        if self._first is not None:
            reader, self._first = self._first, None
        else:
            reader, source = self._reader()
        wanted = list(columns)
        try:
            for batch in _record_batches(reader):
                batch = batch.select(wanted)
                self._rows_read += batch.num_rows
                for start in range(0, batch.num_rows, base.PARQUET_BATCH_ROWS):
                    yield batch.slice(start, base.PARQUET_BATCH_ROWS)
        except (pa.ArrowException, OSError) as error:
            raise arrow_error(self.name, error) from None
        finally:
            if source is not None:  # (a file on disk: its pass is over)
                source.close()


def _record_batches(reader: Any) -> Iterator[pa.RecordBatch]:
    if hasattr(reader, "num_record_batches"):  # the file format
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)
    else:
        yield from reader


def _rows_of(reader: Any) -> int | None:
    """Rows of an IPC file (from its footer: no data read); unknown for a stream."""
    if hasattr(reader, "num_record_batches"):
        return cast(
            "int | None",
            sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches)),
        )
    return None


def _short(error: BaseException) -> str:
    return " ".join(str(error).split())[:120]
