"""The one exception a user can fix: the CLI turns it into one line on stderr and exit 2."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``xent`` exits with (README's table)."""

    OK = 0  # evaluated; no gate failed (warnings may exist)
    GATE_FAILED = 1  # evaluated, but a gate failed; the report was still written
    USAGE = 2  # usage or input error: one line on stderr
    INTERRUPTED = 130  # Ctrl-C
    BROKEN_PIPE = 141  # the reader of stdout went away (``xent rows big.csv | head``)


class XentError(Exception):
    """A problem with the input or the options, explained so that the user can fix it.

    The message is a single line naming the file, column or row; ``hint`` is an
    optional second line with a remedy.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[XentError], tuple[str, str | None]]:
        """Pickled with its hint (an error raised on a Dask worker reaches the client whole)."""
        return (type(self), (self.message, self.hint))
