"""``xent rows``: one record per evaluated row, streamed, or the N highest-loss rows."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from xent_cli.core.engine import Scan
from xent_cli.core.plan import Plan
from xent_cli.core.prepare import Prepared
from xent_cli.core.report import check_evaluated
from xent_cli.core.state import EvalState
from xent_cli.kernels.scoring import Cells


@dataclass(frozen=True)
class RowRecord:
    row: int
    id: str | None
    label: str
    predicted: str
    p_true: float
    loss: float  # in the report's base

    def values(self) -> tuple[object, ...]:
        return (self.row, self.id, self.label, self.predicted, self.p_true, self.loss)


def _records(plan: Plan, batch: Prepared, order: np.ndarray | None = None) -> list[RowRecord]:
    scored = batch.scored
    assert scored is not None
    per_nat = 1.0 / plan.settings.base.log
    names = plan.current_class_names()
    take = np.arange(len(batch.local)) if order is None else order
    ids = batch.ids(take)
    records = []
    for position, i in enumerate(take.tolist()):
        if isinstance(scored, Cells):
            name = names[scored.classes[i]]
            label = f"{name}={int(scored.outcome[i])}"
            predicted = f"{name}={int(scored.predicted[i])}"
        else:
            label = names[scored.classes[i]]
            predicted = names[scored.predicted[i]]
        records.append(
            RowRecord(
                row=int(batch.rows[i]),
                id=ids[position] if ids is not None else None,
                label=label,
                predicted=predicted,
                p_true=float(scored.p_true[i]),
                loss=float(scored.loss[i]) * per_nat,
            )
        )
    return records


def iter_records(scan: Scan, state: EvalState) -> Iterator[list[RowRecord]]:
    """Every evaluated row, batch by batch, in input order (``state`` gathers the warnings)."""
    for batch in scan.batches():
        state.add(batch)
        if batch.scored is not None:
            yield _records(scan.plan, batch)
    check_evaluated(scan.plan, state, scan.input_names())


def top_records(scan: Scan, state: EvalState, n: int) -> list[RowRecord]:
    """The ``n`` highest-loss rows, highest first (ties: earlier row first), in bounded memory."""
    best: list[RowRecord] = []
    for batch in scan.batches():
        state.add(batch)
        if batch.scored is None:
            continue
        loss = batch.scored.loss
        if len(loss) > n:
            keep = np.argpartition(-loss, n - 1)[:n]
            keep.sort()
        else:
            keep = np.arange(len(loss))
        best = _highest(best + _records(scan.plan, batch, keep), n)
    check_evaluated(scan.plan, state, scan.input_names())
    return best


def _highest(records: list[RowRecord], n: int) -> list[RowRecord]:
    def key(r: RowRecord) -> tuple[float, int]:
        loss = r.loss if not math.isnan(r.loss) else math.inf
        return (-loss, r.row)

    return sorted(records, key=key)[:n]
