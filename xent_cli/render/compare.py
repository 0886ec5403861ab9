"""ComparisonReport -> text: table, JSON, CSV or markdown. Formatting only."""

from __future__ import annotations

import json
import math

from xent_cli.comparison.report import ClassDelta, ComparisonReport, RowDelta
from xent_cli.comparison.slices import SliceDelta
from xent_cli.options import OutputFormat
from xent_cli.render.junit import compare_junit
from xent_cli.render.report import (
    MAX_SLICES,
    csv_text,
    fmt_loss,
    md_text,
    more_slices_line,
    title_lines,
)
from xent_cli.render.table import COMPACT, FIELD_GAP, Column, printable, table_lines, wrap_fields

# The class table; a narrow width drops count first, then contribution, candidate and
# baseline (class and delta stay).
CLASS_COLUMNS = (
    Column("class", align="left", shorten=True),
    Column("count", rank=4),
    Column("baseline", rank=1),
    Column("candidate", rank=2),
    Column("delta"),
    Column("contribution", rank=3),
)
COLUMNS = tuple(column.heading for column in CLASS_COLUMNS)
CSV_COLUMNS = (
    "scope",
    "class",
    "count",
    "loss_baseline",
    "loss_candidate",
    "delta",
    "contribution",
    "value",
)


def render_comparison(
    report: ComparisonReport, fmt: OutputFormat, *, width: int | None = None
) -> str:
    """The comparison in ``fmt``; the table fitted to ``width`` (None: no limit)."""
    if fmt is OutputFormat.json:
        return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
    if fmt is OutputFormat.csv:
        return _csv(report)
    if fmt is OutputFormat.markdown:
        return _markdown(report)
    if fmt is OutputFormat.junit:
        return compare_junit(report)
    return _table(report, width)


def _signed(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return fmt_loss(value)
    if value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:+.{digits - 1}e}"
    return f"{value:+.{digits + 1}f}" if abs(value) < 1 else f"{value:+.{digits}g}"


def summary_fields(report: ComparisonReport) -> list[str]:
    relative = (
        f" ({100 * report.relative_delta:+.1f}%)" if report.relative_delta is not None else ""
    )
    ci = report.ci
    level = f"{100 * ci['level']:g}%"
    p = report.test["p_value"]
    p_text = "nan" if not isinstance(p, float) or math.isnan(p) else f"{p:.3g}"
    return [
        f"delta {_signed(report.delta, 3)} {report.unit}{relative}",
        f"{level} CI [{_signed(ci['low'], 3)}, {_signed(ci['high'], 3)}]",
        f"p={p_text}",
    ]


def _g(value: float | None, digits: int = 4) -> str:
    """A figure in ``digits`` significant digits (``-`` when there is none)."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return fmt_loss(value)
    return f"{value:.{digits}g}"


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.{digits}f}%"


def _p(value: float | None) -> str:
    return "nan" if value is None or math.isnan(value) else f"{value:.3g}"


def changed_groups(report: ComparisonReport) -> list[list[str]]:
    """The "what changed" block: churn and flips, how far the distributions moved (KL,
    delta p), the perplexity ratio and the losses' correlation; each group of fields starts a
    line."""
    groups = []
    d = report.distribution
    if d is not None:
        agreement, flips, kl, dp = d["top1_agreement"], d["flips"], d["kl"], d["delta_p"]
        se = f" +- {_pct(agreement['se'])}" if agreement["se"] is not None else ""
        groups += [
            [
                f"what changed: churn {_pct(d['churn'])} (top-1 agreement "
                f"{_pct(agreement['rate'])}{se})",
                f"flips: {flips['right_to_wrong']} right->wrong, {flips['wrong_to_right']} "
                f"wrong->right (McNemar p={_p(flips['mcnemar_p'])})",
            ],
            [
                f"KL(baseline||candidate) mean {_g(kl['mean'])} +- {_g(kl['se'], 2)} {report.unit}",
                f"median {_g(kl['percentiles']['50'])}, 99% {_g(kl['percentiles']['99'])}, "
                f"max {_g(kl['max'])}",
            ],
            [f"p(true) change: mean {_signed(dp['mean'], 3)}, RMS {_g(dp['rms'], 3)}"],
        ]
    fields = []
    ci = report.ci
    ratio = f"perplexity ratio {_g(report.perplexity_ratio, 5)}"
    if "perplexity_ratio_low" in ci:
        ratio += f" [{_g(ci['perplexity_ratio_low'], 5)}, {_g(ci['perplexity_ratio_high'], 5)}]"
    fields.append(ratio)
    fields.append(f"loss correlation {_g(report.correlation, 4)}")
    docs = report.documents
    if docs is not None:
        fields.append(
            f"documents: {docs['count']}, candidate better in {_pct(docs['candidate_better'], 1)}"
        )
    return [*groups, fields]


def changed_fields(report: ComparisonReport) -> list[str]:
    """Every field of the "what changed" block, in order."""
    return [field for group in changed_groups(report) for field in group]


def summary_line(report: ComparisonReport) -> str:
    """``delta +0.00633 nats (+7.6%)  95% CI [-0.0135, +0.0261]  p=0.53``"""
    return "  ".join(summary_fields(report))


def verdict(report: ComparisonReport) -> str:
    gate = report.gate
    if gate["passed"]:
        names = ("max_regression", "max_relative_regression", "min_improvement",
                 "max_slice_regression", "max_kl", "max_churn")  # fmt: skip
        rules = [k for k in names if gate.get(k) is not None]
        return "gate: passed" + (f" ({', '.join(rules)})" if rules else " (no gate set)")
    return "gate: FAILED: " + "; ".join(gate["reasons"])


def _header_fields(report: ComparisonReport) -> list[tuple[list[str], str]]:
    """The header's lines, each as its fields and the gap between them."""
    join = report.join
    by = {
        "token": f"document and position ({join['by']})",
        "doc": f"document ({join['by'].removeprefix('doc:')})",
    }.get(report.pair_by, "position" if join["by"] == "position" else f"--id {join['by']}")
    what = "documents" if report.pair_by == "doc" else "rows"
    sides = []
    for name, side in (("baseline:", report.baseline), ("candidate:", report.candidate)):
        numbers = f"({side.n_rows} rows, {side.kind}, loss {fmt_loss(side.loss)})"
        sides.append(([f"{name:<10} {', '.join(side.files)}", numbers], "  "))
    pairing = [
        f"paired by {by}: {join['n_joined']} {what} ({join['n_only_baseline']} only in the "
        f"baseline, {join['n_only_candidate']} only in the candidate)",
        f"mode: {report.baseline.mode}",
        f"unit: {report.unit}",
    ]
    return [*sides, (pairing, FIELD_GAP)]


def _header(report: ComparisonReport) -> list[str]:
    return [gap.join(fields) for fields, gap in _header_fields(report)]


def _header_lines(report: ComparisonReport, width: int | None) -> list[str]:
    return [
        line for fields, gap in _header_fields(report) for line in wrap_fields(fields, width, gap)
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


# The slice table; a narrow width drops count first, then candidate, baseline and
# the interval (slice and delta stay).
SLICE_TABLE_COLUMNS = (
    Column("slice", align="left", shorten=True),
    Column("count", rank=4),
    Column("baseline", rank=2),
    Column("candidate", rank=3),
    Column("delta"),
    Column("interval", rank=1),
)
SLICE_COLUMNS = tuple(column.heading for column in SLICE_TABLE_COLUMNS)
# A token comparison's slices add the perplexity ratio (dropped first when narrow).
TOKEN_SLICE_TABLE_COLUMNS = (*SLICE_TABLE_COLUMNS, Column("ppl ratio", rank=5))
_INTERVALS = {"cluster-t": "cluster-t intervals (by documents)", "t": "t intervals (by rows)"}
# --top's rows; a narrow width drops candidate first, then baseline, id and label (row
# and delta stay).
ROW_COLUMNS = (
    Column("row"),
    Column("id", rank=2, align="left", shorten=True),
    Column("label", rank=1, align="left", shorten=True),
    Column("baseline", rank=3),
    Column("candidate", rank=4),
    Column("delta"),
)


def _slice_cells(g: SliceDelta) -> list[str]:
    interval = "-" if g.ci_low is None else f"[{_signed(g.ci_low)}, {_signed(g.ci_high)}]"
    cells = [
        printable(g.name) + (" *" if g.small else ""),
        str(g.count),
        fmt_loss(g.loss_baseline),
        fmt_loss(g.loss_candidate),
        _signed(g.delta),
        interval,
    ]
    if g.token is not None:
        cells.append(_g(g.token.perplexity_ratio, 5))
    return cells


def _slice_columns(report: ComparisonReport) -> tuple[Column, ...]:
    assert report.slices is not None
    tokens = any(g.token is not None for g in report.slices.groups)
    return TOKEN_SLICE_TABLE_COLUMNS if tokens else SLICE_TABLE_COLUMNS


def _slice_title_parts(report: ComparisonReport) -> list[str]:
    assert report.slices is not None
    s = report.slices
    worst = ", ".join(f"{c}={v}" for c, v in s.worst.items()) if s.worst else "-"
    return [
        f"slices by {', '.join(s.by)} (the baseline's): {len(s.groups)}, largest delta first",
        f"* small (< {s.min_size} {s.entries}): not gated",
        f"{100 * s.level:g}% {_INTERVALS.get(s.method, 'paired t intervals')}",
        f"worst: {worst}",
    ]


def _slice_title(report: ComparisonReport) -> str:
    return "; ".join(_slice_title_parts(report))


def _slice_rows(report: ComparisonReport) -> tuple[list[list[str]], int]:
    assert report.slices is not None
    groups = report.slices.worst_first()
    return [_slice_cells(g) for g in groups[:MAX_SLICES]], max(0, len(groups) - MAX_SLICES)


def _slice_table(report: ComparisonReport, width: int | None) -> list[str]:
    rows, hidden = _slice_rows(report)
    parts = [printable(part) for part in _slice_title_parts(report)]
    out = ["", *title_lines(parts, width), ""]
    out += table_lines(_slice_columns(report), rows, width=width, look=COMPACT)
    return out + ([more_slices_line(hidden)] if hidden else [])


def _row_cells(r: RowDelta) -> list[str]:
    return [
        str(r.row),
        printable(r.id or "-"),
        printable(r.label),
        fmt_loss(r.loss_baseline),
        fmt_loss(r.loss_candidate),
        _signed(r.delta),
    ]


def _slice_markdown(report: ComparisonReport) -> list[str]:
    rows, hidden = _slice_rows(report)
    headings = [column.heading for column in _slice_columns(report)]
    lines = ["", f"*{md_text(_slice_title(report))}*", ""]
    lines += ["| " + " | ".join(headings) + " |"]
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(headings) - 1)) + "|")
    lines += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
    if hidden:
        lines.append(f"| *{more_slices_line(hidden)}* |" + " |" * (len(headings) - 1))
    return lines


# The worst documents of a token comparison; a narrow width drops tokens first, then the
# candidate's and the baseline's loss (document and delta stay).
DOCUMENT_COLUMNS = (
    Column("document", align="left", shorten=True),
    Column("tokens", rank=3),
    Column("baseline", rank=1),
    Column("candidate", rank=2),
    Column("delta"),
)


def _document_lines(report: ComparisonReport, width: int | None) -> list[str]:
    docs = report.documents
    if not docs or not docs.get("worst"):
        return []
    rows = [
        [printable(str(d["id"])), "-" if d["tokens"] is None else str(d["tokens"]),
         fmt_loss(d["loss_baseline"]), fmt_loss(d["loss_candidate"]), _signed(d["delta"])]
        for d in docs["worst"]
    ]  # fmt: skip
    title = f"documents whose loss rose most (of {docs['count']}):"
    return ["", title, *table_lines(DOCUMENT_COLUMNS, rows, width=width, look=COMPACT)]


def _table(report: ComparisonReport, width: int | None) -> str:
    classes = [_cells(c) for c in report.classes]
    lines = [*_header_lines(report, width), ""]
    if classes:
        lines += table_lines(
            CLASS_COLUMNS, classes, width=width, look=COMPACT, footer=_overall(report)
        )
    else:  # a token file: the loss per unit of each side
        per = report.ci.get("per", "token")
        lines += wrap_fields(
            [f"loss per {per}: baseline {fmt_loss(report.loss_baseline)}",
             f"candidate {fmt_loss(report.loss_candidate)}"], width, "  ")  # fmt: skip
    lines += ["", *wrap_fields(summary_fields(report), width, "  ")]
    for group in changed_groups(report):
        lines += wrap_fields(group, width, "  ")
    lines += wrap_fields([verdict(report)], width)
    if report.slices is not None:
        lines += _slice_table(report, width)
    lines += _document_lines(report, width)
    if report.rows:
        lines += ["", "rows whose loss rose most:"]
        rows = [_row_cells(r) for r in report.rows]
        lines += table_lines(ROW_COLUMNS, rows, width=width, look=COMPACT)
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
    lines += ["", *(md_text(" · ".join(g)) + "  " for g in changed_groups(report))]
    if report.slices is not None:
        lines += _slice_markdown(report)
    return "\n".join(lines) + "\n"


def _csv(report: ComparisonReport) -> str:
    rows: list[list[object]] = [list(CSV_COLUMNS)]
    for c in report.classes:
        data = c.to_dict()
        rows.append(["class", c.name, c.count, *(_value(data[k]) for k in CSV_COLUMNS[3:-1]), ""])
    rows.append(
        [
            "overall",
            "",
            report.join["n_joined"],
            repr(report.loss_baseline),
            repr(report.loss_candidate),
            repr(report.delta),
            repr(report.delta),
            "",
        ]
    )
    if report.slices is not None:
        for g in report.slices.worst_first():
            data = g.to_dict()
            cells = (_value(data[k]) for k in CSV_COLUMNS[3:-1])
            rows.append(["slice", g.name, g.count, *cells, ""])
    figures = report.to_dict()
    for name in ("perplexity_ratio", "correlation"):
        rows.append(["figure", name, "", "", "", "", "", _value(figures[name])])
    for scope in ("ci", "distribution", "documents"):
        for name, value in _flat(figures.get(scope), scope):
            rows.append(["figure", name, "", "", "", "", "", _value(value)])
    return csv_text(rows)


def _flat(value: object, prefix: str) -> list[tuple[str, object]]:
    """A JSON block's numbers (and flags), each under its dotted path: ``distribution.kl.mean``
    (the histogram and the worst documents are left to the JSON)."""
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if key in ("histogram", "worst"):
                continue
            out += _flat(item, f"{prefix}.{key}")
        return out
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return [(prefix, value)]
    return []


def _value(value: object) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)
