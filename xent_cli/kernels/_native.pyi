"""The compiled kernel (``_native.c``): exact per-run sums on a fixed grid."""

from typing import Any

LEVELS: int
NON_FINITE: int
TOO_MANY_LEFT: int

def run_sums(
    values: Any, starts: Any | None, sums: Any, left_positions: Any, left_values: Any, /
) -> tuple[int, int]: ...
