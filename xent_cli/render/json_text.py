"""Any report as JSON: its ``to_dict()`` indented, no NaN (the keys the contract names).

Its own module: a JSON report loads neither the tables nor JUnit's renderer.
"""

from __future__ import annotations

import json
from typing import Any, Protocol


class Reported(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def render_json(report: Reported) -> str:
    return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
