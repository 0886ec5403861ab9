"""The compiled kernels (``_native.c``): exact per-run sums on a fixed grid, and the
carrying and correct rounding of rows of digits, and exp (exponential.py's method)."""

from typing import Any

LEVELS: int
NON_FINITE: int
TOO_MANY_LEFT: int

def run_sums(
    values: Any, starts: Any | None, sums: Any, left_positions: Any, left_values: Any, /
) -> tuple[int, int]: ...
def rounded_positive(digits: Any, width: int, d0: int, done: Any, out: Any, /) -> None: ...
def carry(digits: Any, width: int, /) -> bool: ...
def exp(values: Any, table: Any, out: Any, /) -> None: ...
