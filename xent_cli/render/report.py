"""Report -> text: a rich table, JSON, CSV or markdown. Renderers only format; they never exit."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from xent_cli.core.diagnostics import WarningRecord
from xent_cli.core.report import ClassResult, Report
from xent_cli.jsonvalues import json_number, number
from xent_cli.options import OutputFormat
from xent_cli.render.junit import eval_junit

CSV_COLUMNS = (
    "scope",
    "class",
    "count",
    "weight",
    "loss",
    "loss_sum",
    "share",
    "accuracy",
    "mean_p_true",
    "zero_probability",
)
TABLE_HEADINGS = ("class", "count", "loss", "share", "accuracy", "mean p(true)", "zero-p")
BAR_HEADING = ""  # the terminal table's bar of each class's share of the loss, after "share"
BAR_WIDTH = 10  # characters of the longest bar (the largest share shown)
TERMINAL_HEADINGS = (*TABLE_HEADINGS[:4], BAR_HEADING, *TABLE_HEADINGS[4:])
# The terminal table's columns a narrow terminal drops, least important first (class and
# loss stay).
DROP_ORDER = ("zero-p", BAR_HEADING, "mean p(true)", "count", "accuracy", "share")
DEFAULT_MAX_CLASSES = 40
MIN_CLASS_WIDTH = len("overall")  # the overall row's name is never cut
FIELD_GAP = "   "  # between the fields of a header line
COLUMN_GAP = 3  # between table columns: padding, the (blank) rule, padding


def render(
    report: Report,
    fmt: OutputFormat,
    *,
    width: int | None = None,
    color: bool = False,
    max_classes: int = DEFAULT_MAX_CLASSES,
) -> str:
    """The report in ``fmt``. ``width``: the terminal's columns (None: not a terminal, no
    limit). Table and markdown show at most ``max_classes`` classes (0: all); JSON and CSV
    always hold every class."""
    if fmt is OutputFormat.json:
        return render_json(report)
    if fmt is OutputFormat.csv:
        return render_csv(report)
    if fmt is OutputFormat.markdown:
        return render_markdown(report, max_classes=max_classes)
    if fmt is OutputFormat.junit:
        return eval_junit(report)
    return render_table(report, width=width, color=color, max_classes=max_classes)


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"


def overall(report: Report) -> ClassResult:
    """The overall row, shaped like a class row."""
    return ClassResult(
        name="overall",
        count=sum(c.count for c in report.classes),
        weight=report.weight_sum,
        loss=report.loss,
        loss_sum=report.loss_sum,
        share=1.0 if report.loss_sum else 0.0,
        accuracy=report.accuracy,
        mean_p_true=report.mean_p_true,
        zero_probability=report.zero_probability,
    )


def render_csv(report: Report) -> str:
    lines: list[Sequence[object]] = [CSV_COLUMNS]
    rows = [("class", c) for c in report.classes] + [("overall", overall(report))]
    for scope, result in rows:
        data = result.to_dict()
        lines.append(
            [scope, "" if scope == "overall" else result.name]
            + [_csv_value(data[c]) for c in CSV_COLUMNS[2:]]
        )
    if report.slices is not None:
        for group in report.slices.worst_first():
            data = group.to_dict()
            lines.append(["slice", group.name] + [_csv_value(data.get(c)) for c in CSV_COLUMNS[2:]])
    return csv_text(lines)


SLICE_HEADINGS = ("slice", "count", "loss", "share", "accuracy", "mean p(true)", "zero-p")
MAX_SLICES = 40  # rows of a table or markdown slice table


def _slices_calibrated(report: Report) -> bool:
    """--calibration: each slice has its ECE (a column of the slice table)."""
    return report.slices is not None and any(g.calibration for g in report.slices.groups)


def slice_headings(report: Report) -> tuple[str, ...]:
    """The slice table's columns; with --calibration, each slice's ECE too."""
    return (*SLICE_HEADINGS, "ECE") if _slices_calibrated(report) else SLICE_HEADINGS


def slice_rows(report: Report) -> tuple[list[list[str]], int]:
    """The slice table's rows, worst first (a small slice marked ``*``), and how many were
    left out."""
    assert report.slices is not None
    groups = report.slices.worst_first()
    calibrated = _slices_calibrated(report)
    rows = [
        [
            printable(g.name) + (" *" if g.small else ""),
            str(g.count),
            fmt_loss(g.loss),
            fmt_percent(g.share),
            fmt_percent(g.accuracy),
            fmt_prob(g.mean_p_true),
            str(g.zero_probability),
            *([fmt_prob((g.calibration or {}).get("ece"))] if calibrated else []),
        ]
        for g in groups[:MAX_SLICES]
    ]
    return rows, max(0, len(groups) - MAX_SLICES)


def slice_title(report: Report) -> str:
    assert report.slices is not None
    s = report.slices
    parts = [f"slices by {', '.join(s.by)}: {len(s.groups)}, worst first"]
    parts.append(f"* small (< {s.min_size} rows): not gated")
    if s.difference_between is not None:
        parts.append(f"max - min loss {fmt_loss(s.difference_between)}")
    if s.difference_to_overall is not None:
        parts.append(f"max |slice - overall| {fmt_loss(s.difference_to_overall)}")
    return "; ".join(parts)


def more_slices_line(hidden: int) -> str:
    return f"... {hidden} more slices: see --format json"


def slice_table_text(report: Report) -> str:
    rows, hidden = slice_rows(report)
    headings = slice_headings(report)
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(headings)]

    def line(cells: Sequence[str]) -> str:
        return "   ".join(
            c.ljust(w) if j == 0 else c.rjust(w)
            for j, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = ["", slice_title(report), "", line(headings)]
    out.append("   ".join("-" * w for w in widths))
    out += [line(r) for r in rows]
    if hidden:
        out.append(more_slices_line(hidden))
    return "\n".join(out) + "\n"


RELIABILITY_HEADINGS = ("bin", "count", "mean p", "observed", "gap")
RELIABILITY_DROP = ("count", "gap")  # what a narrow terminal leaves out of it, first first


def calibration_of(report: Report) -> dict[str, Any] | None:
    """The report's JSON ``calibration`` (None without --calibration)."""
    calibration = getattr(report, "calibration", None)
    if calibration is None or isinstance(calibration, dict):
        return calibration
    data: dict[str, Any] = calibration.to_dict()
    return data


def calibration_fields(calibration: dict[str, Any]) -> list[str]:
    """ECE, MCE, Brier and the convention that made them (target, bins, binning, edges)."""
    convention = calibration.get("convention") or (
        f"{calibration.get('target')}, {calibration.get('n_bins')} "
        f"{calibration.get('binning')} bins, {calibration.get('edges', '(lo, hi]')}"
    )
    return [
        f"calibration: ECE {fmt_prob(number(calibration.get('ece')))}",
        f"MCE {fmt_prob(number(calibration.get('mce')))}",
        f"Brier {fmt_prob(number(calibration.get('brier')))}",
        f"({printable(str(convention))})",
    ]


def calibration_line_text(calibration: dict[str, Any]) -> str:
    return FIELD_GAP.join(calibration_fields(calibration))


def temperature_line(calibration: dict[str, Any], unit: str = "") -> str | None:
    """The temperature that would minimise the loss, when the report has it."""
    temperature = calibration.get("temperature")
    if not isinstance(temperature, dict) or temperature.get("best") is None:
        return None
    line = f"temperature scaling: best T = {number(temperature['best']):.4g}"
    if temperature.get("at_grid_end"):
        line += " (an end of the grid)"
    for key, name in (("loss_at_best", "loss at best T"), ("calibration_loss", "calibration loss")):
        if temperature.get(key) is not None:
            line += FIELD_GAP + f"{name} {fmt_loss(number(temperature[key]))} {unit}".rstrip()
    return line


def bin_label(lo: float, hi: float, rule: str = "right") -> str:
    """A bin as its interval, by the JSON ``edge_rule``: ``right`` ``(lo, hi]``, the first
    bin closed at 0; ``left`` ``[lo, hi)``, the last closed at 1; ``left-own-one`` ``[lo,
    hi)`` and ``[1, 1]``; ``fine`` (equal mass: edges of a fine histogram) ``[lo, hi]``.
    With as many decimals as it takes to tell lo from hi (equal-mass edges can be close)."""
    digits = 4
    while f"{lo:.{digits}f}" == f"{hi:.{digits}f}" and lo != hi and digits < 12:
        digits += 1
    if rule == "right":
        opening, closing = ("[" if lo <= 0 else "("), "]"
    elif rule in ("left", "left-own-one"):
        closed = hi >= 1 and (rule == "left" or lo >= 1)
        opening, closing = "[", ("]" if closed else ")")
    else:
        opening, closing = "[", "]"
    return f"{opening}{lo:.{digits}f}, {hi:.{digits}f}{closing}"


def reliability_rows(calibration: dict[str, Any]) -> tuple[tuple[str, ...], list[list[str]]]:
    """The reliability table: one row per non-empty bin (bin, count, mean p, observed,
    gap = observed - mean p: negative where the model is over-confident)."""
    rows = []
    rule = str(calibration.get("edge_rule") or "right")
    for b in calibration.get("bins") or []:
        mean_p, observed = number(b.get("mean_p")), number(b.get("observed"))
        gap = "-" if mean_p is None or observed is None else f"{observed - mean_p:+.4f}"
        rows.append(
            [
                bin_label(float(b["lo"]), float(b["hi"]), rule),
                str(b.get("count", "")),
                fmt_prob(mean_p),
                fmt_prob(observed),
                gap,
            ]
        )
    return RELIABILITY_HEADINGS, rows


def calibration_text(report: Report, width: int | None = None) -> str:
    """The table's calibration part: the calibration line (broken to ``width``), the
    temperature line, and the reliability table (narrow: without count, then gap)."""
    calibration = calibration_of(report)
    if calibration is None:
        return ""
    out = ["", *wrap_fields(calibration_fields(calibration), width)]
    temperature = temperature_line(calibration, report.unit)
    if temperature:
        out += wrap_fields(temperature.split(FIELD_GAP), width)
    headings, rows = reliability_rows(calibration)
    if not rows:
        return "\n".join(out) + "\n"
    keep = list(range(len(headings)))
    widths = [max(len(headings[j]), *(len(r[j]) for r in rows)) for j in keep]

    def total() -> int:
        return sum(widths[j] for j in keep) + COLUMN_GAP * (len(keep) - 1)

    for heading in RELIABILITY_DROP:
        if width is None or total() <= width:
            break
        keep.remove(headings.index(heading))

    def line(cells: Sequence[str]) -> str:
        return "   ".join(
            cells[j].ljust(widths[j]) if j == 0 else cells[j].rjust(widths[j]) for j in keep
        ).rstrip()

    out += ["", line(headings), "   ".join("-" * widths[j] for j in keep)]
    out += [line(r) for r in rows]
    return "\n".join(out) + "\n"


def calibration_markdown(report: Report) -> list[str]:
    """Markdown lines: the calibration line and a compact reliability table."""
    calibration = calibration_of(report)
    if calibration is None:
        return []
    fields = calibration_fields(calibration)
    lines = ["", md_text(" · ".join(fields[:3]) + " " + fields[3])]
    temperature = temperature_line(calibration, report.unit)
    if temperature:
        lines[-1] += "  "
        lines.append(md_text(temperature.replace(FIELD_GAP, " · ")))
    headings, rows = reliability_rows(calibration)
    if rows:
        lines += ["", "| " + " | ".join(headings) + " |"]
        lines.append("|" + "|".join([":---"] + ["---:"] * (len(headings) - 1)) + "|")
        lines += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
    return lines


def csv_text(rows: Sequence[Sequence[object]]) -> str:
    """CSV lines ending in "\n", fields quoted where needed. Python's writer quotes a field for
    the characters of its line terminator only, so a row with a "\r" (a class name can hold
    one) is written with every field quoted; any CSV reader reads both forms alike."""
    text = _csv_lines(rows)
    if "\r" not in text:
        return text
    return "".join(_csv_lines([row], quote_all="\r" in "".join(map(str, row))) for row in rows)


def _csv_lines(rows: Sequence[Sequence[object]], *, quote_all: bool = False) -> str:
    buffer = io.StringIO()
    if quote_all:
        csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(rows)
    else:
        csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def fmt_loss(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(json_number(value))
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.3e}"
    return f"{value:.4f}"


def fmt_percent(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{100 * value:.1f}%"


def fmt_prob(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(32), 127]} | {9: "\\t", 10: "\\n", 13: "\\r"}


def printable(text: str) -> str:
    """``text`` for one line of a table: tabs, line breaks and other control characters as
    escapes (a class named "a\\nb" must not split its row)."""
    return text.translate(_CONTROL_ESCAPES)


def _cells(result: ClassResult) -> list[str]:
    return [
        printable(result.name),
        str(result.count),
        fmt_loss(result.loss),
        fmt_percent(result.share),
        fmt_percent(result.accuracy),
        fmt_prob(result.mean_p_true),
        str(result.zero_probability),
    ]


def _table_cells(result: ClassResult, largest: float | None = None) -> list[str]:
    """A terminal table row: the markdown row's cells with the share bar after the share
    (scaled to the ``largest`` share; None: no bar)."""
    cells = _cells(result)
    bar = "" if largest is None else share_bar(result.share, largest)
    return [*cells[:4], bar, *cells[4:]]


_EIGHTHS = " ▏▎▍▌▋▊▉"


def share_bar(share: float | None, largest: float, width: int = BAR_WIDTH) -> str:
    """``share`` as a bar of block characters, ``width`` of them for the ``largest`` share,
    in eighths of a character; any share above 0 shows at least one eighth. Padded to
    ``width``."""
    if share is None or not math.isfinite(share) or share <= 0 or not largest > 0:
        return " " * width
    eighths = max(1, round(min(share / largest, 1.0) * width * 8))
    bar = "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")
    return bar.ljust(width)


def header_fields(report: Report, width: int | None = None) -> list[list[str]]:
    """The header's lines, each a list of fields: files; rows, mode, kind, base, eps; the
    columns chosen for each role (always, so that a wrong guess shows; with a ``width``,
    column names longer than a line are shortened)."""
    skipped = f", {report.n_skipped} skipped" if report.n_skipped else ""
    kind = f"{report.kind} (from {report.kind_source})"
    columns = report.columns
    roles = []
    label = columns.get("label")
    longest = None if width is None else max(width - 4, MIN_CLASS_WIDTH)
    if label is not None:
        roles.append(_role_field("label", label, longest))
    scores = columns.get("scores") or []
    if isinstance(scores, str):
        roles.append(f"scores: {printable(scores)} (a list column)")
    else:
        roles.append(_role_field("scores", scores, longest))
    if columns.get("classes"):
        roles.append(f"classes: {columns['classes']}")
    for key in ("targets", "weight", "id"):
        if columns.get(key):
            roles.append(_role_field(key, columns[key], longest))
    return [
        [f"files: {', '.join(report.files)}"],
        [
            f"rows: {report.n_rows} ({report.n_evaluated} evaluated{skipped})",
            f"mode: {report.mode}",
            f"kind: {kind}",
            f"base: {report.base} ({report.unit})",
            f"eps: {report.eps:g}",
        ],
        roles,
    ]


def _role_field(role: str, names: str | list[str], longest: int | None, limit: int = 6) -> str:
    """``role: columns`` for the header: all of a few; of many, how many, the first three
    and the last; each name in at most ``longest`` characters."""
    if isinstance(names, str):
        names = [names]
    shown = [printable(n) if longest is None else shorten(printable(n), longest) for n in names]
    if len(shown) <= limit:
        return f"{role}: {', '.join(shown)}"
    return f"{role} ({len(shown)} columns): {', '.join(shown[:3])}, ..., {shown[-1]}"


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: its start and end around an ellipsis
    (class names often differ only at the end: ``category_17``, ``category_18``)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) // 2
    return text[: width - 1 - tail] + "…" + (text[-tail:] if tail else "")


def header_lines(report: Report, width: int | None = None) -> list[str]:
    """The header as text lines; with a ``width``, broken between fields to fit it."""
    return [line for fields in header_fields(report, width) for line in wrap_fields(fields, width)]


def wrap_fields(fields: Sequence[str], width: int | None) -> list[str]:
    """Fields joined by FIELD_GAP, a new line wherever the next field would pass ``width``
    (a field is never split: a longer one stands on a line of its own)."""
    lines: list[str] = []
    broken = False  # the last field took lines of its own: the next one starts a new line
    for text in fields:
        fits = (
            width is None or len(lines[-1] if lines else "") + len(FIELD_GAP) + len(text) <= width
        )
        if lines and fits and not broken:
            lines[-1] += FIELD_GAP + text
        elif width is not None and len(text) > width:
            lines.extend(_break_list(text, width))
            broken = True
        else:
            lines.append(text)
            broken = False
    return lines


def _break_list(text: str, width: int) -> list[str]:
    """A field longer than ``width`` broken at its spaces (after the commas of a column
    list), the lines after the first indented; a word or number is never split."""
    import textwrap

    return textwrap.wrap(
        text, width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
    )


def summary_fields(report: Report) -> list[str]:
    return [
        f"loss {fmt_loss(report.loss)} {report.unit}",
        f"perplexity {report.perplexity:.4g}",
        f"accuracy {fmt_percent(report.accuracy)}",
    ]


def summary_line(report: Report) -> str:
    return FIELD_GAP.join(summary_fields(report))


def shown_classes(report: Report, max_classes: int) -> tuple[list[ClassResult], int]:
    """The classes a table shows and how many it leaves out: all of them when they are at
    most ``max_classes`` (or it is 0), else the ``max_classes`` with the largest share of
    the loss, largest first."""
    classes = report.classes
    if max_classes <= 0 or len(classes) <= max_classes:
        return list(classes), 0
    order = sorted(range(len(classes)), key=lambda i: (-_share_key(classes[i]), i))
    return [classes[i] for i in order[:max_classes]], len(classes) - max_classes


def _share_key(result: ClassResult) -> float:
    share = result.share
    return share if share is not None and not math.isnan(share) else -1.0


def more_classes_line(hidden: int, width: int | None = None) -> str:
    """The line that stands for the classes a table leaves out (shorter when narrow)."""
    plural = "class" if hidden == 1 else "classes"
    for text in (
        f"... {hidden} more {plural}: see --format csv or --max-classes 0",
        f"... {hidden} more {plural} (--max-classes 0)",
        f"... {hidden} more {plural}",
    ):
        if width is None or len(text) <= width:
            return text
    return f"... {hidden} more"


def fit_columns(cells: Sequence[Sequence[str]], width: int | None) -> tuple[list[int], int]:
    """Which terminal table columns fit ``width`` (indices into TERMINAL_HEADINGS), and the
    class column's width. Numbers are never cut: columns are dropped, least important
    first, and then class names shortened (with an ellipsis), down to the width of
    "overall"."""
    natural = [
        max(len(TERMINAL_HEADINGS[j]), *(len(row[j]) for row in cells))
        for j in range(len(TERMINAL_HEADINGS))
    ]
    keep = list(range(len(TERMINAL_HEADINGS)))
    if width is None:
        return keep, natural[0]

    def numbers_width() -> int:
        return sum(natural[j] + COLUMN_GAP for j in keep[1:])

    class_floor = min(natural[0], max(MIN_CLASS_WIDTH, 12))
    for heading in DROP_ORDER:
        if class_floor + numbers_width() <= width:
            break
        keep.remove(TERMINAL_HEADINGS.index(heading))
    return keep, max(MIN_CLASS_WIDTH, min(natural[0], width - numbers_width()))


def _insert_before_footer(text: str, line: str) -> str:
    """``line`` inserted above the table's last rule (the one over the overall row)."""
    lines = text.split("\n")
    for i in range(len(lines) - 1, -1, -1):
        plain = _ANSI.sub("", lines[i]).strip()
        if plain and set(plain) == {"─"}:
            return "\n".join([*lines[:i], line, *lines[i:]])
    return text


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def render_table(
    report: Report,
    *,
    width: int | None = None,
    color: bool = False,
    max_classes: int = DEFAULT_MAX_CLASSES,
) -> str:
    """The per-class table. ``width``: the terminal's columns (None: no limit)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    shown, hidden = shown_classes(report, max_classes)
    largest = max((_share_key(result) for result in shown), default=0.0)
    rows = [_table_cells(result, largest) for result in shown]
    total = _table_cells(overall(report))
    keep, class_width = fit_columns([*rows, total], width)
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, show_footer=True)
    for j in keep:
        numeric = j > 0 and TERMINAL_HEADINGS[j] != BAR_HEADING
        table.add_column(
            TERMINAL_HEADINGS[j],
            footer=total[j],
            justify="right" if numeric else "left",
            no_wrap=True,  # a number is never cut: its column is as wide as its widest cell
            overflow="ellipsis",
            width=max(len(TERMINAL_HEADINGS[j]), *(len(r[j]) for r in [*rows, total]))
            if j > 0
            else class_width,
            style="cyan" if TERMINAL_HEADINGS[j] == BAR_HEADING else None,
        )
    for row in rows:
        table.add_row(shorten(row[0], class_width), *(row[j] for j in keep[1:]))
    table_width = class_width + sum(
        max(len(TERMINAL_HEADINGS[j]), *(len(r[j]) for r in [*rows, total])) + COLUMN_GAP
        for j in keep[1:]
    )
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=table_width if width is None else max(width, table_width),
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        markup=False,  # class names are data: "[red]cat" and ":smile:" print as they are
        emoji=False,
    )
    for line in header_lines(report, width):
        console.print(line, soft_wrap=True)
    console.print(table)
    for line in wrap_fields(summary_fields(report), width):
        console.print(line, soft_wrap=True)
    text = buffer.getvalue()
    if hidden:
        text = _insert_before_footer(text, more_classes_line(hidden, width))
    text += calibration_text(report, width)
    if report.slices is not None:
        text += slice_table_text(report)
    return text


def render_markdown(report: Report, *, max_classes: int = DEFAULT_MAX_CLASSES) -> str:
    files, settings, roles = (FIELD_GAP.join(fields) for fields in header_fields(report))
    lines = [f"**xent** {files}  ", settings.replace(FIELD_GAP, " · ") + "  "]
    lines += [_md_escape(roles.replace(FIELD_GAP, " · ")) + "  ", ""]
    lines.append("| " + " | ".join(TABLE_HEADINGS) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(TABLE_HEADINGS) - 1)) + "|")
    shown, hidden = shown_classes(report, max_classes)
    for result in shown:
        lines.append("| " + " | ".join(_md_escape(c) for c in _cells(result)) + " |")
    if hidden:
        blank = " |" * (len(TABLE_HEADINGS) - 1)
        lines.append(f"| *{more_classes_line(hidden)}* |{blank}")
    lines.append("| " + " | ".join(f"**{c}**" for c in _cells(overall(report))) + " |")
    lines.append("")
    lines.append(summary_line(report).replace(FIELD_GAP, " · "))
    lines += calibration_markdown(report)
    if report.slices is not None:
        rows, hidden_slices = slice_rows(report)
        lines += ["", f"*{md_text(slice_title(report))}*", ""]
        headings = slice_headings(report)
        lines.append("| " + " | ".join(headings) + " |")
        lines.append("|" + "|".join([":---"] + ["---:"] * (len(headings) - 1)) + "|")
        lines += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
        if hidden_slices:
            blank = " |" * (len(headings) - 1)
            lines.append(f"| *{more_slices_line(hidden_slices)}* |{blank}")
    if report.warnings:
        lines.append("")
        lines.extend(f"- ⚠️ `{w.code}`: {w.message}" for w in report.warnings)
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#&])")


def md_text(text: str) -> str:
    """Text shown literally in a markdown table cell: every character markdown could read
    as emphasis, code, a link, HTML, an entity or a cell border is escaped."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def warning_lines(warnings: Sequence[WarningRecord]) -> list[str]:
    """One stderr line per warning, with the first rows (and --id values, escaped as in
    tables: an id may hold a line break)."""
    lines = []
    for record in warnings:
        where = ""
        if record.rows:
            shown = record.ids if record.ids else [str(r) for r in record.rows]
            more = ", ..." if record.count > len(record.rows) else ""
            label = "ids" if record.ids else "rows"
            where = f" ({label} {', '.join(str(s) for s in shown)}{more})"
        lines.append(printable(f"xent: warning: {record.code}: {record.message}{where}"))
    return lines
