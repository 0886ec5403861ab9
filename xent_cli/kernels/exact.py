"""Exact, mergeable per-bucket sums of float64 values, rounded once at the end.

Every sum kept here is exact until :meth:`ExactSums.finish` or :meth:`ExactSums.total`
rounds it, once, to the nearest float64 (ties to even). The result is therefore
bit-identical for any row order, any split of the rows into batches, files or processes,
any thread count and any BLAS, and merging two partial states is plain integer addition.
No float sum of non-integers and no BLAS is involved anywhere.

Method
------
A finite double is ``M * 2**(x - 1075)``, with ``x`` its biased exponent field (a
subnormal counts as ``x = 1``) and ``M`` its signed integer mantissa, ``|M| < 2**53``. Both
are read from the bits; ``M`` is split exactly into ``H * 2**26 + L`` (``|H| <= 2**27``,
``|L| < 2**26``, same sign as ``M``). The bit-level arithmetic (splitting, bins, carries,
rounding) is in :mod:`xent_cli.kernels.digits`; this module keeps the state.

*Dense batches* (no more (bucket, exponent) bins than values, or than ``BINS_BUDGET``):
per bin, ``np.bincount`` (few bins) or ``np.add.at`` (many) sum the ``H * 2**26`` and the
``L`` in float64. These are sums of integers (multiples of ``2**26``, resp. integers below
``2**26``) that stay exactly representable as long as at most ``CHUNK <= 2**26`` values
reach the bins before they are folded into the digits, so they are exact. Small bins are
kept between calls (repeated small batches cost O(values) each) and folded when ``CHUNK``
values have reached them, and before ``finish``, ``total``, ``to_state`` and ``==``;
``merge`` adds them as bins or folds them into the new state only.

*Wide batches* (many buckets, few values: e.g. 128k classes and 4 rows): each value is
scattered straight into the digits with ``np.add.at`` (three 26-bit pieces), so a batch
costs O(values), never O(n_buckets * exponent span); no sort (``np.unique``) is needed.

*Long runs* (rows of one bucket together, shrunk first by
:func:`~xent_cli.kernels.extract.run_pieces`; or ``add`` of ``PRESUM_MIN`` or more finite
values into one bucket): each run is first summed exactly level by level on a fixed grid
(:func:`~xent_cli.kernels.extract.run_sums`), and only those few sums (and any value too
small for three levels) go the ways above.

The state is a per-bucket superaccumulator: int64 digits of radix ``2**26`` in a window
of digit positions ``[offset, offset + n_digits)`` (digit ``j`` weighs
``2**(26 * (offset + j))``) that grows at either end only when a value needs it, so
ordinary data costs a few digits per bucket, not the 85 of the whole float64 range.
Digits may temporarily hold any int64; an upper bound on their magnitude is kept and the
carries are propagated (vectorised) before it could overflow, and before ``finish``,
``total``, ``to_state`` and ``==``. After that every digit but the top one is in
``[0, 2**26)`` and the top one in ``[-2**26, 2**26)``.

``finish``/``total`` build the exact Python integer of a bucket and scale it by a power of
two with Python's correctly rounded ``int / int`` division (or ``float(int)``); a result
beyond float64 becomes +-inf.

Non-finite values are counted per bucket (+inf, -inf, NaN); only a batch whose largest
exponent field says "not finite" pays for it. A bucket with a NaN, or with both +inf and
-inf, finishes as NaN; else with +inf as +inf, with -inf as -inf. A bucket with no values,
or whose values sum exactly to zero, finishes as +0.0 (never -0.0).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from fractions import Fraction
from typing import cast

import numpy as np
from numpy.typing import NDArray

from xent_cli.kernels.digits import (
    BITS,
    WORK,
    Bins,
    Work,
    carry,
    rounded_positive,
    scaled,
    scatter_pieces,
    special,
    split_doubles,
)
from xent_cli.kernels.extract import EXPS, SQUARES, VALUES, derived, run_sums
from xent_cli.kernels.mergeable import require_mergeable

__all__ = [
    "BINS_BUDGET",
    "BLOCK",
    "CHUNK",
    "PRESUM_MIN",
    "ExactSums",
    "exact_sum",
    "grown_rows",
    "one_sum",
    "totals",
]

#: At most this many values reach a float64 bin before it is folded into the int64 digits.
#: Must stay <= 2**26: then every bin sum is an integer below 2**53 and exact.
CHUNK = 1 << 26
#: Values handled per vectorised step (keeps the temporaries in cache); any size is exact.
BLOCK = 1 << 16
#: Folding an exponent bin into digits costs about as much as binning this many values.
FOLD_COST = 16
#: Values added to one bucket at once from which on they are first summed level by level.
PRESUM_MIN = 1024
#: Values summed per run when they are first summed level by level.
PRESUM_RUN = 2048
#: Float64 bins kept between calls: at most this many (bucket, exponent) pairs (2 x 8 bytes each).
BINS_BUDGET = 1 << 16

_LOAD_LIMIT = 1 << 62  # normalise before the bound on |digit| could pass this
_STATE_KIND = "xent_cli.exact.ExactSums"


class ExactSums:
    """Exact sums of float64 values in ``n_buckets`` buckets (e.g. one per class).

    Integer superaccumulator per bucket (int64 digits of radix 2**26 in a growing window),
    fed through exact float64 integer bin sums; rounded once by ``finish``/``total``.
    """

    __slots__ = ("_bins", "_d0", "_digits", "_load", "_n", "_nonfinite", "_pending")

    def __init__(self, n_buckets: int) -> None:
        n = operator.index(n_buckets)
        if n < 0:
            raise ValueError(f"n_buckets must be >= 0, not {n}")
        self._n = n
        self._digits: NDArray[np.int64] = np.zeros((n, 0), np.int64)
        self._d0 = 0  # digit position of column 0
        self._load = 0  # upper bound on |digit|
        self._nonfinite: NDArray[np.int64] | None = None  # (n, 3): +inf, -inf, NaN counts
        self._bins: Bins | None = None  # float64 bin sums not yet folded into the digits
        self._pending = 0  # values in those bins (at most CHUNK)

    @property
    def n_buckets(self) -> int:
        return self._n

    # ----------------------------------------------------------------- adding values

    def add(
        self,
        buckets: NDArray[np.intp] | None,
        values: NDArray[np.float64],
        *,
        brief: bool = False,
    ) -> None:
        """Add values[i] to bucket buckets[i] (buckets None: all into bucket 0).

        Any length, incl. 0. Exact: exponent-binned float64 integer sums, folded into the
        int64 digits. ``brief``: these sums are read or moved right after (``add_sums``,
        ``finish``), so exponent bins, whose folding costs per bin, are used only when they
        are far fewer than the values; else the values' digit pieces are binned.
        """
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        b: NDArray[np.intp] | None = None
        if buckets is None:
            bmin = bmax = 0
        else:
            raw = np.asarray(buckets).reshape(-1)
            if raw.shape != v.shape:
                raise ValueError(f"{raw.size} buckets for {v.size} values")
            if v.size == 0:
                return
            if not np.issubdtype(raw.dtype, np.integer):
                raise TypeError(f"buckets must be integers, not {raw.dtype}")
            bmin, bmax = int(raw.min()), int(raw.max())
        if v.size == 0:
            return
        if buckets is None and v.size >= PRESUM_MIN:
            presummed = _presummed(v)
            v = v if presummed is None else presummed
        if bmin < 0 or bmax >= self._n:
            raise ValueError(f"bucket {bmin if bmin < 0 else bmax} outside 0..{self._n - 1}")
        if buckets is not None:
            b = raw.astype(np.intp, copy=False)
        allowed = max(BINS_BUDGET, v.size)  # bins may outnumber no more values than this
        exponent_bins = allowed // FOLD_COST if brief else allowed
        step = max(1, min(BLOCK, CHUNK, 1 << 26))
        work = WORK
        for start in range(0, v.size, step):
            part = None if b is None else b[start : start + step]
            split = split_doubles(part, v[start : start + step], work, self._count_nonfinite)
            if split is None:
                continue
            block_b, x, xlo, xhi, hi, lo = split
            bins = self._bins
            if bins is not None and (
                self._pending + x.size > CHUNK
                or self._n * (max(xhi, bins.xhi) - min(xlo, bins.xlo) + 1) > allowed
            ):
                self._fold()
                bins = None
            if bins is not None:
                bins = bins.widened(xlo, xhi)
            elif self._n * (xhi - xlo + 1) <= exponent_bins:
                bins = Bins(self._n, xlo, xhi)
            if bins is None and self._n * ((xhi - xlo) // BITS + 4) <= allowed:
                self._digit_bins(block_b, x, hi, lo, work)  # a few digits per bucket
            elif bins is None:  # wide: more (bucket, digit) bins than values
                self._scatter(block_b, x, hi, lo, work)
            else:
                bins.add(block_b, x, hi, lo, work)
                self._bins = bins
                self._pending += x.size
        if self._bins is not None and self._bins.size > BINS_BUDGET:
            self._fold()  # do not keep big bins between calls

    def add_squares(self, values: NDArray[np.float64]) -> None:
        """Add each ``v * v`` (as float64 rounds it) into bucket 0 (long arrays: summed as
        they are squared, a block at a time; no array of squares is made)."""
        self._add_derived(values, SQUARES)

    def add_exps(self, values: NDArray[np.float64]) -> None:
        """Add each ``exp(-v)`` (:func:`~xent_cli.kernels.exponential.exp`'s; ``v >= 0``:
        a probability from a loss) into bucket 0, the same way."""
        self._add_derived(values, EXPS)

    def _add_derived(self, values: NDArray[np.float64], derive: int) -> None:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        presummed = _presummed(v, derive) if v.size >= PRESUM_MIN else None
        if presummed is None:  # (short, or an inf or NaN: counted as such)
            presummed = derived(v, derive)
        self.add(None, presummed)

    def _fold(self) -> None:
        """Fold the pending float64 bin sums into the int64 digits."""
        if self._bins is not None:
            self._absorb(self._bins)
            self._bins, self._pending = None, 0

    def _absorb(self, bins: Bins) -> None:
        first, inc = bins.increments()
        self._add_digits(first, inc, 1 << 33)  # |increment| < 3 * 2**26 + 3 * 2**31

    def _count_nonfinite(self, b: NDArray[np.intp] | None, v: NDArray[np.float64]) -> None:
        if self._nonfinite is None:
            self._nonfinite = np.zeros((self._n, 3), np.int64)
        kind = np.where(np.isnan(v), 2, np.where(v > 0, 0, 1))  # columns +inf, -inf, NaN
        if b is not None:
            kind += 3 * b
        np.add.at(self._nonfinite.reshape(-1), kind, 1)

    def _digit_bins(
        self,
        b: NDArray[np.intp] | None,
        x: NDArray[np.int64],
        hi: NDArray[np.float64],
        lo: NDArray[np.float64],
        work: Work,
    ) -> None:
        """Sum each value's three 26-bit pieces per (bucket, digit) with ``np.bincount``:
        float64 sums of at most BLOCK integers below 2**27, exact; then int64 digits."""
        n = x.size
        digit, pieces = scatter_pieces(x, hi, lo, work)
        first = int(digit.min())
        width = int(digit.max()) - first + 3
        key = np.subtract(digit, first, out=work(9, n))
        if b is not None:
            key += np.multiply(b, width, out=work(6, n))
        size = self._n * width
        total = np.bincount(key, pieces[0], minlength=size)
        for k in (1, 2):
            key += 1
            total += np.bincount(key, pieces[k], minlength=size)
        self._add_digits(first, total.astype(np.int64).reshape(self._n, width), n << 27)

    def _scatter(
        self,
        b: NDArray[np.intp] | None,
        x: NDArray[np.int64],
        hi: NDArray[np.float64],
        lo: NDArray[np.float64],
        work: Work,
    ) -> None:
        """Add each value straight into its bucket's digits (three 26-bit pieces)."""
        n = x.size
        digit, pieces = scatter_pieces(x, hi, lo, work)
        self._reserve(x.size << 27)
        lo_pos, hi_pos = int(digit.min()), int(digit.max()) + 3
        tight = self._digits.shape[1] == 0 or lo_pos < self._d0 or hi_pos > self._end
        if tight:  # grow the window only as far as the non-zero pieces need
            nonzero = [q != 0 for q in pieces]
            pos = np.concatenate([digit[nz] + k for k, nz in enumerate(nonzero)])
            if pos.size == 0:
                return
            self._cover(int(pos.min()), int(pos.max()) + 1)
        index = np.subtract(digit, self._d0, out=work(9, n))
        if b is not None:
            index += np.multiply(b, self._digits.shape[1], out=work(6, n))
        flat = self._digits.reshape(-1)
        for k, q in enumerate(pieces):
            if tight:  # zero pieces may lie outside the window
                np.add.at(flat, index[nonzero[k]] + k, q[nonzero[k]])
            else:
                np.add.at(flat, index + k if k else index, q)

    # --------------------------------------------------------------- digit window

    @property
    def _end(self) -> int:
        return cast("int", self._d0 + self._digits.shape[1])

    def _cover(self, lo: int, hi: int) -> None:
        """Grow the digit window to include positions lo..hi-1."""
        n_digits = self._digits.shape[1]
        if n_digits and lo >= self._d0 and hi <= self._end:
            return
        if n_digits:
            lo, hi = min(lo, self._d0), max(hi, self._end)
        grown = np.zeros((self._n, hi - lo), np.int64)
        if n_digits:
            at = self._d0 - lo
            grown[:, at : at + n_digits] = self._digits
        self._digits, self._d0 = grown, lo

    def _reserve(self, bound: int) -> None:
        """Make room for adding at most ``bound`` to any digit's magnitude."""
        if self._load + bound > _LOAD_LIMIT:
            self._normalise()
        self._load += bound

    def _settle(self) -> None:
        """Fold the pending bins and propagate all carries (the value is unchanged)."""
        self._fold()
        self._normalise()

    def _normalise(self) -> None:
        digits = carry(self._digits)
        self._digits = digits
        self._load = 1 << BITS if digits.size else 0

    def _add_digits(self, first: int, inc: NDArray[np.int64], bound: int) -> None:
        """Add ``inc`` (one row per bucket, digit positions first..) into the digits."""
        used = np.flatnonzero(inc.any(axis=0))
        if used.size == 0:
            return
        lo, hi = int(used[0]), int(used[-1]) + 1
        self._reserve(bound)
        self._cover(first + lo, first + hi)
        at = first + lo - self._d0
        self._digits[:, at : at + hi - lo] += inc[:, lo:hi]

    def _window(self, lo: int, hi: int) -> NDArray[np.int64]:
        """A copy of the digits laid out over positions lo..hi-1 (covering the window)."""
        out = np.zeros((self._n, hi - lo), np.int64)
        n_digits = self._digits.shape[1]
        if n_digits:
            at = self._d0 - lo
            out[:, at : at + n_digits] = self._digits
        return out

    # ----------------------------------------------------------------- combining

    def merge(self, other: ExactSums) -> ExactSums:
        """A new state holding both (self and other unchanged); associative and commutative.

        Digit-wise int64 addition over the union of the two windows.
        """
        require_mergeable(self, other)
        out = ExactSums(self._n)
        out._digits, out._d0, out._load = self._digits.copy(), self._d0, self._load
        if other._digits.shape[1]:
            out._add_digits(other._d0, other._digits, max(other._load, 1))
        # unfolded bin sums: copied or added as bins while they stay exact and small, else
        # folded into the new state's digits
        mine, theirs = self._bins, other._bins
        if mine is None or theirs is None:
            single = theirs if mine is None else mine
            if single is not None:
                out._bins = single.widened(single.xlo, single.xhi, copy=True)
                out._pending = self._pending + other._pending
        else:
            xlo, xhi = min(mine.xlo, theirs.xlo), max(mine.xhi, theirs.xhi)
            size = mine.rows * (xhi - xlo + 1)
            if self._pending + other._pending <= CHUNK and size <= max(
                BINS_BUDGET, mine.size, theirs.size
            ):
                out._bins = mine.widened(xlo, xhi, copy=True)
                out._bins.add_bins(theirs)
                out._pending = self._pending + other._pending
            else:
                out._absorb(mine)
                out._absorb(theirs)
        if self._nonfinite is not None or other._nonfinite is not None:
            out._nonfinite = np.zeros((self._n, 3), np.int64)
            for part in (self._nonfinite, other._nonfinite):
                if part is not None:
                    out._nonfinite += part
        return out

    def add_sums(self, other: ExactSums, buckets: NDArray[np.intp] | None = None) -> None:
        """Add ``other``'s bucket ``i`` into bucket ``buckets[i]`` (distinct buckets), or with
        ``buckets`` None every bucket of ``other`` into bucket 0: exact, integer digit
        additions in O(other's digits), whatever ``self``'s number of buckets."""
        if buckets is None:
            targets = np.zeros(other._n, np.intp)
        else:
            targets = np.asarray(buckets, np.intp).reshape(-1)
            if targets.size != other._n:
                raise ValueError(f"{targets.size} buckets for {other._n} sums")
        if other._n == 0:
            return
        if int(targets.min()) < 0 or int(targets.max()) >= self._n:
            raise ValueError(f"a bucket outside 0..{self._n - 1}")
        if other._nonfinite is not None:
            if self._nonfinite is None:
                self._nonfinite = np.zeros((self._n, 3), np.int64)
            np.add.at(self._nonfinite, targets, other._nonfinite)
        other._settle()  # every digit below 2**26 in magnitude
        digits, bound = other._digits, 1 << BITS
        if buckets is None and other._n > 1:  # a column sum of at most 2**36 digits: exact
            digits, bound = digits.sum(axis=0, keepdims=True), other._n << BITS
            targets = targets[:1]
        used = np.flatnonzero(digits.any(axis=0))
        if used.size == 0:
            return
        lo, hi = int(used[0]), int(used[-1]) + 1
        self._reserve(bound)
        self._cover(other._d0 + lo, other._d0 + hi)
        at = other._d0 + lo - self._d0
        self._digits[targets, at : at + hi - lo] += digits[:, lo:hi]

    def head(self, n_buckets: int) -> ExactSums:
        """A new state of the first ``n_buckets`` buckets' sums."""
        if not 0 <= n_buckets <= self._n:
            raise ValueError(f"cannot take {n_buckets} of {self._n} buckets")
        self._fold()
        out = ExactSums(n_buckets)
        out._digits, out._d0, out._load = self._digits[:n_buckets].copy(), self._d0, self._load
        if self._nonfinite is not None:
            out._nonfinite = self._nonfinite[:n_buckets].copy()
        return out

    def empty_like(self) -> ExactSums:
        """No values, as many buckets."""
        return ExactSums(self._n)

    def fingerprint(self) -> dict[str, object]:
        """What must agree to merge: the number of buckets."""
        return {"n_buckets": self._n}

    def resized(self, n_buckets: int) -> ExactSums:
        """A new state with ``n_buckets`` (no fewer) buckets: these sums, then empty ones."""
        if n_buckets < self._n:
            raise ValueError(f"cannot shrink {self._n} buckets to {n_buckets}")
        self._fold()
        out = ExactSums(n_buckets)
        out._digits, out._d0, out._load = grown_rows(self._digits, n_buckets), self._d0, self._load
        if self._nonfinite is not None:
            out._nonfinite = grown_rows(self._nonfinite, n_buckets)
        return out

    def split(self, size: int) -> list[ExactSums]:
        """The buckets in consecutive groups of ``size``, each group a state of its own
        (its buckets 0..size-1); the sums are unchanged, so finishing either gives the same."""
        if size <= 0 or self._n % size:
            raise ValueError(f"cannot split {self._n} buckets into groups of {size}")
        self._fold()
        digits = self._digits.copy()
        nonfinite = self._nonfinite
        parts = []
        for start in range(0, self._n, size):
            part = ExactSums(size)
            part._digits, part._d0, part._load = digits[start : start + size], self._d0, self._load
            if nonfinite is not None and nonfinite[start : start + size].any():
                part._nonfinite = nonfinite[start : start + size].copy()
            parts.append(part)
        return parts

    def _nonfinite_counts(self) -> NDArray[np.int64]:
        if self._nonfinite is None:
            return np.zeros((self._n, 3), np.int64)
        return self._nonfinite

    def __eq__(self, other: object) -> bool:
        """Equal exact values and non-finite counts, whatever the digit windows."""
        if not isinstance(other, ExactSums):
            return NotImplemented
        if self._n != other._n:
            return False
        if not np.array_equal(self._nonfinite_counts(), other._nonfinite_counts()):
            return False
        self._fold()  # the same values either way
        other._fold()
        windows = [(s._d0, s._end) for s in (self, other) if s._digits.shape[1]]
        if not windows:
            return True
        lo, hi = min(w[0] for w in windows), max(w[1] for w in windows)
        mine, theirs = carry(self._window(lo, hi)), carry(other._window(lo, hi))
        # from the same bottom digit, the canonical width is a function of the value alone
        return mine.shape == theirs.shape and bool(np.array_equal(mine, theirs))

    __hash__ = None  # type: ignore[assignment]

    # ----------------------------------------------------------------- results

    def _bucket_ints(
        self, rows: NDArray[np.intp] | None = None
    ) -> tuple[NDArray[np.intp], list[int]]:
        """Buckets with a non-zero exact value (of ``rows``, if given), and those values in
        units of 2**(26*d0)."""
        self._settle()
        digits = self._digits
        if digits.shape[1] % 2:
            digits = np.pad(digits, ((0, 0), (0, 1)))
        if rows is None:
            rows = np.flatnonzero(digits.any(axis=1))
        # pairs of normalised digits as 52-bit limbs (the top one signed): half the Python work
        limbs = digits[rows, 0::2] + digits[rows, 1::2] * (1 << BITS)
        values: list[int] = [0] * rows.size
        for column in limbs.T[::-1]:  # most significant first; flat lists, no list per row
            pairs = zip(values, column.tolist(), strict=True)
            values = [(value << 2 * BITS) + limb for value, limb in pairs]
        return rows, values

    def finish(self, count: int | None = None) -> NDArray[np.float64]:
        """Per bucket (the first ``count`` only, if given), the exact sum correctly rounded to
        float64 (round-half-even), once.

        Rows of digits rounded by :func:`~xent_cli.kernels.digits.rounded_positive`; the
        others (negative sums, or beyond normal floats) by their exact integer, scaled with
        Python's correctly rounded int division. Empty or exactly-zero buckets give +0.0;
        beyond float64 gives +-inf.
        """
        n = self._n if count is None else min(max(count, 0), self._n)
        out = np.zeros(n)
        self._settle()
        rest = []  # negative sums, or beyond normal floats: by Python's integers
        for start in range(0, n, BLOCK):
            digits = self._digits[start : min(start + BLOCK, n)]
            if not digits.size:
                continue
            done, values = rounded_positive(digits, self._d0)
            out[start : start + len(digits)] = np.where(done, values, 0.0)
            left = np.flatnonzero(~done)
            if left.size:
                rest.append(start + left[digits[left].any(axis=1)])  # (zero rows: +0.0)
        if rest and sum(part.size for part in rest):
            rows, ints = self._bucket_ints(np.concatenate(rest))
            out[rows] = scaled(ints, BITS * self._d0)
        if self._nonfinite is not None:
            for row in np.flatnonzero(self._nonfinite[:n].any(axis=1)).tolist():
                forced = special(*self._nonfinite[row].tolist())
                if forced is not None:
                    out[row] = forced
        return out

    def total(self) -> float:
        """The exact sum over all buckets, correctly rounded once (NOT the float sum of finish()).

        Column sums of the digits (exact in int64), then one rounding: see :func:`totals`.
        """
        return totals([self])[0]

    def exact_total(self) -> Fraction | None:
        """The exact sum over all buckets as a Fraction (None if a value was not finite):
        for statistics such as a variance, computed exactly from exact sums."""
        if self._nonfinite is not None and int(self._nonfinite.sum()):
            return None
        self._settle()
        value = 0
        for column in self._digits.sum(axis=0)[::-1].tolist():
            value = (value << BITS) + column
        return Fraction(value) * Fraction(2) ** (BITS * self._d0)

    # ----------------------------------------------------------------- serialising

    def to_state(self) -> dict[str, object]:
        """JSON-serialisable (ints, lists of ints, strings only; no floats needed) exact state.

        Normalised digits (radix 2**26, all below 2**53 in magnitude) of the used window, in
        their one shortest form: the same values write the same state, whatever the history.
        """
        self._settle()
        digits = self._digits
        used = np.flatnonzero(digits.any(axis=0)) if digits.size else np.zeros(0, np.intp)
        lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 0)
        digits = _shortest(digits[:, lo:hi])
        hi = lo + digits.shape[1]
        nonfinite = self._nonfinite_counts()
        rows = np.flatnonzero(nonfinite.any(axis=1))
        return {
            "kind": _STATE_KIND,
            "version": 1,
            "n_buckets": self._n,
            "radix_bits": BITS,
            "digit_offset": self._d0 + lo if used.size else 0,
            "n_digits": hi - lo,
            "digits": digits.reshape(-1).tolist(),
            "nonfinite": [[int(r), *nonfinite[r].tolist()] for r in rows],
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> ExactSums:
        """The state written by :meth:`to_state` (ValueError if it is not one)."""

        def integer(name: str, minimum: int | None = None) -> int:
            value = state.get(name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"exact state: {name!r} must be an integer")
            if minimum is not None and value < minimum:
                raise ValueError(f"exact state: {name!r} must be >= {minimum}")
            return value

        def int_list(value: object, what: str) -> list[int]:
            if not isinstance(value, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) and abs(i) < 1 << 53 for i in value
            ):
                raise ValueError(f"exact state: {what} must be a list of integers below 2**53")
            return value

        if not isinstance(state, dict) or state.get("kind") != _STATE_KIND:
            raise ValueError(f"not an exact-sums state (kind must be {_STATE_KIND!r})")
        if state.get("version") != 1 or state.get("radix_bits") != BITS:
            raise ValueError("exact state: unsupported version or radix")
        n = integer("n_buckets", 0)
        n_digits = integer("n_digits", 0)
        d0 = integer("digit_offset")
        if abs(d0) > 1000:
            raise ValueError("exact state: 'digit_offset' out of range")
        digits = int_list(state.get("digits"), "'digits'")
        if len(digits) != n * n_digits:
            raise ValueError("exact state: 'digits' must hold n_buckets * n_digits integers")
        out = cls(n)
        if n_digits:
            out._digits = np.array(digits, np.int64).reshape(n, n_digits)
            out._d0 = d0
            out._load = int(np.abs(out._digits).max()) if out._digits.size else 0
        rows = state.get("nonfinite", [])
        if not isinstance(rows, list):
            raise ValueError("exact state: 'nonfinite' must be a list")
        for row in rows:
            entry = int_list(row, "each 'nonfinite' entry")
            if len(entry) != 4 or not 0 <= entry[0] < n or min(entry[1:]) < 0:
                raise ValueError("exact state: a 'nonfinite' entry is [bucket, +inf, -inf, nan]")
            if out._nonfinite is None:
                out._nonfinite = np.zeros((n, 3), np.int64)
            out._nonfinite[entry[0]] += entry[1:]
        return out


def _presummed(v: NDArray[np.float64], derive: int = VALUES) -> NDArray[np.float64] | None:
    """A few values with the exact sum of the (derived) values: each run of ``PRESUM_RUN``
    values' sums level by level, then the values left over
    (:func:`~xent_cli.kernels.extract.run_sums`; runs that short get a grid fine enough that
    most values need one level less than one grid for all); None if one is not finite."""
    found = run_sums(v, np.arange(0, v.size, PRESUM_RUN), derive)
    if found is None:
        return None
    levels, _, rest = found
    return np.concatenate([*levels, rest])


def one_sum(values: NDArray[np.float64]) -> ExactSums:
    """The exact sum of ``values``, in one bucket."""
    total = ExactSums(1)
    total.add(None, values)
    return total


def grown_rows(rows: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """``rows`` followed by zero rows, ``n`` in all (``np.pad`` is several times slower)."""
    out = np.zeros((n, *rows.shape[1:]), rows.dtype)
    out[: len(rows)] = rows
    return out


def _shortest(digits: NDArray[np.int64]) -> NDArray[np.int64]:
    """Normalised digits without a redundant top column: a top digit of 0 or -1 (for every
    bucket) is folded into the one below, which stays in [-2**26, 2**26) (a negative sum
    may otherwise end in ..., 2**26 - 1, -1 or in ..., -1, depending on the carries)."""
    while digits.shape[1] > 1 and ((digits[:, -1] == 0) | (digits[:, -1] == -1)).all():
        folded = digits[:, :-1].copy()
        folded[:, -1] += digits[:, -1] << BITS
        digits = folded
    return digits


def totals(many: Sequence[ExactSums]) -> list[float]:
    """Each state's :meth:`~ExactSums.total`, computed together: each state's digit column
    sums (exact in int64: the digits are normalised first if their bound could overflow)
    side by side as one bucket of one state, finished in one pass (for thousands of small
    states, e.g. one per slice, one pass instead of Python work per state)."""
    columns: list[NDArray[np.int64]] = []
    for sums in many:
        sums._fold()
        if sums._load >= _LOAD_LIMIT // max(sums._n, 1):  # keep the column sums exact
            sums._normalise()
        columns.append(sums._digits.sum(axis=0))
    together = ExactSums(len(many))
    present = [i for i, column in enumerate(columns) if column.size]
    if present:
        lo = min(many[i]._d0 for i in present)
        hi = max(many[i]._end for i in present)
        digits = np.zeros((len(many), hi - lo), np.int64)
        for i in present:
            at = many[i]._d0 - lo
            digits[i, at : at + columns[i].size] = columns[i]
        together._digits, together._d0 = digits, lo
        together._load = max(int(np.abs(digits).max()), 1)
    result = together.finish()
    for i, sums in enumerate(many):
        if sums._nonfinite is not None:
            forced = special(*sums._nonfinite.sum(axis=0).tolist())
            if forced is not None:
                result[i] = forced
    return [float(x) for x in result.tolist()]


def exact_sum(values: NDArray[np.float64]) -> float:
    """Correctly rounded sum of all values (== math.fsum for finite input that does not overflow).

    One-bucket :class:`ExactSums`; inf/NaN follow its rules, an exactly-zero sum is +0.0.
    """
    sums = ExactSums(1)
    sums.add(None, np.asarray(values, dtype=np.float64))
    return sums.total()
