"""The compiled kernels (``_native.c``, built by ``setup.py`` at install when a C compiler is
there), or None: then numpy's version of each runs. Both give the same results to the bit
(exact sums, correctly rounded), so no report depends on which ran. ``XENT_NO_NATIVE=1``
in the environment picks numpy's (to compare, or to rule the compiled code out).

Callers read ``compiled.native`` when they run, so a test can swap it.
"""

from __future__ import annotations

import os
from types import ModuleType

native: ModuleType | None
try:
    from xent_cli.kernels import _native as native
except ImportError:  # pragma: no cover (a build without the compiled kernels)
    native = None
if os.environ.get("XENT_NO_NATIVE"):
    native = None
