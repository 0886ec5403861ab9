"""Every text table fits its width: eval's classes, calibration bins and slices, compare's
classes, slices and --top rows, and xent rows' table, at 40, 60, 80 and 120 columns.

A number is never cut: each kept column's cells are read back and compared with the JSON
report's values, formatted here with the documented formats (4 decimals for a loss, one for
a percentage, a sign and 5 decimals for a delta, 4 significant digits in xent rows)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from xent_cli.core.rows import RowRecord
from xent_cli.options import RowsFormat
from xent_cli.render.rows import format_records
from xent_cli.render.table import BARE, COMPACT, Column, fit, output_width, table_lines

from .conftest import ROOT, invoke

WIDTHS = (40, 60, 80, 120)
CLASSES = ["cat", "dog", "a_rather_long_class_name_bird"]
REGIONS = ["north", "south", "a_very_long_region_name_indeed"]
BARS = re.compile("[█▏▎▍▌▋▊▉]")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """base.csv and cand.csv: 300 rows, 3 classes (one long name), ids, a slice column with a
    long value and a small slice (x: 10 rows); the candidate's logits are the baseline's
    plus noise."""
    folder = tmp_path_factory.mktemp("layout")
    rng = np.random.default_rng(5)
    n = 300
    logits = rng.normal(size=(n, 3)).round(3)
    labels = rng.integers(0, 3, n)
    logits[np.arange(n), labels] += 1.5
    frame = pd.DataFrame(logits, columns=[f"logit_{c}" for c in CLASSES])
    frame.insert(0, "label", [CLASSES[i] for i in labels])
    frame.insert(0, "id", [f"example-{i:05d}-{'long' * (i % 3)}" for i in range(n)])
    frame["region"] = rng.choice(REGIONS, n)
    frame.loc[:9, "region"] = "x"
    frame.to_csv(folder / "base.csv", index=False)
    noise = rng.normal(scale=0.7, size=(n, 3)).round(3)
    frame[[f"logit_{c}" for c in CLASSES]] += noise
    frame.to_csv(folder / "cand.csv", index=False)
    return folder


def run(monkeypatch: pytest.MonkeyPatch, width: int, *args: str) -> str:
    """``xent ARGS`` with COLUMNS=width; its standard output, every line checked to fit."""
    monkeypatch.setenv("COLUMNS", str(width))
    result = invoke(*args, "--no-progress")
    assert result.exit_code == 0, result.output
    for line in result.stdout.splitlines():
        assert len(line) <= width, (width, line)
    return result.stdout


def report_json(*args: str) -> Any:
    result = invoke(*args, "--format", "json", "--no-progress")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def table(text: str, first: str) -> tuple[list[str], list[dict[str, str]]]:
    """The table whose heading line starts with ``first``: its headings and its rows as
    {heading: cell}. Cells are split at runs of two or more spaces (the column gap), share
    bars left out; the rows end at a blank line or after the footer."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(first + "  "))
    headings = re.split(r" {2,}", lines[start].strip())
    rows, rules = [], 0
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        if set(line) <= {"-", "─", " "}:
            rules += 1
            continue
        if line.startswith("... "):
            continue
        cells = re.split(r" {2,}", BARS.sub("", line).strip())
        assert len(cells) == len(headings), (headings, line)
        rows.append(dict(zip(headings, cells, strict=True)))
        if rules == 2:
            break  # the footer, after its rule
    return headings, rows


def shown_as(cell: str, name: str) -> bool:
    """The cell shows ``name``: whole, or its start and end around an ellipsis."""
    if cell == name:
        return True
    head, _, tail = cell.partition("…")
    return "…" in cell and len(cell) < len(name) and name.startswith(head) and name.endswith(tail)


def named(cell: str, items: list[Any], name_of: Any) -> Any:
    (item,) = [x for x in items if shown_as(cell, name_of(x))]
    return item


def loss(value: float) -> str:
    return f"{value:.3e}" if value != 0 and abs(value) < 1e-3 else f"{value:.4f}"


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def signed(value: float) -> str:
    if value != 0 and abs(value) < 1e-4:
        return f"{value:+.3e}"
    return f"{value:+.5f}" if abs(value) < 1 else f"{value:+.4g}"


def check_cells(row: dict[str, str], expected: dict[str, str], names: tuple[str, ...] = ()) -> None:
    """Every kept column shows the expected text: whole for a number, whole or shortened
    around an ellipsis for a name."""
    for heading, cell in row.items():
        if heading in names:
            assert shown_as(cell, expected[heading]), (heading, row)
        else:
            assert cell == expected[heading], (heading, row)


def class_cells(c: dict[str, Any]) -> dict[str, str]:
    return {
        "count": str(c["count"]),
        "loss": loss(c["loss"]),
        "share": percent(c["share"]),
        "accuracy": percent(c["accuracy"]),
        "mean p(true)": f"{c['mean_p_true']:.4f}",
        "zero-p": str(c["zero_probability"]),
    }


def check_eval_classes(text: str, report: dict[str, Any]) -> list[str]:
    headings, rows = table(text, "class")
    assert len(rows) == len(report["classes"]) + 1
    for row in rows[:-1]:
        c = named(row["class"], report["classes"], lambda c: c["class"])
        check_cells(row, {**class_cells(c), "class": c["class"]}, names=("class",))
    overall = {
        **report,
        "count": sum(c["count"] for c in report["classes"]),
        "share": 1.0,
    }
    check_cells(rows[-1], {**class_cells(overall), "class": "overall"})
    return headings


def check_bins(text: str, report: dict[str, Any]) -> list[str]:
    headings, rows = table(text, "bin")
    bins = report["calibration"]["bins"]
    assert len(rows) == len(bins)
    for row, b in zip(rows, bins, strict=True):
        opening = "[" if b["lo"] <= 0 else "("
        expected = {
            "bin": f"{opening}{b['lo']:.4f}, {b['hi']:.4f}]",
            "count": str(b["count"]),
            "mean p": f"{b['mean_p']:.4f}",
            "observed": f"{b['observed']:.4f}",
            "gap": f"{b['observed'] - b['mean_p']:+.4f}",
        }
        check_cells(row, expected)
    return headings


def slice_name(group: dict[str, Any]) -> str:
    return f"region={group['key']['region']}" + (" *" if group["small"] else "")


def check_eval_slices(text: str, report: dict[str, Any]) -> list[str]:
    headings, rows = table(text, "slice")
    groups = report["slices"]["groups"]
    assert len(rows) == len(groups)
    for row in rows:
        group = named(row["slice"], groups, slice_name)
        expected = {**class_cells(group), "slice": slice_name(group), "ECE": f"{group['ece']:.4f}"}
        check_cells(row, expected, names=("slice",))
    return headings


@pytest.mark.parametrize("width", WIDTHS)
def test_eval_of_the_sample_fits(monkeypatch, width):
    monkeypatch.chdir(ROOT)
    args = ("eval", "sample_data/digits_logits.csv")
    headings = check_eval_classes(run(monkeypatch, width, *args), report_json(*args))
    assert {"class", "loss"} <= set(headings)
    if width >= 60:
        assert {"count", "share", "accuracy", "mean p(true)"} <= set(headings)
    if width >= 120:
        assert "zero-p" in headings


@pytest.mark.parametrize("width", WIDTHS)
def test_eval_with_slices_and_calibration_fits(folder, monkeypatch, width):
    monkeypatch.chdir(folder)
    args = ("eval", "base.csv", "--by", "region", "--calibration")
    text = run(monkeypatch, width, *args)
    report = report_json(*args)
    classes = check_eval_classes(text, report)
    bins = check_bins(text, report)
    slices = check_eval_slices(text, report)
    assert {"class", "loss", "share"} <= set(classes)
    assert {"bin", "mean p", "observed"} <= set(bins)
    assert {"slice", "loss", "share"} <= set(slices)
    if width >= 60:
        assert {"accuracy"} <= set(classes) & set(slices)
        assert {"count", "gap"} <= set(bins)
        assert "ECE" in slices
    if width >= 120:
        assert len(classes) == 7  # every column (the bars have no heading)
        assert len(slices) == 8
    if width < 80:
        assert "…" in text  # a long class or slice name shortened


def compare_class_cells(c: dict[str, Any]) -> dict[str, str]:
    return {
        "count": str(c.get("count")),  # (--top's rows have neither count nor contribution)
        "baseline": loss(c["loss_baseline"]),
        "candidate": loss(c["loss_candidate"]),
        "delta": signed(c["delta"]),
        "contribution": signed(c.get("contribution", 0.0)),
    }


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_with_slices_and_top_rows_fits(folder, monkeypatch, width):
    monkeypatch.chdir(folder)
    args = ("compare", "base.csv", "cand.csv", "--by", "region", "--top", "3")
    text = run(monkeypatch, width, *args)
    report = report_json(*args)

    classes, rows = table(text, "class")
    for row in rows[:-1]:
        c = named(row["class"], report["classes"], lambda c: c["class"])
        check_cells(row, {**compare_class_cells(c), "class": c["class"]}, names=("class",))
    overall = {**report, "count": report["join"]["n_joined"], "contribution": report["delta"]}
    check_cells(rows[-1], {**compare_class_cells(overall), "class": "overall"})

    slices, rows = table(text, "slice")
    groups = report["slices"]["groups"]
    assert len(rows) == len(groups)
    for row in rows:
        g = named(row["slice"], groups, slice_name)
        interval = f"[{signed(g['ci_low'])}, {signed(g['ci_high'])}]"
        expected = {**compare_class_cells(g), "slice": slice_name(g), "interval": interval}
        check_cells(row, expected, names=("slice",))

    top, rows = table(text, "row")
    assert len(rows) == len(report["rows"]) == 3
    for row, r in zip(rows, report["rows"], strict=True):
        expected = {**compare_class_cells(r), "row": str(r["row"]), "id": "-", "label": r["label"]}
        check_cells(row, expected, names=("id", "label"))

    assert {"class", "delta"} <= set(classes)
    assert {"slice", "delta"} <= set(slices)
    assert {"row", "delta"} <= set(top)
    if width >= 60:
        assert {"baseline", "candidate"} <= set(classes)
        assert "interval" in slices
        assert {"label", "baseline", "candidate"} <= set(top)
    if width >= 120:
        assert len(classes) == len(slices) == len(top) == 6


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("with_id", [False, True])
def test_rows_table_fits(folder, monkeypatch, width, with_id):
    monkeypatch.chdir(folder)
    args = ["rows", "base.csv", "--top", "3", *(["--id", "id"] if with_id else [])]
    text = run(monkeypatch, width, *args, "--format", "table")
    result = invoke(*args, "--format", "json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    headings, rows = table(text, "row")
    assert len(rows) == len(records) == 3
    for row, r in zip(rows, records, strict=True):
        expected = {
            "row": str(r["row"]),
            "id": r["id"] or "-",
            "label": r["label"],
            "predicted": r["predicted"],
            "p_true": f"{r['p_true']:.4g}",
            "loss": f"{r['loss']:.4g}",
        }
        check_cells(row, expected, names=("id", "label", "predicted"))
    assert {"row", "label", "loss"} <= set(headings)
    if width >= 60:
        assert {"id", "p_true"} <= set(headings)
    if width >= 80:
        assert "predicted" in headings


def test_a_table_drops_its_least_important_columns_then_shortens_names():
    """By hand: name (natural 20, shortened to no less than 12 before a column goes), a
    (rank 0: kept), b (rank 1) and c (rank 2), each 6 wide, gap 2."""
    columns = [
        Column("name", align="left", shorten=True),
        Column("a"),
        Column("b", rank=1),
        Column("c", rank=2),
    ]
    rows = [["n" * 20, "1.0000", "2.0000", "3.0000"]]
    assert fit(columns, rows, None, COMPACT) == [(0, 20), (1, 6), (2, 6), (3, 6)]
    assert fit(columns, rows, 44, COMPACT) == [(0, 20), (1, 6), (2, 6), (3, 6)]  # 20+3*6+3*2
    assert fit(columns, rows, 43, COMPACT) == [(0, 19), (1, 6), (2, 6), (3, 6)]
    assert fit(columns, rows, 36, COMPACT) == [(0, 12), (1, 6), (2, 6), (3, 6)]
    assert fit(columns, rows, 35, COMPACT) == [(0, 19), (1, 6), (2, 6)]  # c goes
    assert fit(columns, rows, 27, COMPACT) == [(0, 19), (1, 6)]  # then b
    assert fit(columns, rows, 12, COMPACT) == [(0, 4), (1, 6)]  # the heading's 4 at least
    lines = table_lines(columns, rows, width=27, look=COMPACT)
    assert lines == ["name                      a", "-" * 27, "nnnnnnnnn…nnnnnnnnn  1.0000"]


def test_rows_blocks_line_up_whatever_their_values():
    """xent rows streams blocks: fixed column widths, whatever the ids and labels hold."""
    first = [RowRecord(0, "a", "cat", "dog", 0.5, 0.6931)]
    second = [RowRecord(123456, "a-much-longer-id-than-the-column", "x" * 30, "y", 1e-9, 20.7)]
    lines = [
        *format_records(first, RowsFormat.table, header=True, width=60).splitlines(),
        *format_records(second, RowsFormat.table, header=False, width=60).splitlines(),
    ]
    assert len({len(line) for line in lines}) == 1
    assert all(len(line) <= 60 for line in lines)


def test_bare_table_has_no_rule():
    lines = table_lines([Column("x"), Column("y")], [["1", "2"]], width=None, look=BARE)
    assert lines == ["x  y", "1  2"]


@pytest.mark.parametrize(
    ("columns", "terminal", "width"),
    [(None, False, 80), ("60", False, 60), ("60", True, 60), ("5", False, 20), ("999", True, 160)],
)
def test_output_width(monkeypatch, columns, terminal, width):
    """$COLUMNS when set; else 80 off a terminal; within 20..160."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert output_width(terminal) == width


@pytest.mark.parametrize("width", WIDTHS)
def test_renderers_fit_the_width_they_are_given(folder, monkeypatch, width):
    """The renderers themselves, called with a width (the Python API's reports)."""
    from xent_cli import compare, evaluate
    from xent_cli.options import OutputFormat
    from xent_cli.render.compare import render_comparison
    from xent_cli.render.report import render_table

    monkeypatch.chdir(folder)
    report = evaluate("base.csv", by="region", calibration=True)
    comparison = compare("base.csv", "cand.csv", by="region", top=3)
    records = [RowRecord(7, "example-00007-longlong", "a_rather_long_class_name_bird", "dog",
                         0.03125, 3.4657359)]  # fmt: skip
    texts = [
        render_table(report, width=width),
        render_comparison(comparison, OutputFormat.table, width=width),
        format_records(records, RowsFormat.table, header=True, width=width),
    ]
    for text in texts:
        assert all(len(line) <= width for line in text.splitlines()), text
    assert "3.466" in texts[2].splitlines()[1]
