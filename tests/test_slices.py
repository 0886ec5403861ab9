"""--by: per-slice figures against pandas groupby, slice gates, binning, CSV = Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import xlogy
from typer.testing import CliRunner

import xent_cli
from xent_cli import evaluate
from xent_cli.cli.commands import app
from xent_cli.errors import XentError
from xent_cli.options import ByColumn, BySpec, make_settings

runner = CliRunner()


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 400
    p = rng.uniform(0.02, 0.98, n)
    y = (rng.uniform(size=n) < p).astype(int)
    src = rng.choice(["news", "web", "books", "wiki"], n, p=[0.4, 0.3, 0.25, 0.05]).astype(object)
    src[rng.uniform(size=n) < 0.1] = None
    src[:6] = "tiny"  # below --min-slice-size
    site = rng.integers(0, 3, n)
    p[site == 2] = np.clip(p[site == 2] * 0.5, 0.02, 0.98)  # a worse slice
    return pd.DataFrame(
        {"label": y, "prob_1": p, "src": src, "site": site, "score": rng.normal(size=n)}
    )


def write(frame: pd.DataFrame, tmp_path: Path) -> tuple[Path, Path]:
    csv, parquet = tmp_path / "p.csv", tmp_path / "p.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, row_group_size=7)
    return csv, parquet


def expected(frame: pd.DataFrame, by: list[str]) -> dict[tuple[str, ...], tuple[int, float]]:
    """Per-slice count and mean loss, computed independently with pandas and scipy."""
    loss = -(xlogy(frame.label, frame.prob_1) + xlogy(1 - frame.label, 1 - frame.prob_1))
    keys = frame[by].astype(object).where(frame[by].notna(), "<missing>").astype(str)
    data = keys.assign(loss=loss)
    out = {}
    for key, group in data.groupby(by):
        key = key if isinstance(key, tuple) else (key,)
        out[tuple(str(k) for k in key)] = (len(group), float(group.loss.mean()))
    return out


def run_json(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["eval", *args, "--format", "json", "--no-progress"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


@pytest.mark.parametrize("by", [["src"], ["site"], ["src", "site"]])
def test_slices_match_pandas_groupby(frame, tmp_path, by):
    csv, parquet = write(frame, tmp_path)
    want = expected(frame, by)
    for path in (csv, parquet):
        code, report = run_json(str(path), "--by", ",".join(by))
        assert code == 0
        slices = report["slices"]
        assert slices["by"] == by
        got = {tuple(g["key"][c] for c in by): (g["count"], g["loss"]) for g in slices["groups"]}
        assert got.keys() == want.keys()
        for key, (count, loss) in want.items():
            assert got[key][0] == count
            assert got[key][1] == pytest.approx(loss, rel=1e-12)
        eligible = [g for g in slices["groups"] if not g["small"]]
        losses = [g["loss"] for g in eligible]
        assert slices["difference_between"] == pytest.approx(max(losses) - min(losses))
        overall = report["loss"]
        assert slices["difference_to_overall"] == pytest.approx(
            max(abs(x - overall) for x in losses)
        )
        worst = max(eligible, key=lambda g: g["loss"])
        assert slices["worst"] == worst["key"]
        assert all(g["small"] == (g["count"] < 20) for g in slices["groups"])


def test_missing_slice(frame, tmp_path):
    csv, _ = write(frame, tmp_path)
    _, report = run_json(str(csv), "--by", "src")
    keys = [g["key"]["src"] for g in report["slices"]["groups"]]
    assert "<missing>" in keys


def test_csv_and_parquet_give_identical_slice_tables(frame, tmp_path):
    csv, parquet = write(frame, tmp_path)
    for fmt in ("json", "csv", "markdown", "table"):
        outs = []
        for path in (csv, parquet):
            result = runner.invoke(
                app, ["eval", str(path), "--by", "src,site", "--format", fmt, "--no-progress"]
            )
            assert result.exit_code == 0
            text = result.stdout
            if fmt == "json":
                text = json.dumps(json.loads(text)["slices"])
            else:
                text = "\n".join(line for line in text.splitlines() if str(path) not in line)
            outs.append(text)
        assert outs[0] == outs[1]


def test_slice_loss_gate_both_sides(frame, tmp_path):
    csv, _ = write(frame, tmp_path)
    _, report = run_json(str(csv), "--by", "site")
    worst = max(g["loss"] for g in report["slices"]["groups"] if not g["small"])
    code, report = run_json(str(csv), "--by", "site", "--max-slice-loss", str(worst * 1.001))
    assert code == 0
    assert report["gate"]["passed"]
    code, report = run_json(str(csv), "--by", "site", "--max-slice-loss", str(worst * 0.999))
    assert code == 1
    assert not report["gate"]["passed"]
    assert "--max-slice-loss" in report["gate"]["reasons"][0]


def test_slice_gap_gate_both_sides(frame, tmp_path):
    csv, _ = write(frame, tmp_path)
    _, report = run_json(str(csv), "--by", "site")
    gap = max(g["loss"] for g in report["slices"]["groups"] if not g["small"]) - report["loss"]
    assert run_json(str(csv), "--by", "site", "--max-slice-gap", str(gap * 1.001))[0] == 0
    code, report = run_json(str(csv), "--by", "site", "--max-slice-gap", str(gap * 0.999))
    assert code == 1
    assert "--max-slice-gap" in report["gate"]["reasons"][0]


def test_small_slice_excluded_from_gate(frame, tmp_path):
    frame = frame.copy()
    frame.loc[:5, "prob_1"] = np.where(frame.label[:6] == 1, 0.001, 0.999)  # "tiny": awful
    csv, _ = write(frame, tmp_path)
    _, report = run_json(str(csv), "--by", "src")
    tiny = next(g for g in report["slices"]["groups"] if g["key"]["src"] == "tiny")
    assert tiny["small"]
    assert tiny["loss"] > 5
    others = max(g["loss"] for g in report["slices"]["groups"] if not g["small"])
    assert report["slices"]["worst"] != {"src": "tiny"}
    assert run_json(str(csv), "--by", "src", "--max-slice-loss", str(others * 1.01))[0] == 0
    args = ["--by", "src", "--max-slice-loss", str(others * 1.01), "--min-slice-size", "5"]
    assert run_json(str(csv), *args)[0] == 1


@pytest.mark.parametrize("bad", ["-1", "nan"])
def test_bad_thresholds_are_usage_errors(frame, tmp_path, bad):
    csv, _ = write(frame, tmp_path)
    for option in ("--max-slice-loss", "--max-slice-gap"):
        result = runner.invoke(app, ["eval", str(csv), "--by", "src", option, bad])
        assert result.exit_code == 2


def test_numeric_column_with_many_values_is_refused(frame, tmp_path):
    csv, parquet = write(frame, tmp_path)
    for path in (csv, parquet):
        result = runner.invoke(app, ["eval", str(path), "--by", "score", "--no-progress"])
        assert result.exit_code == 2
        assert "score:" in result.output


def test_equal_mass_bins(frame, tmp_path):
    csv, parquet = write(frame, tmp_path)
    results = []
    for path in (csv, parquet):
        code, report = run_json(str(path), "--by", "score:4")
        assert code == 0
        groups = report["slices"]["groups"]
        assert [g["count"] for g in groups] == [100, 100, 100, 100]
        assert groups[1]["key"]["score"].startswith("[")
        results.append(report["slices"])
    assert results[0] == results[1]
    edges = np.quantile(frame.score, [0.25, 0.5, 0.75])
    bins = np.searchsorted(edges, frame.score, side="right")
    loss = -(xlogy(frame.label, frame.prob_1) + xlogy(1 - frame.label, 1 - frame.prob_1))
    for b, group in enumerate(results[0]["groups"]):
        assert group["loss"] == pytest.approx(float(loss[bins == b].mean()), rel=1e-12)


def test_api_and_other_types(frame):
    frame = frame.copy()
    frame["flag"] = frame.site == 1
    frame["day"] = pd.to_datetime("2024-01-01") + pd.to_timedelta(frame.site, unit="D")
    frame["day"] = frame["day"].dt.date
    frame["cat"] = frame.src.astype("category")
    for by in ("flag", "day", "cat", "flag,day"):
        report = evaluate(frame, by=by)
        assert report.slices is not None
        assert sum(g.count for g in report.slices.groups) == len(frame)
    report = evaluate(frame, by="day")
    assert report.slices is not None
    assert [g.key["day"] for g in report.slices.groups] == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
    ]


def test_batching_does_not_change_slices(frame, tmp_path):
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    whole = evaluate(table, by="src,site")
    parts = evaluate(pa.RecordBatchReader.from_batches(table.schema, table.to_batches(13)),
                     by="src,site")  # fmt: skip
    assert whole.slices == parts.slices


def test_tables_show_slices_worst_first_and_cut_at_40(tmp_path):
    rng = np.random.default_rng(3)
    n = 2000
    p = rng.uniform(0.05, 0.95, n)
    frame = pd.DataFrame(
        {
            "label": (rng.uniform(size=n) < p).astype(int),
            "prob_1": p,
            "user": [f"u{i % 45:02d}" for i in range(n)],
        }
    )
    path = tmp_path / "many.csv"
    frame.to_csv(path, index=False)
    table = runner.invoke(app, ["eval", str(path), "--by", "user", "--no-progress"]).stdout
    assert "... 5 more slices: see --format json" in table
    csv = runner.invoke(app, ["eval", str(path), "--by", "user", "--format", "csv"]).stdout
    rows = [line.split(",") for line in csv.splitlines() if line.startswith("slice,")]
    assert len(rows) == 45
    losses = [float(r[4]) for r in rows]
    assert losses == sorted(losses, reverse=True)


def test_value_spelling_is_the_same_in_csv_and_parquet(frame, tmp_path):
    """Booleans, integers stored as floats (a column with nulls), integers, text and nulls:
    one spelling in both formats (true/false; 1, not 1.0), and pandas' groups."""
    frame = frame.copy()
    frame["flag"] = frame.site == 1  # CSV: True/False; Parquet: bool
    level = frame.site.astype(float)
    level[frame.src.isna()] = np.nan  # CSV: 1.0 / empty; Parquet: double with nulls
    frame["level"] = level
    frame["count"] = pd.array(frame.site * 10, dtype="Int64")  # Parquet: int64 with nulls
    frame.loc[frame.src == "web", "count"] = pd.NA
    csv, parquet = write(frame, tmp_path)
    by = ["src", "flag", "level", "count"]
    spelled = frame[by].astype(object)
    spelled["flag"] = spelled.flag.map({True: "true", False: "false"})
    spelled["level"] = frame.level.map(lambda v: "<missing>" if np.isnan(v) else str(int(v)))
    spelled["count"] = frame["count"].map(lambda v: "<missing>" if v is pd.NA else str(int(v)))
    spelled["src"] = frame.src.fillna("<missing>")
    loss = -(xlogy(frame.label, frame.prob_1) + xlogy(1 - frame.label, 1 - frame.prob_1))
    want = {
        key: (len(group), float(group.loss.mean()))
        for key, group in spelled.assign(loss=loss).groupby(by)
    }
    tables = []
    for path in (csv, parquet):
        code, report = run_json(str(path), "--by", ",".join(by))
        assert code == 0
        groups = report["slices"]["groups"]
        got = {tuple(g["key"][c] for c in by): (g["count"], g["loss"]) for g in groups}
        assert got.keys() == want.keys()
        for key, (count, mean) in want.items():
            assert got[key][0] == count
            assert got[key][1] == pytest.approx(mean, rel=1e-12)
        tables.append(report["slices"])
        for fmt in ("csv", "markdown", "table"):
            result = runner.invoke(
                app, ["eval", str(path), "--by", ",".join(by), "-f", fmt, "--no-progress"]
            )
            lines = result.stdout.splitlines()
            tables.append("\n".join(line for line in lines if str(path) not in line))
    for a, b in zip(tables[:4], tables[4:], strict=True):
        assert a == b


def test_slice_text_spelling():
    from xent_cli.core.slicer import _text

    cases = [("True", "true"), ("FALSE", "false"), (True, "true"), ("1.0", "1"), (1.0, "1"),
             ("+1", "1"), ("-0.0", "0"), ("0.50", "0.5"), (0.5, "0.5"), ("007", "007"),
             ("1e3", "1000"), ("12345678901234567891", "12345678901234567891"),
             (12345678901234567891, "12345678901234567891"), ("nan", "<missing>"),
             ("", "<missing>"), (None, "<missing>"), (" x ", "x")]  # fmt: skip
    for value, text in cases:
        assert _text(value) == text, value


def test_markdown_escapes_slice_values(frame):
    from xent_cli.options import OutputFormat
    from xent_cli.render.report import render

    frame = frame.copy()
    frame["src"] = frame.src.replace({"news": "a*b_c|d", "web": "<b>`x`</b> [l](u) #1 ~s~ &amp;"})
    text = render(evaluate(frame, by="src"), OutputFormat.markdown)
    assert "| src=a\\*b\\_c\\|d |" in text
    assert "src=\\<b\\>\\`x\\`\\</b\\> \\[l\\](u) \\#1 \\~s\\~ \\&amp; |" in text
    assert "| src=\\<missing\\> |" in text
    assert "| src=tiny \\* |" in text  # small
    rows = [line for line in text.splitlines() if line.startswith("| src=")]
    assert all(line.count(" | ") == 6 for line in rows)  # no cell border added


def test_multilabel_slices_count_rows_and_judge_cells(tmp_path):
    """Multilabel: a slice counts its rows; its loss and accuracy are over its cells."""
    rng = np.random.default_rng(5)
    n = 300
    frame = pd.DataFrame({"src": rng.choice(["a", "b", "c"], n)})
    for name in ("x", "y"):
        frame[f"label_{name}"] = rng.integers(0, 2, n)
        frame[f"prob_{name}"] = rng.uniform(0.05, 0.95, n)
    path = tmp_path / "ml.parquet"
    frame.to_parquet(path, row_group_size=17)
    args = ["--label", "label_*", "--scores", "prob_*", "--mode", "multilabel", "--by", "src"]
    _, report = run_json(str(path), *args)
    for group in report["slices"]["groups"]:
        part = frame[frame.src == group["key"]["src"]]
        y = part[["label_x", "label_y"]].to_numpy()
        p = part[["prob_x", "prob_y"]].to_numpy()
        assert group["count"] == len(part)
        assert group["loss"] == pytest.approx(float(-(xlogy(y, p) + xlogy(1 - y, 1 - p)).mean()))
        assert group["accuracy"] == pytest.approx(float(((p > 0.5) == y).mean()))


def test_dictionary_codes_use_only_the_values_a_batch_holds():
    """A file's dictionary may hold far more values than a batch uses (Parquet's dictionary
    of a row group): the codes name only the used ones, nulls are <missing>."""
    import pyarrow as pa

    from xent_cli.core.slicer import SliceColumn

    dictionary = pa.array([f"v{i:04d}" for i in range(1000)] + ["007", "7.0"])
    indices = pa.array([5, 1000, None, 5, 1001, 999], pa.int32())
    array = pa.DictionaryArray.from_arrays(indices, dictionary)
    codes, names = SliceColumn("c").codes(array)
    assert [names[c] for c in codes] == ["v0005", "007", "<missing>", "v0005", "7", "v0999"]
    small = pa.DictionaryArray.from_arrays(pa.array([1, 0, None], pa.int32()), ["a", "b"])
    codes, names = SliceColumn("c").codes(small)
    assert [names[c] for c in codes] == ["b", "a", "<missing>"]


def test_text_slices_need_no_hashing_of_their_own(tmp_path):
    """CSV and Parquet deliver --by text dictionary-encoded (the parser's or the file's own
    dictionaries), spelled as written ("007" stays apart from "7"): the slices are pandas'
    groups, and slicing loads no pyarrow.compute (~0.06 s of start-up)."""
    import subprocess
    import sys

    from scipy.special import log_softmax

    rng = np.random.default_rng(3)
    n = 3000
    logits = rng.normal(0, 2, (n, 3))
    y = rng.integers(0, 3, n)
    code = rng.choice(["007", "7", "07", "x"], n)
    frame = pd.DataFrame({"label": y, **{f"logit_{j}": logits[:, j] for j in range(3)}})
    frame["code"] = code
    csv, parquet = tmp_path / "c.csv", tmp_path / "c.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, row_group_size=1000)
    loss = -log_softmax(logits, axis=1)[np.arange(n), y]
    want = {k: (len(g), float(g.mean())) for k, g in pd.Series(loss).groupby(code)}
    for path in (csv, parquet):
        script = (
            "import sys, json\n"
            "from xent_cli import evaluate\n"
            f"r = evaluate({str(path)!r}, by='code').to_dict()\n"
            "print(json.dumps([r['slices'], 'pyarrow.compute' in sys.modules]))\n"
        )
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        slices, computed = json.loads(out.stdout)
        assert computed is False
        got = {g["key"]["code"]: (g["count"], g["loss"]) for g in slices["groups"]}
        assert got.keys() == want.keys()
        for key, (count, mean) in want.items():
            assert got[key][0] == count
            assert got[key][1] == pytest.approx(mean, rel=1e-12)


# -- --by is parsed once, where the settings are made ----------------------------------------


def test_settings_hold_the_parsed_spec():
    settings = make_settings(by="src,score:4, site")
    assert settings.by == BySpec(
        "src,score:4, site", (ByColumn("src"), ByColumn("score", 4), ByColumn(" site"))
    )
    assert settings.by.names() == ["src", "score", " site"]
    assert settings.by.names(binned=True) == ["score"]
    assert settings.by.names(binned=False) == ["src", " site"]
    assert make_settings(by=settings.by).by is settings.by  # parsed once, then passed on
    assert make_settings().by is None


@pytest.mark.parametrize("command", ["eval", "compare"])
def test_the_command_line_hands_the_core_a_parsed_spec(frame, tmp_path, monkeypatch, command):
    seen = []

    def stop(*args, **options):
        seen.append(options.get("by") or args[1].by)
        raise XentError("stopped here")

    monkeypatch.setattr("xent_cli.api.run_scan", stop)
    monkeypatch.setattr("xent_cli.comparison.run.compare", stop)
    csv, _ = write(frame, tmp_path)
    files = [str(csv)] * (2 if command == "compare" else 1)
    result = runner.invoke(app, [command, *files, "--by", "site,score:3"])
    assert result.exit_code == 2
    assert seen == [BySpec("site,score:3", (ByColumn("site"), ByColumn("score", 3)))]


def test_a_saved_state_keeps_the_spec_as_given(frame):
    part = xent_cli.partial(frame, by="src, score:4")
    assert json.loads(part.to_json())["plan"]["settings"]["by"] == "src, score:4"
    again = xent_cli.Partial.from_json(part.to_json())
    assert again.plan.settings.by == part.plan.settings.by


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "--by: no column given"),
        (" , ,", "--by: no column given"),
        ("src:0", "--by 'src:0': the number of bins must be at least 1"),
        ("src,score:0", "--by 'score:0': the number of bins must be at least 1"),
        ("nowhere", "--by: column 'nowhere' not found in"),
    ],
)
@pytest.mark.parametrize("command", ["eval", "compare"])
def test_a_bad_spec_is_one_line_and_exit_2(frame, tmp_path, spec, message, command):
    csv, _ = write(frame, tmp_path)
    files = [str(csv)] * (2 if command == "compare" else 1)
    result = runner.invoke(app, [command, *files, "--by", spec, "--no-progress"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"xent: error: {message}")
    assert all(line.startswith("  hint: ") for line in lines[1:])
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("spec", ["", "src:0"])
def test_a_bad_spec_from_python_is_a_xent_error(frame, spec):
    with pytest.raises(XentError, match="--by"):
        evaluate(frame, by=spec)
