"""The options the commands share, declared once: ``Annotated`` aliases, their checks, and
:func:`with_input_options` (the reading and scoring options every command takes, folded into
one :class:`~xent_cli.options.Settings`)."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from xent_cli.errors import XentError
from xent_cli.options import (
    DEFAULT_EPS,
    DEFAULT_TOP_WARNINGS,
    Base,
    InputFormat,
    Kind,
    Mode,
    OutputFormat,
    make_settings,
)

Files = Annotated[
    list[str],
    typer.Argument(
        metavar="FILE...",
        help="CSV/TSV/Parquet/JSONL files, directories, or - for standard input.",
        show_default=False,
    ),
]
LabelOpt = Annotated[
    str | None,
    typer.Option("--label", help="True-class column (multilabel: glob or comma list)."),
]
ScoresOpt = Annotated[
    str | None,
    typer.Option(
        "--scores", help="Score columns: comma list, glob like 'logit_*', or a list column."
    ),
]
TargetsOpt = Annotated[
    str | None, typer.Option("--targets", help="Soft targets: one probability column per class.")
]
WeightOpt = Annotated[str | None, typer.Option("--weight", help="Per-row sample weight column.")]
IdOpt = Annotated[str | None, typer.Option("--id", help="Column that names rows in warnings.")]
ClassesOpt = Annotated[
    str | None,
    typer.Option(
        "--classes", help="Class names in the order of the scores (a list column's classes)."
    ),
]
PositiveOpt = Annotated[
    str | None, typer.Option("--positive", help="Positive label value in binary mode [1/true].")
]
ModeOpt = Annotated[Mode, typer.Option("--mode", help="categorical (softmax), binary, multilabel.")]
KindOpt = Annotated[Kind, typer.Option("--kind", help="What the scores are.")]
EpsOpt = Annotated[
    float, typer.Option("--eps", help="Clip probabilities to [eps, 1]; 0 disables clipping.")
]
BaseOpt = Annotated[Base, typer.Option("--base", help="Unit of losses: e (nats), 2 (bits), 10.")]
RenormOpt = Annotated[
    bool, typer.Option("--renormalize", help="Rescale probability rows that do not sum to 1.")
]
InputFormatOpt = Annotated[
    InputFormat, typer.Option("--input-format", help="Override format detection (stdin: csv).")
]
TopWarningsOpt = Annotated[
    int, typer.Option("--top-warnings", min=0, help="Rows listed per warning.")
]
ProgressOpt = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Progress bar on a terminal's stderr.")
]


def _check_max_loss(value: float | None) -> float | None:
    """--max-loss is a loss: a number >= 0 (inf allowed), never NaN."""
    if value is not None and not value >= 0:
        raise typer.BadParameter(f"must be a number >= 0, not {value:g}")
    return value


def _check_output(value: Path | None) -> Path | None:
    """-o into a folder that does not exist fails before the run, not after it."""
    if value is not None:
        folder = value.parent
        if not folder.is_dir():
            raise XentError(
                f"--output {value}: folder {str(folder)!r} does not exist",
                hint="create it first, or write the report elsewhere",
            )
        if value.is_dir():
            raise XentError(f"--output {value}: is a folder; give a file name")
    return value


FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
# eval and merge: without --format, the format of -o's extension (OUTPUT_SUFFIXES)
ReportFormatOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format [default: from the -o file's extension (.json, .csv, .md, .txt), "
        "else table].",
        show_default=False,
    ),
]
MaxLossOpt = Annotated[
    float | None,
    typer.Option(
        "--max-loss",
        callback=_check_max_loss,
        help="Exit 1 if the overall loss exceeds this (a CI gate).",
    ),
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 1 if there is any warning.")]


def _check_plot(value: Path | None) -> Path | None:
    """--plot's extension, folder and (for a picture) matplotlib, before the run."""
    if value is not None:
        from xent_cli.render.files import check_plot_path

        check_plot_path(value)
    return value


PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        callback=_check_plot,
        metavar="FILE",
        help="Also draw the report: .png/.svg (reliability diagram, per-class loss; needs "
        "the plot extra) or .html (a self-contained page).",
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", callback=_check_output, help="Write the report to this file."),
]
MaxClassesOpt = Annotated[
    int,
    typer.Option(
        "--max-classes",
        min=0,
        help="Table and markdown: at most N classes, those with the largest loss share "
        "(0: all; JSON and CSV always hold all).",
    ),
]
# eval, merge and compare: --by's small slices and gates
MinSliceSizeOpt = Annotated[
    int, typer.Option("--min-slice-size", min=0, help="Smaller slices: marked, not gated.")
]
MaxSliceLossOpt = Annotated[
    float | None,
    typer.Option("--max-slice-loss", help="Exit 1 if any eligible slice's loss exceeds X."),
]
MaxSliceGapOpt = Annotated[
    float | None,
    typer.Option(
        "--max-slice-gap", help="Exit 1 if the worst slice's loss - overall loss exceeds D."
    ),
]


# The reading and scoring options every command shares, declared once: name -> (type, default).
INPUT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "label": (LabelOpt, None),
    "scores": (ScoresOpt, None),
    "targets": (TargetsOpt, None),
    "weight": (WeightOpt, None),
    "id": (IdOpt, None),
    "positive": (PositiveOpt, None),
    "classes": (ClassesOpt, None),
    "mode": (ModeOpt, Mode.auto),
    "kind": (KindOpt, Kind.auto),
    "eps": (EpsOpt, DEFAULT_EPS),
    "base": (BaseOpt, Base.e),
    "renormalize": (RenormOpt, False),
    "input_format": (InputFormatOpt, InputFormat.auto),
    "top_warnings": (TopWarningsOpt, DEFAULT_TOP_WARNINGS),
}


def with_input_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the shared input options (after its arguments); it receives them as
    one validated ``settings`` (:class:`xent_cli.options.Settings`)."""
    hints = typing.get_type_hints(command, include_extras=True)
    own = [
        p.replace(annotation=hints[p.name])
        for p in inspect.signature(command).parameters.values()
        if p.name != "settings"
    ]
    arguments = [p for p in own if _is_argument(p.annotation)]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
        for name, (kind, default) in INPUT_OPTIONS.items()
    ]
    rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p not in arguments]
    parameters = [*arguments, *shared, *rest]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        settings = make_settings(**{name: kwargs.pop(name) for name in INPUT_OPTIONS})
        command(*args, settings=settings, **kwargs)

    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


def _is_argument(annotation: Any) -> bool:
    return any(
        isinstance(m, typer.models.ArgumentInfo) for m in getattr(annotation, "__metadata__", ())
    )
