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


def _many_groups(tmp_path: Path, n: int = 100_000, group: int = 2_500) -> Path:
    """A token file of many row groups: documents across groups, -inf, NaN and missing ids,
    a text column to slice by."""
    rng = np.random.default_rng(11)
    docs = pa.array(np.repeat(np.arange(n // 37 + 1), 37)[:n], mask=rng.random(n) < 0.001)
    logprob = -rng.gamma(2.0, 1.0, n)
    logprob[rng.integers(0, n, 9)] = -np.inf
    logprob[rng.integers(0, n, 5)] = np.nan
    domain = np.array(["web", "code", "books"])[np.arange(n) // 1000 % 3]
    table = pa.table(
        {"doc_id": docs, "logprob": logprob, "n_bytes": rng.integers(1, 9, n), "domain": domain}
    )
    path = tmp_path / "groups.parquet"
    pq.write_table(table, path, row_group_size=group)
    return path


def test_parquet_parts_are_its_row_groups_joined_up_to_the_rows_asked(tmp_path: Path) -> None:
    path = _many_groups(tmp_path, n=100_000, group=2_500)
    (source,) = make_sources([str(path)], InputFormat.auto)
    parts = source.parts(["doc_id", "logprob"], {}, 6_000)
    assert [p.groups for p in parts] == [(2 * k, 2 * k + 1) for k in range(20)]
    assert [p.rows for p in parts] == [5_000] * 20
    pieces = [batch for part in parts for batch in part.read()]
    assert all(b.num_rows <= 6_000 for b in pieces)
    whole = pq.read_table(path, columns=["doc_id", "logprob"])
    joined = pa.Table.from_batches(pieces)
    for name in whole.column_names:  # (NaN as NaN)
        np.testing.assert_array_equal(joined[name].to_numpy(), whole[name].to_numpy())
    one = source.parts(["doc_id"], {}, 2_000)  # (a group above the rows asked: its own part)
    assert [p.rows for p in one] == [2_500] * 40
    assert [b.num_rows for b in one[0].read()] == [1_250, 1_250]  # (cut evenly)


@pytest.mark.parametrize("by", [None, "domain", "n_bytes:3"])
def test_threads_decoding_their_own_parts_give_the_one_thread_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by: str | None
) -> None:
    """Each thread decodes the row groups it takes: the state of one thread reading in
    batches, warnings at the same rows, slices by a text column (read as dictionaries)."""
    from xent_cli.core import token_engine
    from xent_cli.io.parquet import RowGroups

    monkeypatch.setattr(token_engine, "BATCH_ROWS", 4_000)
    monkeypatch.setattr(token_engine, "PART_ROWS", 4_000)
    path = _many_groups(tmp_path)
    decoded: list[tuple[int, ...]] = []
    read = RowGroups.read

    def recorded(self: RowGroups) -> Iterator[pa.RecordBatch]:
        decoded.append(self.groups)
        return read(self)

    monkeypatch.setattr(RowGroups, "read", recorded)
    options = {} if by is None else {"by": by}
    states = [
        TokenScan(make_sources([str(path)], InputFormat.auto), make_settings(**options)).state(k)
        for k in (1, 2, 3)
    ]
    # two passes by parts; a --by column binned by a sample of the rows: read as they come
    sampled = by is not None and ":" in by
    assert sorted(decoded) == ([] if sampled else sorted([(g,) for g in range(40)] * 2))
    assert states[0] == states[1] == states[2]
    warned = str(states[0].diagnostics.to_state())
    for code in ("zero-probability", "non-finite", "missing-document"):
        assert code in warned
    assert (states[0].slices is not None) == (by is not None)


def test_a_part_s_error_is_the_one_thread_error(tmp_path: Path, monkeypatch) -> None:
    """A positive log-probability deep in the file: the same row named on any threads."""
    from xent_cli.core import token_engine
    from xent_cli.errors import XentError

    monkeypatch.setattr(token_engine, "BATCH_ROWS", 4_000)
    monkeypatch.setattr(token_engine, "PART_ROWS", 4_000)
    n = 100_000
    logprob = -np.ones(n)
    logprob[[71_234, 93_000]] = 0.5
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"doc_id": np.arange(n) // 10, "logprob": logprob}), path,
                   row_group_size=2_500)  # fmt: skip
    messages = []
    for k in (1, 2, 3):
        scan = TokenScan(make_sources([str(path)], InputFormat.auto), make_settings())
        with pytest.raises(XentError) as error:
            scan.state(k)
        messages.append(str(error.value))
    assert messages[0] == messages[1] == messages[2]
    assert "row 71234" in messages[0]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
def test_threads_reading_parts_of_many_files_keep_few_files_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory of files read in parts: each thread holds one reader open, not one per
    file it has read (a thousand files would run out of file descriptors)."""
    import os

    from xent_cli.core import token_engine
    from xent_cli.io.parquet import RowGroups

    monkeypatch.setattr(token_engine, "BATCH_ROWS", 1_000)
    monkeypatch.setattr(token_engine, "PART_ROWS", 1_000)
    paths = []
    for k in range(30):
        n = 10_000
        table = pa.table({"doc_id": k * n + np.arange(n) // 7, "logprob": -np.ones(n)})
        paths.append(tmp_path / f"part{k:02d}.parquet")
        pq.write_table(table, paths[-1], row_group_size=1_000)
    opened: list[int] = []
    read = RowGroups.read

    def counted(self: RowGroups) -> Iterator[pa.RecordBatch]:
        opened.append(len(os.listdir("/proc/self/fd")))
        return read(self)

    monkeypatch.setattr(RowGroups, "read", counted)
    sources = make_sources([str(p) for p in paths], InputFormat.auto)
    before = len(os.listdir("/proc/self/fd"))  # (with the sources' own readers)
    state = TokenScan(sources, make_settings()).state(2)
    assert state.n_evaluated == 300_000
    assert len(opened) == 300  # (every group a part, on the threads)
    assert max(opened) - before <= 4  # (a reader for each thread, and slack)
