"""``--plot FILE``: which picture a file name asks for, checked before the run, and written
after it (atomically): ``.png`` / ``.svg`` from :mod:`xent_cli.render.plots`, ``.html`` from
:mod:`xent_cli.render.html`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xent_cli.errors import XentError
from xent_cli.io.atomic import write_atomically
from xent_cli.render.plots import has_matplotlib, missing_matplotlib

PLOT_SUFFIXES = (".png", ".svg", ".html")


def check_plot_path(path: str | Path) -> Path:
    """``--plot``'s file, checked before the run: a known extension, a folder that exists,
    and for a picture, matplotlib installed (found, not imported: it is slow to import)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise XentError(
            f"--plot {path}: unknown extension {suffix or '(none)'!r}",
            hint="give a .png, .svg or .html file",
        )
    if not path.parent.is_dir():
        raise XentError(f"--plot {path}: folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise XentError(f"--plot {path}: is a folder; give a file name")
    if suffix != ".html" and not has_matplotlib():
        missing_matplotlib(path)
    return path


def write_plot(path: str | Path, report: dict[str, Any]) -> None:
    """Write the report's pictures to ``path`` (.png, .svg or .html), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        check_plot_path(path)  # raises, naming the extension
    if suffix == ".html":
        from xent_cli.render.html import html_page

        data = html_page(report).encode("utf-8")
    else:
        from xent_cli.render.plots import figure_bytes

        data = figure_bytes(report, suffix[1:], where=path)
    write_atomically(path, data, "the picture")
