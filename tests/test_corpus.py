"""A corpus of malformed and unusual inputs, each with the one outcome xent must give.

"Every malformed file gets a clear answer, nothing is ever silently wrong." Each case below
writes its input (text, bytes, or a builder for Parquet / gzip / directories) into its own
temporary directory, runs ``xent`` in-process and checks the outcome:

* exit 2 (an input error): the error itself is 1 or 2 lines on stderr (``xent: warning:``
  lines may come before it), the first starts with ``xent: error: `` and names the file and
  the problem; nothing on stdout; no traceback.
* exit 0: the JSON report (``--format json``) has exactly the expected warning codes, and the
  loss, kind, mode and per-class losses computed here independently with ``math`` (never
  copied from xent's output).

Cases where xent currently behaves wrongly keep the behaviour that is right and carry
``bug="BUG: ..."``: they run as ``xfail(strict=True)``, so a fix shows up as XPASS.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import math
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import invoke

EPS = 1e-15
MAX_LINE = 300  # no stderr line longer than this (with the temporary directory cut off)

# -- independent reference formulas ----------------------------------------------------------


def lse(z: list[float]) -> float:
    top = max(z)
    return top + math.log(math.fsum(math.exp(v - top) for v in z))


def ce(z: list[float], y: int) -> float:
    """Softmax cross-entropy of logits ``z`` for true class index ``y``."""
    return lse(z) - z[y]


def bce(z: float, y: int) -> float:
    """Sigmoid cross-entropy of one logit for a 0/1 outcome."""
    return max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))


def nll(p: float, eps: float = EPS) -> float:
    return -math.log(min(max(p, eps), 1.0))


def mean(values: list[float], weights: list[float] | None = None) -> float:
    if weights is None:
        weights = [1.0] * len(values)
    return math.fsum(w * v for w, v in zip(weights, values, strict=True)) / math.fsum(weights)


# The small file most cases vary: classes a, b; rows (a: [1, 2]) and (b: [0, 3]).
OK = "label,logit_a,logit_b\na,1,2\nb,0,3\n"
LOSS_A = ce([1, 2], 0)
LOSS_B = ce([0, 3], 1)
LOSS_OK = mean([LOSS_A, LOSS_B])


def lines(*rows: str, end: str = "\n") -> str:
    return end.join(rows) + end


# -- builders for binary formats ----------------------------------------------------------------

Builder = Callable[[Path], None]


def parquet(columns: dict[str, Any], **options: Any) -> Builder:
    def build(path: Path) -> None:
        pq.write_table(pa.table(columns), path, **options)

    return build


def gzipped(data: bytes | str) -> Builder:
    raw = data.encode() if isinstance(data, str) else data

    def build(path: Path) -> None:
        path.write_bytes(gzip.compress(raw, mtime=0))

    return build


def truncated_gzip(path: Path) -> None:
    body = "".join(f"{'ab'[i % 2]},{i % 7},{i % 5}\n" for i in range(20_000))
    data = gzip.compress(("label,logit_a,logit_b\n" + body).encode(), mtime=0)
    path.write_bytes(data[: len(data) // 2])


def _ok_parquet_bytes() -> bytes:
    table = pa.table(
        {"label": ["a", "b"] * 500, "logit_a": [1.0, 0.0] * 500, "logit_b": [2.0, 3.0] * 500}
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=100)
    return sink.getvalue().to_pybytes()


def truncated_parquet(path: Path) -> None:
    data = _ok_parquet_bytes()
    path.write_bytes(data[: len(data) // 2])


def parquet_corrupt_middle(path: Path) -> None:
    data = bytearray(_ok_parquet_bytes())
    n = len(data)
    data[n // 4 : n // 2] = b"\xab" * (n // 2 - n // 4)
    path.write_bytes(bytes(data))


def random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(42).randbytes(4096))


def parquet_named_csv(path: Path) -> None:
    path.write_bytes(_ok_parquet_bytes())


def directory(files: dict[str, bytes | str | Builder]) -> Builder:
    def build(path: Path) -> None:
        path.mkdir()
        for name, data in files.items():
            write_input(path / name, data)

    return build


def unreadable(path: Path) -> None:
    path.write_text(OK, encoding="utf-8")
    path.chmod(0)


def write_input(path: Path, data: bytes | str | Builder) -> None:
    if isinstance(data, bytes):
        path.write_bytes(data)
    elif isinstance(data, str):
        path.write_bytes(data.encode("utf-8"))
    else:
        data(path)


# -- inputs that are too big to write out literally ------------------------------------------

PROB_ROWS = [("b", 0.6, 0.4), ("a", 0.25, 0.75)]  # alternate, starting with b
LOGIT_ROWS = [("a", 2.0, -1.0), ("b", 0.5, 3.0)]


def late_logits_loss(n_probs: int, n_logit_pairs: int) -> float:
    """Every row read as logits: n_probs alternating PROB_ROWS, then LOGIT_ROWS pairs."""
    index = {"a": 0, "b": 1}
    per = {row: ce([row[1], row[2]], index[row[0]]) for row in PROB_ROWS + LOGIT_ROWS}
    total = math.fsum(
        [
            per[PROB_ROWS[0]] * ((n_probs + 1) // 2),
            per[PROB_ROWS[1]] * (n_probs // 2),
            per[LOGIT_ROWS[0]] * n_logit_pairs,
            per[LOGIT_ROWS[1]] * n_logit_pairs,
        ]
    )
    return total / (n_probs + 2 * n_logit_pairs)


def late_logits_rows(n_probs: int, n_logit_pairs: int) -> list[tuple[str, float, float]]:
    return [PROB_ROWS[i % 2] for i in range(n_probs)] + LOGIT_ROWS * n_logit_pairs


def late_logits_csv(n_probs: int, n_logit_pairs: int) -> str:
    rows = late_logits_rows(n_probs, n_logit_pairs)
    return "label,a,b\n" + "".join(f"{y},{p},{q}\n" for y, p, q in rows)


def late_logits_parquet(path: Path) -> None:
    rows = late_logits_rows(70_000, 50)
    columns = {
        "label": [r[0] for r in rows],
        "a": [r[1] for r in rows],
        "b": [r[2] for r in rows],
    }
    pq.write_table(pa.table(columns), path, row_group_size=65_536)


@functools.cache
def late_logits_stdin() -> bytes:
    # More than one read chunk (2 MiB) of probabilities before the first logit row.
    return late_logits_csv(1_200_000, 50).encode()


# -- the case table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    file: str  # written under the case's own directory; "-" reads ``stdin``
    data: bytes | str | Builder | None = None  # None: the file is not created
    args: tuple[str, ...] = ()
    exit: int = 0
    error: tuple[str, ...] = ()  # regexes (case-insensitive) the first error line must match
    hint: str | None = None  # regex the second error line must match
    stderr_re: tuple[str, ...] = ()  # regexes anywhere in stderr
    absent: tuple[str, ...] = ()  # regexes that must not appear in stderr
    warnings: tuple[str, ...] = ()  # the exact set of warning codes (exit 0 / 1)
    loss: float | None = None
    kind: str | None = None
    mode: str | None = None
    classes: dict[str, tuple[int, float | None]] | None = None  # name -> (count, loss)
    check: Callable[[dict[str, Any]], bool] | None = None  # more checks on the report
    expect: Callable[[Any, Path], None] | None = None  # replaces all the checks above
    stdin: bytes | str | Callable[[], bytes] | None = None
    command: str = "eval"
    names: str | None = None  # what the error line must name (default: the file name)
    bug: str | None = None  # xent is wrong here: xfail(strict=True)
    line_bug: str | None = None  # an error line is too long: xfail in the line test
    root_skip: bool = False  # meaningless as root (permissions)


def one_error(result: Any) -> list[str]:
    """The error lines of an exit-2 result (warning lines before them are allowed)."""
    return [ln for ln in result.stderr.splitlines() if not ln.startswith("xent: warning: ")]


# Flexible expectations, for cases where more than one answer is right.


def utf8_error_or_loss(loss: float) -> Callable[[Any, Path], None]:
    """Either evaluates correctly, or exit 2 naming the file and saying it is not UTF-8."""

    def expect(result: Any, path: Path) -> None:
        if result.exit_code == 0:
            assert json.loads(result.stdout)["loss"] == pytest.approx(loss, rel=1e-12)
            return
        assert_error(result, path.name, (r"utf-?8",), None)

    return expect


def quoted_jsonl_numbers(result: Any, path: Path) -> None:
    """Strings holding numbers: evaluate as in CSV, or say the column holds strings."""
    if result.exit_code == 0:
        assert json.loads(result.stdout)["loss"] == pytest.approx(LOSS_OK, rel=1e-12)
        return
    assert_error(result, path.name, ("logit_a", "string|text|not numeric"), None)
    assert "changed from" not in result.stderr  # row 0 did not change type: it is row 0


def bytes_labels(result: Any, path: Path) -> None:
    """Binary (bytes) labels: decode them, or explain; never "b'a' not among a, b"."""
    if result.exit_code == 0:
        assert json.loads(result.stdout)["loss"] == pytest.approx(LOSS_OK, rel=1e-12)
        return
    assert_error(result, path.name, ("label",), None)
    assert "b'" not in result.stderr


def printable_error(result: Any, path: Path) -> None:
    """Binary garbage in a text file: one printable line, no raw bytes echoed."""
    assert_error(result, path.name, (r"utf-?8|binary|parquet|not .*text",), None)
    assert all(ch.isprintable() for ch in result.stderr.replace("\n", ""))


def assert_error(result: Any, names: str, patterns: tuple[str, ...], hint: str | None) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    errors = one_error(result)
    assert 1 <= len(errors) <= 2, result.stderr
    first = errors[0]
    assert first.startswith("xent: error: "), result.stderr
    assert names in first, f"the error does not name {names!r}: {first}"
    for pattern in patterns:
        assert re.search(pattern, first, re.IGNORECASE), f"{pattern!r} not in: {first}"
    if hint is not None:
        assert len(errors) == 2, result.stderr
        assert re.search(hint, errors[1], re.IGNORECASE), f"{hint!r} not in: {errors[1]}"


# Per-class expectations reused below.
BOTH = {"a": (1, LOSS_A), "b": (1, LOSS_B)}

PROBS_AS_LOGITS = mean([ce([0.2, 0.8], 0), ce([0.3, 0.7], 1)])
WIDE_HEADER = "label," + ",".join(f"logit_{k}" for k in range(200))

CASES: list[Case] = [
    # -- empty, header-only, line endings, encodings ---------------------------------------
    Case("empty file", "preds.csv", b"", exit=2, error=("empty",)),
    Case("only blank lines", "preds.csv", "\n\n  \n", exit=2, error=("empty",)),
    Case("header only", "preds.csv", "label,logit_a,logit_b\n", exit=2, error=("no data rows",)),
    Case(
        "header only without final newline",
        "preds.csv",
        "label,logit_a,logit_b",
        exit=2,
        error=("no data rows",),
    ),
    Case(
        "header only, gzip",
        "preds.csv.gz",
        gzipped("label,logit_a,logit_b\n"),
        exit=2,
        error=("no data rows",),
    ),
    Case("empty gzip", "preds.csv.gz", gzipped(b""), exit=2, error=("empty",)),
    Case("UTF-8 BOM", "preds.csv", b"\xef\xbb\xbf" + OK.encode(), loss=LOSS_OK, classes=BOTH),
    Case("CRLF line endings", "preds.csv", OK.replace("\n", "\r\n"), loss=LOSS_OK, classes=BOTH),
    Case(
        "BOM and CRLF on stdin",
        "-",
        stdin=b"\xef\xbb\xbf" + OK.replace("\n", "\r\n").encode(),
        loss=LOSS_OK,
        classes=BOTH,
    ),
    Case(
        "blank lines between rows",
        "preds.csv",
        "label,logit_a,logit_b\n\na,1,2\n\n\nb,0,3\n\n",
        loss=LOSS_OK,
        check=lambda r: r["n_rows"] == 2,
    ),
    Case("no final newline", "preds.csv", OK.rstrip("\n"), loss=LOSS_OK),
    Case(
        "latin-1 byte in a label",
        "preds.csv",
        "label,logit_a,logit_b\ncaf\xe9,1,2\nb,0,3\n".encode("latin-1"),
        exit=2,
        error=(r"not valid UTF-8",),
        hint="iconv",
    ),
    Case(
        "latin-1 bytes only in a column that is not needed",
        "preds.csv",
        "label,logit_a,logit_b,note\na,1,2,caf\xe9\nb,0,3,na\xefve\n".encode("latin-1"),
        loss=LOSS_OK,
    ),
    Case(
        "latin-1 byte in the header of a column that is not needed",
        "preds.csv",
        "label,logit_a,logit_b,n\xf6te\na,1,2,x\nb,0,3,y\n".encode("latin-1"),
        expect=utf8_error_or_loss(LOSS_OK),
    ),
    Case(
        "UTF-16 file",
        "preds.csv",
        OK.encode("utf-16"),
        exit=2,
        error=(r"utf-?8|utf-?16",),
    ),
    Case(
        "Parquet bytes in a .csv file",
        "preds.csv",
        parquet_named_csv,
        expect=printable_error,
    ),
    # -- ragged rows, quoting, delimiters -----------------------------------------------------
    Case(
        "ragged row: too many fields",
        "preds.csv",
        "label,logit_a,logit_b\na,1,2,5\nb,0,3\n",
        exit=2,
        error=("expected 3 columns, got 4",),
    ),
    Case(
        "ragged row: too few fields",
        "preds.csv",
        "label,logit_a,logit_b\na,1\nb,0,3\n",
        exit=2,
        error=("expected 3 columns, got 2",),
    ),
    Case(
        "ragged row after 3000 good rows",
        "preds.csv",
        "label,logit_a,logit_b\n" + "a,1,2\n" * 3000 + "b,0\n",
        exit=2,
        error=("expected 3 columns, got 2",),
    ),
    Case(
        "ragged row in a wide file",
        "preds.csv",
        lines(WIDE_HEADER, "1," + ",".join(["0.123456"] * 200), "1," + ",".join(["0.1"] * 199)),
        exit=2,
        error=("expected 201 columns, got 200",),
    ),
    Case(
        "trailing comma on every line",
        "preds.csv",
        "label,logit_a,logit_b,\na,1,2,\nb,0,3,\n",
        loss=LOSS_OK,
    ),
    Case(
        "quoted numbers",
        "preds.csv",
        'label,logit_a,logit_b\na,"1","2"\nb,"0","3"\n',
        loss=LOSS_OK,
        kind="logits",
    ),
    Case(
        "quoted header and labels with commas",
        "preds.csv",
        '"label","logit_a,b","logit_c"\n"a,b",1,2\nc,0,3\n',
        loss=LOSS_OK,
        classes={"a,b": (1, LOSS_A), "c": (1, LOSS_B)},
    ),
    Case(
        "quoted label with a newline inside",
        "preds.csv",
        'label,logit_a,logit_b\n"a\nx",1,2\nb,0,3\n',
        exit=2,
        error=("not among the classes",),
    ),
    Case(
        "TSV with commas inside fields",
        "preds.tsv",
        "label\tlogit_a,b\tlogit_c\tnote\na,b\t1\t2\thello, world\nc\t0\t3\tx,y\n",
        loss=LOSS_OK,
        classes={"a,b": (1, LOSS_A), "c": (1, LOSS_B)},
    ),
    Case(
        "comma-separated text named .tsv",
        "preds.tsv",
        OK,
        exit=2,
        error=("header is one column", "separated by ','", "not tabs"),
        hint="--input-format csv",
    ),
    Case(
        "tab-separated text named .csv",
        "preds.csv",
        OK.replace(",", "\t"),
        exit=2,
        error=("header is one column", "separated by tabs", "not ','"),
        hint="--input-format tsv",
    ),
    Case(
        "semicolons and decimal commas (a spreadsheet export)",
        "preds.csv",
        "label;logit_a;logit_b\na;1,5;0,2\nb;0,1;2,0\n",
        exit=2,
        error=("header is one column", "separated by ';'"),
        hint="comma-separated",
    ),
    Case(
        "unknown file extension",
        "preds.txt",
        OK,
        exit=2,
        error=("cannot tell the format",),
        hint="--input-format",
    ),
    # -- non-finite values written as text ------------------------------------------------------
    Case(
        "NaN, nan, inf, -inf, Infinity as text",
        "preds.csv",
        "label,logit_a,logit_b\na,NaN,2\nb,nan,3\nb,inf,1\na,-inf,1\nb,Infinity,2\na,1,2\n",
        warnings=("non-finite",),
        loss=LOSS_A,
        check=lambda r: (r["n_skipped"], r["warnings"][0]["rows"]) == (5, [0, 1, 2, 3, 4]),
    ),
    Case(
        "a number that overflows to inf (1e400)",
        "preds.csv",
        "label,logit_a,logit_b\na,1e400,2\nb,0,3\n",
        warnings=("non-finite",),
        loss=LOSS_B,
    ),
    Case(
        "huge finite logits",
        "preds.csv",
        "label,logit_a,logit_b\na,1000,-1000\nb,1000,-1000\n",
        loss=mean([ce([1000, -1000], 0), ce([1000, -1000], 1)]),
    ),
    Case(
        "missing labels: empty, NA, None, nan",
        "preds.csv",
        "label,logit_a,logit_b\n,1,2\nNA,1,2\nb,0,3\nNone,5,5\nnan,0,0\n",
        warnings=("missing-label",),
        loss=LOSS_B,
        check=lambda r: r["warnings"][0]["rows"] == [0, 1, 3, 4],
    ),
    # -- column names -----------------------------------------------------------------------------
    Case(
        "duplicate score column",
        "preds.csv",
        "label,logit_a,logit_a\na,1,2\nb,0,3\n",
        exit=2,
        error=("'logit_a'", "more than once"),
    ),
    Case(
        "duplicate label column",
        "preds.csv",
        "label,label,logit_a,logit_b\na,a,1,2\nb,b,0,3\n",
        exit=2,
        error=("'label'", "more than once"),
    ),
    Case(
        "duplicate column that is not needed",
        "preds.csv",
        "label,logit_a,logit_b,note,note\na,1,2,x,y\nb,0,3,z,w\n",
        loss=LOSS_OK,
    ),
    Case(
        "unicode class names",
        "preds.csv",
        "label,logit_ü,logit_日本\nü,1,2\n日本,0,3\n",
        loss=LOSS_OK,
        classes={"ü": (1, LOSS_A), "日本": (1, LOSS_B)},
    ),
    Case(
        "spaces after the commas of the header",
        "preds.csv",
        "label, logit_a, logit_b\na,1,2\nb,0,3\n",
        loss=LOSS_OK,
        classes=BOTH,
    ),
    Case(
        "whitespace and unicode in column names",
        "preds.csv",
        "label, logit_a ,logit_ü\na,1,2\nü,0,3\n",
        mode="categorical",
        loss=LOSS_OK,
        classes={"a": (1, LOSS_A), "ü": (1, LOSS_B)},
    ),
    Case(
        "padded logit_ names with values in [0, 1]",
        "preds.csv",
        "label, logit_a, logit_b\na,0.2,0.8\nb,0.3,0.7\n",
        kind="logits",
        warnings=("probabilities-as-logits",),
        loss=PROBS_AS_LOGITS,
    ),
    Case(
        "a column named id is not a score",
        "preds.csv",
        "id,label,a,b\n0,a,0.2,0.8\n1,b,0.3,0.7\n2,b,0.5,0.5\n3,a,0.9,0.1\n",
        kind="probs",
        warnings=(),
        loss=mean([nll(0.2), nll(0.7), nll(0.5), nll(0.9)]),
        check=lambda r: [c["class"] for c in r["classes"]] == ["a", "b"],
    ),
    Case(
        "no label column",
        "preds.csv",
        "truth,logit_a,logit_b\na,1,2\n",
        exit=2,
        error=("no label column",),
        hint="--label",
    ),
    Case(
        "Parquet with no columns",
        "preds.parquet",
        parquet({}),
        exit=2,
        error=("no label column",),
    ),
    # -- labels ----------------------------------------------------------------------------------
    Case(
        "float labels match integer classes",
        "preds.csv",
        "label,logit_0,logit_1\n1.0,1,2\n0.0,0,3\n",
        loss=mean([ce([1, 2], 1), ce([0, 3], 0)]),
        classes={"0": (1, ce([0, 3], 0)), "1": (1, ce([1, 2], 1))},
    ),
    Case(
        "float labels with NaN, Parquet",
        "preds.parquet",
        parquet({"label": [1.0, 0.0, float("nan")], "logit_0": [1, 0, 2], "logit_1": [2, 3, 1]}),
        warnings=("missing-label",),
        loss=mean([ce([1, 2], 1), ce([0, 3], 0)]),
    ),
    Case(
        "boolean labels, binary, text",
        "preds.csv",
        "label,logit\ntrue,1\nfalse,-2\nTRUE,0.5\n",
        mode="binary",
        loss=mean([bce(1, 1), bce(-2, 0), bce(0.5, 1)]),
        check=lambda r: [c["count"] for c in r["classes"]] == [1, 2],
    ),
    Case(
        "boolean labels with a null, Parquet",
        "preds.parquet",
        parquet({"label": [True, False, None], "logit": [1.0, -2.0, 0.5]}),
        mode="binary",
        warnings=("missing-label",),
        loss=mean([bce(1, 1), bce(-2, 0)]),
    ),
    Case(
        "mixed label spellings: name, position, float",
        "preds.csv",
        "label,logit_a,logit_b\na,1,2\n1,0,3\n1.0,2,2\n0,4,1\n",
        loss=mean([ce([1, 2], 0), ce([0, 3], 1), ce([2, 2], 1), ce([4, 1], 0)]),
    ),
    Case(
        "label not among the classes",
        "preds.csv",
        "label,logit_a,logit_b\na,1,2\nc,0,3\n",
        exit=2,
        error=("'c'", "not among the classes"),
        hint="a, b",
    ),
    Case(
        "1-based labels",
        "preds.csv",
        "label,logit_0,logit_1,logit_2\n1,1,2,0\n3,0,3,1\n2,0,1,1\n",
        exit=2,
        error=("label '?3'? not among the classes",),
        hint="1-based",
    ),
    Case(
        "fractional label",
        "preds.csv",
        "label,logit_0,logit_1\n1.5,1,2\n",
        exit=2,
        error=("'1.5'", "not among the classes"),
        hint="0, 1",
    ),
    Case(
        "very long label value not among the classes",
        "preds.csv",
        f"label,logit_a,logit_b\na,1,2\n{'x' * 500},0,3\n",
        exit=2,
        error=("not among the classes",),
    ),
    Case(
        "bytes labels, Parquet",
        "preds.parquet",
        parquet({"label": pa.array([b"a", b"b"]), "logit_a": [1.0, 0.0], "logit_b": [2.0, 3.0]}),
        expect=bytes_labels,
    ),
    Case(
        "JSONL label changes type (number, then string)",
        "preds.jsonl",
        '{"label":0,"logit_a":1,"logit_b":2}\n{"label":"b","logit_a":0,"logit_b":3}\n',
        exit=2,
        error=("label", r"\(in line 2\)"),
    ),
    Case(
        "JSONL label int then float",
        "preds.jsonl",
        '{"label":0,"logit_a":1,"logit_b":2}\n{"label":1.0,"logit_a":0,"logit_b":3}\n',
        loss=LOSS_OK,
    ),
    Case(
        "JSONL list as a label",
        "preds.jsonl",
        '{"label":[1],"logit_a":1,"logit_b":2}\n',
        exit=2,
        error=("label",),
    ),
    Case(
        "JSONL object as a label",
        "preds.jsonl",
        '{"label":{"x":1},"logit_a":1,"logit_b":2}\n',
        exit=2,
        error=("label",),
    ),
    Case(
        "single row",
        "preds.csv",
        "label,logit_a,logit_b\na,1,2\n",
        loss=LOSS_A,
        classes={"a": (1, LOSS_A), "b": (0, None)},
    ),
    Case(
        "a class with no rows",
        "preds.csv",
        "label,logit_a,logit_b,logit_c\na,1,2,0\nb,0,3,1\n",
        loss=mean([ce([1, 2, 0], 0), ce([0, 3, 1], 1)]),
        classes={"a": (1, ce([1, 2, 0], 0)), "b": (1, ce([0, 3, 1], 1)), "c": (0, None)},
    ),
    Case(
        "all rows skipped",
        "preds.csv",
        "label,logit_a,logit_b\n,1,2\na,nan,3\n",
        exit=2,
        error=("skipped",),
        stderr_re=(r"missing|empty", r"non-finite|nan"),
    ),
    Case(
        "score column all null, Parquet",
        "preds.parquet",
        parquet(
            {
                "label": ["a", "b"],
                "logit_a": pa.array([None, None], pa.float64()),
                "logit_b": [1.0, 2.0],
            }
        ),
        exit=2,
        error=("skipped",),
        stderr_re=(r"non-finite|nan|null|missing",),
    ),
    # -- weights -------------------------------------------------------------------------------
    Case(
        "some zero weights",
        "preds.csv",
        "label,logit_a,logit_b,w\na,1,2,0\nb,0,3,1\n",
        args=("--weight", "w"),
        loss=LOSS_B,
        classes={"a": (1, None), "b": (1, LOSS_B)},
    ),
    Case(
        "fractional weights",
        "preds.csv",
        "label,logit_a,logit_b,w\na,1,2,0.25\nb,0,3,1.5\n",
        args=("--weight", "w"),
        loss=mean([LOSS_A, LOSS_B], [0.25, 1.5]),
    ),
    Case(
        "negative weight",
        "preds.csv",
        "label,logit_a,logit_b,w\na,1,2,1\nb,0,3,-1\n",
        args=("--weight", "w"),
        exit=2,
        error=("negative weight", "row 1", "'w'"),
        hint=">= 0",
    ),
    Case(
        "NaN weight",
        "preds.csv",
        "label,logit_a,logit_b,w\na,1,2,nan\nb,0,3,2\n",
        args=("--weight", "w"),
        warnings=("non-finite",),
        loss=LOSS_B,
    ),
    Case(
        "empty weight",
        "preds.csv",
        "label,logit_a,logit_b,w\na,1,2,\nb,0,3,2\n",
        args=("--weight", "w"),
        warnings=("non-finite",),
        loss=LOSS_B,
    ),
    Case(
        "all weights zero",
        "preds.csv",
        "label,logit_a,logit_b,w\na,1,2,0\nb,0,3,0\n",
        args=("--weight", "w"),
        exit=2,
        error=("weights", "'w'"),
    ),
    Case(
        "weight column holds text",
        "preds.csv",
        "label,logit_a,logit_b,w\na,1,2,heavy\nb,0,3,1\n",
        args=("--weight", "w"),
        exit=2,
        error=("'w'", "heavy"),
    ),
    Case(
        "--weight column missing",
        "preds.csv",
        OK,
        args=("--weight", "w"),
        exit=2,
        error=("--weight", "'w'", "not found"),
        hint="columns are: label, logit_a, logit_b",
    ),
    # -- score columns ---------------------------------------------------------------------------
    Case(
        "score column holds text",
        "preds.csv",
        "label,logit_a,logit_b\na,1,x\nb,0,3\n",
        exit=2,
        error=("'logit_b'", "'x'"),
    ),
    Case(
        "score column of words, Parquet",
        "preds.parquet",
        parquet({"label": ["a", "b"], "logit_a": ["high", "low"], "logit_b": [1.5, 3.0]}),
        exit=2,
        error=("'logit_a'", "not numeric"),
    ),
    Case(
        "score column of numeric strings, Parquet",
        "preds.parquet",
        parquet({"label": ["a", "b"], "logit_a": ["1", "0"], "logit_b": ["2", "3"]}),
        loss=LOSS_OK,
    ),
    Case(
        "score column of booleans, JSONL",
        "preds.jsonl",
        '{"label":"a","logit_a":true,"logit_b":false}\n',
        exit=2,
        error=("'logit_a'", "not numeric"),
    ),
    Case(
        "quoted numbers, JSONL",
        "preds.jsonl",
        '{"label":"a","logit_a":"1","logit_b":"2"}\n{"label":"b","logit_a":"0","logit_b":"3"}\n',
        expect=quoted_jsonl_numbers,
    ),
    Case(
        "JSONL row without a score field",
        "preds.jsonl",
        '{"label":"a","logit_a":1}\n{"label":"b","logit_a":0,"logit_b":3}\n',
        warnings=("non-finite",),
        loss=LOSS_B,
    ),
    Case(
        "JSONL line that is not JSON",
        "preds.jsonl",
        '{"label":"a","logit_a":1,"logit_b":2}\nnot json\n',
        exit=2,
        error=("json", r"\(in line 2\)"),
    ),
    Case(
        "JSONL blank lines",
        "preds.jsonl",
        '{"label":"a","logit_a":1,"logit_b":2}\n\n{"label":"b","logit_a":0,"logit_b":3}\n\n',
        loss=LOSS_OK,
    ),
    Case(
        "--scores names a missing column",
        "preds.csv",
        OK,
        args=("--scores", "logit_a,logit_z"),
        exit=2,
        error=("--scores", "'logit_z'", "not found"),
        hint="columns are: label, logit_a, logit_b",
    ),
    Case(
        "--scores glob matches nothing",
        "preds.csv",
        OK,
        args=("--scores", "prob_*"),
        exit=2,
        error=("--scores", "prob_"),
        hint="columns are",
    ),
    Case(
        "--label names a missing column",
        "preds.csv",
        OK,
        args=("--label", "target"),
        exit=2,
        error=("--label", "'target'", "not found"),
        hint="columns are: label, logit_a, logit_b",
    ),
    # -- list-valued score columns ---------------------------------------------------------------
    Case(
        "list column, JSONL",
        "preds.jsonl",
        '{"label":0,"logits":[1,2]}\n{"label":1,"logits":[0,3]}\n',
        loss=LOSS_OK,
    ),
    Case(
        "list column rows of different lengths, JSONL",
        "preds.jsonl",
        '{"label":0,"logits":[1,2]}\n{"label":1,"logits":[1,2,3]}\n',
        exit=2,
        error=("'logits'", "different lengths"),
    ),
    Case(
        "list column rows of different lengths, Parquet",
        "preds.parquet",
        parquet({"label": [0, 1, 1], "logits": [[1.0, 2.0], [1.0, 2.0, 3.0], [0.0, 1.0]]}),
        exit=2,
        error=("'logits'", "different lengths"),
    ),
    Case(
        "list column with a null element, Parquet",
        "preds.parquet",
        parquet({"label": [0, 1], "logits": pa.array([[1.0, None], [0.0, 3.0]])}),
        warnings=("non-finite",),
        loss=LOSS_B,
    ),
    # -- broken binary and compressed files ----------------------------------------------------
    Case(
        "truncated Parquet (first half)",
        "preds.parquet",
        truncated_parquet,
        exit=2,
        error=("parquet",),
    ),
    Case(
        "Parquet with a corrupted middle",
        "preds.parquet",
        parquet_corrupt_middle,
        exit=2,
        error=("cannot read",),
    ),
    Case("random bytes named .parquet", "preds.parquet", random_bytes, exit=2, error=("parquet",)),
    Case(
        "Parquet with zero rows",
        "preds.parquet",
        parquet(
            {
                "label": pa.array([], pa.string()),
                "logit_a": pa.array([], pa.float64()),
                "logit_b": pa.array([], pa.float64()),
            }
        ),
        exit=2,
        error=("no data rows",),
    ),
    Case(
        "CSV read as Parquet (--input-format)",
        "preds.csv",
        OK,
        args=("--input-format", "parquet"),
        exit=2,
        error=("parquet",),
    ),
    Case("a .csv.gz that is not gzip", "preds.csv.gz", OK, exit=2, error=("cannot read",)),
    Case(
        "truncated .csv.gz",
        "preds.csv.gz",
        truncated_gzip,
        exit=2,
        error=("truncated",),
    ),
    Case("a .csv.zst that is not zstd", "preds.csv.zst", OK, exit=2, error=("zstd",)),
    Case("a .csv.bz2 that is not bz2", "preds.csv.bz2", OK, exit=2, error=("bz2",)),
    Case("valid .csv.gz", "preds.csv.gz", gzipped(OK), loss=LOSS_OK, classes=BOTH),
    # -- files, directories, stdin -----------------------------------------------------------------
    Case("no such file", "missing.csv", None, exit=2, error=("no such file",)),
    Case(
        "unreadable file",
        "preds.csv",
        unreadable,
        exit=2,
        error=("not readable|permission",),
        root_skip=True,
    ),
    Case(
        "directory with mixed formats",
        "preds",
        directory(
            {
                "a.csv": "label,logit_a,logit_b\nb,0,3\n",
                "b.parquet": parquet({"label": ["a"], "logit_a": [1.0], "logit_b": [2.0]}),
                "c.jsonl": '{"label":"a","logit_a":0.5,"logit_b":-1}\n',
                "notes.txt": "not data",
            }
        ),
        loss=mean([LOSS_B, LOSS_A, ce([0.5, -1], 0)]),
        check=lambda r: [Path(f).name for f in r["files"]] == ["a.csv", "b.parquet", "c.jsonl"],
    ),
    Case(
        "directory: label types differ between files",
        "preds",
        directory(
            {
                "a.csv": "label,logit_0,logit_1\n1,1,2\n",
                "b.parquet": parquet({"label": ["0"], "logit_0": [0.0], "logit_1": [3.0]}),
            }
        ),
        loss=mean([ce([1, 2], 1), ce([0, 3], 0)]),
    ),
    Case(
        "directory: files with different columns",
        "preds",
        directory({"a.csv": OK, "b.csv": "label,logit_a,logit_c\na,1,2\n"}),
        exit=2,
        error=("'logit_b'", "not found"),
        names="b.csv",
    ),
    Case(
        "directory with no data files",
        "preds",
        directory({"readme.md": "# notes\n", "preds.txt": OK}),
        exit=2,
        error=("no CSV/TSV/Parquet/JSONL",),
    ),
    Case("empty stdin", "-", stdin="", exit=2, error=("empty",), names="<stdin>"),
    Case(
        "empty stdin, rows",
        "-",
        stdin="",
        command="rows",
        exit=2,
        error=("empty",),
        names="<stdin>",
    ),
    Case(
        "empty stdin as Parquet",
        "-",
        stdin=b"",
        args=("--input-format", "parquet"),
        exit=2,
        error=("0 bytes|empty",),
        names="<stdin>",
    ),
    Case(
        "header only on stdin",
        "-",
        stdin="label,logit_a,logit_b\n",
        exit=2,
        error=("no data rows",),
        names="<stdin>",
    ),
    # -- probabilities ---------------------------------------------------------------------------
    Case(
        "probabilities outside [0, 1] under --kind probs",
        "preds.csv",
        "label,a,b\na,1.2,-0.2\nb,0.3,0.7\n",
        args=("--kind", "probs"),
        exit=2,
        error=(r"outside \[0, 1\]", "row 0"),
        hint="--kind logits",
    ),
    Case(
        "prob_ columns outside [0, 1]",
        "preds.csv",
        "label,prob_a,prob_b\na,0.3,0.7\nb,1.5,-0.5\n",
        exit=2,
        error=(r"outside \[0, 1\]", "row 1"),
        hint="--kind",
    ),
    Case(
        "log-probabilities above 0 under --kind log-probs",
        "preds.csv",
        "label,a,b\na,-0.5,0.2\n",
        args=("--kind", "log-probs"),
        exit=2,
        error=("above 0",),
    ),
    Case(
        "probabilities in logit_ columns",
        "preds.csv",
        "label,logit_a,logit_b\na,0.2,0.8\nb,0.3,0.7\n",
        kind="logits",
        warnings=("probabilities-as-logits",),
        loss=PROBS_AS_LOGITS,
    ),
    Case(
        "probabilities under --kind logits",
        "preds.csv",
        "label,a,b\na,0.2,0.8\nb,0.3,0.7\n",
        args=("--kind", "logits"),
        kind="logits",
        warnings=("probabilities-as-logits",),
        loss=PROBS_AS_LOGITS,
    ),
    Case(
        "probability rows not summing to 1",
        "preds.csv",
        "label,prob_a,prob_b\na,0.2,0.9\nb,0.3,0.7\n",
        kind="probs",
        warnings=("not-normalized",),
        loss=mean([nll(0.2), nll(0.7)]),
        check=lambda r: r["warnings"][0]["rows"] == [0],
    ),
    Case(
        "probability rows not summing to 1, --renormalize",
        "preds.csv",
        "label,prob_a,prob_b\na,0.2,0.9\nb,0.3,0.7\n",
        args=("--renormalize",),
        warnings=("not-normalized",),
        loss=mean([nll(0.2 / 1.1), nll(0.7)]),
    ),
    Case(
        "zero-probability row",
        "preds.csv",
        "label,prob_a,prob_b\na,0.0,1.0\nb,0.3,0.7\n",
        warnings=("zero-probability",),
        loss=mean([-math.log(EPS), nll(0.7)]),
        check=lambda r: r["zero_probability"] == 1 and r["warnings"][0]["rows"] == [0],
    ),
    Case(
        "zero-probability row with --eps 0",
        "preds.csv",
        "label,prob_a,prob_b\na,0.0,1.0\nb,0.3,0.7\n",
        args=("--eps", "0"),
        warnings=("zero-probability",),
        check=lambda r: r["loss"] == "inf" and r["classes"][1]["loss"] == pytest.approx(nll(0.7)),
    ),
    Case(
        "binary probability 0 for a positive",
        "preds.csv",
        "label,p\n1,0.9\n0,0.0\n1,0\n",
        mode="binary",
        kind="probs",
        warnings=("zero-probability",),
        loss=mean([nll(0.9), nll(1.0), -math.log(EPS)]),
    ),
    # -- binary and multilabel ---------------------------------------------------------------
    Case(
        "binary with three label values",
        "preds.csv",
        "label,logit\n0,1\n1,-2\n2,0.5\n",
        exit=2,
        error=("two label values", "0", "1", "2"),
        hint="--mode categorical",
    ),
    Case(
        "binary text labels without --positive",
        "preds.csv",
        "label,logit\ncat,1\ndog,-2\n",
        exit=2,
        error=("positive", "cat", "dog"),
        hint="--positive",
    ),
    Case(
        "binary text labels with --positive",
        "preds.csv",
        "label,logit\ncat,1\ndog,-2\ndog,0.5\n",
        args=("--positive", "dog"),
        loss=mean([bce(1, 0), bce(-2, 1), bce(0.5, 1)]),
    ),
    Case(
        "binary --positive value absent from the labels",
        "preds.csv",
        "label,logit\n0,1\n1,-2\n",
        args=("--positive", "2"),
        exit=2,
        error=("positive", r"\b2\b"),
        absent=("found more",),
    ),
    Case(
        "binary labels -1 / 1",
        "preds.csv",
        "label,logit\n-1,1\n1,-2\n1,0.5\n",
        loss=mean([bce(1, 0), bce(-2, 1), bce(0.5, 1)]),
    ),
    Case(
        "binary with positives only",
        "preds.csv",
        "label,logit\n1,1\n1,-2\n",
        loss=mean([bce(1, 1), bce(-2, 1)]),
        classes={"0": (0, None), "1": (2, mean([bce(1, 1), bce(-2, 1)]))},
    ),
    Case(
        "multilabel with a 2",
        "preds.csv",
        "y_a,y_b,logit_a,logit_b\n0,1,1,2\n2,0,0,3\n",
        args=("--label", "y_*"),
        exit=2,
        error=("0/1", "found '?2'?", "y_a"),
    ),
    Case(
        "multilabel with 0.5",
        "preds.csv",
        "y_a,y_b,logit_a,logit_b\n0,1,1,2\n0.5,0,0,3\n",
        args=("--label", "y_*"),
        exit=2,
        error=("0/1", "0.5"),
    ),
    Case(
        "multilabel true/false",
        "preds.csv",
        "y_a,y_b,logit_a,logit_b\nfalse,true,1,2\ntrue,false,0,3\n",
        args=("--label", "y_*"),
        mode="multilabel",
        loss=mean([bce(1, 0), bce(2, 1), bce(0, 1), bce(3, 0)]),
    ),
    # -- the kind decided from values must not be silently wrong -----------------------------
    Case(
        "5000 probability rows, then logits (CSV)",
        "preds.csv",
        late_logits_csv(5000, 50),
        kind="logits",
        loss=late_logits_loss(5000, 50),
    ),
    # The kind is decided from the first 10,000 rows with finite scores, whatever the batch
    # size; a later row that contradicts it is exit 2 for every command (one policy).
    Case(
        "70000 probability rows, then logits (Parquet): the sample decided probs",
        "preds.parquet",
        late_logits_parquet,
        exit=2,
        error=("looked like probs", "row 70000"),
        hint="--kind",
    ),
    Case(
        "70000 probability rows, then logits: xent rows --top says the same",
        "preds.parquet",
        late_logits_parquet,
        command="rows",
        args=("--top", "3"),
        exit=2,
        error=("looked like probs", "row 70000"),
        hint="--kind",
    ),
    Case(
        "70000 probability rows, then logits, told --kind logits",
        "preds.parquet",
        late_logits_parquet,
        args=("--kind", "logits"),
        kind="logits",
        loss=late_logits_loss(70_000, 50),
    ),
    Case(
        "12 MiB of probability rows, then logits, on stdin (cannot restart)",
        "-",
        stdin=late_logits_stdin,
        exit=2,
        error=("looked like probs", "row 1200000"),
        hint="--kind",
        names="<stdin>",
    ),
    # -- soft targets and --id ---------------------------------------------------------------
    Case(
        "soft targets with zeros",
        "preds.csv",
        "logit_a,logit_b,logit_c,t_a,t_b,t_c\n1,2,0,0.5,0.5,0\n0,3,1,0,0,1\n",
        args=("--targets", "t_*"),
        loss=mean(
            [
                -(0.5 * (1 - lse([1, 2, 0])) + 0.5 * (2 - lse([1, 2, 0]))),
                -(1 - lse([0, 3, 1])),
            ]
        ),
    ),
    Case(
        "negative soft target",
        "preds.csv",
        "logit_a,logit_b,t_a,t_b\n1,2,1.5,-0.5\n",
        args=("--targets", "t_*"),
        exit=2,
        error=("soft targets", ">= 0|negative"),
    ),
    Case(
        "--id names rows in warnings",
        "preds.csv",
        "name,label,logit_a,logit_b\nr0,a,1,2\nr1,b,nan,3\nr2,b,0,3\n",
        args=("--id", "name"),
        warnings=("non-finite",),
        loss=mean([LOSS_A, LOSS_B]),
        check=lambda r: r["warnings"][0]["ids"] == ["r1"] and r["warnings"][0]["rows"] == [1],
    ),
    Case(
        "--id names a missing column",
        "preds.csv",
        OK,
        args=("--id", "name"),
        exit=2,
        error=("--id", "'name'", "not found"),
        hint="columns are",
    ),
    # -- gates and rows ----------------------------------------------------------------------------
    Case(
        "--strict with a warning",
        "preds.csv",
        "label,logit_a,logit_b\na,1,2\nb,nan,3\n",
        args=("--strict",),
        exit=1,
        warnings=("non-finite",),
        loss=LOSS_A,
        stderr_re=("gate failed",),
    ),
    Case(
        "rows: label not among the classes",
        "preds.csv",
        "label,logit_a,logit_b\na,1,2\nc,0,3\n",
        command="rows",
        exit=2,
        error=("'c'", "not among the classes"),
    ),
    Case(
        "rows --top on a ragged file",
        "preds.csv",
        "label,logit_a,logit_b\na,1,2,5\n",
        args=("--top", "3"),
        command="rows",
        exit=2,
        error=("expected 3 columns",),
    ),
    # -- index and key columns, labels naming columns, positive from the name (issue 10) --
    Case(
        "pandas to_csv index: an unnamed first column",
        "preds.csv",
        ",label,a,b,c\n0,a,0.7,0.2,0.1\n1,b,0.1,0.8,0.1\n2,c,0.2,0.2,0.6\n",
        kind="probs",
        loss=mean([nll(0.7), nll(0.8), nll(0.6)]),
        check=lambda r: r["columns"]["scores"] == ["a", "b", "c"],
    ),
    Case(
        "pandas index read back and written again: Unnamed: 0 and Unnamed: 0.1",
        "preds.csv",
        "Unnamed: 0.1,Unnamed: 0,label,a,b\n0,5,0,0.9,0.1\n1,7,1,0.4,0.6\n2,9,1,0.3,0.7\n",
        loss=mean([nll(0.9), nll(0.6), nll(0.7)]),
    ),
    Case(
        "pandas to_parquet after a filter: __index_level_0__",
        "preds.parquet",
        parquet(
            {
                "label": [0, 1, 1],
                "a": [0.9, 0.4, 0.3],
                "b": [0.1, 0.6, 0.7],
                "__index_level_0__": [3, 8, 12],
            }
        ),
        loss=mean([nll(0.9), nll(0.6), nll(0.7)]),
        check=lambda r: r["columns"]["scores"] == ["a", "b"],
    ),
    Case(
        "R write.csv row names under an empty quoted name",
        "preds.csv",
        '"","label","a","b"\n"1","a",0.9,0.1\n"2","b",0.4,0.6\n"3","b",0.3,0.7\n',
        loss=mean([nll(0.9), nll(0.6), nll(0.7)]),
    ),
    Case(
        "readr and pandas reset_index names: ...1 and level_0",
        "preds.csv",
        "...1,level_0,label,a,b\n1,0,0,0.9,0.1\n2,1,1,0.4,0.6\n3,2,1,0.3,0.7\n",
        loss=mean([nll(0.9), nll(0.6), nll(0.7)]),
    ),
    Case(
        "a counter column before integer labels: ask for --scores",
        "preds.csv",
        "n,label,a,b\n0,0,0.9,0.1\n1,1,0.4,0.6\n2,1,0.3,0.7\n",
        exit=2,
        error=("cannot tell which columns hold the scores", "'n' counts rows"),
        hint="--scores a,b",
    ),
    Case(
        "a constant integer column: ask for --scores",
        "preds.csv",
        "label,k,a,b\n0,2,0.9,0.1\n1,2,0.4,0.6\n1,2,0.3,0.7\n",
        exit=2,
        error=("'k' is constant",),
        hint="--scores a,b",
    ),
    Case(
        "an integer key column: ask for --scores",
        "preds.csv",
        "image,label,a,b\n17,0,0.9,0.1\n3,1,0.4,0.6\n40,1,0.3,0.7\n",
        exit=2,
        error=("'image' holds distinct integers",),
        hint="--scores",
    ),
    Case(
        "a counter column, but the labels name the score columns",
        "preds.csv",
        "n,label,a,b\n0,a,0.9,0.1\n1,b,0.4,0.6\n2,b,0.3,0.7\n",
        loss=mean([nll(0.9), nll(0.6), nll(0.7)]),
        check=lambda r: r["columns"]["scores"] == ["a", "b"],
    ),
    Case(
        "integer-valued scores named by the labels are scores",
        "preds.csv",
        "label,a,b\na,1,2\nb,0,3\na,5,4\n",
        kind="logits",
        loss=mean([ce([1, 2], 0), ce([0, 3], 1), ce([5, 4], 0)]),
    ),
    Case(
        "labels that are whole column names sharing a prefix",
        "preds.csv",
        "label,class_a,class_b\nclass_a,0.7,0.3\nclass_b,0.2,0.8\n",
        loss=mean([nll(0.7), nll(0.8)]),
        classes={"a": (1, nll(0.7)), "b": (1, nll(0.8))},
    ),
    Case(
        "binary text labels, one of them names the score column",
        "preds.csv",
        "label,prob_benign\nbenign,0.9\nmalignant,0.2\nbenign,0.6\n",
        mode="binary",
        loss=mean([nll(0.9), nll(0.8), nll(0.6)]),
        classes={"malignant": (1, nll(0.8)), "benign": (2, mean([nll(0.9), nll(0.6)]))},
    ),
    Case(
        "multilabel label and score columns paired by name, no --label",
        "preds.csv",
        "y_cat,y_dog,logit_cat,logit_dog\n1,0,2.0,-1.0\n0,1,0.5,-0.5\n",
        mode="multilabel",
        loss=mean([bce(2.0, 1), bce(-1.0, 0), bce(0.5, 0), bce(-0.5, 1)]),
    ),
    Case(
        "multilabel: two label prefixes pair with the scores",
        "preds.csv",
        "y_a,y_b,t_a,t_b,logit_a,logit_b\n1,0,1,0,0.5,-0.5\n",
        exit=2,
        error=("no label column",),
        hint="--label",
    ),
    Case(
        "--positive in categorical mode: a warning",
        "preds.csv",
        OK,
        args=("--positive", "a"),
        warnings=("ignored-option",),
        loss=LOSS_OK,
        stderr_re=("--positive has no effect in categorical mode",),
    ),
]

# -- wide rows (issue 10): thousands of columns, lines of megabytes -----------------------------

WIDE_K = 5000  # columns from which xent splits CSV/TSV rows itself (widetext.WIDE_TEXT_COLUMNS)


def wide_rows(k: int, n: int, seed: int) -> list[tuple[int, list[float]]]:
    rng = random.Random(seed)
    return [((i * 7919) % k, [round(rng.gauss(0.0, 2.0), 3) for _ in range(k)]) for i in range(n)]


WIDE_ROWS = wide_rows(WIDE_K, 3, 1)
WIDE_LOSS = mean([ce(z, y) for y, z in WIDE_ROWS])


def wide_text(
    rows: list[tuple[int, list[float]]],
    delimiter: str = ",",
    label: str = "{}",
    cells: dict[tuple[int, int], str] | None = None,
) -> str:
    """``label`` + one logit column per class; ``cells`` replaces (row, column) texts."""
    k = len(rows[0][1])
    header = delimiter.join(["label", *(f"logit_{j}" for j in range(k))])
    out = [header]
    for i, (y, z) in enumerate(rows):
        fields = [label.format(y), *map(repr, z)]
        for (row, column), text in (cells or {}).items():
            if row == i:
                fields[column] = text
        out.append(delimiter.join(f for f in fields if f is not None))
    return "\n".join(out) + "\n"


LONG_ROWS = [(y, [v + 0.123456789012 for v in z]) for y, z in wide_rows(80_000, 2, 2)]
LONG_JSONL = "".join(json.dumps({"label": y, "logits": z}) + "\n" for y, z in LONG_ROWS)

CASES += [
    Case(
        "wide CSV: 5000 score columns",
        "preds.csv",
        wide_text(WIDE_ROWS),
        loss=WIDE_LOSS,
        kind="logits",
    ),
    Case(
        "wide TSV: 5000 score columns",
        "preds.tsv",
        wide_text(WIDE_ROWS, "\t"),
        loss=WIDE_LOSS,
    ),
    Case(
        "wide CSV: quoted labels",
        "preds.csv",
        wide_text(WIDE_ROWS, label='"{}"'),
        loss=WIDE_LOSS,
    ),
    Case(
        "wide CSV: an empty score is a skipped row",
        "preds.csv",
        wide_text(WIDE_ROWS, cells={(1, 10): ""}),
        warnings=("non-finite",),
        loss=mean([ce(z, y) for i, (y, z) in enumerate(WIDE_ROWS) if i != 1]),
    ),
    Case(
        "wide CSV: a non-number in one row",
        "preds.csv",
        wide_text(WIDE_ROWS, cells={(1, 124): "oops"}),
        exit=2,
        error=("'logit_123'", "invalid value 'oops'", r"\(in line 3\)"),
    ),
    Case(
        "wide TSV: a row with too few fields",
        "preds.tsv",
        wide_text(WIDE_ROWS, "\t", cells={(2, 77): None}),  # type: ignore[dict-item]
        exit=2,
        error=(f"expected {WIDE_K + 1} columns, got {WIDE_K}", r"\(in line 4\)"),
    ),
    Case(
        "wide CSV on stdin",
        "-",
        stdin=wide_text(WIDE_ROWS),
        loss=WIDE_LOSS,
    ),
    Case(
        "JSON Lines rows of 1.9 MB (80000 logits)",
        "preds.jsonl",
        LONG_JSONL,
        loss=mean([ce(z, y) for y, z in LONG_ROWS]),
    ),
    Case(
        "JSON Lines: a 1.9 MB row cut short",
        "preds.jsonl",
        LONG_JSONL[: len(LONG_JSONL) // 4 * 3] + "\n" + LONG_JSONL,
        exit=2,
        error=("JSON parse error", r"\(in line 2\)"),
    ),
]


# -- headers as other tools write them (issue 10) ---------------------------------------------

SAVETXT = (
    "# label,logit_a,logit_b\n"
    "0.000000000000000000e+00,1.000000000000000000e+00,2.000000000000000000e+00\n"
    "1.000000000000000000e+00,0.000000000000000000e+00,3.000000000000000000e+00\n"
)
CASES += [
    Case(
        "numpy.savetxt header: '# label,...'",
        "preds.csv",
        SAVETXT,
        loss=LOSS_OK,
        classes={"a": (1, LOSS_A), "b": (1, LOSS_B)},
    ),
    Case("numpy.savetxt header on stdin", "-", stdin=SAVETXT, loss=LOSS_OK),
    Case(
        "numpy.savetxt header, TSV, comments='#'",
        "preds.tsv",
        SAVETXT.replace(",", "\t").replace("# ", "#"),
        loss=LOSS_OK,
    ),
    Case(
        "comment lines, then a header",
        "preds.csv",
        "# written by a script\n# 2 rows\n" + OK,
        loss=LOSS_OK,
    ),
    Case(
        "a column named '#id'",
        "preds.csv",
        "#id,label,logit_a,logit_b\nr1,a,1,2\nr2,b,0,3\n",
        args=("--id", "#id"),
        loss=LOSS_OK,
    ),
    Case(
        "first line is numbers (numpy.savetxt without a header)",
        "preds.csv",
        SAVETXT.split("\n", 1)[1],
        exit=2,
        error=("the first line looks like data", "add a header"),
        hint="header=",
        absent=("columns are",),
    ),
    Case(
        "first line is integers",
        "preds.tsv",
        "3\t1\t5\n0\t2\t4\n",
        exit=2,
        error=("the first line looks like data",),
    ),
    Case(
        "a bad value after comment lines names its line",
        "preds.csv",
        "# one\n# label,logit_a,logit_b\na,1,2\nb,x,3\n",
        exit=2,
        error=("invalid value 'x'", r"\(in line 4\)"),
    ),
]


# -- JSON Lines on standard input, recognised by its first byte (issue 10) ----------------------

OK_JSONL = '{"label":"a","logit_a":1,"logit_b":2}\n{"label":"b","logit_a":0,"logit_b":3}\n'
CASES += [
    Case("JSON Lines on stdin", "-", stdin=OK_JSONL, loss=LOSS_OK, classes=BOTH),
    Case("JSON Lines on stdin after blank lines", "-", stdin="\n \n" + OK_JSONL, loss=LOSS_OK),
    Case(
        "gzip JSON Lines on stdin",
        "-",
        stdin=gzip.compress(OK_JSONL.encode(), mtime=0),
        loss=LOSS_OK,
    ),
    Case(
        "JSON Lines on stdin, a line that is not JSON",
        "-",
        stdin=OK_JSONL + "label,logit_a\n",
        exit=2,
        error=("JSON parse error", r"\(in line 3\)"),
    ),
]


# -- list-valued layouts, the Hugging Face way (issue 10) ---------------------------------------


def soft_ce(z: list[float], t: list[float]) -> float:
    return math.fsum(w * (lse(z) - v) for v, w in zip(z, t, strict=True) if w > 0)


SOFT_ROWS = [([1.0, 2.0, 3.0], [0.7, 0.2, 0.1]), ([0.0, 1.0, 3.0], [0, 0, 1])]
SOFT_JSONL = "".join(json.dumps({"logits": z, "soft_labels": t}) + "\n" for z, t in SOFT_ROWS)
ML_ROWS = [([0, 1, 1], [1.0, -2.0, 3.0]), ([1, 0, 0], [0.5, 1.0, -3.0])]
ML_JSONL = "".join(json.dumps({"labels": y, "logits": z}) + "\n" for y, z in ML_ROWS)
ML_LOSS = mean([bce(v, t) for y, z in ML_ROWS for t, v in zip(y, z, strict=True)])
NAMED_JSONL = '{"label":"dog","logits":[1,2,0]}\n{"label":"bird","logits":[0,1,3]}\n'
NAMED_LOSS = mean([ce([1, 2, 0], 1), ce([0, 1, 3], 2)])

CASES += [
    Case(
        "soft targets as a list column",
        "preds.jsonl",
        SOFT_JSONL,
        args=("--targets", "soft_labels"),
        loss=mean([soft_ce(z, t) for z, t in SOFT_ROWS]),
        mode="categorical",
    ),
    Case(
        "soft targets as a list column, Parquet, with score columns",
        "preds.parquet",
        parquet(
            {
                "logit_a": [1.0, 0.0],
                "logit_b": [2.0, 1.0],
                "logit_c": [3.0, 3.0],
                "soft": [t for _, t in SOFT_ROWS],
            }
        ),
        args=("--targets", "soft"),
        loss=mean([soft_ce(z, t) for z, t in SOFT_ROWS]),
    ),
    Case(
        "soft targets list longer than the scores",
        "preds.jsonl",
        '{"logits":[1,2],"t":[0.5,0.25,0.25]}\n',
        args=("--targets", "t"),
        exit=2,
        error=("'t' holds 3 targets per row but there are 2 scores",),
    ),
    Case(
        "multilabel labels as a list column",
        "preds.jsonl",
        ML_JSONL,
        mode="multilabel",
        loss=ML_LOSS,
        classes={str(j): (2, mean([bce(z[j], y[j]) for y, z in ML_ROWS])) for j in range(3)},
    ),
    Case(
        "multilabel label lists named by --classes",
        "preds.jsonl",
        ML_JSONL,
        args=("--classes", "toxic,spam,insult"),
        loss=ML_LOSS,
        check=lambda r: [c["class"] for c in r["classes"]] == ["toxic", "spam", "insult"],
    ),
    Case(
        "multilabel label list with a null: the row is skipped",
        "preds.jsonl",
        ML_JSONL + '{"labels":[1,null,0],"logits":[1,1,1]}\n',
        warnings=("missing-label",),
        loss=ML_LOSS,
    ),
    Case(
        "multilabel label list holding a 2",
        "preds.jsonl",
        '{"labels":[0,2,1],"logits":[1,2,3]}\n',
        exit=2,
        error=("must hold 0/1",),
    ),
    Case(
        "multilabel label list shorter than the scores",
        "preds.jsonl",
        '{"labels":[0,1],"logits":[1,2,3]}\n',
        exit=2,
        error=("'labels' holds 2 labels per row but there are 3 scores",),
    ),
    Case(
        "--classes names a list column's classes",
        "preds.jsonl",
        NAMED_JSONL,
        args=("--classes", "cat,dog,bird"),
        loss=NAMED_LOSS,
        classes={"cat": (0, None), "dog": (1, ce([1, 2, 0], 1)), "bird": (1, ce([0, 1, 3], 2))},
    ),
    Case(
        "string labels against a list column without --classes",
        "preds.jsonl",
        NAMED_JSONL,
        exit=2,
        error=("'dog'", "not among the classes"),
        hint="--classes",
    ),
    Case(
        "--classes naming fewer classes than a list holds",
        "preds.jsonl",
        NAMED_JSONL,
        args=("--classes", "cat,dog"),
        exit=2,
        error=("holds 3 scores per row but --classes names 2 classes",),
    ),
    Case(
        "--classes for 1-based labels against p1,p2,p3",
        "preds.csv",
        "label,p1,p2,p3\n1,0.7,0.2,0.1\n3,0.1,0.1,0.8\n",
        args=("--classes", "1,2,3", "--kind", "probs"),
        loss=mean([nll(0.7), nll(0.8)]),
    ),
    Case(  # the column names end in the label values: that is the evidence (issue 21)
        "1-based labels against p1,p2,p3: the names' numbers are the classes",
        "preds.csv",
        "label,p1,p2,p3\n1,0.7,0.2,0.1\n3,0.1,0.1,0.8\n",
        loss=mean([nll(0.7), nll(0.8)]),
    ),
    Case(  # labels 1, 2 only: never matched by position (1 -> p2 would be silently wrong)
        "labels 1,2 against p1,p2,p3 match by the names' numbers",
        "preds.csv",
        "label,p1,p2,p3\n1,0.7,0.2,0.1\n2,0.1,0.6,0.3\n",
        args=("--kind", "probs"),
        loss=mean([nll(0.7), nll(0.6)]),
    ),
    Case(
        "0-based labels against p1,p2,p3: refused, the hint names --classes 0,1,2",
        "preds.csv",
        "label,p1,p2,p3\n0,0.7,0.2,0.1\n2,0.1,0.1,0.8\n",
        exit=2,
        error=("label 0 not among the classes",),
        hint="--classes 0,1,2",
    ),
    Case(
        "--classes with a wrong count of score columns",
        "preds.csv",
        OK,
        args=("--classes", "a,b,c"),
        exit=2,
        error=("--classes names 3 classes but there are 2 score columns",),
    ),
    Case(
        "Parquet dictionary labels with unused values",
        "preds.parquet",
        parquet(
            {
                "label": pa.DictionaryArray.from_arrays(
                    pa.array([0, 1], pa.int8()), pa.array(["a", "b", "zebra"])
                ),
                "logit_a": [1.0, 0.0],
                "logit_b": [2.0, 3.0],
            }
        ),
        loss=LOSS_OK,
    ),
]


def _params(cases: list[Case], bug_of: Callable[[Case], str | None]) -> list[Any]:
    params = []
    for case in cases:
        marks = []
        reason = bug_of(case)
        if reason:
            marks.append(pytest.mark.xfail(strict=True, reason=reason))
        if case.root_skip:
            marks.append(
                pytest.mark.skipif(
                    hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can read any file",
                )
            )
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


def materialize(case: Case, base: Path) -> tuple[str, Path]:
    """Write the case's input under ``base``; the CLI argument and the path."""
    base.mkdir(parents=True, exist_ok=True)
    if case.file == "-":
        return "-", base / "-"
    path = base / case.file
    if case.data is not None:
        write_input(path, case.data)
    return str(path), path


def run(case: Case, base: Path) -> tuple[Any, Path]:
    argument, path = materialize(case, base)
    args: list[str] = [case.command, argument, *case.args]
    if case.command == "eval":
        args += ["--format", "json"]
    stdin = case.stdin() if callable(case.stdin) else case.stdin
    return invoke(*args, input=stdin), path


def no_crash(result: Any) -> None:
    exception = result.exception
    assert exception is None or isinstance(exception, SystemExit), (
        f"uncaught {type(exception).__name__}: {exception}"
    )
    assert "Traceback" not in result.stderr


def check_outcome(case: Case, result: Any, path: Path) -> None:
    no_crash(result)
    if case.expect is not None:
        case.expect(result, path)
        return
    for pattern in case.stderr_re:
        assert re.search(pattern, result.stderr, re.IGNORECASE | re.MULTILINE), (
            f"{pattern!r} not in stderr: {result.stderr}"
        )
    for pattern in case.absent:
        assert not re.search(pattern, result.stderr, re.IGNORECASE), (
            f"{pattern!r} should not be in stderr: {result.stderr}"
        )
    if case.exit == 2:
        names = case.names or ("<stdin>" if case.file == "-" else path.name)
        assert_error(result, names, case.error, case.hint)
        return
    assert result.exit_code == case.exit, (result.exit_code, result.stderr)
    assert all(ln.startswith("xent: ") for ln in result.stderr.splitlines()), result.stderr
    if case.command != "eval":
        return
    report = json.loads(result.stdout)
    codes = sorted(w["code"] for w in report["warnings"])
    assert codes == sorted(case.warnings), report["warnings"]
    if case.loss is not None:
        assert report["loss"] == pytest.approx(case.loss, rel=1e-9, abs=1e-300)
    if case.kind is not None:
        assert report["kind"] == case.kind, report["kind_source"]
    if case.mode is not None:
        assert report["mode"] == case.mode
    if case.classes is not None:
        got = {c["class"]: (c["count"], c["loss"]) for c in report["classes"]}
        assert set(got) == set(case.classes), got
        for name, (count, loss) in case.classes.items():
            assert got[name][0] == count, (name, got[name])
            if loss is None:
                assert got[name][1] is None, (name, got[name])
            else:
                assert got[name][1] == pytest.approx(loss, rel=1e-9), (name, got[name])
    if case.check is not None:
        assert case.check(report), report


def test_corpus_is_large_and_named_uniquely():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", _params(CASES, lambda c: c.bug))
def test_case(case: Case, tmp_path: Path) -> None:
    result, path = run(case, tmp_path / "case")
    check_outcome(case, result, path)


ERROR_CASES = [c for c in CASES if c.exit == 2 or c.expect is not None]


@pytest.mark.parametrize("case", _params(ERROR_CASES, lambda c: c.line_bug))
def test_error_lines_are_short(case: Case, tmp_path: Path) -> None:
    """No stderr line longer than 300 characters (a user's path aside), so CI logs stay legible."""
    base = tmp_path / "case"
    result, _ = run(case, base)
    stderr = result.stderr.replace(f"{base}{os.sep}", "").replace(str(base), "")
    for line in stderr.splitlines():
        assert len(line) <= MAX_LINE, f"{len(line)} characters: {line[:120]}..."


def _digests(root: Path) -> dict[str, tuple[str, int]]:
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = (digest, stat.st_mode)
    return found


UNTOUCHED = [
    c
    for c in CASES
    if c.file != "-"
    and not c.root_skip
    and c.data is not None
    and (c.file.endswith((".csv", ".parquet", ".gz", ".tsv", ".jsonl")) or callable(c.data))
]


def test_inputs_are_never_modified(tmp_path: Path) -> None:
    """sha256 and mode of every input file (and no new files) before and after each run."""
    assert len([c for c in UNTOUCHED if c.exit == 2]) >= 20
    for number, case in enumerate(UNTOUCHED):
        base = tmp_path / f"case{number}"
        materialize(case, base)
        before = _digests(base)
        assert before, case.name
        argument = str(base / case.file)
        args = [case.command, argument, *case.args]
        result = invoke(*args, input=None)
        assert result.exit_code in (0, 1, 2), (case.name, result.exception)
        assert _digests(base) == before, case.name


# -- very wide inputs -----------------------------------------------------------------------------


def wide_csv(path: Path, k: int, n: int) -> float:
    """n rows of k logit columns; returns the expected mean loss."""
    rng = random.Random(k)
    header = "label," + ",".join(f"logit_{j}" for j in range(k))
    rows = []
    losses = []
    for i in range(n):
        z = [round(rng.gauss(0.0, 2.0), 3) for _ in range(k)]
        y = (i * 37) % k
        rows.append(f"{y}," + ",".join(repr(v) for v in z))
        losses.append(ce(z, y))
    path.write_text(lines(header, *rows), encoding="utf-8")
    return mean(losses)


def test_2000_score_columns(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    expected = wide_csv(path, 2000, 20)
    result = invoke("eval", path, "--format", "json")
    no_crash(result)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["loss"] == pytest.approx(expected, rel=1e-9)
    assert len(report["classes"]) == 2000
    assert report["kind"] == "logits"


def test_10000_score_columns_fast(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    expected = wide_csv(path, 10_000, 20)
    start = time.perf_counter()
    result = invoke("eval", path, "--format", "json")
    elapsed = time.perf_counter() - start
    no_crash(result)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["loss"] == pytest.approx(expected, rel=1e-9)
    assert len(report["classes"]) == 10_000
    assert elapsed < 5.0, f"{elapsed:.1f} s for 20 rows x 10000 columns"
