"""The mergeable state of an evaluation: what a pass has seen, before it becomes a report.

``add`` folds in one prepared batch, ``merge`` combines two states (associative and
commutative: any split of the rows, merged in any order, gives an equal state), and
:func:`xent_cli.report.build_report` finishes a state into a :class:`~xent_cli.report.Report`.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import diagnostics as dx
from .accumulate import ClassTotals
from .plan import Plan
from .prepare import Prepared


@dataclass
class EvalState:
    """Counts, exact per-class sums and warnings of the rows seen so far."""

    n_rows: int
    n_evaluated: int
    totals: ClassTotals
    diagnostics: dx.Diagnostics
    looks_like_probs: bool = True  # logits checked: every row so far in [0, 1], summing to 1

    @classmethod
    def empty(cls, plan: Plan) -> EvalState:
        weighted = plan.roles.weight_column is not None
        return cls(
            0,
            0,
            ClassTotals.zeros(plan.n_classes, weighted),
            dx.Diagnostics(plan.settings.top_warnings),
        )

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

    def merge(self, other: EvalState) -> EvalState:
        return EvalState(
            self.n_rows + other.n_rows,
            self.n_evaluated + other.n_evaluated,
            self.totals.merge(other.totals),
            self.diagnostics.merge(other.diagnostics),
            self.looks_like_probs and other.looks_like_probs,
        )
