"""One layout for every text table: columns fitted to a width, and lines of fields broken to it.

A table too wide for its width first drops columns, least important first, while its name
columns can keep ``min_width`` characters; then it shortens the names (around an ellipsis) to
fill what is left. A number is never split or cut: a column that is not ``shorten`` keeps
every cell whole. The widths are decided here, for the eval, calibration, slice, compare and
rows tables alike, and output_width is the one place that decides the width they fit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

NOT_A_TERMINAL_WIDTH = 80  # a pipe, a file or a CI log
WIDTH_RANGE = (20, 160)  # the widths a table is fitted to, whatever the terminal says
FIELD_GAP = "   "  # between the fields of a header line


def output_width(terminal: bool) -> int:
    """The columns text output fits: ``$COLUMNS`` when set, else the terminal's size when
    the output goes to one (``terminal``), else 80; kept within WIDTH_RANGE."""
    import shutil

    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        width = int(columns)
    elif terminal:
        width = shutil.get_terminal_size((NOT_A_TERMINAL_WIDTH, 24)).columns
    else:
        width = NOT_A_TERMINAL_WIDTH
    return max(WIDTH_RANGE[0], min(WIDTH_RANGE[1], width))


@dataclass(frozen=True)
class Column:
    """A table column. ``rank``: its importance; 0 is never dropped, and a table too wide
    drops the highest rank first. ``shorten``: text (a name) that may be cut around an
    ellipsis, down to ``min_width`` before any column is dropped; otherwise a number,
    never cut. ``width``: a fixed width (tables printed in blocks that must line up);
    None: the widest cell's. ``style``: an ANSI SGR code for its cells when in colour."""

    heading: str
    rank: int = 0
    align: Literal["left", "right"] = "right"
    shorten: bool = False
    min_width: int = 12
    width: int | None = None
    style: str = ""


@dataclass(frozen=True)
class Look:
    """How a table's columns are separated and ruled. ``rule``: the character of the line
    under the headings (and over a footer), "" for none; ``rule_across``: one rule across
    the whole table, else one under each heading."""

    gap: int = 3
    rule: str = "-"
    rule_across: bool = False


BOXED = Look(gap=3, rule="─", rule_across=True)  # the eval class table
DASHED = Look(gap=3, rule="-", rule_across=False)  # calibration bins, eval slices
COMPACT = Look(gap=2, rule="-", rule_across=True)  # compare's tables
BARE = Look(gap=2, rule="")  # xent rows

BOLD = "1"


def fit(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int | None,
    look: Look,
    footer: Sequence[str] | None = None,
) -> list[tuple[int, int]]:
    """The columns kept at ``width`` (None: all) and their widths, as (index, width) pairs
    in table order. A name column is never narrower than its heading or its footer cell."""
    cells = [*rows, *([footer] if footer is not None else [])]
    natural = [
        c.width if c.width is not None else max([len(c.heading), *(len(r[j]) for r in cells)])
        for j, c in enumerate(columns)
    ]
    floor = [
        min(natural[j], max(len(c.heading), len(footer[j]) if footer is not None else 0, 1))
        for j, c in enumerate(columns)
    ]
    wished = [
        min(natural[j], max(c.min_width, floor[j])) if c.shorten else natural[j]
        for j, c in enumerate(columns)
    ]
    keep = list(range(len(columns)))
    if width is None:
        return [(j, natural[j]) for j in keep]

    def needed(widths: Sequence[int]) -> int:
        return sum(widths[j] for j in keep) + look.gap * (len(keep) - 1)

    by_least_importance = sorted(
        (j for j, c in enumerate(columns) if c.rank > 0), key=lambda j: (-columns[j].rank, -j)
    )
    for j in by_least_importance:
        if needed(wished) <= width:
            break
        keep.remove(j)
    names = sorted((j for j in keep if columns[j].shorten), key=lambda j: (columns[j].rank, j))
    widths = [floor[j] if j in names else natural[j] for j in range(len(columns))]
    spare = width - needed(widths)
    for target in (wished, natural):  # every name to its wished width first, then further
        for j in names:
            grow = max(0, min(target[j] - widths[j], spare))
            widths[j] += grow
            spare -= grow
    return [(j, widths[j]) for j in keep]


def table_lines(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None,
    look: Look,
    footer: Sequence[str] | None = None,
    note: str | None = None,
    headings: bool = True,
    color: bool = False,
) -> list[str]:
    """The table as lines of at most ``width`` characters (when its kept columns allow it):
    headings, a rule, the rows, then ``note`` (a line such as "... 60 more classes") and,
    after a rule, the ``footer`` row. With ``color``, headings and footer are bold."""
    layout = fit(columns, rows, width, look, footer)
    gap = " " * look.gap

    def line(cells: Sequence[str], style: str = "") -> str:
        parts = []
        for j, w in layout:
            column = columns[j]
            text = shorten(cells[j], w) if column.shorten else cells[j]
            text = text.ljust(w) if column.align == "left" else text.rjust(w)
            parts.append(_styled(text, style or column.style, color))
        return gap.join(parts).rstrip()

    total = sum(w for _, w in layout) + look.gap * (len(layout) - 1)
    if look.rule_across:
        rule = look.rule * total
    else:
        rule = gap.join(look.rule * w for _, w in layout)
    out = []
    if headings:
        out.append(line([c.heading for c in columns], BOLD))
        if look.rule:
            out.append(rule)
    out += [line(r) for r in rows]
    if note is not None:
        out.append(note)
    if footer is not None:
        out += [rule, line(footer, BOLD)] if look.rule else [line(footer, BOLD)]
    return out


def _styled(text: str, style: str, color: bool) -> str:
    """``text`` in an ANSI style (its padding included) when in colour."""
    if not (color and style and text.strip()):
        return text
    return f"\x1b[{style}m{text}\x1b[0m"


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: its start and end around an ellipsis
    (class names often differ only at the end: ``category_17``, ``category_18``)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) // 2
    return text[: width - 1 - tail] + "…" + (text[-tail:] if tail else "")


_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(32), 127]} | {9: "\\t", 10: "\\n", 13: "\\r"}


def printable(text: str) -> str:
    """``text`` for one line of a table: tabs, line breaks and other control characters as
    escapes (a class named "a\\nb" must not split its row)."""
    return text.translate(_CONTROL_ESCAPES)


def wrap_fields(fields: Sequence[str], width: int | None, gap: str = FIELD_GAP) -> list[str]:
    """Fields joined by ``gap``, a new line wherever the next field would pass ``width``
    (a field is never split: a longer one is broken at its spaces)."""
    lines: list[str] = []
    broken = False  # the last field took lines of its own: the next one starts a new line
    for text in fields:
        fits = width is None or len(lines[-1] if lines else "") + len(gap) + len(text) <= width
        if lines and fits and not broken:
            lines[-1] += gap + text
        elif width is not None and len(text) > width:
            lines.extend(break_words(text, width))
            broken = True
        else:
            lines.append(text)
            broken = False
    return lines


def break_words(text: str, width: int) -> list[str]:
    """``text`` longer than ``width`` broken at its spaces (after the commas of a column
    list), the lines after the first indented; a word or number is never split."""
    import textwrap

    return textwrap.wrap(
        text, width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
    )
