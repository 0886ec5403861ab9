"""--plot: PNG / SVG figures and the HTML page, drawn from the report's JSON dict.

The files are checked for what they are (PNG signature and IHDR, SVG as XML with one
element per bar, HTML parsed, self-contained, escaped), the SVG for byte-identity (the same
dict twice, other rcParams, other batchings of the same rows), and matplotlib for being
optional: missing, a picture is exit 2 naming the extra; ``xent --help`` never imports it.
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import ROOT, SAMPLES, eval_json, invoke

pytest.importorskip("matplotlib")

from xent_cli.render.files import write_plot
from xent_cli.render.plots import (
    INSTALL_HINT,
    MAX_BARS,
    NO_CALIBRATION,
    build_figure,
    figure_bytes,
    worst_classes,
)

SVG = "{http://www.w3.org/2000/svg}"


def calibrated(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with a calibration part of four hand-made bins."""
    bins = [
        {"lo": 0.2, "hi": 0.4, "count": 3, "weight": 3.0, "mean_p": 0.35, "observed": 1 / 3},
        {"lo": 0.4, "hi": 0.6, "count": 5, "weight": 5.0, "mean_p": 0.5, "observed": 0.4},
        {"lo": 0.6, "hi": 0.8, "count": 10, "weight": 10.0, "mean_p": 0.7, "observed": 0.8},
        {"lo": 0.8, "hi": 1.0, "count": 27, "weight": 27.0, "mean_p": 0.9, "observed": 1.0},
    ]
    return {
        **report,
        "calibration": {
            "target": "top",
            "n_bins": 5,
            "binning": "width",
            "edges": "(lo, hi], first bin closed at 0",
            "preset": None,
            "convention": "top-label confidence, 5 equal-width bins (lo, hi]",
            "ece": 0.07,
            "mce": 0.1,
            "brier": 0.2,
            "bins": bins,
        },
    }


@pytest.fixture(scope="module")
def iris() -> dict[str, Any]:
    return eval_json(SAMPLES / "iris_probs.parquet")


def gids(svg: bytes, prefix: str) -> list[str]:
    """The ids of the SVG's groups that start with ``prefix`` (each bar is one group)."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return [g.get("id", "") for g in root.iter(f"{SVG}g") if g.get("id", "").startswith(prefix)]


def test_png_is_a_png(tmp_path, iris):
    path = tmp_path / "report.png"
    write_plot(path, calibrated(iris))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, chunk, width, height = struct.unpack(">I4sII", data[8:24])
    assert (length, chunk) == (13, b"IHDR")
    assert width > 300
    assert height > 200
    assert data[-8:-4] == b"IEND"
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary file left


def test_svg_has_one_bar_per_bin_and_per_class(tmp_path, iris):
    path = tmp_path / "report.svg"
    write_plot(path, calibrated(iris))
    svg = path.read_bytes()
    assert len(gids(svg, "reliability-bar-")) == 4
    assert len(gids(svg, "count-bar-")) == 4
    assert len(gids(svg, "loss-bar-")) == 3  # setosa, versicolor, virginica
    assert gids(svg, "diagonal")
    assert gids(svg, "mean-p")
    assert b"<dc:date>" not in svg  # no date metadata


def test_without_calibration_only_the_loss_bars_and_a_note(iris):
    svg = figure_bytes(iris, "svg")
    assert gids(svg, "reliability-bar-") == []
    assert gids(svg, "count-bar-") == []
    assert len(gids(svg, "loss-bar-")) == 3
    texts = [t.get_text() for t in build_figure(iris).texts]
    assert NO_CALIBRATION in texts
    assert NO_CALIBRATION == "run with --calibration for the reliability diagram"


def test_many_classes_draw_the_worst_by_share_and_say_how_many_are_left_out(iris):
    shares = [(i * 37) % 101 / 1000 for i in range(50)]
    classes = [
        {**iris["classes"][0], "class": f"c{i}", "share": s, "loss": s * 3}
        for i, s in enumerate(shares)
    ]
    report = {**iris, "classes": classes}
    shown, hidden = worst_classes(classes, MAX_BARS)
    expected = sorted(range(50), key=lambda i: (-shares[i], i))[:MAX_BARS]
    assert [c["class"] for c in shown] == [f"c{i}" for i in expected]
    assert hidden == 50 - MAX_BARS
    assert len(gids(figure_bytes(report, "svg"), "loss-bar-")) == MAX_BARS
    titles = [ax.get_title() for ax in build_figure(report).axes]
    assert f"the worst {MAX_BARS} of 50 classes by share ({50 - MAX_BARS} left out)" in titles[0]


def test_unusual_values_do_not_break_the_figure(iris):
    """Infinite and missing losses, a class without rows, mathtext and control characters
    in names: drawn (names literally), never an exception."""
    classes = [
        {**iris["classes"][0], "class": "$\\alpha$ <b>", "loss": "inf", "share": "nan"},
        {**iris["classes"][1], "class": "a\nb", "loss": None, "share": 0.0, "count": 0},
        {**iris["classes"][2], "class": "x" * 200},
    ]
    report = calibrated({**iris, "classes": classes, "loss": "inf"})
    assert len(gids(figure_bytes(report, "svg"), "loss-bar-")) == 3
    labels = [t.get_text() for t in build_figure(report).axes[-1].get_yticklabels()]
    assert labels[0] == "x" * 10 + "…" + "x" * 9  # 20 characters, around an ellipsis
    assert "$\\alpha$ <b>" in labels
    assert "a\\nb" in labels


def test_same_dict_same_svg_bytes_whatever_the_rc_settings(iris):
    import matplotlib

    report = calibrated(iris)
    first = figure_bytes(report, "svg")
    assert figure_bytes(report, "svg") == first
    with matplotlib.rc_context(
        {"font.size": 20, "lines.linewidth": 7, "svg.fonttype": "none", "axes.grid": True}
    ):
        assert figure_bytes(report, "svg") == first
    assert matplotlib.rcParams["svg.hashsalt"] is None  # our settings did not leak out
    assert figure_bytes(report, "png") == figure_bytes(report, "png")


def _has_calibration() -> bool:
    return "--calibration" in invoke("eval", "--help").stdout


def test_another_batching_of_the_same_rows_gives_the_same_svg(tmp_path):
    """One CSV, seven CSV shards, Parquet in 97-row groups: byte-identical SVGs (with the
    reliability diagram, once --calibration is there)."""
    rng = np.random.default_rng(5)
    n, k = 2000, 4
    frame = pd.DataFrame({"label": rng.integers(0, k, n)})
    for j in range(k):
        frame[f"logit_{j}"] = rng.normal(0, 2, n) + 2.0 * (frame["label"] == j)
    frame.to_csv(tmp_path / "one.csv", index=False)
    (tmp_path / "shards").mkdir()
    for i, part in enumerate(np.array_split(np.arange(n), 7)):
        frame.iloc[part].to_csv(tmp_path / "shards" / f"part-{i}.csv", index=False)
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "groups.parquet", row_group_size=97)
    options = ["--calibration"] if _has_calibration() else []
    pictures, reports = [], []
    for name in ("one.csv", "shards", "groups.parquet"):
        out = tmp_path / f"{name}.svg"
        result = invoke("eval", tmp_path / name, *options, "-f", "json", "--plot", out)
        assert result.exit_code == 0, result.output
        pictures.append(out.read_bytes())
        reports.append(json.loads(result.stdout))
    assert pictures[0] == pictures[1] == pictures[2]
    bins = reports[0].get("calibration", {}).get("bins", [])
    assert len(gids(pictures[0], "reliability-bar-")) == len(bins)
    assert len(bins) > 5 or not options


def test_cli_writes_each_kind_and_merge_takes_plot_too(tmp_path):
    sample = SAMPLES / "iris_probs.parquet"
    for suffix in ("png", "html"):
        out = tmp_path / f"r.{suffix}"
        result = invoke("eval", sample, "--plot", out)
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 1000
        assert result.stdout.startswith("files:")  # the report is still printed
    state = tmp_path / "s.xent"
    assert (
        invoke("eval", sample, "--save-state", state, "--plot", tmp_path / "r.svg").exit_code == 0
    )
    merged = tmp_path / "merged.svg"
    assert invoke("merge", state, "--plot", merged).exit_code == 0
    assert merged.read_bytes() == (tmp_path / "r.svg").read_bytes()


def test_gate_failure_still_writes_the_plot(tmp_path):
    out = tmp_path / "r.svg"
    result = invoke("eval", SAMPLES / "iris_probs.parquet", "--max-loss", "0.01", "--plot", out)
    assert result.exit_code == 1
    assert out.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("r.pdf", "--plot {path}: unknown extension '.pdf'"),
        ("r", "--plot {path}: unknown extension '(none)'"),
        ("missing/r.svg", "--plot {path}: folder '{folder}' does not exist"),
    ],
)
def test_bad_plot_paths_are_exit_2_before_the_run(tmp_path, name, message):
    path = tmp_path / name
    result = invoke("eval", tmp_path / "no-such-input.csv", "--plot", path)
    assert result.exit_code == 2
    first = result.stderr.splitlines()[0]
    assert first == "xent: error: " + message.format(path=path, folder=path.parent)


def test_without_matplotlib_a_picture_is_exit_2_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    out = tmp_path / "r.png"
    result = invoke("eval", SAMPLES / "iris_probs.parquet", "--plot", out)
    assert result.exit_code == 2
    assert result.stderr == f"xent: error: --plot {out} needs matplotlib: {INSTALL_HINT}\n"
    assert INSTALL_HINT == "pip install 'xent-cli[plot]'"
    assert result.stdout == ""
    assert not out.exists()
    with pytest.raises(Exception, match=r"needs matplotlib: pip install 'xent-cli\[plot\]'"):
        write_plot(out, {"classes": []})  # the same when called directly


def test_without_matplotlib_the_html_page_has_the_tables(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "r.html"
    result = invoke("eval", SAMPLES / "iris_probs.parquet", "--plot", out)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "<svg" not in page
    assert f"the figures need matplotlib: <code>{INSTALL_HINT.replace(chr(39), '&#x27;')}" in page
    assert "versicolor" in page


@pytest.mark.parametrize("args", [["--help"], ["eval", "--help"], ["merge", "--help"]])
def test_help_does_not_import_matplotlib(args):
    code = (
        "import sys\n"
        "from xent_cli.cli.commands import app\n"
        "try:\n"
        f"    app({args!r}, prog_name='xent')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('matplotlib' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stderr.strip().splitlines()[-1] == "False"
    assert "--plot" in result.stdout or args == ["--help"]


class Page(HTMLParser):
    """Collects the tags, the text of table cells and every attribute value."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.cells: list[str] = []
        self.attributes: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [v or "" for _, v in attrs]
        self._in_cell = tag in ("td", "th")
        if self._in_cell:
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


def test_html_page_is_self_contained_and_escapes_names(tmp_path):
    names = ["<script>alert(1)</script>", "a&b", 'q"uote', "--><i>x"]
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"label": [names[i % 4] for i in range(n)]})
    for j, name in enumerate(names):
        frame[f"logit_{name}"] = rng.normal(0, 1, n) + 2.0 * (np.arange(n) % 4 == j)
    source = tmp_path / "odd <names>.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "r.html"
    result = invoke("eval", source, "--plot", out)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "http" not in page
    assert "<script" not in page.lower()
    assert "<i>" not in page
    parser = Page()
    parser.feed(page)
    assert "table" in parser.tags
    assert "svg" in parser.tags
    assert "script" not in parser.tags
    assert "link" not in parser.tags
    assert "img" not in parser.tags
    assert not any(v.startswith(("http", "//")) for v in parser.attributes)
    for name in names:  # each class a row, its name shown as it is
        assert name in parser.cells
    report = eval_json(source)
    for c in report["classes"]:
        i = parser.cells.index(c["class"])
        assert parser.cells[i + 1] == str(c["count"])
        assert parser.cells[i + 2] == f"{c['loss']:.4f}"
    assert "overall" in parser.cells
    assert "odd &lt;names&gt;.csv" in page


def test_html_page_with_calibration_slices_warnings_and_a_failed_gate(iris):
    from xent_cli.render.html import html_page

    report = calibrated(iris)
    report["calibration"]["per_class"] = [{"class": "set<osa", "ece": 0.05, "mce": 0.2}]
    report["gate"] = {"passed": False, "reasons": ["loss 0.16 exceeds --max-loss 0.1"]}
    report["warnings"] = [{"code": "not-normalized", "count": 1, "rows": [2], "message": "a<b"}]
    page = html_page(report)
    parser = Page()
    parser.feed(page)
    assert "gate: failed" in page
    assert "loss 0.16 exceeds --max-loss 0.1" in page
    assert "a&lt;b" in page
    assert "set&lt;osa" in page
    # the reliability table: bin, count, mean p, observed, gap = observed - mean p
    i = parser.cells.index("(0.2000, 0.4000]")
    assert parser.cells[i : i + 5] == ["(0.2000, 0.4000]", "3", "0.3500", "0.3333", "-0.0167"]
    i = parser.cells.index("(0.6000, 0.8000]")
    assert parser.cells[i : i + 5] == ["(0.6000, 0.8000]", "10", "0.7000", "0.8000", "+0.1000"]
    assert "ECE 0.0700" in page
    assert "MCE 0.1000" in page
    assert "Brier 0.2000" in page
    assert page.count("<svg") == 1
    shares = [c["share"] for c in report["classes"]]  # share bars: 8em for the largest share
    for share in shares:
        assert f'style="width:{8 * share / max(shares):.3f}em"' in page
    assert "http" not in page


def test_html_slice_table_worst_first_with_each_slice_ece(tmp_path):
    path = tmp_path / "s.csv"
    rows = ["label,prob,src"] + [f"{i % 2},{0.9 if i % 2 else 0.2},a" for i in range(10)]
    rows += [f"{i % 2},{0.4 if i % 2 else 0.7},b" for i in range(10)]
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "r.html"
    result = invoke("eval", path, "--by", "src", "--min-slice-size", "1", "--plot", out)
    assert result.exit_code == 0, result.output
    parser = Page()
    parser.feed(out.read_text(encoding="utf-8"))
    i = parser.cells.index("slice")
    assert parser.cells[i : i + 6] == ["slice", "count", "loss", "accuracy", "mean p(true)", "ECE"]
    # b: p(true) 0.4 and 0.3 -> loss (-log 0.4 - log 0.3) / 2; a: (-log 0.9 - log 0.8) / 2
    assert parser.cells[i + 6] == "b"
    assert parser.cells[i + 8] == f"{(-math.log(0.4) - math.log(0.3)) / 2:.4f}"
    assert parser.cells[i + 12] == "a"
    # positive-class ECE, one bin per distinct p, half the rows each:
    # b (|0.4 - 1| + |0.7 - 0|) / 2 = 0.65; a (|0.9 - 1| + |0.2 - 0|) / 2 = 0.15
    assert parser.cells[i + 11] == "0.6500"
    assert parser.cells[i + 17] == "0.1500"


def test_plot_dict_is_the_json_report(tmp_path):
    """The CLI draws from exactly what --format json prints."""
    out = tmp_path / "cli.svg"
    result = invoke("eval", SAMPLES / "digits_logits.csv", "--format", "json", "--plot", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == figure_bytes(json.loads(result.stdout), "svg")


def test_write_plot_refuses_an_unknown_extension(tmp_path):
    from xent_cli.errors import XentError

    with pytest.raises(XentError, match=r"unknown extension '\.jpg'"):
        write_plot(Path(tmp_path / "r.jpg"), {})
