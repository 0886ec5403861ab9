"""xent compare --by: per-slice paired deltas against pandas groupby and scipy's paired t
interval, the slice gate on both sides of its threshold, small slices never gated, the same
tables from CSV and Parquet copies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.special import xlogy

import xent_cli

from .conftest import invoke


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(31)
    n = 1200
    y = rng.integers(0, 2, n)
    p = rng.uniform(0.05, 0.95, n)
    src = rng.choice(["news", "web", "books"], n).astype(object)
    src[rng.uniform(size=n) < 0.08] = None
    src[:8] = "tiny"
    site = rng.integers(0, 3, n)
    q = p.copy()
    worse = (src == "web") & (site == 1)
    q[worse] = np.clip(np.where(y[worse] == 1, p[worse] - 0.15, p[worse] + 0.15), 0.01, 0.99)
    q[~worse] = np.clip(p[~worse] + rng.normal(0, 0.02, (~worse).sum()), 0.01, 0.99)
    q[:8] = np.where(y[:8] == 1, 0.01, 0.99)  # "tiny": far worse, but small
    ids = [f"r{i}" for i in range(n)]
    baseline = pd.DataFrame({"id": ids, "label": y, "prob_1": p, "src": src, "site": site})
    candidate = pd.DataFrame({"id": ids, "label": y, "prob_1": q})
    return baseline, candidate


def _loss(frame: pd.DataFrame) -> pd.Series:
    return -(xlogy(frame.label, frame.prob_1) + xlogy(1 - frame.label, 1 - frame.prob_1))


def expected(baseline, candidate, by):
    """Per slice: count, both mean losses, delta and scipy's 95% paired t interval."""
    keys = baseline[by].astype(object).where(baseline[by].notna(), "<missing>").astype(str)
    data = keys.assign(b=_loss(baseline), c=_loss(candidate))
    out = {}
    for key, g in data.groupby(by):
        key = key if isinstance(key, tuple) else (key,)
        d = g.c - g.b
        se = d.std(ddof=1) / np.sqrt(len(d))
        low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=se)
        out[tuple(key)] = (len(g), g.b.mean(), g.c.mean(), d.mean(), low, high)
    return out


def write(frames, tmp_path: Path, shuffle: bool = False):
    baseline, candidate = frames
    if shuffle:
        candidate = candidate.sample(frac=1.0, random_state=3)
    paths = {}
    for name, frame in (("b", baseline), ("c", candidate)):
        paths[name, "csv"] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name, "csv"], index=False)
        paths[name, "parquet"] = tmp_path / f"{name}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                       paths[name, "parquet"], row_group_size=53)  # fmt: skip
    return paths


def run(*args):
    result = invoke("compare", *args, "-f", "json", "--no-progress")
    assert result.exit_code in (0, 1), result.output
    assert result.stdout, result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("by", [["src"], ["site"], ["src", "site"]])
@pytest.mark.parametrize("join", ["position", "id"])
def test_slice_deltas_match_pandas(frames, tmp_path, by, join):
    paths = write(frames, tmp_path, shuffle=join == "id")
    want = expected(*frames, by)
    extra = ["--id", "id"] if join == "id" else []
    _, report = run(paths["b", "csv"], paths["c", "csv"], "--by", ",".join(by), *extra)
    slices = report["slices"]
    assert slices["by"] == by
    got = {tuple(g["key"][c] for c in by): g for g in slices["groups"]}
    assert got.keys() == want.keys()
    for key, (count, b, c, d, low, high) in want.items():
        g = got[key]
        assert g["count"] == count
        assert g["loss_baseline"] == pytest.approx(b, rel=1e-12)
        assert g["loss_candidate"] == pytest.approx(c, rel=1e-12)
        assert g["delta"] == pytest.approx(d, rel=1e-9, abs=1e-15)
        if count > 1:
            assert g["ci_low"] == pytest.approx(low, rel=1e-7, abs=1e-13)
            assert g["ci_high"] == pytest.approx(high, rel=1e-7, abs=1e-13)
        assert g["small"] == (count < 20)
    assert sum(g["contribution"] for g in slices["groups"]) == pytest.approx(report["delta"])
    eligible = [g for g in slices["groups"] if not g["small"]]
    assert slices["worst"] == max(eligible, key=lambda g: g["delta"])["key"]


def test_slice_regression_gate_both_sides_and_small_slices(frames, tmp_path):
    paths = write(frames, tmp_path)
    args = [paths["b", "csv"], paths["c", "csv"], "--by", "src,site"]
    _, report = run(*args)
    groups = report["slices"]["groups"]
    tiny = [g for g in groups if g["key"]["src"] == "tiny"]
    assert tiny
    assert all(g["small"] for g in tiny)
    worst = max(g["delta"] for g in groups if not g["small"])
    assert max(g["delta"] for g in tiny) > 2 * worst  # larger, but never gated
    assert report["slices"]["worst"] == {"src": "web", "site": "1"}
    code, report = run(*args, "--max-slice-regression", str(worst * 1.001))
    assert code == 0
    assert report["gate"]["passed"]
    code, report = run(*args, "--max-slice-regression", str(worst * 0.999))
    assert code == 1
    (reason,) = report["gate"]["reasons"]
    assert "--max-slice-regression" in reason
    assert "src=web, site=1" in reason
    code, report = run(*args, "--max-slice-regression", str(worst * 1.001), "--min-slice-size", "2")
    assert code == 1
    assert "src=tiny" in report["gate"]["reasons"][0]


def test_fail_on_ci_gates_a_slice_on_its_interval(frames, tmp_path):
    paths = write(frames, tmp_path)
    args = [paths["b", "csv"], paths["c", "csv"], "--by", "src,site", "--fail-on", "ci"]
    _, report = run(*args)
    worst = next(g for g in report["slices"]["groups"] if g["key"] == report["slices"]["worst"])
    between = (worst["delta"] + worst["ci_high"]) / 2  # above the estimate, below the end
    code, report = run(*args, "--max-slice-regression", str(between))
    assert code == 1
    assert "interval's upper end" in report["gate"]["reasons"][0]
    assert run(*args[:-2], "--max-slice-regression", str(between))[0] == 0


def test_csv_and_parquet_give_the_same_slice_tables(frames, tmp_path, monkeypatch):
    paths = write(frames, tmp_path)
    monkeypatch.chdir(tmp_path)  # short names: each header line is one line on its own
    for fmt in ("json", "table", "markdown", "csv"):
        outs = []
        for kind in ("csv", "parquet"):
            b, c = paths["b", kind].name, paths["c", kind].name
            result = invoke("compare", b, c, "--by", "src,site", "-f", fmt, "--no-progress")
            assert result.exit_code == 0, result.output
            text = result.stdout
            if fmt == "json":
                text = json.dumps(json.loads(text)["slices"])
            else:
                text = "\n".join(x for x in text.splitlines() if str(b) not in x)
                text = "\n".join(x for x in text.splitlines() if str(c) not in x)
            outs.append(text)
        assert outs[0] == outs[1]


def test_tables_list_slices_largest_delta_first(frames, tmp_path):
    paths = write(frames, tmp_path)
    args = [paths["b", "csv"], paths["c", "csv"], "--by", "src", "--no-progress"]
    csv = invoke("compare", *args, "-f", "csv").stdout
    rows = [line.split(",") for line in csv.splitlines() if line.startswith("slice,")]
    deltas = [float(r[5]) for r in rows]
    assert deltas == sorted(deltas, reverse=True)
    table = invoke("compare", *args).stdout
    assert "slices by src (the baseline's)" in table
    assert "src=tiny *" in table
    markdown = invoke("compare", *args, "-f", "markdown").stdout
    assert "| src=tiny \\* |" in markdown
    assert "| src=\\<missing\\> |" in markdown


def test_the_candidate_needs_no_slice_column_and_errors(frames, tmp_path):
    baseline, candidate = frames
    report = xent_cli.compare(baseline, candidate.drop(columns=[]), by="site", id="id")
    assert report.slices is not None
    with_column = candidate.assign(site=0)  # the candidate's copy is not read
    again = xent_cli.compare(baseline, with_column, by="site", id="id")
    assert again.to_dict()["slices"] == report.to_dict()["slices"]
    with pytest.raises(xent_cli.XentError, match="needs --by"):
        xent_cli.compare(baseline, candidate, max_slice_regression=0.1)
    paths = write(frames, tmp_path)
    result = invoke("compare", paths["b", "csv"], paths["c", "csv"], "--by", "nope")
    assert result.exit_code == 2
    assert "nope" in result.output
