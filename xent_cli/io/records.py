"""JSON Lines whose objects are not rows: each object (an lm-evaluation-harness sample, an
OpenAI-style response) becomes zero or more rows of a fixed schema, built in Python and
handed on as Arrow record batches of at most :data:`BATCH_ROWS` rows.

A format is a :class:`RecordFormat`: its name, its schema, a test of the first object
(detection by content), and the rows of one object (errors name the line and the key).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa

from xent_cli.errors import XentError
from xent_cli.io.base import STDIN, Remote, arrow_error, open_file

BATCH_ROWS = 65_536
Row = dict[str, Any]


class RecordError(ValueError):
    """One object does not have the shape its format needs: ``key`` says where."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class RecordFormat:
    """A JSON Lines dialect: the ``schema`` of its rows, whether a first object is one of
    its (``detect``), and the rows of one object (``rows(obj, line)``, raising
    :class:`RecordError`)."""

    name: str
    schema: pa.Schema
    detect: Callable[[Any], bool]
    rows: Callable[[Any, int], list[Row]]


def lines(stream: Any, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The lines of a byte stream that has ``read(n)`` (an Arrow or a Python file)."""
    carry = b""
    while True:
        data = stream.read(chunk)
        if not data:
            break
        parts = (carry + data).split(b"\n")
        carry = parts.pop()
        yield from parts
    if carry:
        yield carry


def first_object(stream: Any, limit: int = 1 << 26) -> Any:
    """The first JSON object of a JSON Lines stream (None when there is none in the first
    ``limit`` bytes or it is not JSON)."""
    read = 0
    for line in lines(stream):
        read += len(line)
        if line.strip():
            try:
                return json.loads(line)
            except ValueError:
                return None
        if read > limit:
            break
    return None


class RecordSource:
    """A JSON Lines file (optionally compressed, local, remote or standard input) read
    object by object into the rows of its :class:`RecordFormat`."""

    def __init__(
        self,
        path: str,
        fmt: RecordFormat,
        compression: str | None = None,
        stdin: IO[bytes] | None = None,
        remote: Remote | None = None,
    ) -> None:
        self.path = path
        self.name = "<stdin>" if path == STDIN else path.split("?", 1)[0]
        self.format = fmt
        self.schema = fmt.schema
        self.compression = compression
        self._stdin = stdin
        self._remote = remote
        self._raw: Any = None
        self._done = False
        if remote is not None:
            self.size: int | None = remote.size
        elif path == STDIN:
            self.size = None
        else:
            import os

            self.size = os.path.getsize(path)

    def bytes_done(self) -> int:
        if self._done:
            return self.size or 0
        raw = self._raw
        return 0 if raw is None or raw.closed else int(raw.tell())

    def _open(self) -> Any:
        if self.path == STDIN:
            assert self._stdin is not None
            return self._stdin
        self._raw, stream = open_file(self.path, self._remote, self.compression, self.name)
        return stream

    def batches(
        self, columns: Sequence[str], types: dict[str, pa.DataType], rows: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Batches of the wanted columns, in the file's order."""
        wanted = [c for c in columns if c in self.schema.names]
        schema = pa.schema([self.schema.field(c) for c in wanted])
        buffer: list[Row] = []
        for row in self._rows():
            buffer.append(row)
            if len(buffer) >= BATCH_ROWS:
                yield _batch(buffer, schema)
                buffer = []
        if buffer:
            yield _batch(buffer, schema)
        self._done = True

    def _rows(self) -> Iterator[Row]:
        stream = self._open()
        line = 0
        try:
            for text in _guarded(lines(stream), self.name):
                line += 1
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as error:
                    raise XentError(
                        f"{self.name}: line {line}: not JSON ({error.msg})",
                        hint=f"every line of a {self.format.name} file is one JSON object",
                    ) from None
                try:
                    yield from self.format.rows(obj, line)
                except RecordError as error:
                    raise XentError(f"{self.name}: line {line}: {error}") from None
        finally:
            if self._raw is not None:
                self._raw.close()


def _guarded(items: Iterator[bytes], name: str) -> Iterator[bytes]:
    try:
        yield from items
    except (OSError, pa.ArrowException) as error:
        raise arrow_error(name, error) from None


def _batch(rows: list[Row], schema: pa.Schema) -> pa.RecordBatch:
    columns = [pa.array([r.get(f.name) for r in rows], f.type) for f in schema]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def get(obj: Any, key: str, where: str) -> Any:
    """``obj[key]``, or a :class:`RecordError` naming ``where`` and the key."""
    if not isinstance(obj, dict):
        raise RecordError(where, f"expected an object, found {type(obj).__name__}")
    if key not in obj:
        raise RecordError(where, f"no key {key!r}")
    return obj[key]


def number(value: Any, where: str) -> float:
    """A JSON number (bool excluded), or a :class:`RecordError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(where, f"expected a number, found {json.dumps(value)[:40]}")
    return float(value)
