"""Folding batches on several threads (xent_cli.core.parallel) and re-batching narrow rows
(xent_cli.io.prefetch.coalesce): the same state and the same error as one thread."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xent_cli.api import TokenScan, make_settings, make_sources
from xent_cli.core import parallel
from xent_cli.core.token_engine import BATCH_ROWS
from xent_cli.core.token_state import TokenState
from xent_cli.io.prefetch import coalesce
from xent_cli.options import InputFormat


@dataclass
class Seen:
    """A toy mergeable state: the items seen, and the threads that saw them."""

    items: list[int] = field(default_factory=list)

    def merge(self, other: Seen) -> Seen:
        return Seen(sorted(self.items + other.items))


def slow_add(state: Seen, item: int) -> None:
    time.sleep(random.Random(item).random() / 500)
    state.items.append(item)


@pytest.mark.parametrize("n_workers", [1, 2, 3, 4])
def test_every_item_is_folded_once(n_workers: int) -> None:
    state = parallel.fold(iter(range(200)), Seen, slow_add, n_workers)
    assert sorted(state.items) == list(range(200))


@pytest.mark.parametrize("n_workers", [1, 2, 4])
def test_the_error_is_the_earliest_failing_batch_s(n_workers: int) -> None:
    def add(state: Seen, item: int) -> None:
        time.sleep((50 - item) / 5000 if item < 50 else 0)  # later items finish first
        if item in (37, 38, 45):
            raise ValueError(f"bad item {item}")
        state.items.append(item)

    with pytest.raises(ValueError, match="bad item 37"):
        parallel.fold(iter(range(100)), Seen, add, n_workers)


def test_a_reader_error_comes_after_the_items_before_it() -> None:
    def items():
        yield from range(10)
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        parallel.fold(items(), Seen, slow_add, 2)


def test_coalesce_keeps_rows_and_order_in_batches_of_about_the_size_asked() -> None:
    sizes = [3, 70, 1, 1, 200, 5, 0, 64]
    batches = [pa.record_batch({"x": np.arange(k) + 1000 * i}) for i, k in enumerate(sizes)]
    out = list(coalesce(iter(batches), 64, 1 << 30))
    assert [b.num_rows for b in out] == [73, 202, 69]
    joined = np.concatenate([b.column(0).to_numpy() for b in out])
    assert joined.tolist() == np.concatenate([b.column(0).to_numpy() for b in batches]).tolist()
    by_bytes = list(coalesce(iter(batches), 10**9, 8 * 64))
    assert [b.num_rows for b in by_bytes] == [73, 202, 69]
    halves = [pa.record_batch({"x": np.arange(k)}) for k in (40, 30, 3, 40, 2)]
    assert [b.num_rows for b in coalesce(iter(halves), 64, 1 << 30)] == [40, 73, 2]


def test_parquet_is_read_in_batches_of_the_rows_a_token_pass_asks_for(tmp_path: Path) -> None:
    """No 65,536-row batches joined (a copy of every row): Parquet is asked for the pass's
    batch size (its reader fills batches across row groups)."""
    n = 2 * BATCH_ROWS + 1000
    table = pa.table({"doc_id": np.arange(n) // 40, "logprob": -np.ones(n)})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=BATCH_ROWS + 500)
    (source,) = make_sources([str(path)], InputFormat.auto)
    sizes = [b.num_rows for b in source.batches(["doc_id", "logprob"], {}, rows=BATCH_ROWS)]
    assert sizes == [BATCH_ROWS, BATCH_ROWS, 1000]
    assert max(b.num_rows for b in source.batches(["doc_id"], {})) < BATCH_ROWS  # (its own)
    wide = pa.table({"doc_id": np.arange(200_000), "top": pa.array(
        list(np.ones((200_000, 100))), pa.list_(pa.float64(), 100))})  # fmt: skip
    pq.write_table(wide, tmp_path / "wide.parquet")
    (lists,) = make_sources([str(tmp_path / "wide.parquet")], InputFormat.auto)
    held = [b.num_rows for b in lists.batches(["doc_id", "top"], {}, rows=BATCH_ROWS)]
    assert max(held) * 101 * 8 <= 40 << 20  # (top-k lists: fewer rows, the bytes bounded)
    asked: list[int | None] = []
    read = source.batches

    def recorded(columns: list[str], types: dict, rows: int | None = None) -> Iterator:
        asked.append(rows)
        return read(columns, types, rows)

    source.batches = recorded  # type: ignore[method-assign]
    scan = TokenScan([source], make_settings())
    assert [b.num_rows for b in scan._read(source)] == sizes
    assert asked == [BATCH_ROWS]


def test_a_token_state_merged_with_itself_counts_its_documents_twice(tmp_path: Path) -> None:
    """The threads of one pass share their documents' table, and their merge takes it once;
    any other merge of states holding one table (a state with itself, or shifted, as
    ``xent merge a.json a.json`` does) adds both sides."""
    table = pa.table(
        {"doc_id": [1, 1, 2, 2] * 50_000, "logprob": [-1.0, -2.0, -3.0, -4.0] * 50_000}
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=70_000)
    state = TokenScan(make_sources([str(path)], InputFormat.auto), make_settings()).state(2)
    assert state.documents_lock is None  # (the pass is over)
    again = TokenState.from_state(state.to_state())
    for doubled in (state.merge(state), state.merge(state.shifted(4)), state.merge(again)):
        assert doubled == state.merge(again)
        assert doubled.counts["tokens"] == 400_000
        keys, sums, counts = doubled.documents.finish(ordered=True)
        assert list(keys) == ["1", "2"]
        assert counts[:, 0].tolist() == [200_000, 200_000]
        assert sums.tolist() == [-3.0 * -100_000, -7.0 * -100_000]


def test_token_states_are_equal_on_any_number_of_threads(tmp_path: Path) -> None:
    """Documents cut across batches and threads, warnings in several batches: one state."""
    rng = np.random.default_rng(3)
    n = 3 * BATCH_ROWS + 1234
    docs = np.repeat(np.arange(n // 50 + 1), 50)[:n]
    logprob = -rng.gamma(2.0, 1.0, n) * 10 ** rng.uniform(-3, 1, n)
    logprob[rng.integers(0, n, 7)] = -np.inf
    table = pa.table({"doc_id": docs, "logprob": logprob, "n_bytes": rng.integers(1, 9, n)})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=100_000)
    scan = TokenScan(make_sources([str(path)], InputFormat.auto), make_settings())
    states = [scan.state(k) for k in (1, 2, 3)]
    assert states[0] == states[1] == states[2]
    assert states[0].n_evaluated == n
    warned = states[0].diagnostics.to_state()
    assert "zero-probability" in str(warned)
