"""``--help`` in panels: every option names its heading (Typer's ``rich_help_panel=``), and
:class:`PanelCommand` lists the options under their headings, in :data:`PANELS` order.

The help stays plain Click text (no rich import, so ``--help`` costs what it did) and no
wider than the terminal (at most 80 columns): no boxes to break in a CI log.
"""

from __future__ import annotations

from typing import Any

import typer.core

INPUT = "Input and columns"
COMPUTATION = "Computation"
TOKENS = "Language models (token files)"
STATISTICS = "Interval and test"
OUTPUT = "Output"
GATES = "Gates"
SLICES = "Slices"
CALIBRATION = "Calibration"
SCALE = "Scale"
OTHER = "Options"  # --help, and any option without a panel

PANELS = (INPUT, COMPUTATION, TOKENS, STATISTICS, OUTPUT, GATES, SLICES, CALIBRATION, SCALE, OTHER)
"""The headings, in the order ``--help`` shows them."""

NAME_COLUMN = 30  # Click's widest first column: longer option names get a line of their own


class PanelCommand(typer.core.TyperCommand):
    """A command whose ``--help`` lists its arguments, then its options under their panels'
    headings; the descriptions start in one column across the panels."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append(record)
            else:
                panel = getattr(param, "rich_help_panel", None) or OTHER
                panels.setdefault(panel, []).append(record)
        records = [*arguments, *(r for rows in panels.values() for r in rows)]
        column = min(NAME_COLUMN, max((len(name) for name, _ in records), default=0))

        def aligned(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
            return [(name.ljust(column) if text else name, text) for name, text in rows]

        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(aligned(arguments))
        order = {name: float(i) for i, name in enumerate(PANELS)}
        for panel in sorted(panels, key=lambda name: order.get(name, order[OTHER] - 0.5)):
            with formatter.section(panel):
                formatter.write_dl(aligned(panels[panel]))
