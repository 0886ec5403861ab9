"""Property-based fuzzing of the whole command line (hypothesis).

Random tables -- odd column names (unicode, spaces, empty, names that collide with xent's own
conventions such as ``label``, ``id``, ``logit_x``), int / float / text / bool / list columns,
NaN, +-inf, +-1e300, 1e-300, exact 0 and 1, 0-40 rows and 1-8 score columns, labels outside
the classes or missing -- are written as CSV (also with CRLF line ends, a byte-order mark, gzip,
or on standard input), TSV, Parquet or JSON Lines, and run in-process through
``xent eval FILE --format json`` and ``xent rows`` with options drawn from a small set.
Whatever the input, the outcome must be one of:

* exit 2: nothing on stdout, one or two lines on stderr, the first ``xent: error: ...``
  (and a column named exactly by --label / --scores / --weight is never "not found");
* exit 0 (or 1 exactly when a --strict / --max-loss gate fails): a strict-JSON report whose
  numbers are finite or the strings ``"inf"``/``"-inf"``/``"nan"``, whose counts add up
  (rows = evaluated + skipped = non-finite + missing-label warnings; class counts), whose
  overall figures lie within the per-class ones, and whose overall loss is non-finite only
  together with a ``zero-probability`` warning;

and never a traceback or a Python warning on stderr. Successful runs are also checked as
Parquet split into two files (the same report), rendered as table / CSV / markdown, and by
``xent rows`` (one line per evaluated row or cell, worst first under --top).

Reference checks, computed here with numpy independently of xent: a *clean* categorical
logits table or binary probabilities table must give the reference loss, per-class losses,
counts and accuracy to 1e-9 (``test_eval_clean_*``); probabilities / log-probabilities with
rows broken on purpose must give exactly the expected warnings and the loss of the rest
(``test_eval_warnings_match_reference``).

Every test is derandomized and keeps no example database: the same examples run every time.
For a longer hunt: ``FUZZ_SCALE=20`` (20x the examples) and ``FUZZ_RANDOM=1`` (new ones each
run). What the fuzzer found is at the end: fixed bugs as regression tests, open ones as
``xfail(strict=True)`` tests named ``test_bug_*``; ``known_bugs`` lets fuzzing go on past them.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from xent_cli.io import text as readers

from .conftest import invoke

NAN = math.nan
INF = math.inf
EXTREMES = (0.0, -0.0, 1.0, -1.0, 0.5, NAN, INF, -INF, 1e300, -1e300, 1e-300, -1e-300)
MAX = 1.7976931348623157e308
HUGE = (0.0, 1.0, 1e300, -1e300, 1e308, -1e308, MAX, -MAX)
WEIGHTS = (0.0, 0.0, 1.0, 2.5, 1e-300, 1e300, MAX, NAN, INF, -1.0)
NONFINITE_TEXT = ("inf", "-inf", "nan")
ROW_FIELDS = ["row", "id", "label", "predicted", "p_true", "loss"]
LOG_BASE = {None: 1.0, "e": 1.0, "2": math.log(2.0), "10": math.log(10.0)}
DEFAULT_EPS = 1e-15

# Column names that mean something to xent, or that are merely awkward.
ODD_NAMES = (
    "label", "labels", "Label", " label", "label ", "target", "y", "class", "gold", "true",
    "id", "ID", "sample_id", "row", "Unnamed: 0", "weight", "w", "logits", "probs", "scores",
    "logit_x", "logit_", "prob_x", "prob_", "p_x", "p", "prob", "score_1", "logprob_x",
    "logit_logit_a", "", " ", "a b", "x,y", 'q"t', "*", "a*", "猫", "café", "naïve", "nan",
    "0", "1", "-1", "--help", "é\u0301",
)  # fmt: skip
# Class names (the part after a score prefix): as above, plus values that look like labels.
ODD_CLASSES = (
    "a", "b", "cat", "dog", "0", "1", "2", "01", "1.0", "-1", "1e3", "true", "false", "nan",
    "NA", "null", "inf", "", " ", "a b", "x,y", "猫", "é", "label", "id", "x", "logit_x",
)  # fmt: skip
LABEL_NAMES = ("label", "target", "y", "class", "gold", "labels", "Label", " label ", "true")
# Names that canonical label matching or CSV parsing give a meaning of their own.
RESERVED_WORDS = {"nan", "inf", "infinity", "na", "n/a", "none", "null", "true", "false"}


def _settings(max_examples: int) -> settings:
    return settings(
        derandomize=not os.environ.get("FUZZ_RANDOM"),
        max_examples=max_examples * int(os.environ.get("FUZZ_SCALE", "1")),
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


# -- the table model -------------------------------------------------------------------------


@dataclass
class Column:
    name: str
    typ: str  # float | float32 | int | text | bool | list
    values: list[Any]  # one per row; None is a missing cell


@dataclass
class Clean:
    """What a clean table means, for the reference computation."""

    kind: str  # "logits" (categorical) | "binary" (probabilities)
    classes: list[str]  # class names, in score-column order (binary: unused)
    scores: np.ndarray  # (n, k) logits, or (n,) probabilities
    labels: np.ndarray  # (n,) class index (binary: 0/1)
    score_columns: list[str]
    weight_column: str | None = None
    weights: np.ndarray | None = None
    file_columns: list[str] = field(default_factory=list)  # score columns in file order
    by_position: bool = False  # integer labels index the score columns (in --scores order)


@dataclass
class Table:
    columns: list[Column]
    n: int
    clean: Clean | None = None
    label_glob: str | None = None  # multilabel tables: the --label glob of their 0/1 columns
    score_prefix: str = ""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _dedupe(columns: list[Column]) -> list[Column]:
    seen: set[str] = set()
    out = []
    for column in columns:
        if column.name not in seen:
            seen.add(column.name)
            out.append(column)
    return out


# -- writers ---------------------------------------------------------------------------------


def _csv_cell(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # nan, inf, -inf, 1e+300 as text
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def csv_text(table: Table, delimiter: str = ",", end: str = "\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=end)
    writer.writerow(table.names)
    for i in range(table.n):
        writer.writerow([_csv_cell(c, c.values[i]) for c in table.columns])
    return buffer.getvalue()


def _arrow_array(column: Column) -> pa.Array:
    if column.typ == "float32":
        values = np.array([NAN if v is None else v for v in column.values], dtype=np.float64)
        with np.errstate(over="ignore"):
            narrow = values.astype(np.float32)
        mask = np.array([v is None for v in column.values], dtype=bool)
        return pa.array(narrow, type=pa.float32(), mask=mask)
    arrow_type = {
        "float": pa.float64(),
        "int": pa.int64(),
        "text": pa.string(),
        "bool": pa.bool_(),
        "list": pa.list_(pa.float64()),
    }[column.typ]
    return pa.array(column.values, type=arrow_type)


def write_parquet(table: Table, path: Path) -> None:
    arrays = [_arrow_array(c) for c in table.columns]
    pq.write_table(pa.Table.from_arrays(arrays, names=table.names), path)


def jsonl_text(table: Table, nonfinite: str, omit_missing: bool) -> str:
    """One JSON object per line; non-finite floats as null, bare NaN tokens or strings."""

    def cell(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            if nonfinite == "null":
                return None
            if nonfinite == "string":
                return repr(value)
        return value

    lines = []
    for i in range(table.n):
        row = {}
        for column in table.columns:
            value = column.values[i]
            if value is None and omit_missing:
                continue
            if isinstance(value, list):
                value = [cell(v) for v in value]
            row[column.name] = cell(value)
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    return "".join(lines)


FORMATS = (
    *("csv", "parquet", "jsonl") * 2,
    *("tsv", "csv.gz", "stdin", "crlf.csv", "bom.csv", "stdin.gz", "stdin.parquet"),
)


def materialize(table: Table, fmt: str, directory: Path, jsonl_style: tuple[str, bool]):
    """(the FILE argument, stdin bytes or None) for ``table`` written as ``fmt``."""
    if fmt == "stdin":
        return "-", csv_text(table).encode("utf-8")
    if fmt == "stdin.gz":  # recognised by its first bytes
        return "-", gzip.compress(csv_text(table).encode("utf-8"), mtime=0)
    path = directory / f"t.{fmt}"
    if fmt == "stdin.parquet":  # recognised by its first bytes
        write_parquet(table, path)
        return "-", path.read_bytes()
    if fmt == "csv":
        path.write_text(csv_text(table), encoding="utf-8")
    elif fmt == "crlf.csv":  # Windows line ends
        path.write_bytes(csv_text(table, end="\r\n").encode("utf-8"))
    elif fmt == "bom.csv":  # a byte-order mark, as Excel writes
        path.write_text("\ufeff" + csv_text(table), encoding="utf-8")
    elif fmt == "tsv":
        path.write_text(csv_text(table, "\t"), encoding="utf-8")
    elif fmt == "csv.gz":
        path.write_bytes(gzip.compress(csv_text(table).encode("utf-8"), mtime=0))
    elif fmt == "parquet":
        write_parquet(table, path)
    else:
        path.write_text(jsonl_text(table, *jsonl_style), encoding="utf-8")
    return str(path), None


# -- strategies: wild tables -----------------------------------------------------------------

odd_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)
name_st = st.one_of(
    st.sampled_from(ODD_NAMES), st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), odd_text
)
class_st = st.one_of(
    st.sampled_from(ODD_CLASSES), st.from_regex(r"[a-z]{1,4}", fullmatch=True), odd_text
)
extreme_st = st.sampled_from(EXTREMES)
wild_float_st = st.one_of(
    extreme_st,
    st.floats(-1e3, 1e3),
    st.floats(0.0, 1.0),
    st.floats(allow_nan=True, allow_infinity=True),
)


REGIMES = ("logits", "probs", "unnormalized", "logprobs", "ints", "wild", "huge")
PREFIXES = ("logit_", "prob_", "logprob_", "p_", "score_", "logits_", "", "x")
COHERENT = (
    *(("logit_", "logits"), ("prob_", "probs"), ("p_", "probs"), ("logprob_", "logprobs")),
    *(("prob_", "unnormalized"), ("", "probs"), ("", "logprobs"), ("", "logits")),
)


@st.composite
def score_matrix(draw: st.DrawFn, n: int, k: int, regime: str | None = None) -> list[list[Any]]:
    """n x k score values in one regime (logits, probs, log-probs, ...) plus a few bad cells."""
    regime = regime or draw(st.sampled_from(REGIMES))
    cells = n * k
    if regime == "logits":
        flat: list[Any] = draw(st.lists(st.floats(-30, 30), min_size=cells, max_size=cells))
    elif regime == "huge":  # near the end of the float range: overflow in differences and sums
        flat = draw(st.lists(st.sampled_from(HUGE), min_size=cells, max_size=cells))
    elif regime in ("probs", "logprobs", "unnormalized"):
        raw = np.array(
            draw(st.lists(st.floats(0, 1), min_size=cells, max_size=cells)), dtype=np.float64
        ).reshape(n, k)
        if regime != "unnormalized":
            sums = raw.sum(axis=1, keepdims=True)
            raw = np.where(sums > 0, raw / np.where(sums > 0, sums, 1.0), 1.0 / k)
        if regime == "logprobs":
            with np.errstate(divide="ignore"):
                raw = np.log(raw)
        flat = [float(v) for v in raw.ravel()]
    elif regime == "ints":
        flat = [
            float(v) for v in draw(st.lists(st.integers(-3, 3), min_size=cells, max_size=cells))
        ]
    else:
        flat = draw(st.lists(wild_float_st, min_size=cells, max_size=cells))
    if cells:
        anything = st.one_of(extreme_st, st.none())
        if regime in ("probs", "unnormalized"):  # mostly bad values that keep them probabilities
            fitting = st.sampled_from([0.0, 1.0, 1e-300, NAN, INF, None])
            anything = st.one_of(fitting, fitting, fitting, anything)
        elif regime == "logprobs":
            fitting = st.sampled_from([0.0, -INF, -1e300, -1e-300, NAN, None])
            anything = st.one_of(fitting, fitting, fitting, anything)
        bad = draw(st.lists(st.tuples(st.integers(0, cells - 1), anything), max_size=4))
        for index, value in bad:
            flat[index] = value
    return [flat[i * k : (i + 1) * k] for i in range(n)]


def _convert(values: list[Any], typ: str, draw: st.DrawFn) -> list[Any]:
    """Float values as a column of another type (what a sloppy exporter would write)."""
    if typ in ("float", "float32"):
        return values
    out: list[Any] = []
    for v in values:
        if v is None:
            out.append(None)
        elif typ == "int":
            out.append(int(v) if math.isfinite(v) and abs(v) < 2**53 else None)
        elif typ == "bool":
            out.append(bool(v > 0.5))
        else:  # text
            out.append(draw(st.sampled_from([repr(v), f" {v} ", str(v).upper(), "x"])))
    return out


def _label_values(draw: st.DrawFn, n: int, classes: list[str]) -> tuple[str, list[Any]]:
    """(column type, values) of a label column: names, positions, 0/1, bools, junk, gaps."""
    k = len(classes)
    regime = draw(
        st.sampled_from(
            ["names"] * 5 + ["positions"] * 2 + ["one_based", "binary", "bool", "float", "wild"]
        )
    )
    index = draw(st.lists(st.integers(0, max(k - 1, 1)), min_size=n, max_size=n))
    if regime == "names":
        typ, values = "text", [classes[i % k] for i in index]
    elif regime == "positions":
        typ, values = "int", list(index)
    elif regime == "one_based":
        typ, values = "int", [i + 1 for i in index]
    elif regime == "binary":
        typ, values = "int", [i % 2 for i in index]
    elif regime == "bool":
        typ, values = "bool", [bool(i % 2) for i in index]
    elif regime == "float":
        typ, values = "float", [float(i) for i in index]
    else:
        typ, values = "text", draw(st.lists(class_st, min_size=n, max_size=n))
    missing = {
        "text": st.sampled_from([None, "", "nan", "NA", " ", "null"]),
        "int": st.none(),
        "float": st.sampled_from([None, NAN]),
        "bool": st.none(),
    }[typ]
    unknown = {
        "text": st.sampled_from(["zzz", "99", "-1", "1.5", "true", "1e3", " a"]),
        "int": st.sampled_from([99, -1, k, 2**40]),
        "float": st.sampled_from([INF, 0.5, -1.0, 1e300]),
        "bool": st.none(),
    }[typ]
    if n:
        bad = st.one_of(missing, missing, missing, missing, missing, unknown)
        for row, value in draw(st.lists(st.tuples(st.integers(0, n - 1), bad), max_size=3)):
            values[row] = value
    return typ, values


@st.composite
def wild_tables(draw: st.DrawFn) -> Table:
    n = draw(st.integers(0, 40))
    k = draw(st.integers(1, 8))
    if draw(st.booleans()):  # scores that are what their name says
        prefix, regime = draw(st.sampled_from(COHERENT))
    else:
        prefix = draw(st.sampled_from(PREFIXES))
        regime = draw(st.sampled_from(REGIMES))
    tame = st.one_of(st.from_regex(r"[a-z]{1,4}", fullmatch=True), st.integers(0, 9).map(str))
    classes = draw(
        st.lists(tame, min_size=k, max_size=k, unique=True)
        if draw(st.booleans())
        else st.lists(class_st, min_size=k, max_size=k)
    )
    scores = draw(score_matrix(n, k, regime))
    columns: list[Column] = []
    label_glob = None
    layout = draw(st.sampled_from(["columns"] * 5 + ["list", "multilabel"]))

    if layout == "multilabel":
        label_glob = "y_*"
        for j, name in enumerate(classes):
            values: list[Any] = draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n))
            if n and draw(st.booleans()):
                values[draw(st.integers(0, n - 1))] = draw(st.sampled_from([None, 2, -1]))
            columns.append(Column(f"y_{name}", "int", values))
            columns.append(Column(f"{prefix}{name}", "float", [r[j] for r in scores]))
    else:
        if draw(st.integers(0, 19)):  # usually a label column
            label_name = draw(st.sampled_from(["label"] * 8 + [*LABEL_NAMES, "?"]))
            if label_name == "?":
                label_name = draw(name_st)
            typ, values = _label_values(draw, n, classes)
            columns.append(Column(label_name, typ, values))
        if layout == "list":
            name = draw(st.sampled_from(["logits", "probs", "scores", "logit_list"]))
            rows: list[Any] = [list(r) for r in scores]
            if n and draw(st.booleans()):
                row = draw(st.integers(0, n - 1))
                rows[row] = draw(st.sampled_from([None, [], [0.5], [*rows[row], 0.1]]))
            rows = [None if r is None else [NAN if v is None else v for v in r] for r in rows]
            columns.append(Column(name, "list", rows))
        else:
            mixed = draw(st.integers(0, 3)) == 0  # usually every score column is float64
            for j, name in enumerate(classes):
                typ = "float"
                if mixed:
                    typ = draw(st.sampled_from(["float", "float32", "int", "text", "bool"]))
                values = _convert([r[j] for r in scores], typ, draw)
                columns.append(Column(f"{prefix}{name}", typ, values))

    for _ in range(draw(st.integers(0, 2))):  # distractor columns
        name = draw(name_st)
        typ = draw(st.sampled_from(["float", "int", "text", "bool"]))
        base = draw(st.lists(st.one_of(wild_float_st, st.none()), min_size=n, max_size=n))
        values = _convert(base, typ, draw)
        columns.append(Column(name, typ, values))
    if draw(st.integers(0, 3)) == 0:  # a weight column "w"
        weights = st.one_of(st.floats(0, 10), st.floats(0, 10), st.sampled_from(WEIGHTS))
        columns.append(Column("w", "float", draw(st.lists(weights, min_size=n, max_size=n))))

    order = draw(st.permutations(range(len(columns))))
    columns = _dedupe([columns[i] for i in order])
    if columns and draw(st.integers(0, 9)) == 0:  # one name twice (JSON Lines keeps the last)
        twin = draw(st.sampled_from(columns))
        columns.insert(draw(st.integers(0, len(columns))), Column(twin.name, twin.typ, twin.values))
    return Table(columns, n, label_glob=label_glob, score_prefix=prefix)


# -- strategies: clean tables ----------------------------------------------------------------

letters = st.characters(categories=("Ll", "Lu", "Lo"))
clean_word = st.text(letters, min_size=1, max_size=5).filter(
    lambda s: s.lower() not in RESERVED_WORDS and s.strip() == s
)


@st.composite
def clean_logits_tables(draw: st.DrawFn) -> Table:
    """label + logit_<class> columns; valid labels; finite moderate logits; maybe weights."""
    n = draw(st.integers(1, 40))
    k = draw(st.integers(2, 8))
    digits = draw(st.booleans())
    if digits:  # integer class names, in any order: labels match by name, not position
        classes = [str(i) for i in draw(st.permutations(range(k)))]
    else:
        classes = draw(st.lists(clean_word, min_size=k, max_size=k, unique=True))
    cells = n * k
    logit = st.one_of(st.floats(-50, 50), st.sampled_from([0.0, 1.0, -1.0, 0.5]))
    z = np.array(draw(st.lists(logit, min_size=cells, max_size=cells))).reshape(n, k)
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.intp)
    by_position = not digits and draw(st.booleans())
    if by_position:
        label = Column("label", "int", [int(i) for i in y])
    elif digits and draw(st.booleans()):
        label = Column("label", "int", [int(classes[i]) for i in y])
    else:
        label = Column("label", "text", [classes[i] for i in y])
    score_columns = [f"logit_{c}" for c in classes]
    columns = [label] + [
        Column(name, "float", [float(v) for v in z[:, j]]) for j, name in enumerate(score_columns)
    ]
    clean = Clean("logits", classes, z, y, score_columns)
    _add_weights_and_extras(draw, columns, clean, n)
    order = draw(st.permutations(range(len(columns))))
    columns = [columns[i] for i in order]
    clean.file_columns = [c.name for c in columns if c.name in score_columns]
    clean.by_position = by_position
    if by_position:  # an integer label is a position among the score columns of the file
        in_file = [c.name for c in columns if c.name.startswith("logit_")]
        label.values = [in_file.index(score_columns[i]) for i in y]
    return Table(columns, n, clean=clean, score_prefix="logit_")


@st.composite
def clean_binary_tables(draw: st.DrawFn) -> Table:
    """label 0/1 + one probability column; values in [0, 1] including the extremes."""
    n = draw(st.integers(1, 40))
    prob = st.one_of(
        st.floats(0, 1, exclude_min=True, exclude_max=True),
        st.sampled_from([1e-300, 1e-20, 1e-15, 1e-16, 0.5, 1 - 1e-16, 1 - 1e-9, 0.0, 1.0]),
    )
    p = np.array(draw(st.lists(prob, min_size=n, max_size=n)), dtype=np.float64)
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.intp)
    style = draw(st.sampled_from(["int", "float", "bool", "text"]))
    label_values: list[Any] = {
        "int": [int(v) for v in y],
        "float": [float(v) for v in y],
        "bool": [bool(v) for v in y],
        "text": [str(int(v)) for v in y],
    }[style]
    score_name = draw(st.sampled_from(["prob", "p", "prob_1", "p_pos", "prob_yes"]))
    columns = [
        Column("label", {"int": "int", "float": "float", "bool": "bool", "text": "text"}[style],
               label_values),
        Column(score_name, "float", [float(v) for v in p]),
    ]  # fmt: skip
    clean = Clean("binary", [], p, y, [score_name])
    _add_weights_and_extras(draw, columns, clean, n)
    order = draw(st.permutations(range(len(columns))))
    return Table([columns[i] for i in order], n, clean=clean)


def _add_weights_and_extras(draw: st.DrawFn, columns: list[Column], clean: Clean, n: int) -> None:
    if draw(st.booleans()):
        weights = draw(
            st.lists(
                st.one_of(st.floats(0, 100), st.sampled_from([0.0, 1.0, 2.0])),
                min_size=n,
                max_size=n,
            )
        )
        if not any(w > 0 for w in weights):
            weights[draw(st.integers(0, n - 1))] = 1.0
        clean.weight_column = "w"
        clean.weights = np.array(weights, dtype=np.float64)
        columns.append(Column("w", "float", [float(v) for v in weights]))
    if draw(st.booleans()):  # a row key and a text column: never scores
        columns.append(Column("id", "int", list(range(100, 100 + n))))
    if draw(st.booleans()):
        # Text that never reads as a number or as empty: a column of numbers is a score
        # column by the rules, and an all-empty one is one by a bug (test_bug_empty_column_*).
        note = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=5).map(
            lambda t: f"{t}x"
        )
        columns.append(Column("note", "text", draw(st.lists(note, min_size=n, max_size=n))))


@dataclass
class Dirty:
    """A categorical probs / log-probs table with known problems, and what they must give."""

    kind: str  # "probs" | "log-probs"
    scores: np.ndarray  # (n, k) as written
    labels: np.ndarray  # (n,) class index, -1 where the label is missing


@st.composite
def dirty_tables(draw: st.DrawFn) -> tuple[Table, Dirty]:
    """Valid probabilities (or log-probabilities) with some rows broken on purpose: a NaN or
    infinite score, a missing label, probability 0 for the true class, a row that does not
    sum to 1."""
    kind = draw(st.sampled_from(["probs", "log-probs"]))
    n = draw(st.integers(1, 40))
    k = draw(st.integers(2, 6))
    classes = draw(
        st.lists(st.from_regex(r"[a-z]{1,4}", fullmatch=True), min_size=k, max_size=k, unique=True)
    )
    raw = np.array(draw(st.lists(st.floats(0.01, 1), min_size=n * k, max_size=n * k))).reshape(n, k)
    p = raw / raw.sum(axis=1, keepdims=True)
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.intp)
    problems = draw(
        st.lists(
            st.sampled_from(["ok"] * 5 + ["nan", "inf", "missing", "zero", "unnormalized"]),
            min_size=n,
            max_size=n,
        )
    )
    with np.errstate(divide="ignore"):
        scores = p.copy() if kind == "probs" else np.log(p)
    labels = y.copy()
    for i, problem in enumerate(problems):
        if problem == "zero":
            if kind == "probs":
                rest = np.delete(p[i], y[i])
                scores[i] = 0.0
                scores[i, np.arange(k) != y[i]] = rest / rest.sum()
            else:
                scores[i, y[i]] = -INF
        elif problem == "unnormalized":
            scores[i] = scores[i] * 0.8 if kind == "probs" else scores[i] - 0.2
        elif problem in ("nan", "inf"):
            scores[i, draw(st.integers(0, k - 1))] = NAN if problem == "nan" else INF
        elif problem == "missing":
            labels[i] = -1
    prefix = "prob_" if kind == "probs" else "logprob_"
    label_values = [
        classes[c] if c >= 0 else draw(st.sampled_from([None, "", "nan"])) for c in labels
    ]
    columns = [Column("label", "text", label_values)] + [
        Column(f"{prefix}{name}", "float", [float(v) for v in scores[:, j]])
        for j, name in enumerate(classes)
    ]
    return Table(columns, n, score_prefix=prefix), Dirty(kind, scores, labels)


def dirty_expected(dirty: Dirty, eps: float) -> dict[str, Any]:
    """Rows evaluated, warning counts and the mean loss (nats) a dirty table must give."""
    s, y = dirty.scores, dirty.labels
    present = y >= 0
    if dirty.kind == "probs":
        finite = np.isfinite(s).all(axis=1)
    else:
        finite = ~(np.isnan(s) | np.isposinf(s)).any(axis=1) & ~np.isneginf(s).all(axis=1)
    evaluated = present & finite
    rows = np.flatnonzero(evaluated)
    q = s[rows, y[rows]]
    with np.errstate(divide="ignore", invalid="ignore"):
        if dirty.kind == "probs":
            zero = q < eps if eps > 0 else q <= 0
            loss = -np.log(np.clip(q, eps, 1.0))
            off = np.abs(s[rows].sum(axis=1) - 1.0) > 1e-3
        else:
            zero = np.isneginf(q)
            loss = -np.where(zero & (eps > 0), math.log(eps) if eps > 0 else 0.0, q)
            top = s[rows].max(axis=1)
            lse = top + np.log(np.exp(s[rows] - top[:, None]).sum(axis=1))
            off = np.abs(lse) > 1e-3
    counts = {
        "missing-label": int((~present).sum()),
        "non-finite": int((present & ~finite).sum()),
        "zero-probability": int(zero.sum()),
        "not-normalized": int(off.sum()),
    }
    return {
        "n_evaluated": len(rows),
        "warnings": {code: count for code, count in counts.items() if count},
        "loss": float(loss.mean()) if len(rows) else None,
    }


# -- strategies: options ---------------------------------------------------------------------


@dataclass
class Options:
    args: list[str] = field(default_factory=list)
    kind: str | None = None
    mode: str | None = None
    eps: str | None = None
    base: str | None = None
    weight: str | None = None
    label: str | None = None
    scores: str | None = None
    gate: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # rarer options: --id, --positive, ...

    def build(self, gate: bool = True) -> list[str]:
        out = []
        for option, value in (
            ("--kind", self.kind),
            ("--mode", self.mode),
            ("--eps", self.eps),
            ("--base", self.base),
            ("--weight", self.weight),
            ("--label", self.label),
            ("--scores", self.scores),
        ):
            if value is not None:
                out.append(f"{option}={value}")
        return out + self.args + self.extra + (self.gate if gate else [])


def maybe(values: list[Any], none_weight: int = 3) -> st.SearchStrategy[Any]:
    return st.sampled_from([None] * none_weight + values)


@st.composite
def wild_options(draw: st.DrawFn, table: Table) -> Options:
    names = [*table.names, "no_such_column"]
    options = Options(
        kind=draw(maybe(["auto", "logits", "probs", "log-probs"], 5)),
        mode=draw(maybe(["auto", "categorical", "binary", "multilabel"], 8)),
        eps=draw(maybe(["0", "1e-7"], 4)),
        base=draw(maybe(["2", "10", "e"], 4)),
        weight=draw(maybe([*names, *(["w"] * 3 * ("w" in names))], 3 * len(names))),
    )
    label_choices = names + ([table.label_glob] * 6 if table.label_glob else [])
    options.label = draw(maybe(label_choices, 3 * len(names) if not table.label_glob else 2))
    score_names = names[:-1] or ["x"]
    options.scores = draw(
        st.one_of(
            maybe([f"{table.score_prefix}*", "logit_*", "no_*"], 6),
            st.lists(st.sampled_from(score_names), min_size=1, max_size=3).map(",".join),
        )
        if draw(st.integers(0, 4)) == 0
        else st.none()
    )
    options.args = draw(maybe([["--top-warnings", "0"], ["--top-warnings", "1"]], 6)) or []
    extra = st.sampled_from(
        [
            ["--id", draw(st.sampled_from(names))],
            ["--positive", draw(st.sampled_from(["1", "0", "a", "true", "yes"]))],
            ["--renormalize"],
            ["--targets", draw(st.sampled_from([f"{table.score_prefix}*", "y_*", "w"]))],
            ["--input-format", draw(st.sampled_from(["csv", "tsv", "parquet", "jsonl"]))],
        ]
    )
    options.extra = [part for chosen in draw(st.lists(extra, max_size=2)) for part in chosen]
    if draw(st.integers(0, 2)):
        options.extra = []
    options.gate = (
        draw(maybe([["--strict"], ["--max-loss", "0.5"], ["--max-loss", "inf"]], 6)) or []
    )
    return options


@st.composite
def neutral_options(draw: st.DrawFn, table: Table) -> Options:
    """Options that must not change a clean table's numbers (except the unit, via --base)."""
    clean = table.clean
    assert clean is not None
    options = Options(base=draw(maybe(["2", "10", "e"], 2)), label=draw(maybe(["label"], 2)))
    if clean.weight_column is not None:
        options.weight = clean.weight_column  # (without it a weight column may become a score)
    if clean.kind == "logits":
        options.kind = draw(maybe(["auto", "logits"], 2))
        options.mode = draw(maybe(["auto", "categorical"], 2))
        options.eps = draw(maybe(["0", "1e-7"], 2))
        listed = [",".join(clean.file_columns)]
        if not clean.by_position:  # (positions count in the order --scores lists the columns)
            listed += [",".join(clean.score_columns), ",".join(reversed(clean.score_columns))]
        options.scores = draw(maybe(["logit_*", *listed], 2))
    else:
        options.kind = draw(maybe(["auto", "probs"], 2))
        options.mode = draw(maybe(["auto", "binary"], 2))
        options.eps = draw(maybe(["0", "1e-7"], 2))
        options.scores = draw(maybe([clean.score_columns[0]], 2))
    options.args = draw(maybe([["--top-warnings", "0"]], 3)) or []
    return options


def _is_neutral(options: Options, clean: Clean) -> bool:
    """Whether ``options`` (drawn by wild_options) keep a clean table's reference valid."""
    if options.gate or options.extra or options.weight != clean.weight_column:
        return False
    if options.label not in (None, "label"):
        return False
    if clean.kind == "logits":
        return (
            options.kind in (None, "auto", "logits")
            and options.mode in (None, "auto", "categorical")
            and options.scores in (None, "logit_*", ",".join(clean.file_columns))
        )
    return (
        options.kind in (None, "auto", "probs")
        and options.mode in (None, "auto", "binary")
        and options.scores in (None, clean.score_columns[0])
    )


# -- checks ----------------------------------------------------------------------------------


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON constant {token}")


def strict_json(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def describe(path: str, stdin: bytes | None, args: list[str]) -> str:
    """What was run, for assertion messages (the input itself, when it is text)."""
    if stdin is not None:
        shown = stdin.decode("utf-8", "replace")
    elif path.endswith((".csv", ".tsv", ".jsonl")):
        shown = Path(path).read_text(encoding="utf-8")
    else:
        shown = f"<{Path(path).suffix} file>"
    return f"xent {' '.join(args)}\n--- input ---\n{shown[:2000]}"


def run_cli(*args: Any, input: bytes | None = None) -> Any:
    """``invoke`` with Python warnings shown as the installed command shows them: on stderr.

    (pytest turns warnings into errors; a numpy RuntimeWarning would then look like a crash.)
    """
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning  # (pytest's own handler records them instead)
        warnings.simplefilter("always")
        for quiet in (
            DeprecationWarning,
            PendingDeprecationWarning,
            ImportWarning,
            ResourceWarning,
        ):
            warnings.simplefilter("ignore", quiet)
        return invoke(*args, input=input)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


PYTHON_WARNING = re.compile(r"\b[A-Z]\w*Warning: ")


def known_bugs(result: Any) -> set[str]:
    """Known bugs this outcome shows (each pinned by an xfail test below); checks they break
    are relaxed so that fuzzing goes on."""
    return set()  # none open now; add a tag here while a found bug is pinned by an xfail


def check_named_columns_found(
    result: Any, names: list[str], options: Options, context: str
) -> None:
    """A column named exactly by --label / --scores / --weight is never 'not found' (names
    with a comma or glob characters excepted: those options read them as lists and globs)."""
    if "--input-format" in options.extra:  # then the file may be read as other columns
        return
    for option, value in (("--label", options.label), ("--scores", options.scores),
                          ("--weight", options.weight)):  # fmt: skip
        if value is None or value not in names or any(c in value for c in ",*?["):
            continue
        if f"{option}: column" in result.stderr and "not found" in result.stderr:
            raise AssertionError(f"{option} {value!r} exists but was not found\n{context}")


def check_process(result: Any, context: str) -> set[str]:
    """No crash: exit 0/1/2, never a traceback, only SystemExit as the exception, no Python
    warning on stderr. Returns the known bugs the outcome shows."""
    known = known_bugs(result)
    for tag in sorted(known):
        event(f"known bug: {tag}")
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"crashed with {result.exception!r}\n{context}"
    )
    assert "Traceback" not in result.stdout, context
    assert "Traceback" not in result.stderr, context
    assert result.exit_code in (0, 1, 2), context
    if not known:
        assert not PYTHON_WARNING.search(result.stderr), (
            f"Python warning\n{result.stderr}\n{context}"
        )
    return known


def check_usage_error(result: Any, context: str) -> None:
    assert result.stdout == "", f"exit 2 with output on stdout\n{context}"
    lines = result.stderr.rstrip("\n").split("\n")
    assert 1 <= len(lines) <= 2, f"{len(lines)} error lines: {result.stderr!r}\n{context}"
    assert lines[0].startswith("xent: error: "), f"{result.stderr!r}\n{context}"
    assert "╭" not in result.stderr, context


FLOAT_KEYS = {"eps", "loss", "loss_sum", "perplexity", "accuracy", "weight_sum", "mean_p_true"}
CLASS_FLOAT_KEYS = {"weight", "loss", "loss_sum", "share", "accuracy", "mean_p_true"}
COUNT_KEYS = {"n_rows", "n_evaluated", "n_skipped", "zero_probability"}


def as_float(value: Any, where: str) -> float | None:
    """A report number: finite, or one of the strings "inf", "-inf", "nan" (or null)."""
    if value is None:
        return None
    if isinstance(value, str):
        assert value in NONFINITE_TEXT, f"{where}: {value!r}"
        return float(value)
    assert isinstance(value, (int, float)), f"{where}: {value!r}"
    assert not isinstance(value, bool), f"{where}: {value!r}"
    assert math.isfinite(value), f"{where}: {value!r}"
    return float(value)


def check_report(report: dict[str, Any], table: Table, options: Options, context: str) -> None:
    """The invariants of any successful report."""
    for key in FLOAT_KEYS:
        as_float(report[key], key)
    for key in COUNT_KEYS:
        assert isinstance(report[key], int), f"{key}: {report[key]!r}"
        assert report[key] >= 0, f"{key}: {report[key]!r}"
    assert report["n_rows"] == table.n, context
    assert report["n_rows"] == report["n_evaluated"] + report["n_skipped"], context
    assert report["n_evaluated"] >= 1, context
    loss = as_float(report["loss"], "loss")
    assert loss is not None, context
    codes = {w["code"]: w for w in report["warnings"]}
    if not math.isfinite(loss):
        assert "zero-probability" in codes, f"non-finite loss {loss} without warning\n{context}"
    else:
        assert loss >= 0.0, context
        perplexity = as_float(report["perplexity"], "perplexity")
        base = LOG_BASE[options.base]
        if loss * base < 700:
            assert math.isclose(perplexity, math.exp(loss * base), rel_tol=1e-9), context
    for name in ("accuracy", "mean_p_true"):
        value = as_float(report[name], name)
        assert value is None or math.isnan(value) or -1e-12 <= value <= 1 + 1e-9, context
    cells = report["n_evaluated"] * (
        len(report["classes"]) if report["mode"] == "multilabel" else 1
    )
    assert sum(c["count"] for c in report["classes"]) == cells, context
    for entry in report["classes"]:
        for key in CLASS_FLOAT_KEYS:
            as_float(entry[key], f"classes.{key}")
        assert isinstance(entry["count"], int), context
        assert entry["count"] >= 0, context
        class_loss = as_float(entry["loss"], "class loss")
        if entry["count"] == 0:
            assert class_loss is None, context
        elif class_loss is not None and math.isfinite(class_loss):
            assert class_loss >= 0.0, context
    for warning in report["warnings"]:
        assert warning["count"] >= len(warning["rows"]) >= 0, context
        assert all(0 <= r < table.n for r in warning["rows"]), context
    skipped = sum(codes[c]["count"] for c in ("non-finite", "missing-label") if c in codes)
    assert skipped == report["n_skipped"], f"skipped rows do not add up\n{context}"
    if report["mode"] != "multilabel":
        zero = codes["zero-probability"]["count"] if "zero-probability" in codes else 0
        assert zero == report["zero_probability"], context
    scores = report["columns"]["scores"]
    if report["mode"] == "binary":
        assert len(report["classes"]) == 2, context
    elif isinstance(scores, list):
        assert len(report["classes"]) == len(scores), context
    total = as_float(report["loss_sum"], "loss_sum")
    if math.isfinite(total) and total > 0:
        shares = math.fsum(as_float(c["share"], "share") or 0.0 for c in report["classes"])
        assert math.isclose(shares, 1.0, rel_tol=1e-9), f"shares add up to {shares}\n{context}"
    for key in ("loss", "accuracy", "mean_p_true"):  # weighted means of the per-class ones
        overall = as_float(report[key], key)
        per_class = [as_float(c[key], key) for c in report["classes"]]
        values = [v for v in per_class if v is not None]
        if overall is None or not values or any(math.isnan(v) for v in [*values, overall]):
            continue
        low, high = min(values), max(values)
        assert low <= overall or math.isclose(overall, low, rel_tol=1e-9), (
            f"overall {key} {overall!r} below every class ({low!r})\n{context}"
        )
        assert overall <= high or math.isclose(overall, high, rel_tol=1e-9), (
            f"overall {key} {overall!r} above every class ({high!r})\n{context}"
        )


def close(actual: Any, expected: float | None, what: str, abs_tol: float = 0.0) -> None:
    if expected is None:
        assert actual is None, f"{what}: {actual!r}, expected null"
        return
    value = as_float(actual, what)
    assert value is not None, f"{what}: null, expected {expected!r}"
    if math.isinf(expected):
        assert value == expected, f"{what}: {value!r}, expected {expected!r}"
    else:
        assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=abs_tol), (
            f"{what}: {value!r}, expected {expected!r}"
        )


def reference_losses(
    clean: Clean, eps: float, scores_option: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loss per row in nats, correct per row, probability of the truth per row).

    Ties for the arg-max go to the first score column in xent's order: the order of a comma
    list given to --scores, else the order of the file.
    """
    rows = np.arange(len(clean.labels))
    if clean.kind == "logits":
        z = clean.scores
        top = z.max(axis=1)
        lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
        loss = lse - z[rows, clean.labels]
        order = (
            scores_option.split(",")
            if scores_option and "," in scores_option
            else clean.file_columns or clean.score_columns
        )
        position = np.array([clean.score_columns.index(name) for name in order])
        predicted = position[z[:, position].argmax(axis=1)]
        return loss, predicted == clean.labels, np.exp(-loss)
    p, y = clean.scores, clean.labels
    q = np.where(y == 1, p, 1.0 - p)
    with np.errstate(divide="ignore"):
        loss = -np.log(np.clip(q, eps, 1.0))
    return loss, (p > 0.5) == (y == 1), q


def check_reference(report: dict[str, Any], clean: Clean, options: Options, context: str) -> None:
    """A clean table's report equals the reference computed here from the generated values."""
    eps = float(options.eps) if options.eps is not None else DEFAULT_EPS
    unit = LOG_BASE[options.base]
    loss, correct, p_true = reference_losses(clean, eps, options.scores)
    n = len(loss)
    w = clean.weights if clean.weights is not None else np.ones(n)
    scale = float(np.abs(clean.scores).max()) if clean.kind == "logits" else 1.0
    tol = 1e-13 * max(scale, 1.0)  # rounding of the textbook formula itself, per row

    def wsum(values: np.ndarray, mask: np.ndarray) -> float:
        keep = mask & (w != 0)
        return float(np.sum(values[keep] * w[keep]))

    everything = np.ones(n, dtype=bool)
    total_w = float(w.sum())
    assert report["n_evaluated"] == n, context
    assert report["n_skipped"] == 0, context
    assert report["mode"] == ("categorical" if clean.kind == "logits" else "binary"), context
    assert report["kind"] == ("logits" if clean.kind == "logits" else "probs"), context
    close(report["loss"], wsum(loss, everything) / total_w / unit, f"loss\n{context}", tol)
    close(report["loss_sum"], wsum(loss, everything) / unit, f"loss_sum\n{context}", tol * total_w)
    close(
        report["accuracy"],
        wsum(correct.astype(float), everything) / total_w,
        f"accuracy\n{context}",
    )
    close(
        report["mean_p_true"], wsum(p_true, everything) / total_w, f"mean_p_true\n{context}", 1e-12
    )

    if clean.kind == "logits":
        names = clean.classes
        assert sorted(c["class"] for c in report["classes"]) == sorted(names), context
    else:
        assert len(report["classes"]) == 2, context
    entries = {c["class"]: c for c in report["classes"]}
    for index in range(len(clean.classes) if clean.kind == "logits" else 2):
        entry = (
            entries[clean.classes[index]] if clean.kind == "logits" else report["classes"][index]
        )
        mask = clean.labels == index
        weight = float(w[mask].sum())
        assert entry["count"] == int(mask.sum()), f"class {index} count\n{context}"
        expected = wsum(loss, mask) / weight / unit if mask.any() and weight > 0 else None
        close(entry["loss"], expected, f"class {index} loss\n{context}", tol)
        close(
            entry["loss_sum"],
            wsum(loss, mask) / unit,
            f"class {index} loss_sum\n{context}",
            tol * total_w,
        )


def run_eval(
    table: Table,
    options: Options,
    fmt: str,
    directory: Path,
    jsonl_style: Any,
    block: int | None = None,
):
    """``xent eval`` on the table written as ``fmt``; text is cut into ``block``-byte chunks
    when given (the default is megabytes: one chunk for these small tables)."""
    path, stdin = materialize(table, fmt, directory, jsonl_style)
    args = ["eval", path, "--format", "json", *options.build()]
    if block is None:
        result = run_cli(*args, input=stdin)
    else:
        with mock.patch.object(readers.TextSource, "_block_size", return_value=block):
            result = run_cli(*args, input=stdin)
    context = describe(path, stdin, args)
    known = check_process(result, context)
    event(f"eval exit {result.exit_code}")
    if result.exit_code == 2:
        event("exit 2: " + result.stderr.split("\n")[0].replace(path, "FILE")[13:60])
    report = None
    if result.exit_code == 2:
        check_usage_error(result, context)
        in_file = table.names
        if fmt == "jsonl" and jsonl_style[1]:  # a column with no value has no key at all
            in_file = [c.name for c in table.columns if any(v is not None for v in c.values)]
        check_named_columns_found(result, in_file, options, context)
    else:
        try:
            report = strict_json(result.stdout)
        except ValueError as error:
            raise AssertionError(f"stdout is not strict JSON ({error})\n{context}") from None
        if not known:
            check_report(report, table, options, context)
        event(f"ok {report['mode']} {report['kind']}")
        gate_failed = False
        if "--strict" in options.gate and report["warnings"]:
            gate_failed = True
        if "--max-loss" in options.gate:
            limit = float(options.gate[options.gate.index("--max-loss") + 1])
            gate_failed |= not as_float(report["loss"], "loss") <= limit
        assert result.exit_code == (1 if gate_failed else 0), context
    return Outcome(result, report, context, path, stdin, known)


@dataclass
class Outcome:
    result: Any
    report: dict[str, Any] | None  # the JSON report (exit 0 or 1)
    context: str
    path: str
    stdin: bytes | None
    known: set[str]  # known bugs shown


jsonl_style_st = st.tuples(st.sampled_from(["null", "null", "token", "string"]), st.booleans())
block_st = st.sampled_from([None, None, 1, 17, 256])  # text chunk bytes (None: the default)


# -- the fuzz tests --------------------------------------------------------------------------


@_settings(250)
@given(
    st.one_of(
        wild_tables(), wild_tables(), wild_tables(), clean_logits_tables(), clean_binary_tables()
    ),
    st.sampled_from(FORMATS),
    jsonl_style_st,
    st.data(),
)
def test_eval_fuzz(table, fmt, jsonl_style, data):
    options = data.draw(wild_options(table))
    with tempfile.TemporaryDirectory() as tmp:
        out = run_eval(table, options, fmt, Path(tmp), jsonl_style, data.draw(block_st))
        if out.report is None or out.known:
            return
        if data.draw(st.integers(0, 3)) == 0:
            check_render(out, options, data.draw(st.sampled_from(["table", "csv", "markdown"])))
        if fmt == "parquet" and table.n >= 2 and data.draw(st.booleans()):
            cut = data.draw(st.integers(1, table.n - 1))
            as_directory = data.draw(st.booleans())
            check_split(table, cut, options, fmt, Path(tmp), jsonl_style, as_directory, out)
    if table.clean is not None and _is_neutral(options, table.clean):
        event("reference checked")
        check_reference(out.report, table.clean, options, out.context)


def check_render(whole: Outcome, options: Options, fmt: str) -> None:
    """The same report as a table, CSV or markdown: same exit code, one row per class."""
    args = ["eval", whole.path, "--format", fmt, *options.build()]
    result = run_cli(*args, input=whole.stdin)
    context = f"{whole.context}\n--- as {fmt}: xent {' '.join(args)}"
    if check_process(result, context):
        return
    event(f"rendered {fmt}")
    assert result.exit_code == whole.result.exit_code, f"{result.stderr}\n{context}"
    classes = whole.report["classes"]
    if fmt == "csv":
        records = list(csv.reader(io.StringIO(result.stdout)))
        assert records[0][0] == "scope", context
        assert len(records) == len(classes) + 2, context
        assert records[-1][0] == "overall", context
        assert all(len(r) == len(records[0]) for r in records), context
    elif fmt == "markdown":
        rows = [line for line in result.stdout.splitlines() if line.startswith("|")]
        assert len(rows) >= len(classes) + 3, context  # header, rule, classes, overall
    else:
        assert "overall" in result.stdout, context


def check_split(
    table: Table,
    cut: int,
    options: Options,
    fmt: str,
    directory: Path,
    jsonl_style: Any,
    as_directory: bool,
    whole: Outcome,
) -> None:
    """The table as two files (rows [0, cut) and [cut, n)) gives the same report.

    Parquet only: its column types do not depend on the rows a file holds, whereas a CSV or
    JSON Lines schema is inferred from the values, and the first file's schema decides the
    column roles (a column that is empty in the first part is typed differently there).
    """
    parts = directory / "parts"
    parts.mkdir()
    paths = []
    for name, rows in (("a", slice(0, cut)), ("b", slice(cut, table.n))):
        part = Table(
            [Column(c.name, c.typ, c.values[rows]) for c in table.columns],
            len(range(table.n)[rows]),
        )
        path, _ = materialize(part, fmt, parts, jsonl_style)
        target = parts / f"{name}.{fmt}"
        Path(path).rename(target)
        paths.append(str(target))
    inputs = [str(parts)] if as_directory else paths
    args = ["eval", *inputs, "--format", "json", *options.build()]
    result = run_cli(*args)
    context = f"{whole.context}\n--- split at row {cut}: xent {' '.join(args)}"
    if check_process(result, context):
        return
    event("split checked")
    assert result.exit_code == whole.result.exit_code, f"{result.stderr}\n{context}"
    split = strict_json(result.stdout)
    assert split["files"] == paths, context
    split["files"] = whole.report["files"]
    assert_same(split, whole.report, context)


def assert_same(a: Any, b: Any, context: str, where: str = "") -> None:
    """Equal JSON trees, floats to a relative 1e-9 (batches add up in another order)."""
    if isinstance(a, dict):
        assert isinstance(b, dict), f"{where}: {a!r} vs {b!r}\n{context}"
        assert sorted(a) == sorted(b), f"{where}: keys differ\n{context}"
        for key in a:
            assert_same(a[key], b[key], context, f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list), f"{where}: {a!r} vs {b!r}\n{context}"
        assert len(a) == len(b), f"{where}: {a!r} vs {b!r}\n{context}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, context, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300), (
            f"{where}: {a!r} (split) vs {b!r} (one file)\n{context}"
        )
    else:
        assert a == b, f"{where}: {a!r} (split) vs {b!r} (one file)\n{context}"


def check_clean_table(table: Table, fmt: str, jsonl_style: Any, data: Any) -> None:
    """A clean table evaluates (exit 0) to the losses of the reference computation."""
    options = data.draw(neutral_options(table))
    with tempfile.TemporaryDirectory() as tmp:
        out = run_eval(table, options, fmt, Path(tmp), jsonl_style, data.draw(block_st))
    assert out.result.exit_code == 0, f"{out.result.stderr}\n{out.context}"
    check_reference(out.report, table.clean, options, out.context)


@_settings(100)
@given(clean_logits_tables(), st.sampled_from(FORMATS), jsonl_style_st, st.data())
def test_eval_clean_logits_matches_reference(table, fmt, jsonl_style, data):
    check_clean_table(table, fmt, jsonl_style, data)


@_settings(100)
@given(clean_binary_tables(), st.sampled_from(FORMATS), jsonl_style_st, st.data())
def test_eval_clean_binary_matches_reference(table, fmt, jsonl_style, data):
    check_clean_table(table, fmt, jsonl_style, data)


@_settings(80)
@given(dirty_tables(), st.sampled_from(FORMATS), st.data())
def test_eval_warnings_match_reference(case, fmt, data):
    """Broken rows are skipped or flagged with the right warning and counts; the loss of the
    rest equals the reference."""
    table, dirty = case
    options = Options(eps=data.draw(maybe(["0", "1e-7"], 2)), base=data.draw(maybe(["2"], 2)))
    eps = float(options.eps) if options.eps is not None else DEFAULT_EPS
    expected = dirty_expected(dirty, eps)
    with tempfile.TemporaryDirectory() as tmp:
        out = run_eval(table, options, fmt, Path(tmp), ("token", False), data.draw(block_st))
    if expected["n_evaluated"] == 0:
        assert out.result.exit_code == 2, out.context
        assert "no rows to evaluate" in out.result.stderr, out.context
        return
    assert out.result.exit_code == 0, f"{out.result.stderr}\n{out.context}"
    report = out.report
    assert report["kind"] == dirty.kind, out.context
    assert report["n_evaluated"] == expected["n_evaluated"], out.context
    counts = {w["code"]: w["count"] for w in report["warnings"]}
    event("warnings: " + ",".join(sorted(counts)))
    assert counts == expected["warnings"], out.context
    close(report["loss"], expected["loss"] / LOG_BASE[options.base], f"loss\n{out.context}", 1e-12)


def parse_rows(stdout: str, fmt: str, context: str) -> list[tuple[int, float]]:
    """(row, loss) per line of ``xent rows`` output: CSV with a header, or JSON Lines."""
    out = []
    if fmt == "json":
        for line in stdout.splitlines():
            record = strict_json(line)
            assert list(record) == ROW_FIELDS, context
            as_float(record["p_true"], "p_true")
            out.append((record["row"], as_float(record["loss"], "loss")))
        return out
    records = list(csv.reader(io.StringIO(stdout)))
    assert records, context
    assert records[0] == ROW_FIELDS, context
    assert all(len(r) == 6 for r in records), context
    for record in records[1:]:
        float(record[4])  # p_true and loss: numbers, or nan / inf
        out.append((int(record[0]), float(record[5])))
    return out


@_settings(120)
@given(
    st.one_of(wild_tables(), wild_tables(), clean_logits_tables(), clean_binary_tables()),
    st.sampled_from(FORMATS),
    jsonl_style_st,
    st.data(),
)
def test_rows_fuzz(table, fmt, jsonl_style, data):
    options = data.draw(wild_options(table))
    options.gate = []
    top = data.draw(maybe([1, 3, 50], 4))
    rows_format = data.draw(st.sampled_from(["csv", "csv", "csv", "json"]))
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        whole = run_eval(table, options, fmt, directory, jsonl_style)
        path, stdin = whole.path, whole.stdin
        if stdin is not None:  # standard input is read once: read it again for rows
            path, stdin = materialize(table, fmt, directory, jsonl_style)
        args = ["rows", path, *options.build(gate=False), *(["--top", top] if top else [])]
        args += ["--format", rows_format] if rows_format != "csv" else []
        result = run_cli(*args, input=stdin)
        context = describe(path, stdin, [str(a) for a in args])
    known = check_process(result, context)
    event(f"rows exit {result.exit_code}")
    assert result.exit_code in (0, 2), context
    report = whole.report
    if result.exit_code == 2:
        check_usage_error(result, context)
        assert report is None, f"eval succeeded where rows failed\n{context}"
        return
    lines = parse_rows(result.stdout, rows_format, context)
    losses = [loss for _, loss in lines]
    if top:
        ordered = [INF if math.isnan(v) else v for v in losses]
        assert ordered == sorted(ordered, reverse=True), f"--top is not worst first\n{context}"
    if report is None or known or whole.known:
        return  # eval refused (e.g. all weights 0): rows has no weighted mean to refuse
    cells = report["n_evaluated"] * (
        len(report["classes"]) if report["mode"] == "multilabel" else 1
    )
    assert len(lines) == (min(top, cells) if top else cells), context
    clean = table.clean
    if clean is not None and _is_neutral(options, clean):
        event("rows reference checked")
        eps = float(options.eps) if options.eps is not None else DEFAULT_EPS
        expected, _, _ = reference_losses(clean, eps)
        expected = expected / LOG_BASE[options.base]
        scale = float(np.abs(clean.scores).max()) if clean.kind == "logits" else 1.0
        for row, value in lines:
            assert math.isclose(
                value, expected[row], rel_tol=1e-9, abs_tol=1e-13 * max(scale, 1)
            ), f"row {row}: {value!r} vs {expected[row]!r}\n{context}"


# -- what the fuzzer found, reduced: fixed ones as regression tests, open ones as ---------
# -- xfail(strict=True) tests named test_bug_* (a fix shows up as XPASS) --------------------


def _eval_csv(tmp_path: Path, text: str, *args: str) -> Any:
    path = tmp_path / "p.csv"
    path.write_text(text, encoding="utf-8")
    return run_cli("eval", path, "--format", "json", *args)


def _ce(z: list[float], y: int) -> float:
    top = max(z)
    return top + math.log(math.fsum(math.exp(v - top) for v in z)) - z[y]


# Scores and weights near the end of the float64 range overflowed its arithmetic (differences,
# products and sums of them): now xent skips rows beyond +-1e100 as unusable, like NaN and
# inf, and says so.
EXTREME_CASES = {
    "logits 2e308 apart, right class on top": ("label,logit_a,logit_b\na,1e308,-1e308\n", ()),
    "logits 2e308 apart, true class below": ("label,logit_a,logit_b\nb,1e308,-1e308\n", ()),
    "weights that sum past float64": (
        "label,logit_a,logit_b,w\na,0,1,1e308\nb,0,1,1e308\n",
        ("--weight", "w"),
    ),
    "a weight of 1.7e308": ("label,logit_a,logit_b,w\na,0,1,1.7e308\n", ("--weight", "w")),
    "binary logits of -1e308": ("label,score_a\n1,-1e308\n1,-1e308\n", ()),
    "a weight of 1e300 times a loss of 2e300": (
        "label,logit_a,logit_b,w\nb,1e300,-1e300,1e300\n",
        ("--weight", "w"),
    ),
    "weight x loss products of 1e308 that sum past float64": (
        "label,logit_a,logit_b,w\nb,1e8,0,1e300\nb,1e8,0,1e300\n",
        ("--weight", "w"),
    ),
}


@pytest.mark.parametrize("case", sorted(EXTREME_CASES))
def test_extreme_values_are_skipped_with_a_reason(tmp_path, case):
    text, args = EXTREME_CASES[case]
    result = _eval_csv(tmp_path, text, *args)
    assert not PYTHON_WARNING.search(result.stderr), result.stderr
    assert result.exit_code == 2  # every row is unusable
    first = result.stderr.splitlines()[0]
    assert first.startswith("xent: error: ")
    assert "non-finite" in first


def test_extreme_rows_do_not_disturb_the_others(tmp_path):
    text = "label,logit_a,logit_b,w\na,0,1,1\nb,0,1,1e308\nb,1e308,-1e308,1\nb,2,0,1\n"
    result = _eval_csv(tmp_path, text, "--weight", "w")
    assert result.exit_code == 0, result.stderr
    report = strict_json(result.stdout)
    assert report["n_skipped"] == 2
    assert {w["code"]: w["rows"] for w in report["warnings"]} == {"non-finite": [1, 2]}
    expected = (_ce([0, 1], 0) + _ce([2, 0], 1)) / 2
    assert as_float(report["loss"], "loss") == pytest.approx(expected, rel=1e-12)


def test_empty_column_is_not_a_score(tmp_path):
    result = _eval_csv(tmp_path, "label,prob,note\n1,0.9,\n0,0.2,\n")
    assert result.exit_code == 0, result.stderr
    report = strict_json(result.stdout)
    assert report["columns"]["scores"] == ["prob"]
    assert report["loss"] == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2, rel=1e-12)


def test_duplicate_column_name_is_an_input_error(tmp_path):
    result = _eval_csv(tmp_path, "label,x,x\n1,0.5,0.5\n")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("xent: error: ")


def test_padded_column_name_can_be_named(tmp_path):
    result = _eval_csv(tmp_path, " gold,logit_a,logit_b\na,1,2\n", "--label", " gold")
    assert result.exit_code == 0, result.stderr
    assert strict_json(result.stdout)["loss"] == pytest.approx(_ce([1, 2], 0), rel=1e-12)


@pytest.mark.parametrize("option", ["--weight", "--id"])
def test_duplicate_weight_or_id_column_is_an_input_error(tmp_path, option):
    names = ["label", "logit_a", "logit_b", "w", "w"]
    arrays = [pa.array(["a"]), *(pa.array([v]) for v in (1.0, 2.0, 1.0, 1.0))]
    path = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
    result = run_cli("eval", path, option, "w")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("xent: error: ")


def test_rows_agrees_with_eval_on_log_probs_with_minus_inf(tmp_path):
    log_half = math.log(0.5)
    text = f"label,a,b\n0,-inf,{log_half!r}\n0,{log_half!r},{log_half!r}\n"
    report = strict_json(_eval_csv(tmp_path, text).stdout)
    result = run_cli("rows", tmp_path / "p.csv")
    assert result.exit_code == 0, result.stderr
    assert len(parse_rows(result.stdout, "csv", "")) == report["n_evaluated"]
