"""The console entry point, kept light: ``xent --version`` answers before typer loads.

Everything else goes to :func:`xent_cli.cli.main.main`. (Scripts that ask a tool for its version
on every run pay for Python's start-up only: ~0.04 s instead of ~0.1 s with typer.)
"""

from __future__ import annotations

import gc
import sys


def main() -> None:
    """``xent``: the version at once, or the full command line."""
    if sys.argv[1:] == ["--version"]:
        from xent_cli.version import __version__

        try:
            print(f"xent {__version__}", flush=True)
        except BrokenPipeError:  # `xent --version | true`: quiet, like other Unix tools
            sys.stdout = None  # type: ignore[assignment,unused-ignore]
        return
    # No garbage collection while the modules load: see xent_cli.cli.app.modules_loaded
    gc.disable()
    from xent_cli.cli.main import main as run

    run()
