"""The CI gates every report carries (``--max-loss``, ``--strict``; slices add their own),
and whether the report passed them: shared by the classifier's and the token files' reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from xent_cli.jsonvalues import json_number


@dataclass(frozen=True)
class Gate:
    """The CI gates of a run (``--max-loss``, ``--strict``) and whether the report passed."""

    max_loss: float | None = None
    strict: bool = False
    passed: bool = True
    reasons: tuple[str, ...] = ()  # one sentence per failed gate
    max_slice_loss: float | None = None
    max_slice_gap: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"max_loss": json_number(self.max_loss), "strict": self.strict}
        for key, value in (("max_slice_loss", self.max_slice_loss),
                           ("max_slice_gap", self.max_slice_gap)):  # fmt: skip
            if value is not None:
                out[key] = json_number(value)
        return {**out, "passed": self.passed, "reasons": list(self.reasons)}


def gate_reasons(
    loss: float, unit: str, warnings: Sequence[object], max_loss: float | None, strict: bool
) -> list[str]:
    """The failed gates of any report: ``--max-loss`` (also when the loss is NaN) and
    ``--strict`` (any warning)."""
    reasons = []
    if max_loss is not None and not loss <= max_loss:
        reasons.append(f"loss {loss:.6g} {unit} exceeds --max-loss {max_loss:g}")
    if strict and warnings:
        reasons.append(f"{len(warnings)} warning(s) under --strict")
    return reasons
