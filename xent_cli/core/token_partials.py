"""Saved states of token files: ``--save-state`` writes one, ``xent merge`` adds them.

The same file format as a classifier's saved state (``"format": "xent-state"``), with
``"mode": "tokens"``, the token plan and the :class:`~xent_cli.core.token_state.TokenState`.
Documents are keyed by their id, so a document whose rows were split across the runs is one
document of the merged report.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from xent_cli.core.slicer import Slicer
from xent_cli.core.token_report import TokenReport, build_token_report
from xent_cli.core.token_state import TokenState
from xent_cli.core.tokens import TokenPlan
from xent_cli.errors import XentError
from xent_cli.options import Mode, Per, make_settings
from xent_cli.version import __version__

STATE_FORMAT = "xent-state"
STATE_VERSION = 1


@dataclass(frozen=True)
class TokenPartial:
    """A token plan, the state of some rows under it, and the files they came from."""

    plan: TokenPlan
    state: TokenState
    files: list[str]

    def merge(self, other: TokenPartial) -> TokenPartial:
        return merge_tokens([self, other], ["the first part", "the second part"])

    def finish(self, *, min_slice_size: int | None = None) -> TokenReport:
        return build_token_report(
            self.plan,
            self.state,
            self.files,
            ", ".join(self.files),
            min_slice_size=min_slice_size,
        )

    def to_json(self) -> str:
        return json.dumps(to_dict(self), allow_nan=False)


def fingerprint(plan: TokenPlan) -> dict[str, Any]:
    """The settings that decide the numbers: token states merge only when these agree."""
    s = plan.settings
    return {
        "mode": "tokens",
        "kind": plan.kind,
        "per": plan.per.value,
        "eps": s.eps,
        "base": s.base.value,
        "confidence": s.confidence,
        "columns": plan.columns(),
        "ignore_label": s.ignore_label,
        "top_warnings": s.top_warnings,
        "top_docs": s.top_docs,
        "by": plan.slicer.to_state() if plan.slicer is not None else None,
        "calibration": s.calibration.to_dict() if s.calibration is not None else None,
    }


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def to_dict(partial: TokenPartial) -> dict[str, Any]:
    plan = partial.plan
    settings = {k: _plain(v) for k, v in dataclasses.asdict(plan.settings).items()}
    settings["by"] = plan.settings.by.text if plan.settings.by is not None else None
    spec = plan.settings.calibration
    settings["calibration"] = spec.to_dict() if spec is not None else None
    fields = {
        f.name: _plain(getattr(plan, f.name))
        for f in dataclasses.fields(plan)
        if f.name not in ("settings", "slicer", "convention")
    }
    if plan.slicer is not None:
        fields["slicer"] = plan.slicer.to_state()
    return {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "xent": __version__,
        "mode": "tokens",
        "fingerprint": fingerprint(plan),
        "plan": {"settings": settings, "fields": fields},
        "files": partial.files,
        "state": partial.state.to_state(),
    }


def from_dict(data: dict[str, Any], name: str) -> TokenPartial:
    """A token partial from its saved form (exit 2 naming the file if it is damaged)."""
    try:
        settings = make_settings(**data["plan"]["settings"])
        fields = dict(data["plan"]["fields"])
        fields["per"] = Per(fields["per"])
        if fields.get("slicer") is not None:
            fields["slicer"] = Slicer.from_state(fields["slicer"])
        if settings.calibration is not None:
            from xent_cli.metrics.calibration import Convention

            fields["convention"] = Convention.of(settings.calibration, Mode.categorical)
        plan = TokenPlan(settings=settings, **fields)
        state = TokenState.from_state(data["state"])
    except (KeyError, TypeError, ValueError) as error:
        raise XentError(f"{name}: damaged state file ({type(error).__name__}: {error})") from None
    return TokenPartial(plan, state, [str(f) for f in data.get("files", [])])


def merge_tokens(partials: Sequence[TokenPartial], names: Sequence[str]) -> TokenPartial:
    """One partial of all, in the order given (row numbers continue from part to part);
    exit 2 naming the first setting that differs."""
    first = partials[0]
    expected = fingerprint(first.plan)
    state = first.state
    offset = state.n_rows
    files = list(first.files)
    for partial, name in zip(partials[1:], names[1:], strict=True):
        if not isinstance(partial, TokenPartial):
            raise XentError(f"{name}: a classifier's state cannot be merged with token states")
        seen = fingerprint(partial.plan)
        differing = [k for k in expected if expected[k] != seen.get(k)]
        if differing:
            key = differing[0]
            raise XentError(
                f"{name}: made with other settings than {names[0]}: "
                f"{key} {seen.get(key)!r} vs {expected[key]!r}",
                hint="merge only states of xent eval runs with the same options and columns",
            )
        state = state.merge(partial.state.shifted(offset))
        offset += partial.state.n_rows
        files.extend(partial.files)
    return TokenPartial(first.plan, state, files)
