"""A progress bar on stderr for long inputs: shown only on a terminal, after about a second."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class ProgressBar:
    """Callable as ``on_progress(done, total)``; draws nothing for runs shorter than ``delay``."""

    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay
        self.started = time.monotonic()
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        if self._progress is None:
            if time.monotonic() - self.started < self.delay:
                return
            self._start(done, total)
        self._progress.update(self._task, completed=done, total=total)

    def _start(self, done: int, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("xent"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._progress.add_task("reading", total=total, completed=done)
        self._progress.start()  # the first frame shows the bytes already read

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextmanager
def progress_bar(enabled: bool) -> Iterator[ProgressBar | None]:
    """A progress callback when stderr is a terminal and --progress is on, else None."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    bar = ProgressBar()
    try:
        yield bar
    finally:
        bar.close()
