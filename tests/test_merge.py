"""Saved partial states and ``xent merge``: shards evaluated apart, merged, give the report of
one run over all of them, byte for byte (the file list included)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.special

import xent_cli
from xent_cli.errors import XentError

from .conftest import eval_json, invoke


def _shards(tmp_path: Path, n: int = 3000, parts: int = 5) -> list[Path]:
    """A categorical file with a weight, a NaN row, a missing label and a zero-probability-
    free mix, cut into ``parts`` CSV shards."""
    rng = np.random.default_rng(11)
    labels = rng.choice(["cat", "dog", "owl"], n).astype(object)
    logits = rng.normal(0, 2, (n, 3))
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "label": labels})
    for j, name in enumerate(["cat", "dog", "owl"]):
        frame[f"logit_{name}"] = logits[:, j]
    frame["w"] = rng.choice([0.5, 1.0, 2.0], n)
    frame.loc[17, "logit_dog"] = np.nan
    frame.loc[2222, "label"] = None
    paths = []
    for i, rows in enumerate(np.array_split(np.arange(n), parts)):
        path = tmp_path / f"part-{i}.csv"
        frame.iloc[rows].to_csv(path, index=False)
        paths.append(path)
    return paths


def _save(paths: list[Path], *options: str) -> list[Path]:
    states = []
    for path in paths:
        state = path.with_suffix(".state.json")
        result = invoke("eval", path, "--save-state", state, "-f", "json", *options)
        assert result.exit_code == 0, result.output
        states.append(state)
    return states


OPTIONS = ("--weight", "w", "--id", "id")


def test_merge_prints_the_report_of_one_run_over_all_shards(tmp_path):
    paths = _shards(tmp_path)
    states = _save(paths, *OPTIONS)
    whole = eval_json(*paths, *OPTIONS)
    merged = invoke("merge", *states, "-f", "json")
    assert merged.exit_code == 0, merged.output
    assert json.loads(merged.stdout) == whole  # files, warnings' rows and ids included
    assert whole["n_skipped"] == 2
    # the expected loss, computed independently
    frame = pd.concat(pd.read_csv(p) for p in paths).reset_index(drop=True)
    frame = frame.dropna(subset=["label", "logit_cat", "logit_dog", "logit_owl"])
    z = frame[["logit_cat", "logit_dog", "logit_owl"]].to_numpy()
    y = frame["label"].map({"cat": 0, "dog": 1, "owl": 2}).to_numpy()
    rows = -scipy.special.log_softmax(z, axis=1)[np.arange(len(y)), y]
    w = frame["w"].to_numpy()
    assert whole["loss"] == pytest.approx(float((rows * w).sum() / w.sum()), rel=1e-12)


def test_merge_in_another_order_gives_the_same_figures(tmp_path):
    states = _save(_shards(tmp_path), *OPTIONS)
    forward = json.loads(invoke("merge", *states, "-f", "json").stdout)
    backward = json.loads(invoke("merge", *reversed(states), "-f", "json").stdout)
    for key in ("loss", "loss_sum", "accuracy", "mean_p_true", "weight_sum", "classes"):
        assert forward[key] == backward[key], key
    assert [w["count"] for w in forward["warnings"]] == [w["count"] for w in backward["warnings"]]


def test_merge_applies_the_gates_and_output_options(tmp_path):
    states = _save(_shards(tmp_path), *OPTIONS)
    loss = json.loads(invoke("merge", *states, "-f", "json").stdout)["loss"]
    assert invoke("merge", *states, "--max-loss", loss + 0.01).exit_code == 0
    failed = invoke("merge", *states, "--max-loss", loss - 0.01)
    assert failed.exit_code == 1
    assert "gate failed" in failed.stderr
    csv = invoke("merge", *states, "-f", "csv")
    assert csv.stdout.splitlines()[-1].startswith("overall,")


def test_binary_states_learn_the_label_values_from_every_part(tmp_path):
    """One shard holds only positives: the negative's name comes from another shard."""
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("label,prob\nyes,0.9\nyes,0.6\n")
    b.write_text("label,prob\nno,0.2\nyes,0.7\n")
    states = _save([a, b], "--positive", "yes")
    merged = json.loads(invoke("merge", *states, "-f", "json").stdout)
    assert [c["class"] for c in merged["classes"]] == ["no", "yes"]
    expected = -(math.log(0.9) + math.log(0.6) + math.log(0.8) + math.log(0.7)) / 4
    assert merged["loss"] == pytest.approx(expected, rel=1e-14)
    assert merged == eval_json(a, b, "--positive", "yes")


def test_states_of_different_settings_do_not_merge(tmp_path):
    paths = _shards(tmp_path, parts=2)
    first = _save(paths[:1], *OPTIONS)[0]
    other = paths[1].with_suffix(".eps.json")
    invoke("eval", paths[1], *OPTIONS, "--kind", "probs", "--save-state", other)
    assert not other.exists()  # probs outside [0, 1]: exit 2, no state written
    invoke("eval", paths[1], *OPTIONS, "--base", "2", "--save-state", other)
    result = invoke("merge", first, other)
    assert result.exit_code == 2
    assert "other settings" in result.stderr
    assert "base" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ('{"format": "something else"}', "not a state file"),
        ('{"format": "xent-state", "version": 99, "xent": "0.0.1"}', "written by xent 0.0.1"),
        ('{"format": "xent-state", "version": 1, "xent": "0.1.0", "plan": {}}', "damaged"),
    ],
)
def test_unreadable_states_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "s.json"
    path.write_text(text)
    result = invoke("merge", path)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_missing_state_file(tmp_path):
    result = invoke("merge", tmp_path / "nope.json")
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_python_api_partials_merge_and_finish(tmp_path):
    """The recipe for Ray / Spark / Dask users: a partial per batch, serialised, merged."""
    paths = _shards(tmp_path)
    frames = [pd.read_csv(p) for p in paths]
    parts = [xent_cli.partial(f, weight="w", id="id") for f in frames]
    texts = [p.to_json() for p in parts]  # what a worker sends back: kilobytes of JSON
    assert max(len(t) for t in texts) < 20_000
    merged = xent_cli.Partial.from_json(texts[0])
    for text in texts[1:]:
        merged = merged.merge(xent_cli.Partial.from_json(text))
    whole = xent_cli.evaluate(pd.concat(frames, ignore_index=True), weight="w", id="id")
    got, want = merged.finish().to_dict(), whole.to_dict()
    got.pop("files")
    want.pop("files")
    assert got == want


def test_python_api_merge_refuses_other_settings():
    frame = pd.DataFrame({"label": [0, 1], "logit_0": [0.1, 0.2], "logit_1": [0.3, -0.1]})
    with pytest.raises(XentError, match="other settings"):
        xent_cli.partial(frame).merge(xent_cli.partial(frame, eps=1e-7))
