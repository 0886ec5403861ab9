"""The result of an evaluation: every number, the settings that made it, and the warnings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import __version__
from . import diagnostics as dx
from .options import Base, Mode

if TYPE_CHECKING:
    from .accumulate import ClassTotals
    from .engine import Run


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
            "weight": _number(self.weight),
            "loss": _number(self.loss),
            "loss_sum": _number(self.loss_sum),
            "share": _number(self.share),
            "accuracy": _number(self.accuracy),
            "mean_p_true": _number(self.mean_p_true),
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
    version: str = __version__

    @property
    def n_skipped(self) -> int:
        return self.n_rows - self.n_evaluated

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
            "loss": _number(self.loss),
            "loss_sum": _number(self.loss_sum),
            "perplexity": _number(self.perplexity),
            "accuracy": _number(self.accuracy),
            "weight_sum": _number(self.weight_sum),
            "mean_p_true": _number(self.mean_p_true),
            "zero_probability": self.zero_probability,
            "columns": self.columns,
            "classes": [c.to_dict() for c in self.classes],
            "warnings": [w.to_dict(self.has_ids) for w in self.warnings],
        }


def _number(value: float | None) -> float | str | None:
    """Strict JSON: non-finite numbers as the strings "inf", "-inf", "nan"."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def build_report(run: Run, files: list[str], totals: ClassTotals) -> Report:
    """Weighted means per class and overall, converted to the chosen base."""
    settings = run.settings
    per_nat = 1.0 / settings.base.log
    total_loss = float(totals.loss_sum.sum())
    total_weight = float(totals.weight.sum())
    classes = []
    for k, name in enumerate(run.current_class_names()):
        weight = float(totals.weight[k])
        loss_sum = float(totals.loss_sum[k])
        mean = _ratio(loss_sum, weight)
        classes.append(
            ClassResult(
                name=str(name),
                count=int(totals.count[k]),
                weight=weight,
                loss=mean * per_nat if mean is not None else None,
                loss_sum=loss_sum * per_nat,
                share=_share(loss_sum, total_loss, int(totals.count[k])),
                accuracy=_ratio(float(totals.correct[k]), weight),
                mean_p_true=_ratio(float(totals.p_true_sum[k]), weight),
                zero_probability=int(totals.zero_probability[k]),
            )
        )
    loss_nats = total_loss / total_weight
    warnings = run.warning_records()
    roles = run.roles
    columns: dict[str, Any] = {
        "label": list(roles.label_columns)
        if run.mode is Mode.multilabel
        else (roles.label_columns[0] if roles.label_columns else None),
        "scores": roles.list_column or list(roles.score_columns),
    }
    for key, value in (
        ("targets", list(roles.target_columns)),
        ("weight", roles.weight_column),
        ("id", roles.id_column),
    ):
        if value:
            columns[key] = value
    return Report(
        files=files,
        mode=run.mode.value,
        kind=run.kind.value,
        kind_source=run.kind_source,
        base=settings.base.value,
        eps=settings.eps,
        n_rows=run.n_rows,
        n_evaluated=run.n_evaluated,
        loss=loss_nats * per_nat,
        loss_sum=total_loss * per_nat,
        perplexity=math.exp(loss_nats) if loss_nats < 709 else math.inf,
        accuracy=float(totals.correct.sum()) / total_weight,
        weight_sum=total_weight,
        mean_p_true=float(totals.p_true_sum.sum()) / total_weight,
        zero_probability=int(totals.zero_probability.sum()),
        classes=classes,
        warnings=warnings,
        columns=columns,
        has_ids=roles.id_column is not None,
    )


def _share(loss_sum: float, total: float, count: int) -> float | None:
    if count == 0:
        return 0.0
    if total == 0:
        return 0.0
    if math.isinf(total):
        return math.nan if math.isinf(loss_sum) else 0.0
    return loss_sum / total
