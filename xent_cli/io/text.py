"""CSV / TSV / JSON Lines as Arrow record batches: the schema inferred from the first block,
then chunks of whole lines parsed in parallel (wide rows by :mod:`xent_cli.io.widetext`).
"""

from __future__ import annotations

import functools
import io
import itertools
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import numpy as np
import pyarrow as pa

from xent_cli.errors import XentError
from xent_cli.io import widetext
from xent_cli.io.arrays import digit_strings
from xent_cli.io.base import (
    BLOCK_BYTES,
    LABEL_TEXT,
    STDIN,
    PrefixedStream,
    Remote,
    arrow_error,
    open_file,
    printable,
)
from xent_cli.options import InputFormat

PEEK_BYTES = 1 << 20  # enough for the header and some rows of all but the widest files
MAX_PEEK_BYTES = 256 << 20
MAX_LINE_BYTES = 256 << 20  # a longer line is an error: no row of scores is that long
MIN_ROWS_PER_BLOCK = 2_048  # fewer rows per batch and per-column overhead dominates
# At most this much for wide rows: 1000-class rows (10.6 KB) in 8 MiB rather than 16 MiB take
# 5% less CPU and peak at 242 MB instead of 395 MB (fewer pages faulted in); 4 MiB is slower.
WIDE_BLOCK_BYTES = 8 << 20
PARSE_WORKERS = max(2, min(4, os.cpu_count() or 2))
COUNT_BLOCK_BYTES = 1 << 18


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
        self._stdin: PrefixedStream | None = None
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
        self._raw, stream = open_file(self.path, self.remote, self.compression, self.name)
        return stream

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
            self._stdin = PrefixedStream(prefix, self._stdin_input)
            return io.BufferedReader(self._stdin, 1 << 20)
        return self._open()

    def batches(
        self, columns: Sequence[str], types: dict[str, pa.DataType], rows: int | None = None
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
            return cast("list[pa.RecordBatch]", table().to_batches())
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
