"""Which source reads an input: a file's format from its name (or stdin's first bytes),
local paths, globs and URIs opened as :class:`~xent_cli.io.base.BatchSource` objects, and
the Python API's frames and streams.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import pyarrow as pa

from xent_cli.errors import XentError
from xent_cli.io.base import STDIN, BatchSource, PrefixedStream, Remote, open_file
from xent_cli.options import InputFormat

if TYPE_CHECKING:  # (each format's reader is imported when a file of it is opened)
    from xent_cli.io.records import RecordFormat

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
FORMAT_SUFFIXES = {
    ".csv": InputFormat.csv,
    ".tsv": InputFormat.tsv,
    ".tab": InputFormat.tsv,
    ".parquet": InputFormat.parquet,
    ".pq": InputFormat.parquet,
    ".jsonl": InputFormat.jsonl,
    ".ndjson": InputFormat.jsonl,
    ".arrow": InputFormat.arrow,
    ".feather": InputFormat.arrow,
    ".ipc": InputFormat.arrow,
}
RECORD_FORMATS = (InputFormat.lm_eval, InputFormat.openai)  # JSON Lines of known shapes


def detect_format(path: str) -> tuple[InputFormat, str | None]:
    """Format and compression from the file name: ``preds.csv.gz`` -> (csv, gzip)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    fmt = FORMAT_SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise XentError(
            f"{path}: cannot tell the format from the file name",
            hint="name it .csv/.tsv/.parquet/.jsonl/.arrow or pass --input-format",
        )
    return fmt, compression


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Paths as given, with each directory, prefix or quoted glob replaced by its data files
    sorted by path (see :mod:`xent_cli.io.locations`)."""
    from xent_cli.io.locations import expand

    return expand(paths, _is_data_file)


def _is_data_file(name: str) -> bool:
    try:
        detect_format(name)
    except XentError:
        return False
    return True


def open_sources(paths: Sequence[str], input_format: InputFormat) -> list[BatchSource]:
    """A source per input file (directories expanded), in the order given."""
    return [open_source(path, input_format) for path in expand_paths(paths)]


def open_source(
    path: str,
    input_format: InputFormat = InputFormat.auto,
    row_groups: Sequence[int] | None = None,
) -> BatchSource:
    """The source of one file (``row_groups``: of a Parquet file, only these)."""
    if path == STDIN:
        return _open_stdin(input_format)
    if path.lower().startswith("file://"):
        path = path[len("file://") :]
    from xent_cli.io.locations import is_uri

    if is_uri(path):
        return _open_remote(path, input_format, row_groups)
    if not os.access(path, os.R_OK):
        raise XentError(f"{path}: file is not readable (permission denied)")
    if input_format is InputFormat.auto:
        fmt, compression = detect_format(path)
    else:
        fmt, compression = input_format, _compression_of(path)
    if fmt is InputFormat.parquet:
        from xent_cli.io.parquet import ParquetSource

        return ParquetSource(path, row_groups=row_groups)
    if fmt is InputFormat.arrow:
        from xent_cli.io.arrowipc import ArrowSource

        return ArrowSource(path)
    records = _record_format(fmt, input_format, lambda: open_file(path, None, compression, path)[1])
    if records is not None:
        from xent_cli.io.records import RecordSource

        return RecordSource(path, records, compression)
    from xent_cli.io.text import TextSource

    return TextSource(path, fmt, compression)


def _open_remote(
    uri: str, input_format: InputFormat, row_groups: Sequence[int] | None
) -> BatchSource:
    """A file in an object store or behind a URL: Parquet read by range requests (only the
    footer and the needed columns' pages), text streamed."""
    import pyarrow.fs as pafs

    from xent_cli.io.locations import filesystem, remote_error

    fs, inner = filesystem(uri)
    name = uri.split("?", 1)[0]
    try:
        info = fs.get_file_info(inner)
    except (OSError, RuntimeError) as error:
        raise remote_error(name, error) from None
    if info.type == pafs.FileType.NotFound:
        raise XentError(f"{name}: no such object")
    remote = Remote(fs, inner, info.size)
    if input_format is InputFormat.auto:
        fmt, compression = detect_format(name)
    else:
        fmt, compression = input_format, _compression_of(name)
    if fmt is InputFormat.parquet:
        from xent_cli.io.parquet import ParquetSource

        return ParquetSource(uri, row_groups=row_groups, remote=remote)
    if fmt is InputFormat.arrow:
        from xent_cli.io.arrowipc import ArrowSource

        return ArrowSource(uri, remote=remote)
    records = _record_format(
        fmt, input_format, lambda: open_file(uri, remote, compression, name)[1]
    )
    if records is not None:
        from xent_cli.io.records import RecordSource

        return RecordSource(uri, records, compression, remote=remote)
    from xent_cli.io.text import TextSource

    return TextSource(uri, fmt, compression, remote=remote)


def _open_stdin(input_format: InputFormat) -> BatchSource:
    """Standard input: Parquet if it starts as Parquet does, JSON Lines if its first
    non-blank byte is ``{``, else CSV, unless told."""
    stdin = _stdin_input()
    fmt = input_format
    if fmt is InputFormat.auto:
        head, stdin = _stdin_head(stdin)
        if head.startswith(b"PAR1"):
            fmt = InputFormat.parquet
        elif head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
            fmt = InputFormat.arrow
        elif _first_text(head).startswith(b"{"):
            fmt = InputFormat.jsonl
        else:
            fmt = InputFormat.csv
    if fmt is InputFormat.parquet:
        from xent_cli.io.parquet import ParquetSource

        return ParquetSource(STDIN, stdin)
    if fmt is InputFormat.arrow:
        from xent_cli.io.arrowipc import ArrowSource

        return ArrowSource(STDIN, stdin)
    if fmt in (InputFormat.jsonl, *RECORD_FORMATS):
        line = stdin.readline()  # (a Python stream: standard input)
        stdin = io.BufferedReader(PrefixedStream(line, stdin))
        records = _record_format(fmt, input_format, lambda: io.BytesIO(line))
        if records is not None:
            from xent_cli.io.records import RecordSource

            return RecordSource(STDIN, records, None, stdin)
    from xent_cli.io.text import TextSource

    return TextSource(STDIN, fmt, None, stdin)


def _record_format(
    fmt: InputFormat, asked: InputFormat, first_lines: Callable[[], Any]
) -> RecordFormat | None:
    """The JSON Lines dialect to read: the one asked for, or (JSON Lines, auto) the one whose
    shape the first object has (an lm-evaluation-harness sample, an OpenAI-style response)."""
    if fmt not in RECORD_FORMATS and (
        fmt is not InputFormat.jsonl or asked is not InputFormat.auto
    ):
        return None
    from xent_cli.io import lmeval, openai
    from xent_cli.io.records import first_object

    known = {InputFormat.lm_eval: lmeval.FORMAT, InputFormat.openai: openai.FORMAT}
    if fmt in known:
        return known[fmt]
    stream = first_lines()
    try:
        obj = first_object(stream)
    finally:
        stream.close()
    for records in known.values():
        if records.detect(obj):
            return records
    return None


STDIN_HEAD_BYTES = 4096  # enough for the blank lines or spaces before the first character


def _stdin_head(stdin: Any) -> tuple[bytes, Any]:
    """The first bytes of standard input (decompressed) up to its first non-blank one, and
    the stream to read all of it from (those bytes put back in front)."""
    head = b""
    while len(head) < STDIN_HEAD_BYTES:
        chunk = stdin.read(64 if not head else STDIN_HEAD_BYTES - len(head))
        if not chunk:
            break
        head += chunk
        if _first_text(head):
            break
    return head, io.BufferedReader(PrefixedStream(head, stdin))


def _first_text(head: bytes) -> bytes:
    """``head`` without the blank space (and UTF-8 byte order mark) it begins with."""
    return head.lstrip(b" \t\r\n").removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")


def _compression_of(path: str) -> str | None:
    suffix = Path(path).suffix.lower()
    return COMPRESSIONS.get(suffix)


COMPRESSION_SIGNATURES = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"} | {
    b"BZh%d" % level: "bz2" for level in range(1, 10)
}


def _stdin_input() -> IO[bytes]:
    """Standard input, decompressed when it begins with a gzip, zstd or bzip2 signature
    (files say so by their suffix; a pipe only by its first bytes)."""
    stdin = sys.stdin.buffer
    head = stdin.read(4)
    whole = io.BufferedReader(PrefixedStream(head, stdin))
    for signature, codec in COMPRESSION_SIGNATURES.items():
        if head.startswith(signature):
            return cast(
                "IO[bytes]", pa.CompressedInputStream(pa.PythonFile(whole, mode="r"), codec)
            )
    return whole


def make_sources(source: Any, input_format: InputFormat) -> list[BatchSource]:
    """Sources from a path; a pandas or polars DataFrame; a pyarrow Table, RecordBatch or
    RecordBatchReader; any object with ``__arrow_c_stream__`` (streamed, never read whole);
    or a list of any of these (read as one table, in order)."""
    if isinstance(source, (str, Path)):
        return open_sources([str(source)], input_format)
    from xent_cli.io.frames import StreamSource, TableSource

    if isinstance(source, pa.Table):
        return [TableSource(source, "<table>")]
    if isinstance(source, pa.RecordBatch):
        return [TableSource(pa.Table.from_batches([source]), "<record batch>")]
    if isinstance(source, pa.RecordBatchReader):
        return [StreamSource(source, "<record batch reader>")]
    if hasattr(source, "iloc") and hasattr(source, "columns"):  # pandas
        return [TableSource.from_pandas(source)]
    name = f"<{type(source).__module__.split('.')[0]} {type(source).__name__}>"
    if hasattr(source, "__arrow_c_stream__"):
        try:
            reader = pa.RecordBatchReader.from_stream(source)
        except (pa.ArrowException, TypeError) as error:
            detail = " ".join(str(error).split())[:120]
            raise XentError(
                f"{name}: not a table ({detail})",
                hint="pass a data frame or table (a Series or array is one column)",
            ) from None
        return [StreamSource(reader, name)]
    if hasattr(source, "__iter__") and not isinstance(source, (bytes, dict)):
        parts = list(source)
        if all(isinstance(s, (str, Path)) for s in parts):
            return open_sources([str(s) for s in parts], input_format)
        return [one for part in parts for one in make_sources(part, input_format)]
    hint = "collect() it first" if hasattr(source, "collect") else None
    raise XentError(
        f"cannot read a {name[1:-1]}: give a path, a list of paths, a pandas or polars "
        "DataFrame, a pyarrow Table or RecordBatchReader, or an object with __arrow_c_stream__",
        hint=hint,
    )
