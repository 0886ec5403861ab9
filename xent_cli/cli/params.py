"""Every option of the command line, declared once, under the panel ``--help`` shows it in.

The options several commands share come in two groups, each folded into one value by a
decorator: the reading and scoring options (:data:`INPUT_OPTIONS` -> a
:class:`~xent_cli.options.Settings`, :func:`with_input_options`) and what ``eval`` and
``merge`` do with a finished report (:class:`ReportOptions`, :func:`with_report_options`).
The rest are ``Annotated`` aliases the commands name in their signatures.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from xent_cli.cli.panels import (
    CALIBRATION,
    COMPUTATION,
    GATES,
    INPUT,
    OUTPUT,
    SCALE,
    SLICES,
    STATISTICS,
    TOKENS,
)
from xent_cli.cli.token_params import (
    BytesOpt,
    DocOpt,
    IgnoreLabelOpt,
    LogprobOpt,
    MaskOpt,
    NllOpt,
    PerOpt,
    TokensOpt,
    TopkOpt,
    WordsOpt,
)
from xent_cli.errors import XentError
from xent_cli.options import (
    DEFAULT_MAX_CLASSES,
    Base,
    BySpec,
    EceBinning,
    EcePreset,
    EceTarget,
    FailOn,
    InputFormat,
    Interval,
    Kind,
    Mode,
    OnMismatch,
    OutputFormat,
    PairBy,
    RowsFormat,
    Settings,
    make_settings,
    parse_by,
)

Command = Callable[..., None]


def _check_max_loss(value: float | None) -> float | None:
    """--max-loss is a loss: a number >= 0 (inf allowed), never NaN."""
    if value is not None and not value >= 0:
        raise typer.BadParameter(f"must be a number >= 0, not {value:g}")
    return value


def _check_output(value: Path | None) -> Path | None:
    """-o into a folder that does not exist fails before the run, not after it."""
    if value is not None:
        _check_writable(value, "--output")
    return value


def _check_writable(value: Path, option: str) -> None:
    folder = value.parent
    if not folder.is_dir():
        raise XentError(
            f"{option} {value}: folder {str(folder)!r} does not exist",
            hint="create it first, or write the report elsewhere",
        )
    if value.is_dir():
        raise XentError(f"{option} {value}: is a folder; give a file name")


# The format -o's (and --also-output's) extension implies when --format is not given.
OUTPUT_SUFFIXES = {
    ".json": OutputFormat.json,
    ".csv": OutputFormat.csv,
    ".md": OutputFormat.markdown,
    ".markdown": OutputFormat.markdown,
    ".xml": OutputFormat.junit,
    ".txt": OutputFormat.table,
}


def _check_also_output(values: list[Path] | None) -> list[Path]:
    """--also-output: each file's folder, and an extension that names a format."""
    for value in values or []:
        _check_writable(value, "--also-output")
        if value.suffix.lower() not in OUTPUT_SUFFIXES:
            raise XentError(
                f"--also-output {value}: the extension does not name a format",
                hint=f"use one of {', '.join(OUTPUT_SUFFIXES)}",
            )
    return values or []


def _check_plot(value: Path | None) -> Path | None:
    """--plot's extension, folder and (for a picture) matplotlib, before the run."""
    if value is not None:
        from xent_cli.render.files import check_plot_path

        check_plot_path(value)
    return value


# -- arguments -------------------------------------------------------------------------------

Files = Annotated[
    list[str],
    typer.Argument(
        metavar="FILE...",
        help="CSV/TSV/Parquet/JSONL files, directories, or - for standard input.",
        show_default=False,
    ),
]
Baseline = Annotated[
    str, typer.Argument(metavar="BASELINE", help="The reference predictions (a FILE).")
]
Candidate = Annotated[
    str, typer.Argument(metavar="CANDIDATE", help="The new predictions, on the same rows.")
]
States = Annotated[
    list[str],
    typer.Argument(
        metavar="STATE...", help="Files written by xent eval --save-state.", show_default=False
    ),
]

# -- input and columns, computation: every command's (INPUT_OPTIONS) -----------------------

LabelOpt = Annotated[
    str | None,
    typer.Option(
        "--label", help="True-class column (multilabel: glob or comma list).", rich_help_panel=INPUT
    ),
]
ScoresOpt = Annotated[
    str | None,
    typer.Option(
        "--scores",
        help="Score columns: comma list, glob like 'logit_*', or a list column.",
        rich_help_panel=INPUT,
    ),
]
TargetsOpt = Annotated[
    str | None,
    typer.Option(
        "--targets", help="Soft targets: one probability column per class.", rich_help_panel=INPUT
    ),
]
WeightOpt = Annotated[
    str | None,
    typer.Option("--weight", help="Per-row sample weight column.", rich_help_panel=INPUT),
]
IdOpt = Annotated[
    str | None,
    typer.Option("--id", help="Column that names rows in warnings.", rich_help_panel=INPUT),
]
ClassesOpt = Annotated[
    str | None,
    typer.Option(
        "--classes",
        help="Class names in the order of the scores (a list column's classes).",
        rich_help_panel=INPUT,
    ),
]
PositiveOpt = Annotated[
    str | None,
    typer.Option(
        "--positive", help="Positive label value in binary mode [1/true].", rich_help_panel=INPUT
    ),
]
InputFormatOpt = Annotated[
    InputFormat,
    typer.Option(
        "--input-format", help="Override format detection (stdin: csv).", rich_help_panel=INPUT
    ),
]
ModeOpt = Annotated[
    Mode,
    typer.Option(
        "--mode", help="categorical (softmax), binary, multilabel.", rich_help_panel=COMPUTATION
    ),
]
KindOpt = Annotated[
    Kind, typer.Option("--kind", help="What the scores are.", rich_help_panel=COMPUTATION)
]
EpsOpt = Annotated[
    float,
    typer.Option(
        "--eps",
        help="Clip probabilities to [eps, 1]; 0 disables clipping.",
        rich_help_panel=COMPUTATION,
    ),
]
BaseOpt = Annotated[
    Base,
    typer.Option(
        "--base", help="Unit of losses: e (nats), 2 (bits), 10.", rich_help_panel=COMPUTATION
    ),
]
RenormalizeOpt = Annotated[
    bool,
    typer.Option(
        "--renormalize",
        help="Rescale probability rows that do not sum to 1.",
        rich_help_panel=COMPUTATION,
    ),
]
TopWarningsOpt = Annotated[
    int,
    typer.Option("--top-warnings", min=0, help="Rows listed per warning.", rich_help_panel=OUTPUT),
]

# -- output, gates and slices: a report's (ReportOptions), and compare's ---------------------

ReportFormatOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format [default: from the -o file's extension (.json, .csv, .md, .xml, "
        ".txt), else table].",
        show_default=False,
        rich_help_panel=OUTPUT,
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        callback=_check_output,
        help="Write the report to this file.",
        rich_help_panel=OUTPUT,
    ),
]
AlsoOutputOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--also-output",
        metavar="FILE",
        callback=_check_also_output,
        help="Also write the report to FILE, in the format of its extension (.json, .csv, "
        ".md, .xml, .txt); repeatable. The same run: no second evaluation.",
        rich_help_panel=OUTPUT,
    ),
]
PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        callback=_check_plot,
        metavar="FILE",
        help="Also draw the report: .png/.svg (reliability diagram, per-class loss; needs "
        "the plot extra) or .html (a self-contained page).",
        rich_help_panel=OUTPUT,
    ),
]
MaxClassesOpt = Annotated[
    int,
    typer.Option(
        "--max-classes",
        min=0,
        help="Table and markdown: at most N classes, those with the largest loss share "
        "(0: all; JSON and CSV always hold all).",
        rich_help_panel=OUTPUT,
    ),
]
ProgressOpt = Annotated[
    bool,
    typer.Option(
        "--progress/--no-progress",
        help="Progress bar on a terminal's stderr.",
        rich_help_panel=OUTPUT,
    ),
]
MaxLossOpt = Annotated[
    float | None,
    typer.Option(
        "--max-loss",
        callback=_check_max_loss,
        help="Exit 1 if the overall loss exceeds this (a CI gate).",
        rich_help_panel=GATES,
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option("--strict", help="Exit 1 if there is any warning.", rich_help_panel=GATES),
]
MinSliceSizeOpt = Annotated[
    int,
    typer.Option(
        "--min-slice-size",
        min=0,
        help="Smaller slices: marked, not gated.",
        rich_help_panel=SLICES,
    ),
]
MaxSliceLossOpt = Annotated[
    float | None,
    typer.Option(
        "--max-slice-loss",
        help="Exit 1 if any eligible slice's loss exceeds X.",
        rich_help_panel=SLICES,
    ),
]
MaxSliceGapOpt = Annotated[
    float | None,
    typer.Option(
        "--max-slice-gap",
        help="Exit 1 if the worst slice's loss - overall loss exceeds D.",
        rich_help_panel=SLICES,
    ),
]

# -- eval's own: slices, calibration, scale ---------------------------------------------------

SlicesByOpt = Annotated[
    BySpec | None,
    typer.Option(
        "--by",
        parser=parse_by,
        metavar="COL[:N][,COL...]",
        help="Per-slice tables (several columns: their cross; COL:N: N equal-mass bins).",
        rich_help_panel=SLICES,
    ),
]
CalibrationOpt = Annotated[
    bool,
    typer.Option(
        "--calibration",
        help="Add calibration: ECE, MCE, Brier score, reliability bins.",
        rich_help_panel=CALIBRATION,
    ),
]
EceBinsOpt = Annotated[
    int | None,
    typer.Option(
        "--ece-bins",
        min=1,
        max=10_000,
        show_default=False,
        help="Reliability bins [15].",
        rich_help_panel=CALIBRATION,
    ),
]
EceBinningOpt = Annotated[
    EceBinning | None,
    typer.Option(
        "--ece-binning",
        show_default=False,
        help="Equal width or mass [width].",
        rich_help_panel=CALIBRATION,
    ),
]
EceTargetOpt = Annotated[
    EceTarget | None,
    typer.Option(
        "--ece-target",
        show_default=False,
        help="What is binned [binary: positive; else top].",
        rich_help_panel=CALIBRATION,
    ),
]
EcePresetOpt = Annotated[
    EcePreset | None,
    typer.Option(
        "--ece-preset",
        show_default=False,
        help="A peer library's convention.",
        rich_help_panel=CALIBRATION,
    ),
]
DecomposeOpt = Annotated[
    bool,
    typer.Option(
        "--decompose",
        help="Also split the loss into calibration and the rest by temperature scaling.",
        rich_help_panel=CALIBRATION,
    ),
]
SaveStateOpt = Annotated[
    Path | None,
    typer.Option(
        "--save-state",
        help="Also write the run's mergeable partial state (xent merge).",
        rich_help_panel=SCALE,
    ),
]
DaskOpt = Annotated[
    str | None,
    typer.Option(
        "--dask",
        metavar="ADDRESS|local[:N]",
        help="Evaluate the inputs' parts on a Dask cluster (same report).",
        rich_help_panel=SCALE,
    ),
]

# -- compare's own --------------------------------------------------------------------------

OnMismatchOpt = Annotated[
    OnMismatch,
    typer.Option(
        "--on-mismatch",
        help="With --id: ids in one file only are an error, or are left out (intersect).",
        rich_help_panel=INPUT,
    ),
]
ConfidenceOpt = Annotated[
    float,
    typer.Option(
        "--confidence", help="Level of the interval (and the test).", rich_help_panel=STATISTICS
    ),
]
IntervalOpt = Annotated[
    Interval,
    typer.Option(
        "--ci", help="Paired t interval or Poisson bootstrap.", rich_help_panel=STATISTICS
    ),
]
ResamplesOpt = Annotated[
    int,
    typer.Option("--resamples", min=1, help="Bootstrap replicates.", rich_help_panel=STATISTICS),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Bootstrap seed.", rich_help_panel=STATISTICS)]
MaxRegressionOpt = Annotated[
    float | None,
    typer.Option("--max-regression", help="Exit 1 if delta exceeds this.", rich_help_panel=GATES),
]
MaxRelativeRegressionOpt = Annotated[
    float | None,
    typer.Option(
        "--max-relative-regression",
        help="Exit 1 if delta / baseline exceeds this.",
        rich_help_panel=GATES,
    ),
]
MinImprovementOpt = Annotated[
    float | None,
    typer.Option("--min-improvement", help="Exit 1 unless delta <= -X.", rich_help_panel=GATES),
]
FailOnOpt = Annotated[
    FailOn,
    typer.Option(
        "--fail-on",
        help="Gate on the estimate, the interval's end, or a test.",
        rich_help_panel=GATES,
    ),
]
TopRowsOpt = Annotated[
    int | None,
    typer.Option(
        "--top", min=1, help="Also list the N rows whose loss rose most.", rich_help_panel=OUTPUT
    ),
]
CompareByOpt = Annotated[
    BySpec | None,
    typer.Option(
        "--by",
        parser=parse_by,
        metavar="COL[:N][,COL...]",
        help="Per-slice deltas, by the baseline's columns (COL:N: N equal-mass bins).",
        rich_help_panel=SLICES,
    ),
]
PairByOpt = Annotated[
    PairBy,
    typer.Option(
        "--pair-by",
        help="How rows pair: row order, --id, token (a token file's --doc and --position), "
        "doc (per document) [default: id with --id; token when both columns exist; else row].",
        show_default=False,
        rich_help_panel=INPUT,
    ),
]
PositionOpt = Annotated[
    str | None,
    typer.Option(
        "--position",
        metavar="COL",
        help="Token files: a token's position in its document [position, pos, token_index].",
        show_default=False,
        rich_help_panel=TOKENS,
    ),
]
MaxKlOpt = Annotated[
    float | None,
    typer.Option(
        "--max-kl",
        help="Exit 1 if the mean KL(baseline || candidate) exceeds X (in --base units).",
        rich_help_panel=GATES,
    ),
]
MaxChurnOpt = Annotated[
    float | None,
    typer.Option(
        "--max-churn",
        help="Exit 1 if the share of rows whose top prediction changed exceeds R.",
        rich_help_panel=GATES,
    ),
]
DistributionOpt = Annotated[
    bool,
    typer.Option(
        "--distribution/--no-distribution",
        help="Compare both sides' predicted distributions row by row (KL, top-1 agreement, flips).",
        rich_help_panel=COMPUTATION,
    ),
]
ComparePlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        callback=_check_plot,
        metavar="FILE",
        help="Also write the comparison as a self-contained .html page (a KL histogram).",
        rich_help_panel=OUTPUT,
    ),
]
MaxSliceRegressionOpt = Annotated[
    float | None,
    typer.Option(
        "--max-slice-regression",
        help="Exit 1 if any eligible slice's delta exceeds X.",
        rich_help_panel=SLICES,
    ),
]

# -- rows' own --------------------------------------------------------------------------------

RowsFormatOpt = Annotated[
    RowsFormat,
    typer.Option("--format", "-f", help="csv, json (JSON Lines) or table.", rich_help_panel=OUTPUT),
]
WorstRowsOpt = Annotated[
    int | None,
    typer.Option(
        "--top",
        min=1,
        help="Only the N highest-loss rows, highest first.",
        rich_help_panel=OUTPUT,
    ),
]

# -- the shared groups, each folded into one value --------------------------------------------

_SETTINGS_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings)}
INPUT_OPTIONS: dict[str, tuple[Any, Any]] = {
    name: (option, _SETTINGS_DEFAULTS[name])
    for name, option in {
        "label": LabelOpt,
        "scores": ScoresOpt,
        "targets": TargetsOpt,
        "weight": WeightOpt,
        "id": IdOpt,
        "positive": PositiveOpt,
        "classes": ClassesOpt,
        "mode": ModeOpt,
        "kind": KindOpt,
        "eps": EpsOpt,
        "base": BaseOpt,
        "renormalize": RenormalizeOpt,
        "input_format": InputFormatOpt,
        "top_warnings": TopWarningsOpt,
        "ignore_label": IgnoreLabelOpt,
        "logprob": LogprobOpt,
        "nll": NllOpt,
        "tokens": TokensOpt,
        "doc": DocOpt,
        "bytes": BytesOpt,
        "words": WordsOpt,
        "per": PerOpt,
        "mask": MaskOpt,
        "topk": TopkOpt,
    }.items()
}
"""The reading and scoring options every command takes: name -> (option, default)."""


class ReportOptions(NamedTuple):
    """What ``eval`` and ``merge`` do with a finished report: its format and file, its
    pictures and table size, and the gates that judge it (each field is one option). A
    NamedTuple: frozen, and cheaper than a dataclass to define while ``--help`` starts."""

    output_format: ReportFormatOpt = None
    output: OutputOpt = None
    also_output: AlsoOutputOpt = None
    plot: PlotOpt = None
    max_classes: MaxClassesOpt = DEFAULT_MAX_CLASSES
    max_loss: MaxLossOpt = None
    strict: StrictOpt = False
    min_slice_size: MinSliceSizeOpt = 20
    max_slice_loss: MaxSliceLossOpt = None
    max_slice_gap: MaxSliceGapOpt = None


_REPORT_HINTS = typing.get_type_hints(ReportOptions, include_extras=True)
REPORT_OPTIONS: dict[str, tuple[Any, Any]] = {
    name: (_REPORT_HINTS[name], ReportOptions._field_defaults[name])
    for name in ReportOptions._fields
}
"""The options of :class:`ReportOptions`: name -> (option, default)."""


def folded_options(
    placeholder: str, options: Mapping[str, tuple[Any, Any]], fold: Callable[..., Any]
) -> Callable[[Command], Command]:
    """A decorator: the command's parameter ``placeholder`` becomes ``options`` on the command
    line (in its place, so in that order in ``--help``), and the command receives their values
    folded into one, ``placeholder=fold(**values)``."""

    def decorate(command: Command) -> Command:
        hints = typing.get_type_hints(command, include_extras=True)
        parameters: list[inspect.Parameter] = []
        for p in inspect.signature(command).parameters.values():
            if p.name == placeholder:
                parameters += [
                    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=t, default=d)
                    for name, (t, d) in options.items()
                ]
            else:
                parameters.append(
                    p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[p.name])
                )

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            folded = fold(**{name: kwargs.pop(name) for name in options})
            command(**kwargs, **{placeholder: folded})

        wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper

    return decorate


with_input_options = folded_options("settings", INPUT_OPTIONS, make_settings)
"""The command's ``settings`` parameter becomes the shared input options, validated into one
:class:`~xent_cli.options.Settings`."""

with_report_options = folded_options("report_options", REPORT_OPTIONS, ReportOptions)
"""The command's ``report_options`` parameter becomes the report's output, gate and slice
options, received as one :class:`ReportOptions`."""
