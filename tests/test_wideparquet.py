"""Large, wide Parquet row groups read in column blocks (xent_cli.io.wideparquet) give the report
that streaming them row by row gives, to the last bit; and their batches hold the file's values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xent_cli.io import wideparquet
from xent_cli.io.matrices import float_matrix
from xent_cli.io.parquet import ParquetSource

from .conftest import eval_json, invoke

ROWS, CLASSES = 3_000, 100


def _table(dtype: Any, seed: int = 0, soft: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, ROWS)
    logits = rng.normal(0, 3, (ROWS, CLASSES)).astype(dtype)
    logits[np.arange(ROWS), labels] += 2
    columns: dict[str, Any] = {"id": [f"r{i}" for i in range(ROWS)], "label": labels}
    for j in range(CLASSES):
        values = pa.array(logits[:, j])
        if j in (3, 70):  # a few nulls: those rows are skipped as non-finite
            mask = np.zeros(ROWS, bool)
            mask[rng.integers(0, ROWS, 5)] = True
            values = pa.array(logits[:, j], mask=mask)
        columns[f"logit_{j}"] = values
    if soft:
        targets = rng.dirichlet(np.ones(CLASSES), ROWS).astype(dtype)
        columns.update({f"target_{j}": targets[:, j] for j in range(CLASSES)})
    columns["w"] = rng.choice([0.0, 0.5, 1.0, 2.25], ROWS)  # float64 beside float32 scores
    return pa.table(columns)


def _both_ways(path: Path, monkeypatch: pytest.MonkeyPatch, *args: Any) -> list[dict[str, Any]]:
    """The report with every row group streamed, then with every row group read in blocks
    (small blocks and batches, so that both are cut many times)."""
    reports = []
    for group_bytes, block_bytes in ((1 << 62, 1 << 24), (0, 4096 * 4)):
        monkeypatch.setattr(wideparquet, "GROUP_BYTES", group_bytes)
        monkeypatch.setattr(wideparquet, "BLOCK_BYTES", block_bytes)
        monkeypatch.setattr(wideparquet, "BATCH_VALUES", 37 * CLASSES)
        report = eval_json(path, *args)
        reports.append({k: v for k, v in report.items() if k != "files"})
    return reports


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocks_give_the_streamed_report(tmp_path, monkeypatch, dtype):
    path = tmp_path / "wide.parquet"
    pq.write_table(_table(dtype), path, row_group_size=1_100)  # 3 groups, the last short
    streamed, blocked = _both_ways(path, monkeypatch, "--weight", "w", "--id", "id")
    assert streamed["n_evaluated"] < ROWS  # the null rows were skipped, in both
    assert blocked == streamed


def test_blocks_with_soft_targets_and_slices(tmp_path, monkeypatch):
    path = tmp_path / "soft.parquet"
    table = _table(np.float32, seed=1, soft=True).drop_columns(["label"])
    table = table.append_column("part", pa.array(np.arange(ROWS) % 3))
    pq.write_table(table, path)
    args = ("--scores", "logit_*", "--targets", "target_*", "--by", "part")
    streamed, blocked = _both_ways(path, monkeypatch, *args)
    assert blocked == streamed


def test_batches_hold_the_files_values(tmp_path, monkeypatch):
    """Every row, in order, with the score columns widened to float64 and nulls as NaN."""
    table = _table(np.float32, seed=2)
    path = tmp_path / "values.parquet"
    pq.write_table(table, path)
    monkeypatch.setattr(wideparquet, "GROUP_BYTES", 0)
    monkeypatch.setattr(wideparquet, "BLOCK_BYTES", 1000 * 4 * 7)
    monkeypatch.setattr(wideparquet, "BATCH_VALUES", 450 * CLASSES)
    scores = [f"logit_{j}" for j in range(CLASSES)]
    columns = ["label", *scores, "w"]
    types = dict.fromkeys([*scores, "w"], pa.float64())
    batches = list(ParquetSource(str(path)).batches(columns, types))
    assert [b.num_rows for b in batches] == [450] * 6 + [300]
    got = np.concatenate([float_matrix(b, scores, "x") for b in batches])
    expected = np.column_stack(
        [table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in scores]
    )
    np.testing.assert_array_equal(got, expected)  # NaN where null, in both
    labels = np.concatenate([b.column("label").to_numpy() for b in batches])
    np.testing.assert_array_equal(labels, table.column("label").to_numpy())
    assert "w" in batches[0].schema.names  # float64 weight: not packed with float32 scores


def test_few_float_columns_are_not_packed():
    schema = pa.schema([("label", pa.int64()), *((f"p{j}", pa.float32()) for j in range(10))])
    types = {f"p{j}": pa.float64() for j in range(10)}
    assert wideparquet.packed_columns(schema, schema.names, types) == []


def test_no_room_for_the_temporary_copy_is_one_error_line(tmp_path, monkeypatch):
    path = tmp_path / "wide.parquet"
    pq.write_table(_table(np.float32), path)
    monkeypatch.setattr(wideparquet, "GROUP_BYTES", 0)

    def full(*args: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wideparquet.os, "pwritev", full, raising=False)
    result = invoke("eval", path)
    assert result.exit_code == 2
    assert "cannot write a temporary copy" in result.stderr
    assert "No space left on device" in result.stderr
    assert "TMPDIR" in result.stderr
