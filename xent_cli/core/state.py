"""The mergeable state of an evaluation: what a pass has seen, before it becomes a report.

``add`` folds in one prepared batch, ``merge`` combines two states (associative and
commutative: any split of the rows, merged in any order, gives an equal state), and
:func:`xent_cli.core.report.build_report` finishes a state into a
:class:`~xent_cli.core.report.Report`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xent_cli.core import diagnostics as dx
from xent_cli.core.labels import BinaryLookup, merge_learned
from xent_cli.core.plan import Plan
from xent_cli.core.prepare import Prepared
from xent_cli.core.slicer import Key, Slicer
from xent_cli.kernels.accumulate import ClassTotals
from xent_cli.metrics.calibration import CalibrationState
from xent_cli.metrics.confidence import Confidences
from xent_cli.options import EceTarget, Mode


@dataclass
class EvalState:
    """Counts, exact per-class sums and warnings of the rows seen so far."""

    n_rows: int
    n_evaluated: int
    totals: ClassTotals
    diagnostics: dx.Diagnostics
    looks_like_probs: bool = True  # logits checked: every row so far in [0, 1], summing to 1
    labels: dict[str, Any] | None = None  # binary: what the label lookup learned (see labels.py)
    slices: SliceStates | None = None  # --by: one state per slice (see slices.py)
    slicer: Any = None  # --by: the plan's slices.Slicer (not part of the saved state)
    calibration: CalibrationState | None = None  # --calibration: bins, Brier, temperatures
    convention: Any = None  # --calibration: the plan's calibration.Convention (not saved)

    @classmethod
    def empty(cls, plan: Plan) -> EvalState:
        weighted = plan.roles.weight_column is not None
        state = cls(
            0,
            0,
            ClassTotals.zeros(plan.n_classes, weighted),
            dx.Diagnostics(plan.settings.top_warnings),
        )
        if plan.slicer is not None:
            state.slices, state.slicer = SliceStates.empty(plan), plan.slicer
        if plan.settings.calibration is not None:
            state.convention = plan.calibration
            state.calibration = CalibrationState.empty(state.convention, plan.n_classes, weighted)
        return state

    def add(self, batch: Prepared) -> None:
        """Fold in one batch (batches of one pass arrive in input order)."""
        self.n_rows += batch.n_rows
        self.n_evaluated += batch.n_evaluated
        limit = self.diagnostics.limit
        for code in dx.CODES:
            local = batch.warnings.get(code)
            if local is not None and len(local):
                ids = batch.ids_of_rows(local[:limit])
                self.diagnostics.add(code, (batch.start + local).tolist(), ids)
        scored = batch.scored
        if scored is None:
            return
        self.looks_like_probs &= batch.in_unit
        self.totals.add(
            scored.classes, scored.loss, batch.weight, scored.correct, scored.p_true, scored.zero
        )
        if self.slices is not None and batch.slice_columns:
            self.slices.add(self.slicer, batch)
        if self.calibration is not None and batch.confidences is not None:
            self.calibration.add(self.convention, batch.confidences, batch.weight, batch.grid)

    def merge(self, other: EvalState) -> EvalState:
        return EvalState(
            self.n_rows + other.n_rows,
            self.n_evaluated + other.n_evaluated,
            self.totals.merge(other.totals),
            self.diagnostics.merge(other.diagnostics),
            self.looks_like_probs and other.looks_like_probs,
            merge_learned(self.labels, other.labels),
            _merge_slices(self.slices, other.slices),
            self.slicer if self.slicer is not None else other.slicer,
            _merge_calibration(self.calibration, other.calibration),
            self.convention if self.convention is not None else other.convention,
        )

    def shifted(self, offset: int) -> EvalState:
        """The same state with its warnings' row numbers moved by ``offset`` (a part that
        starts ``offset`` rows into the whole input)."""
        return EvalState(
            self.n_rows,
            self.n_evaluated,
            self.totals,
            self.diagnostics.shifted(offset),
            self.looks_like_probs,
            self.labels,
            self.slices,
            self.slicer,
            self.calibration,
            self.convention,
        )

    def class_names(self, plan: Plan) -> list[str]:
        """The per-class table's names; binary: the two label values the rows held."""
        if plan.mode is not Mode.binary or self.labels is None:
            return plan.current_class_names()
        lookup = BinaryLookup(plan.settings.positive)
        lookup.learn(self.labels)
        return lookup.class_names

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable and exact (saved states, Dask tasks)."""
        return {
            "n_rows": self.n_rows,
            "n_evaluated": self.n_evaluated,
            "totals": self.totals.to_state(),
            "warnings": self.diagnostics.to_state(),
            "looks_like_probs": self.looks_like_probs,
            "labels": self.labels,
            **({"slices": self.slices.to_state()} if self.slices is not None else {}),
            **(
                {"calibration": self.calibration.to_state()} if self.calibration is not None else {}
            ),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EvalState:
        slices = None
        if state.get("slices") is not None:
            slices = SliceStates.from_state(state["slices"])
        calibration = None
        if state.get("calibration") is not None:
            calibration = CalibrationState.from_state(state["calibration"])
        return cls(
            int(state["n_rows"]),
            int(state["n_evaluated"]),
            ClassTotals.from_state(state["totals"]),
            dx.Diagnostics.from_state(state["warnings"]),
            bool(state["looks_like_probs"]),
            state.get("labels"),
            slices,
            calibration=calibration,
        )


def _merge_slices(a: SliceStates | None, b: SliceStates | None) -> SliceStates | None:
    if a is None or b is None:
        return a if b is None else b
    return a.merge(b)


def _merge_calibration(
    a: CalibrationState | None, b: CalibrationState | None
) -> CalibrationState | None:
    if a is None or b is None:
        return a if b is None else b
    return a.merge(b)


def slice_convention(plan: Plan) -> Any:
    """The calibration convention of each slice: the run's, for top or positive targets
    (classwise and the temperature scan are the whole run's only)."""
    convention = plan.calibration
    if convention is None:
        return None
    if convention.target is EceTarget.classwise:
        return None
    return dataclasses.replace(convention, decompose=False)


# -- --by: every slice's state, side by side ------------------------------------------------

FLUSH_ENTRIES = 1 << 20  # calibration entries buffered before they are filed into their slices
FIRST_CAPACITY = 16  # slices the side-by-side totals have room for before they first grow


@dataclass
class _Pending:
    """Calibration entries of some batches, not yet filed into their slices."""

    codes: list[NDArray[np.intp]] = field(default_factory=list)
    confidences: list[tuple[NDArray[Any], ...]] = field(default_factory=list)
    weights: list[NDArray[np.float64]] = field(default_factory=list)
    entries: int = 0


@dataclass
class _SideBySide:
    """Every slice's per-class totals in one :class:`ClassTotals`: slice code ``c``'s class
    ``j`` is class ``c * n_classes + j``. A batch is one ``add`` whatever its slices: no
    sort, no copy per slice. Room for ``capacity`` slices, doubled when more appear."""

    totals: ClassTotals
    rows: NDArray[np.int64]  # rows per slice code
    n_classes: int

    @property
    def capacity(self) -> int:
        return len(self.rows)

    @classmethod
    def empty(cls, capacity: int, n_classes: int, weighted: bool) -> _SideBySide:
        totals = ClassTotals.zeros(capacity * n_classes, weighted)
        return cls(totals, np.zeros(capacity, np.int64), n_classes)

    def grown(self, n_slices: int) -> _SideBySide:
        """Room for at least ``n_slices`` slices (doubling: a batch of new slices is rare)."""
        if n_slices <= self.capacity:
            return self
        capacity = max(2 * self.capacity, n_slices)
        totals = self.totals.resized(capacity * self.n_classes)
        rows = np.pad(self.rows, (0, capacity - self.capacity))
        return _SideBySide(totals, rows, self.n_classes)


@dataclass(eq=False)
class SliceStates:
    """One :class:`EvalState` per slice key (mergeable: a merge is per key).

    The per-class sums of all slices are accumulated side by side (:class:`_SideBySide`) and
    handed to the slices' states when these are asked for; calibration entries are buffered
    (at most :data:`FLUSH_ENTRIES`) and filed one ``add`` per slice per flush. The sums are
    exact, so neither changes a figure. A slice's state keeps no warnings and no evidence of
    probabilities passed as logits (those are the run's, judged by batch: per slice they would
    depend on how the rows were split)."""

    n_classes: int
    weighted: bool
    _states: dict[Key, EvalState] = field(default_factory=dict)
    convention: Any = field(default=None, repr=False)  # per-slice calibration
    _keys: list[Key] = field(default_factory=list, repr=False)
    _index: dict[Key, int] = field(default_factory=dict, repr=False)
    _side: _SideBySide | None = field(default=None, repr=False)
    _pending: _Pending = field(default_factory=_Pending, repr=False)

    @classmethod
    def empty(cls, plan: Plan) -> SliceStates:
        return cls(plan.n_classes, plan.roles.weight_column is not None, {}, slice_convention(plan))

    @property
    def states(self) -> dict[Key, EvalState]:
        """Each slice's state, everything added so far filed."""
        self.flush()
        return self._states

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SliceStates):
            return NotImplemented
        return (self.n_classes, self.weighted, self.states) == (
            other.n_classes,
            other.weighted,
            other.states,
        )

    __hash__ = None  # type: ignore[assignment]

    def _state(self, key: Key) -> EvalState:
        state = self._states.get(key)
        if state is None:
            totals = ClassTotals.zeros(self.n_classes, self.weighted)
            state = self._states[key] = EvalState(0, 0, totals, dx.Diagnostics(0))
            if self.convention is not None:
                state.convention = self.convention
                state.calibration = CalibrationState.empty(self.convention, 1, self.weighted)
        return state

    def add(self, slicer: Slicer, batch: Prepared) -> None:
        if batch.scored is None or not len(batch.local):
            return
        inverse, keys = slicer.local_codes(batch.slice_columns, batch.local)
        remap = np.empty(len(keys), np.intp)
        for i, key in enumerate(keys):
            code = self._index.get(key)
            if code is None:
                code = self._index[key] = len(self._keys)
                self._keys.append(key)
            remap[i] = code
        codes = remap[inverse]
        local = batch.local
        if len(local) > 1 and not (np.diff(local) > 0).all():  # multilabel: rows, not cells
            pairs = np.unique(codes.astype(np.int64) * (int(local.max()) + 1) + local)
            codes_of_rows = pairs // (int(local.max()) + 1)
        else:
            codes_of_rows = codes
        if self._side is None:
            capacity = max(FIRST_CAPACITY, len(self._keys))
            self._side = _SideBySide.empty(capacity, self.n_classes, self.weighted)
        side = self._side = self._side.grown(len(self._keys))
        rows = np.bincount(codes_of_rows)
        side.rows[: len(rows)] += rows
        s = batch.scored
        classes = codes * self.n_classes + s.classes
        side.totals.add(classes, s.loss, batch.weight, s.correct, s.p_true, s.zero)
        if self.convention is not None and batch.confidences is not None:
            c, pending = batch.confidences, self._pending
            pending.codes.append(codes)
            pending.confidences.append((c.confidence, c.observed, c.brier))
            if batch.weight is not None:
                pending.weights.append(batch.weight)
            pending.entries += len(codes)
            if pending.entries >= FLUSH_ENTRIES:
                self._file_calibration()

    def flush(self) -> None:
        """Hand the side-by-side totals and the buffered calibration entries to the slices."""
        side, self._side = self._side, None
        if side is not None:
            parts = side.totals.split(self.n_classes)
            for code, key in enumerate(self._keys):
                rows = int(side.rows[code])
                if not rows:
                    continue
                state = self._state(key)
                first = not state.n_rows
                state.n_rows += rows
                state.n_evaluated += rows
                state.totals = parts[code] if first else state.totals.merge(parts[code])
        self._file_calibration()

    def _file_calibration(self) -> None:
        """File the buffered calibration entries: one ``add`` per slice."""
        pending = self._pending
        if not pending.entries:
            return
        self._pending = _Pending()
        codes = np.concatenate(pending.codes)
        # stable: entries keep their order within a slice; 16-bit codes sort by radix, O(n)
        small = codes.astype(np.uint16) if len(self._keys) <= 1 << 16 else codes
        order = np.argsort(small, kind="stable")
        confidence, observed, brier = (
            np.concatenate([c[j] for c in pending.confidences])[order] for j in range(3)
        )
        weight = np.concatenate(pending.weights)[order] if pending.weights else None
        sizes = np.bincount(codes)
        present = np.flatnonzero(sizes)
        ends_all = np.cumsum(sizes)
        starts = (ends_all - sizes)[present]
        ends = ends_all[present].tolist()
        for code, lo, hi in zip(present.tolist(), starts.tolist(), ends, strict=True):
            state = self._state(self._keys[code])
            assert state.calibration is not None
            part = slice(lo, hi)
            rows = Confidences(confidence[part], observed[part], brier[part])
            w = weight[part] if weight is not None else None
            state.calibration.add(self.convention, rows, w, None)

    def merge(self, other: SliceStates) -> SliceStates:
        states = dict(self.states)
        for key, state in other.states.items():
            states[key] = states[key].merge(state) if key in states else state
        convention = self.convention if self.convention is not None else other.convention
        return SliceStates(self.n_classes, self.weighted, states, convention)

    def to_state(self) -> dict[str, Any]:
        return {
            "n_classes": self.n_classes,
            "weighted": self.weighted,
            "slices": [[list(k), s.to_state()] for k, s in self.states.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SliceStates:
        states = {tuple(k): EvalState.from_state(s) for k, s in state["slices"]}
        return cls(int(state["n_classes"]), bool(state["weighted"]), states)
