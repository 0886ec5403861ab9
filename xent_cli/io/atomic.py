"""Outputs written atomically: a temporary file beside the target, then renamed over it, so
that an interrupted run never leaves half a report, state or picture."""

from __future__ import annotations

import os
from pathlib import Path

from xent_cli.errors import XentError


def write_atomically(path: str | Path, data: bytes | str, what: str) -> None:
    """Write ``data`` (text as UTF-8) to ``path``; an OS error is one line naming ``what``
    was written (``the report``, ``the state``, ...)."""
    target = Path(path).resolve()
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        temporary.write_bytes(payload)
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise XentError(f"{path}: cannot write {what} ({error.strerror})") from None
