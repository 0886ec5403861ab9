"""The Typer app: its group (where errors become exit codes) and ``--version``.

The commands register themselves on :data:`app` in :mod:`xent_cli.cli.commands`.
"""

from __future__ import annotations

import gc
import sys
from typing import Annotated, Any

import typer
import typer.core

from xent_cli.errors import ExitCode, XentError
from xent_cli.version import __version__


class XentGroup(typer.core.TyperGroup):
    """The one edge where errors become exit codes: a user error (``XentError``) or a usage
    error prints one plain line (plus a hint or a pointer to --help) and exits 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override,unused-ignore]
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except XentError as error:
            print_error(error.message, error.hint)
            sys.exit(error.exit_code)
        except Exception as error:
            if type(error).__name__ == "NoArgsIsHelpError":
                error.show()  # type: ignore[attr-defined]
                sys.exit(ExitCode.USAGE)
            if hasattr(error, "format_message") and hasattr(error, "exit_code"):
                context = getattr(error, "ctx", None)
                path = context.command_path if context is not None else "xent"
                print_error(error.format_message(), f"see '{path} --help'")
                sys.exit(error.exit_code)
            if isinstance(error, typer.Abort):
                print_error("aborted")
                sys.exit(ExitCode.INTERRUPTED)
            raise
        if code == ExitCode.INTERRUPTED:
            print_error("interrupted")
        sys.exit(int(code or 0))


def print_error(message: str, hint: str | None = None) -> None:
    """``xent: error: MESSAGE`` on one line, and ``  hint: HINT`` on a second."""
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


def modules_loaded() -> None:
    """Turn garbage collection back on, the objects made so far left out of it for good.

    ``xent`` starts with the collector off (:mod:`xent_cli.launch`): importing numpy,
    pyarrow, typer and xent makes some 50,000 objects that live as long as the process, and
    collecting them as they came cost ~17 ms (75 collections) of a 0.3 s start-up. Each
    command calls this once its modules are loaded; frozen, they are never scanned again.
    (With the collector on, as under tests or the Python API: nothing to do.)
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
