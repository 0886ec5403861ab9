"""The text pictures: the table's share bars, the calibration line and the reliability table
in the table and in markdown (numbers worked out by hand)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from xent_cli import evaluate
from xent_cli.render.report import (
    BAR_WIDTH,
    bin_label,
    calibration_text,
    reliability_rows,
    render_markdown,
    render_table,
    share_bar,
)

from .conftest import invoke


@pytest.mark.parametrize(
    ("share", "largest", "bar"),
    [
        (0.5, 0.5, "█" * 10),
        (0.25, 0.5, "█████"),
        (1 / 16, 1.0, "▋"),  # 10 characters x 8 eighths x 1/16 = 5 eighths
        (0.0, 1.0, ""),
        (1e-9, 1.0, "▏"),  # above 0: at least one eighth
        (None, 1.0, ""),
        (float("nan"), 1.0, ""),
        (0.3, 0.0, ""),
    ],
)
def test_share_bar(share, largest, bar):
    assert share_bar(share, largest) == bar.ljust(BAR_WIDTH)


def test_share_bar_in_eighths():
    assert share_bar(0.5, 1.0) == "█████     "
    assert share_bar(0.5 + 3 / 80, 1.0) == "█████▍    "  # 43 eighths


def test_table_has_share_bars_and_drops_them_when_narrow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a short file name in the header
    path = tmp_path / "p.csv"
    path.write_text("label,prob_a,prob_b\na,0.9,0.1\na,0.6,0.4\nb,0.5,0.5\nb,0.2,0.8\n")
    report = evaluate("p.csv")
    wide = render_table(report).splitlines()
    largest = max(c.share for c in report.classes)
    for c in report.classes:
        row = next(line for line in wide if line.startswith(c.name + " "))
        assert share_bar(c.share, largest).rstrip() in row
    assert "█" * BAR_WIDTH in "\n".join(wide)  # the largest share: a full bar
    narrow = render_table(report, width=60)
    assert "█" not in narrow
    assert all(len(line) <= 60 for line in narrow.splitlines())


BINARY = "label,prob\n0,0.1\n1,0.3\n0,0.35\n1,0.9\n"
# by hand, 5 equal-width bins (lo, hi] of P(positive):
#   (0.0, 0.2]: p 0.1, y 0          -> mean p 0.1,   observed 0.0, gap -0.1
#   (0.2, 0.4]: p 0.3, 0.35; y 1, 0 -> mean p 0.325, observed 0.5, gap +0.175
#   (0.8, 1.0]: p 0.9, y 1          -> mean p 0.9,   observed 1.0, gap +0.1
# ECE = (0.1 + 2 * 0.175 + 0.1) / 4 = 0.1375; MCE = 0.175
# Brier = (0.1^2 + 0.7^2 + 0.35^2 + 0.1^2) / 4 = 0.158125
RELIABILITY = [
    "bin                count   mean p   observed       gap",
    "----------------   -----   ------   --------   -------",
    "[0.0000, 0.2000]       1   0.1000     0.0000   -0.1000",
    "(0.2000, 0.4000]       2   0.3250     0.5000   +0.1750",
    "(0.8000, 1.0000]       1   0.9000     1.0000   +0.1000",
]


@pytest.fixture
def binary(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text(BINARY)
    return path


def test_table_calibration_line_and_reliability_table(binary, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # the calibration line on one line
    result = invoke("eval", binary, "--calibration", "--ece-bins", "5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    line = next(ln for ln in lines if ln.startswith("calibration:"))
    assert line.startswith("calibration: ECE 0.1375   MCE 0.1750   Brier 0.1581   (")
    assert "5 equal-width bins" in line
    start = lines.index(RELIABILITY[0])
    assert lines[start : start + 5] == RELIABILITY


def test_markdown_calibration_line_and_reliability_table(binary):
    result = invoke("eval", binary, "--calibration", "--ece-bins", "5", "-f", "markdown")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "calibration: ECE 0.1375 · MCE 0.1750 · Brier 0.1581 (" in text
    assert "| bin | count | mean p | observed | gap |\n|:---|---:|---:|---:|---:|\n" in text
    assert "| \\[0.0000, 0.2000\\] | 1 | 0.1000 | 0.0000 | -0.1000 |" in text
    assert "| (0.2000, 0.4000\\] | 2 | 0.3250 | 0.5000 | +0.1750 |" in text


def test_no_calibration_no_calibration_lines(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text(BINARY)
    report = evaluate(path)
    assert calibration_text(report) == ""
    assert "calibration:" not in render_table(report)
    assert "calibration:" not in render_markdown(report)


def test_reliability_table_from_a_dict_fits_narrow_terminals(tmp_path):
    """Rendered from the JSON dict alone (what the renderers rely on); narrow, the count and
    then the gap columns go."""
    path = tmp_path / "b.csv"
    path.write_text(BINARY)
    calibration = {
        "target": "positive",
        "n_bins": 5,
        "binning": "width",
        "edges": "(lo, hi], first bin closed at 0",
        "ece": 0.1375,
        "mce": 0.175,
        "brier": 0.158125,
        "bins": [
            {"lo": 0.0, "hi": 0.2, "count": 1, "weight": 1.0, "mean_p": 0.1, "observed": 0.0},
            {"lo": 0.2, "hi": 0.4, "count": 2, "weight": 2.0, "mean_p": 0.325, "observed": 0.5},
            {"lo": 0.8, "hi": 1.0, "count": 1, "weight": 1.0, "mean_p": 0.9, "observed": 1.0},
        ],
        "temperature": {"best": 0.5, "loss_at_best": 0.25, "at_grid_end": False},
    }
    report = dataclasses.replace(evaluate(path), metrics={"calibration": calibration})
    text = calibration_text(report).splitlines()
    assert text[1] == (
        "calibration: ECE 0.1375   MCE 0.1750   Brier 0.1581   "
        "(positive, 5 width bins, (lo, hi], first bin closed at 0)"
    )
    assert "temperature scaling: best T = 0.5   loss at best T 0.2500 nats" in text
    assert text[-5:] == RELIABILITY
    narrow = calibration_text(report, width=40).splitlines()
    assert all(len(line) <= 40 for line in narrow)
    assert "bin                mean p   observed" in narrow


def test_bin_labels_show_enough_digits():
    assert bin_label(0.0, 1 / 15) == "[0.0000, 0.0667]"
    assert bin_label(0.5, 0.6) == "(0.5000, 0.6000]"
    assert bin_label(0.99991, 0.99994) == "(0.99991, 0.99994]"
    assert bin_label(0.0, 0.5, "left") == "[0.0000, 0.5000)"
    assert bin_label(0.5, 1.0, "left") == "[0.5000, 1.0000]"  # numpy.histogram's last bin
    assert bin_label(0.5, 1.0, "left-own-one") == "[0.5000, 1.0000)"
    assert bin_label(1.0, 1.0, "left-own-one") == "[1.0000, 1.0000]"  # torchmetrics: p = 1
    assert bin_label(0.25, 0.75, "fine") == "[0.2500, 0.7500]"


def test_reliability_rows_follow_the_preset_edges(binary):
    result = invoke("eval", binary, "--ece-preset", "netcal", "-f", "json")
    assert result.exit_code == 0, result.output
    calibration = json.loads(result.stdout)["calibration"]
    labels = [row[0] for row in reliability_rows(calibration)[1]]
    assert all(label.startswith("[") for label in labels)
    assert labels[-1].endswith("]") == (calibration["bins"][-1]["hi"] >= 1)
