"""``--dask``: the inputs' parts evaluated on a real Dask LocalCluster (threads and worker
processes) give the byte-identical report of a local run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import xent_cli
from xent_cli.core import cluster
from xent_cli.io.sources import make_sources
from xent_cli.options import InputFormat

from .conftest import invoke

distributed = pytest.importorskip("distributed")


def _write_shards(tmp_path: Path) -> list[Path]:
    """Two Parquet files of several row groups and a CSV file, with a NaN row and a
    missing label in a later part, and an --id column."""
    rng = np.random.default_rng(5)
    n = 9000
    labels = rng.integers(0, 4, n)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "label": labels.astype(float)})
    for j in range(4):
        frame[f"logit_{j}"] = rng.normal(0, 2, n) + 2.0 * (labels == j)
    frame["w"] = rng.choice([0.25, 1.0, 4.0], n)
    frame.loc[4500, "logit_2"] = np.nan
    frame.loc[7777, "label"] = np.nan
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.csv"]
    pq.write_table(pa.Table.from_pandas(frame.iloc[:3000]), paths[0], row_group_size=700)
    pq.write_table(pa.Table.from_pandas(frame.iloc[3000:6000]), paths[1], row_group_size=1100)
    frame.iloc[6000:].to_csv(paths[2], index=False)
    return paths


@pytest.fixture(scope="module")
def thread_client():
    with (
        distributed.LocalCluster(
            n_workers=2, processes=False, dashboard_address=":0", silence_logs=50
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


def test_threads_cluster_gives_the_local_report(tmp_path, thread_client, monkeypatch):
    monkeypatch.setattr(cluster, "TASK_ROWS", 1000)  # several tasks per Parquet file
    paths = _write_shards(tmp_path)
    parts = cluster.parts_of(make_sources(paths, InputFormat.auto), InputFormat.auto)
    assert len(parts) > 5
    options = {"weight": "w", "id": "id"}
    local = xent_cli.evaluate(paths, **options).to_dict()
    remote = xent_cli.evaluate(paths, dask=thread_client, **options).to_dict()
    assert remote == local
    assert local["n_skipped"] == 2
    assert [w["ids"] for w in local["warnings"]] == [["r4500"], ["r7777"]]


@pytest.mark.slow
def test_process_cluster_from_the_command_line_is_byte_identical(tmp_path):
    paths = _write_shards(tmp_path)
    args = ["eval", *paths, "--weight", "w", "--id", "id", "-f", "json"]
    local = invoke(*args)
    remote = invoke(*args, "--dask", "local:2")
    assert remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout
    assert json.loads(remote.stdout)["n_evaluated"] == 8998


def test_a_worker_error_is_one_line(tmp_path, thread_client):
    paths = _write_shards(tmp_path)
    bad = tmp_path / "d.csv"
    bad.write_text("id,label,logit_0,logit_1,logit_2,logit_3,w\nx,9,0,0,0,0,1\n")
    with pytest.raises(xent_cli.XentError) as raised:
        xent_cli.evaluate([*paths, bad], dask=thread_client, weight="w")
    assert "not among the classes" in raised.value.message
    assert raised.value.hint  # the hint crosses the process boundary too


def test_cli_worker_error_exit_2(tmp_path):
    good = tmp_path / "a.csv"
    good.write_text("label,logit_0,logit_1\n0,1,2\n")
    bad = tmp_path / "b.csv"
    bad.write_text("label,logit_0,logit_1\n7,1,2\n")
    result = invoke("eval", good, bad, "--dask", "local:1")
    assert result.exit_code == 2
    assert result.stderr.startswith("xent: error: ")
    assert "Traceback" not in result.stderr
    assert "not among the classes" in result.stderr


def test_standard_input_cannot_go_to_workers():
    result = invoke("eval", "-", "--dask", "local:1", input="label,logit_0,logit_1\n0,1,2\n")
    assert result.exit_code == 2
    assert "not standard input" in result.stderr
    assert "leave out --dask" in result.stderr  # the command line's option, not the API's


@pytest.mark.parametrize("address", ["local:0", "local:x"])
def test_bad_local_worker_count(tmp_path, address):
    path = tmp_path / "a.csv"
    path.write_text("label,logit_0,logit_1\n0,1,2\n")
    result = invoke("eval", path, "--dask", address)
    assert result.exit_code == 2
    assert "local:N" in result.stderr


def test_without_dask_installed_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "a.csv"
    path.write_text("label,logit_0,logit_1\n0,1,2\n")
    monkeypatch.setitem(sys.modules, "distributed", None)
    result = invoke("eval", path, "--dask", "local")
    assert result.exit_code == 2
    assert "pip install 'xent-cli[dask]'" in result.stderr


def test_in_memory_data_cannot_go_to_workers():
    frame = pd.DataFrame({"label": [0, 1], "logit_0": [0.1, 0.2], "logit_1": [0.3, 0.0]})
    sources = make_sources(frame, InputFormat.auto)
    with pytest.raises(xent_cli.XentError, match="not data in this process's memory") as error:
        cluster.parts_of(sources, InputFormat.auto)
    assert "Parquet files" in (error.value.hint or "")
