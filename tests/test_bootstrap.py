"""The exact Poisson bootstrap (xent_cli.kernels.bootstrap).

Expectations are computed independently: the counts P_ir by a plain-Python implementation
of the documented hash with thresholds from mpmath, the sums with fractions.Fraction
(Fraction -> float is correctly rounded) or exact Python integers.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xent_cli.kernels.bootstrap as bootstrap
from xent_cli.kernels.bootstrap import POISSON_THRESHOLDS, PoissonBootstrap

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=60)
U64 = (1 << 64) - 1
G = 0x9E3779B97F4A7C15


# ------------------------------------------------------------------ independent reference


def ref_mix64(z: int) -> int:
    """splitmix64's finalizer, written out again."""
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 % (1 << 64)
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB % (1 << 64)
    return z ^ (z >> 31)


def ref_thresholds() -> list[int]:
    """floor(2**53 F(k)) for the Poisson(1) cdf F, until the tail is below 2**-53."""
    out = []
    with mpmath.workdps(80):
        cdf = mpmath.mpf(0)
        k = 0
        while True:
            cdf += mpmath.exp(-1) / mpmath.factorial(k)
            out.append(int(mpmath.floor(cdf * 2**53)))
            if (1 - cdf) * 2**53 < 1:
                return out
            k += 1


THRESHOLDS = ref_thresholds()


class RefHash:
    """P_ir for one seed, straight from the module docstring's definition."""

    def __init__(self, seed: int) -> None:
        self.s = ref_mix64((seed + G) % (1 << 64))

    def key_word(self, key: int) -> int:
        return ref_mix64(ref_mix64((key + G) % (1 << 64)) ^ self.s)

    def replicate_word(self, r: int) -> int:
        return ref_mix64((self.s + (r + 1) * G) % (1 << 64))

    def count(self, key_word: int, replicate_word: int) -> int:
        u = ref_mix64(key_word ^ replicate_word) >> 11
        return sum(u >= t for t in THRESHOLDS)

    def counts(self, keys: list[int], replicates: int) -> list[list[int]]:
        kws = [self.key_word(k) for k in keys]
        return [[self.count(kw, self.replicate_word(r)) for kw in kws] for r in range(replicates)]


def exact_sums(
    counts: list[list[int]], values: list[float], weights: list[float] | None
) -> tuple[list[float], list[float]]:
    """(A_r, B_r) per replicate, each exact sum rounded once; w_i * d_i is the documented
    one float64 product."""
    w = [1.0] * len(values) if weights is None else weights
    wd = [Fraction(float(np.float64(x) * np.float64(v))) for x, v in zip(w, values, strict=True)]
    wf = [Fraction(x) for x in w]
    a = [float(sum((p * v for p, v in zip(row, wd, strict=True)), Fraction(0))) for row in counts]
    b = [float(sum((p * x for p, x in zip(row, wf, strict=True)), Fraction(0))) for row in counts]
    return a, b


def same_bits(x: np.ndarray, y: np.ndarray) -> bool:
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


def filled(
    resamples: int,
    seed: int,
    keys: np.ndarray,
    values: np.ndarray,
    weights: np.ndarray | None,
) -> PoissonBootstrap:
    out = PoissonBootstrap(resamples, seed)
    out.add(keys, values, weights)
    return out


# ------------------------------------------------------------------ the counts


def test_thresholds_match_an_independent_computation() -> None:
    assert list(POISSON_THRESHOLDS) == THRESHOLDS
    assert bootstrap.MAX_COUNT == len(THRESHOLDS) == 18
    assert THRESHOLDS == sorted(THRESHOLDS)
    assert THRESHOLDS[-1] < 1 << 53


def test_counts_match_the_documented_hash() -> None:
    """100k (row, replicate) cells, incl. the rare cells that a threshold cuts."""
    seed = 20240607
    keys = [0, 1, 2, U64, 1 << 63, *range(12345, 12345 + 195)]
    pb = PoissonBootstrap(500, seed)
    got = pb.counts(np.array(keys, dtype=np.uint64))
    ref = RefHash(seed)
    want = ref.counts(keys, 500)
    assert got.dtype == np.int8
    assert got.tolist() == want
    # the exact finishing step for cut table cells was exercised
    cut = {t >> 37 for t in THRESHOLDS if t & ((1 << 37) - 1)}
    kws = [ref.key_word(k) for k in keys]
    tops = [ref_mix64(kw ^ ref.replicate_word(r)) >> 48 for r in range(500) for kw in kws]
    assert sum(top in cut for top in tops) >= 3
    # a subset of replicates, and signed keys as two's complement words
    sub = pb.counts(np.array([-1, 5], dtype=np.int64), replicates=np.array([7, 3]))
    assert sub.tolist() == [
        [
            ref.count(ref.key_word(U64), ref.replicate_word(r)),
            ref.count(ref.key_word(5), ref.replicate_word(r)),
        ]
        for r in (7, 3)
    ]


def test_counts_are_poisson_one() -> None:
    """1e6 draws: mean, variance and frequencies of 0..3 within 4 standard errors."""
    p = PoissonBootstrap(1000, 7).counts(np.arange(1000, dtype=np.uint64)).astype(np.int64)
    n = p.size
    assert n == 1_000_000
    assert abs(p.mean() - 1.0) <= 4 * math.sqrt(1.0 / n)
    # Var(sample variance) = (mu4 - sigma^4) / n, mu4 = lambda + 3 lambda^2 = 4 for Poisson(1)
    assert abs(p.var() - 1.0) <= 4 * math.sqrt(3.0 / n)
    for k in range(4):
        expected = math.exp(-1) / math.factorial(k)
        assert abs((p == k).mean() - expected) <= 4 * math.sqrt(expected * (1 - expected) / n)
    assert p.min() == 0
    assert p.max() <= bootstrap.MAX_COUNT
    # no visible dependence between replicates of a row, or rows of a replicate
    for matrix in (p, p.T):
        centred = matrix[:50] - 1.0
        corr = (centred @ centred.T) / matrix.shape[1]
        off = corr[~np.eye(50, dtype=bool)]
        assert np.abs(off).max() <= 6 / math.sqrt(matrix.shape[1])


def test_counts_depend_on_seed_key_and_replicate_only() -> None:
    keys = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.uint64)
    a = PoissonBootstrap(64, 1).counts(keys)
    assert np.array_equal(a[:, 1], a[:, 3])  # the same key: the same counts
    assert np.array_equal(PoissonBootstrap(64, 1).counts(keys[::-1]), a[:, ::-1])
    assert np.array_equal(PoissonBootstrap(128, 1).counts(keys)[:64], a)  # R does not matter
    assert not np.array_equal(PoissonBootstrap(64, 2).counts(keys), a)
    assert PoissonBootstrap(1, 1 + (1 << 64)).seed == 1  # the seed is taken mod 2**64
    assert np.array_equal(PoissonBootstrap(64, 1 + (1 << 64)).counts(keys), a)


# ------------------------------------------------------------------ exact sums

ADVERSARIAL = [
    1e250,
    -1e250,
    1.0,
    3.0,
    -(2.0**-30),
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    -2.225073858507201e-308,
    0.0,
    -0.0,
    1e-300,
    0.1,
    -0.1,
    1e16,
    1.0,
    -1e16,
    7.5,
    123456789.123,
    -3.3e-200,
    2.0**-1022,
    1e-5,
    0.3,
    -0.7,
    2.0**52 + 1,
    -(2.0**53),
] * 2


@pytest.mark.parametrize("weighted", [False, True])
def test_sums_are_exact(weighted: bool) -> None:
    rng = np.random.default_rng(5)
    values = [float(v) for v in rng.permutation(np.array(ADVERSARIAL))]
    n = len(values)
    weights = None
    if weighted:
        weights = [float(w) for w in rng.uniform(0, 4, n)]
        weights[0], weights[1], weights[2], weights[3] = 0.0, 1e-310, 1e200, 2.5
    keys = [int(k) for k in rng.integers(0, 1 << 63, n)]
    resamples = 40
    pb = filled(
        resamples,
        99,
        np.array(keys, dtype=np.uint64),
        np.array(values),
        None if weights is None else np.array(weights),
    )
    counts = RefHash(99).counts(keys, resamples)
    a, b = exact_sums(counts, values, weights)
    assert pb.numerators().tolist() == a
    assert pb.denominators().tolist() == b
    kept = [x / y for x, y in zip(a, b, strict=True) if y != 0]
    assert same_bits(pb.replicate_means(), np.array(kept))


def test_sums_exact_over_many_rows_and_bands() -> None:
    """More than FOLD_ROWS rows in one call (several folds, row blocks and tiles), values
    over many exponent bands: A_r from exact Python integers."""
    rng = np.random.default_rng(11)
    n = bootstrap.FOLD_ROWS + 4567
    mantissas = rng.integers(-(1 << 20), 1 << 20, n)
    exponents = rng.integers(-200, 150, n)
    values = np.ldexp(mantissas.astype(np.float64), exponents)
    keys = rng.integers(0, 1 << 62, n).astype(np.uint64)
    resamples = 3
    pb = filled(resamples, 4, keys, values, None)
    counts = pb.counts(keys).astype(np.int64)
    low = int(exponents.min())
    want_a = []
    for r in range(resamples):
        total = 0
        for e in np.unique(exponents).tolist():
            rows = exponents == e
            total += int(counts[r, rows] @ mantissas[rows]) << (e - low)
        want_a.append(float(Fraction(total) * Fraction(2) ** low))
    assert pb.numerators().tolist() == want_a
    assert pb.denominators().tolist() == counts.sum(axis=1).astype(np.float64).tolist()
    assert pb.rows == n


# ------------------------------------------------------------------ split invariance

finite = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.floats(-1e250, 1e250, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-310, 1.0, -1.0, 2.0**-40]),
)


@st.composite
def datasets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    n = draw(st.integers(0, 120))
    values = np.array(draw(st.lists(finite, min_size=n, max_size=n)), dtype=np.float64)
    keys = np.array(
        draw(st.lists(st.integers(0, U64), min_size=n, max_size=n, unique=True)),
        dtype=np.uint64,
    )
    weights = None
    if draw(st.booleans()):
        weights = np.array(
            draw(
                st.lists(
                    st.one_of(st.floats(0.0, 1e3), st.sampled_from([0.0, 1.0, 1e-300])),
                    min_size=n,
                    max_size=n,
                )
            ),
            dtype=np.float64,
        )
    return keys, values, weights


@SETTINGS
@given(datasets(), st.data())
def test_any_split_order_and_merge_order_give_the_same_state(
    dataset: tuple[np.ndarray, np.ndarray, np.ndarray | None], data: st.DataObject
) -> None:
    keys, values, weights = dataset
    n = keys.size
    resamples, seed = 23, data.draw(st.integers(0, U64))
    whole = filled(resamples, seed, keys, values, weights)
    order = np.array(data.draw(st.permutations(range(n))), dtype=np.intp)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=5)))
    parts = []
    for piece in np.split(order, cuts):
        part = PoissonBootstrap(resamples, seed)
        # each part in one or several add calls
        for batch in np.array_split(piece, data.draw(st.integers(1, 3))):
            part.add(keys[batch], values[batch], None if weights is None else weights[batch])
        parts.append(part)
    # merged in a random order, as a random tree
    while len(parts) > 1:
        i = data.draw(st.integers(0, len(parts) - 1))
        left = parts.pop(i)
        j = data.draw(st.integers(0, len(parts) - 1))
        right = parts.pop(j)
        parts.append(left.merge(right) if data.draw(st.booleans()) else right.merge(left))
    merged = parts[0]
    assert merged == whole
    assert same_bits(merged.replicate_means(), whole.replicate_means())
    assert same_bits(merged.numerators(), whole.numerators())
    assert same_bits(merged.denominators(), whole.denominators())
    # the JSON text too: ExactSums.to_state() writes a value's shortest digits, whatever the
    # history (it once could end in ..., 2**26 - 1, -1 instead of ..., -1)
    assert json.dumps(merged.to_state()) == json.dumps(whole.to_state())
    assert PoissonBootstrap.from_state(json.loads(json.dumps(merged.to_state()))) == whole
    assert merged.interval(0.9) == whole.interval(0.9)


def test_batching_invariance_at_scale() -> None:
    rng = np.random.default_rng(3)
    n = 30_000
    keys = np.arange(n, dtype=np.uint64)
    values = rng.normal(size=n) * np.exp(rng.uniform(-30, 5, n))
    weights = rng.uniform(0, 2, n)
    for w in (None, weights):
        whole = filled(999, 1, keys, values, w)
        perm = rng.permutation(n)
        left = PoissonBootstrap(999, 1)
        for batch in np.array_split(perm[: n // 3], 7):
            left.add(keys[batch], values[batch], None if w is None else w[batch])
        right = filled(
            999,
            1,
            keys[perm[n // 3 :]],
            values[perm[n // 3 :]],
            None if w is None else w[perm[n // 3 :]],
        )
        merged = right.merge(left)
        assert merged == whole
        assert same_bits(merged.replicate_means(), whole.replicate_means())


def test_weights_of_one_equal_no_weights() -> None:
    keys = np.arange(50, dtype=np.uint64)
    values = np.linspace(-3, 4, 50)
    assert filled(31, 8, keys, values, None) == filled(31, 8, keys, values, np.ones(50))


def test_row_keys_as_int64_or_uint64() -> None:
    values = np.linspace(-1, 1, 20)
    a = filled(15, 2, np.arange(20, dtype=np.int64), values, None)
    b = filled(15, 2, np.arange(20, dtype=np.uint64), values, None)
    c = filled(15, 2, np.arange(20, dtype=np.int32), values, None)
    assert a == b == c
    with pytest.raises(TypeError, match="integers"):
        PoissonBootstrap(3, 0).add(np.arange(3.0), np.zeros(3), None)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the interval


def test_identical_inputs_give_a_zero_interval() -> None:
    keys = np.arange(500, dtype=np.uint64)
    for weights in (None, np.linspace(0.5, 2, 500)):
        pb = filled(999, 3, keys, np.zeros(500), weights)
        low, high = pb.interval(0.95)
        assert (low, high) == (0.0, 0.0)
        assert math.copysign(1.0, low) == 1.0
        assert math.copysign(1.0, high) == 1.0
        assert not np.signbit(pb.replicate_means()).any()


def test_interval_rule() -> None:
    rng = np.random.default_rng(1)
    pb = filled(999, 5, np.arange(200, dtype=np.uint64), rng.normal(size=200), None)
    means = np.sort(pb.replicate_means())
    assert means.size == 999
    # k = floor((1 - level) / 2 * (R + 1)): 25th smallest and 25th largest for 0.95
    assert pb.interval(0.95) == (means[24], means[999 - 25])
    # 0.9 is read as 9/10: k = 50 (a float computation of 0.05 * 1000 gives 49.99...)
    assert pb.interval(0.9) == (means[49], means[999 - 50])
    assert pb.interval(0.5) == (means[249], means[999 - 250])
    assert pb.interval(0.998) == (means[0], means[998])
    assert pb.interval(0.999) == (-math.inf, math.inf)  # k = 0
    for level in (0.0, 1.0, -0.5, 1.5, math.nan):
        with pytest.raises(ValueError, match="level"):
            pb.interval(level)


def test_interval_without_replicates_and_dropped_replicates() -> None:
    assert all(math.isnan(x) for x in PoissonBootstrap(99, 1).interval(0.95))
    assert PoissonBootstrap(99, 1).replicate_means().size == 0
    # one row: the replicates that leave it out (P = 0) have B_r = 0 and are dropped
    pb = filled(400, 9, np.array([12], dtype=np.uint64), np.array([2.5]), None)
    p = pb.counts(np.array([12], dtype=np.uint64))[:, 0]
    means = pb.replicate_means()
    assert means.size == int((p > 0).sum()) < 400
    assert (means == 2.5).all()
    assert pb.interval(0.95) == (2.5, 2.5)
    # rows of weight 0 count as rows but add nothing
    pb = filled(50, 9, np.arange(3, dtype=np.uint64), np.array([1.0, 2.0, 3.0]), np.zeros(3))
    assert pb.rows == 3
    assert pb.replicate_means().size == 0


def _coverage(resamples: int, datasets: int, rows: int, weighted: bool) -> int:
    rng = np.random.default_rng(2024 + weighted)
    covered = 0
    for i in range(datasets):
        truth = rng.normal()
        # skewed loss differences with mean `truth`
        d = truth + rng.exponential(1.0, rows) - 1.0 + 0.5 * rng.normal(size=rows)
        w = rng.uniform(0.5, 1.5, rows) if weighted else None
        pb = filled(resamples, i, np.arange(rows, dtype=np.uint64), d, w)
        low, high = pb.interval(0.95)
        covered += low <= truth <= high
    return covered


@pytest.mark.parametrize("weighted", [False, True])
def test_interval_covers_the_true_difference(weighted: bool) -> None:
    """200 datasets x R = 499: coverage of a 95% interval within 4 binomial SDs of 95%."""
    n = 200
    covered = _coverage(499, n, 200, weighted)
    sd = math.sqrt(n * 0.95 * 0.05)
    assert abs(covered - 0.95 * n) <= 4 * sd, covered


# ------------------------------------------------------------------ state and merging


def test_state_round_trips_through_json() -> None:
    rng = np.random.default_rng(8)
    keys = rng.integers(0, 1 << 64, 300, dtype=np.uint64)
    pb = filled(77, U64, keys, rng.normal(size=300), rng.uniform(0, 1, 300))
    state = pb.to_state()
    text = json.dumps(state)
    back = PoissonBootstrap.from_state(json.loads(text))
    assert back == pb
    assert back.resamples == 77
    assert back.seed == U64
    assert back.rows == 300
    assert same_bits(back.replicate_means(), pb.replicate_means())
    assert json.dumps(back.to_state()) == text
    # and goes on like the original
    more = rng.normal(size=10)
    extra = np.arange(10, dtype=np.uint64)
    back.add(extra, more, None)
    pb.add(extra, more, None)
    assert back == pb
    assert PoissonBootstrap.from_state(PoissonBootstrap(5, 0).to_state()) == PoissonBootstrap(5, 0)


def test_merge_refuses_other_seeds_and_resamples() -> None:
    a = PoissonBootstrap(10, 1)
    with pytest.raises(ValueError, match="seed"):
        a.merge(PoissonBootstrap(10, 2))
    with pytest.raises(ValueError, match="resamples"):
        a.merge(PoissonBootstrap(11, 1))
    with pytest.raises(TypeError):
        a.merge("state")  # type: ignore[arg-type]
    assert a != PoissonBootstrap(10, 2)
    assert a != PoissonBootstrap(11, 1)
    assert a == PoissonBootstrap(10, 1)
    assert (a == "state") is False


def test_merge_leaves_both_unchanged() -> None:
    keys = np.arange(40, dtype=np.uint64)
    values = np.linspace(0, 1, 40)
    a = filled(9, 3, keys[:20], values[:20], None)
    b = filled(9, 3, keys[20:], values[20:], None)
    a_state, b_state = json.dumps(a.to_state()), json.dumps(b.to_state())
    merged = a.merge(b)
    assert json.dumps(a.to_state()) == a_state
    assert json.dumps(b.to_state()) == b_state
    assert merged == filled(9, 3, keys, values, None)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.update(kind="other"),
        lambda s: s.update(version=2),
        lambda s: s.update(hash="pcg"),
        lambda s: s.update(resamples=0),
        lambda s: s.update(resamples=True),
        lambda s: s.update(seed=-1),
        lambda s: s.update(seed=1 << 64),
        lambda s: s.update(rows="3"),
        lambda s: s.update(numerator=None),
        lambda s: s.update(resamples=6),  # the sums have 5 buckets
        lambda s: s["denominator"].update(kind="nope"),
    ],
)
def test_from_state_rejects_bad_states(change: object) -> None:
    state = filled(5, 1, np.arange(4, dtype=np.uint64), np.ones(4), None).to_state()
    state = json.loads(json.dumps(state))
    assert callable(change)
    change(state)
    with pytest.raises(ValueError, match="state"):
        PoissonBootstrap.from_state(state)


# ------------------------------------------------------------------ validation


def test_bad_inputs() -> None:
    pb = PoissonBootstrap(4, 0)
    keys = np.arange(3, dtype=np.uint64)
    with pytest.raises(ValueError, match="finite"):
        pb.add(keys, np.array([1.0, math.nan, 2.0]), None)
    with pytest.raises(ValueError, match="finite"):
        pb.add(keys, np.array([1.0, math.inf, 2.0]), None)
    with pytest.raises(ValueError, match="weights"):
        pb.add(keys, np.ones(3), np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="weights"):
        pb.add(keys, np.ones(3), np.array([1.0, math.nan, 1.0]))
    with pytest.raises(ValueError, match="2\\*\\*960"):
        pb.add(keys, np.array([1.0, 1e300, 2.0]), None)
    with pytest.raises(ValueError, match="2\\*\\*960"):
        pb.add(keys, np.array([1.0, 1e200, 2.0]), np.array([1.0, 1e100, 1.0]))
    with pytest.raises(ValueError, match="keys"):
        pb.add(keys, np.ones(4), None)
    with pytest.raises(ValueError, match="weights"):
        pb.add(keys, np.ones(3), np.ones(2))
    assert pb == PoissonBootstrap(4, 0)  # nothing was added
    assert pb.rows == 0
    pb.add(np.zeros(0, dtype=np.uint64), np.zeros(0), None)
    assert pb == PoissonBootstrap(4, 0)
    for bad in (0, -3):
        with pytest.raises(ValueError, match="resamples"):
            PoissonBootstrap(bad, 0)
    with pytest.raises(TypeError):
        PoissonBootstrap(2.5, 0)  # type: ignore[arg-type]
