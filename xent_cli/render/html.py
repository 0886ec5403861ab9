"""``--plot report.html``: the report as one self-contained page, from its JSON dict.

No network and no script: inline CSS, tables, and the figures of :mod:`xent_cli.render.plots` as
inline SVG when matplotlib is installed (without it, the page has the tables and says how to
get the figures). Every string that comes from the data (file, column and class names,
warning messages) is escaped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from xent_cli.jsonvalues import number
from xent_cli.render.plots import INSTALL_HINT, NO_CALIBRATION, has_matplotlib
from xent_cli.render.report import (
    calibration_line_text,
    fmt_percent,
    reliability_rows,
    temperature_line,
)
from xent_cli.render.report import fmt_loss as fmt

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 2em auto; max-width: 72em; padding: 0 1em; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #ddd; }
th { text-align: left; border-bottom: 2px solid #999; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.overall td { font-weight: bold; border-top: 2px solid #999; }
.bar { display: inline-block; height: 0.8em; background: #4c72b0; vertical-align: middle; }
.meta { color: #555; } .pass { color: #1a7f37; } .fail { color: #c62828; font-weight: bold; }
.warn { color: #9a6700; } svg { max-width: 100%; height: auto; }
"""


def html_page(report: dict[str, Any]) -> str:
    """The page for ``report`` (``Report.to_dict()``): header and decisions, gate, per-class
    table, calibration and reliability table, slices, warnings, and the figures."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>xent: {escape(', '.join(map(str, report.get('files', []))))}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<h1>xent report</h1>",
        *header(report),
        *gate(report),
        "<h2>Per class</h2>",
        *class_table(report),
        *calibration(report),
        *slices(report),
        *warnings(report),
        *figures(report),
        f'<p class="meta">{escape(str(report.get("signature", "")))}</p>',
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def header(report: dict[str, Any]) -> list[str]:
    skipped = report.get("n_skipped") or 0
    rows = f"{report.get('n_rows')} ({report.get('n_evaluated')} evaluated"
    rows += f", {skipped} skipped)" if skipped else ")"
    fields = [
        ("files", ", ".join(map(str, report.get("files", [])))),
        ("rows", rows),
        ("mode", report.get("mode")),
        ("kind", f"{report.get('kind')} (from {report.get('kind_source')})"),
        ("base", f"{report.get('base')} ({report.get('unit')})"),
        ("eps", f"{report.get('eps'):g}" if isinstance(report.get("eps"), float) else None),
    ]
    for role, names in (report.get("columns") or {}).items():
        if names:
            fields.append((role, names if isinstance(names, str) else ", ".join(map(str, names))))
    summary = (
        f"loss <b>{fmt(number(report.get('loss')))}</b> {escape(str(report.get('unit', '')))}"
        f" · perplexity {_g(report.get('perplexity'))}"
        f" · accuracy {fmt_percent(number(report.get('accuracy')))}"
    )
    items = "".join(
        f"<tr><th>{escape(name)}</th><td>{escape(str(value))}</td></tr>"
        for name, value in fields
        if value is not None
    )
    return [f"<table>{items}</table>", f"<p>{summary}</p>"]


def gate(report: dict[str, Any]) -> list[str]:
    data = report.get("gate")
    if not data:
        return []
    if data.get("passed", True):
        return ['<p class="pass">gate: passed</p>']
    reasons = "".join(f"<li>{escape(str(r))}</li>" for r in data.get("reasons", []))
    return ['<p class="fail">gate: failed</p>', f"<ul>{reasons}</ul>"]


CLASS_HEADINGS = ("class", "count", "loss", "share", "", "accuracy", "mean p(true)", "zero-p")


def class_table(report: dict[str, Any]) -> list[str]:
    classes = report.get("classes", [])
    shares = [x for c in classes if (x := number(c.get("share"))) is not None and math.isfinite(x)]
    largest = max(shares, default=0.0)
    rows = [_class_row(c, largest) for c in classes]
    total = {
        "class": "overall",
        "count": sum(int(c.get("count", 0)) for c in report.get("classes", [])),
        "loss": report.get("loss"),
        "share": 1.0 if number(report.get("loss_sum")) else 0.0,
        "accuracy": report.get("accuracy"),
        "mean_p_true": report.get("mean_p_true"),
        "zero_probability": report.get("zero_probability"),
    }
    rows.append(_class_row(total, None, css="overall"))
    return _table(CLASS_HEADINGS, rows)


def _class_row(c: dict[str, Any], largest: float | None, css: str = "") -> str:
    """A class's row; its share bar as in the table: 8em for the ``largest`` share (None:
    no bar)."""
    share = number(c.get("share"))
    bar_cell = ""
    if largest is not None and largest > 0 and share is not None and math.isfinite(share):
        width = max(0.0, min(share / largest, 1.0))
        bar_cell = f'<span class="bar" style="width:{8 * width:.3f}em"></span>'
    cells = [
        ("", escape(str(c.get("class", "")))),
        ("n", str(c.get("count", ""))),
        ("n", fmt(number(c.get("loss")))),
        ("n", fmt_percent(share)),
        ("", bar_cell),
        ("n", fmt_percent(number(c.get("accuracy")))),
        ("n", _prob(c.get("mean_p_true"))),
        ("n", str(c.get("zero_probability", ""))),
    ]
    return _tr(cells, css)


def calibration(report: dict[str, Any]) -> list[str]:
    data = report.get("calibration")
    if data is None:
        return []
    out = ["<h2>Calibration</h2>", f"<p>{escape(calibration_line_text(data))}</p>"]
    temperature = temperature_line(data)
    if temperature:
        out.append(f"<p>{escape(temperature)}</p>")
    headings, rows = reliability_rows(data)
    out += _table(headings, [_tr([("" if j == 0 else "n", escape(c)) for j, c in enumerate(r)])
                             for r in rows])  # fmt: skip
    per_class = data.get("per_class") or []
    if per_class:
        out.append("<p>one-vs-rest, per class:</p>")
        out += _table(
            ("class", "ECE", "MCE"),
            [
                _tr([("", escape(str(c.get("class", "")))),
                     ("n", fmt(number(c.get("ece")))), ("n", fmt(number(c.get("mce"))))])
                for c in per_class
            ],
        )  # fmt: skip
    return out


def slices(report: dict[str, Any]) -> list[str]:
    data = report.get("slices")
    if not data:
        return []
    groups = sorted(
        data.get("groups", []),
        key=lambda g: -(x if (x := number(g.get("loss"))) is not None and not math.isnan(x)
                        else -math.inf),
    )  # fmt: skip
    by = ", ".join(map(str, data.get("by", [])))
    with_ece = any("ece" in g for g in groups)  # --calibration: each slice's ECE
    rows = [
        _tr(
            [
                ("", escape(_slice_name(g.get("key") or {})) + (" *" if g.get("small") else "")),
                ("n", str(g.get("count", ""))),
                ("n", fmt(number(g.get("loss")))),
                ("n", fmt_percent(number(g.get("accuracy")))),
                ("n", _prob(g.get("mean_p_true"))),
                *([("n", _prob(g.get("ece")))] if with_ece else []),
            ]
        )
        for g in groups
    ]
    headings = ("slice", "count", "loss", "accuracy", "mean p(true)", *(("ECE",) * with_ece))
    note = f"worst first; * fewer than {escape(str(data.get('min_size')))} rows: not gated"
    return [
        f"<h2>Slices by {escape(by)}</h2>",
        f'<p class="meta">{note}</p>',
        *_table(headings, rows),
    ]


def _slice_name(key: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items()) if len(key) > 1 else \
        ", ".join(str(v) for v in key.values())  # fmt: skip


def warnings(report: dict[str, Any]) -> list[str]:
    records = report.get("warnings") or []
    if not records:
        return []
    items = "".join(
        f'<li><span class="warn">{escape(str(w.get("code", "")))}</span>: '
        f"{escape(str(w.get('message', '')))}</li>"
        for w in records
    )
    return ["<h2>Warnings</h2>", f"<ul>{items}</ul>"]


def figures(report: dict[str, Any]) -> list[str]:
    """The figures as inline SVG (matplotlib), else a line saying how to get them."""
    if not has_matplotlib():
        return [
            "<h2>Figures</h2>",
            f'<p class="meta">the figures need matplotlib: <code>{escape(INSTALL_HINT)}</code></p>',
        ]
    from xent_cli.render.plots import svg_text

    out = ["<h2>Figures</h2>", inline_svg(svg_text(report))]
    if report.get("calibration") is None:
        out.append(f'<p class="meta">{escape(NO_CALIBRATION)}</p>')
    return out


_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(?::xlink)?="[^"]*"')


def inline_svg(svg: str) -> str:
    """An SVG file's text as an element of an HTML page: without its XML prolog and doctype,
    its metadata block and its namespace declarations (HTML knows them; they are the only
    URLs in matplotlib's output), ``xlink:href`` written as SVG 2's ``href``."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = _METADATA.sub("", svg)
    svg = _NAMESPACES.sub("", svg)
    return svg.replace("xlink:href=", "href=").strip()


def _table(headings: Sequence[str], rows: Iterable[str]) -> list[str]:
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    return ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>", *rows, "</tbody>",
            "</table>"]  # fmt: skip


def _tr(cells: Sequence[tuple[str, str]], css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    body = "".join(f'<td class="{c}">{text}</td>' if c else f"<td>{text}</td>" for c, text in cells)
    return f"<tr{attr}>{body}</tr>"


def _prob(value: Any) -> str:
    x = number(value)
    return "-" if x is None else f"{x:.4f}"


def _g(value: Any) -> str:
    x = number(value)
    return "-" if x is None else f"{x:.4g}"
