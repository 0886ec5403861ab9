"""Exact sums over runs of values by extraction onto a fixed grid (Rump, Ogita and Oishi's
ExtractScalar; the same idea as ReproBLAS' binned sums).

For ``n`` finite doubles below ``2**E`` in magnitude and ``W = min(50, 53 - bitlength(n))``,
adding and subtracting ``C = 1.5 * 2**(E - W + 52)`` rounds each value to a multiple of
``u = 2**(E - W)``: the piece ``p = (v + C) - C`` and the rest ``r = v - p`` are both exact,
``|p| <= 2**E`` and ``|r| <= u / 2``. Any float64 sum of up to ``n`` pieces is a multiple of
``u`` below ``2**53 * u`` in magnitude, hence exact whatever the order: ``np.add.reduceat``
over runs gives each run's exact sum of pieces. The rests are split again one grid lower
(``E - W``), until nothing is left; a value of 24 significant bits (a float32) is whole
after two levels unless it is ``2**45`` times smaller than the largest.

Each level costs a few vectorised passes and no sort or scatter, so a batch's per-run sums
shrink ``n`` values to a few per run before they reach the digits of
:class:`~xent_cli.kernels.exact.ExactSums`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from xent_cli.kernels.digits import WORK

#: Levels split before the values left are handed back (each level: 53 - bitlength(n) bits).
MAX_LEVELS = 3


def run_sums(
    values: NDArray[np.float64], starts: NDArray[np.intp] | None, top: float | None = None
) -> tuple[list[NDArray[np.float64]], NDArray[np.intp], NDArray[np.float64]]:
    """(per level, each run's exact sum of its pieces; the positions and values left over).

    ``values``: finite doubles; ``starts``: where runs begin (increasing, from 0; every run
    non-empty), or None for one run of all. The exact sum of run ``i`` is the sum of its
    entries over the levels plus the leftover values at positions in ``[starts[i],
    starts[i + 1])``. Values too large or too small for the grid (``C`` not a normal double)
    are left over whole. ``top``: the largest magnitude, if the caller knows it. The pieces
    live in this thread's scratch arrays (no allocation per level).
    """
    n = values.size
    if top is None:
        top = float(np.max(np.abs(values))) if n else 0.0
    if top == 0.0:
        return [], np.zeros(0, np.intp), np.zeros(0)
    width = min(50, 53 - n.bit_length())  # (at most 50: v + C stays in C's binade)
    exponent = math.frexp(top)[1]  # top < 2**exponent
    levels: list[NDArray[np.float64]] = []
    piece = WORK(10, n).view(np.float64)
    rest, rest_buffer = values, WORK(11, n).view(np.float64)
    for _ in range(MAX_LEVELS):
        shift = exponent - width + 52  # C = 1.5 * 2**shift
        if not -1000 < shift < 1000:
            break
        big = 1.5 * 2.0**shift
        np.add(rest, big, out=piece)
        piece -= big
        if starts is None:
            levels.append(np.array([piece.sum()]))
        else:
            levels.append(np.add.reduceat(piece, starts))
        rest = np.subtract(rest, piece, out=rest_buffer)
        exponent -= width
        if not rest.any():
            return levels, np.zeros(0, np.intp), np.zeros(0)
    left = np.flatnonzero(rest)
    return levels, left, rest[left]
