"""--by through saved states, ``xent merge`` and ``--dask``: the byte-identical slice tables of
one run; states with other slices (or other bin edges) do not merge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import xent_cli
from xent_cli.core import cluster
from xent_cli.errors import XentError

from .conftest import invoke


def _frame(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(23)
    labels = rng.choice(["cat", "dog", "owl"], n).astype(object)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "label": labels})
    for name in ("cat", "dog", "owl"):
        frame[f"logit_{name}"] = rng.normal(0, 2, n) + 1.5 * (labels == name)
    src = rng.choice(["news", "web", "books"], n).astype(object)
    src[rng.uniform(size=n) < 0.05] = None
    frame["src"] = src
    frame["flag"] = rng.uniform(size=n) < 0.3
    frame["site"] = rng.integers(0, 4, n)
    frame["score"] = rng.normal(size=n)
    frame["w"] = rng.choice([0.5, 1.0, 2.0], n)
    frame.loc[17, "logit_dog"] = np.nan
    return frame


def _shards(tmp_path: Path, parts: int = 4) -> list[Path]:
    """CSV and Parquet (small row groups) shards, alternating."""
    frame = _frame()
    paths = []
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        part = frame.iloc[rows]
        if i % 2:
            path = tmp_path / f"part-{i}.parquet"
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), path,
                           row_group_size=97)  # fmt: skip
        else:
            path = tmp_path / f"part-{i}.csv"
            part.to_csv(path, index=False)
        paths.append(path)
    return paths


def _save(paths: list[Path], *options: str) -> list[Path]:
    states = []
    for path in paths:
        state = path.with_name(path.name + ".state.json")
        result = invoke("eval", path, "--save-state", state, "-f", "json", *options)
        assert result.exit_code in (0, 1), result.output
        states.append(state)
    return states


def _without_files(text: str) -> dict:
    report = json.loads(text)
    report.pop("files")
    return report


OPTIONS = ("--weight", "w", "--id", "id", "--by", "src,flag,site")


def test_merged_slices_are_those_of_one_run(tmp_path):
    paths = _shards(tmp_path)
    states = _save(paths, *OPTIONS)
    whole = invoke("eval", *paths, *OPTIONS, "-f", "json")
    assert whole.exit_code == 0, whole.output
    for order in (states, states[::-1]):
        merged = invoke("merge", *order, "-f", "json")
        assert merged.exit_code == 0, merged.output
        report = _without_files(merged.stdout)
        if order is states:
            assert merged.stdout == whole.stdout  # byte for byte, files included
        # another order: other row numbers in warnings, every figure the same
        assert report["slices"] == json.loads(whole.stdout)["slices"]
    groups = json.loads(whole.stdout)["slices"]["groups"]
    assert {g["key"]["flag"] for g in groups} == {"true", "false"}
    assert sum(g["count"] for g in groups) == 2999


def test_merge_takes_the_slice_options_and_gates(tmp_path):
    paths = _shards(tmp_path)
    options = ("--weight", "w", "--by", "src")
    states = _save(paths, *options)
    args = ["--min-slice-size", "200"]  # the <missing> slice (about 150 rows) is small
    whole = json.loads(invoke("eval", *paths, *options, *args, "-f", "json").stdout)
    assert [g["key"]["src"] for g in whole["slices"]["groups"] if g["small"]] == ["<missing>"]
    worst = max(g["loss"] for g in whole["slices"]["groups"] if not g["small"])
    for limit, code in ((worst * 1.001, 0), (worst * 0.999, 1)):
        gate = ["--max-slice-loss", str(limit)]
        one = invoke("eval", *paths, *options, *args, *gate, "-f", "json")
        merged = invoke("merge", *states, *args, *gate, "-f", "json")
        assert one.exit_code == merged.exit_code == code
        assert merged.stdout == one.stdout
    assert json.loads(merged.stdout)["slices"]["min_size"] == 200
    result = invoke("merge", *_save(paths[:1], "--weight", "w"), "--max-slice-gap", "0.1")
    assert result.exit_code == 2
    assert "needs --by" in result.output


def test_states_with_other_slices_do_not_merge(tmp_path):
    paths = _shards(tmp_path)[:2]
    a = _save(paths[:1], "--by", "src")[0]
    for options, words in (
        (("--by", "site"), "--by site, the other with --by src"),
        ((), "without --by"),
    ):
        b = _save(paths[1:], *options)[0]
        result = invoke("merge", a, b)
        assert result.exit_code == 2
        assert words in result.output
        assert len(result.stderr.strip().splitlines()) <= 2


def test_shards_binned_apart_do_not_merge(tmp_path):
    """Equal-mass edges come from each run's first rows: shards get other edges, and their
    states are refused with a line that says so."""
    paths = _shards(tmp_path)[:2]
    states = _save(paths, "--by", "score:4")
    result = invoke("merge", *states)
    assert result.exit_code == 2
    assert "the bins of --by score:N differ" in result.output
    with pytest.raises(XentError, match="bins of --by score"):
        xent_cli.partial(paths[0], by="score:4").merge(xent_cli.partial(paths[1], by="score:4"))
    same = _save(paths[:1], "--by", "score:4")  # the same shard: the same edges
    assert invoke("merge", states[0], same[0]).exit_code == 0


def test_api_partials_merge_with_slices(tmp_path):
    paths = _shards(tmp_path)
    options = {"weight": "w", "by": "src,site"}
    parts = [xent_cli.partial(p, **options) for p in paths]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    whole = xent_cli.evaluate(paths, **options, min_slice_size=300)
    assert merged.finish(min_slice_size=300).slices == whole.slices
    loaded = xent_cli.Partial.from_json(merged.to_json())
    assert loaded.finish(min_slice_size=300).to_dict() == whole.to_dict()


distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def thread_client():
    with (
        distributed.LocalCluster(
            n_workers=2, processes=False, dashboard_address=":0", silence_logs=50
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


@pytest.mark.parametrize("by", ["src,flag,site", "score:5,src"])
def test_dask_gives_the_slices_of_one_process(tmp_path, thread_client, monkeypatch, by):
    monkeypatch.setattr(cluster, "TASK_ROWS", 150)  # several tasks per Parquet file
    paths = _shards(tmp_path)
    options = {"weight": "w", "id": "id", "by": by}
    local = xent_cli.evaluate(paths, **options)
    remote = xent_cli.evaluate(paths, dask=thread_client, **options)
    assert local.slices is not None
    assert json.dumps(remote.to_dict()) == json.dumps(local.to_dict())


def test_slice_states_do_not_depend_on_the_split(tmp_path):
    """One file whose rows look like probabilities (slice x) and one that does not (slice
    y): evaluated together or apart and merged, the states are equal, slices included."""
    a = pd.DataFrame(
        {"label": [0, 1, 2, 0], "logit_0": [0.2, 0.3, 0.1, 0.6], "logit_1": [0.3, 0.3, 0.1, 0.2],
         "logit_2": [0.5, 0.4, 0.8, 0.2], "src": ["x"] * 4}
    )  # fmt: skip
    b = pd.DataFrame(
        {"label": [0, 1], "logit_0": [3.0, -1.0], "logit_1": [1.0, 2.0], "logit_2": [0.0, 5.0],
         "src": ["y"] * 2}
    )  # fmt: skip
    a.to_parquet(tmp_path / "a.parquet")
    b.to_parquet(tmp_path / "b.parquet")
    options = {"by": "src", "kind": "logits"}
    whole = xent_cli.partial([tmp_path / "a.parquet", tmp_path / "b.parquet"], **options)
    apart = xent_cli.partial(tmp_path / "a.parquet", **options).merge(
        xent_cli.partial(tmp_path / "b.parquet", **options)
    )
    assert whole.state == apart.state
    assert whole.to_json() == apart.to_json()
