"""Report -> text: the table, JSON, CSV or markdown. Renderers only format; they never exit."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xent_cli.core.diagnostics import WarningRecord
from xent_cli.jsonvalues import json_number, number
from xent_cli.options import OutputFormat
from xent_cli.render.json_text import render_json
from xent_cli.render.junit import eval_junit
from xent_cli.render.table import (
    BOXED,
    DASHED,
    FIELD_GAP,
    Column,
    printable,
    shorten,
    table_lines,
    wrap_fields,
)

if TYPE_CHECKING:  # (a token file's rendering never loads the classifier's report)
    from xent_cli.core.report import ClassResult, Report

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
BAR_WIDTH = 10  # characters of the longest bar (the largest share shown)
# The terminal table: the markdown table's columns and, after "share", a bar of each class's
# share of the loss. A narrow width drops zero-p first, then the bars, mean p(true), count,
# accuracy and share (rank: importance; class and loss stay).
CLASS_COLUMNS = (
    Column("class", align="left", shorten=True),
    Column("count", rank=3),
    Column("loss"),
    Column("share", rank=1),
    Column("", rank=5, align="left", style="36"),  # the bars, in cyan
    Column("accuracy", rank=2),
    Column("mean p(true)", rank=4),
    Column("zero-p", rank=6),
)
DEFAULT_MAX_CLASSES = 40
MIN_CLASS_WIDTH = len("overall")  # the overall row's name is never cut


def render(
    report: Report,
    fmt: OutputFormat,
    *,
    width: int | None = None,
    color: bool = False,
    max_classes: int = DEFAULT_MAX_CLASSES,
) -> str:
    """The report in ``fmt``. ``width``: the columns the table fits (None: no
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


def overall(report: Report) -> ClassResult:
    """The overall row, shaped like a class row."""
    from xent_cli.core.report import ClassResult

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


# The slice table's columns (a narrow width drops zero-p first; slice and loss stay); with
# --calibration, each slice's ECE after them.
SLICE_COLUMNS = (
    Column("slice", align="left", shorten=True),
    Column("count", rank=4),
    Column("loss"),
    Column("share", rank=1),
    Column("accuracy", rank=2),
    Column("mean p(true)", rank=5),
    Column("zero-p", rank=6),
)
ECE_COLUMN = Column("ECE", rank=3)
MAX_SLICES = 40  # rows of a table or markdown slice table


def _slices_calibrated(report: Report) -> bool:
    """--calibration: each slice has its ECE (a column of the slice table)."""
    return report.slices is not None and any(g.calibration for g in report.slices.groups)


def slice_columns(report: Report) -> tuple[Column, ...]:
    """The slice table's columns; with --calibration, each slice's ECE too."""
    return (*SLICE_COLUMNS, ECE_COLUMN) if _slices_calibrated(report) else SLICE_COLUMNS


def slice_headings(report: Report) -> tuple[str, ...]:
    return tuple(column.heading for column in slice_columns(report))


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


def slice_title_parts(report: Report) -> list[str]:
    assert report.slices is not None
    s = report.slices
    parts = [f"slices by {', '.join(s.by)}: {len(s.groups)}, worst first"]
    parts.append(f"* small (< {s.min_size} rows): not gated")
    if s.difference_between is not None:
        parts.append(f"max - min loss {fmt_loss(s.difference_between)}")
    if s.difference_to_overall is not None:
        parts.append(f"max |slice - overall| {fmt_loss(s.difference_to_overall)}")
    return parts


def slice_title(report: Report) -> str:
    return "; ".join(slice_title_parts(report))


def title_lines(parts: Sequence[str], width: int | None) -> list[str]:
    """A title of parts joined by "; ", broken after a "; " where it would pass ``width``."""
    return wrap_fields([*(p + ";" for p in parts[:-1]), *parts[-1:]], width, gap=" ")


def more_slices_line(hidden: int) -> str:
    return f"... {hidden} more slices: see --format json"


def slice_table_text(report: Report, width: int | None = None) -> str:
    """The slice table with its title, fitted to ``width`` (None: no limit)."""
    rows, hidden = slice_rows(report)
    out = ["", *title_lines(slice_title_parts(report), width), ""]
    out += table_lines(slice_columns(report), rows, width=width, look=DASHED)
    if hidden:
        out.append(more_slices_line(hidden))
    return "\n".join(out) + "\n"


# One row per bin; a narrow width drops count, then gap. A bin is numbers: never cut.
RELIABILITY_COLUMNS = (
    Column("bin", align="left"),
    Column("count", rank=2),
    Column("mean p"),
    Column("observed"),
    Column("gap", rank=1),
)
RELIABILITY_HEADINGS = tuple(column.heading for column in RELIABILITY_COLUMNS)


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
    _, rows = reliability_rows(calibration)
    if rows:
        out += ["", *table_lines(RELIABILITY_COLUMNS, rows, width=width, look=DASHED)]
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
    if report.n_ignored_rows is not None:  # multilabel: rows with no cell left, and cells
        skipped += f", {report.n_ignored_rows} ignored" if report.n_ignored_rows else ""
        skipped += f"; {report.n_ignored} cells ignored" if report.n_ignored else ""
    elif report.n_ignored:
        skipped += f", {report.n_ignored} ignored"
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


def header_lines(report: Report, width: int | None = None) -> list[str]:
    """The header as text lines; with a ``width``, broken between fields to fit it."""
    return [line for fields in header_fields(report, width) for line in wrap_fields(fields, width)]


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


def render_table(
    report: Report,
    *,
    width: int | None = None,
    color: bool = False,
    max_classes: int = DEFAULT_MAX_CLASSES,
) -> str:
    """The header, the per-class table, the summary, and the calibration and slice tables,
    fitted to ``width`` (None: no limit)."""
    shown, hidden = shown_classes(report, max_classes)
    largest = max((_share_key(result) for result in shown), default=0.0)
    table = table_lines(
        CLASS_COLUMNS,
        [_table_cells(result, largest) for result in shown],
        width=width,
        look=BOXED,
        footer=_table_cells(overall(report)),
        note=more_classes_line(hidden, width) if hidden else None,
        color=color,
    )
    lines = [*header_lines(report, width), *table, *wrap_fields(summary_fields(report), width)]
    text = "\n".join(lines) + "\n" + calibration_text(report, width)
    if report.slices is not None:
        text += slice_table_text(report, width)
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
