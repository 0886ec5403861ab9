"""Numbers in strict JSON, both ways: the one place that spells non-finite values.

:func:`json_number` writes ``inf``, ``-inf`` and ``nan`` as the strings "inf", "-inf",
"nan" (tables and CSV use the same words); :func:`number` reads such a value back.
"""

from __future__ import annotations

import math
from typing import Any


def json_number(value: float | None) -> float | str | None:
    """A float for strict JSON: non-finite numbers as the strings "inf", "-inf", "nan"."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def number(value: Any) -> float | None:
    """The inverse of :func:`json_number`: a report's JSON value as a float (or None)."""
    if value is None:
        return None
    return float(value)
