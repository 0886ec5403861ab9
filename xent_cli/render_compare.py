"""ComparisonReport -> text: table, JSON, CSV or markdown. Formatting only."""

from __future__ import annotations

import json
import math

from .comparison import ClassDelta, ComparisonReport
from .options import OutputFormat
from .render import csv_text, fmt_loss, printable

COLUMNS = ("class", "count", "baseline", "candidate", "delta", "contribution")
CSV_COLUMNS = (
    "scope",
    "class",
    "count",
    "loss_baseline",
    "loss_candidate",
    "delta",
    "contribution",
)


def render_comparison(report: ComparisonReport, fmt: OutputFormat) -> str:
    if fmt is OutputFormat.json:
        return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
    if fmt is OutputFormat.csv:
        return _csv(report)
    if fmt is OutputFormat.markdown:
        return _markdown(report)
    return _table(report)


def _signed(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return fmt_loss(value)
    if value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:+.{digits - 1}e}"
    return f"{value:+.{digits + 1}f}" if abs(value) < 1 else f"{value:+.{digits}g}"


def summary_line(report: ComparisonReport) -> str:
    """``delta +0.00633 nats (+7.6%)  95% CI [-0.0135, +0.0261]  p=0.53``"""
    relative = (
        f" ({100 * report.relative_delta:+.1f}%)" if report.relative_delta is not None else ""
    )
    ci = report.ci
    level = f"{100 * ci['level']:g}%"
    p = report.test["p_value"]
    p_text = "nan" if not isinstance(p, float) or math.isnan(p) else f"{p:.3g}"
    return (
        f"delta {_signed(report.delta, 3)} {report.unit}{relative}  {level} CI "
        f"[{_signed(ci['low'], 3)}, {_signed(ci['high'], 3)}]  p={p_text}"
    )


def verdict(report: ComparisonReport) -> str:
    gate = report.gate
    if gate["passed"]:
        rules = [k for k in ("max_regression", "max_relative_regression", "min_improvement")
                 if gate[k] is not None]  # fmt: skip
        return "gate: passed" + (f" ({', '.join(rules)})" if rules else " (no gate set)")
    return "gate: FAILED: " + "; ".join(gate["reasons"])


def _header(report: ComparisonReport) -> list[str]:
    b, c, join = report.baseline, report.candidate, report.join
    by = "position" if join["by"] == "position" else f"--id {join['by']}"
    return [
        f"baseline:  {', '.join(b.files)}  ({b.n_rows} rows, {b.kind}, loss {fmt_loss(b.loss)})",
        f"candidate: {', '.join(c.files)}  ({c.n_rows} rows, {c.kind}, loss {fmt_loss(c.loss)})",
        f"paired by {by}: {join['n_joined']} rows ({join['n_only_baseline']} only in the "
        f"baseline, {join['n_only_candidate']} only in the candidate)   mode: {b.mode}   "
        f"unit: {report.unit}",
    ]


def _cells(c: ClassDelta) -> list[str]:
    return [
        printable(c.name),
        str(c.count),
        fmt_loss(c.loss_baseline),
        fmt_loss(c.loss_candidate),
        _signed(c.delta),
        _signed(c.contribution),
    ]


def _overall(report: ComparisonReport) -> list[str]:
    return [
        "overall",
        str(report.join["n_joined"]),
        fmt_loss(report.loss_baseline),
        fmt_loss(report.loss_candidate),
        _signed(report.delta),
        _signed(report.delta),
    ]


def _table(report: ComparisonReport) -> str:
    rows = [list(COLUMNS), *(_cells(c) for c in report.classes), _overall(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "-" * len(line(rows[0]))
    body = [line(rows[0]), rule, *(line(r) for r in rows[1:-1]), rule, line(rows[-1])]
    lines = [*_header(report), "", *body, "", summary_line(report), verdict(report)]
    if report.rows:
        lines += ["", "rows whose loss rose most:"]
        lines += [
            f"  row {r.row:>8}  {printable(r.id or '-')[:16]:<16}  {printable(r.label)[:14]:<14}"
            f"  {fmt_loss(r.loss_baseline):>9} -> {fmt_loss(r.loss_candidate):>9}"
            f"  {_signed(r.delta):>10}"
            for r in report.rows
        ]
    return "\n".join(lines) + "\n"


def _markdown(report: ComparisonReport) -> str:
    mark = "✅" if report.passed else "❌"
    lines = [f"{mark} **xent compare** — {verdict(report)}", "", f"`{summary_line(report)}`", ""]
    lines += [f"{h}  " for h in _header(report)]
    lines += ["", "| " + " | ".join(COLUMNS) + " |"]
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(COLUMNS) - 1)) + "|")
    for c in report.classes:
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in _cells(c)) + " |")
    lines.append("| " + " | ".join(f"**{x}**" for x in _overall(report)) + " |")
    return "\n".join(lines) + "\n"


def _csv(report: ComparisonReport) -> str:
    rows: list[list[object]] = [list(CSV_COLUMNS)]
    for c in report.classes:
        data = c.to_dict()
        rows.append(["class", c.name, c.count, *(_value(data[k]) for k in CSV_COLUMNS[3:])])
    rows.append(
        [
            "overall",
            "",
            report.join["n_joined"],
            repr(report.loss_baseline),
            repr(report.loss_candidate),
            repr(report.delta),
            repr(report.delta),
        ]
    )
    return csv_text(rows)


def _value(value: object) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)
