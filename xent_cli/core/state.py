"""The mergeable state of an evaluation: what a pass has seen, before it becomes a report.

``add`` folds in one prepared batch, ``merge`` combines two states (associative and
commutative: any split of the rows, merged in any order, gives an equal state), and
:func:`xent_cli.core.report.build_report` finishes a state into a
:class:`~xent_cli.core.report.Report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xent_cli.core import diagnostics as dx
from xent_cli.core.labels import BinaryLookup, merge_learned
from xent_cli.core.plan import Plan
from xent_cli.core.prepare import Prepared
from xent_cli.kernels.accumulate import ClassTotals
from xent_cli.options import Mode

if TYPE_CHECKING:
    from xent_cli.core.slices import SliceStates
    from xent_cli.metrics.calibration import CalibrationState


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
            from xent_cli.core.slices import SliceStates

            state.slices, state.slicer = SliceStates.empty(plan), plan.slicer
        if plan.settings.calibration is not None:
            from xent_cli.metrics.calibration import CalibrationState

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
            from xent_cli.core.slices import SliceStates

            slices = SliceStates.from_state(state["slices"])
        calibration = None
        if state.get("calibration") is not None:
            from xent_cli.metrics.calibration import CalibrationState

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
