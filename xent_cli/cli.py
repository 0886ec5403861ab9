"""The command line: options -> settings -> engine -> renderer -> exit code.

The only module that imports typer. Heavy modules (numpy, pyarrow, rich) load inside the
commands, so ``xent --help`` and ``xent --version`` start fast.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from . import __version__
from .errors import XentError
from .options import (
    DEFAULT_EPS,
    DEFAULT_TOP_WARNINGS,
    Base,
    InputFormat,
    Kind,
    Mode,
    OutputFormat,
    RowsFormat,
)

EXIT_GATE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class XentGroup(typer.core.TyperGroup):
    """Prints every usage error as one plain line (plus a pointer to --help), exit 2."""

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
                sys.exit(EXIT_USAGE)
            if hasattr(error, "format_message") and hasattr(error, "exit_code"):
                context = getattr(error, "ctx", None)
                path = context.command_path if context is not None else "xent"
                _error(error.format_message(), f"see '{path} --help'")
                sys.exit(error.exit_code)
            if isinstance(error, typer.Abort):
                _error("aborted")
                sys.exit(EXIT_INTERRUPTED)
            raise
        if code == EXIT_INTERRUPTED:
            _error("interrupted")
        sys.exit(code or 0)


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


INPUT_OPTIONS = (
    "label", "scores", "targets", "weight", "id", "positive", "mode", "kind", "eps", "base",
    "renormalize", "input_format", "top_warnings",
)  # fmt: skip


def _input_options(arguments: dict[str, Any]) -> dict[str, Any]:
    """The reading and scoring options that eval and rows share, from a command's arguments."""
    return {name: arguments[name] for name in INPUT_OPTIONS}


@contextmanager
def _user_errors() -> Iterator[None]:
    """Core errors -> one line on stderr and exit 2 (Ctrl-C is XentGroup's: exit 130)."""
    try:
        yield
    except XentError as error:
        _error(error.message, error.hint)
        raise typer.Exit(error.exit_code) from None


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Any]:
    """A progress callback when stderr is a terminal and --progress is on, else None."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    from .progress import ProgressBar

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
    target = output.resolve()
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise XentError(f"{output}: cannot write the report ({error.strerror})") from None


@app.command("eval")
def eval_command(
    files: Files,
    label: LabelOpt = None,
    scores: ScoresOpt = None,
    targets: TargetsOpt = None,
    weight: WeightOpt = None,
    id: IdOpt = None,
    positive: PositiveOpt = None,
    mode: ModeOpt = Mode.auto,
    kind: KindOpt = Kind.auto,
    eps: EpsOpt = DEFAULT_EPS,
    base: BaseOpt = Base.e,
    renormalize: RenormOpt = False,
    input_format: InputFormatOpt = InputFormat.auto,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
    top_warnings: TopWarningsOpt = DEFAULT_TOP_WARNINGS,
    max_loss: Annotated[
        float | None,
        typer.Option("--max-loss", help="Exit 1 if the overall loss exceeds this (a CI gate)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 if there is any warning.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    progress: ProgressOpt = True,
) -> None:
    """Evaluate predictions: per-class and overall cross-entropy, with warnings."""
    with _user_errors():
        from .engine import evaluate
        from .render import render, warning_lines

        options = _input_options(locals())
        with _progress_bar(progress) as on_progress:
            report = evaluate(files, on_progress=on_progress, **options)
        for line in warning_lines(report.warnings):
            print(line, file=sys.stderr)
        color = output is None and _color_ok(sys.stdout)
        width = _width() if color else 100
        _write_output(render(report, output_format, width=width, color=color), output)

    failed = False
    if max_loss is not None and not report.loss <= max_loss:
        print(
            f"xent: gate failed: loss {report.loss:.6g} {report.unit} "
            f"exceeds --max-loss {max_loss:g}",
            file=sys.stderr,
        )
        failed = True
    if strict and report.warnings:
        print(
            f"xent: gate failed: {len(report.warnings)} warning(s) under --strict", file=sys.stderr
        )
        failed = True
    if failed:
        raise typer.Exit(EXIT_GATE)


def _color_ok(stream: Any) -> bool:
    return (
        bool(stream.isatty()) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    )


def _width() -> int:
    import shutil

    return max(60, min(160, shutil.get_terminal_size((100, 24)).columns))


@app.command("rows")
def rows_command(
    files: Files,
    label: LabelOpt = None,
    scores: ScoresOpt = None,
    targets: TargetsOpt = None,
    weight: WeightOpt = None,
    id: IdOpt = None,
    positive: PositiveOpt = None,
    mode: ModeOpt = Mode.auto,
    kind: KindOpt = Kind.auto,
    eps: EpsOpt = DEFAULT_EPS,
    base: BaseOpt = Base.e,
    renormalize: RenormOpt = False,
    input_format: InputFormatOpt = InputFormat.auto,
    output_format: Annotated[
        RowsFormat, typer.Option("--format", "-f", help="csv, json (JSON Lines) or table.")
    ] = RowsFormat.csv,
    top: Annotated[
        int | None,
        typer.Option("--top", min=1, help="Only the N highest-loss rows, highest first."),
    ] = None,
    top_warnings: TopWarningsOpt = DEFAULT_TOP_WARNINGS,
    progress: ProgressOpt = True,
) -> None:
    """Per-row losses: row, id, label, predicted, p_true, loss (worst first with --top)."""
    with _user_errors():
        from .engine import Run, make_settings, make_sources
        from .render import warning_lines
        from .rows import format_records, iter_records, top_records

        settings = make_settings(**_input_options(locals()))
        run = Run(make_sources(files, settings.input_format), settings)
        if top is not None:
            with _progress_bar(progress) as on_progress:  # streamed rows would cross the bar
                run.on_progress = on_progress
                records = top_records(run, top)
            sys.stdout.write(format_records(records, output_format, header=True))
        else:
            first = True
            for block in iter_records(run):
                sys.stdout.write(format_records(block, output_format, header=first))
                first = False
        sys.stdout.flush()
        for line in warning_lines(run.warning_records()):
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
