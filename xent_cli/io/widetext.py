"""Very wide CSV / TSV rows: thousands to hundreds of thousands of columns (an LLM's vocabulary).

Arrow's CSV reader keeps a parser and a converter per column, per block: at 262,144 columns,
inferring the types of a header and two rows takes 14 s and reading three rows 17 s and 4.8 GB,
whatever the block size. Here a chunk of whole lines is split into fields with numpy (with
Python's csv module when the text holds quotes), and each run of adjacent float64 columns is
parsed by Arrow as one block of text, ``GRID_WIDTH`` values to a line, into one float64 matrix
that is handed on as one fixed-size-list column (:func:`xent_cli.io.matrices.packed_field`). The
few other needed columns (label, id, ...) are parsed by Arrow as a narrow CSV of their own. So the
numbers go through the same conversion as in narrow files (number syntax, null spellings), and
errors carry the same messages, which the reader then locates by line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from typing import Protocol, cast

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.io.matrices import packed_field, packed_schema

# From this many columns in the header, files are read this way. CPU for 400 rows, Arrow's
# reader vs this one: 2048 columns 0.75 vs 0.72 s (but 50 MB more here), 4096: 1.2 vs 0.85 s,
# 8192: 2.4 vs 1.35 s; at 262,144 Arrow's never finishes in reasonable time or memory.
WIDE_TEXT_COLUMNS = 4096
GRID_WIDTH = 8  # values per line of the text a run is parsed as (one a line: 1.8x slower)
BOM = b"\xef\xbb\xbf"
NULL_SPELLINGS = (  # Arrow's default null values
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "n/a",
    "nan",
    "null",
)
_NULL_RE = "^(" + "|".join(re.escape(s) for s in NULL_SPELLINGS) + ")$"
_INT_RE = r"^[+-]?[0-9]+$"
_FLOAT_RE = r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity|nan)$"

Float = NDArray[np.float64]
NarrowParser = Callable[[memoryview], pa.Table]


def is_wide(header: bytes, delimiter: str) -> bool:
    """Whether a header line has so many fields that the file is read this way."""
    return header.count(delimiter.encode()) + 1 >= WIDE_TEXT_COLUMNS


class Fields(Protocol):
    """The fields of a chunk of whole lines, each line holding ``width`` of them."""

    n_rows: int

    def run(self, first: int, stop: int) -> list[bytes]:
        """Per row, the text of its fields ``first`` to ``stop - 1``, joined by the delimiter."""
        ...

    def narrow_text(self, columns: Sequence[int]) -> bytes:
        """These fields of every row as CSV text (one line per row)."""
        ...

    def values(self, first: int, stop: int) -> list[list[str]]:
        """Per row, its fields ``first`` to ``stop - 1`` as strings (for error messages)."""
        ...


def width_error(width: int, got: int, line: bytes) -> pa.ArrowInvalid:
    """Arrow's own message for a row with the wrong number of fields (the reader locates it)."""
    shown = line[:80].decode("utf-8", "replace")
    return pa.ArrowInvalid(f"CSV parse error: Expected {width} columns, got {got}: {shown}")


class _Plain:
    """Fields of text without quotes: split at the delimiters with numpy."""

    def __init__(self, data: memoryview | bytes, delimiter: str, width: int) -> None:
        self.data = memoryview(data)
        self.delimiter = delimiter.encode()
        self.width = width
        text = np.frombuffer(self.data, np.uint8)
        ends = np.flatnonzero(text == ord("\n"))
        if len(text) and text[-1] != ord("\n"):
            ends = np.append(ends, len(text))
        starts = np.zeros_like(ends)
        starts[1:] = ends[:-1] + 1
        stops = ends - ((ends > starts) & (text[np.maximum(ends - 1, 0)] == ord("\r")))
        content = stops > starts  # blank lines are skipped, as Arrow skips them
        if not content.all():
            starts, stops = starts[content], stops[content]
        delimiters = np.flatnonzero(text == ord(delimiter))
        counts = np.searchsorted(delimiters, stops) - np.searchsorted(delimiters, starts)
        wrong = np.flatnonzero(counts != width - 1)
        if len(wrong):
            row = int(wrong[0])
            line = bytes(self.data[int(starts[row]) : int(stops[row])])
            raise width_error(width, int(counts[row]) + 1, line)
        self.starts, self.stops = starts, stops
        self.delimiters = delimiters.reshape(len(starts), width - 1)
        self.n_rows = len(starts)

    def _bounds(self, first: int, last: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Per row, where field ``first`` begins and field ``last`` ends."""
        begin = self.starts if first == 0 else self.delimiters[:, first - 1] + 1
        end = self.stops if last == self.width - 1 else self.delimiters[:, last]
        return begin, end

    def run(self, first: int, stop: int) -> list[bytes]:
        begin, end = self._bounds(first, stop - 1)
        data = self.data
        return [data[b:e] for b, e in zip(begin.tolist(), end.tolist(), strict=True)]  # type: ignore[misc]

    def values(self, first: int, stop: int) -> list[list[str]]:
        d = self.delimiter.decode()
        return [bytes(p).decode("utf-8", "replace").split(d) for p in self.run(first, stop)]

    def narrow_text(self, columns: Sequence[int]) -> bytes:
        bounds = [tuple(a.tolist() for a in self._bounds(j, j)) for j in columns]
        data, delimiter = self.data, self.delimiter
        lines = [
            delimiter.join([data[b[0][r] : b[1][r]] for b in bounds]) for r in range(self.n_rows)
        ]
        return b"\n".join(lines) + b"\n"


class _Quoted:
    """Fields of text with quotes: Python's csv module, one list of strings per row."""

    def __init__(self, data: memoryview | bytes, delimiter: str, width: int) -> None:
        self.delimiter = delimiter
        text = bytes(data).decode("utf-8")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        self.rows = [row for row in reader if row]
        for row in self.rows:
            if len(row) != width:
                raise width_error(width, len(row), delimiter.join(row).encode())
        self.n_rows = len(self.rows)

    def run(self, first: int, stop: int) -> list[bytes]:
        return [self.delimiter.join(row[first:stop]).encode() for row in self.rows]

    def values(self, first: int, stop: int) -> list[list[str]]:
        return [row[first:stop] for row in self.rows]

    def narrow_text(self, columns: Sequence[int]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.delimiter, lineterminator="\n")
        for row in self.rows:
            writer.writerow([row[j] for j in columns])
        return out.getvalue().encode()


def split_fields(data: memoryview | bytes, delimiter: str, width: int) -> Fields:
    """The chunk's rows split into fields (ArrowInvalid for a row of another width)."""
    if np.any(np.frombuffer(data, np.uint8) == ord('"')):
        return _Quoted(data, delimiter, width)
    return _Plain(data, delimiter, width)


def _grid_text(
    pieces: list[bytes], n_values: int, delimiter: str, per_line: int
) -> NDArray[np.uint8]:
    """The values of ``pieces`` (joined by the delimiter) re-cut into lines of ``per_line``."""
    d = delimiter.encode()
    joined = d.join(pieces)
    if b"\n" in joined or b"\r" in joined:
        raise ValueError("a value holds a line break")
    pad = (-n_values) % per_line
    text = np.frombuffer(joined + d * pad + b"\n", np.uint8).copy()
    separators = np.flatnonzero(text == ord(delimiter))
    if len(separators) != n_values + pad - 1:
        raise ValueError("a value holds the delimiter")
    text[separators[per_line - 1 :: per_line]] = ord("\n")
    return cast("NDArray[np.uint8]", text)


def _bad_value(fields: Fields, first: int, stop: int, message: str) -> pa.ArrowInvalid:
    """A conversion error in a run, renamed to the file's column (the reader finds its line)."""
    match = re.search(r"CSV conversion error to ([^:]*): invalid value '(.*)'$", message, re.S)
    if match is not None:
        wanted = match.group(2).strip()
        for row in fields.values(first, stop):
            for j, value in enumerate(row):
                if value.strip() == wanted:
                    return pa.ArrowInvalid(
                        f"In CSV column #{first + j}: CSV conversion error to "
                        f"{match.group(1)}: invalid value '{match.group(2)}'"
                    )
    return pa.ArrowInvalid(message)


def parse_run(fields: Fields, first: int, stop: int, delimiter: str) -> Float:
    """The float64 values of a run of columns (row after row), nulls as NaN."""
    import pyarrow.csv as pc

    n_values = fields.n_rows * (stop - first)
    if n_values == 0:
        return np.empty(0)
    try:
        text = _grid_text(fields.run(first, stop), n_values, delimiter, GRID_WIDTH)
    except ValueError:  # a value holds a delimiter (quoted) or a line break: not a number
        raise _first_unreadable(fields, first, stop) from None
    names = [str(i) for i in range(GRID_WIDTH)]
    read = pc.ReadOptions(use_threads=False, block_size=len(text) + 1, column_names=names)
    parse = pc.ParseOptions(delimiter=delimiter, quote_char=False)
    types = dict.fromkeys(names, pa.float64())
    try:  # as in the narrow path: with only "" as null first (cheaper), then Arrow's spellings
        quick = pc.ConvertOptions(column_types=types, null_values=[""])
        table = pc.read_csv(pa.BufferReader(pa.py_buffer(text)), read, parse, quick)
    except pa.ArrowInvalid:
        try:
            convert = pc.ConvertOptions(column_types=types)
            table = pc.read_csv(pa.BufferReader(pa.py_buffer(text)), read, parse, convert)
        except pa.ArrowInvalid as error:
            raise _bad_value(fields, first, stop, str(error)) from None
    batch = table.combine_chunks().to_batches()[0]
    grid = batch.to_tensor(null_to_nan=True, row_major=True).to_numpy()
    return np.ascontiguousarray(grid.reshape(-1)[:n_values])


def _first_unreadable(fields: Fields, first: int, stop: int) -> pa.ArrowInvalid:
    """The first value of a run that cannot be a number because it holds the delimiter or a
    line break (only quoting lets it), as Arrow's conversion error."""
    for row in fields.values(first, stop):
        for j, value in enumerate(row):
            if any(ch in value for ch in "\n\r,\t"):
                shown = value.replace("\n", "\\n").replace("\r", "\\r")[:40]
                return pa.ArrowInvalid(
                    f"In CSV column #{first + j}: CSV conversion error to double: "
                    f"invalid value '{shown}'"
                )
    return pa.ArrowInvalid(f"In CSV column #{first}: CSV conversion error to double")


def _bools(array: pa.Array) -> NDArray[np.bool_]:
    """A boolean Arrow array without nulls as numpy bools (from its bitmap; no pandas)."""
    bits = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    return cast(
        "NDArray[np.bool_]",
        np.unpackbits(bits, bitorder="little")[array.offset : array.offset + len(array)] == 1,
    )


def _value_types(values: pa.Array, n_rows: int, width: int) -> list[pa.DataType]:
    """Arrow's inference for the types that matter here: null, int64, float64 or string."""
    import pyarrow.compute as pc

    null = _bools(pc.match_substring_regex(values, _NULL_RE)).reshape(n_rows, width)
    whole = _bools(pc.match_substring_regex(values, _INT_RE)).reshape(n_rows, width)
    number = _bools(pc.match_substring_regex(values, _FLOAT_RE, ignore_case=True))
    number = number.reshape(n_rows, width)
    all_null = np.asarray(null.all(axis=0)).tolist()
    integral = np.asarray((whole | null).all(axis=0)).tolist()
    numeric = np.asarray((number | whole | null).all(axis=0)).tolist()
    types: list[pa.DataType] = []
    for column in range(width):
        if all_null[column]:
            types.append(pa.null())
        elif integral[column]:
            types.append(pa.int64())
        elif numeric[column]:
            types.append(pa.float64())
        else:
            types.append(pa.string())
    return types


def wide_schema(sample: bytes, delimiter: str) -> pa.Schema:
    """The schema of a wide file from its first lines (the header and some rows)."""
    import pyarrow.csv as pc

    header_end = sample.find(b"\n")
    header = sample if header_end < 0 else sample[:header_end]
    header = header[len(BOM) :] if header.startswith(BOM) else header
    header = header[:-1] if header.endswith(b"\r") else header
    if b'"' in header:
        names = next(csv.reader([header.decode("utf-8")], delimiter=delimiter))
    else:
        names = header.decode("utf-8").split(delimiter)
    width = len(names)
    body = memoryview(sample)[header_end + 1 :] if header_end >= 0 else memoryview(b"")
    fields = split_fields(body, delimiter, width)
    if fields.n_rows == 0:
        return pa.schema([pa.field(name, pa.null()) for name in names])
    try:
        text = _grid_text(fields.run(0, width), fields.n_rows * width, delimiter, 1)
    except ValueError:  # quoted values holding delimiters or line breaks: sort them here
        return pa.schema(
            [pa.field(n, t) for n, t in zip(names, _python_types(fields, width), strict=True)]
        )
    read = pc.ReadOptions(use_threads=False, block_size=len(text) + 1, column_names=["v"])
    parse = pc.ParseOptions(delimiter=delimiter, quote_char=False, ignore_empty_lines=False)
    convert = pc.ConvertOptions(column_types={"v": pa.binary()}, strings_can_be_null=False)
    table = pc.read_csv(pa.BufferReader(pa.py_buffer(text)), read, parse, convert)
    types = _value_types(table.column(0).combine_chunks(), fields.n_rows, width)
    return pa.schema([pa.field(n, t) for n, t in zip(names, types, strict=True)])


def _python_types(fields: Fields, width: int) -> list[pa.DataType]:
    """``_value_types`` for rows that only Python's csv module splits right (rare)."""
    null, whole, number = (
        re.compile(p, re.I if p is _FLOAT_RE else 0) for p in (_NULL_RE, _INT_RE, _FLOAT_RE)
    )
    types: list[pa.DataType] = []
    rows = fields.values(0, width)
    for j in range(width):
        values = [row[j] for row in rows]
        present = [v for v in values if not null.match(v)]
        if not present:
            types.append(pa.null())
        elif all(whole.match(v) for v in present):
            types.append(pa.int64())
        elif all(number.match(v) for v in present):
            types.append(pa.float64())
        else:
            types.append(pa.string())
    return types


class WideParser:
    """Whole lines of a wide file -> a table of the needed columns, float64 runs packed."""

    def __init__(
        self,
        schema: pa.Schema,
        columns: Sequence[str],
        types: dict[str, pa.DataType],
        delimiter: str,
        narrow: Callable[[list[str], dict[str, pa.DataType]], NarrowParser],
    ) -> None:
        """``narrow(names, types)``: Arrow's parser for a CSV of just these columns."""
        self.delimiter = delimiter
        self.width = len(schema.names)
        position: dict[str, int] = {}
        for index, name in enumerate(schema.names):
            position.setdefault(name, index)
        wanted = sorted(position[c] for c in columns if types.get(c) == pa.float64())
        self.runs: list[tuple[int, int, pa.Field]] = []
        packed: set[str] = set()
        start = 0
        for i in range(1, len(wanted) + 1):
            if i == len(wanted) or wanted[i] != wanted[i - 1] + 1:
                first, stop = wanted[start], wanted[i - 1] + 1
                if stop - first >= 2:
                    names = schema.names[first:stop]
                    self.runs.append((first, stop, packed_field(names)))
                    packed.update(names)
                start = i
        others = sorted(position[c] for c in columns if c not in packed)
        self.others = others
        self.other_names = [schema.names[i] for i in others]
        kinds = {c: types[c] for c in self.other_names if c in types}
        self.narrow = narrow(self.other_names, kinds) if others else None

    def __call__(self, data: memoryview) -> pa.Table:
        fields = split_fields(data, self.delimiter, self.width)
        if fields.n_rows == 0:
            return pa.table({})
        arrays: list[pa.Array] = []
        schema: list[pa.Field] = []
        if self.narrow is not None:
            try:
                table = self.narrow(memoryview(fields.narrow_text(self.others)))
            except pa.ArrowInvalid as error:
                raise self._renumbered(error) from None
            for name in self.other_names:
                arrays.append(table.column(name).combine_chunks())
                schema.append(table.schema.field(name))
        for first, stop, field in self.runs:
            values = parse_run(fields, first, stop, self.delimiter)
            flat = pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)])
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, type=field.type))
            schema.append(field)
        batch = pa.RecordBatch.from_arrays(arrays, schema=packed_schema(schema))
        return pa.Table.from_batches([batch])

    def _renumbered(self, error: pa.ArrowInvalid) -> pa.ArrowInvalid:
        """A narrow-text error naming the file's column number, not the narrow text's."""
        text = re.sub(
            r"CSV column #(\d+)",
            lambda m: f"CSV column #{self.others[int(m.group(1))]}",
            str(error),
        )
        return pa.ArrowInvalid(text)
