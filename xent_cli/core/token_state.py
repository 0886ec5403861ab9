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

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.core import diagnostics as dx
from xent_cli.io.arrays import floats
from xent_cli.kernels.exact import ExactSums
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


@dataclass
class KeyedSums:
    """Per key (a document id, a slice, as text): an exact ``Σl`` and integer counts (for
    documents: tokens, bytes, words; for slices: rows, tokens, units)."""

    keys: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    loss: ExactSums = field(default_factory=lambda: ExactSums(0))
    counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 3), np.int64))

    def __len__(self) -> int:
        return len(self.keys)

    def add(
        self,
        keys: list[str],
        codes: NDArray[np.intp],
        loss: NDArray[np.float64],
        columns: list[NDArray[np.int64] | None],
    ) -> None:
        """Fold rows in: row ``i`` belongs to ``keys[codes[i]]``; ``columns``: its counts (a
        None column adds nothing)."""
        known = self.index
        found = [known.get(key) for key in keys]
        for i, code in enumerate(found):  # keys not seen before (each batch: a few)
            if code is None:
                key = keys[i]
                code = known.get(key)  # (a key twice in ``keys``: once added, found)
                if code is None:
                    code = known[key] = len(self.keys)
                    self.keys.append(key)
                found[i] = code
        remap = np.array(found, np.intp)
        if len(self.keys) > self.loss.n_buckets:
            self._grow(len(self.keys))
        buckets = remap[codes]
        self.loss.add(buckets, loss)
        n = len(self.keys)
        for j, column in enumerate(columns):
            if column is not None:  # integer sums below 2**53: exact in float64
                added = np.bincount(buckets, weights=column, minlength=n)
                self.counts[:n, j] += added.astype(np.int64)

    def add_documents(self, rows: TokenRows) -> None:
        """Fold a batch's rows into their documents' sums (tokens, bytes, words)."""
        assert rows.doc is not None
        import pyarrow.compute as pc

        values = pc.unique(rows.doc)
        local = floats(pc.index_in(rows.doc, value_set=values), "", None).astype(np.intp)
        plain = values.to_pylist()
        if pa.types.is_integer(values.type) or pa.types.is_string(values.type):
            keys = [str(v) for v in plain]  # the common ids: no conversion to choose
        else:
            keys = [document_key(v) for v in plain]
        self.add(keys, local, rows.loss, [rows.tokens, rows.n_bytes, rows.words])

    def _grow(self, n: int) -> None:
        room = max(n, 2 * self.loss.n_buckets, 1024)
        self.loss = self.loss.resized(room)
        self.counts = np.pad(self.counts, ((0, room - len(self.counts)), (0, 0)))

    def merge(self, other: KeyedSums) -> KeyedSums:
        """Both sides' keys; a key in both has its sums added."""
        keys = list(dict.fromkeys([*self.keys, *other.keys]))
        index = {key: i for i, key in enumerate(keys)}
        n = len(keys)
        mine = np.arange(len(self.keys), dtype=np.intp)
        theirs = np.array([index[k] for k in other.keys], np.intp)
        loss = _placed(self.loss, mine, n).merge(_placed(other.loss, theirs, n))
        counts = np.zeros((n, 3), np.int64)
        counts[mine] += self.counts[: len(self.keys)]
        counts[theirs] += other.counts[: len(other.keys)]
        return KeyedSums(keys, index, loss, counts)

    def finish(
        self, *, ordered: bool = False
    ) -> tuple[list[str], NDArray[np.float64], NDArray[np.int64]]:
        """The keys, each key's ``Σl`` (rounded once) and counts: in the order the keys came
        (the figures of sums do not depend on it), or in key order (``ordered``)."""
        n = len(self.keys)
        losses = self.loss.finish()[:n] if n else np.zeros(0)
        if not ordered:
            return self.keys, losses, self.counts[:n]
        order = sorted(range(n), key=self.keys.__getitem__)
        take = np.array(order, np.intp)
        return [self.keys[i] for i in order], losses[take], self.counts[take]

    def to_state(self) -> dict[str, Any]:
        keys, _, counts = self.finish(ordered=True)
        order = np.array(sorted(range(len(self.keys)), key=self.keys.__getitem__), np.intp)
        placed = _placed(self.loss, np.argsort(order).astype(np.intp), len(keys))
        return {"keys": keys, "loss": placed.to_state(), "counts": counts.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> KeyedSums:
        keys = [str(k) for k in state["keys"]]
        counts = np.array(state["counts"], np.int64).reshape(len(keys), 3)
        loss = ExactSums.from_state(state["loss"])
        if loss.n_buckets != len(keys):
            raise ValueError("keyed sums: one exact sum per key expected")
        return cls(keys, {k: i for i, k in enumerate(keys)}, loss, counts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyedSums):
            return NotImplemented
        return self.to_state() == other.to_state()

    __hash__ = None  # type: ignore[assignment]


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


def _placed(sums: ExactSums, targets: NDArray[np.intp], n: int) -> ExactSums:
    """``sums``' bucket ``i`` moved to bucket ``targets[i]`` of a state of ``n`` buckets
    (the others empty): exact, through the digits of the saved state."""
    state = sums.to_state()
    width = int(state["n_digits"])  # type: ignore[call-overload]
    digits = np.array(state["digits"], np.int64).reshape(sums.n_buckets, width)
    moved = np.zeros((n, width), np.int64)
    used = min(len(targets), sums.n_buckets)
    moved[targets[:used]] = digits[:used]
    nonfinite = [
        [int(targets[row]), *rest]
        for row, *rest in state["nonfinite"]  # type: ignore[attr-defined]
        if row < used
    ]
    return ExactSums.from_state(
        {**state, "n_buckets": n, "digits": moved.reshape(-1).tolist(), "nonfinite": nonfinite}
    )


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

    def add(self, rows: TokenRows) -> None:
        """Fold in one batch's scored rows (the counts of rows read, masked and ignored are
        added by the caller)."""
        n = len(rows.loss)
        self.n_evaluated += n
        if not n:
            return
        loss, unit = rows.loss, rows.unit.astype(np.float64)
        parts = [(LOSS, loss), (LOSS_SQUARED, loss * loss), (LOSS_TIMES_UNIT, loss * unit)]
        if rows.p_true is not None:
            parts.append((P_TRUE, rows.p_true))
            self.counts["n_p_true"] += len(rows.p_true)
        if rows.top_p is not None and rows.top1 is not None:
            parts.append((TOP_P, rows.top_p))
            self.counts["top1"] += int(rows.top1.sum())
            self.counts["n_topk"] += len(rows.top1)
        for b, values in parts:
            self.sums[b].add(None, values)
        self.counts["tokens"] += int(rows.tokens.sum())
        if rows.n_bytes is not None:
            self.counts["bytes"] += int(rows.n_bytes.sum())
        if rows.words is not None:
            self.counts["words"] += int(rows.words.sum())
        unit_int = rows.unit.astype(np.int64)
        if len(unit_int) and int(unit_int.max()) < 1 << 20:  # the int64 sum cannot overflow
            self.counts["unit_squared"] += int((unit_int * unit_int).sum())
        else:
            self.counts["unit_squared"] += sum(int(u) * int(u) for u in unit_int.tolist())
        if self.documents is not None:
            self.documents.add_documents(rows)

    def merge(self, other: TokenState) -> TokenState:
        """Both states (associative and commutative)."""
        documents = slices = calibration = None
        if self.calibration is not None and other.calibration is not None:
            calibration = self.calibration.merge(other.calibration)
        if self.documents is not None and other.documents is not None:
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
            None if calibration is None else CalibrationState.from_state(calibration),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenState):
            return NotImplemented
        return self.to_state() == other.to_state()

    __hash__ = None  # type: ignore[assignment]
