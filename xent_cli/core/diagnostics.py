"""Warning records: data (code, full count, first rows), not ``warnings.warn`` calls."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xent_cli.kernels.mergeable import require_mergeable
from xent_cli.options import Settings

ZERO_PROBABILITY = "zero-probability"
NON_FINITE = "non-finite"
MISSING_LABEL = "missing-label"
NOT_NORMALIZED = "not-normalized"
PROBABILITIES_AS_LOGITS = "probabilities-as-logits"
MISSING_DOCUMENT = "missing-document"

# The order warnings are reported in: what skipped rows first, then what changed numbers.
CODES = (
    NON_FINITE,
    MISSING_LABEL,
    MISSING_DOCUMENT,
    ZERO_PROBABILITY,
    NOT_NORMALIZED,
    PROBABILITIES_AS_LOGITS,
)


@dataclass
class WarningRecord:
    """One kind of problem: how many rows had it and the first few of them."""

    code: str
    count: int = 0
    rows: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    message: str = ""

    def to_dict(self, with_ids: bool) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "count": self.count, "rows": self.rows}
        if with_ids:
            out["ids"] = self.ids
        out["message"] = self.message
        return out


class Diagnostics:
    """Warning records of a pass: the full count of each code and its ``limit`` smallest rows.

    Mergeable (:mod:`xent_cli.kernels.mergeable`): counts add and the rows kept are the
    ``limit`` smallest of both, so any split of the input, merged in any order, keeps the same
    rows; saved in report order, so the same rows write the same state.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._records: dict[str, WarningRecord] = {}

    def __eq__(self, other: object) -> bool:
        """The same records (so that states of any split, merged, compare equal)."""
        if not isinstance(other, Diagnostics):
            return NotImplemented
        return self.limit == other.limit and self._records == other._records

    __hash__ = None  # type: ignore[assignment]

    def add(self, code: str, rows: Sequence[int], ids: Iterable[str] | None = None) -> None:
        """Count ``len(rows)`` more rows with ``code``: global 0-based row numbers, ascending
        and after every row added before (``ids``: the --id values of the first rows)."""
        if len(rows) == 0:
            return
        record = self._records.setdefault(code, WarningRecord(code))
        record.count += len(rows)
        room = self.limit - len(record.rows)
        if room > 0:
            record.rows.extend(int(r) for r in rows[:room])
            if ids is not None:
                record.ids.extend(list(ids)[:room])

    def empty_like(self) -> Diagnostics:
        return Diagnostics(self.limit)

    def fingerprint(self) -> dict[str, object]:
        """What must agree to merge: the rows kept per warning."""
        return {"limit": self.limit}

    def merge(self, other: Diagnostics) -> Diagnostics:
        """Both sides' warnings: counts added, the smallest rows (with their ids) kept."""
        require_mergeable(self, other)
        merged = Diagnostics(self.limit)
        for code in dict.fromkeys([*self._records, *other._records]):
            parts = [d._records[code] for d in (self, other) if code in d._records]
            pairs = sorted(
                (row, record.ids[i] if i < len(record.ids) else None)
                for record in parts
                for i, row in enumerate(record.rows)
            )[: self.limit]
            merged._records[code] = WarningRecord(
                code,
                count=sum(r.count for r in parts),
                rows=[row for row, _ in pairs],
                ids=[name for _, name in pairs if name is not None],
            )
        return merged

    def shifted(self, offset: int) -> Diagnostics:
        """The same warnings, their rows ``offset`` further into the input."""
        moved = Diagnostics(self.limit)
        for code, r in self._records.items():
            moved._records[code] = WarningRecord(
                code, r.count, [row + offset for row in r.rows], list(r.ids)
            )
        return moved

    def to_state(self) -> dict[str, object]:
        return {
            "limit": self.limit,
            "records": [
                {"code": r.code, "count": r.count, "rows": r.rows, "ids": r.ids}
                for r in self._ordered()
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Diagnostics:
        diagnostics = cls(int(state["limit"]))
        for r in state["records"]:
            diagnostics._records[r["code"]] = WarningRecord(
                r["code"], int(r["count"]), [int(x) for x in r["rows"]], [str(x) for x in r["ids"]]
            )
        return diagnostics

    def count(self, code: str) -> int:
        record = self._records.get(code)
        return record.count if record else 0

    def _ordered(self) -> list[WarningRecord]:
        """The records in report order: those of CODES in its order, then others by code."""
        known = [self._records[c] for c in CODES if c in self._records]
        return known + [self._records[c] for c in sorted(self._records) if c not in CODES]

    def records(self, settings: Settings) -> list[WarningRecord]:
        """New records in report order, each with its sentence (this state is unchanged)."""
        return [
            WarningRecord(r.code, r.count, list(r.rows), list(r.ids), describe(r, settings))
            for r in self._ordered()
        ]


def describe(record: WarningRecord, settings: Settings) -> str:
    """The human sentence for a warning (without the row list)."""
    n = record.count
    rows = "row" if n == 1 else "rows"
    if record.code == ZERO_PROBABILITY:
        if settings.eps > 0:
            clip = -math.log(settings.eps) / settings.base.log
            unit = settings.base.unit
            return (
                f"{n} {rows} gave the true outcome a probability below eps={settings.eps:g}; "
                f"loss clipped to -log(eps) = {clip:.4g} {unit}"
            )
        return f"{n} {rows} gave the true outcome probability 0; loss is infinite (--eps 0)"
    if record.code == NON_FINITE:
        return f"{n} {rows} with a NaN, infinite or beyond-±1e100 score or weight skipped"
    if record.code == MISSING_DOCUMENT:
        return f"{n} {rows} with an empty or missing document id skipped"
    if record.code == MISSING_LABEL:
        return f"{n} {rows} with an empty or missing label skipped"
    if record.code == NOT_NORMALIZED:
        action = (
            "rescaled to sum to 1 (--renormalize)"
            if settings.renormalize
            else "scored as given; --renormalize rescales them"
        )
        verb = "does" if n == 1 else "do"
        return f"{n} {rows} of probabilities {verb} not sum to 1 (off by more than 1e-3): {action}"
    if record.code == PROBABILITIES_AS_LOGITS:
        return (
            "the scores are read as logits, but every value lies in [0, 1] (and in categorical "
            "mode every row sums to 1): these look like probabilities, and a sigmoid or softmax "
            "would be applied twice; pass --kind probs"
        )
    return f"{n} {rows}"
