"""ComparisonReport -> text: table, JSON, CSV or markdown. Formatting only."""

from __future__ import annotations

import json
import math

from xent_cli.comparison.report import ClassDelta, ComparisonReport
from xent_cli.comparison.slices import SliceDelta
from xent_cli.options import OutputFormat
from xent_cli.render.junit import compare_junit
from xent_cli.render.report import (
    MAX_SLICES,
    csv_text,
    fmt_loss,
    md_text,
    more_slices_line,
    printable,
)

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
    if fmt is OutputFormat.junit:
        return compare_junit(report)
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
        names = ("max_regression", "max_relative_regression", "min_improvement",
                 "max_slice_regression")  # fmt: skip
        rules = [k for k in names if gate.get(k) is not None]
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


SLICE_COLUMNS = ("slice", "count", "baseline", "candidate", "delta", "interval")


def _slice_cells(g: SliceDelta) -> list[str]:
    interval = "-" if g.ci_low is None else f"[{_signed(g.ci_low)}, {_signed(g.ci_high)}]"
    return [
        printable(g.name) + (" *" if g.small else ""),
        str(g.count),
        fmt_loss(g.loss_baseline),
        fmt_loss(g.loss_candidate),
        _signed(g.delta),
        interval,
    ]


def _slice_title(report: ComparisonReport) -> str:
    assert report.slices is not None
    s = report.slices
    worst = ", ".join(f"{c}={v}" for c, v in s.worst.items()) if s.worst else "-"
    return (
        f"slices by {', '.join(s.by)} (the baseline's): {len(s.groups)}, largest delta "
        f"first; * small (< {s.min_size} rows): not gated; {100 * s.level:g}% paired t "
        f"intervals; worst: {worst}"
    )


def _slice_rows(report: ComparisonReport) -> tuple[list[list[str]], int]:
    assert report.slices is not None
    groups = report.slices.worst_first()
    return [_slice_cells(g) for g in groups[:MAX_SLICES]], max(0, len(groups) - MAX_SLICES)


def _slice_table(report: ComparisonReport) -> list[str]:
    rows, hidden = _slice_rows(report)
    widths = [max(len(r[i]) for r in [list(SLICE_COLUMNS), *rows]) for i in range(6)]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = ["", printable(_slice_title(report)), "", line(list(SLICE_COLUMNS))]
    out += ["-" * len(line(list(SLICE_COLUMNS))), *(line(r) for r in rows)]
    return out + ([more_slices_line(hidden)] if hidden else [])


def _slice_markdown(report: ComparisonReport) -> list[str]:
    rows, hidden = _slice_rows(report)
    lines = ["", f"*{md_text(_slice_title(report))}*", ""]
    lines += ["| " + " | ".join(SLICE_COLUMNS) + " |"]
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(SLICE_COLUMNS) - 1)) + "|")
    lines += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
    if hidden:
        lines.append(f"| *{more_slices_line(hidden)}* |" + " |" * (len(SLICE_COLUMNS) - 1))
    return lines


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
    if report.slices is not None:
        lines += _slice_table(report)
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
    if report.slices is not None:
        lines += _slice_markdown(report)
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
    if report.slices is not None:
        for g in report.slices.worst_first():
            data = g.to_dict()
            rows.append(["slice", g.name, g.count, *(_value(data[k]) for k in CSV_COLUMNS[3:])])
    return csv_text(rows)


def _value(value: object) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)
