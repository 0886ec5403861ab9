"""The commands: each parses its options, calls the core and hands the result to
:mod:`xent_cli.cli.emit`. Every option is declared in :mod:`xent_cli.cli.params`. Heavy modules
(numpy, pyarrow, rich) load inside the commands, so ``xent --help`` starts fast."""

from __future__ import annotations

import dataclasses
import sys

from xent_cli.cli.app import app, modules_loaded
from xent_cli.cli.emit import check_slice_gates, emit_comparison, emit_report
from xent_cli.cli.panels import PanelCommand
from xent_cli.cli.params import (
    AlsoOutputOpt,
    Baseline,
    CalibrationOpt,
    Candidate,
    CompareByOpt,
    ComparePlotOpt,
    ConfidenceOpt,
    DaskOpt,
    DecomposeOpt,
    DistributionOpt,
    EceBinningOpt,
    EceBinsOpt,
    EcePresetOpt,
    EceTargetOpt,
    FailOnOpt,
    Files,
    IntervalOpt,
    MaxChurnOpt,
    MaxKlOpt,
    MaxRegressionOpt,
    MaxRelativeRegressionOpt,
    MaxSliceRegressionOpt,
    MinImprovementOpt,
    MinSliceSizeOpt,
    OnMismatchOpt,
    OutputOpt,
    PairByOpt,
    PositionOpt,
    ProgressOpt,
    ReportFormatOpt,
    ReportOptions,
    ResamplesOpt,
    RowsFormatOpt,
    SaveStateOpt,
    SeedOpt,
    SlicesByOpt,
    States,
    TopRowsOpt,
    WorstRowsOpt,
    with_input_options,
    with_report_options,
)
from xent_cli.cli.progress import progress_bar
from xent_cli.cli.token_params import LevelOpt, TopDocsOpt
from xent_cli.errors import XentError
from xent_cli.options import (
    FailOn,
    Interval,
    OnMismatch,
    PairBy,
    RowsFormat,
    Settings,
    calibration_spec,
)

__all__ = ["app"]


@app.command("eval", cls=PanelCommand)
@with_input_options
@with_report_options
def eval_command(
    files: Files,
    *,
    settings: Settings,
    by: SlicesByOpt = None,
    report_options: ReportOptions,
    calibration: CalibrationOpt = False,
    ece_bins: EceBinsOpt = None,
    ece_binning: EceBinningOpt = None,
    ece_target: EceTargetOpt = None,
    ece_preset: EcePresetOpt = None,
    decompose: DecomposeOpt = False,
    top_docs: TopDocsOpt = 10,
    confidence: LevelOpt = 0.95,
    save_state: SaveStateOpt = None,
    dask: DaskOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Evaluate predictions: per-class and overall cross-entropy, with warnings; for a
    language model's token file, perplexity and bits per byte with an interval by documents."""
    from xent_cli.api import run_scan

    modules_loaded()
    check_slice_gates(by is not None, report_options)
    if not 0 < confidence < 1:
        raise XentError(f"--confidence must be in (0, 1), got {confidence:g}")
    settings = dataclasses.replace(settings, top_docs=top_docs, confidence=confidence)
    if by is not None:
        settings = dataclasses.replace(settings, by=by)
    ece = (ece_bins, ece_binning, ece_target, ece_preset)
    plot = report_options.plot is not None
    if calibration or decompose or plot or any(v is not None for v in ece):
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
        report = run.report(min_slice_size=report_options.min_slice_size)
    if save_state is not None:
        from xent_cli.core.partials import save

        save(run.partial(), save_state)
    emit_report(report, report_options)


@app.command("compare", cls=PanelCommand)
@with_input_options
def compare_command(
    baseline: Baseline,
    candidate: Candidate,
    *,
    settings: Settings,
    on_mismatch: OnMismatchOpt = OnMismatch.error,
    pair_by: PairByOpt = PairBy.auto,
    position: PositionOpt = None,
    top_docs: TopDocsOpt = 10,
    confidence: ConfidenceOpt = 0.95,
    ci: IntervalOpt = Interval.t,
    resamples: ResamplesOpt = 9999,
    seed: SeedOpt = 0,
    output_format: ReportFormatOpt = None,
    output: OutputOpt = None,
    also_output: AlsoOutputOpt = None,
    plot: ComparePlotOpt = None,
    top: TopRowsOpt = None,
    progress: ProgressOpt = True,
    distribution: DistributionOpt = True,
    max_regression: MaxRegressionOpt = None,
    max_relative_regression: MaxRelativeRegressionOpt = None,
    min_improvement: MinImprovementOpt = None,
    fail_on: FailOnOpt = FailOn.estimate,
    max_kl: MaxKlOpt = None,
    max_churn: MaxChurnOpt = None,
    by: CompareByOpt = None,
    min_slice_size: MinSliceSizeOpt = 20,
    max_slice_regression: MaxSliceRegressionOpt = None,
) -> None:
    """Paired comparison of two models on the same rows: delta, interval, per class, how
    far the predicted distributions moved (KL, churn, flips), gates."""
    from xent_cli.comparison.run import compare

    modules_loaded()
    if plot is not None and plot.suffix.lower() != ".html":
        raise XentError(
            f"--plot {plot}: compare draws an .html page",
            hint="name the file with .html",
        )
    settings = dataclasses.replace(settings, top_docs=top_docs)
    if by is not None:
        settings = dataclasses.replace(settings, by=by)
    options = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if f.name != "confidence"  # compare's own --confidence, given below
    }
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
            max_kl=max_kl,
            max_churn=max_churn,
            pair_by=pair_by.value,
            position=position,
            distribution=distribution,
            **options,
        )
    emit_comparison(report, output_format, output, also_output, plot)


@app.command("merge", cls=PanelCommand)
@with_report_options
def merge_command(states: States, *, report_options: ReportOptions) -> None:
    """The report of several saved partial states: exactly what one eval over all their
    inputs, in the order given, prints."""
    from xent_cli.core.partials import load, merge
    from xent_cli.core.report import build_report
    from xent_cli.core.token_partials import TokenPartial

    modules_loaded()
    merged = merge([load(name) for name in states], states)
    if isinstance(merged, TokenPartial):
        check_slice_gates(merged.plan.slicer is not None, report_options)
        emit_report(merged.finish(min_slice_size=report_options.min_slice_size), report_options)
        return
    check_slice_gates(merged.plan.slicer is not None, report_options)
    report = build_report(
        merged.plan,
        merged.state,
        merged.files,
        ", ".join(states),
        min_slice_size=report_options.min_slice_size,
    )
    emit_report(report, report_options)


@app.command("rows", cls=PanelCommand)
@with_input_options
def rows_command(
    files: Files,
    *,
    settings: Settings,
    output_format: RowsFormatOpt = RowsFormat.csv,
    top: WorstRowsOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Per-row losses: row, id, label, predicted, p_true, loss (worst first with --top)."""
    from xent_cli.core.engine import Scan
    from xent_cli.core.report import warning_records
    from xent_cli.core.rows import iter_records, top_records
    from xent_cli.core.state import EvalState
    from xent_cli.core.tokens import is_token_layout
    from xent_cli.io.sources import make_sources
    from xent_cli.render.report import warning_lines
    from xent_cli.render.rows import format_records
    from xent_cli.render.table import output_width

    modules_loaded()
    width = output_width(sys.stdout.isatty())
    sources = make_sources(files, settings.input_format)
    if sources and is_token_layout(sources[0].schema, settings):
        raise XentError(
            f"{sources[0].name}: a token file: xent rows lists a classifier's rows",
            hint="xent eval FILE --top-docs N lists a token file's worst documents",
        )
    if top is not None:
        with progress_bar(progress) as on_progress:  # streamed rows would cross the bar
            scan = Scan(sources, settings, on_progress)
            state = EvalState.empty(scan.plan)
            records = top_records(scan, state, top)
        sys.stdout.write(format_records(records, output_format, header=True, width=width))
    else:
        scan = Scan(sources, settings)
        state = EvalState.empty(scan.plan)
        first = True
        for block in iter_records(scan, state):
            sys.stdout.write(format_records(block, output_format, header=first, width=width))
            first = False
    sys.stdout.flush()
    for line in warning_lines(warning_records(scan.plan, state)):
        print(line, file=sys.stderr)
