"""``xent compare``: the paired difference of two models on the same rows.

Expected numbers come from scipy.stats (t interval, paired t test) and by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.stats

import xent_cli
from xent_cli.comparison.run import compare

from .conftest import invoke

# 8 rows, two classes, probabilities: p(true) per row for each model
P_BASE = [0.9, 0.8, 0.7, 0.6, 0.95, 0.5, 0.85, 0.75]
P_CAND = [0.85, 0.82, 0.6, 0.65, 0.9, 0.4, 0.88, 0.7]
LABELS = ["a", "b", "a", "b", "a", "b", "a", "b"]


def _write(path: Path, p_true: list[float], labels=LABELS, ids=None) -> Path:
    rows = []
    for i, (p, y) in enumerate(zip(p_true, labels, strict=True)):
        pa_, pb = (p, 1 - p) if y == "a" else (1 - p, p)
        rows.append({"id": ids[i] if ids else f"r{i}", "label": y, "prob_a": pa_, "prob_b": pb})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _json(*args):
    result = invoke("compare", *args, "-f", "json")
    assert result.exit_code in (0, 1), result.output
    return result, json.loads(result.stdout)


def test_eight_row_hand_case(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    cand = _write(tmp_path / "cand.csv", P_CAND)
    result, report = _json(base, cand)
    assert result.exit_code == 0
    lb, lc = -np.log(P_BASE), -np.log(P_CAND)
    d = lc - lb
    assert report["delta"] == pytest.approx(d.mean(), rel=1e-12)
    assert report["relative_delta"] == pytest.approx(d.mean() / lb.mean(), rel=1e-12)
    se = d.std(ddof=1) / math.sqrt(8)
    assert report["ci"]["se"] == pytest.approx(se, rel=1e-10)
    half = scipy.stats.t.ppf(0.975, 7) * se
    assert report["ci"]["low"] == pytest.approx(d.mean() - half, rel=1e-10)
    assert report["ci"]["high"] == pytest.approx(d.mean() + half, rel=1e-10)
    expected_p = scipy.stats.ttest_rel(lc, lb).pvalue
    assert report["test"]["p_value"] == pytest.approx(expected_p, rel=1e-9)
    assert report["join"] == {"by": "position", "n_joined": 8, "n_only_baseline": 0,
                              "n_only_candidate": 0}  # fmt: skip
    by_class = {c["class"]: c for c in report["classes"]}
    a = [i for i, y in enumerate(LABELS) if y == "a"]
    assert by_class["a"]["delta"] == pytest.approx(d[a].mean(), rel=1e-12)
    assert by_class["a"]["contribution"] == pytest.approx(d[a].sum() / 8, rel=1e-12)
    assert sum(c["contribution"] for c in report["classes"]) == pytest.approx(report["delta"])
    assert report["baseline"]["loss"] == pytest.approx(lb.mean(), rel=1e-12)
    assert report["signature"].startswith("xent-compare|mode:categorical|kind:probs/probs")


def test_identical_copy_is_exactly_zero(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    result, report = _json(base, base, "--max-regression", "0")
    assert result.exit_code == 0
    assert report["delta"] == 0.0
    assert (report["ci"]["low"], report["ci"]["high"]) == (0.0, 0.0)
    assert report["test"]["p_value"] == 1.0
    assert report["gate"]["passed"] is True


def test_the_table_line_and_verdict(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    cand = _write(tmp_path / "cand.csv", P_CAND)
    result = invoke("compare", base, cand, "--max-regression", "0.001")
    assert result.exit_code == 1
    d = (-np.log(P_CAND) + np.log(P_BASE)).mean()
    assert f"delta {d:+.4f} nats" in result.stdout
    assert "95% CI [" in result.stdout
    assert "gate: FAILED" in result.stdout
    assert "xent: gate failed:" in result.stderr
    markdown = invoke("compare", base, cand, "--max-regression", "0.001", "-f", "markdown")
    assert markdown.stdout.startswith("❌ **xent compare** — gate: FAILED")


def test_pairing_by_id_in_another_order(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    order = [3, 0, 7, 1, 6, 2, 5, 4]
    cand = _write(
        tmp_path / "cand.csv",
        [P_CAND[i] for i in order],
        labels=[LABELS[i] for i in order],
        ids=[f"r{i}" for i in order],
    )
    _, by_id = _json(base, cand, "--id", "id")
    _, by_position = _json(base, _write(tmp_path / "c2.csv", P_CAND))
    assert by_id["delta"] == by_position["delta"]
    assert by_id["classes"] == by_position["classes"]
    assert by_id["join"]["by"] == "id"


def test_positional_pairing_with_a_label_mismatch(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    cand = _write(tmp_path / "cand.csv", P_CAND, labels=["a", "a", *LABELS[2:]])
    result = invoke("compare", base, cand)
    assert result.exit_code == 2
    assert "row 1: the label is 'b' in the baseline but 'a' in the candidate" in result.stderr
    assert "--id" in result.stderr


def test_different_row_counts_by_position(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    cand = _write(tmp_path / "cand.csv", P_CAND[:7], labels=LABELS[:7])
    result = invoke("compare", base, cand)
    assert result.exit_code == 2
    assert "8 rows but the candidate 7" in result.stderr


def test_one_sided_and_duplicate_ids(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    cand = _write(tmp_path / "cand.csv", P_CAND, ids=[f"r{i}" for i in range(7)] + ["x9"])
    result = invoke("compare", base, cand, "--id", "id")
    assert result.exit_code == 2
    assert "'r7' is only in the baseline" in result.stderr or "'x9'" in result.stderr
    assert "--on-mismatch intersect" in result.stderr
    _, report = _json(base, cand, "--id", "id", "--on-mismatch", "intersect")
    assert report["join"] == {"by": "id", "n_joined": 7, "n_only_baseline": 1,
                              "n_only_candidate": 1}  # fmt: skip
    d = (-np.log(P_CAND[:7]) + np.log(P_BASE[:7])).mean()
    assert report["delta"] == pytest.approx(d, rel=1e-12)
    dup = _write(tmp_path / "dup.csv", P_CAND, ids=[f"r{i}" for i in range(7)] + ["r3"])
    result = invoke("compare", base, dup, "--id", "id", "--on-mismatch", "intersect")
    assert result.exit_code == 2
    assert "holds id 'r3' more than once" in result.stderr


def test_same_id_with_two_labels(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    cand = _write(tmp_path / "cand.csv", P_CAND, labels=["b", *LABELS[1:]])
    result = invoke("compare", base, cand, "--id", "id")
    assert result.exit_code == 2
    assert "id 'r0': the label is 'a' in the baseline but 'b' in the candidate" in result.stderr


def _close_call(tmp_path: Path) -> tuple[Path, Path, float, float]:
    """200 rows whose differences have a known mean and spread."""
    rng = np.random.default_rng(3)
    n = 200
    p_base = rng.uniform(0.55, 0.95, n)
    p_cand = np.clip(p_base * np.exp(-rng.normal(0.03, 0.05, n)), 0.01, 0.99)
    labels = ["a"] * n
    base = _write(tmp_path / "b.csv", list(p_base), labels=labels, ids=[f"r{i}" for i in range(n)])
    cand = _write(tmp_path / "c.csv", list(p_cand), labels=labels, ids=[f"r{i}" for i in range(n)])
    d = -np.log(p_cand) + np.log(p_base)
    return base, cand, float(d.mean()), float(d.std(ddof=1) / math.sqrt(n))


def test_the_three_gate_rules_on_a_close_call(tmp_path):
    base, cand, mean, se = _close_call(tmp_path)
    high = mean + scipy.stats.t.ppf(0.975, 199) * se
    # a threshold just below the estimate: estimate and ci fail, significant does not
    x = mean - 0.2 * se
    codes = {
        rule: invoke("compare", base, cand, "--max-regression", x, "--fail-on", rule).exit_code
        for rule in ("estimate", "ci", "significant")
    }
    assert codes == {"estimate": 1, "ci": 1, "significant": 0}
    # between the estimate and the interval's upper end: only ci fails
    x = (mean + high) / 2
    codes = {
        rule: invoke("compare", base, cand, "--max-regression", x, "--fail-on", rule).exit_code
        for rule in ("estimate", "ci", "significant")
    }
    assert codes == {"estimate": 0, "ci": 1, "significant": 0}
    # far below the estimate: all three fail (the one-sided test rejects delta <= x)
    x = mean - 4 * se
    assert scipy.stats.t.sf((mean - x) / se, 199) < 0.05
    codes = {
        rule: invoke("compare", base, cand, "--max-regression", x, "--fail-on", rule).exit_code
        for rule in ("estimate", "ci", "significant")
    }
    assert codes == {"estimate": 1, "ci": 1, "significant": 1}


def test_relative_and_improvement_gates(tmp_path):
    base, cand, mean, _ = _close_call(tmp_path)
    _, report = _json(base, cand)
    relative = report["relative_delta"]
    assert (
        invoke("compare", base, cand, "--max-relative-regression", relative * 1.01).exit_code == 0
    )
    failed = invoke(
        "compare", base, cand, "--max-relative-regression", relative * 0.99, "-f", "json"
    )
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["gate"]["reasons"]
    # the candidate is worse: an improvement gate fails; swapped, it passes
    assert invoke("compare", base, cand, "--min-improvement", "0").exit_code == 1
    assert invoke("compare", cand, base, "--min-improvement", mean / 2).exit_code == 0


def test_top_rows_name_the_rows_whose_loss_rose_most(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    cand = _write(tmp_path / "cand.csv", P_CAND)
    _, report = _json(base, cand, "--id", "id", "--top", "2")
    d = -np.log(P_CAND) + np.log(P_BASE)
    worst = np.argsort(-d)[:2]
    assert [r["id"] for r in report["rows"]] == [f"r{i}" for i in worst]
    assert report["rows"][0]["delta"] == pytest.approx(d[worst[0]], rel=1e-12)


def test_python_api_equals_the_json(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    cand = _write(tmp_path / "cand.csv", P_CAND)
    api = compare(str(base), str(cand), max_regression=0.5)
    _, cli = _json(base, cand, "--max-regression", "0.5")
    assert api.to_dict() == cli
    assert api.passed
    assert xent_cli.compare is compare


def test_csv_and_parquet_with_small_row_groups_give_the_same_report(tmp_path):
    base, cand, _, _ = _close_call(tmp_path)
    for path in (base, cand):
        table = pa.Table.from_pandas(pd.read_csv(path))
        pq.write_table(table, path.with_suffix(".parquet"), row_group_size=7)
    _, from_csv = _json(base, cand, "--id", "id")
    _, from_parquet = _json(
        base.with_suffix(".parquet"), cand.with_suffix(".parquet"), "--id", "id"
    )
    for key in ("delta", "ci", "test", "classes", "join"):
        assert from_csv[key] == from_parquet[key], key


def test_bootstrap_is_the_same_for_csv_and_parquet_with_small_row_groups(tmp_path):
    base, cand, mean, se = _close_call(tmp_path)
    for path in (base, cand):
        table = pa.Table.from_pandas(pd.read_csv(path).iloc[::-1])  # and in another order
        pq.write_table(table, path.with_suffix(".parquet"), row_group_size=7)
    options = ("--id", "id", "--ci", "bootstrap", "--resamples", "499", "--seed", "7")
    _, from_csv = _json(base, cand, *options)
    parquet = [p.with_suffix(".parquet") for p in (base, cand)]
    _, from_parquet = _json(*parquet, *options)
    assert from_csv["ci"] == from_parquet["ci"]
    assert from_csv["ci"]["method"] == "bootstrap"
    assert "resamples:499|seed:7" in from_csv["signature"]
    # a sensible interval: around the estimate, about as wide as the t interval
    low, high = from_csv["ci"]["low"], from_csv["ci"]["high"]
    assert low < mean < high
    assert 0.6 < (high - low) / (2 * 1.97 * se) < 1.4
    _, other_seed = _json(base, cand, "--id", "id", "--ci", "bootstrap", "--resamples", "499")
    assert other_seed["ci"] != from_csv["ci"]


def test_bootstrap_of_identical_files_is_zero(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    _, report = _json(base, base, "--ci", "bootstrap", "--resamples", "99")
    assert (report["ci"]["low"], report["ci"]["high"]) == (0.0, 0.0)


def test_eval_and_compare_signatures_are_one_line_of_their_settings(tmp_path):
    base = _write(tmp_path / "base.csv", P_BASE)
    cand = _write(tmp_path / "cand.csv", P_CAND)
    version = xent_cli.__version__
    result = invoke("eval", base, "--base", "2", "--renormalize", "--eps", "1e-7", "-f", "json")
    assert json.loads(result.stdout)["signature"] == (
        f"xent|mode:categorical|kind:probs|eps:1e-07|base:2|renormalize:yes|v:{version}"
    )
    _, report = _json(base, cand, "--id", "id", "--ci", "bootstrap", "--resamples", "99")
    assert report["signature"] == (
        "xent-compare|mode:categorical|kind:probs/probs|eps:1e-15|base:e|ci:bootstrap|"
        f"level:0.95|resamples:99|seed:0|join:id=id|v:{version}"
    )
    _, report = _json(base, cand, "--confidence", "0.9")
    assert report["signature"] == (
        "xent-compare|mode:categorical|kind:probs/probs|eps:1e-15|base:e|ci:t|level:0.9|"
        f"join:position|v:{version}"
    )
