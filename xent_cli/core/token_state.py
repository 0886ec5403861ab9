"""The mergeable state of a token file's evaluation: exact sums over rows, and per document.

Per row ``l`` (nats) and ``U`` (its count in the ``--per`` unit): exact sums of ``l``,
``l²`` and ``l·U`` and integer sums of the tokens, bytes, words and ``U²`` give the pooled
figures and the i.i.d. interval. Per document ``L_d = Σl`` (exact, one bucket per document)
and its token, byte and word counts give the clustered interval, the documents' means and
the worst documents. Documents are keyed by their id as text, so a document split across
files, batches or Dask partitions is summed as one: ``merge`` adds states, in any order, to
an equal state (``==``, and the same :meth:`to_state`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.core import diagnostics as dx
from xent_cli.core.keys import KeyIndex
from xent_cli.io.arrays import floats, numbers
from xent_cli.kernels.exact import ExactSums, grown_rows, one_sum
from xent_cli.kernels.extract import run_pieces

if TYPE_CHECKING:  # (calibration's modules load when --calibration asks for them)
    from xent_cli.metrics.calibration import CalibrationState

# The float sums over rows, each exact (an ExactSums of one bucket)
LOSS, LOSS_SQUARED, LOSS_TIMES_UNIT, P_TRUE, TOP_P = range(5)
N_SUMS = 5
COUNTS = ("tokens", "bytes", "words", "unit_squared", "n_p_true", "top1", "n_topk")
_STATE_KIND = "xent_cli.token_state.TokenState"


@dataclass
class TokenRows:
    """One batch's scored rows: arrays of equal length (``doc``: the ids as text)."""

    loss: NDArray[np.float64]  # nats
    tokens: NDArray[np.int64]
    n_bytes: NDArray[np.int64] | None
    words: NDArray[np.int64] | None
    unit: NDArray[np.int64]  # the --per unit's count of each row
    doc: pa.Array | None
    p_true: NDArray[np.float64] | None  # exp(logprob) of one-token rows
    top1: NDArray[np.bool_] | None  # --topk: the actual token's log-prob is the top one
    top_p: NDArray[np.float64] | None  # --topk: exp(the top log-prob)
    index: NDArray[np.intp] | None = None  # each row's position in its record batch
    unit_is_one: bool = False  # every row's unit count is 1 (tokens, one per row)
    #: Every row is one token whose probability is ``exp(-loss)`` (``p_true`` then None:
    #: summed from the losses a block at a time, no array of them made).
    p_true_of_loss: bool = False


@dataclass
class KeyedSums:
    """Per key (a document id, a slice, as text): an exact ``Σl`` and integer counts (for
    documents: tokens, bytes, words; for slices: rows, tokens, units)."""

    index: KeyIndex = field(default_factory=KeyIndex)
    loss: ExactSums = field(default_factory=lambda: ExactSums(0))
    counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 3), np.int64))

    def __len__(self) -> int:
        return len(self.index)

    @property
    def keys(self) -> Sequence[str]:
        return self.index.texts()

    def add(
        self,
        keys: Sequence[str] | NDArray[np.int64],
        codes: NDArray[np.intp],
        loss: NDArray[np.float64],
        columns: Sequence[NDArray[np.int64] | int | None],
        starts: NDArray[np.intp] | None = None,
        lock: threading.Lock | None = None,
    ) -> ExactSums:
        """Fold rows in: row ``i`` belongs to ``keys[codes[i]]`` (texts, or distinct integer
        ids); ``columns``: its counts (a None column adds nothing, ``1``: one per row). With
        ``starts`` (where runs of rows of one key start, if the caller knows), ``codes`` are
        per run, not per row. ``lock``: held while the table changes (the work per row is
        done before, outside it).
        Returns the rows' exact ``Σl``, in buckets that add up to it.

        Runs are summed exactly into a few values each, which go straight into their keys'
        digits (O(runs) per call, whatever the number of keys); rows without runs are
        summed over this call's keys (few buckets: dense), then added into the keys' totals.
        """
        if not isinstance(keys, np.ndarray):  # texts may name one key twice (0.0 and -0.0: 0)
            first: dict[str, int] = {}
            codes = np.array([first.setdefault(k, len(first)) for k in keys], np.intp)[codes]
            keys = list(first)
        local = pieces = None
        if starts is None:  # (summed over this call's keys: few buckets, dense)
            local = ExactSums(len(keys))
            local.add(codes, loss, brief=True)
        else:  # (a few values per run)
            pieces = run_pieces(loss, starts)
        counts = _key_counts(codes, columns, len(keys), starts, len(loss))
        with lock or nullcontext():
            if isinstance(keys, np.ndarray):  # distinct ids: distinct numbers
                targets = self.index.number_ids(keys)
            else:
                targets = self.index.number_texts(keys)
            if len(self.index) > self.loss.n_buckets:
                self._grow(len(self.index))
            if local is not None:
                self.loss.add_sums(local, targets)
            else:
                assert pieces is not None
                runs, values = pieces
                self.loss.add(targets[codes[runs]], values, brief=True)
            _add_rows(self.counts, targets, counts)
        if local is not None:
            return local
        assert pieces is not None
        return one_sum(pieces[1])

    def add_documents(self, rows: TokenRows, lock: threading.Lock | None = None) -> ExactSums:
        """Fold a batch's rows into their documents' sums (tokens, bytes, words; ``lock``:
        see :meth:`add`); returns the batch's exact ``Σl``."""
        assert rows.doc is not None
        doc = rows.doc.combine_chunks() if isinstance(rows.doc, pa.ChunkedArray) else rows.doc
        keys: Sequence[str] | NDArray[np.int64]
        if pa.types.is_integer(doc.type) and doc.null_count == 0:  # the common ids: by runs
            ids = numbers(doc, "", None).astype(np.int64, copy=False)
            change = ids[1:] != ids[:-1]  # rows of one document mostly come together
            starts = np.concatenate([[0], np.flatnonzero(change) + 1])
            heads = ids[starts]
            if bool((heads[1:] > heads[:-1]).all()):  # (a sorted dump: no sort needed)
                keys, local = heads, np.arange(len(heads))
            else:
                keys, inverse = np.unique(heads, return_inverse=True)
                local = inverse.reshape(-1)  # (per run)
        else:
            import pyarrow.compute as pc  # (its import costs 0.1 s: only when needed)

            values = pc.unique(doc)
            local = floats(pc.index_in(doc, value_set=values), "", None).astype(np.intp)
            if pa.types.is_string(values.type):
                keys = values.to_pylist()
            else:
                keys = [document_key(v) for v in values.to_pylist()]
            starts = None
        tokens = 1 if rows.unit_is_one else rows.tokens  # (one token per row: runs' lengths)
        columns = [tokens, rows.n_bytes, rows.words]
        return self.add(keys, local, rows.loss, columns, starts, lock)

    def _grow(self, n: int) -> None:
        room = max(n, 2 * self.loss.n_buckets, 1024)
        self.loss = self.loss.resized(room)
        self.counts = grown_rows(self.counts, room)

    def merge(self, other: KeyedSums) -> KeyedSums:
        """Both sides' keys; a key in both has its sums added."""
        index = self.index.copy()
        theirs = index.number_index(other.index)
        loss = self.loss.resized(max(len(index), self.loss.n_buckets))  # (a copy)
        loss.add_sums(other.loss.head(len(other)), theirs)
        counts = np.zeros((loss.n_buckets, 3), np.int64)
        counts[: len(self)] = self.counts[: len(self)]
        _add_rows(counts, theirs, other.counts[: len(other)])
        return KeyedSums(index, loss, counts)

    def finish(
        self, *, ordered: bool = False
    ) -> tuple[Sequence[str], NDArray[np.float64], NDArray[np.int64]]:
        """The keys, each key's ``Σl`` (rounded once) and counts: in the order the keys came
        (the figures of sums do not depend on it), or in key order (``ordered``)."""
        n = len(self)
        losses = self.loss.finish(n)  # (the buckets past n are empty)
        keys = self.keys
        if not ordered:
            return keys, losses, self.counts[:n]
        texts = list(keys)
        order = sorted(range(n), key=texts.__getitem__)
        take = np.array(order, np.intp)
        return [texts[i] for i in order], losses[take], self.counts[take]

    def to_state(self) -> dict[str, Any]:
        texts = list(self.keys)
        order = np.array(sorted(range(len(texts)), key=texts.__getitem__), np.intp)
        placed = ExactSums(len(texts))
        placed.add_sums(self.loss.head(len(texts)), np.argsort(order).astype(np.intp))
        return {
            "keys": [texts[i] for i in order.tolist()],
            "loss": placed.to_state(),
            "counts": self.counts[order].tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> KeyedSums:
        keys = [str(k) for k in state["keys"]]
        counts = np.array(state["counts"], np.int64).reshape(len(keys), 3)
        loss = ExactSums.from_state(state["loss"])
        if loss.n_buckets != len(keys):
            raise ValueError("keyed sums: one exact sum per key expected")
        index = KeyIndex()
        if len(index.number_texts(keys)) != len(index):
            raise ValueError("keyed sums: a key twice")
        return cls(index, loss, counts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyedSums):
            return NotImplemented
        return self.to_state() == other.to_state()

    __hash__ = None  # type: ignore[assignment]


def _add_rows(counts: NDArray[np.int64], rows: NDArray[np.intp], values: NDArray[np.int64]) -> None:
    """``counts[rows] += values`` for distinct ``rows``, a column at a time (twice as fast as
    indexing rows of a 2-d array)."""
    for j in range(counts.shape[1]):
        column = counts[:, j]
        column[rows] += values[:, j]


def _key_counts(
    codes: NDArray[np.intp],
    columns: Sequence[NDArray[np.int64] | int | None],
    n_keys: int,
    starts: NDArray[np.intp] | None,
    n_rows: int,
) -> NDArray[np.int64]:
    """Per key, the sums of each column (a None column: 0; an int: that count on each of
    the ``n_rows`` rows), over runs when their starts are known (``codes`` then per run;
    integer sums in int64; per key below 2**53, so exact in float64)."""
    out = np.zeros((n_keys, len(columns)), np.int64)
    for j, column in enumerate(columns):
        if column is None:
            continue
        if isinstance(column, int):
            each = np.diff(starts, append=n_rows) if starts is not None else 1
            values = column * np.broadcast_to(each, codes.shape)
        elif starts is not None:
            values = np.add.reduceat(column, starts, dtype=np.int64)
        else:
            values = column
        out[:, j] = np.bincount(codes, weights=values, minlength=n_keys)
    return out


def _sum_of_squares(units: NDArray[np.int64]) -> int:
    """``Σ U²``, exact (in int64 when it cannot overflow, else in Python integers)."""
    units = units.astype(np.int64, copy=False)
    if len(units) and int(units.max()) ** 2 * len(units) < 1 << 63:
        return int((units * units).sum())
    return sum(int(u) * int(u) for u in units.tolist())


DocumentSums = KeyedSums  # per document: tokens, bytes, words
SLICE_SEPARATOR = "\x1f"  # between a slice key's values (the unit separator: not in data)


def document_key(value: Any) -> str:
    """A document id as text, the same whatever type a file stored it as: ``7``, ``7.0``
    and ``"7"`` are one document (``"007"`` is another)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class TokenState:
    """Counts, exact sums and warnings of the token rows seen so far."""

    n_rows: int
    n_evaluated: int
    n_masked: int
    n_ignored: int
    sums: list[ExactSums]  # LOSS, LOSS_SQUARED, LOSS_TIMES_UNIT, P_TRUE, TOP_P
    counts: dict[str, int]
    diagnostics: dx.Diagnostics
    documents: KeyedSums | None
    slices: KeyedSums | None = None  # --by: per slice rows, tokens, units
    calibration: CalibrationState | None = None  # --calibration: top-1 confidence bins
    #: Set when ``documents`` is one table shared by the states of several threads
    #: (:meth:`sharing_documents`): held while a batch is folded into it, and the mark by
    #: which their merge takes the table once (any other merge adds both sides' tables).
    documents_lock: threading.Lock | None = field(default=None, compare=False, repr=False)

    @classmethod
    def empty(cls, top_warnings: int, with_documents: bool, sliced: bool = False) -> TokenState:
        return cls(
            0,
            0,
            0,
            0,
            [ExactSums(1) for _ in range(N_SUMS)],
            dict.fromkeys(COUNTS, 0),
            dx.Diagnostics(top_warnings),
            KeyedSums() if with_documents else None,
            KeyedSums() if sliced else None,
        )

    def sharing_documents(self, documents: KeyedSums, lock: threading.Lock) -> TokenState:
        """This state, its per-document sums kept in ``documents``, a table the states of
        other threads fold into as well (under ``lock``): no table per thread to merge at
        the end (a million documents: half the memory, and no serial merge)."""
        self.documents, self.documents_lock = documents, lock
        return self

    def add(self, rows: TokenRows) -> None:
        """Fold in one batch's scored rows (the counts of rows read, masked and ignored are
        added by the caller)."""
        n = len(rows.loss)
        self.n_evaluated += n
        if not n:
            return
        loss = rows.loss
        if self.documents is not None:  # the batch's Σl: its documents' sums, added up
            batch = self.documents.add_documents(rows, self.documents_lock)
        else:
            batch = one_sum(loss)
        self.sums[LOSS].add_sums(batch)
        if rows.unit_is_one:  # l·U = l
            self.sums[LOSS_TIMES_UNIT].add_sums(batch)
        else:
            self.sums[LOSS_TIMES_UNIT].add(None, loss * rows.unit)
        self.sums[LOSS_SQUARED].add_squares(loss)
        if rows.p_true_of_loss:
            self.sums[P_TRUE].add_exps(loss)
            self.counts["n_p_true"] += n
        elif rows.p_true is not None:
            self.sums[P_TRUE].add(None, rows.p_true)
            self.counts["n_p_true"] += len(rows.p_true)
        if rows.top_p is not None and rows.top1 is not None:
            self.sums[TOP_P].add(None, rows.top_p)
            self.counts["top1"] += int(rows.top1.sum())
            self.counts["n_topk"] += len(rows.top1)
        self.counts["tokens"] += n if rows.unit_is_one else int(rows.tokens.sum())
        if rows.n_bytes is not None:
            self.counts["bytes"] += int(rows.n_bytes.sum())
        if rows.words is not None:
            self.counts["words"] += int(rows.words.sum())
        self.counts["unit_squared"] += n if rows.unit_is_one else _sum_of_squares(rows.unit)

    def merge(self, other: TokenState) -> TokenState:
        """Both states (associative and commutative; a state merged with itself counts
        everything twice, its documents too)."""
        documents = slices = calibration = None
        if self.calibration is not None and other.calibration is not None:
            calibration = self.calibration.merge(other.calibration)
        lock = self.documents_lock
        shared = lock is not None and lock is other.documents_lock
        if shared:  # (threads of one pass: their one table holds both)
            documents = self.documents
        elif self.documents is not None and other.documents is not None:
            documents = self.documents.merge(other.documents)
        if self.slices is not None and other.slices is not None:
            slices = self.slices.merge(other.slices)
        return TokenState(
            self.n_rows + other.n_rows,
            self.n_evaluated + other.n_evaluated,
            self.n_masked + other.n_masked,
            self.n_ignored + other.n_ignored,
            [a.merge(b) for a, b in zip(self.sums, other.sums, strict=True)],
            {k: self.counts[k] + other.counts[k] for k in COUNTS},
            self.diagnostics.merge(other.diagnostics),
            documents,
            slices,
            calibration,
            lock if shared else None,
        )

    def shifted(self, offset: int) -> TokenState:
        """The same state, its warnings' rows ``offset`` further into the input."""
        return TokenState(
            self.n_rows,
            self.n_evaluated,
            self.n_masked,
            self.n_ignored,
            self.sums,
            dict(self.counts),
            self.diagnostics.shifted(offset),
            self.documents,
            self.slices,
            self.calibration,
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": _STATE_KIND,
            "n_rows": self.n_rows,
            "n_evaluated": self.n_evaluated,
            "n_masked": self.n_masked,
            "n_ignored": self.n_ignored,
            "sums": [part.to_state() for part in self.sums],
            "counts": dict(self.counts),
            "diagnostics": self.diagnostics.to_state(),
            "documents": None if self.documents is None else self.documents.to_state(),
            **({"slices": self.slices.to_state()} if self.slices is not None else {}),
            **(
                {"calibration": self.calibration.to_state()} if self.calibration is not None else {}
            ),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TokenState:
        if state.get("kind") != _STATE_KIND:
            raise ValueError("not a token state")
        documents = state.get("documents")
        slices = state.get("slices")
        calibration = state.get("calibration")
        return cls(
            int(state["n_rows"]),
            int(state["n_evaluated"]),
            int(state["n_masked"]),
            int(state["n_ignored"]),
            [ExactSums.from_state(part) for part in state["sums"]],
            {k: int(state["counts"][k]) for k in COUNTS},
            dx.Diagnostics.from_state(state["diagnostics"]),
            None if documents is None else KeyedSums.from_state(documents),
            None if slices is None else KeyedSums.from_state(slices),
            None if calibration is None else _calibration_state(calibration),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenState):
            return NotImplemented
        return self.to_state() == other.to_state()

    __hash__ = None  # type: ignore[assignment]


def _calibration_state(saved: dict[str, Any]) -> CalibrationState:
    from xent_cli.metrics.calibration import CalibrationState

    return CalibrationState.from_state(saved)
