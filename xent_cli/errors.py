"""The one exception a user can fix: the CLI turns it into one line on stderr and exit 2."""

from __future__ import annotations


class XentError(Exception):
    """A problem with the input or the options, explained so that the user can fix it.

    The message is a single line naming the file, column or row; ``hint`` is an
    optional second line with a remedy.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message
