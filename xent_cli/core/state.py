"""The mergeable state of an evaluation: what a pass has seen, before it becomes a report.

``add`` folds in one prepared batch, ``merge`` combines two states (associative and
commutative: any split of the rows, merged in any order, gives an equal state), and
:func:`xent_cli.core.report.build_report` finishes a state into a
:class:`~xent_cli.core.report.Report`. Merging, ``==``, the saved state (``to_state`` /
``from_state``) and the fingerprint are derived from the fields' declared rules
(:mod:`xent_cli.kernels.mergeable`); the add-on metrics' states are held by key and driven
through :class:`~xent_cli.metrics.base.ActiveMetric`, one loop for all of them.
"""

from __future__ import annotations

import dataclasses
import operator
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
from xent_cli.kernels.mergeable import (
    FieldState,
    attached,
    counted,
    flattened,
    keyed,
    nested,
    rare_count,
    reduced,
    setting,
)
from xent_cli.metrics import state_loaders
from xent_cli.metrics.base import ActiveMetric
from xent_cli.metrics.calibration import CalibrationState
from xent_cli.options import Mode


@dataclass(eq=False)
class EvalState(FieldState):
    """Counts, exact per-class sums, warnings and add-on metrics of the rows seen so far."""

    n_rows: int = counted()
    n_evaluated: int = counted()
    totals: ClassTotals = nested(ClassTotals)
    diagnostics: dx.Diagnostics = nested(dx.Diagnostics, key="warnings")
    # logits checked: every row so far in [0, 1], summing to 1
    looks_like_probs: bool = reduced(operator.and_, True, convert=bool)
    # binary: what the label lookup learned (see labels.py)
    labels: dict[str, Any] | None = reduced(merge_learned, None)
    slices: SliceStates | None = nested(lambda: SliceStates, optional=True)  # --by
    # add-on metrics' states by key (--calibration: "calibration"), each saved under its key
    metrics: dict[str, Any] = flattened(state_loaders)
    slicer: Slicer | None = attached()  # --by: the plan's (not part of the saved state)
    active: tuple[ActiveMetric, ...] = attached(default=())  # the plan's metrics (not saved)
    n_ignored: int = rare_count()  # --ignore-label: rows (multilabel: cells) left out
    # multilabel --ignore-label: rows whose every cell is ignored (saved only when not 0)
    n_ignored_rows: int = rare_count()

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
        state.active = plan.metrics
        state.metrics = {m.key: m.empty(plan.n_classes, weighted) for m in plan.metrics}
        return state

    @property
    def calibration(self) -> CalibrationState | None:
        """--calibration: its state (None without); short for ``metrics.get("calibration")``."""
        return self.metrics.get("calibration")

    def add(self, batch: Prepared) -> None:
        """Fold in one batch (batches of one pass arrive in input order)."""
        self.n_rows += batch.n_rows
        self.n_evaluated += batch.n_evaluated
        self.n_ignored += batch.n_ignored
        self.n_ignored_rows += batch.n_ignored_rows
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
        if self.slices is not None and self.slicer is not None and batch.slice_columns:
            self.slices.add(self.slicer, batch)
        for metric in self.active:
            inputs = batch.metric_inputs.get(metric.key)
            if inputs is not None:
                metric.add(self.metrics[metric.key], inputs, batch.weight)

    def shifted(self, offset: int) -> EvalState:
        """The same state with its warnings' row numbers moved by ``offset`` (a part that
        starts ``offset`` rows into the whole input)."""
        return dataclasses.replace(self, diagnostics=self.diagnostics.shifted(offset))

    def class_names(self, plan: Plan) -> list[str]:
        """The per-class table's names; binary: the two label values the rows held."""
        if plan.mode is not Mode.binary or self.labels is None:
            return plan.current_class_names()
        lookup = BinaryLookup(plan.settings.positive)
        lookup.learn(self.labels)
        return lookup.class_names


# -- --by: every slice's state, side by side ------------------------------------------------

FLUSH_ENTRIES = 1 << 20  # metric entries buffered before they are filed into their slices
FIRST_CAPACITY = 16  # slices the side-by-side totals have room for before they first grow


@dataclass
class _Pending:
    """Some batches' entries for the slices' metrics, not yet filed into their slices:
    per entry its slice code and weight, and each metric's per-entry columns."""

    codes: list[NDArray[np.intp]] = field(default_factory=list)
    weights: list[NDArray[np.float64]] = field(default_factory=list)
    columns: dict[str, list[tuple[NDArray[Any], ...]]] = field(default_factory=dict)
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
class SliceStates(FieldState):
    """One :class:`EvalState` per slice key (mergeable: a merge is per key).

    The per-class sums of all slices are accumulated side by side (:class:`_SideBySide`) and
    handed to the slices' states when these are asked for; the add-on metrics' entries are
    buffered (at most :data:`FLUSH_ENTRIES`) and filed one ``add`` per slice per flush. The
    sums are exact, so neither changes a figure. A slice's state keeps no warnings and no
    evidence of probabilities passed as logits (those are the run's, judged by batch: per
    slice they would depend on how the rows were split)."""

    n_classes: int = setting(int)
    weighted: bool = setting(bool)
    _states: dict[Key, EvalState] = keyed(
        lambda: EvalState, encode=list, decode=tuple, key="slices"
    )
    active: tuple[ActiveMetric, ...] = attached(default=())  # the metrics with slice figures
    _keys: list[Key] = field(default_factory=list, init=False, repr=False)
    _index: dict[Key, int] = field(default_factory=dict, init=False, repr=False)
    _side: _SideBySide | None = field(default=None, init=False, repr=False)
    _pending: _Pending = field(default_factory=_Pending, init=False, repr=False)

    @classmethod
    def empty(cls, plan: Plan) -> SliceStates:
        return cls(plan.n_classes, plan.roles.weight_column is not None, {}, plan.slice_metrics)

    @property
    def states(self) -> dict[Key, EvalState]:
        """Each slice's state, everything added so far filed."""
        self.flush()
        return self._states

    def _settle(self) -> None:
        self.flush()

    def _state(self, key: Key) -> EvalState:
        state = self._states.get(key)
        if state is None:
            totals = ClassTotals.zeros(self.n_classes, self.weighted)
            state = self._states[key] = EvalState(0, 0, totals, dx.Diagnostics(0))
            state.metrics = {m.key: m.empty(self.n_classes, self.weighted) for m in self.active}
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
        if self.active and batch.metric_inputs:
            pending = self._pending
            pending.codes.append(codes)
            for metric in self.active:
                columns = metric.slice_columns(batch.metric_inputs[metric.key])
                pending.columns.setdefault(metric.key, []).append(columns)
            if batch.weight is not None:
                pending.weights.append(batch.weight)
            pending.entries += len(codes)
            if pending.entries >= FLUSH_ENTRIES:
                self._file_metrics()

    def flush(self) -> None:
        """Hand the side-by-side totals and the buffered metric entries to the slices."""
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
        self._file_metrics()

    def _file_metrics(self) -> None:
        """File the buffered metric entries: one ``add`` per slice and metric."""
        pending = self._pending
        if not pending.entries:
            return
        self._pending = _Pending()
        codes = np.concatenate(pending.codes)
        # stable: entries keep their order within a slice; 16-bit codes sort by radix, O(n)
        small = codes.astype(np.uint16) if len(self._keys) <= 1 << 16 else codes
        order = np.argsort(small, kind="stable")
        weight = np.concatenate(pending.weights)[order] if pending.weights else None
        columns = {
            key: [np.concatenate([c[j] for c in batches])[order] for j in range(len(batches[0]))]
            for key, batches in pending.columns.items()
        }
        sizes = np.bincount(codes)
        present = np.flatnonzero(sizes)
        ends_all = np.cumsum(sizes)
        starts = (ends_all - sizes)[present]
        ends = ends_all[present].tolist()
        for code, lo, hi in zip(present.tolist(), starts.tolist(), ends, strict=True):
            state = self._state(self._keys[code])
            part = slice(lo, hi)
            w = weight[part] if weight is not None else None
            for metric in self.active:
                inputs = metric.slice_inputs(tuple(c[part] for c in columns[metric.key]))
                metric.add(state.metrics[metric.key], inputs, w)
