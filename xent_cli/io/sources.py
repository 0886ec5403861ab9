"""Inputs as streams of Arrow record batches: CSV / TSV / JSON Lines / Parquet / DataFrame.

Each source first exposes its ``schema`` (read from the Parquet footer, or inferred from the
first block of a text file), so that columns can be chosen before any data is read; then
``batches(columns, types)`` streams only those columns, in bounded chunks.
"""

from __future__ import annotations

import functools
import io
import itertools
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import pyarrow as pa

from xent_cli.errors import XentError
from xent_cli.io import widetext
from xent_cli.io.arrays import digit_strings, is_text
from xent_cli.options import InputFormat

STDIN = "-"
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
FORMAT_SUFFIXES = {
    ".csv": InputFormat.csv,
    ".tsv": InputFormat.tsv,
    ".tab": InputFormat.tsv,
    ".parquet": InputFormat.parquet,
    ".pq": InputFormat.parquet,
    ".jsonl": InputFormat.jsonl,
    ".ndjson": InputFormat.jsonl,
}
PEEK_BYTES = 1 << 20  # enough for the header and some rows of all but the widest files
MAX_PEEK_BYTES = 256 << 20
MAX_LINE_BYTES = 256 << 20  # a longer line is an error: no row of scores is that long
# Text parsed per task. 2 MiB chunks parse faster than 8 MiB ones (medians of 15 runs: 1M x 10
# CSV 0.49 s vs 0.58 s, 10M binary 0.66 vs 0.68 s): their buffers stay in cache and are reused
# rather than faulted in afresh. Memory stays bounded however wide the rows.
BLOCK_BYTES = 2 << 20
MIN_ROWS_PER_BLOCK = 2_048  # fewer rows per batch and per-column overhead dominates
# At most this much for wide rows: 1000-class rows (10.6 KB) in 8 MiB rather than 16 MiB take
# 5% less CPU and peak at 242 MB instead of 395 MB (fewer pages faulted in); 4 MiB is slower.
WIDE_BLOCK_BYTES = 8 << 20
PARSE_WORKERS = max(2, min(4, os.cpu_count() or 2))
COUNT_BLOCK_BYTES = 1 << 18
PARQUET_BATCH_ROWS = 65_536
PARQUET_BATCH_VALUES = 1 << 22  # rows x score values per batch: 32 MiB of float64
PARQUET_BUFFER_BYTES = 1 << 16
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
        self, columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]: ...


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
            hint="name it .csv/.tsv/.parquet/.jsonl or pass --input-format",
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
        return ParquetSource(path, row_groups=row_groups)
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
        return ParquetSource(uri, row_groups=row_groups, remote=remote)
    return TextSource(uri, fmt, compression, remote=remote)


class Remote:
    """A file on a ``pyarrow.fs`` filesystem: where it is and how big."""

    def __init__(self, fs: Any, path: str, size: int | None) -> None:
        self.fs, self.path, self.size = fs, path, size

    def error(self, name: str, error: BaseException) -> XentError:
        from xent_cli.io.locations import remote_error

        return remote_error(name, error)


def _open_stdin(input_format: InputFormat) -> BatchSource:
    """Standard input: Parquet if it starts as Parquet does, JSON Lines if its first
    non-blank byte is ``{``, else CSV, unless told."""
    stdin = _stdin_input()
    fmt = input_format
    if fmt is InputFormat.auto:
        head, stdin = _stdin_head(stdin)
        if head.startswith(b"PAR1"):
            fmt = InputFormat.parquet
        elif _first_text(head).startswith(b"{"):
            fmt = InputFormat.jsonl
        else:
            fmt = InputFormat.csv
    if fmt is InputFormat.parquet:
        return ParquetSource(STDIN, stdin)
    return TextSource(STDIN, fmt, None, stdin)


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
    return head, io.BufferedReader(_PrefixedStream(head, stdin))


def _first_text(head: bytes) -> bytes:
    """``head`` without the blank space (and UTF-8 byte order mark) it begins with."""
    return head.lstrip(b" \t\r\n").removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")


def _compression_of(path: str) -> str | None:
    suffix = Path(path).suffix.lower()
    return COMPRESSIONS.get(suffix)


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
    return XentError(f"{name}: cannot read: {text}")


def printable(text: str) -> str:
    """Text safe for a terminal: control characters (from binary input) become '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class _PrefixedStream(io.RawIOBase):
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


COMPRESSION_SIGNATURES = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"} | {
    b"BZh%d" % level: "bz2" for level in range(1, 10)
}


def _stdin_input() -> IO[bytes]:
    """Standard input, decompressed when it begins with a gzip, zstd or bzip2 signature
    (files say so by their suffix; a pipe only by its first bytes)."""
    stdin = sys.stdin.buffer
    head = stdin.read(4)
    whole = io.BufferedReader(_PrefixedStream(head, stdin))
    for signature, codec in COMPRESSION_SIGNATURES.items():
        if head.startswith(signature):
            return pa.CompressedInputStream(pa.PythonFile(whole, mode="r"), codec)
    return whole


class TextSource:
    """A CSV, TSV or JSON Lines file (optionally compressed), or standard input."""

    def __init__(
        self,
        path: str,
        fmt: InputFormat,
        compression: str | None,
        stdin: Any = None,
        remote: Remote | None = None,
    ) -> None:
        """``stdin``: for path ``-``, standard input as ``_stdin_input`` opened it;
        ``remote``: the file on an object store (``path`` is then its URI)."""
        self.path = path
        self.remote = remote
        self.name = "<stdin>" if path == STDIN else path.split("?", 1)[0]
        self.format = fmt
        self.compression = compression
        self._stdin_prefix: bytes | None = None
        self._stdin_input = stdin
        self._stdin: _PrefixedStream | None = None
        self._raw: Any = None
        self._finished = False
        if remote is not None:
            self.size = remote.size
        else:
            self.size = None if path == STDIN else os.path.getsize(path)
        prefix = self._peek()
        self.line_bytes = _mean_line_bytes(prefix)
        self.schema = self._infer_schema(prefix)

    def _open(self) -> Any:
        if self.path == STDIN:
            return self._stdin_input
        try:
            if self.remote is not None:
                self._raw = self.remote.fs.open_input_stream(self.remote.path, compression=None)
            else:
                self._raw = pa.OSFile(self.path, "r")
            if self.compression:
                return pa.CompressedInputStream(self._raw, self.compression)
            return self._raw
        except (OSError, pa.ArrowException) as error:
            if self.remote is not None:
                raise self.remote.error(self.name, error) from None
            raise arrow_error(self.name, error) from None

    def bytes_done(self) -> int:
        if self._stdin is not None:
            return self._stdin.delivered
        if self._finished:
            return self.size or 0
        raw = self._raw
        return 0 if raw is None or raw.closed else int(raw.tell())

    def _peek(self) -> bytes:
        """The first complete lines of the (decompressed) input: at least two of them."""
        stream = self._open()
        chunks: list[bytes] = []
        size = lines = 0
        try:
            while size < MAX_PEEK_BYTES:
                chunk = stream.read(PEEK_BYTES if not chunks else size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
                if lines >= 3 and size >= PEEK_BYTES:
                    break
        except (OSError, pa.ArrowException, EOFError) as error:
            raise arrow_error(self.name, error) from None
        if lines == 0 and size >= MAX_PEEK_BYTES:
            raise XentError(
                f"{self.name}: cannot read: line 1 is longer than {MAX_PEEK_BYTES >> 20} MiB",
                hint="is the file one line per row? (a header line, then one line per row)",
            )
        data = b"".join(chunks)
        if self.path == STDIN:
            self._stdin_prefix = data
        else:
            stream.close()
            self._raw.close()
            self._raw = None
        return data

    def _infer_schema(self, prefix: bytes) -> pa.Schema:
        if not prefix.strip():
            raise XentError(f"{self.name}: the input is empty")
        if prefix.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise XentError(
                f"{self.name}: the file is UTF-16 text; xent reads UTF-8",
                hint="convert it, e.g. iconv -f utf-16 -t utf-8",
            )
        if b"\x00" in prefix[:65536]:
            looks = "a Parquet file" if prefix.startswith(b"PAR1") else "binary data"
            raise XentError(
                f"{self.name}: this is {looks}, not {self.format.value.upper()} text",
                hint="pass --input-format parquet if it is Parquet",
            )
        self._header_at = (0, 0)  # bytes and lines of comments before the header line
        if self.format is not InputFormat.jsonl:
            prefix = self._uncomment(prefix)
            end = prefix.find(b"\n")
            header = prefix if end < 0 else prefix[:end]
            self._check_separator(header)
            self._check_not_data(header)
        cut = prefix.rfind(b"\n")
        sample = prefix[: cut + 1] if cut >= 0 else prefix + b"\n"
        try:
            return self._parse_schema(sample)
        except UnicodeDecodeError as error:
            raise arrow_error(self.name, error) from None

    def _uncomment(self, prefix: bytes) -> bytes:
        """The first lines with the header's comment marker removed: ``numpy.savetxt(header=...)``
        writes ``# label,logit_0,...``. Of leading ``#`` lines, the last is the header when data
        follows it, or a line of as many fields (its marker stripped if a space follows it:
        ``#id`` may be a column's name); else they are comments before the header. What comes
        before the header line is remembered in ``_header_at``, to be skipped."""
        bom = b"\xef\xbb\xbf" if prefix.startswith(b"\xef\xbb\xbf") else b""
        if not prefix.startswith(bom + b"#"):
            return prefix
        lines = prefix[len(bom) :].split(b"\n")
        comments = 0
        while comments < len(lines) - 1 and lines[comments].startswith(b"#"):
            comments += 1
        following = lines[comments] if comments < len(lines) else b""
        last = lines[comments - 1] if comments else b""
        delimiter = self._delimiter.encode()
        if comments and (not following.strip() or self._looks_like_data(following)):
            header = comments - 1  # numpy's header
            lines[header] = last.lstrip(b"#").lstrip(b" ")
        elif comments and last.count(delimiter) == following.count(delimiter) > 0:
            header = comments - 1  # a header line with a marker, or a column named '#...'
            if last.startswith(b"# "):
                lines[header] = last.lstrip(b"#").lstrip(b" ")
        else:
            header = comments  # comment lines, then the header
        self._header_at = (len(bom) + sum(len(line) + 1 for line in lines[:header]), header)
        return b"\n".join(lines[header:])

    def _looks_like_data(self, line: bytes) -> bool:
        """Every field is a number, and they are not the column numbers 0..n-1 or 1..n."""
        text = line.decode("utf-8", "replace").rstrip("\r")
        fields = [f.strip().strip('"').strip() for f in text.split(self._delimiter)]
        numbers = []
        for field in fields:
            try:
                numbers.append(float(field))
            except ValueError:
                return False
        if all(field.isdigit() for field in fields):  # 0,1,2 may be numbered columns
            whole = [int(field) for field in fields]
            return whole not in (list(range(len(whole))), list(range(1, len(whole) + 1)))
        return True

    def _check_not_data(self, header: bytes) -> None:
        """A first line of numbers is a row, not a header: say so, rather than take its
        numbers for column names (``no label column ... columns are: 0.0000e+00, ...``)."""
        if self._looks_like_data(header):
            shown = printable(header[:60].decode("utf-8", "replace"))
            raise XentError(
                f"{self.name}: the first line looks like data, not column names ({shown}): "
                "add a header",
                hint="a first line such as label,logit_0,logit_1,... (numpy.savetxt: "
                "header='label,logit_0,...', comments='')",
            )

    def _check_separator(self, header: bytes) -> None:
        """A header without the delimiter but with another one (a spreadsheet's ``;``-separated
        export, or tabs in a .csv) is one column: say so before Arrow's puzzling errors."""
        if self._delimiter.encode() in header:
            return
        expected = "tabs" if self.format is InputFormat.tsv else "','"
        if b";" in header:
            found, hint = "';'", "save it comma-separated (.csv) or tab-separated (.tsv)"
        elif b"\t" in header or b"," in header:
            found, other = ("tabs", "tsv") if b"\t" in header else ("','", "csv")
            hint = f"pass --input-format {other}"
            if self.path != STDIN:  # standard input has no name to change
                hint = f"name it .{other}, or {hint}"
        else:
            return
        raise XentError(
            f"{self.name}: the header is one column: its names are separated by {found}, "
            f"not {expected}",
            hint=hint,
        )

    def _parse_schema(self, sample: bytes) -> pa.Schema:
        try:
            if self.format is InputFormat.jsonl:
                import pyarrow.json as pj

                options = pj.ReadOptions(use_threads=False, block_size=len(sample) + 1)
                schema = pj.read_json(io.BytesIO(sample), options).schema
            else:
                import pyarrow.csv as pc

                end = sample.find(b"\n")
                if widetext.is_wide(sample if end < 0 else sample[:end], self._delimiter):
                    return widetext.wide_schema(sample, self._delimiter)
                # one thread: starting Arrow's thread pool (15 ms) costs more than the parse
                schema = pc.read_csv(
                    io.BytesIO(sample),
                    read_options=pc.ReadOptions(use_threads=False, block_size=len(sample) + 1),
                    parse_options=pc.ParseOptions(delimiter=self._delimiter),
                ).schema
            schema.names  # noqa: B018 -- decodes the names: a non-UTF-8 header fails here
            return schema
        except pa.ArrowInvalid as error:
            lines = sample.count(b"\n")
            first = 1 + self._header_at[1]
            located = _at_lines(
                error, memoryview(sample), first, first + lines - 1, self._locator()
            )
            raise arrow_error(self.name, located) from None
        except (pa.ArrowException, OSError) as error:
            raise arrow_error(self.name, error) from None

    @property
    def _delimiter(self) -> str:
        return "\t" if self.format is InputFormat.tsv else ","

    def _locator(self) -> Callable[[memoryview, str], int | None] | None:
        """Finds the line a parse error is about."""
        if self.format is InputFormat.jsonl:
            return _json_line_of_error
        return functools.partial(_line_of_error, self._delimiter)

    def _block_size(self) -> int:
        """Bytes of text per parse task: BLOCK_BYTES, or more for rows so wide that it would
        hold fewer than MIN_ROWS_PER_BLOCK of them (then up to WIDE_BLOCK_BYTES)."""
        wide = min(self.line_bytes * MIN_ROWS_PER_BLOCK, WIDE_BLOCK_BYTES)
        return int(max(BLOCK_BYTES, wide))

    def _stream(self) -> Any:
        if self.path == STDIN:
            if self._stdin_prefix is None:
                raise XentError("<stdin>: standard input can be read only once")
            prefix, self._stdin_prefix = self._stdin_prefix, None
            self._stdin = _PrefixedStream(prefix, self._stdin_input)
            return io.BufferedReader(self._stdin, 1 << 20)
        return self._open()

    def batches(
        self, columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        """Chunks of whole lines, parsed on a pool of threads, yielded in order."""
        stream = self._stream()
        parse = self._parser(columns, types)
        has_header = self.format is not InputFormat.jsonl
        comment_bytes, comment_lines = self._header_at
        try:
            _discard(stream, comment_bytes)
            chunks = _line_chunks(stream, self._block_size(), skip_first_line=has_header)
            first = 2 + comment_lines if has_header else 1
            yield from _parse_in_parallel(chunks, parse, first, self._locator())
        except (pa.ArrowException, OSError, UnicodeDecodeError, EOFError) as error:
            raise arrow_error(self.name, error, self.schema.names) from None
        finally:
            if hasattr(stream, "close") and self.path != STDIN:
                stream.close()
            if self._raw is not None:
                self._raw.close()
            self._finished = True

    def _parser(
        self, columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Callable[[memoryview], pa.Table]:
        """A function from whole lines (no header) to a table of the needed columns."""
        if self.format is InputFormat.jsonl:
            import pyarrow.json as pj

            fields = [
                pa.field(c, _json_type(types.get(c, self.schema.field(c).type))) for c in columns
            ]
            json_options = pj.ParseOptions(
                explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore"
            )

            def parse_json(data: memoryview) -> pa.Table:
                options = pj.ReadOptions(use_threads=False, block_size=len(data) + 1)
                return pj.read_json(_reader(data), options, json_options)

            return parse_json
        if len(self.schema.names) >= widetext.WIDE_TEXT_COLUMNS:

            def narrow(names: list[str], kinds: dict[str, pa.DataType]) -> Any:
                return self._csv_parser(names, names, kinds, keep_empty_lines=True)

            return widetext.WideParser(self.schema, columns, types, self._delimiter, narrow)
        return self._csv_parser(self.schema.names, columns, types)

    def _csv_parser(
        self,
        names: Sequence[str],
        columns: Sequence[str],
        types: dict[str, pa.DataType],
        *,
        keep_empty_lines: bool = False,
    ) -> Callable[[memoryview], pa.Table]:
        """Arrow's parser for CSV text (no header line) whose columns are ``names``
        (``keep_empty_lines``: an empty line is a row whose one value is empty)."""
        import pyarrow.csv as pc

        csv_options = pc.ParseOptions(
            delimiter=self._delimiter, ignore_empty_lines=not keep_empty_lines
        )
        names = list(names)  # chunks hold no header line
        convert = pc.ConvertOptions(include_columns=list(columns), column_types=dict(types))
        # A quick way first. Checking every value against Arrow's dozen null spellings costs
        # ~20% of the parse: with only "" as null, NaN spellings still parse (as NaN, which
        # is how nulls end up too) and any other spelling ("NA", "null") fails. Text columns
        # that began with integers (labels) are read as raw bytes and decoded as digits,
        # cheaper than Arrow's integer conversion and than dictionary-encoding them; a chunk
        # where they are not all digits fails too. A chunk that fails is parsed again the
        # full way, so the values are the same either way. Only for columns of known types:
        # the null spellings also steer type inference.
        quick = None
        digit_columns: list[str] = []
        if all(column in types for column in columns):
            seen = dict(zip(self.schema.names, self.schema.types, strict=True))
            quick_types = {c: _quick_type(t, seen.get(c)) for c, t in types.items()}
            digit_columns = [c for c, t in quick_types.items() if t == pa.binary()]
            quick = pc.ConvertOptions(
                include_columns=list(columns), column_types=quick_types, null_values=[""]
            )

        def parse_csv(data: memoryview) -> pa.Table:
            options = pc.ReadOptions(
                use_threads=False, block_size=len(data) + 1, column_names=names
            )
            if quick is not None:
                try:
                    table = pc.read_csv(_reader(data), options, csv_options, quick)
                    decoded = _decode_digits(table, digit_columns)
                    if decoded is not None:
                        return decoded
                except pa.ArrowInvalid:
                    pass
            return pc.read_csv(_reader(data), options, csv_options, convert)

        return parse_csv


def _json_type(wanted: pa.DataType) -> pa.DataType:
    """JSON lists of numbers as float64 lists: the first rows' ``[1, 0, 0]`` says int64, and a
    later ``[0.5, 0.5, 0]`` would not fit."""
    if pa.types.is_list(wanted) and pa.types.is_integer(wanted.value_type):
        return pa.list_(pa.float64())
    return wanted


def _quick_type(wanted: pa.DataType, seen: pa.DataType | None) -> pa.DataType:
    """Raw bytes (to decode as digits) for a label column whose first rows were integers."""
    integral = seen is not None and pa.types.is_integer(seen)
    return pa.binary() if integral and wanted == LABEL_TEXT else wanted


def _decode_digits(table: pa.Table, columns: Sequence[str]) -> pa.Table | None:
    """The table with these raw-bytes columns as int64, or None if a value is not all digits."""
    for column in columns:
        position = table.schema.get_field_index(column)
        values = digit_strings(table.column(position).combine_chunks())
        if values is None:
            return None
        array = pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])
        table = table.set_column(position, column, array)
    return table


def _reader(data: memoryview) -> pa.BufferReader:
    return pa.BufferReader(pa.py_buffer(data))


def _line_chunks(
    stream: Any, size: int, *, skip_first_line: bool
) -> Iterator[tuple[memoryview, int]]:
    """The stream's whole lines in pieces of about ``size`` bytes, each with its line count.

    Each piece is read straight into a buffer of its own and handed on as a view: the only
    bytes copied are those of the partial line carried over to the next piece. A line longer
    than a piece makes the next read as long as the carry (so a 5 MB line is not copied again
    for every 2 MiB read); one longer than MAX_LINE_BYTES is an error naming it.
    """
    carry = b""
    want = size
    line = 1  # the number of the line the carry begins
    while True:
        if len(carry) > MAX_LINE_BYTES:
            raise pa.ArrowInvalid(
                f"line {line} is longer than {MAX_LINE_BYTES >> 20} MiB: it cannot be read "
                "(is the file one line per row?)"
            )
        buffer = bytearray(len(carry) + want)
        view = memoryview(buffer)
        view[: len(carry)] = carry
        end = len(carry) + _read_into(stream, view[len(carry) :])
        if end == len(carry):  # end of input: a last line without a line end
            if carry and not skip_first_line:
                yield view[:end], 1
            return
        begin = 0
        if skip_first_line:
            begin = buffer.find(b"\n", 0, end) + 1
            if begin == 0:  # the first line is longer than this piece: keep reading
                carry, want = bytes(view[:end]), max(size, end)
                continue
            skip_first_line = False
            line += 1
        cut = buffer.rfind(b"\n", begin, end) + 1
        if cut == 0:  # one line longer than a piece: keep reading
            carry, want = bytes(view[begin:end]), max(size, end - begin)
            continue
        carry, want = bytes(view[cut:end]), size
        lines = _count_lines(view[begin:cut])
        line += lines
        yield view[begin:cut], lines


def _discard(stream: Any, size: int) -> None:
    """Read and drop the first ``size`` bytes of the stream (comment lines)."""
    while size > 0:
        got = stream.read(min(size, 1 << 20))
        if not got:
            return
        size -= len(got)


def _count_lines(view: memoryview) -> int:
    """Line ends in the view: numpy, five times as fast as ``bytes.count`` and without the GIL,
    in blocks, so that no chunk-sized temporary array is faulted in (2 MB pages) each time."""
    data = np.frombuffer(view, np.uint8)
    is_end = np.empty(min(len(data), COUNT_BLOCK_BYTES), bool)
    lines = 0
    for start in range(0, len(data), COUNT_BLOCK_BYTES):
        block = data[start : start + COUNT_BLOCK_BYTES]
        np.equal(block, ord("\n"), out=is_end[: len(block)])
        lines += int(np.count_nonzero(is_end[: len(block)]))
    return lines


def _read_into(stream: Any, view: memoryview) -> int:
    """Fill ``view`` from the stream (pipes return short reads); the bytes read."""
    done = 0
    while done < len(view):
        got = stream.readinto(view[done:])
        if not got:
            break
        done += got
    return done


def _parse_in_parallel(
    chunks: Iterator[tuple[memoryview, int]],
    parse: Callable[[memoryview], pa.Table],
    first_line: int,
    locate: Callable[[memoryview, str], int | None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Parse chunks on worker threads, yielding their batches in input order.

    At most ``PARSE_WORKERS + 1`` chunks are in flight, so memory stays bounded. A parse
    error names the line of the file it is about when ``locate`` finds it in the chunk,
    else the chunk's lines. An input of one chunk is parsed right here: starting threads
    would take longer than the parse.
    """
    from collections import deque
    from concurrent.futures import Future

    def parsed(
        table: Callable[[], pa.Table], chunk: memoryview, first: int, last: int
    ) -> list[pa.RecordBatch]:
        try:
            return table().to_batches()
        except pa.ArrowInvalid as error:
            raise _at_lines(error, chunk, first, last, locate) from None

    head = list(itertools.islice(chunks, 2))
    if len(head) < 2:
        for chunk, lines in head:
            table = functools.partial(parse, chunk)
            yield from parsed(table, chunk, first_line, first_line + lines - 1)
        return

    from concurrent.futures import ThreadPoolExecutor

    pending: deque[tuple[Future[pa.Table], memoryview, int, int]] = deque()
    line = first_line  # of the next chunk, 1-based

    def finish() -> list[pa.RecordBatch]:
        future, chunk, first, last = pending.popleft()
        return parsed(future.result, chunk, first, last)

    with ThreadPoolExecutor(PARSE_WORKERS, thread_name_prefix="xent-parse") as pool:
        try:
            for chunk, lines in itertools.chain(head, chunks):
                pending.append((pool.submit(parse, chunk), chunk, line, line + lines - 1))
                line += lines
                if len(pending) > PARSE_WORKERS:
                    yield from finish()
            while pending:
                yield from finish()
        finally:
            for future, *_ in pending:
                future.cancel()


def _at_lines(
    error: pa.ArrowInvalid,
    chunk: memoryview,
    first: int,
    last: int,
    locate: Callable[[memoryview, str], int | None] | None,
) -> pa.ArrowInvalid:
    """Arrow's parse error for the chunk holding lines ``first``-``last`` of the file, with
    the line it is about when ``locate`` finds it, else with the chunk's lines."""
    text = re.sub(r"Row #\d+: ", "", str(error))
    if "straddl" in text:  # a JSON object cut by the end of a chunk of lines
        text = "a JSON object does not end on its line (JSON Lines holds one object a line)"
    found = locate(chunk, text) if locate is not None else None
    if found is not None:
        first = last = first + found - 1
        text = re.sub(r"\.? in row \d+$", ".", text)  # Arrow's count of JSON objects
    where = f"line {first}" if first == last else f"lines {first}-{last}"
    return pa.ArrowInvalid(f"{text} (in {where})")


def _json_line_of_error(chunk: memoryview, message: str) -> int | None:
    """The line of the chunk (1-based) that an Arrow JSON error is about: Arrow counts the
    objects (``in row 2``, from 0), which are the lines that are not blank."""
    match = re.search(r" in row (\d+)$", message)
    if match is None:
        return None
    wanted = int(match.group(1))
    for number, line in enumerate(bytes(chunk).split(b"\n"), start=1):
        if line.strip():
            if wanted == 0:
                return number
            wanted -= 1
    return None


def _line_of_error(delimiter: str, chunk: memoryview, message: str) -> int | None:
    """The line of the chunk (1-based) that an Arrow CSV error is about, if it can be found.

    Arrow names the column and the value that failed to convert (or the field count of a
    short or long row), not the row: the chunk is read again with Python's csv module,
    which counts physical lines (blank ones and quoted line ends included). Only on errors.
    """
    import csv

    conversion = re.search(
        r"CSV column #(\d+): CSV conversion error to [^:]*: invalid value '(.*)'$", message, re.S
    )
    wrong_width = re.search(r"Expected \d+ columns, got (\d+)", message)

    def is_culprit(fields: list[str]) -> bool:
        if conversion is not None:
            column = int(conversion.group(1))
            return len(fields) > column and fields[column].strip() == conversion.group(2)
        assert wrong_width is not None
        return bool(fields) and len(fields) == int(wrong_width.group(1))

    if conversion is None and wrong_width is None:
        return None
    records = csv.reader(
        io.StringIO(bytes(chunk).decode("utf-8", errors="replace"), newline=""),
        delimiter=delimiter,
    )
    try:
        return next((records.line_num for fields in records if is_culprit(fields)), None)
    except csv.Error:
        return None


def _mean_line_bytes(prefix: bytes) -> float:
    lines = prefix.count(b"\n")
    return len(prefix) / max(lines, 1)


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
            self._file = pq.ParquetFile(target, **buffering)
            self._reopen = functools.partial(pq.ParquetFile, target, **buffering)
        except (pa.ArrowException, OSError, ValueError) as error:
            if remote is not None and not isinstance(error, pa.ArrowInvalid):
                raise remote.error(self.name, error) from None
            raise arrow_error(self.name, error) from None
        self.schema = self._file.schema_arrow
        if remote is not None:
            self.size = remote.size
        else:
            self.size = None if path == STDIN else os.path.getsize(path)
        self._total_rows = self._file.metadata.num_rows
        self._rows_read = 0

    def bytes_done(self) -> int:
        return int((self.size or 0) * self._rows_read / max(self._total_rows, 1))

    def _batch_rows(self, columns: Sequence[str]) -> int:
        """Rows per batch so that a batch holds about PARQUET_BATCH_VALUES values."""
        metadata = self._file.metadata
        if metadata.num_row_groups == 0 or metadata.num_rows == 0:
            return PARQUET_BATCH_ROWS
        group = metadata.row_group(0)
        wanted = set(columns)
        values = sum(
            group.column(i).num_values
            for i in range(group.num_columns)
            if group.column(i).path_in_schema.split(".")[0] in wanted
        )
        per_row = max(values / max(group.num_rows, 1), 1.0)
        return int(max(256, min(PARQUET_BATCH_ROWS, PARQUET_BATCH_VALUES / per_row)))

    def batches(
        self, columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        """Batches of the columns, row group after row group. A large row group of many
        float columns (scores) is read a block of columns at a time (see
        :mod:`xent_cli.io.wideparquet`), the others streamed by ``iter_batches``."""
        from xent_cli.io import wideparquet

        groups = self.row_groups
        if groups is None:
            groups = list(range(self._file.metadata.num_row_groups))
        packed = wideparquet.packed_columns(self.schema, columns, types)
        rows = self._batch_rows(columns)
        file = self._file
        try:
            text = [
                c
                for c in columns
                if types.get(c) == SLICE_TEXT and is_text(self.schema.field(c).type)
            ]
            if text:  # --by values as the file's own dictionaries: no hashing of our own
                file = self._reopen(read_dictionary=text)
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
        self, columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        yield from self._table.select(list(columns)).to_batches(max_chunksize=PARQUET_BATCH_ROWS)


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
        self, columns: Sequence[str], types: dict[str, pa.DataType]
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
                for start in range(0, batch.num_rows, PARQUET_BATCH_ROWS):
                    yield batch.slice(start, PARQUET_BATCH_ROWS)
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


def prefetch(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Read ahead in a background thread, so that parsing overlaps scoring on another core.

    At most ``depth`` batches wait in the queue (memory stays bounded); an error in the
    reader is raised in the consumer; a consumer that stops early stops the reader.
    """
    import queue
    import threading

    done = object()
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(done)
        except BaseException as error:  # handed to the consumer, which re-raises it
            put(error)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="xent-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def make_sources(source: Any, input_format: InputFormat) -> list[BatchSource]:
    """Sources from a path; a pandas or polars DataFrame; a pyarrow Table, RecordBatch or
    RecordBatchReader; any object with ``__arrow_c_stream__`` (streamed, never read whole);
    or a list of any of these (read as one table, in order)."""
    if isinstance(source, (str, Path)):
        return open_sources([str(source)], input_format)
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
