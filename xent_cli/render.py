"""Report -> text: a rich table, JSON, CSV or markdown. Renderers only format; they never exit."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence

from .diagnostics import WarningRecord
from .options import OutputFormat
from .report import ClassResult, Report, json_number

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


def render(report: Report, fmt: OutputFormat, *, width: int = 100, color: bool = False) -> str:
    if fmt is OutputFormat.json:
        return render_json(report)
    if fmt is OutputFormat.csv:
        return render_csv(report)
    if fmt is OutputFormat.markdown:
        return render_markdown(report)
    return render_table(report, width=width, color=color)


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
    return csv_text(lines)


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


def header_lines(report: Report) -> list[str]:
    skipped = f", {report.n_skipped} skipped" if report.n_skipped else ""
    kind = f"{report.kind} (from {report.kind_source})"
    return [
        f"files: {', '.join(report.files)}",
        f"rows: {report.n_rows} ({report.n_evaluated} evaluated{skipped})   mode: {report.mode}"
        f"   kind: {kind}   base: {report.base} ({report.unit})   eps: {report.eps:g}",
    ]


def summary_line(report: Report) -> str:
    return (
        f"loss {fmt_loss(report.loss)} {report.unit}   perplexity {report.perplexity:.4g}   "
        f"accuracy {fmt_percent(report.accuracy)}"
    )


def render_table(report: Report, *, width: int = 100, color: bool = False) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, show_footer=True)
    for i, (heading, total) in enumerate(zip(TABLE_HEADINGS, _cells(overall(report)), strict=True)):
        table.add_column(
            heading, footer=total, justify="left" if i == 0 else "right", overflow="fold"
        )
    for result in report.classes:
        table.add_row(*_cells(result))
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        markup=False,  # class names are data: "[red]cat" and ":smile:" print as they are
        emoji=False,
    )
    for line in header_lines(report):
        console.print(line, soft_wrap=True)
    console.print(table)
    console.print(summary_line(report), soft_wrap=True)
    return buffer.getvalue()


def render_markdown(report: Report) -> str:
    files, settings = header_lines(report)
    lines = [f"**xent** {files}  ", settings.replace("   ", " · ") + "  ", ""]
    lines.append("| " + " | ".join(TABLE_HEADINGS) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(TABLE_HEADINGS) - 1)) + "|")
    for result in report.classes:
        lines.append("| " + " | ".join(_md_escape(c) for c in _cells(result)) + " |")
    lines.append("| " + " | ".join(f"**{c}**" for c in _cells(overall(report))) + " |")
    lines.append("")
    lines.append(summary_line(report).replace("   ", " · "))
    if report.warnings:
        lines.append("")
        lines.extend(f"- ⚠️ `{w.code}`: {w.message}" for w in report.warnings)
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


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
