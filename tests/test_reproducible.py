"""The same rows give the same report, bit for bit: whatever their order, their split into
files, batches or row groups, the thread count or the BLAS kernel.

Every float sum is exact and rounded once (``xent_cli.kernels.exact``), so these tests assert ``==``
on the full-precision JSON numbers, never a tolerance.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xent_cli.core.engine import Scan
from xent_cli.core.report import build_report
from xent_cli.core.state import EvalState
from xent_cli.io.frames import TableSource
from xent_cli.options import make_settings

from .conftest import SAMPLES, eval_json, invoke

EXACT_KEYS = ("loss", "loss_sum", "accuracy", "mean_p_true", "weight_sum", "n_evaluated")


def _numbers(report: dict[str, Any]) -> dict[str, Any]:
    """Every figure of a report but the file names (and the warnings' row numbers, which
    name positions and so move when the rows are shuffled)."""
    out = {k: report[k] for k in EXACT_KEYS}
    out["classes"] = report["classes"]
    out["warnings"] = [(w["code"], w["count"]) for w in report["warnings"]]
    return out


def _frame(n: int, k: int, seed: int, weighted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(0, 3, (n, k))
    logits[np.arange(n), labels] += 2.0
    if k == 1:
        frame = pd.DataFrame({"label": rng.integers(0, 2, n), "logit": logits[:, 0]})
    else:
        frame = pd.DataFrame({"label": labels})
        for j in range(k):
            frame[f"logit_{j}"] = logits[:, j]
    if weighted:
        frame["w"] = rng.choice([0.0, 0.5, 1.0, 3.25, 1e-3], n)
    return frame


COPIES = ("one.csv", "reversed.csv", "shuffled.csv", "shards", "rowgroups.parquet", "one.jsonl")


@pytest.mark.slow
@pytest.mark.parametrize(("k", "weighted"), [(10, False), (10, True), (1, False), (1, True)])
def test_copies_of_the_same_rows_give_identical_numbers(tmp_path, k, weighted):
    """CSV, reversed, shuffled, 7 CSV shards, Parquet in 997-row groups and JSON Lines: the
    same loss, loss_sum, per-class sums, accuracy and mean p(true), to the last bit."""
    frame = _frame(60_000, k, seed=k, weighted=weighted)
    frame.to_csv(tmp_path / "one.csv", index=False)
    frame.iloc[::-1].to_csv(tmp_path / "reversed.csv", index=False)
    frame.sample(frac=1.0, random_state=3).to_csv(tmp_path / "shuffled.csv", index=False)
    (tmp_path / "shards").mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 7)):
        frame.iloc[part].to_csv(tmp_path / "shards" / f"part-{i}.csv", index=False)
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "rowgroups.parquet", row_group_size=997)
    with open(tmp_path / "one.jsonl", "w") as jsonl:  # repr floats (pandas rounds to 10 digits)
        jsonl.writelines(json.dumps(row) + "\n" for row in frame.to_dict("records"))
    options = ["--weight", "w"] if weighted else []
    reports = {name: _numbers(eval_json(tmp_path / name, *options)) for name in COPIES}
    first = reports["one.csv"]
    for name in COPIES[1:]:
        assert reports[name] == first, name
    if not weighted:  # the total is the exact sum of the rows' losses, rounded once
        rows = invoke("rows", tmp_path / "one.csv")
        losses = [Fraction(line.rsplit(",", 1)[1]) for line in rows.stdout.splitlines()[1:]]
        assert len(losses) == len(frame)
        assert first["loss_sum"] == float(sum(losses))
        assert first["loss"] == float(sum(losses)) / len(losses)  # the ratio of rounded sums


BLAS_KERNELS = [("Haswell", "1"), ("SkylakeX", "1"), ("Prescott", "2"), ("Haswell", "2")]


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["breast_cancer_binary.csv"],
        ["digits_logits.csv"],
        ["digits_logits.csv", "--base", "2", "--id", "id"],
        ["iris_probs.parquet"],
    ],
)
def test_blas_kernel_and_threads_do_not_change_the_report(args):
    """The JSON report, run in fresh processes under different OpenBLAS kernels and thread
    counts, is byte-identical (the accumulation uses no BLAS)."""
    outputs = set()
    for coretype, threads in BLAS_KERNELS:
        env = {**os.environ, "OPENBLAS_CORETYPE": coretype, "OPENBLAS_NUM_THREADS": threads}
        env.pop("PYTHONPATH", None)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "xent_cli",
                "eval",
                str(SAMPLES / args[0]),
                *args[1:],
                "-f",
                "json",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        report.pop("files")
        outputs.add(json.dumps(report, sort_keys=True))
    assert len(outputs) == 1


# -- any split of the rows, merged in any order, gives the same state and report ------------


def _state(frame: pd.DataFrame, first_row: int, **options: Any) -> tuple[Any, EvalState]:
    scan = Scan(
        [TableSource(pa.Table.from_pandas(frame, preserve_index=False))],
        make_settings(kind="logits", **options),
        first_row=first_row,
    )
    return scan.plan, scan.state()


@settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    k=st.sampled_from([1, 3, 12]),
    weighted=st.booleans(),
    cuts=st.lists(st.integers(1, 299), max_size=6, unique=True),
    order=st.randoms(use_true_random=False),
)
def test_any_split_merged_in_any_order_gives_the_identical_report(k, weighted, cuts, order):
    frame = _frame(300, k, seed=7, weighted=weighted)
    frame.loc[[5, 77, 201], "label"] = None if k > 1 else frame.loc[[5, 77, 201], "label"]
    options = {"weight": "w"} if weighted else {}
    plan, whole = _state(frame, 0, **options)
    bounds = [0, *sorted(cuts), len(frame)]
    parts = [_state(frame.iloc[a:b], a, **options)[1] for a, b in itertools.pairwise(bounds)]
    order.shuffle(parts)
    while len(parts) > 1:  # merge in a random tree
        i = order.randrange(len(parts) - 1)
        parts[i : i + 2] = [parts[i].merge(parts[i + 1])]
    merged = parts[0]
    assert merged.totals == whole.totals
    assert merged.n_rows == whole.n_rows
    assert merged.n_evaluated == whole.n_evaluated
    expected = build_report(plan, whole, ["x"], "x").to_dict()
    assert build_report(plan, merged, ["x"], "x").to_dict() == expected
