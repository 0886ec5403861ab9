"""The result of ``xent compare``: the whole comparison's figures, per class and per row,
its slices and its gate, as one frozen object with its JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xent_cli.comparison.slices import SliceComparison
from xent_cli.core.report import Report
from xent_cli.core.token_report import TokenReport
from xent_cli.jsonvalues import json_number
from xent_cli.version import __version__


@dataclass(frozen=True)
class ClassDelta:
    name: str
    count: int
    loss_baseline: float | None
    loss_candidate: float | None
    delta: float | None
    contribution: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.name,
            "count": self.count,
            "loss_baseline": json_number(self.loss_baseline),
            "loss_candidate": json_number(self.loss_candidate),
            "delta": json_number(self.delta),
            "contribution": json_number(self.contribution),
        }


@dataclass(frozen=True)
class RowDelta:
    row: int
    id: str | None
    label: str
    loss_baseline: float
    loss_candidate: float
    delta: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "id": self.id,
            "label": self.label,
            "loss_baseline": json_number(self.loss_baseline),
            "loss_candidate": json_number(self.loss_candidate),
            "delta": json_number(self.delta),
        }


@dataclass(frozen=True)
class ComparisonReport:
    """Everything ``xent compare`` prints; ``to_dict()`` is exactly its JSON output."""

    baseline: Report | TokenReport
    candidate: Report | TokenReport
    join: dict[str, Any]
    unit: str
    delta: float
    relative_delta: float | None
    loss_baseline: float  # over the paired rows, in the report's unit
    loss_candidate: float
    ci: dict[str, Any]
    test: dict[str, Any]
    classes: list[ClassDelta]
    gate: dict[str, Any]
    signature: str
    rows: list[RowDelta] | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    slices: SliceComparison | None = None  # --by (see compare_slices.py)
    version: str = __version__
    pair_by: str = "row"
    perplexity_ratio: float | None = None  # exp(delta in nats)
    correlation: float | None = None  # Pearson's, of the paired per-row losses
    documents: dict[str, Any] | None = None  # token files with documents
    distribution: dict[str, Any] | None = None  # both sides' full distributions compared

    @property
    def passed(self) -> bool:
        return bool(self.gate["passed"])

    def to_dict(self) -> dict[str, Any]:
        def side(report: Report | TokenReport) -> dict[str, Any]:
            return {
                "files": report.files,
                "loss": json_number(report.loss),
                "n_rows": report.n_rows,
                "n_evaluated": report.n_evaluated,
                "kind": report.kind,
                "mode": report.mode,
            }

        out: dict[str, Any] = {
            "version": self.version,
            "baseline": side(self.baseline),
            "candidate": side(self.candidate),
            "join": self.join,
            "unit": self.unit,
            "loss_baseline": json_number(self.loss_baseline),
            "loss_candidate": json_number(self.loss_candidate),
            "delta": json_number(self.delta),
            "relative_delta": json_number(self.relative_delta),
            "perplexity_ratio": json_number(self.perplexity_ratio),
            "correlation": json_number(self.correlation),
            "ci": {k: json_number(v) if isinstance(v, float) else v for k, v in self.ci.items()},
            "test": {
                k: json_number(v) if isinstance(v, float) else v for k, v in self.test.items()
            },
            "classes": [c.to_dict() for c in self.classes],
            "gate": self.gate,
            "warnings": self.warnings,
            "signature": self.signature,
        }
        out["pair_by"] = self.pair_by
        if self.documents is not None:
            out["documents"] = _numbers(self.documents)
        if self.distribution is not None:
            out["distribution"] = _numbers(self.distribution)
        if self.rows is not None:
            out["rows"] = [r.to_dict() for r in self.rows]
        if self.slices is not None:
            out["slices"] = self.slices.to_dict()
        return out


def _numbers(value: Any) -> Any:
    """A nested dict or list with every float written as strict JSON wants it."""
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, float):
        return json_number(value)
    return value
