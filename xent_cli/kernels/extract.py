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
:class:`~xent_cli.kernels.exact.ExactSums`. The same kernel compiled (``_native.c``, built at
install when a C compiler is there) does every level of a run in one pass, with the GIL
released; ``XENT_NO_NATIVE=1`` runs the numpy version (the sums are exact either way, so
every report is the same).
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

from xent_cli.kernels import compiled
from xent_cli.kernels.digits import WORK
from xent_cli.kernels.exponential import TABLE, exp

#: Levels split before the values left are handed back (each level: 53 - bitlength(n) bits).
MAX_LEVELS = 3
#: Room for values left over by the compiled kernel (beyond it: the numpy version runs).
LEFT_ROOM = 1 << 12

RunSums = tuple[list[NDArray[np.float64]], NDArray[np.intp], NDArray[np.float64]]

#: What :func:`run_sums` sums of each value ``v``: ``v``, ``v * v`` (as float64 rounds it),
#: or ``exp(-v)`` (:func:`~xent_cli.kernels.exponential.exp`'s, for ``v >= 0``).
VALUES, SQUARES, EXPS = 0, 1, 2


def run_sums(
    values: NDArray[np.float64], starts: NDArray[np.intp] | None, derive: int = VALUES
) -> RunSums | None:
    """(per level, each run's exact sum of its pieces; the positions and values left over),
    or None if a value is inf or NaN (``EXPS``: or below 0; ``SQUARES``: or its square
    overflows).

    ``values``: doubles; ``starts``: where runs begin (increasing, from 0; every run
    non-empty), or None for one run of all; ``derive``: what is summed of each value (the
    derived values are made a block at a time, never as a whole array, by the compiled
    kernel). The exact sum of run ``i`` is the sum of its entries over the levels plus the
    leftover values at positions in ``[starts[i], starts[i + 1])``. Values too large or too
    small for the grid (``C`` not a normal double) are left over whole. The compiled kernel
    (one grid per run) when it is built, else numpy's passes (one grid for all); the sums
    are exact either way.
    """
    kernel = compiled.native
    if kernel is not None and values.size:
        done, found = _compiled(kernel, values, starts, derive)
        if done:
            return found
    if derive == EXPS and values.size and not float(values.min()) >= 0.0:
        return None
    values = derived(values, derive)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if not (math.isfinite(low) and math.isfinite(high)):  # (NaN if any is NaN)
        return None
    return _passes(values, starts, max(-low, high))


def derived(values: NDArray[np.float64], derive: int) -> NDArray[np.float64]:
    """What is summed of each value (``derive``: see :data:`VALUES`), as a whole array."""
    if derive == SQUARES:
        with np.errstate(over="ignore"):  # (an overflow is inf, counted by whoever adds it)
            return values * values
    if derive == EXPS:
        return exp(-values)
    return values


def run_pieces(
    values: NDArray[np.float64], starts: NDArray[np.intp]
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Each run's exact sum as a few values: (the run of each value, the values), zeros
    left out, from :func:`run_sums`' levels and leftovers; if a value is inf or NaN, the
    values themselves, each with its run (whoever adds them counts the inf and NaN)."""
    runs = np.arange(len(starts), dtype=np.intp)
    found = run_sums(values, starts)
    if found is None:
        return np.repeat(runs, np.diff(starts, append=values.size)), values
    levels, left, rest = found
    sums = np.concatenate([*levels, rest])
    of = np.concatenate([*([runs] * len(levels)), np.searchsorted(starts, left, "right") - 1])
    used = np.flatnonzero(sums)
    return of[used].astype(np.intp, copy=False), sums[used]


def _compiled(
    kernel: ModuleType, values: NDArray[np.float64], starts: NDArray[np.intp] | None, derive: int
) -> tuple[bool, RunSums | None]:
    """Whether the compiled kernel answered (not when more values are left over than it has
    room for: numpy's passes then run), and its answer."""
    runs = 1 if starts is None else len(starts)
    sums = np.empty((kernel.LEVELS, runs))
    room = min(values.size, LEFT_ROOM)
    positions, left = np.empty(room, np.int64), np.empty(room)
    values = np.ascontiguousarray(values, np.float64)
    if starts is not None:
        starts = np.ascontiguousarray(starts, np.int64)
    levels, n_left = kernel.run_sums(values, starts, sums, positions, left, derive, TABLE)
    if levels == kernel.NON_FINITE:
        return True, None
    if levels == kernel.TOO_MANY_LEFT:
        return False, None
    return True, (list(sums[:levels]), positions[:n_left].astype(np.intp), left[:n_left])


def _passes(values: NDArray[np.float64], starts: NDArray[np.intp] | None, top: float) -> RunSums:
    """numpy's version: a few vectorised passes per level, one grid for all runs (``top``:
    the largest magnitude). The pieces live in this thread's scratch arrays."""
    n = values.size
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
