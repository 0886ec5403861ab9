"""Pair the evaluated rows of two scans, for ``xent compare``: by position or by ``--id``.

Each side streams :class:`Entries` (one per evaluated row, or per row x label cell in
multilabel mode). By position, the two streams are merge-joined on the row number as they
arrive (both ascend), so memory stays at a batch or two. By id, each side's entries are
hashed into partitions spilled to temporary Arrow IPC files, and the partitions are joined one
at a time: memory is bounded by one partition, not by the input.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.core.engine import Scan
from xent_cli.core.prepare import Prepared
from xent_cli.core.slicer import Key, Slicer
from xent_cli.core.state import EvalState
from xent_cli.errors import XentError
from xent_cli.kernels.scoring import Cells
from xent_cli.options import Mode

PARTITION_BYTES = 128 << 20  # of input per id partition: each is joined in memory
Float = NDArray[np.float64]
Int = NDArray[np.int64]


@dataclass
class SliceCodes:
    """Each slice key's code, in order of first appearance (codes are local to one run)."""

    slicer: Slicer
    keys: list[Key] = field(default_factory=list)
    index: dict[Key, int] = field(default_factory=dict)

    def codes(self, batch: Prepared) -> NDArray[np.int64]:
        """The slice code of each entry of a batch."""
        out = np.empty(len(batch.local), np.int64)
        for key, entries in self.slicer.split(batch.slice_columns, batch.local):
            out[entries] = self.code(key)
        return out

    def of_rows(self, arrays: list[pa.Array], local: NDArray[np.intp]) -> NDArray[np.int64]:
        """The slice code of the rows ``local`` of a batch's ``--by`` columns ``arrays``."""
        inverse, keys = self.slicer.local_codes(arrays, local)
        numbers = np.array([self.code(key) for key in keys], np.int64)
        return numbers[inverse] if len(keys) else np.zeros(len(local), np.int64)

    def code(self, key: Key) -> int:
        """A key's code (a new key: the next)."""
        code = self.index.get(key)
        if code is None:
            code = self.index[key] = len(self.keys)
            self.keys.append(key)
        return code


@dataclass
class Entries:
    """Evaluated rows (or cells) of one side: arrays of equal length. The optional ones
    travel through both pairings (and the id join's partition files) like the others."""

    row: Int  # global 0-based row number
    sub: Int  # multilabel: the label column; else 0
    cls: Int  # per-class bucket
    truth: Int  # the true class (multilabel: the 0/1 outcome; tokens: a hash of the token)
    loss: Float  # nats
    weight: Float | None
    ids: pa.Array | None  # --id values, as strings
    slice: Int | None = None  # compare --by: each entry's slice (a code of SliceCodes)
    predicted: Int | None = None  # the arg-max class (binary, cells: 0/1)
    p_true: Float | None = None  # the probability given to the truth
    scores: Float | None = None  # (n, w) validated scores: the distribution of each entry
    unit: Int | None = None  # token files: the row's count in the --per unit
    tokens: Int | None = None  # token files: the row's tokens, bytes and words
    n_bytes: Int | None = None
    words: Int | None = None
    doc: pa.Array | None = None  # token files: the document id, as text
    token: pa.Array | None = None  # token files: the actual token, as text (for messages)

    def __len__(self) -> int:
        return len(self.row)

    def take(self, index: NDArray[np.intp]) -> Entries:
        """The entries at ``index`` (ascending); a contiguous run is a view, not a copy."""
        n = len(index)
        window: slice | NDArray[np.intp] = index
        if n and int(index[-1]) - int(index[0]) + 1 == n and (np.diff(index) == 1).all():
            window = slice(int(index[0]), int(index[-1]) + 1)
        values: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                values[f.name] = None
            elif isinstance(value, np.ndarray):
                values[f.name] = value[window]
            elif isinstance(window, slice):
                values[f.name] = value.slice(window.start, n)
            else:
                values[f.name] = value.take(pa.array(index))
        return Entries(**values)


def entries_of(batch: Prepared, distribution: bool = False) -> Entries | None:
    """A classifier batch's entries; ``distribution``: with their scores, arg-max and p."""
    scored = batch.scored
    if scored is None:
        return None
    n = len(scored.loss)
    if isinstance(scored, Cells):
        sub, truth = scored.classes.astype(np.int64), scored.outcome.astype(np.int64)
    else:
        sub, truth = np.zeros(n, np.int64), scored.classes.astype(np.int64)
    ids = None
    if batch.id_column is not None:
        ids = batch.id_column.take(pa.array(batch.local)).cast(pa.string())
    entries = Entries(
        batch.rows.astype(np.int64),
        sub,
        scored.classes.astype(np.int64),
        truth,
        scored.loss,
        batch.weight,
        ids,
    )
    if distribution and batch.scores is not None:
        scores = batch.scores
        if isinstance(scored, Cells):  # one entry per cell, row-major
            scores = scores.reshape(-1, 1)
            if batch.kept is not None:  # --ignore-label: the cells scored
                scores = scores[batch.kept.ravel()]
        entries.scores = scores
        entries.predicted = scored.predicted.astype(np.int64)
        entries.p_true = scored.p_true
    return entries


@dataclass
class Pairs:
    """Paired entries: the baseline's and the candidate's, aligned."""

    baseline: Entries
    candidate: Entries


@dataclass
class JoinCounts:
    by: str  # "position" or the id column
    n_joined: int = 0
    n_only_baseline: int = 0
    n_only_candidate: int = 0
    # --id without --on-mismatch intersect: the ids found on one side only, counted over
    # every partition (and the first few of each side by row) before the refusal
    ids_only: dict[str, int] = field(default_factory=lambda: {"baseline": 0, "candidate": 0})
    first_only: dict[str, list[tuple[int, str]]] = field(
        default_factory=lambda: {"baseline": [], "candidate": []}
    )

    def one_sided_error(self) -> XentError | None:
        """One line naming how many ids each side holds alone, and the first few of each."""
        if not any(self.ids_only.values()):
            return None
        parts = []
        for side in ("baseline", "candidate"):
            n = self.ids_only[side]
            if n:
                first = [shown_id(i) for _, i in self.first_only[side]]
                more = ", ..." if n > len(first) else ""
                ids = "id" if n == 1 else "ids"
                if "+" in self.by:
                    ids = "token" if n == 1 else "tokens"
                parts.append(f"{n} {ids} only in the {side} ({', '.join(first)}{more})")
        rule = f"--id {self.by!r} must name the same rows in both files"
        if "+" in self.by:  # token files paired by document and position
            rule = f"the files must hold the same tokens (paired by {self.by})"
        return XentError(
            f"{' and '.join(parts)}: {rule}",
            hint="pass --on-mismatch intersect to compare the rows both files hold",
        )


def shown_id(value: object) -> str:
    """An id as a message shows it: a token's (document, position) key as ``document 'd3'
    position 17``, any other id quoted."""
    text = str(value)
    if "\x1f" in text:
        document, position = text.split("\x1f", 1)
        return f"document {document!r} position {position}"
    return repr(value)


def stream(
    scan: Scan, state: EvalState, codes: SliceCodes | None = None, distribution: bool = False
) -> Iterator[Entries]:
    """A classifier scan's entries, batch by batch (each batch folded into ``state`` too)."""
    for batch in scan.batches():
        state.add(batch)
        entries = entries_of(batch, distribution)
        if entries is not None and len(entries):
            if codes is not None:
                entries.slice = codes.codes(batch)
            yield entries


Streams = tuple[Iterator[Entries], Iterator[Entries]]


def pair_by_position(
    streams: Streams,
    rows_read: Callable[[], tuple[int, int]],
    counts: JoinCounts,
    names: list[str],
    width: int,
) -> Iterator[Pairs]:
    """Merge-join both streams on (row, label column) as they arrive; labels (tokens) must
    agree. ``rows_read()``: each side's rows read, checked equal at the end.

    Both streams ascend, so every key up to the smaller of the two buffers' last keys is
    in the buffers already: those are paired (or counted one-sided), the rest wait."""
    buffers: list[Entries | None] = [None, None]
    done = [False, False]
    while True:
        for side in (0, 1):
            if buffers[side] is None and not done[side]:
                buffers[side] = next(streams[side], None)
                done[side] = buffers[side] is None
        a, b = buffers
        if a is None or b is None:  # one side has ended: the other's rest is one-sided
            if a is not None:
                counts.n_only_baseline += len(a)
            if b is not None:
                counts.n_only_candidate += len(b)
            buffers = [None, None]
            if all(done):
                break
            continue
        ka, kb = a.row * width + a.sub, b.row * width + b.sub
        horizon = min(ka[-1], kb[-1])
        ca = int(np.searchsorted(ka, horizon, "right"))
        cb = int(np.searchsorted(kb, horizon, "right"))
        buffers = [
            a.take(np.arange(ca, len(a))) if ca < len(a) else None,
            b.take(np.arange(cb, len(b))) if cb < len(b) else None,
        ]
        if ca == cb and (ka[:ca] == kb[:cb]).all():  # the usual case: the same rows
            ia = ib = np.arange(ca)
        else:
            _, ia, ib = np.intersect1d(ka[:ca], kb[:cb], assume_unique=True, return_indices=True)
        counts.n_only_baseline += ca - len(ia)
        counts.n_only_candidate += cb - len(ib)
        if len(ia):
            pairs = Pairs(a.take(ia), b.take(ib))
            _check_labels(pairs, names, by_id=False)
            counts.n_joined += len(ia)
            yield pairs
    n_base, n_cand = rows_read()
    if n_base != n_cand:
        raise XentError(
            f"the baseline has {n_base} rows but the candidate {n_cand}: "
            "rows cannot be paired by position",
            hint="pass --id COLUMN to pair rows by an id column",
        )


def _check_documents(base: Entries, cand: Entries) -> None:
    """Token rows paired by their order must be of the same document on both sides (when
    both files name documents): else the files are not in the same order."""
    import pyarrow.compute as pc

    if base.doc is None or cand.doc is None:
        return
    same = pc.fill_null(pc.equal(base.doc, cand.doc), False)
    if same.false_count == 0:
        return
    k = int(pc.index(same, False).as_py())
    raise XentError(
        f"row {int(base.row[k])}: document {base.doc[k].as_py()!r} in the baseline but "
        f"{cand.doc[k].as_py()!r} in the candidate: rows paired by their order are of "
        "different documents (the files are not in the same order)",
        hint="pass --position COLUMN to pair by document and position, or --pair-by doc to "
        "compare per document",
    )


def _check_labels(pairs: Pairs, names: list[str], *, by_id: bool) -> None:
    """The same row (or id) must have the same label (token) on both sides."""
    base, cand = pairs.baseline, pairs.candidate
    if not by_id:
        _check_documents(base, cand)
    wrong = np.flatnonzero(base.truth != cand.truth)
    if not len(wrong):
        return
    k = int(wrong[0])
    where = None
    if by_id and base.ids is not None:
        key = base.ids[k].as_py()
        where = shown_id(key) if "\x1f" in str(key) else f"id {key!r}"
    if base.token is not None and cand.token is not None:
        where = where or f"row {int(base.row[k])}"
        raise XentError(
            f"{where}: the token is {base.token[k].as_py()!r} in the baseline but "
            f"{cand.token[k].as_py()!r} in the candidate: the files were tokenized differently",
            hint="pass --pair-by doc to compare per document (with --per byte for models "
            "whose tokenizers differ)",
        )

    def label(entries: Entries) -> str:
        t = int(entries.truth[k])
        return names[t] if 0 <= t < len(names) else str(t)

    if where is not None:
        raise XentError(
            f"{where}: the label is {label(base)!r} in the baseline but "
            f"{label(cand)!r} in the candidate"
        )
    raise XentError(
        f"row {int(base.row[k])}: the label is {label(base)!r} in the baseline but "
        f"{label(cand)!r} in the candidate: the files do not hold the same rows in the same order",
        hint="pass --id COLUMN to pair rows by an id column",
    )


def pair_by_id(
    streams: Streams,
    sizes: list[int],
    counts: JoinCounts,
    names: list[str],
    intersect: bool,
) -> Iterator[Pairs]:
    """A partitioned hash join on (id, label column), spilled to temporary files; ``sizes``:
    the inputs' bytes (they decide how many partitions)."""
    import pyarrow.ipc as ipc

    n_parts = int(max(1, min(256, sum(sizes) // PARTITION_BYTES)))
    with tempfile.TemporaryDirectory(prefix="xent-join-") as folder:
        paths = [[Path(folder) / f"{side}-{p}.arrow" for p in range(n_parts)] for side in (0, 1)]
        for side in (0, 1):
            writers: dict[int, ipc.RecordBatchFileWriter] = {}
            try:
                for entries in streams[side]:
                    table = _table(entries)
                    part = _partition(table.column("id"), n_parts)
                    for p in np.unique(part).tolist():
                        chunk = table.filter(pa.array(part == p)) if n_parts > 1 else table
                        if p not in writers:
                            writers[p] = ipc.new_file(str(paths[side][p]), chunk.schema)
                        writers[p].write_table(chunk)
            finally:
                for writer in writers.values():
                    writer.close()
        for p in range(n_parts):
            base = _read(paths[0][p])
            cand = _read(paths[1][p])
            if base is None and cand is None:
                continue
            for pairs in _join(base, cand, counts, names, intersect):
                if counts.one_sided_error() is None:  # else the refusal below follows
                    yield pairs
    refusal = counts.one_sided_error()
    if refusal is not None:
        raise refusal


def _table(entries: Entries) -> pa.Table:
    """The entries as an Arrow table: ``id`` first, a matrix as a fixed-size list column."""
    assert entries.ids is not None
    columns: dict[str, Any] = {"id": entries.ids}
    for f in fields(entries):
        value = getattr(entries, f.name)
        if value is None or f.name == "ids":
            continue
        if isinstance(value, np.ndarray) and value.ndim == 2:
            flat = pa.array(np.ascontiguousarray(value).reshape(-1))
            value = pa.FixedSizeListArray.from_arrays(flat, value.shape[1])
        columns[f.name] = value
    return pa.table(columns)


def hash_ids(ids: pa.Array | pa.ChunkedArray) -> NDArray[np.uint64]:
    """A 64-bit hash of each id (pandas' hash_array: the same id, the same hash, anywhere)."""
    import pandas as pd

    return cast(
        "NDArray[np.uint64]",
        pd.util.hash_array(np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)),
    )


def _partition(ids: pa.ChunkedArray, n_parts: int) -> NDArray[np.int64]:
    if n_parts == 1:
        return np.zeros(len(ids), np.int64)
    return cast("NDArray[np.int64]", (hash_ids(ids) % np.uint64(n_parts)).astype(np.int64))


def _read(path: Path) -> pa.Table | None:
    if not path.exists():
        return None
    import pyarrow.ipc as ipc

    with pa.memory_map(str(path)) as source:
        return ipc.open_file(source).read_all()


_TEXT = {"ids", "doc", "token"}


def _entries(table: pa.Table) -> Entries:
    values: dict[str, Any] = {}
    for f in fields(Entries):
        name = "id" if f.name == "ids" else f.name
        if name not in table.column_names:
            values[f.name] = None
            continue
        column = table.column(name).combine_chunks()
        if f.name in _TEXT:
            values[f.name] = column
        elif pa.types.is_fixed_size_list(column.type):
            flat = column.flatten().to_numpy()
            values[f.name] = flat.reshape(len(column), column.type.list_size)
        else:
            values[f.name] = column.to_numpy()
    return Entries(**values)


def _join(
    base: pa.Table | None,
    cand: pa.Table | None,
    counts: JoinCounts,
    names: list[str],
    intersect: bool,
) -> Iterator[Pairs]:
    """One partition of both sides: duplicates and one-sided ids checked, then paired (the
    keys joined alone, each side's rows then taken by position: no payload in the join)."""
    for side, table in (("baseline", base), ("candidate", cand)):
        if table is not None:
            _no_duplicates(table, side, counts.by)
    if base is None or cand is None:
        only = base if cand is None else cand
        assert only is not None
        _one_sided(only, "baseline" if cand is None else "candidate", counts, intersect)
        return

    def keys(table: pa.Table, name: str) -> pa.Table:
        index = pa.array(np.arange(table.num_rows, dtype=np.int64))
        return pa.table({"id": table.column("id"), "sub": table.column("sub"), name: index})

    joined = keys(base, "_b").join(keys(cand, "_c"), keys=["id", "sub"], join_type="full outer")
    ib = joined.column("_b").to_numpy(zero_copy_only=False)
    ic = joined.column("_c").to_numpy(zero_copy_only=False)
    in_base, in_cand = ~np.isnan(ib.astype(np.float64)), ~np.isnan(ic.astype(np.float64))
    only_b, only_c = in_base & ~in_cand, in_cand & ~in_base
    if only_b.any():
        _one_sided(base.take(pa.array(ib[only_b].astype(np.int64))), "baseline", counts,
                   intersect)  # fmt: skip
    if only_c.any():
        _one_sided(cand.take(pa.array(ic[only_c].astype(np.int64))), "candidate", counts,
                   intersect)  # fmt: skip
    both = in_base & in_cand
    if not both.any():
        return
    take_b, take_c = ib[both].astype(np.int64), ic[both].astype(np.int64)
    rows = base.column("row").to_numpy()[take_b]
    order = np.argsort(rows, kind="stable")
    pairs = Pairs(
        _entries(base.take(pa.array(take_b[order]))), _entries(cand.take(pa.array(take_c[order])))
    )
    _check_labels(pairs, names, by_id=True)
    counts.n_joined += len(pairs.baseline)
    yield pairs


def _no_duplicates(table: pa.Table, side: str, column: str) -> None:
    table = table.select(["id", "sub", "row"])
    groups = table.group_by(["id", "sub"]).aggregate([("row", "count"), ("row", "min")])
    repeated = groups.filter(pa.compute.greater(groups.column("row_count"), 1))
    if repeated.num_rows:
        first = repeated.sort_by("row_min").column("id").to_pylist()[:3]
        raise XentError(
            f"the {side} holds id {', '.join(map(repr, first))} more than once "
            f"(--id {column!r} must name each row once)"
        )


def _one_sided(table: pa.Table, side: str, counts: JoinCounts, intersect: bool) -> None:
    if not intersect:
        table = table.select(["id", "row"])
        counts.ids_only[side] += pa.compute.count_distinct(table.column("id")).as_py()
        first = table.sort_by("row").slice(0, 3)
        found = zip(first.column("row").to_pylist(), first.column("id").to_pylist(), strict=True)
        counts.first_only[side] = sorted({*counts.first_only[side], *found})[:3]
        return
    if side == "baseline":
        counts.n_only_baseline += table.num_rows
    else:
        counts.n_only_candidate += table.num_rows


def mode_width(scan: Scan) -> int:
    return len(scan.plan.class_names) if scan.plan.mode is Mode.multilabel else 1
