"""A token file's report as text, markdown, CSV or JSON: what was decided (columns, kind,
unit, denominator), the figures of every convention side by side, the interval by
documents beside the i.i.d. one, and the worst documents."""

from __future__ import annotations

from collections.abc import Sequence

from xent_cli.core.token_report import TokenReport
from xent_cli.options import OutputFormat
from xent_cli.render.json_text import render_json
from xent_cli.render.report import (
    RELIABILITY_COLUMNS,
    calibration_fields,
    csv_text,
    fmt_loss,
    fmt_percent,
    md_text,
    reliability_rows,
)
from xent_cli.render.table import DASHED, Column, printable, shorten, table_lines, wrap_fields

MIN_ID_WIDTH = 8


def render_tokens(report: TokenReport, fmt: OutputFormat, *, width: int | None = None) -> str:
    """The report in ``fmt`` (``width``: the terminal's columns; None: 80)."""
    if fmt is OutputFormat.json:
        return render_json(report)
    if fmt is OutputFormat.csv:
        return _csv(report)
    if fmt is OutputFormat.markdown:
        return _markdown(report)
    return _table(report, width if width is not None else 80)


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def decided_fields(report: TokenReport) -> list[list[str]]:
    """The header: files; rows and what was left out; mode, kind, base; the unit and the
    denominator; the columns chosen."""
    skipped = [
        f"{n} {what}"
        for n, what in (
            (report.n_masked, "masked"),
            (report.n_ignored, "ignored"),
            (report.n_skipped, "skipped"),
        )
        if n
    ]
    rows = f"rows: {report.n_rows} ({report.n_evaluated} scored{', ' if skipped else ''}"
    rows += ", ".join(skipped) + ")"
    units = {"token": report.n_tokens, "byte": report.n_bytes, "word": report.n_words}
    total = units[report.per]
    columns = [f"{role}: {printable(name)}" for role, name in report.columns.items()]
    return [
        [f"files: {', '.join(report.files)}"],
        [
            rows,
            "mode: tokens",
            f"kind: {report.kind} (from {report.kind_source})",
            f"base: {report.base} ({report.unit})",
        ],
        [
            f"per: {report.per}",
            f"loss = sum of -log p / {report.denominator} ({total if total is not None else '?'})",
            f"eps: {report.eps:g}",
        ],
        columns,
    ]


def figure_fields(report: TokenReport) -> list[list[str]]:
    """The figures, one group of fields per line of the table."""
    ci = report.ci
    level = f"{ci.level:.0%}"
    lines = [
        [
            f"loss {fmt_loss(report.loss)} {report.unit}/{report.per}",
            f"{level} CI [{fmt_loss(ci.low)}, {fmt_loss(ci.high)}]",
        ],
        [
            f"perplexity {_num(report.perplexity)}",
            f"{level} CI [{_num(ci.perplexity_low)}, {_num(ci.perplexity_high)}]",
        ],
        [
            f"se {_num(ci.se, 3)} ({'by documents' if ci.method == 'cluster' else 'rows i.i.d.'}"
            f", df {ci.df})",
            f"se i.i.d. {_num(ci.se_iid, 3)}",
            f"design effect {_num(ci.design_effect, 3)}",
        ],
    ]
    other = []
    if report.bits_per_token is not None:
        other.append(f"bits/token {_num(report.bits_per_token)}")
    if report.bits_per_byte is not None:
        other.append(f"bits/byte {_num(report.bits_per_byte)}")
        other.append(f"byte perplexity {_num(report.byte_perplexity)}")
    if report.word_perplexity is not None:
        other.append(f"word perplexity {_num(report.word_perplexity)}")
    if other:
        lines.append(other)
    if report.accuracy is not None or report.mean_p_true is not None:
        lines.append(
            [
                *([f"top-1 accuracy {fmt_percent(report.accuracy)}"] if report.accuracy else []),
                *([f"mean p(token) {_num(report.mean_p_true)}"] if report.mean_p_true else []),
            ]
        )
    docs = report.documents
    if docs is not None:
        lines.append(
            [
                f"documents: {docs.count} ({printable(docs.column)})",
                f"mean loss {fmt_loss(docs.mean_loss)}",
                f"mean perplexity {_num(docs.mean_perplexity)}",
            ]
        )
    return lines


def _table(report: TokenReport, width: int) -> str:
    lines = [
        line
        for fields in [*decided_fields(report), *figure_fields(report)]
        for line in wrap_fields(fields, width)
    ]
    docs = report.documents
    if docs is not None and docs.worst:
        lines += ["", *_worst_table(report, width)]
    if report.calibration is not None:
        calibration = report.calibration
        lines += ["", *wrap_fields(calibration_fields(calibration), width)]
        _, bins = reliability_rows(calibration)
        if bins:
            lines += ["", *table_lines(RELIABILITY_COLUMNS, bins, width=width, look=DASHED)]
    if report.slices is not None:
        lines += ["", *_slice_table(report, width)]
    return "\n".join(lines) + "\n"


def _slice_table(report: TokenReport, width: int) -> list[str]:
    """``--by``: each slice's rows, tokens, loss per unit and perplexity, worst first."""
    slices = report.slices
    assert slices is not None
    title = f"slices by {', '.join(slices.by)}: {len(slices.groups)}, worst first"
    columns = [
        Column("slice", align="left", shorten=True, min_width=10),
        Column("rows", rank=3),
        Column("tokens", rank=2),
        Column(f"loss/{report.per}", rank=0),
        Column("perplexity", rank=1),
    ]
    small = any(g.small for g in slices.groups)
    if small:
        columns.append(Column("small", rank=4, align="left"))
    rows = [
        [
            printable(", ".join(g.key.values())),
            str(g.count),
            "-" if g.tokens is None else str(g.tokens),
            fmt_loss(g.loss),
            _num(g.perplexity),
            *(["yes" if g.small else ""] if small else []),
        ]
        for g in slices.groups
    ]
    return [*wrap_fields([title], width), *table_lines(columns, rows, width=width, look=DASHED)]


def _worst_table(report: TokenReport, width: int) -> list[str]:
    """The worst documents: id, tokens, loss, perplexity; ids shortened to fit ``width``,
    numbers never cut (the tokens column goes first when the width is short)."""
    assert report.documents is not None
    worst = report.documents.worst
    rows = [
        [printable(d.id), "-" if d.tokens is None else str(d.tokens), fmt_loss(d.loss),
         _num(d.perplexity)]
        for d in worst
    ]  # fmt: skip
    headings = ["worst documents", "tokens", "loss", "perplexity"]
    keep = [0, 1, 2, 3]
    natural = [max(len(headings[j]), *(len(r[j]) for r in rows)) for j in range(4)]

    def numbers() -> int:
        return sum(natural[j] + 2 for j in keep[1:])

    if MIN_ID_WIDTH + numbers() > width and 1 in keep:
        keep.remove(1)
    id_width = max(MIN_ID_WIDTH, min(natural[0], width - numbers()))
    out = []
    for cells in [headings, *rows]:
        parts = [shorten(cells[0], id_width).ljust(id_width)]
        parts += [cells[j].rjust(natural[j]) for j in keep[1:]]
        out.append("  ".join(parts).rstrip())
    return out


def _markdown(report: TokenReport) -> str:
    lines = [f"**xent** · tokens · {md_text(', '.join(report.files))}", ""]
    lines += ["| figure | value |", "|---|---:|"]
    ci = report.ci
    figures: list[tuple[str, str]] = [
        (f"loss ({report.unit}/{report.per})", fmt_loss(report.loss)),
        (f"{ci.level:.0%} CI ({ci.method})", f"[{fmt_loss(ci.low)}, {fmt_loss(ci.high)}]"),
        ("perplexity", _num(report.perplexity)),
        ("se / se i.i.d. / design effect",
         f"{_num(ci.se, 3)} / {_num(ci.se_iid, 3)} / {_num(ci.design_effect, 3)}"),
    ]  # fmt: skip
    for name, value in (
        ("bits per token", report.bits_per_token),
        ("bits per byte", report.bits_per_byte),
        ("byte perplexity", report.byte_perplexity),
        ("word perplexity", report.word_perplexity),
        ("mean p(token)", report.mean_p_true),
    ):
        if value is not None:
            figures.append((name, _num(value)))
    if report.accuracy is not None:
        figures.append(("top-1 accuracy", fmt_percent(report.accuracy)))
    docs = report.documents
    if docs is not None:
        figures.append((f"documents ({md_text(docs.column)})", str(docs.count)))
        figures.append(("documents' mean loss", fmt_loss(docs.mean_loss)))
        figures.append(("documents' mean perplexity", _num(docs.mean_perplexity)))
    lines += [f"| {name} | {value} |" for name, value in figures]
    if docs is not None and docs.worst:
        lines += ["", "| worst document | tokens | loss | perplexity |", "|---|---:|---:|---:|"]
        lines += [
            f"| {md_text(d.id)} | {'-' if d.tokens is None else d.tokens} | "
            f"{fmt_loss(d.loss)} | {_num(d.perplexity)} |"
            for d in docs.worst
        ]
    if report.calibration is not None:
        fields = calibration_fields(report.calibration)
        lines += ["", md_text(" · ".join(fields[:3]) + " " + fields[3])]
    if report.slices is not None:
        unit = f"loss/{report.per}"
        lines += [
            "",
            f"| slice | rows | tokens | {unit} | perplexity |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {md_text(', '.join(g.key.values()))} | {g.count} | "
            f"{'-' if g.tokens is None else g.tokens} | {fmt_loss(g.loss)} | "
            f"{_num(g.perplexity)} |"
            for g in report.slices.groups
        ]
    lines += ["", f"`{report.signature}`"]
    return "\n".join(lines) + "\n"


def _csv(report: TokenReport) -> str:
    """One row per figure (``scope, name, value``): overall figures, then documents."""
    rows: list[Sequence[object]] = [("scope", "name", "value")]
    data = report.to_dict()
    for key in ("loss", "perplexity", "bits_per_token", "bits_per_byte", "byte_perplexity",
                "word_perplexity", "accuracy", "mean_p_true", "n_tokens", "n_bytes", "n_words",
                "n_rows", "n_evaluated", "n_skipped", "n_masked", "n_ignored"):  # fmt: skip
        if data.get(key) is not None:
            rows.append(("overall", key, data[key]))
    for key, value in data["ci"].items():
        rows.append(("ci", key, value))
    documents = data.get("documents") or {}
    for key in ("column", "count", "mean_loss", "mean_perplexity"):
        if documents.get(key) is not None:
            rows.append(("documents", key, documents[key]))
    for d in report.documents.worst if report.documents else []:
        rows.append(("document", d.id, d.loss))
    for g in report.slices.groups if report.slices else []:
        rows.append(("slice", ", ".join(g.key.values()), g.loss))
    return csv_text(rows)
