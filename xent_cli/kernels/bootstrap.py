"""A mergeable, exact Poisson bootstrap of a (weighted) mean of paired differences.

Replicate ``r`` (``0 <= r < R``) gives row ``i`` the weight ``P_ir ~ Poisson(1)``, a pure
function of ``(seed, key_i, r)``, and keeps, exactly,

    A_r = sum_i P_ir * w_i * d_i        B_r = sum_i P_ir * w_i

(``d_i`` the row's loss difference, ``w_i`` its sample weight, 1 if none). The replicate
mean is ``A_r / B_r``: each sum rounded once to float64, then one division. Because the
``P_ir`` depend on the row's key and not on where the row sits, and the sums are exact, the
state (and every replicate mean, to the bit) is the same for any batching, any split of the
rows into files or processes, any merge order and any row order.

The hash (version ``splitmix64-v1``)
-----------------------------------
All arithmetic is on unsigned 64-bit words, wrapping (mod 2**64); ``G = 0x9E3779B97F4A7C15``
and ``mix64`` is the splitmix64 finalizer::

    mix64(z): z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
              z = (z ^ (z >> 27)) * 0x94D049BB133111EB
              return z ^ (z >> 31)

    S    = mix64(seed + G)                      seed taken mod 2**64
    K_i  = mix64(mix64(key_i + G) ^ S)          one word per row
    Q_r  = mix64(S + (r + 1) * G)               one word per replicate (splitmix64's stream)
    h_ir = mix64(K_i ^ Q_r)
    u_ir = h_ir >> 11                           its top 53 bits, uniform on [0, 2**53)
    P_ir = #{k : u_ir >= T_k}                   k = 0 .. 17

with ``T_k = floor(2**53 * F(k))`` and ``F`` the Poisson(1) distribution function
``exp(-1) * sum_{j<=k} 1/j!`` (:data:`POISSON_THRESHOLDS`, computed exactly at import with
rational arithmetic). So ``P_ir = k`` with probability ``(T_k - T_{k-1}) / 2**53``
(``T_{-1} = 0``), within ``2**-53`` of ``exp(-1)/k!``; the table stops at the first ``k``
whose tail ``1 - F(k)`` is below ``2**-53`` (``k = 17``, ``T_17 = 2**53 - 1``), so
``P_ir <= 18``, and 18 takes that tail (only ``u = 2**53 - 1``).

Vectorised: ``K_i`` and ``Q_r`` are computed once per row and per replicate; as the first
xorshift is linear over XOR, ``(K_i ^ Q_r) ^ ((K_i ^ Q_r) >> 30)`` is the XOR of the two
precomputed ``K ^ (K >> 30)``. The last xorshift does not touch the top 31 bits, so a
65536-entry table indexed by the top 16 bits gives ``P_ir`` directly, except in the 8
table cells that a threshold cuts (probability 8 / 65536), which are finished exactly.

Exact sums
----------
Per row, ``v_i = w_i * d_i`` is one float64 product. A finite double is ``M * 2**(x - 1075)``
(``x`` its exponent field, 1 for subnormals and zero; ``|M| < 2**53`` its signed integer
mantissa). Rows are grouped in *bands* of 32 exponent fields, ``g = (x - 1) // 32``,
``s = (x - 1) % 32``, so that ``v = (M * 2**s) * 2**(32 g - 1074)`` and ``M * 2**s`` is
split exactly into ``c_hi * 2**42 + c_lo`` with ``0 <= c_lo < 2**42`` and ``|c_hi| <= 2**42``.
Within a band, ``sum_i P_ir * c_i`` is an int64 product of the ``(replicates x rows)``
count matrix and the ``(rows x 2)`` column matrix (``np.einsum`` on int64: integer
arithmetic, no BLAS, exact). The sample weights get the same treatment (a second pair of
columns; rows are then grouped by the pair (band of ``v_i``, band of ``w_i``)), or, without
weights, ``B_r`` is the integer row sum of the counts. Rows are sorted by group within a
chunk, so each group is a contiguous run and costs one ``einsum`` per tile.

The int64 band sums are accumulated over at most :data:`FOLD_ROWS` ``= 2**16`` rows, so
``|sum| <= 2**16 * 18 * 2**42 < 2**63`` never overflows; then they are split into 26-bit
halves (exact float64 integers), scaled by their power of two (exact) and folded into one
:class:`~xent_cli.kernels.exact.ExactSums` of ``R`` buckets per statistic. That stays exact as long
as no partial sum leaves the float64 range: ``|w_i * d_i|`` and ``w_i`` must be below
``2**960`` (ValueError otherwise), far beyond any loss.

Work is done in tiles of at most :data:`TILE` ``= 2**17`` (replicate, row) cells,
:data:`ROW_BLOCK` rows by ``TILE // ROW_BLOCK`` replicates (1 MiB per temporary,
cache-resident, reused by every call); a chunk holds at most 65536 rows, and the pending
band sums are one ``(R x 2)`` int64 array per band present. On one core of a 2-core
AMD EPYC: about 5.5 ns per (row x replicate) for R = 999 and 6 ns for R = 9999.

Interval
--------
:meth:`PoissonBootstrap.interval` is the percentile interval of the ``R'`` replicate means
(replicates with ``B_r == 0`` dropped): with ``alpha = (1 - level) / 2`` and
``k = floor(alpha * (R' + 1))``, computed exactly (``level`` read as the decimal its
shortest repr spells, so 0.95 is 19/20), the interval is (k-th smallest, k-th largest).
R = 999, level 0.95: the 25th smallest and the 25th largest of 999. If ``k < 1`` (too few
replicates for the level) it is ``(-inf, inf)``; with no replicate means at all,
``(nan, nan)``.
"""

from __future__ import annotations

import math
import operator
import threading
from fractions import Fraction
from typing import cast

import numpy as np
from numpy.typing import NDArray

from xent_cli.kernels.exact import ExactSums
from xent_cli.kernels.mergeable import require_mergeable

__all__ = [
    "FOLD_ROWS",
    "HASH_VERSION",
    "MAX_COUNT",
    "POISSON_THRESHOLDS",
    "TILE",
    "PoissonBootstrap",
    "mix64",
]

HASH_VERSION = "splitmix64-v1"
#: Rows accumulated in int64 band sums before they are folded into the exact sums.
FOLD_ROWS = 1 << 16
#: (replicate, row) cells per tile of the count matrix.
TILE = 1 << 17
#: Rows per tile (the tile's replicates: TILE // ROW_BLOCK).
ROW_BLOCK = 1 << 12
#: Values (|w * d| and w) must stay below this for the band sums to fold exactly.
VALUE_LIMIT = 2.0**960

_STATE_KIND = "xent_cli.bootstrap.PoissonBootstrap"
_U64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB
_LIMB = 42  # bits of c_lo
_BAND = 32  # exponent fields per band
_BOUNDARY = 64  # table entry of a cell cut by a threshold


def mix64(z: int) -> int:
    """The splitmix64 finalizer of one 64-bit word (Python ints, mod 2**64)."""
    z &= _U64
    z = ((z ^ (z >> 30)) * _MUL1) & _U64
    z = ((z ^ (z >> 27)) * _MUL2) & _U64
    return z ^ (z >> 31)


def _mix64_array(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """mix64 of every word (a new array), wrapping uint64 arithmetic."""
    z = z ^ (z >> np.uint64(30))
    z *= np.uint64(_MUL1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_MUL2)
    z ^= z >> np.uint64(31)
    return z


def _poisson_thresholds() -> tuple[int, ...]:
    """T_k = floor(2**53 * F(k)), F the Poisson(1) cdf, exactly (rational bounds on exp(-1))."""
    # exp(-1) = sum (-1)^j / j!: alternating, the partial sums bracket it
    terms = 40
    lo = hi = Fraction(0)
    factorial = 1
    for j in range(terms + 1):
        if j:
            factorial *= j
        lo, hi = hi, hi + Fraction((-1) ** j, factorial)
    e_lo, e_hi = min(lo, hi), max(lo, hi)
    thresholds: list[int] = []
    partial = Fraction(0)
    factorial = 1
    for k in range(64):
        if k:
            factorial *= k
        partial += Fraction(1, factorial)
        t_lo, t_hi = math.floor(e_lo * partial * 2**53), math.floor(e_hi * partial * 2**53)
        if t_lo != t_hi:  # pragma: no cover - the bracket is ~1e-48 wide
            raise ArithmeticError("Poisson threshold not determined")
        thresholds.append(t_lo)
        if (1 - e_lo * partial) * 2**53 < 1:  # tail surely below 2**-53: stop
            break
    return tuple(thresholds)


#: T_0 .. T_17: P_ir = number of thresholds <= the hash's top 53 bits.
POISSON_THRESHOLDS = _poisson_thresholds()
#: The largest possible P_ir.
MAX_COUNT = len(POISSON_THRESHOLDS)
_THRESHOLDS = np.array(POISSON_THRESHOLDS, dtype=np.uint64)


def _top16_table() -> NDArray[np.int8]:
    """P for each value of the top 16 bits of h, or _BOUNDARY where a threshold cuts the cell."""
    lows = np.arange(1 << 16, dtype=np.uint64) << np.uint64(37)  # u at the cell's start
    table = np.searchsorted(_THRESHOLDS, lows, side="right").astype(np.int8)
    cut = [t >> 37 for t in POISSON_THRESHOLDS if t & ((1 << 37) - 1)]
    table[cut] = _BOUNDARY
    return cast("NDArray[np.int8]", table)


_TABLE = _top16_table()


class _Scratch(threading.local):
    """Tile buffers, one set per thread, reused by every call: fresh ones would cost a page
    fault per 4 KiB touched (they are larger than malloc's mmap threshold)."""

    def __init__(self) -> None:
        self.size = 0
        self.buffers: tuple[
            NDArray[np.uint64], NDArray[np.intp], NDArray[np.int8], NDArray[np.int64]
        ] = (
            np.empty(0, np.uint64),
            np.empty(0, np.intp),
            np.empty(0, np.int8),
            np.empty(0, np.int64),
        )

    def __call__(
        self, size: int
    ) -> tuple[NDArray[np.uint64], NDArray[np.intp], NDArray[np.int8], NDArray[np.int64]]:
        if size > self.size:
            self.size = size
            self.buffers = (
                np.empty(size, np.uint64),
                np.empty(size, np.intp),
                np.empty(size, np.int8),
                np.empty(size, np.int64),
            )
        return self.buffers


_SCRATCH = _Scratch()


def _as_keys(keys: NDArray[np.uint64] | NDArray[np.integer]) -> NDArray[np.uint64]:
    k = np.asarray(keys).reshape(-1)
    if k.dtype == np.uint64:
        return k
    if not np.issubdtype(k.dtype, np.integer):
        raise TypeError(f"keys must be integers, not {k.dtype}")
    if np.issubdtype(k.dtype, np.signedinteger):  # two's complement words
        return k.astype(np.int64).view(np.uint64)
    return k.astype(np.uint64)


def _key_words(keys: NDArray[np.uint64], seed_word: int) -> NDArray[np.uint64]:
    """K ^ (K >> 30) per row, K = mix64(mix64(key + G) ^ S)."""
    k = _mix64_array(keys + np.uint64(_GOLDEN))
    k ^= np.uint64(seed_word)
    k = _mix64_array(k)
    k ^= k >> np.uint64(30)
    return k


def _columns(
    v: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """(band, c_hi, c_lo) per value: v = (c_hi * 2**42 + c_lo) * 2**(32 band - 1074).

    Zeros get band -1 (and zero columns).
    """
    bits = v.view(np.int64)
    x = (bits >> 52) & 0x7FF
    fraction = bits & ((1 << 52) - 1)
    mantissa = np.where(x > 0, fraction | (1 << 52), fraction)
    mantissa = np.where(bits < 0, -mantissa, mantissa)
    x = np.maximum(x, 1)
    band = (x - 1) // _BAND
    s = (x - 1) - _BAND * band
    keep = _LIMB - s  # 11..42: M * 2**s = (M >> keep) * 2**42 + (M mod 2**keep) * 2**s
    c_hi = mantissa >> keep
    c_lo = (mantissa & ((np.int64(1) << keep) - 1)) << s
    band[mantissa == 0] = -1
    return band, c_hi, c_lo


class PoissonBootstrap:
    """Replicate r gives row i the weight P_ir ~ Poisson(1), a pure function of (seed, key_i, r).

    Keeps ``A_r = sum_i P_ir w_i d_i`` and ``B_r = sum_i P_ir w_i`` exactly (see the module
    docstring for the hash, the exact arithmetic and the interval rule).
    """

    __slots__ = (
        "_a",
        "_acc_a",
        "_acc_b",
        "_b",
        "_count",
        "_pending",
        "_q",
        "_resamples",
        "_rows",
        "_seed",
        "_seed_word",
    )

    def __init__(self, resamples: int, seed: int) -> None:
        r = operator.index(resamples)
        if r < 1:
            raise ValueError(f"resamples must be >= 1, not {r}")
        self._resamples = r
        self._seed = operator.index(seed) & _U64
        self._seed_word = mix64(self._seed + _GOLDEN)
        stream = (np.arange(1, r + 1, dtype=np.uint64) * np.uint64(_GOLDEN)) + np.uint64(
            self._seed_word
        )
        q = _mix64_array(stream)
        q ^= q >> np.uint64(30)
        self._q = q  # Q_r ^ (Q_r >> 30)
        self._a = ExactSums(r)
        self._b = ExactSums(r)
        self._rows = 0
        # int64 band sums not yet folded: band -> (R, 2) [c_hi, c_lo]; counts: (R,)
        self._acc_a: dict[int, NDArray[np.int64]] = {}
        self._acc_b: dict[int, NDArray[np.int64]] = {}
        self._count: NDArray[np.int64] | None = None
        self._pending = 0  # rows in those sums (at most FOLD_ROWS)

    @property
    def resamples(self) -> int:
        return self._resamples

    @property
    def seed(self) -> int:
        """The seed, mod 2**64."""
        return self._seed

    @property
    def rows(self) -> int:
        """Rows added so far (rows of weight 0 included)."""
        return self._rows

    # ----------------------------------------------------------------- counts

    def counts(
        self, keys: NDArray[np.uint64], replicates: NDArray[np.integer] | None = None
    ) -> NDArray[np.int8]:
        """P_ir for these rows (columns) and replicates (rows; None: all R), as int8."""
        k = _key_words(_as_keys(keys), self._seed_word)
        q = self._q if replicates is None else self._q[np.asarray(replicates, dtype=np.intp)]
        out = np.empty((q.size, k.size), np.int8)
        z = np.empty(out.shape, np.uint64)
        idx = np.empty(out.shape, np.intp)
        self._counts_into(q, k, z, idx, out)
        return out

    @staticmethod
    def _counts_into(
        q: NDArray[np.uint64],
        k: NDArray[np.uint64],
        z: NDArray[np.uint64],
        idx: NDArray[np.intp],
        out: NDArray[np.int8],
    ) -> None:
        """out[r, i] = P for (q[r], k[i]); z and idx are scratch of the same shape."""
        np.bitwise_xor(q[:, None], k[None, :], out=z)
        np.multiply(z, np.uint64(_MUL1), out=z)
        np.right_shift(z, np.uint64(27), out=idx.view(np.uint64))
        np.bitwise_xor(z, idx.view(np.uint64), out=z)
        np.multiply(z, np.uint64(_MUL2), out=z)  # mix64 but the last xorshift
        np.right_shift(z, np.uint64(48), out=idx.view(np.uint64))  # = the top 16 bits of h
        np.take(_TABLE, idx, out=out)
        flat = out.reshape(-1)
        cut = np.flatnonzero(flat == _BOUNDARY)
        if cut.size:
            zc = z.reshape(-1)[cut]
            u = (zc ^ (zc >> np.uint64(31))) >> np.uint64(11)
            flat[cut] = np.searchsorted(_THRESHOLDS, u, side="right")

    # ----------------------------------------------------------------- adding rows

    def add(
        self,
        keys: NDArray[np.uint64],
        values: NDArray[np.float64],
        weights: NDArray[np.float64] | None,
    ) -> None:
        """values: per-row loss differences d_i (float64, finite); weights: per-row sample
        weights w_i (finite, >= 0; None = 1). Accumulates, per replicate r,
        A_r = sum_i P_ir * w_i * d_i and B_r = sum_i P_ir * w_i EXACTLY.
        """
        k = _as_keys(keys)
        d = np.asarray(values, dtype=np.float64).reshape(-1)
        if k.shape != d.shape:
            raise ValueError(f"{k.size} keys for {d.size} values")
        w: NDArray[np.float64] | None = None
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64).reshape(-1)
            if w.shape != d.shape:
                raise ValueError(f"{w.size} weights for {d.size} values")
        if d.size == 0:
            return
        if not np.isfinite(d).all():
            raise ValueError("values must be finite")
        if w is None:
            v = d
        else:
            if not np.isfinite(w).all() or (w < 0).any():
                raise ValueError("weights must be finite and >= 0")
            if not (w < VALUE_LIMIT).all():
                raise ValueError("weights must be below 2**960")
            v = w * d
        if not (np.abs(v) < VALUE_LIMIT).all():
            raise ValueError("|weight * value| must be below 2**960")
        self._rows += d.size
        if w is not None:
            used = w != 0  # rows of weight 0 add nothing
            if not used.all():
                k, v, w = k[used], v[used], w[used]
        for start in range(0, k.size, FOLD_ROWS):
            stop = start + FOLD_ROWS
            self._add_chunk(k[start:stop], v[start:stop], None if w is None else w[start:stop])

    def _add_chunk(
        self, keys: NDArray[np.uint64], v: NDArray[np.float64], w: NDArray[np.float64] | None
    ) -> None:
        """At most FOLD_ROWS rows: counts x band columns into the int64 band sums."""
        n = keys.size
        if n == 0:
            return
        if self._pending + n > FOLD_ROWS:
            self._fold()
        self._pending += n
        band_v, hi_v, lo_v = _columns(v)
        if w is None:
            group = band_v
            columns = np.stack([hi_v, lo_v])
        else:
            band_w, hi_w, lo_w = _columns(w)
            group = (band_v + 1) * 128 + band_w  # w > 0 here: band_w >= 0
            columns = np.stack([hi_v, lo_v, hi_w, lo_w])
        order = np.argsort(group, kind="stable")
        group = group[order]
        columns = np.ascontiguousarray(columns[:, order])  # rows contiguous for einsum
        kw = _key_words(keys[order], self._seed_word)
        # contiguous runs of one group: (start, stop, band_v, band_w)
        edges = np.flatnonzero(group[1:] != group[:-1]) + 1
        starts = [0, *edges.tolist()]
        stops = [*edges.tolist(), n]
        labels = group[starts].tolist()
        runs = []
        for a, b, label in zip(starts, stops, labels, strict=True):
            bv, bw = (label, -1) if w is None else (label // 128 - 1, label % 128)
            if bv >= 0 or bw >= 0:
                runs.append((a, b, bv, bw))

        r_total = self._resamples
        nb = min(n, ROW_BLOCK)
        rb = max(1, min(r_total, TILE // nb))
        z, idx, p8, p64 = _SCRATCH(rb * nb)
        count = None
        if w is None:
            if self._count is None:
                self._count = np.zeros(r_total, np.int64)
            count = self._count
        acc_a, acc_b = self._acc_a, self._acc_b
        for a_row in range(0, n, nb):
            b_row = min(n, a_row + nb)
            m = b_row - a_row
            k_block = kw[a_row:b_row]
            block_runs = [
                (max(a, a_row) - a_row, min(b, b_row) - a_row, bv, bw)
                for a, b, bv, bw in runs
                if a < b_row and b > a_row
            ]
            for r0 in range(0, r_total, rb):
                r1 = min(r_total, r0 + rb)
                shape = (r1 - r0, m)
                size = shape[0] * m
                tile8 = p8[:size].reshape(shape)
                self._counts_into(
                    self._q[r0:r1],
                    k_block,
                    z[:size].reshape(shape),
                    idx[:size].reshape(shape),
                    tile8,
                )
                tile = p64[:size].reshape(shape)
                np.copyto(tile, tile8)
                if count is not None:
                    count[r0:r1] += tile.sum(axis=1)
                for a, b, bv, bw in block_runs:
                    sums = np.einsum(
                        "rn,kn->rk",
                        tile[:, a:b],
                        columns[:, a_row + a : a_row + b],
                        optimize=False,
                    )
                    if bv >= 0:
                        target = acc_a.get(bv)
                        if target is None:
                            target = acc_a[bv] = np.zeros((r_total, 2), np.int64)
                        target[r0:r1] += sums[:, :2]
                    if bw >= 0:
                        target = acc_b.get(bw)
                        if target is None:
                            target = acc_b[bw] = np.zeros((r_total, 2), np.int64)
                        target[r0:r1] += sums[:, 2:]

    def _fold(self) -> None:
        """Fold the int64 band sums into the exact sums (exactly: see the module docstring)."""
        if not self._pending:
            return
        r_total = self._resamples
        for acc, target, count in (
            (self._acc_a, self._a, None),
            (self._acc_b, self._b, self._count),
        ):
            pieces: list[NDArray[np.float64]] = []
            for band, sums in sorted(acc.items()):
                unit = _BAND * band - 1074  # c_lo weighs 2**unit, c_hi 2**(unit + 42)
                for column, exponent in ((0, unit + _LIMB), (1, unit)):
                    s = sums[:, column]
                    # |s| < 2**63: two halves, exact float64 integers, exact powers of two
                    pieces.append(np.ldexp((s >> 26).astype(np.float64), exponent + 26))
                    pieces.append(np.ldexp((s & ((1 << 26) - 1)).astype(np.float64), exponent))
            if count is not None:
                pieces.append(count.astype(np.float64))
            if pieces:
                values = np.concatenate(pieces)
                buckets = np.tile(np.arange(r_total, dtype=np.intp), len(pieces))
                target.add(buckets, values)
        self._acc_a, self._acc_b, self._count = {}, {}, None
        self._pending = 0

    # ----------------------------------------------------------------- combining

    def empty_like(self) -> PoissonBootstrap:
        """No rows, the same resamples and seed."""
        return PoissonBootstrap(self._resamples, self._seed)

    def fingerprint(self) -> dict[str, object]:
        """What must agree to merge: the resamples and the seed."""
        return {"resamples": self._resamples, "seed": self._seed}

    def merge(self, other: PoissonBootstrap) -> PoissonBootstrap:
        """A new state holding both (same resamples and seed, else ValueError)."""
        require_mergeable(self, other)
        self._fold()
        other._fold()
        out = PoissonBootstrap(self._resamples, self._seed)
        out._a = self._a.merge(other._a)
        out._b = self._b.merge(other._b)
        out._rows = self._rows + other._rows
        return out

    def __eq__(self, other: object) -> bool:
        """Same resamples, seed, row count and exact sums (whatever the batching)."""
        if not isinstance(other, PoissonBootstrap):
            return NotImplemented
        if (self._resamples, self._seed, self._rows) != (
            other._resamples,
            other._seed,
            other._rows,
        ):
            return False
        self._fold()
        other._fold()
        return self._a == other._a and self._b == other._b

    __hash__ = None  # type: ignore[assignment]

    # ----------------------------------------------------------------- results

    def numerators(self) -> NDArray[np.float64]:
        """A_r per replicate, the exact sum rounded once."""
        self._fold()
        return self._a.finish()

    def denominators(self) -> NDArray[np.float64]:
        """B_r per replicate, the exact sum rounded once."""
        self._fold()
        return self._b.finish()

    def replicate_means(self) -> NDArray[np.float64]:
        """A_r / B_r per replicate (each sum rounded once, then one division); replicates
        with B_r == 0 are dropped."""
        a, b = self.numerators(), self.denominators()
        keep = b != 0
        return cast("NDArray[np.float64]", a[keep] / b[keep])

    def interval(self, level: float) -> tuple[float, float]:
        """Percentile interval of the replicate means: (k-th smallest, k-th largest),
        k = floor((1 - level) / 2 * (R' + 1)) computed exactly, R' the replicates kept.

        ``level`` in (0, 1), read as the decimal its shortest repr spells. (-inf, inf) if
        k < 1; (nan, nan) if no replicate has B_r > 0.
        """
        lvl = float(level)
        if not 0.0 < lvl < 1.0:
            raise ValueError(f"level must be in (0, 1), not {level!r}")
        means = np.sort(self.replicate_means())
        kept = means.size
        if kept == 0:
            return (math.nan, math.nan)
        k = math.floor((1 - Fraction(repr(lvl))) / 2 * (kept + 1))
        if k < 1:
            return (-math.inf, math.inf)
        return (float(means[k - 1]), float(means[kept - k]))

    # ----------------------------------------------------------------- serialising

    def to_state(self) -> dict[str, object]:
        """JSON-serialisable exact state (ints and strings only)."""
        self._fold()
        return {
            "kind": _STATE_KIND,
            "version": 1,
            "hash": HASH_VERSION,
            "resamples": self._resamples,
            "seed": self._seed,
            "rows": self._rows,
            "numerator": self._a.to_state(),
            "denominator": self._b.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> PoissonBootstrap:
        """The state written by :meth:`to_state` (ValueError if it is not one)."""
        if not isinstance(state, dict) or state.get("kind") != _STATE_KIND:
            raise ValueError(f"not a bootstrap state (kind must be {_STATE_KIND!r})")
        if state.get("version") != 1 or state.get("hash") != HASH_VERSION:
            raise ValueError("bootstrap state: unsupported version or hash")
        values = {}
        for name in ("resamples", "seed", "rows"):
            value = state.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"bootstrap state: {name!r} must be an integer >= 0")
            values[name] = value
        if values["resamples"] < 1 or values["seed"] > _U64:
            raise ValueError("bootstrap state: 'resamples' must be >= 1, 'seed' below 2**64")
        out = cls(values["resamples"], values["seed"])
        out._rows = values["rows"]
        for name, attr in (("numerator", "_a"), ("denominator", "_b")):
            part = state.get(name)
            if not isinstance(part, dict):
                raise ValueError(f"bootstrap state: {name!r} must be an exact-sums state")
            sums = ExactSums.from_state(part)
            if sums.n_buckets != out._resamples:
                raise ValueError(f"bootstrap state: {name!r} must have 'resamples' buckets")
            setattr(out, attr, sums)
        return out

    def __repr__(self) -> str:
        return (
            f"PoissonBootstrap(resamples={self._resamples}, seed={self._seed}, rows={self._rows})"
        )
