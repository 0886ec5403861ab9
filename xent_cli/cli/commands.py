"""The command line: options -> settings -> engine -> renderer -> exit code.

The only module that imports typer. Heavy modules (numpy, pyarrow, rich) load inside the
commands, so ``xent --help`` and ``xent --version`` start fast.
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from xent_cli.errors import ExitCode, XentError
from xent_cli.io.atomic import write_atomically
from xent_cli.options import (
    DEFAULT_EPS,
    DEFAULT_MAX_CLASSES,
    DEFAULT_TOP_WARNINGS,
    Base,
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
    RowsFormat,
    Settings,
    calibration_spec,
)
from xent_cli.version import __version__


class XentGroup(typer.core.TyperGroup):
    """The one edge where errors become exit codes: a user error (``XentError``) or a usage
    error prints one plain line (plus a hint or a pointer to --help) and exits 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except XentError as error:
            _error(error.message, error.hint)
            sys.exit(error.exit_code)
        except Exception as error:
            if type(error).__name__ == "NoArgsIsHelpError":
                error.show()  # type: ignore[attr-defined]
                sys.exit(ExitCode.USAGE)
            if hasattr(error, "format_message") and hasattr(error, "exit_code"):
                context = getattr(error, "ctx", None)
                path = context.command_path if context is not None else "xent"
                _error(error.format_message(), f"see '{path} --help'")
                sys.exit(error.exit_code)
            if isinstance(error, typer.Abort):
                _error("aborted")
                sys.exit(ExitCode.INTERRUPTED)
            raise
        if code == ExitCode.INTERRUPTED:
            _error("interrupted")
        sys.exit(int(code or 0))


def _error(message: str, hint: str | None = None) -> None:
    text = " ".join(str(message).split())
    print(f"xent: error: {text}", file=sys.stderr)
    if hint:
        print(f"  hint: {' '.join(hint.split())}", file=sys.stderr)


app = typer.Typer(
    cls=XentGroup,
    name="xent",
    help="Evaluate files of model predictions by cross-entropy, correctly and fast.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"xent {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Evaluate files of model predictions by cross-entropy, correctly and fast."""


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
# The format -o's extension implies when --format is not given.
OUTPUT_SUFFIXES = {
    ".json": OutputFormat.json,
    ".csv": OutputFormat.csv,
    ".md": OutputFormat.markdown,
    ".markdown": OutputFormat.markdown,
    ".txt": OutputFormat.table,
}


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
        from xent_cli.options import make_settings

        settings = make_settings(**{name: kwargs.pop(name) for name in INPUT_OPTIONS})
        command(*args, settings=settings, **kwargs)

    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


def _is_argument(annotation: Any) -> bool:
    return any(
        isinstance(m, typer.models.ArgumentInfo) for m in getattr(annotation, "__metadata__", ())
    )


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Any]:
    """A progress callback when stderr is a terminal and --progress is on, else None."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    from xent_cli.cli.progress import ProgressBar

    bar = ProgressBar()
    try:
        yield bar
    finally:
        bar.close()


def _write_output(text: str, output: Path | None) -> None:
    """Print to stdout, or write ``output`` atomically (temporary file, then rename)."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_atomically(output, text, "the report")


@app.command("eval")
@with_input_options
def eval_command(
    files: Files,
    settings: Settings,
    output_format: ReportFormatOpt = None,
    max_loss: MaxLossOpt = None,
    strict: StrictOpt = False,
    output: OutputOpt = None,
    plot: PlotOpt = None,
    max_classes: MaxClassesOpt = DEFAULT_MAX_CLASSES,
    progress: ProgressOpt = True,
    save_state: Annotated[
        Path | None,
        typer.Option(
            "--save-state", help="Also write the run's mergeable partial state (xent merge)."
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS|local[:N]",
            help="Evaluate the inputs' parts on a Dask cluster (same report).",
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="COL[:N][,COL...]",
            help="Per-slice tables (several columns: their cross; COL:N: N equal-mass bins).",
        ),
    ] = None,
    min_slice_size: MinSliceSizeOpt = 20,
    max_slice_loss: MaxSliceLossOpt = None,
    max_slice_gap: MaxSliceGapOpt = None,
    calibration: Annotated[
        bool,
        typer.Option(
            "--calibration", help="Add calibration: ECE, MCE, Brier score, reliability bins."
        ),
    ] = False,
    ece_bins: Annotated[
        int | None,
        typer.Option(
            "--ece-bins", min=1, max=10_000, show_default=False, help="Reliability bins [15]."
        ),
    ] = None,
    ece_binning: Annotated[
        EceBinning | None,
        typer.Option("--ece-binning", show_default=False, help="Equal width or mass [width]."),
    ] = None,
    ece_target: Annotated[
        EceTarget | None,
        typer.Option(
            "--ece-target",
            show_default=False,
            help="What is binned [binary: positive; else top].",
        ),
    ] = None,
    ece_preset: Annotated[
        EcePreset | None,
        typer.Option("--ece-preset", show_default=False, help="A peer library's convention."),
    ] = None,
    decompose: Annotated[
        bool,
        typer.Option(
            "--decompose",
            help="Also split the loss into calibration and the rest by temperature scaling.",
        ),
    ] = False,
) -> None:
    """Evaluate predictions: per-class and overall cross-entropy, with warnings."""
    import dataclasses

    from xent_cli.api import run_scan

    _check_slice_gates(by is not None, max_slice_loss, max_slice_gap)
    if by is not None:
        settings = dataclasses.replace(settings, by=by)
    ece = (ece_bins, ece_binning, ece_target, ece_preset)
    if calibration or decompose or plot is not None or any(v is not None for v in ece):
        spec = calibration_spec(
            bins=ece_bins,
            binning=ece_binning,
            target=ece_target,
            preset=ece_preset,
            decompose=decompose,
        )
        settings = dataclasses.replace(settings, calibration=spec)
    with _progress_bar(progress) as on_progress:
        run = run_scan(files, settings, on_progress=on_progress, dask=dask)
        report = run.report(min_slice_size=min_slice_size)
    if save_state is not None:
        from xent_cli.core.partials import save

        save(run.partial(), save_state)
    _emit_report(
        report,
        output_format,
        output,
        max_loss,
        strict,
        max_classes,
        max_slice_loss=max_slice_loss,
        max_slice_gap=max_slice_gap,
        plot=plot,
    )


@app.command("compare")
@with_input_options
def compare_command(
    baseline: Annotated[
        str, typer.Argument(metavar="BASELINE", help="The reference predictions (a FILE).")
    ],
    candidate: Annotated[
        str, typer.Argument(metavar="CANDIDATE", help="The new predictions, on the same rows.")
    ],
    settings: Settings,
    on_mismatch: Annotated[
        OnMismatch,
        typer.Option(
            "--on-mismatch",
            help="With --id: ids in one file only are an error, or are left out (intersect).",
        ),
    ] = OnMismatch.error,
    max_regression: Annotated[
        float | None, typer.Option("--max-regression", help="Exit 1 if delta exceeds this.")
    ] = None,
    max_relative_regression: Annotated[
        float | None,
        typer.Option("--max-relative-regression", help="Exit 1 if delta / baseline exceeds this."),
    ] = None,
    min_improvement: Annotated[
        float | None,
        typer.Option("--min-improvement", help="Exit 1 unless delta <= -X."),
    ] = None,
    fail_on: Annotated[
        FailOn,
        typer.Option("--fail-on", help="Gate on the estimate, the interval's end, or a test."),
    ] = FailOn.estimate,
    confidence: Annotated[
        float, typer.Option("--confidence", help="Level of the interval (and the test).")
    ] = 0.95,
    ci: Annotated[
        Interval, typer.Option("--ci", help="Paired t interval or Poisson bootstrap.")
    ] = Interval.t,
    resamples: Annotated[
        int, typer.Option("--resamples", min=1, help="Bootstrap replicates.")
    ] = 9999,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    top: Annotated[
        int | None, typer.Option("--top", min=1, help="Also list the N rows whose loss rose most.")
    ] = None,
    output_format: ReportFormatOpt = None,
    output: OutputOpt = None,
    progress: ProgressOpt = True,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="COL[:N][,COL...]",
            help="Per-slice deltas, by the baseline's columns (COL:N: N equal-mass bins).",
        ),
    ] = None,
    min_slice_size: MinSliceSizeOpt = 20,
    max_slice_regression: Annotated[
        float | None,
        typer.Option(
            "--max-slice-regression", help="Exit 1 if any eligible slice's delta exceeds X."
        ),
    ] = None,
) -> None:
    """Paired comparison of two models on the same rows: delta, interval, per class, gates."""
    import dataclasses

    from xent_cli.comparison.run import compare
    from xent_cli.render.compare import render_comparison

    if by is not None:
        settings = dataclasses.replace(settings, by=by)
    options = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    with _progress_bar(progress) as on_progress:
        report = compare(
            baseline,
            candidate,
            on_mismatch=on_mismatch.value,
            confidence=confidence,
            ci=ci.value,
            resamples=resamples,
            seed=seed,
            top=top,
            max_regression=max_regression,
            max_relative_regression=max_relative_regression,
            min_improvement=min_improvement,
            fail_on=fail_on.value,
            on_progress=on_progress,
            min_slice_size=min_slice_size,
            max_slice_regression=max_slice_regression,
            **options,
        )
    for warning in report.warnings:
        print(f"xent: warning: {warning['side']}: {warning['code']}: {warning['message']}",
              file=sys.stderr)  # fmt: skip
    _write_output(render_comparison(report, _format_for(output_format, output)), output)
    if not report.passed:
        for reason in report.gate["reasons"]:
            print(f"xent: gate failed: {reason}", file=sys.stderr)
        raise typer.Exit(ExitCode.GATE_FAILED)


@app.command("merge")
def merge_command(
    states: Annotated[
        list[str],
        typer.Argument(
            metavar="STATE...", help="Files written by xent eval --save-state.", show_default=False
        ),
    ],
    output_format: ReportFormatOpt = None,
    max_loss: MaxLossOpt = None,
    strict: StrictOpt = False,
    output: OutputOpt = None,
    plot: PlotOpt = None,
    max_classes: MaxClassesOpt = DEFAULT_MAX_CLASSES,
    min_slice_size: MinSliceSizeOpt = 20,
    max_slice_loss: MaxSliceLossOpt = None,
    max_slice_gap: MaxSliceGapOpt = None,
) -> None:
    """The report of several saved partial states: exactly what one eval over all their
    inputs, in the order given, prints."""
    from xent_cli.core.partials import load, merge
    from xent_cli.core.report import build_report
    from xent_cli.core.token_partials import TokenPartial

    merged = merge([load(name) for name in states], states)
    report: Any
    if isinstance(merged, TokenPartial):
        _check_slice_gates(False, max_slice_loss, max_slice_gap)
        report = merged.finish()
    else:
        _check_slice_gates(merged.plan.slicer is not None, max_slice_loss, max_slice_gap)
        report = build_report(
            merged.plan,
            merged.state,
            merged.files,
            ", ".join(states),
            min_slice_size=min_slice_size,
        )
    _emit_report(
        report,
        output_format,
        output,
        max_loss,
        strict,
        max_classes,
        max_slice_loss=max_slice_loss,
        max_slice_gap=max_slice_gap,
        plot=plot,
    )


def _check_slice_gates(
    sliced: bool, max_slice_loss: float | None, max_slice_gap: float | None
) -> None:
    for name, value in (("--max-slice-loss", max_slice_loss), ("--max-slice-gap", max_slice_gap)):
        if value is not None and not value >= 0:
            raise XentError(f"{name} must be a number >= 0, got {value}")
        if value is not None and not sliced:
            raise XentError(f"{name} needs --by COL (the slices it judges)")


def _format_for(output_format: OutputFormat | None, output: Path | None) -> OutputFormat:
    """--format, else the format of -o's extension, else the table."""
    if output_format is not None:
        return output_format
    suffix = output.suffix.lower() if output is not None else ""
    return OUTPUT_SUFFIXES.get(suffix, OutputFormat.table)


def _emit_report(
    report: Any,
    output_format: OutputFormat | None,
    output: Path | None,
    max_loss: float | None,
    strict: bool,
    max_classes: int = DEFAULT_MAX_CLASSES,
    *,
    max_slice_loss: float | None = None,
    max_slice_gap: float | None = None,
    plot: Path | None = None,
) -> None:
    """Warnings to stderr, the report (with its gates judged) to stdout or ``output``, and
    its pictures to ``plot``; then the failed gates to stderr (exit 1)."""
    from xent_cli.core.report import apply_gate
    from xent_cli.core.token_report import TokenReport, apply_token_gate
    from xent_cli.render.report import render, warning_lines
    from xent_cli.render.tokens import render_tokens

    if isinstance(report, TokenReport):
        report = apply_token_gate(report, max_loss, strict)
    else:
        report = apply_gate(
            report, max_loss, strict, max_slice_loss=max_slice_loss, max_slice_gap=max_slice_gap
        )
    output_format = _format_for(output_format, output)
    for line in warning_lines(report.warnings):
        print(line, file=sys.stderr)
    color = output is None and _color_ok(sys.stdout)
    width = _width() if output is None and sys.stdout.isatty() else None
    if isinstance(report, TokenReport):
        text = render_tokens(report, output_format, width=width)
    else:
        text = render(report, output_format, width=width, color=color, max_classes=max_classes)
    _write_output(text, output)
    if plot is not None:
        from xent_cli.render.files import write_plot

        write_plot(plot, report.to_dict())
    for reason in report.gate.reasons:
        print(f"xent: gate failed: {reason}", file=sys.stderr)
    if not report.gate.passed:
        raise typer.Exit(ExitCode.GATE_FAILED)


def _color_ok(stream: Any) -> bool:
    return (
        bool(stream.isatty()) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    )


def _width() -> int:
    import shutil

    return max(20, min(160, shutil.get_terminal_size((100, 24)).columns))


@app.command("rows")
@with_input_options
def rows_command(
    files: Files,
    settings: Settings,
    output_format: Annotated[
        RowsFormat, typer.Option("--format", "-f", help="csv, json (JSON Lines) or table.")
    ] = RowsFormat.csv,
    top: Annotated[
        int | None,
        typer.Option("--top", min=1, help="Only the N highest-loss rows, highest first."),
    ] = None,
    progress: ProgressOpt = True,
) -> None:
    """Per-row losses: row, id, label, predicted, p_true, loss (worst first with --top)."""
    from xent_cli.core.engine import Scan
    from xent_cli.core.report import warning_records
    from xent_cli.core.rows import iter_records, top_records
    from xent_cli.core.state import EvalState
    from xent_cli.io.sources import make_sources
    from xent_cli.render.report import warning_lines
    from xent_cli.render.rows import format_records

    sources = make_sources(files, settings.input_format)
    if top is not None:
        with _progress_bar(progress) as on_progress:  # streamed rows would cross the bar
            scan = Scan(sources, settings, on_progress)
            state = EvalState.empty(scan.plan)
            records = top_records(scan, state, top)
        sys.stdout.write(format_records(records, output_format, header=True))
    else:
        scan = Scan(sources, settings)
        state = EvalState.empty(scan.plan)
        first = True
        for block in iter_records(scan, state):
            sys.stdout.write(format_records(block, output_format, header=first))
            first = False
    sys.stdout.flush()
    for line in warning_lines(warning_records(scan.plan, state)):
        print(line, file=sys.stderr)


def _keep_large_arrays_on_heap() -> None:
    """Let glibc reuse freed memory for the large per-batch arrays.

    By default each array over 32 MiB is a fresh mmap that the kernel must zero and fault in,
    then unmap: for wide inputs that system time was as large as the computation itself
    (1000-class Parquet: 3.2 s -> 1.7 s). A process-wide setting, so only the CLI makes it.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


def main() -> None:
    """Console entry point.

    Quiet on a closed pipe (``xent rows big.csv | head``): SIGPIPE ends the process as it
    does for other Unix tools. The exit skips interpreter teardown once pyarrow is loaded,
    where its thread pools can abort the process ("terminate called without an active
    exception") after the work is done and the exit code decided.
    """
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # xent does no linear algebra; OpenBLAS would start a thread per core at numpy's import,
    # and their spinning costs ~0.1 s of CPU that the parser could have used.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _keep_large_arrays_on_heap()
    try:
        app(prog_name="xent")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    if "pyarrow" in sys.modules:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)
