"""The result of an evaluation: every number, the settings that made it, and the warnings."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xent_cli.core import diagnostics as dx
from xent_cli.core.gates import Gate, gate_reasons
from xent_cli.errors import XentError
from xent_cli.jsonvalues import json_number
from xent_cli.metrics.base import CoreTotals
from xent_cli.options import Base, Mode
from xent_cli.version import __version__

if TYPE_CHECKING:
    from xent_cli.core.plan import Plan
    from xent_cli.core.slice_report import SliceReport
    from xent_cli.core.state import EvalState
    from xent_cli.metrics.calibration import Calibration

IGNORED_OPTION = "ignored-option"  # an option that cannot apply to this input (count 0)


@dataclass(frozen=True)
class ClassResult:
    """One class (binary: one label value; multilabel: one label column)."""

    name: str
    count: int
    weight: float
    loss: float | None  # weighted mean, in the report's base; None when count == 0
    loss_sum: float
    share: float | None  # this class's loss_sum / total loss_sum
    accuracy: float | None
    mean_p_true: float | None
    zero_probability: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.name,
            "count": self.count,
            "weight": json_number(self.weight),
            "loss": json_number(self.loss),
            "loss_sum": json_number(self.loss_sum),
            "share": json_number(self.share),
            "accuracy": json_number(self.accuracy),
            "mean_p_true": json_number(self.mean_p_true),
            "zero_probability": self.zero_probability,
        }


@dataclass(frozen=True)
class Report:
    """Everything ``xent eval`` prints; ``to_dict()`` is exactly its JSON output."""

    files: list[str]
    mode: str
    kind: str
    kind_source: str
    base: str
    eps: float
    n_rows: int
    n_evaluated: int
    loss: float
    loss_sum: float
    perplexity: float
    accuracy: float
    weight_sum: float
    mean_p_true: float
    zero_probability: int
    classes: list[ClassResult]
    warnings: list[dx.WarningRecord] = field(default_factory=list)
    columns: dict[str, Any] = field(default_factory=dict)
    has_ids: bool = False
    signature: str = ""
    version: str = __version__
    gate: Gate = field(default_factory=Gate)
    n_ignored: int | None = None  # --ignore-label: rows (multilabel: cells) left out
    n_ignored_rows: int | None = None  # multilabel --ignore-label: rows with no cell left
    slices: SliceReport | None = None  # --by
    metrics: dict[str, Any] = field(default_factory=dict)  # add-on metrics' results, by key

    @property
    def calibration(self) -> Calibration | None:
        """--calibration: its figures (None without); short for ``metrics.get("calibration")``."""
        return self.metrics.get("calibration")

    @property
    def n_skipped(self) -> int:
        if self.n_ignored_rows is not None:  # multilabel: n_ignored counts cells
            return self.n_rows - self.n_evaluated - self.n_ignored_rows
        return self.n_rows - self.n_evaluated - (self.n_ignored or 0)

    @property
    def unit(self) -> str:
        return Base(self.base).unit

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "files": self.files,
            "mode": self.mode,
            "kind": self.kind,
            "kind_source": self.kind_source,
            "base": self.base,
            "unit": self.unit,
            "eps": self.eps,
            "n_rows": self.n_rows,
            "n_evaluated": self.n_evaluated,
            "n_skipped": self.n_skipped,
            **({"n_ignored": self.n_ignored} if self.n_ignored is not None else {}),
            **({"n_ignored_rows": self.n_ignored_rows} if self.n_ignored_rows is not None else {}),
            "loss": json_number(self.loss),
            "loss_sum": json_number(self.loss_sum),
            "perplexity": json_number(self.perplexity),
            "accuracy": json_number(self.accuracy),
            "weight_sum": json_number(self.weight_sum),
            "mean_p_true": json_number(self.mean_p_true),
            "zero_probability": self.zero_probability,
            "columns": self.columns,
            "classes": [c.to_dict() for c in self.classes],
            "warnings": [w.to_dict(self.has_ids) for w in self.warnings],
            **{key: result.to_dict() for key, result in self.metrics.items()},
            **({"slices": self.slices.to_dict()} if self.slices is not None else {}),
            "gate": self.gate.to_dict(),
            "signature": self.signature,
        }


def apply_gate(
    report: Report,
    max_loss: float | None,
    strict: bool,
    *,
    max_slice_loss: float | None = None,
    max_slice_gap: float | None = None,
) -> Report:
    """The report with its gates judged: ``--max-loss`` fails when the overall loss exceeds
    it (or is NaN), ``--strict`` when there is any warning; with ``--by``,
    ``--max-slice-loss`` when an eligible slice's loss exceeds it and ``--max-slice-gap``
    when the worst eligible slice's loss is more than it above the overall loss."""
    reasons = gate_reasons(report.loss, report.unit, report.warnings, max_loss, strict)
    for name, value in (("--max-slice-loss", max_slice_loss), ("--max-slice-gap", max_slice_gap)):
        if value is not None and not value >= 0:
            raise XentError(f"{name} must be a number >= 0, got {value}")
        if value is not None and report.slices is None:
            raise XentError(f"{name} needs --by COL (the slices it judges)")
    if report.slices is not None:
        from xent_cli.core.slice_report import slice_gate_reasons

        reasons += slice_gate_reasons(
            report.slices, report.loss, report.unit, max_slice_loss, max_slice_gap
        )
    gate = Gate(max_loss, strict, not reasons, tuple(reasons), max_slice_loss, max_slice_gap)
    return dataclasses.replace(report, gate=gate)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def check_evaluated(plan: Plan, state: EvalState, inputs: str) -> None:
    """The errors of a finished pass: no rows, no row evaluated, all weights zero."""
    if state.n_rows == 0:
        raise XentError(f"{inputs}: no data rows (only a header, or empty)")
    if state.n_evaluated == 0:
        records = state.diagnostics.records(plan.settings)
        counts = [f"{r.count} {r.code}" for r in records if r.count]
        ignored = state.n_ignored_rows if plan.mode is Mode.multilabel else state.n_ignored
        left_out = "skipped or ignored" if ignored else "skipped"
        reasons = ", ".join([*counts, *([f"{ignored} ignored"] if ignored else [])])
        raise XentError(
            f"{inputs}: no rows to evaluate: all {state.n_rows} rows were {left_out} ({reasons})",
            hint="missing-label: empty label; non-finite: a NaN or infinite score or weight"
            + ("; ignored: every label (cell) is --ignore-label's value" if ignored else ""),
        )


def warning_records(plan: Plan, state: EvalState) -> list[dx.WarningRecord]:
    """The state's warnings in report order, each with its sentence, and the one that only
    the whole input can tell: logits that all looked like probabilities."""
    records = state.diagnostics.records(plan.settings)
    if plan.checks_probabilities_as_logits and state.looks_like_probs and state.n_evaluated:
        record = dx.WarningRecord(dx.PROBABILITIES_AS_LOGITS, count=state.n_evaluated)
        record.message = dx.describe(record, plan.settings)
        records.append(record)
    if plan.settings.positive is not None and plan.mode is not Mode.binary:
        records.append(
            dx.WarningRecord(
                IGNORED_OPTION,
                message=f"--positive has no effect in {plan.mode.value} mode (it names the "
                "positive label value in binary mode)",
            )
        )
    return records


def report_columns(plan: Plan) -> dict[str, Any]:
    """The columns the plan chose, by role (in every report)."""
    roles = plan.roles
    columns: dict[str, Any] = {
        "label": list(roles.label_columns)
        if plan.mode is Mode.multilabel
        else (roles.label_columns[0] if roles.label_columns else None),
        "scores": roles.list_column or list(roles.score_columns),
    }
    if roles.classes_numbered:
        columns["classes"] = "numbers in the column names"
    for key, value in (
        ("targets", list(roles.target_columns)),
        ("weight", roles.weight_column),
        ("id", roles.id_column),
    ):
        if value:
            columns[key] = value
    return columns


def build_report(
    plan: Plan,
    state: EvalState,
    files: list[str],
    inputs: str,
    *,
    min_slice_size: int | None = None,
) -> Report:
    """Finish a state: weighted means per class and overall, in the chosen base.

    Every figure is a ratio of sums that were each rounded once from their exact value.
    """
    check_evaluated(plan, state, inputs)
    sums = state.totals.finish()
    if not sums.total_weight > 0:
        raise XentError(
            f"{inputs}: the weights in column {plan.roles.weight_column!r} are 0 "
            f"for all {state.n_evaluated} evaluated rows",
            hint="the weighted mean loss is undefined; check the --weight column",
        )
    settings = plan.settings
    per_nat = 1.0 / settings.base.log
    classes = []
    for k, name in enumerate(state.class_names(plan)):
        weight = float(sums.weight[k])
        loss_sum = float(sums.loss_sum[k])
        mean = _ratio(loss_sum, weight)
        classes.append(
            ClassResult(
                name=str(name),
                count=int(sums.count[k]),
                weight=weight,
                loss=mean * per_nat if mean is not None else None,
                loss_sum=loss_sum * per_nat,
                share=_share(loss_sum, sums.total_loss, int(sums.count[k])),
                accuracy=_ratio(float(sums.correct[k]), weight),
                mean_p_true=_ratio(float(sums.p_true_sum[k]), weight),
                zero_probability=int(sums.zero_probability[k]),
            )
        )
    loss_nats = sums.total_loss / sums.total_weight
    slices = None
    slicer = state.slicer if state.slicer is not None else plan.slicer  # loaded: the plan's
    if state.slices is not None and slicer is not None:
        from xent_cli.core.slice_report import build_slices
        from xent_cli.core.slicer import DEFAULT_MIN_SLICE_SIZE

        size = DEFAULT_MIN_SLICE_SIZE if min_slice_size is None else min_slice_size
        slices = build_slices(
            slicer, state.slices, loss_nats * per_nat, per_nat, size, plan.slice_metrics
        )
    core = CoreTotals(
        [c.name for c in classes], sums.total_loss, sums.total_weight, settings.base.log
    )
    metrics = {
        m.key: m.finish(state.metrics[m.key], core) for m in plan.metrics if m.key in state.metrics
    }
    return Report(
        files=files,
        mode=plan.mode.value,
        kind=plan.kind.value,
        kind_source=plan.kind_source,
        base=settings.base.value,
        eps=settings.eps,
        n_rows=state.n_rows,
        n_evaluated=state.n_evaluated,
        n_ignored=state.n_ignored if plan.settings.ignore_label is not None else None,
        n_ignored_rows=state.n_ignored_rows
        if plan.settings.ignore_label is not None and plan.mode is Mode.multilabel
        else None,
        loss=loss_nats * per_nat,
        loss_sum=sums.total_loss * per_nat,
        perplexity=math.exp(loss_nats) if loss_nats < 709 else math.inf,
        accuracy=sums.total_correct / sums.total_weight,
        weight_sum=sums.total_weight,
        mean_p_true=sums.total_p_true / sums.total_weight,
        zero_probability=int(sums.zero_probability.sum()),
        classes=classes,
        warnings=warning_records(plan, state),
        columns=report_columns(plan),
        has_ids=plan.roles.id_column is not None,
        signature=plan.signature(),
        slices=slices,
        metrics=metrics,
    )


def _share(loss_sum: float, total: float, count: int) -> float | None:
    if count == 0:
        return 0.0
    if total == 0:
        return 0.0
    if math.isinf(total):
        return math.nan if math.isinf(loss_sum) else 0.0
    return loss_sum / total
