"""What every input format shares: the :class:`BatchSource` protocol a format implements,
the Arrow types asked for labels and slices, and Arrow's errors as one line.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from typing import IO, Any, Protocol

import pyarrow as pa

from xent_cli.errors import XentError

STDIN = "-"
#: Schema metadata saying what a row is: ``b"documents"`` for rows that are whole documents
#: with no token count (lm-evaluation-harness samples), so that their loss is not per token.
ROWS_ARE = b"xent.rows"
# Text parsed per task. 2 MiB chunks parse faster than 8 MiB ones (medians of 15 runs: 1M x 10
# CSV 0.49 s vs 0.58 s, 10M binary 0.66 vs 0.68 s): their buffers stay in cache and are reused
# rather than faulted in afresh. Memory stays bounded however wide the rows.
BLOCK_BYTES = 2 << 20
PARQUET_BATCH_ROWS = 65_536
#: How labels are asked for from text: dictionary-encoded, integers decoded as digits.
LABEL_TEXT = pa.dictionary(pa.int32(), pa.string())
#: How ``--by`` values are asked for: dictionary-encoded text, kept as written (``007``), so
#: slicing needs no hashing of its own (the parser's threads, or Parquet's own dictionary).
SLICE_TEXT = pa.dictionary(pa.int32(), pa.large_string())


class BatchSource(Protocol):
    """One table that can be read as a stream of record batches."""

    name: str
    schema: pa.Schema
    size: int | None  # bytes on disk, when known (for progress)

    def bytes_done(self) -> int:
        """About how many of ``size`` bytes the batches read so far came from."""
        ...

    def batches(
        self, columns: Sequence[str], types: dict[str, pa.DataType], rows: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The ``columns`` (as ``types`` asks, where given) in record batches; ``rows``:
        about how many rows a batch should hold for the consumer (a hint, which formats
        whose batches are cut by bytes or as written may ignore; None: the format's own)."""
        ...


class Part(Protocol):
    """A part of a source that the thread taking it reads itself (see ``parts``)."""

    rows: int

    def read(self) -> Iterator[pa.RecordBatch]:
        """The part's rows in batches."""
        ...


def arrow_error(name: str, error: Exception, columns: Sequence[str] = ()) -> XentError:
    """An Arrow/OS error while reading ``name``, as a one-line user error."""
    text = printable(" ".join(str(error).split()))
    match = re.search(r"In CSV column #(\d+)", text)
    if match and int(match.group(1)) < len(columns):
        text = text.replace(match.group(0), f"In column {columns[int(match.group(1))]!r}")
    if isinstance(error, UnicodeDecodeError) or "invalid UTF8" in text or "UTF-8" in text:
        return XentError(
            f"{name}: the file is not valid UTF-8 text ({text[:120]})",
            hint="re-encode it, e.g. iconv -f latin1 -t utf-8",
        )
    if len(text) > 300:  # long rows are echoed in Arrow's message: keep its start and end
        text = text[:200] + " ... " + text[-80:]
    changed = re.search(r"Column\(/([^)]*)\) changed from (\w+) to (\w+)", text)
    if changed:  # JSON Lines: one column's values are of two types (7 and "7")
        column, before, after = changed.groups()
        return XentError(
            f"{name}: cannot read: {text}",
            hint=f'write every {column!r} value as one type (all text, "7", or all numbers; '
            f"this file has a {before} and then a {after})",
        )
    return XentError(f"{name}: cannot read: {text}")


def printable(text: str) -> str:
    """Text safe for a terminal: control characters (from binary input) become '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class Remote:
    """A file on a ``pyarrow.fs`` filesystem: where it is and how big."""

    def __init__(self, fs: Any, path: str, size: int | None) -> None:
        self.fs, self.path, self.size = fs, path, size

    def error(self, name: str, error: BaseException) -> XentError:
        from xent_cli.io.locations import remote_error

        return remote_error(name, error)


class PrefixedStream(io.RawIOBase):
    """Bytes already peeked from a non-seekable stream, followed by the rest of it."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest
        self.delivered = 0  # bytes handed out so far: the progress through standard input

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
        else:
            n = self._rest.readinto(buffer) or 0  # type: ignore[attr-defined]
        self.delivered += n
        return n


def open_file(
    path: str, remote: Remote | None, compression: str | None, name: str
) -> tuple[Any, Any]:
    """A local or remote file opened for reading: the raw stream (whose ``tell`` counts the
    bytes read, for progress) and the stream to read (decompressed when ``compression``).
    An error is one line naming ``name``."""
    try:
        if remote is not None:
            raw = remote.fs.open_input_stream(remote.path, compression=None)
        else:
            raw = pa.OSFile(path, "r")
        return raw, pa.CompressedInputStream(raw, compression) if compression else raw
    except (OSError, pa.ArrowException) as error:
        if remote is not None:
            raise remote.error(name, error) from None
        raise arrow_error(name, error) from None
