"""The console entry point behind ``xent`` (after :mod:`xent_cli.launch`): process-wide
settings, the app, and an exit that cannot be spoiled by interpreter teardown."""

from __future__ import annotations

import os
import signal
import sys

from xent_cli.cli.commands import app


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
