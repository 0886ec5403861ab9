"""The arithmetic under :class:`~xent_cli.kernels.exact.ExactSums`: doubles split into exact
integer pieces, float64 exponent bins, carries of radix-``2**26`` digits, one rounding.

A finite double is ``M * 2**(x - 1075)``, with ``x`` its biased exponent field (a subnormal
counts as ``x = 1``) and ``M`` its signed integer mantissa, ``|M| < 2**53``. Both are read
from the bits (:func:`split_doubles`); ``M`` is split exactly into ``H * 2**26 + L``
(``|H| <= 2**27``, ``|L| < 2**26``, same sign as ``M``).

:class:`Bins` sums the ``H * 2**26`` and the ``L`` per (bucket, exponent field) in float64:
sums of integers that stay exact while at most ``2**26`` values reach a bin; its
:meth:`~Bins.increments` turns them into int64 digit increments. :func:`scatter_pieces`
cuts each value into three 26-bit pieces aligned to the digits, for a batch too sparse to bin.

Digits are int64 of radix ``2**26``; :func:`carry` normalises them (every digit but the top
one in ``[0, 2**26)``, the top one in ``[-2**26, 2**26)``), :func:`to_float` and
:func:`scaled` round an exact integer times a power of two once, ties to even.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from xent_cli.kernels import compiled

BITS = 26
MASK = (1 << BITS) - 1
BIAS = 1075  # a double is M * 2**(x - 1075), x its exponent field (x >= 1)

_SIGN_AND_FRACTION = np.int64(0x800FFFFFFFFFFFFF - (1 << 64))
_EXPONENT_OF_2_52 = np.int64(0x4330000000000000)  # with a fraction f: the double 2**52 + f
_HIGH_BITS = np.int64(~MASK)
_TWO_52 = float(1 << 52)
_TWO_M26 = 2.0**-26

_X = np.arange(2048, dtype=np.int64)
_DIGIT_OF_X = (_X - BIAS) // BITS  # digit position of 2**(x - 1075)
_SHIFT_OF_X = (_X - BIAS) - BITS * _DIGIT_OF_X  # and the bit within it
_POW2_OF_X = np.int64(1) << _SHIFT_OF_X
_POW2 = np.int64(1) << np.arange(BITS, dtype=np.int64)  # multiply, not <<: signed values
CARRY_ROWS = 1 << 14  # rows per block of carrying (their digits transposed stay in cache)


def carry(digits: NDArray[np.int64]) -> NDArray[np.int64]:
    """Propagate carries in place: every digit but the top in [0, 2**26), top in [-2**26, 2**26).

    Returns ``digits``, or a copy with more top columns if the top digit needed them. One
    ripple from the lowest digit up, on blocks of rows laid out digit by digit (contiguous,
    in cache): each digit's carry is added to the next before that one is split.
    """
    n_rows, width = digits.shape
    kernel = compiled.native
    if width and kernel is not None and digits.flags.c_contiguous:
        if not kernel.carry(digits, width):  # (the same ripple, row by row; the top fits)
            return digits
    elif width > 1:
        for start in range(0, n_rows, CARRY_ROWS):
            columns = digits[start : start + CARRY_ROWS].T.copy()
            for j in range(width - 1):
                spill = columns[j] >> BITS
                columns[j] &= MASK
                columns[j + 1] += spill
            digits[start : start + CARRY_ROWS] = columns.T
    while width:
        top = digits[:, -1] >> BITS
        if not ((top != 0) & (top != -1)).any():
            break
        digits = np.concatenate([digits, top[:, None]], axis=1)
        digits[:, -2] &= MASK
        width += 1
    return digits


def to_float(value: int, exponent: int) -> float:
    """``value * 2**exponent`` correctly rounded (ties to even); +-inf beyond float64."""
    try:
        if exponent >= 0:
            return float(value << exponent)
        return value / (1 << -exponent)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def scaled(values: list[int], exponent: int) -> list[float]:
    """``[to_float(value, exponent) for value in values]``, faster when nothing overflows."""
    try:
        if exponent >= 0:
            return [float(value << exponent) for value in values]
        scale = 1 << -exponent
        return [value / scale for value in values]
    except OverflowError:
        return [to_float(value, exponent) for value in values]


def special(pos_inf: int, neg_inf: int, nan: int) -> float | None:
    """The result forced by non-finite values, or None if there were none."""
    if nan or (pos_inf and neg_inf):
        return float("nan")
    if pos_inf:
        return float("inf")
    if neg_inf:
        return float("-inf")
    return None


class Work(threading.local):
    """Scratch int64 arrays, one set per thread, reused by every block of every ``add``.

    Fresh arrays for each block would cost a page fault per 4 KiB touched. Slots: 0-9 the
    digit pieces (here and in ``exact.py``), 10-11 ``extract.py``'s levels.
    """

    def __init__(self) -> None:
        self.arrays: dict[int, NDArray[np.int64]] = {}

    def __call__(self, slot: int, n: int) -> NDArray[np.int64]:
        array = self.arrays.get(slot)
        if array is None or array.size < n:
            array = self.arrays[slot] = np.empty(n, np.int64)
        return array[:n]


WORK = Work()


class Bins:
    """Float64 sums of ``H * 2**26`` and ``L`` per (row, exponent field) for one chunk."""

    __slots__ = ("hi", "lo", "rows", "xhi", "xlo")

    def __init__(self, rows: int, xlo: int, xhi: int) -> None:
        self.rows, self.xlo, self.xhi = rows, xlo, xhi
        # xlo unused leading bins: a key is row * span + x, without subtracting xlo
        size = xlo + rows * (xhi - xlo + 1)
        self.hi = np.zeros(size)
        self.lo = np.zeros(size)

    @property
    def span(self) -> int:
        return self.xhi - self.xlo + 1

    @property
    def size(self) -> int:
        return self.rows * self.span

    def widened(self, xlo: int, xhi: int, copy: bool = False) -> Bins:
        """These bins, re-laid out to also cover exponent fields xlo..xhi (or a copy)."""
        if xlo >= self.xlo and xhi <= self.xhi:
            if not copy:
                return self
            xlo, xhi = self.xlo, self.xhi
        new = Bins(self.rows, min(xlo, self.xlo), max(xhi, self.xhi))
        at = self.xlo - new.xlo
        for old_sums, new_sums in ((self.hi, new.hi), (self.lo, new.lo)):
            view = new_sums[new.xlo :].reshape(self.rows, new.span)
            view[:, at : at + self.span] = old_sums[self.xlo :].reshape(self.rows, self.span)
        return new

    def add_bins(self, other: Bins) -> None:
        """Add the sums of ``other`` (same rows, exponent fields within these)."""
        at = other.xlo - self.xlo
        view = self.hi[self.xlo :].reshape(self.rows, self.span)
        view[:, at : at + other.span] += other.hi[other.xlo :].reshape(self.rows, other.span)
        view = self.lo[self.xlo :].reshape(self.rows, self.span)
        view[:, at : at + other.span] += other.lo[other.xlo :].reshape(self.rows, other.span)

    def add(
        self,
        rows: NDArray[np.intp] | None,
        x: NDArray[np.int64],
        hi: NDArray[np.float64],
        lo: NDArray[np.float64],
        work: Work,
    ) -> None:
        if rows is None:
            key = x
        else:
            key = np.multiply(rows, self.span, out=work(3, x.size))
            key += x
        if 8 * self.size <= key.size:  # few bins: bincount is faster
            self.hi += np.bincount(key, hi, minlength=self.hi.size)
            self.lo += np.bincount(key, lo, minlength=self.lo.size)
        else:  # many bins: no per-block pass over all of them
            np.add.at(self.hi, key, hi)
            np.add.at(self.lo, key, lo)

    def increments(self) -> tuple[int, NDArray[np.int64]]:
        """(first digit position, int64 digit increments (rows x k)) holding these sums."""
        e_lo = self.xlo - BIAS
        g_lo = e_lo // BITS
        n_groups = (self.xhi - BIAS) // BITS - g_lo + 1
        at = e_lo - BITS * g_lo
        sums = np.zeros((2, self.rows, n_groups * BITS), np.int64)
        # exact: integer-valued float64 below 2**53 (the H sums are multiples of 2**26)
        sums[0, :, at : at + self.span] = self.lo[self.xlo :].reshape(self.rows, -1)
        sums[1, :, at : at + self.span] = (self.hi[self.xlo :] * _TWO_M26).reshape(self.rows, -1)
        # per (row, digit g, bit r): (L + H * 2**26) * 2**r, and L + H * 2**26 = c0 + c1 *
        # 2**26 + c2 * 2**52 with |c| <= 2**27; times 2**r (r <= 25), summed over r: < 2**57
        low, high = sums & MASK, sums >> BITS
        low[1] += high[0]
        c = np.concatenate([low, high[1:]]).reshape(3, self.rows, n_groups, BITS)
        w = (c * _POW2).sum(axis=3)
        w_low, w_high = w & MASK, w >> BITS
        inc = np.zeros((self.rows, n_groups + 3), np.int64)
        for k in range(3):
            inc[:, k : k + n_groups] += w_low[k]
            inc[:, k + 1 : k + 1 + n_groups] += w_high[k]
        return g_lo, inc


Split = tuple[
    NDArray[np.intp] | None, NDArray[np.int64], int, int, NDArray[np.float64], NDArray[np.float64]
]


def split_doubles(
    b: NDArray[np.intp] | None,
    v: NDArray[np.float64],
    work: Work,
    count_nonfinite: Callable[[NDArray[np.intp] | None, NDArray[np.float64]], None],
) -> Split | None:
    """(buckets, exponent fields, their min, max, H * 2**26, L) of the finite values.

    Hands the non-finite ones to ``count_nonfinite``; None if nothing non-zero is left.
    Arrays in ``work``.
    """
    n = v.size
    bits = v.view(np.int64)
    x = np.right_shift(bits, 52, out=work(0, n))
    x &= 0x7FF
    xmin, xmax = int(x.min()), int(x.max())
    if xmax == 0x7FF:  # an inf or NaN: count them, go on with the finite values
        finite = np.isfinite(v)
        count_nonfinite(None if b is None else b[~finite], v[~finite])
        if not finite.any():
            return None
        return split_doubles(None if b is None else b[finite], v[finite], work, count_nonfinite)
    mantissa = np.bitwise_and(bits, _SIGN_AND_FRACTION, out=work(1, n))
    mantissa |= _EXPONENT_OF_2_52  # the double +-(2**52 + fraction)
    hi = np.bitwise_and(mantissa, _HIGH_BITS, out=work(2, n)).view(np.float64)  # +-H*2**26
    lo = mantissa.view(np.float64)
    lo -= hi  # +-L, exact
    if xmin == 0:  # zeros and subnormals: no implicit 2**52, exponent as x = 1
        zero_field = x == 0
        np.subtract(hi, np.copysign(_TWO_52, hi), out=hi, where=zero_field)
        if np.any(v != 0.0, where=zero_field):  # a subnormal
            xmin = 1
        else:  # only zeros: park them (now 0 + 0) at the smallest other exponent
            xmin = int(((x - 1) & 0xFFF).min()) + 1
            if xmin > 0x7FF:
                return None
        np.maximum(x, xmin, out=x)
        xmax = max(xmax, xmin)
    return b, x, xmin, xmax, hi, lo


def scatter_pieces(
    x: NDArray[np.int64], hi: NDArray[np.float64], lo: NDArray[np.float64], work: Work
) -> tuple[NDArray[np.int64], tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]]:
    """Each value ``(H * 2**26 + L) * 2**(x - 1075)`` as three pieces ``q0, q1, q2``
    (``|q| <= 2**27``) added at digit positions ``d, d + 1, d + 2``: returns (d, pieces)."""
    n = x.size
    high = np.multiply(hi, _TWO_M26, out=work(4, n), casting="unsafe")  # H, |H| <= 2**27
    low = work(5, n)
    np.copyto(low, lo, casting="unsafe")  # L, |L| < 2**26 (integers: exact)
    scale = np.take(_POW2_OF_X, x, out=work(6, n))  # 2**r: r the bit within the digit
    low *= scale  # |.| < 2**51
    high *= scale  # |.| <= 2**52
    # (L + H * 2**26) * 2**r = q0 + q1 * 2**26 + q2 * 2**52, |q| <= 2**27
    q0 = np.bitwise_and(low, MASK, out=work(7, n))
    q1 = np.right_shift(low, BITS, out=low)
    q1 += np.bitwise_and(high, MASK, out=scale)
    q2 = np.right_shift(high, BITS, out=high)
    digit = np.take(_DIGIT_OF_X, x, out=work(8, n))
    return digit, (q0, q1, q2)


def rounded_positive(
    digits: NDArray[np.int64], d0: int
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Rows of normalised digits (row value ``Σ_j d_j 2**(26 (d0 + j))``) correctly rounded to
    float64 (ties to even) without Python integers, for the rows whose value is positive and
    whose result is a normal float; returns (which rows were done, their values).

    With ``a, b, c, d`` the top four digits and ``k + 1`` the bits of ``a``: the top 53 bits
    are ``q = (a << 52 - k) + ((b << 26) + c >> k)``, the next bits ``rem`` (below
    ``2**(k + 26)``) decide the rounding against ``half = 2**(k + 25)``, and any lower digit
    is the sticky bit.
    """
    kernel = compiled.native
    if kernel is not None and digits.size:  # (the same, row by row in one pass)
        rows = np.ascontiguousarray(digits, np.int64)
        done_rows, out = np.zeros(len(rows), np.uint8), np.zeros(len(rows))
        kernel.rounded_positive(rows, rows.shape[1], d0, done_rows, out)
        return done_rows.view(np.bool_), out
    n = digits.shape[0]
    padded = np.concatenate([np.zeros((n, 3), np.int64), digits], axis=1)  # every row: t >= 3
    nonzero = padded != 0
    width = padded.shape[1]
    t = width - 1 - np.argmax(nonzero[:, ::-1], axis=1)  # the top non-zero digit
    rows = np.arange(n)
    a, b, c, d = (padded[rows, t - i] for i in range(4))
    below = np.logical_or.accumulate(nonzero, axis=1)
    sticky = np.where(t >= 4, below[rows, np.maximum(t - 4, 0)], False)
    positive = a > 0  # (a zero row has a = 0)
    a = np.where(positive, a, 1)
    k = np.frexp(a.astype(np.float64))[1].astype(np.int64) - 1  # bits of a, less one
    low = (b << BITS) + c
    q = (a << (52 - k)) + (low >> k)
    rem = ((low & ((np.int64(1) << k) - 1)) << BITS) + d
    half = np.int64(1) << (k + BITS - 1)
    q += (rem > half) | ((rem == half) & (sticky | ((q & 1) == 1)))
    exponent = k + BITS * (d0 + t - 5)  # q's unit: column t - 2 of the padded digits, >> k
    done = positive & (exponent > -1000) & (exponent < 960)
    return done, np.ldexp(q.astype(np.float64), np.where(done, exponent, 0))
