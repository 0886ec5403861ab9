"""--ignore-label VALUE in a classifier's file: rows whose label is VALUE are not scored and
are counted in n_ignored (PyTorch's ignore_index), with torcheval's published perplexities
reproduced from logits files."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import log_softmax

from .conftest import eval_json, invoke

# torcheval's Perplexity examples: logits (n, vocab), targets, ignore_index, printed value
EXAMPLES = [
    ([[0.3659, 0.7025, 0.3104], [0.0097, 0.6577, 0.1947]], [2, 1], 1, 3.5372),
    (
        [[0.3659, 0.7025, 0.3104], [0.0097, 0.6577, 0.1947],
         [0.5659, 0.0025, 0.0104], [0.9097, 0.0577, 0.7947]],
        [2, 1, 2, 1],
        1,
        3.6347,
    ),
]  # fmt: skip


def _csv(logits: list[list[float]], labels: list[object]) -> str:
    k = len(logits[0])
    header = "label," + ",".join(f"logit_{j}" for j in range(k))
    rows = [f"{y}," + ",".join(repr(v) for v in z) for z, y in zip(logits, labels, strict=True)]
    return "\n".join([header, *rows]) + "\n"


@pytest.mark.parametrize(("logits", "targets", "ignore", "printed"), EXAMPLES)
def test_torcheval_ignore_index(write, logits, targets, ignore, printed):
    path = write("p.csv", _csv(logits, targets))
    report = eval_json(path, "--ignore-label", str(ignore))
    z, y = np.array(logits), np.array(targets)
    kept = y != ignore
    expected = -log_softmax(z, axis=1)[np.arange(len(y)), y][kept].mean()
    assert report["loss"] == pytest.approx(expected, rel=1e-12)
    assert round(math.exp(report["loss"]), 4) == printed
    assert report["n_ignored"] == int((~kept).sum())
    assert report["n_skipped"] == 0
    assert report["warnings"] == []


def test_padding_labels_in_any_spelling(write):
    """-100, -100.0 and "-100" are one value; the table says how many were ignored."""
    text = "label,logit_a,logit_b\n0,1,2\n-100,5,1\n1,0,3\n-100.0,1,1\n,1,1\n"
    path = write("p.csv", text)
    report = eval_json(path, "--ignore-label", "-100")
    assert (report["n_rows"], report["n_evaluated"], report["n_ignored"]) == (5, 2, 2)
    assert report["n_skipped"] == 1
    assert [w["code"] for w in report["warnings"]] == ["missing-label"]
    expected = -log_softmax(np.array([[1.0, 2.0], [0.0, 3.0]]), axis=1)[[0, 1], [0, 1]].mean()
    assert report["loss"] == pytest.approx(expected, rel=1e-12)
    table = invoke("eval", path, "--ignore-label", "-100")
    assert "(2 evaluated, 1 skipped, 2 ignored)" in table.stdout
    plain = eval_json(write("q.csv", "label,logit_a,logit_b\n0,1,2\n1,0,3\n"))
    assert "n_ignored" not in plain


def test_ignored_rows_through_saved_states(tmp_path):
    rng = np.random.default_rng(4)
    labels = rng.choice(["cat", "dog", "pad"], 300)
    logits = rng.normal(0, 2, (300, 2))
    table = pa.table({"label": labels, "logit_cat": logits[:, 0], "logit_dog": logits[:, 1]})
    whole = tmp_path / "whole.parquet"
    pq.write_table(table, whole)
    states = []
    for i, part in enumerate((table.slice(0, 120), table.slice(120))):
        path = tmp_path / f"p{i}.parquet"
        pq.write_table(part, path)
        state = tmp_path / f"p{i}.state"
        assert invoke("eval", path, "--ignore-label", "pad", "--save-state", state).exit_code == 0
        states.append(state)
    merged = json.loads(invoke("merge", *states, "-f", "json").stdout)
    one = eval_json(whole, "--ignore-label", "pad")
    merged.pop("files")
    one.pop("files")
    assert merged == one
    assert one["n_ignored"] == int((labels == "pad").sum())
    # a state that left out other rows, or none, is not summed with these: one line, exit 2
    unpadded = tmp_path / "unpadded.parquet"
    pq.write_table(table.filter(pa.array(labels != "pad")), unpadded)
    other = tmp_path / "other.state"
    assert invoke("eval", unpadded, "--ignore-label", "dog", "--save-state", other).exit_code == 0
    plain = tmp_path / "plain.state"
    assert invoke("eval", unpadded, "--save-state", plain).exit_code == 0
    for state in (other, plain):
        refused = invoke("merge", states[0], state)
        assert refused.exit_code == 2
        assert "ignore_label" in refused.stderr
        assert "Traceback" not in refused.stderr


def test_soft_targets_refuse(write):
    """Soft targets have no label to compare with VALUE: one line, exit 2."""
    path = write("s.csv", "t_a,t_b,logit_a,logit_b\n0.7,0.3,1,-1\n0.2,0.8,-1,1\n")
    result = invoke("eval", path, "--targets", "t_a,t_b", "--ignore-label", "-100")
    assert result.exit_code == 2
    assert result.stderr.startswith("xent: error: --ignore-label leaves out rows")
    assert "soft targets have no label" in result.stderr
