"""Partial states: the mergeable result of some rows, saved and merged.

``xent eval SHARD --save-state FILE`` writes one, ``xent merge FILE...`` finishes several into
the report one run over all their inputs would print; in Python, :func:`partial` makes one
from any source and :meth:`Partial.merge` / :meth:`Partial.finish` combine and finish them
(for Dask, Ray or Spark workers).

A state file is one JSON object (no pickle): its format name and version, the xent version,
the plan that made it (so that a merge can finish the report without the inputs), the input
files, and the exact :class:`~xent_cli.core.state.EvalState`. Its ``fingerprint`` holds every
setting that changes the numbers; states whose fingerprints differ do not merge (exit 2).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xent_cli.core import token_partials
from xent_cli.core.columns import Roles
from xent_cli.core.labels import canonical
from xent_cli.core.plan import Plan, make_plan
from xent_cli.core.report import Report, build_report
from xent_cli.core.state import EvalState
from xent_cli.core.token_partials import TokenPartial
from xent_cli.errors import XentError
from xent_cli.io.atomic import write_atomically
from xent_cli.metrics import metric_fingerprints
from xent_cli.options import Base, InputFormat, Kind, Mode, Settings
from xent_cli.version import __version__

STATE_FORMAT = "xent-state"
STATE_VERSION = 1


@dataclass(frozen=True)
class Partial:
    """A plan, the state of some rows under it, and the files they came from."""

    plan: Plan
    state: EvalState
    files: list[str]

    def merge(self, other: Partial) -> Partial:
        """Both parts, ``other``'s rows after this one's (warnings number rows that way; every
        figure is the same in either order). Exit 2 when their settings differ."""
        merged = merge([self, other], ["the first part", "the second part"])
        assert isinstance(merged, Partial)
        return merged

    def finish(self, *, min_slice_size: int | None = None) -> Report:
        """The report of these rows (``--by``: slices smaller than ``min_slice_size``, 20,
        are marked small)."""
        return build_report(
            self.plan,
            self.state,
            self.files,
            ", ".join(self.files) or "input",
            min_slice_size=min_slice_size,
        )

    def to_json(self) -> str:
        """The state file's text (JSON, exact; no pickle)."""
        return json.dumps(to_dict(self), allow_nan=False)

    @classmethod
    def from_json(cls, text: str, name: str = "<state>") -> Partial | TokenPartial:
        try:
            return from_dict(json.loads(text), name)
        except json.JSONDecodeError:
            raise XentError(f"{name}: not a state file (not JSON)") from None


def partial(source: Any, *, first_row: int = 0, **options: Any) -> Partial | TokenPartial:
    """The partial state of the rows in ``source`` (anything :func:`xent_cli.evaluate`
    takes), with the same options: a :class:`TokenPartial` for a token file. ``first_row``:
    where these rows start in the whole input (for the warnings' row numbers;
    :meth:`Partial.merge` continues the numbering anyway)."""
    from xent_cli.core.engine import Scan
    from xent_cli.core.token_engine import TokenScan
    from xent_cli.core.tokens import is_token_layout
    from xent_cli.io.sources import make_sources
    from xent_cli.options import make_settings

    settings = make_settings(**options)
    sources = make_sources(source, settings.input_format)
    if sources and is_token_layout(sources[0].schema, settings):
        tokens = TokenScan(sources, settings, first_row=first_row)
        return TokenPartial(tokens.plan, tokens.state(), tokens.files)
    scan = Scan(sources, settings, first_row=first_row)
    return Partial(scan.plan, scan.state(), scan.files)


def fingerprint(plan: Plan) -> dict[str, Any]:
    """The settings that decide the numbers: states merge only when these are equal."""
    s, r = plan.settings, plan.roles
    return {
        "mode": plan.mode.value,
        "kind": plan.kind.value,
        "eps": s.eps,
        "base": s.base.value,
        "renormalize": s.renormalize,
        "positive": s.positive,
        "classes": list(plan.class_names),
        "label": list(r.label_columns),
        "scores": [r.list_column] if r.list_column else list(r.score_columns),
        "targets": list(r.target_columns),
        "weight": r.weight_column,
        "top_warnings": s.top_warnings,
        "by": plan.slicer.to_state() if plan.slicer is not None else None,
        **metric_fingerprints(s),  # --calibration: "calibration"
        # --ignore-label: only when given, so that states saved without it keep their print
        **({"ignore_label": canonical(s.ignore_label)} if s.ignore_label is not None else {}),
    }


def _plan_to_dict(plan: Plan) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, (Mode, Kind, Base, InputFormat)):
            return value.value
        if isinstance(value, tuple):
            return list(value)
        return value

    settings = {k: plain(v) for k, v in dataclasses.asdict(plan.settings).items()}
    if plan.settings.calibration is not None:
        settings["calibration"] = plan.settings.calibration.to_dict()
    if plan.settings.by is not None:
        settings["by"] = plan.settings.by.text  # parsed again when the state is loaded

    return {
        "settings": settings,
        "roles": {k: plain(v) for k, v in dataclasses.asdict(plan.roles).items()},
        "kind": plan.kind.value,
        "kind_source": plan.kind_source,
        "class_names": list(plan.class_names),
        "slicer": plan.slicer.to_state() if plan.slicer is not None else None,
    }


def _plan_from_dict(data: dict[str, Any]) -> Plan:
    from xent_cli.options import make_settings

    settings: Settings = make_settings(**data["settings"])
    fields = data["roles"]
    roles = Roles(
        **{
            **fields,
            "mode": Mode(fields["mode"]),
            "kind": Kind(data["kind"]),
            "kind_source": data["kind_source"],
            **{k: tuple(v) for k, v in fields.items() if isinstance(v, list)},
        }
    )
    roles = dataclasses.replace(roles, class_names=tuple(data["class_names"]))
    plan = make_plan(settings, roles, None, len(data["class_names"]) or None)
    if data.get("slicer") is not None:
        from xent_cli.core.slicer import Slicer

        plan = dataclasses.replace(plan, slicer=Slicer.from_state(data["slicer"]))
    return plan


def to_dict(partial: Partial) -> dict[str, Any]:
    return {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "xent": __version__,
        "fingerprint": fingerprint(partial.plan),
        "plan": _plan_to_dict(partial.plan),
        "files": partial.files,
        "state": partial.state.to_state(),
    }


def from_dict(data: Any, name: str) -> Partial | TokenPartial:
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise XentError(f"{name}: not a state file written by xent eval --save-state")
    if data.get("version") != STATE_VERSION or data.get("xent") != __version__:
        raise XentError(
            f"{name}: written by xent {data.get('xent')} (state version {data.get('version')}); "
            f"this is xent {__version__}",
            hint="merge states written by the same xent version",
        )
    if data.get("mode") == "tokens":
        return token_partials.from_dict(data, name)
    try:
        plan = _plan_from_dict(data["plan"])
        state = EvalState.from_state(data["state"])
    except (KeyError, TypeError, ValueError) as error:
        raise XentError(f"{name}: damaged state file ({type(error).__name__}: {error})") from None
    return Partial(plan, state, [str(f) for f in data.get("files", [])])


def save(partial: Partial | TokenPartial, path: Path) -> None:
    """Write the state file atomically (a temporary file, then a rename)."""
    write_atomically(path, partial.to_json(), "the state")


def load(path: str) -> Partial | TokenPartial:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise XentError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise XentError(f"{path}: cannot read the state ({error})") from None
    return Partial.from_json(text, path)


def merge(
    partials: Sequence[Partial | TokenPartial], names: Sequence[str]
) -> Partial | TokenPartial:
    """One partial of all, in the order given: row numbers continue from part to part, as in
    one run over all their inputs. The settings must agree (exit 2 naming the first that
    differs)."""
    if not partials:
        raise XentError("no state given")
    first = partials[0]
    if isinstance(first, TokenPartial):
        return token_partials.merge_tokens(partials, names)  # type: ignore[arg-type]
    expected = fingerprint(first.plan)
    state = first.state
    offset = first.state.n_rows
    files = list(first.files)
    for partial, name in zip(partials[1:], names[1:], strict=True):
        if not isinstance(partial, Partial):
            raise XentError(f"{name}: a token file's state cannot be merged with {names[0]}")
        seen = fingerprint(partial.plan)
        differing = [k for k in expected if expected[k] != seen.get(k)]
        if differing == ["by"]:
            from xent_cli.core.slicer import differing_slices

            why = differing_slices(expected["by"], seen.get("by"))
            raise XentError(
                f"{name}: cannot be merged with {names[0]}: {why}",
                hint="merge only states of xent eval runs with the same --by"
                + ("; bin by value (--by COL) to merge shards" if "bins" in str(why) else ""),
            )
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
    return Partial(first.plan, state, files)
