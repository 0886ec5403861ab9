"""The commands: each parses its options, calls the core and hands the result to
:mod:`xent_cli.cli.emit`. Heavy modules (numpy, pyarrow, rich) load inside the commands, so
``xent --help`` starts fast."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import typer

from xent_cli.cli.app import app
from xent_cli.cli.emit import check_slice_gates, emit_comparison, emit_report
from xent_cli.cli.params import (
    Files,
    MaxClassesOpt,
    MaxLossOpt,
    MaxSliceGapOpt,
    MaxSliceLossOpt,
    MinSliceSizeOpt,
    OutputOpt,
    PlotOpt,
    ProgressOpt,
    ReportFormatOpt,
    StrictOpt,
    with_input_options,
)
from xent_cli.cli.progress import progress_bar
from xent_cli.options import (
    DEFAULT_MAX_CLASSES,
    EceBinning,
    EcePreset,
    EceTarget,
    FailOn,
    Interval,
    OnMismatch,
    RowsFormat,
    Settings,
    calibration_spec,
)

__all__ = ["app"]


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
    from xent_cli.api import run_scan

    check_slice_gates(by is not None, max_slice_loss, max_slice_gap)
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
    with progress_bar(progress) as on_progress:
        run = run_scan(files, settings, on_progress=on_progress, dask=dask)
        report = run.report(min_slice_size=min_slice_size)
    if save_state is not None:
        from xent_cli.core.partials import save

        save(run.partial(), save_state)
    emit_report(
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
    from xent_cli.comparison.run import compare

    if by is not None:
        settings = dataclasses.replace(settings, by=by)
    options = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    with progress_bar(progress) as on_progress:
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
    emit_comparison(report, output_format, output)


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

    merged = merge([load(name) for name in states], states)
    check_slice_gates(merged.plan.slicer is not None, max_slice_loss, max_slice_gap)
    report = build_report(
        merged.plan, merged.state, merged.files, ", ".join(states), min_slice_size=min_slice_size
    )
    emit_report(
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
        with progress_bar(progress) as on_progress:  # streamed rows would cross the bar
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
