"""xent: evaluate files of model predictions by cross-entropy.

The public API is :func:`evaluate` (paths, a pandas/polars DataFrame or an Arrow stream in,
a :class:`Report` out) and :func:`partial` (the same in, a mergeable :class:`Partial` out).
Heavy modules load on first use so that ``xent --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

__all__ = ["Partial", "Report", "XentError", "__version__", "compare", "evaluate", "partial"]

if TYPE_CHECKING:
    from xent_cli.api import evaluate
    from xent_cli.comparison.run import compare
    from xent_cli.core.partials import Partial, partial
    from xent_cli.core.report import Report
    from xent_cli.errors import XentError


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        from xent_cli.api import evaluate

        return evaluate
    if name == "Report":
        from xent_cli.core.report import Report

        return Report
    if name == "compare":
        from xent_cli.comparison.run import compare

        return compare
    if name in ("Partial", "partial"):
        from xent_cli.core import partials as module

        return getattr(module, name)
    if name == "XentError":
        from xent_cli.errors import XentError

        return XentError
    raise AttributeError(f"module 'xent_cli' has no attribute {name!r}")
