"""Where a finished report goes: warnings to stderr, the report to stdout or ``-o``, its
pictures to ``--plot``, then the gates (exit 1 when one failed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from xent_cli.cli.params import OUTPUT_SUFFIXES, ReportOptions
from xent_cli.errors import ExitCode, XentError
from xent_cli.io.atomic import write_atomically
from xent_cli.options import OutputFormat

if TYPE_CHECKING:
    from xent_cli.comparison.report import ComparisonReport
    from xent_cli.core.report import Report
    from xent_cli.core.token_report import TokenReport


def write_output(text: str, output: Path | None) -> None:
    """Print to stdout, or write ``output`` atomically (temporary file, then rename)."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_atomically(output, text, "the report")


def check_slice_gates(sliced: bool, options: ReportOptions) -> None:
    """The slice gates are numbers >= 0 and judge slices that exist (``--by``)."""
    for name, value in (
        ("--max-slice-loss", options.max_slice_loss),
        ("--max-slice-gap", options.max_slice_gap),
    ):
        if value is not None and not value >= 0:
            raise XentError(f"{name} must be a number >= 0, got {value}")
        if value is not None and not sliced:
            raise XentError(f"{name} needs --by COL (the slices it judges)")


def format_for(output_format: OutputFormat | None, output: Path | None) -> OutputFormat:
    """--format, else the format of -o's extension, else the table."""
    if output_format is not None:
        return output_format
    suffix = output.suffix.lower() if output is not None else ""
    return OUTPUT_SUFFIXES.get(suffix, OutputFormat.table)


def emit_report(report: Report | TokenReport, options: ReportOptions) -> None:
    """Warnings to stderr, the report (with its gates judged) to stdout or ``-o``, and its
    pictures to ``--plot``; then the failed gates to stderr (exit 1)."""
    from xent_cli.core.token_report import TokenReport

    report = _judged(report, options)
    output = options.output
    if report.warnings:
        from xent_cli.render.report import warning_lines

        for line in warning_lines(report.warnings):
            print(line, file=sys.stderr)
    color = output is None and _color_ok(sys.stdout)
    output_format = format_for(options.output_format, output)
    width = None  # (JSON has no width: the table modules are not loaded for it)
    if output_format is not OutputFormat.json:
        from xent_cli.render.table import output_width

        width = output_width(output is None and sys.stdout.isatty())
    write_output(_rendered(report, output_format, width, color, options), output)
    for path in options.also_output or []:
        also = _rendered(report, format_for(None, path), None, False, options)
        write_atomically(path, also, "the report")
    if options.plot is not None:
        if isinstance(report, TokenReport):
            raise XentError("--plot draws a classifier's report; a token file has none yet")
        from xent_cli.render.files import write_plot

        write_plot(options.plot, report.to_dict())
    for reason in report.gate.reasons:
        print(f"xent: gate failed: {reason}", file=sys.stderr)
    if not report.gate.passed:
        raise typer.Exit(ExitCode.GATE_FAILED)


def _judged(report: Report | TokenReport, options: ReportOptions) -> Report | TokenReport:
    """The report with its gates judged."""
    from xent_cli.core.token_report import TokenReport, apply_token_gate

    if isinstance(report, TokenReport):
        return apply_token_gate(
            report,
            options.max_loss,
            options.strict,
            max_slice_loss=options.max_slice_loss,
            max_slice_gap=options.max_slice_gap,
        )
    from xent_cli.core.report import apply_gate

    return apply_gate(
        report,
        options.max_loss,
        options.strict,
        max_slice_loss=options.max_slice_loss,
        max_slice_gap=options.max_slice_gap,
    )


def _rendered(
    report: Report | TokenReport,
    output_format: OutputFormat,
    width: int | None,
    color: bool,
    options: ReportOptions,
) -> str:
    if output_format is OutputFormat.json:  # (the same for both: no table modules loaded)
        from xent_cli.render.json_text import render_json

        return render_json(report)
    from xent_cli.core.token_report import TokenReport
    from xent_cli.render.report import render
    from xent_cli.render.tokens import render_tokens

    if isinstance(report, TokenReport):
        return render_tokens(report, output_format, width=width)
    return render(report, output_format, width=width, color=color, max_classes=options.max_classes)


def emit_comparison(
    report: ComparisonReport,
    output_format: OutputFormat | None,
    output: Path | None,
    also_output: list[Path] | None = None,
    plot: Path | None = None,
) -> None:
    """``xent compare``'s warnings to stderr, its report to stdout or ``output`` (and to each
    ``also_output`` file, and its page to ``plot``), then its failed gates to stderr
    (exit 1)."""
    from xent_cli.render.compare import render_comparison
    from xent_cli.render.table import output_width

    for warning in report.warnings:
        side = "" if warning["side"] == "both" else f"{warning['side']}: "
        print(f"xent: warning: {side}{warning['code']}: {warning['message']}", file=sys.stderr)
    width = output_width(output is None and sys.stdout.isatty())
    write_output(render_comparison(report, format_for(output_format, output), width=width), output)
    for path in also_output or []:
        write_atomically(path, render_comparison(report, format_for(None, path)), "the report")
    if plot is not None:
        from xent_cli.render.compare_html import compare_page

        write_atomically(plot, compare_page(report.to_dict()), "the page")
    if not report.passed:
        for reason in report.gate["reasons"]:
            print(f"xent: gate failed: {reason}", file=sys.stderr)
        raise typer.Exit(ExitCode.GATE_FAILED)


def _color_ok(stream: Any) -> bool:
    return (
        bool(stream.isatty()) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    )
