"""``--plot FILE``: the report's pictures, drawn from its JSON dict (``Report.to_dict()``).

``.png`` / ``.svg``: a reliability diagram (with ``calibration`` in the report) beside the
per-class loss bars; ``.html``: a self-contained page (:mod:`xent_cli.render.html`).
matplotlib (the ``plot`` extra) is imported only here and only when a figure is drawn, with
the Agg canvas and fixed settings, so that the user's matplotlibrc cannot change the picture
and the same report gives the same SVG bytes.
"""

from __future__ import annotations

import importlib.util
import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xent_cli.errors import XentError
from xent_cli.jsonvalues import number
from xent_cli.render.report import fmt_loss as fmt
from xent_cli.render.report import fmt_percent

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL_HINT = "pip install 'xent-cli[plot]'"
MAX_BARS = 20  # per-class loss bars: the worst classes by share of the loss
NAME_WIDTH = 20  # class names on the loss bars' axis, shortened around an ellipsis
NO_CALIBRATION = "run with --calibration for the reliability diagram"
# Everything that decides the picture, over matplotlib's own defaults (never the user's rc).
FIXED_RC: dict[Any, Any] = {  # (keys typed Any: matplotlib types them as literals)
    "svg.hashsalt": "xent",  # ids of clip paths and glyphs: the same in every run
    "svg.fonttype": "path",  # glyphs as paths: the same picture without the font installed
    "font.family": ["DejaVu Sans"],  # shipped with matplotlib
    "font.size": 9.0,
    "text.parse_math": False,  # class names are data: "$x$" is not mathtext
    "text.usetex": False,
    "figure.dpi": 100.0,
    "savefig.dpi": 100.0,
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
BAR_COLOR = "#4c72b0"
MARK_COLOR = "#dd8452"
GAP_COLOR = "#c44e52"


def has_matplotlib() -> bool:
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def missing_matplotlib(path: str | Path) -> None:
    raise XentError(f"--plot {path} needs matplotlib: {INSTALL_HINT}")


def figure_bytes(report: dict[str, Any], fmt: str, *, where: str | Path = "") -> bytes:
    """The report's figure as ``fmt`` ("png" or "svg") bytes: the same for the same dict."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        missing_matplotlib(where or f"FILE.{fmt}")
        raise  # unreachable: _missing_matplotlib raises
    buffer = io.BytesIO()
    with matplotlib.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a glyph missing from the font is not an error
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(FIXED_RC)
        figure = build_figure(report)
        FigureCanvasAgg(figure)
        # no date, no version: the bytes depend on the report (and matplotlib's drawing)
        metadata = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
        figure.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()


def svg_text(report: dict[str, Any]) -> str:
    return figure_bytes(report, "svg").decode("utf-8")


def build_figure(report: dict[str, Any]) -> Figure:
    """The figure: the reliability diagram and its count strip (with calibration), then the
    per-class loss bars. Only draws; reads nothing but ``report``."""
    from matplotlib.figure import Figure

    calibration = report.get("calibration")
    shown, hidden = worst_classes(report.get("classes", []), MAX_BARS)
    bars_height = max(2.4, 0.26 * len(shown))  # inches of the bars' axes
    if calibration is None:
        height = bars_height + 1.7  # title above, axis label and the note below
        figure = Figure(figsize=(7.5, height))
        grid = figure.add_gridspec(
            1, 1, left=2.0 / 7.5, right=0.95, top=1 - 0.75 / height, bottom=0.95 / height
        )
        loss_bars(figure.add_subplot(grid[0, 0]), report, shown, hidden)
        figure.text(0.5, 0.12 / height, NO_CALIBRATION, ha="center", fontsize=8, style="italic")
    else:
        figure = Figure(figsize=(11.5, max(5.2, bars_height + 1.7)))
        grid = figure.add_gridspec(
            2, 2, height_ratios=[4, 1], width_ratios=[1, 1], left=0.07, right=0.97,
            top=0.86, bottom=0.12, wspace=0.5, hspace=0.08,
        )  # fmt: skip
        reliability = figure.add_subplot(grid[0, 0])
        strip = figure.add_subplot(grid[1, 0], sharex=reliability)
        reliability_diagram(reliability, strip, calibration)
        loss_bars(figure.add_subplot(grid[:, 1]), report, shown, hidden)
        convention = calibration.get("convention")
        if convention:
            figure.text(0.5, 0.02, _one_line(str(convention), 160), ha="center", fontsize=7.5)
    figure.suptitle(_title(report), fontsize=10)
    return figure


def _title(report: dict[str, Any]) -> str:
    loss = number(report.get("loss"))
    unit = report.get("unit", "")
    return (
        f"xent: {report.get('n_evaluated', report.get('n_rows', '?'))} rows, "
        f"{report.get('mode', '?')} {report.get('kind', '?')}, loss {fmt(loss)} {unit}"
    )


def reliability_diagram(axes: Axes, strip: Axes, calibration: dict[str, Any]) -> None:
    """Bars: observed frequency per bin, over the bin's [lo, hi]; a mark at each bin's mean
    prediction (its height the observed frequency, so its distance to the diagonal is the
    bin's gap, drawn as a line); the diagonal; below, a strip of the bins' row counts."""
    bins = calibration.get("bins") or []
    target = calibration.get("target", "top")
    for i, b in enumerate(bins):
        lo, hi = float(b["lo"]), float(b["hi"])
        axes.bar(
            lo, number(b["observed"]) or 0.0, width=hi - lo, align="edge", color=BAR_COLOR,
            alpha=0.75, edgecolor="white", linewidth=0.6, gid=f"reliability-bar-{i}",
        )  # fmt: skip
        strip.bar(
            lo, float(b["count"]), width=hi - lo, align="edge", color="#8c8c8c",
            edgecolor="white", linewidth=0.6, gid=f"count-bar-{i}",
        )  # fmt: skip
    means = [number(b["mean_p"]) or 0.0 for b in bins]
    observed = [number(b["observed"]) or 0.0 for b in bins]
    axes.plot([0, 1], [0, 1], linestyle="--", color="#555555", linewidth=0.9, gid="diagonal")
    if bins:
        axes.vlines(means, means, observed, color=GAP_COLOR, linewidth=1.2, gid="gaps")
        axes.plot(
            means, observed, linestyle="none", marker="D", markersize=4, color=MARK_COLOR,
            gid="mean-p", label="mean prediction of the bin",
        )  # fmt: skip
        axes.legend(loc="upper left", fontsize=7, frameon=False)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_ylabel(
        "fraction positive" if target == "positive" else "accuracy" if target == "top"
        else "fraction of the class (one-vs-rest)"
    )  # fmt: skip
    axes.tick_params(labelbottom=False)
    axes.set_title(
        f"reliability: ECE {fmt(number(calibration.get('ece')))}   "
        f"MCE {fmt(number(calibration.get('mce')))}   "
        f"Brier {fmt(number(calibration.get('brier')))}",
        fontsize=9,
    )
    strip.set_xlabel(
        {"top": "confidence (largest probability)", "positive": "predicted P(positive)"}.get(
            str(target), "predicted probability of the class (all classes pooled)"
        )
    )
    strip.set_ylabel("count")
    if 0 < len(bins) <= 20:
        top = max(float(b["count"]) for b in bins)
        for b in bins:
            middle = (float(b["lo"]) + float(b["hi"])) / 2
            strip.text(middle, float(b["count"]) + 0.04 * top, str(b["count"]), ha="center",
                       va="bottom", fontsize=6)  # fmt: skip
        strip.set_ylim(0, top * 1.35 if top > 0 else 1)


def loss_bars(
    axes: Axes, report: dict[str, Any], shown: Sequence[dict[str, Any]], hidden: int
) -> None:
    """One horizontal bar per class, its mean loss, labelled with its share of the loss;
    the worst first (on top). An infinite loss reaches the right edge, labelled "inf"."""
    losses = [number(c.get("loss")) for c in shown]
    finite = [x for x in losses if x is not None and math.isfinite(x)]
    right = max(finite, default=0.0) * 1.1 or 1.0
    for i, (c, loss) in enumerate(zip(shown, losses, strict=True)):
        width = 0.0 if loss is None or math.isnan(loss) else right if math.isinf(loss) else loss
        axes.barh(i, width, height=0.7, color=BAR_COLOR, gid=f"loss-bar-{i}")
        share = number(c.get("share"))
        label = "no rows" if loss is None else ("inf" if math.isinf(loss) else "")
        text = f"{fmt_percent(share)} {label}".strip()
        axes.text(min(width, right) + right * 0.01, i, text, va="center", fontsize=7)
    axes.set_yticks(range(len(shown)), [_one_line(str(c.get("class", "")), NAME_WIDTH)
                                        for c in shown])  # fmt: skip
    axes.set_ylim(len(shown) - 0.5, -0.5)
    axes.set_xlim(0, right * 1.12)
    axes.set_xlabel(f"mean loss ({report.get('unit', '')}); label: share of the total loss")
    total = len(shown) + hidden
    title = "per-class loss"
    if hidden:
        title += f": the worst {len(shown)} of {total} classes by share ({hidden} left out)"
    axes.set_title(title, fontsize=9)


def worst_classes(
    classes: Sequence[dict[str, Any]], limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The classes with the largest share of the loss, largest first (ties: in report
    order), at most ``limit``; and how many were left out."""

    def key(i: int) -> tuple[float, int]:
        share = number(classes[i].get("share"))
        return (-(share if share is not None and not math.isnan(share) else -1.0), i)

    order = sorted(range(len(classes)), key=key)
    return [classes[i] for i in order[:limit]], max(0, len(classes) - limit)


def _one_line(text: str, width: int) -> str:
    """``text`` on one line of at most ``width`` characters (control characters escaped,
    the middle of a long one cut out)."""
    from xent_cli.render.table import printable, shorten

    return shorten(printable(text), width)
