"""Memory stays flat: ten times the rows must not need more memory (whole-process peak RSS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

ROWS = 200_000  # x 10 classes: 1x is about 20 MB of CSV text, 10x about 200 MB
GROWTH_MB = 40  # 10x the rows may cost at most this much more peak memory
CEILING_MB = 600  # the bound for a 1 GB CSV; allocator retention varies with load


def block(rows: int) -> pa.Table:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, rows)
    logits = rng.normal(0, 2, (rows, 10)).astype(np.float32)
    return pa.table({"label": labels, **{f"logit_{k}": logits[:, k] for k in range(10)}})


def peak_mb(args: list[str], stdin_chunks: list[bytes] | None = None, repeat: int = 1) -> float:
    """Run ``xent ARGS`` (feeding stdin) and return the child's peak RSS in MB."""
    process = subprocess.Popen(
        [sys.executable, "-m", "xent_cli", *args],
        stdin=subprocess.PIPE if stdin_chunks else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if stdin_chunks:
        assert process.stdin is not None
        header, body = stdin_chunks
        process.stdin.write(header)
        for _ in range(repeat):
            process.stdin.write(body)
        process.stdin.close()
    assert process.stderr is not None
    errors = process.stderr.read().decode()
    process.stderr.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    assert process.returncode == 0, errors
    return usage.ru_maxrss / 1024  # KiB on Linux


@pytest.mark.slow
def test_csv_stream_memory_is_flat():
    text = pa.BufferOutputStream()
    pacsv.write_csv(block(ROWS), text)
    data = text.getvalue().to_pybytes()
    header, body = data.split(b"\n", 1)
    one = peak_mb(["eval", "-", "--format", "json"], [header + b"\n", body], repeat=1)
    ten = peak_mb(["eval", "-", "--format", "json"], [header + b"\n", body], repeat=10)
    assert ten - one < GROWTH_MB, (one, ten)
    assert ten < CEILING_MB, (one, ten)


@pytest.mark.slow
def test_parquet_memory_is_flat(tmp_path: Path):
    table = block(ROWS)
    sizes = {}
    for repeat in (1, 10):
        path = tmp_path / f"x{repeat}.parquet"
        with pq.ParquetWriter(path, table.schema) as writer:
            for _ in range(repeat):
                writer.write_table(table, row_group_size=50_000)
        sizes[repeat] = peak_mb(["eval", str(path), "--format", "json"])
    assert sizes[10] - sizes[1] < GROWTH_MB, sizes
    assert sizes[10] < CEILING_MB, sizes
