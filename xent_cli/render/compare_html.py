"""``xent compare --plot page.html``: the comparison as one self-contained page, from its JSON.

No network, no script, no matplotlib: inline CSS, tables, and the histogram of the per-row
KL divergences drawn as inline SVG here (log-spaced bars, a fifth of a decade each). Every
string from the data (file, class and document names, warnings) is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from xent_cli.jsonvalues import number
from xent_cli.render.html import STYLE, gate

WIDTH, HEIGHT, MARGIN = 640, 240, 44  # the histogram's size in px, and its left/bottom margin


def compare_page(report: dict[str, Any]) -> str:
    """The page for ``report`` (``ComparisonReport.to_dict()``)."""
    files = [", ".join(map(str, report[side]["files"])) for side in ("baseline", "candidate")]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>xent compare: {escape(files[0])} vs {escape(files[1])}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<h1>xent compare</h1>",
        *_header(report, files),
        *gate(report),
        "<h2>Per class</h2>",
        *_classes(report),
        *_distribution(report),
        *_documents(report),
        *_warnings(report),
        f'<p class="meta">{escape(str(report.get("signature", "")))}</p>',
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _f(value: Any, digits: int = 4) -> str:
    x = number(value)
    if x is None:
        return "-"
    return f"{x:.{digits}g}" if math.isfinite(x) else str(value)


def _pct(value: Any) -> str:
    x = number(value)
    return "-" if x is None else f"{100 * x:.2f}%"


def _rows(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = [
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows
    ]  # fmt: skip
    return ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>", *body, "</tbody>", "</table>"]


def _header(report: dict[str, Any], files: list[str]) -> list[str]:
    join, ci, unit = report["join"], report["ci"], escape(str(report.get("unit", "")))
    fields = [
        ("baseline", f"{files[0]} ({report['baseline']['n_rows']} rows, "
                     f"{report['baseline']['kind']})"),
        ("candidate", f"{files[1]} ({report['candidate']['n_rows']} rows, "
                      f"{report['candidate']['kind']})"),
        ("paired", f"by {report.get('pair_by')}: {join['n_joined']} "
                   f"({join['n_only_baseline']} only in the baseline, "
                   f"{join['n_only_candidate']} only in the candidate)"),
        ("mode", str(report["baseline"]["mode"])),
    ]  # fmt: skip
    items = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in fields)
    level = f"{100 * float(ci['level']):g}%"
    summary = (
        f"delta <b>{_f(report.get('delta'))}</b> {unit} ({level} CI [{_f(ci.get('low'))}, "
        f"{_f(ci.get('high'))}], p={_f(report['test'].get('p_value'), 3)})"
        f" · perplexity ratio {_f(report.get('perplexity_ratio'), 5)}"
        f" [{_f(ci.get('perplexity_ratio_low'), 5)}, {_f(ci.get('perplexity_ratio_high'), 5)}]"
        f" · loss correlation {_f(report.get('correlation'))}"
    )
    return [f"<table>{items}</table>", f"<p>{summary}</p>"]


def _classes(report: dict[str, Any]) -> list[str]:
    rows = [
        [escape(str(c["class"])), str(c["count"]), _f(c["loss_baseline"]),
         _f(c["loss_candidate"]), _f(c["delta"]), _f(c["contribution"])]
        for c in report.get("classes", [])
    ]  # fmt: skip
    if not rows:
        return ['<p class="meta">(a token file: no classes)</p>']
    return _rows(("class", "count", "baseline", "candidate", "delta", "contribution"), rows)


def _distribution(report: dict[str, Any]) -> list[str]:
    d = report.get("distribution")
    if d is None:
        return []
    kl, dp, agreement, flips = d["kl"], d["delta_p"], d["top1_agreement"], d["flips"]
    unit = escape(str(report.get("unit", "")))
    rows = [
        ["top-1 agreement", f"{_pct(agreement['rate'])} ± {_pct(agreement['se'])}"],
        ["churn (top prediction changed)", _pct(d["churn"])],
        ["right → wrong / wrong → right", f"{flips['right_to_wrong']} / "
                                          f"{flips['wrong_to_right']}"],
        ["McNemar's exact p", _f(flips["mcnemar_p"], 3)],
        [f"mean KL ({unit})", f"{_f(kl['mean'])} ± {_f(kl['se'], 2)}"],
        *([f"KL {q}%", _f(v)] for q, v in kl["percentiles"].items()),
        ["KL min / max", f"{_f(kl['min'])} / {_f(kl['max'])}"],
        ["mean Δp(true)", f"{_f(dp['mean'])} ± {_f(dp['se'], 2)}"],
        ["RMS Δp(true)", f"{_f(dp['rms'])} ± {_f(dp['rms_se'], 2)}"],
    ]  # fmt: skip
    accuracy = f"percentiles within {100 * float(kl['relative_accuracy']):g}% (relative)"
    return [
        "<h2>What changed</h2>",
        *_rows(("figure", "value"), rows),
        f'<p class="meta">{escape(accuracy)}</p>',
        "<h2>KL divergence per row</h2>",
        kl_histogram_svg(kl.get("histogram", []), unit),
    ]


def kl_histogram_svg(bins: list[dict[str, Any]], unit: str) -> str:
    """Bars of the rows' KL counts over log-spaced bins (rows of KL 0 noted in the title)."""
    zero = sum(int(b["count"]) for b in bins if not number(b["low"]) and not number(b["high"]))
    bars = [b for b in bins if number(b["high"])]
    title = f"{sum(int(b['count']) for b in bars)} rows with KL > 0; {zero} with KL = 0"
    if not bars:
        return f'<p class="meta">{escape(title)}</p>'
    lows = [math.log10(float(number(b["low"]) or 0.0)) for b in bars]
    highs = [math.log10(float(number(b["high"]) or 0.0)) for b in bars]
    x0, x1 = min(lows), max(highs)
    top = max(int(b["count"]) for b in bars)
    plot_w, plot_h = WIDTH - MARGIN - 8, HEIGHT - MARGIN - 8

    def x(v: float) -> float:
        return MARGIN + (v - x0) / max(x1 - x0, 1e-9) * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for b, lo, hi in zip(bars, lows, highs, strict=True):
        h = int(b["count"]) / top * plot_h
        w = max(x(hi) - x(lo) - 1, 1)
        parts.append(
            f'<rect x="{x(lo):.1f}" y="{8 + plot_h - h:.1f}" width="{w:.1f}" '
            f'height="{h:.1f}" fill="#4c72b0"><title>{_f(b["low"], 3)} to {_f(b["high"], 3)}: '
            f"{int(b['count'])} rows</title></rect>"
        )
    base = 8 + plot_h
    parts.append(f'<line x1="{MARGIN}" y1="{base}" x2="{WIDTH - 8}" y2="{base}" stroke="#333"/>')
    for decade in range(math.ceil(x0), math.floor(x1) + 1):
        parts.append(
            f'<text x="{x(decade):.1f}" y="{base + 16}" font-size="11" text-anchor="middle">'
            f"1e{decade}</text>"
        )
    parts.append(
        f'<text x="{MARGIN + plot_w / 2:.1f}" y="{HEIGHT - 6}" font-size="12" '
        f'text-anchor="middle">KL(baseline || candidate), {escape(unit)} (log scale)</text>'
    )
    parts.append(f'<text x="4" y="16" font-size="11">{top}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _documents(report: dict[str, Any]) -> list[str]:
    docs = report.get("documents")
    if docs is None:
        return []
    rows = [
        [escape(str(d["id"])), str(d.get("tokens") if d.get("tokens") is not None else "-"),
         _f(d["loss_baseline"]), _f(d["loss_candidate"]), _f(d["delta"])]
        for d in docs.get("worst", [])
    ]  # fmt: skip
    share = _pct(docs["candidate_better"])
    better = f"{docs['count']} documents; the candidate is better in {share}"
    return [
        "<h2>Documents</h2>",
        f"<p>{escape(better)}</p>",
        *_rows(("document", "tokens", "baseline", "candidate", "delta"), rows),
    ]


def _warnings(report: dict[str, Any]) -> list[str]:
    items = [
        f"<li>{escape(str(w.get('side')))}: {escape(str(w.get('code')))}: "
        f"{escape(str(w.get('message')))}</li>"
        for w in report.get("warnings", [])
    ]
    return ["<h2>Warnings</h2>", f'<ul class="warn">{"".join(items)}</ul>'] if items else []
