"""Exact per-bucket sums (xent_cli.kernels.exact): every expectation is computed independently,
with fractions.Fraction (exact; Fraction -> float is correctly rounded) and math.fsum."""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xent_cli.kernels.exact as exact
import xent_cli.kernels.extract as extract
from xent_cli.kernels import compiled
from xent_cli.kernels.exact import ExactSums, exact_sum
from xent_cli.kernels.exponential import exp

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=150)
MAX = 1.7976931348623157e308
TINY = 5e-324
INF, NAN = math.inf, math.nan


FIXTURES = settings(SETTINGS, suppress_health_check=[HealthCheck.function_scoped_fixture])


def reference(values: list[float]) -> float:
    """The documented result for one bucket, from exact rational arithmetic."""
    if any(math.isnan(v) for v in values) or (INF in values and -INF in values):
        return NAN
    if INF in values:
        return INF
    if -INF in values:
        return -INF
    exact_value = sum(map(Fraction, values), Fraction(0))
    try:
        return float(exact_value)  # correctly rounded (int / int true division)
    except OverflowError:
        return INF if exact_value > 0 else -INF


def references(buckets: list[int], values: list[float], n_buckets: int) -> np.ndarray:
    per_bucket: list[list[float]] = [[] for _ in range(n_buckets)]
    for b, v in zip(buckets, values, strict=True):
        per_bucket[b].append(v)
    return np.array([reference(vs) for vs in per_bucket], dtype=np.float64)


def same_bits(a: float, b: float) -> bool:
    return np.float64(a).tobytes() == np.float64(b).tobytes()


def filled(n_buckets: int, buckets: list[int], values: list[float]) -> ExactSums:
    sums = ExactSums(n_buckets)
    sums.add(np.array(buckets, dtype=np.intp), np.array(values, dtype=np.float64))
    return sums


def state_nbytes(sums: ExactSums) -> int:
    """Bytes held by the state's arrays (digits, pending bins, non-finite counts)."""
    total = sums._digits.nbytes
    if sums._bins is not None:
        total += sums._bins.hi.nbytes + sums._bins.lo.nbytes
    if sums._nonfinite is not None:
        total += sums._nonfinite.nbytes
    return total


def only_json_ints_and_strings(obj: object) -> bool:
    if isinstance(obj, dict):
        return all(isinstance(k, str) and only_json_ints_and_strings(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(only_json_ints_and_strings(v) for v in obj)
    return isinstance(obj, str) or (isinstance(obj, int) and not isinstance(obj, bool))


# ------------------------------------------------------------------ strategies

special_floats = st.sampled_from(
    [
        *(0.0, -0.0, TINY, -TINY, 2.2e-308, -2.2e-308, 2.0**-1022, 2.0**-53),
        *(1e308, -1e308, MAX, -MAX, 1.0, -1.0, 0.1, -0.1, 3.0, 1e16, -1e16),
    ]
)
scaled_floats = st.builds(
    lambda m, e: m * 10.0**e,
    st.floats(-10, 10, allow_nan=False),
    st.integers(-300, 300),
)
finite_floats = st.one_of(
    special_floats, scaled_floats, st.floats(allow_nan=False, allow_infinity=False)
)
any_floats = st.one_of(finite_floats, st.sampled_from([INF, -INF, NAN]))


@st.composite
def bucketed(draw: st.DrawFn, elements: st.SearchStrategy[float] = finite_floats) -> tuple:
    # few buckets: float bins; hundreds (x a wide exponent span): values scattered one by one
    n_buckets = draw(st.one_of(st.integers(1, 6), st.integers(7, 400)))
    values = draw(st.lists(elements, max_size=60))
    buckets = draw(
        st.lists(st.integers(0, n_buckets - 1), min_size=len(values), max_size=len(values))
    )
    return n_buckets, buckets, values


# ------------------------------------------------------------------ exactness


@SETTINGS
@given(bucketed())
def test_finish_and_total_are_the_correctly_rounded_exact_sums(case: tuple) -> None:
    n_buckets, buckets, values = case
    sums = filled(n_buckets, buckets, values)
    got = sums.finish()
    assert got.dtype == np.float64
    assert got.shape == (n_buckets,)
    assert got.tobytes() == references(buckets, values, n_buckets).tobytes()
    assert same_bits(sums.total(), reference(values))
    try:
        fsum = math.fsum(values)
    except OverflowError:
        return
    if math.isfinite(fsum):
        assert sums.total() == fsum
        assert exact_sum(np.array(values)) == fsum


@SETTINGS
@given(bucketed(any_floats))
def test_non_finite_values_follow_the_rules_per_bucket_and_in_total(case: tuple) -> None:
    n_buckets, buckets, values = case
    sums = filled(n_buckets, buckets, values)
    assert sums.finish().tobytes() == references(buckets, values, n_buckets).tobytes()
    assert same_bits(sums.total(), reference(values))


@SETTINGS
@given(st.lists(finite_floats, max_size=80))
def test_exact_sum_is_fsum_when_fsum_does_not_overflow(values: list[float]) -> None:
    try:
        expected = math.fsum(values)
    except OverflowError:
        expected = reference(values)
    assert same_bits(exact_sum(np.array(values, dtype=np.float64)), expected)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1e308, 1e308, -1e308], 1e308),
        ([1e308, 1e308], INF),
        ([-1e308, -1e308], -INF),
        ([MAX, MAX, -MAX, -MAX, 1.0], 1.0),
        ([MAX, 2.0**969], MAX),  # below half an ulp of MAX: stays finite
        ([MAX, 2.0**970], INF),  # exactly half an ulp, ties to even: rounds to 2**1024
        ([MAX, 2.0**970, -TINY], MAX),
        ([TINY] * 7, 7 * TINY),
        ([2.2e-308, -TINY, TINY, TINY], 2.2e-308 + TINY),
        ([1.0, 2.0**-53], 1.0),  # tie: to even
        ([1.0, 2.0**-53, 2.0**-106], 1.0 + 2.0**-52),  # just above the tie
        ([1.0 + 2.0**-52, 2.0**-53], 1.0 + 2.0**-51),  # tie: to even (up)
        ([0.1] * 10, 1.0),  # the exact sum of ten doubles 0.1, rounded once
        ([1e300, 1e-300, -1e300], 1e-300),
        ([3.0, -1e-310, -3.0], -1e-310),
        ([], 0.0),
    ],
)
def test_known_sums(values: list[float], expected: float) -> None:
    assert same_bits(exact_sum(np.array(values, dtype=np.float64)), expected)
    assert same_bits(reference(values), expected)  # the oracle agrees


@pytest.mark.parametrize("values", [[0.0], [-0.0], [-0.0, -0.0], [1.0, -1.0], [-TINY, TINY], []])
def test_an_exactly_zero_sum_is_positive_zero(values: list[float]) -> None:
    sums = ExactSums(2)
    sums.add(np.zeros(len(values), np.intp), np.array(values, dtype=np.float64))
    assert sums.finish().tobytes() == np.zeros(2).tobytes()  # +0.0, also for the empty bucket
    assert same_bits(sums.total(), 0.0)


def test_zeros_and_subnormals_mixed_with_ordinary_values() -> None:
    rng = np.random.default_rng(5)
    values = rng.standard_normal(3000) * 10.0 ** rng.integers(-5, 5, 3000)
    values[::3] = 0.0
    values[1::7] = -0.0
    values[2::11] = TINY * rng.integers(-1000, 1000, values[2::11].size)
    buckets = rng.integers(0, 4, values.size)
    sums = filled(4, buckets.tolist(), values.tolist())
    assert sums.finish().tobytes() == references(buckets.tolist(), values.tolist(), 4).tobytes()


def test_buckets_none_and_a_single_bucket() -> None:
    values = [0.5, 1e-20, -3.25, 1e20, TINY]
    none = ExactSums(1)
    none.add(None, np.array(values))
    zeros = filled(1, [0] * len(values), values)
    assert none == zeros
    assert none.n_buckets == 1
    assert same_bits(none.finish()[0], reference(values))
    assert same_bits(none.total(), reference(values))
    with pytest.raises(ValueError, match="bucket"):
        ExactSums(0).add(None, np.array([1.0]))


def test_empty_input_and_empty_state() -> None:
    sums = ExactSums(3)
    sums.add(np.zeros(0, np.intp), np.zeros(0))
    sums.add(None, np.zeros(0))
    assert sums.finish().tobytes() == np.zeros(3).tobytes()
    assert same_bits(sums.total(), 0.0)
    assert sums == ExactSums(3)
    assert ExactSums(0).finish().shape == (0,)
    assert same_bits(ExactSums(0).total(), 0.0)
    assert same_bits(exact_sum(np.zeros(0)), 0.0)


def test_non_finite_bucket_rules() -> None:
    buckets = [0, 0, 1, 1, 2, 2, 3, 3, 4]
    values = [INF, 1.0, -INF, 2.0, INF, -INF, NAN, 5.0, 7.0]
    sums = filled(5, buckets, values)
    got = sums.finish()
    assert got[0] == INF
    assert got[1] == -INF
    assert math.isnan(got[2])
    assert math.isnan(got[3])
    assert got[4] == 7.0
    assert math.isnan(sums.total())
    only_inf = filled(3, [0, 1, 2], [INF, 1.0, -2.0])
    assert only_inf.total() == INF
    assert filled(2, [0, 1], [-INF, 1e308]).total() == -INF


def test_non_finite_counts_take_part_in_equality_merge_and_state() -> None:
    a = filled(2, [0, 1], [INF, 1.0])
    b = filled(2, [1], [1.0])
    assert a != b
    b.add(np.array([0]), np.array([INF]))
    assert a == b
    c = filled(2, [0], [INF])  # two +inf in bucket 0 after merging: still +inf, not equal
    assert a.merge(c) != a
    assert a.merge(c).finish()[0] == INF
    nan_state = filled(2, [1], [NAN])
    merged = a.merge(nan_state)
    assert math.isnan(merged.finish()[1])
    assert merged.finish()[0] == INF
    assert ExactSums.from_state(json.loads(json.dumps(merged.to_state()))) == merged


# ------------------------------------------------------------------ split invariance


def merge_in_random_tree(states: list[ExactSums], rnd: random.Random) -> ExactSums:
    states = list(states)
    while len(states) > 1:
        i, j = rnd.sample(range(len(states)), 2)
        a, b = states[i], states[j]
        states = [s for k, s in enumerate(states) if k not in (i, j)]
        states.append(a.merge(b) if rnd.random() < 0.5 else b.merge(a))
    return states[0]


@SETTINGS
@given(bucketed(any_floats), st.randoms(use_true_random=False))
def test_any_order_split_and_merge_tree_gives_identical_results(
    case: tuple, rnd: random.Random
) -> None:
    n_buckets, buckets, values = case
    whole = filled(n_buckets, buckets, values)
    order = list(range(len(values)))
    rnd.shuffle(order)
    cuts = sorted(rnd.sample(range(len(order) + 1), min(len(order) + 1, rnd.randint(0, 6))))
    parts = [order[i:j] for i, j in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    states = []
    for part in parts:
        state = ExactSums(n_buckets)
        # batches within a part, too
        step = rnd.randint(1, 8)
        for k in range(0, len(part), step):
            chunk = part[k : k + step]
            if rnd.random() < 0.2:  # sometimes a JSON round trip on the way
                state = ExactSums.from_state(json.loads(json.dumps(state.to_state())))
            state.add(
                np.array([buckets[i] for i in chunk], np.intp), np.array([values[i] for i in chunk])
            )
        states.append(state)
    merged = merge_in_random_tree(states, rnd)
    assert merged == whole
    assert whole == merged
    assert np.array_equal(merged.finish(), whole.finish(), equal_nan=True)
    assert merged.finish().tobytes() == whole.finish().tobytes()
    assert same_bits(merged.total(), whole.total())


def test_merge_is_associative_commutative_and_leaves_its_operands_alone() -> None:
    rng = np.random.default_rng(3)
    states = []
    for scale in (1e-10, 1.0, 1e10):
        values = rng.standard_normal(500) * scale
        states.append(filled(7, rng.integers(0, 7, 500).tolist(), values.tolist()))
    a, b, c = states
    before = [s.finish().tobytes() for s in states]
    snapshots = [ExactSums.from_state(s.to_state()) for s in states]
    ab_c = a.merge(b).merge(c)
    a_bc = a.merge(b.merge(c))
    ca_b = c.merge(a).merge(b)
    assert ab_c == a_bc == ca_b
    assert ab_c.finish().tobytes() == a_bc.finish().tobytes() == ca_b.finish().tobytes()
    assert [s.finish().tobytes() for s in states] == before
    assert states == snapshots
    with pytest.raises(ValueError, match="buckets"):
        a.merge(ExactSums(6))
    with pytest.raises(TypeError):
        a.merge(object())  # type: ignore[arg-type]


@pytest.mark.parametrize(("chunk", "budget"), [(10, 1 << 16), (1 << 26, 40)])
def test_merging_pending_bins_that_would_grow_too_many_folds_them(
    monkeypatch: pytest.MonkeyPatch, chunk: int, budget: int
) -> None:
    monkeypatch.setattr(exact, "CHUNK", chunk)
    monkeypatch.setattr(exact, "BINS_BUDGET", budget)
    a = filled(2, [0, 1] * 4, [1.5, 2.5, 1e3, 1e-3] * 2)  # 8 values pending in float bins
    b = filled(2, [0, 1] * 4, [3.0, -7.0, 1e5, 2e5] * 2)  # other exponents
    assert a._bins is not None
    assert b._bins is not None
    merged = a.merge(b)
    assert merged._bins is None  # 16 values > CHUNK, or 2 x 24 exponents > budget bins
    expected = references([0, 1] * 8, [1.5, 2.5, 1e3, 1e-3] * 2 + [3.0, -7.0, 1e5, 2e5] * 2, 2)
    assert merged.finish().tobytes() == expected.tobytes()
    assert merged == b.merge(a)


def test_equality_ignores_the_digit_window_and_pending_bins() -> None:
    small, big = [1e-20, 3e-19], [1e20, -1e20 + 16384.0]
    a = filled(2, [0, 1], small)
    a.add(np.array([0, 1]), np.array(big))
    b = filled(2, [0, 1], big)  # a window grown the other way
    b.add(np.array([0, 1]), np.array(small))
    assert a == b
    assert a == ExactSums.from_state(a.to_state())
    assert filled(2, [0], [1.0]) != filled(2, [1], [1.0])
    assert filled(2, [0], [1.0]) != filled(3, [0], [1.0])
    assert filled(2, [0], [1.0]) != "not a state"
    assert filled(2, [0, 0], [1.0, -1.0]) == ExactSums(2)


# ------------------------------------------------------------------ state


@SETTINGS
@given(bucketed(any_floats))
def test_state_round_trips_through_json(case: tuple) -> None:
    n_buckets, buckets, values = case
    sums = filled(n_buckets, buckets, values)
    state = sums.to_state()
    text = json.dumps(state, allow_nan=False)
    assert only_json_ints_and_strings(state)
    back = ExactSums.from_state(json.loads(text))
    assert back == sums
    assert back.finish().tobytes() == sums.finish().tobytes()
    assert same_bits(back.total(), sums.total())
    back.add(np.array([0]), np.array([1.5]))  # a restored state keeps working
    sums.add(np.array([0]), np.array([1.5]))
    assert back == sums


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "something else"},
        {"version": 2},
        {"radix_bits": 32},
        {"n_buckets": -1},
        {"n_digits": True},
        {"digits": [1, 2, 3]},
        {"digits": "1,2"},
        {"digit_offset": 10**6},
        {"nonfinite": [[5, 1, 0, 0]]},
        {"nonfinite": [[0, -1, 0, 0]]},
        {"nonfinite": [[0, 1.0, 0, 0]]},
        {"nonfinite": "none"},
    ],
)
def test_from_state_rejects_malformed_states(change: dict) -> None:
    state = filled(2, [0, 1, 1], [1.0, 2.0, INF]).to_state()
    state.update(change)
    with pytest.raises(ValueError, match="state"):
        ExactSums.from_state(state)


# ------------------------------------------------------------------ paths and limits


@pytest.mark.parametrize(
    ("block", "chunk", "budget"), [(3, 5, 1 << 16), (1, 1, 0), (4, 64, 8), (7, 3, 1)]
)
def test_small_blocks_chunks_and_bin_budget_change_nothing(
    monkeypatch: pytest.MonkeyPatch, block: int, chunk: int, budget: int
) -> None:
    """The per-bincount value limit (CHUNK, 2**26 in production) is a module constant: made
    small, inputs are split into many chunks and the float bins are folded often."""
    rng = np.random.default_rng(11)
    n = 700
    values = np.concatenate(
        [
            -np.log(rng.random(n // 2)),
            rng.standard_normal(n - n // 2) * 10.0 ** rng.integers(-300, 300, n - n // 2),
        ]
    )
    values[::50] = 0.0
    buckets = rng.integers(0, 5, n)
    expected = references(buckets.tolist(), values.tolist(), 5)
    default = ExactSums(5)
    default.add(buckets, values)
    monkeypatch.setattr(exact, "BLOCK", block)
    monkeypatch.setattr(exact, "CHUNK", chunk)
    monkeypatch.setattr(exact, "BINS_BUDGET", budget)
    one_call = ExactSums(5)
    one_call.add(buckets, values)
    many_calls = ExactSums(5)
    for start in range(0, n, 37):
        many_calls.add(buckets[start : start + 37], values[start : start + 37])
    for sums in (one_call, many_calls):
        assert sums.finish().tobytes() == expected.tobytes()
        assert sums == default
    assert one_call.merge(many_calls) == default.merge(default)


def test_dense_bins_and_direct_scatter_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    values = rng.standard_normal(20000) * 10.0 ** rng.integers(-12, 12, 20000)
    buckets = rng.integers(0, 3, values.size)
    dense = ExactSums(3)
    dense.add(buckets, values)  # 3 buckets x ~80 exponents << 20000 values: float bins
    assert dense._bins is not None or dense._digits.shape[1]
    monkeypatch.setattr(exact, "BINS_BUDGET", 0)
    direct = ExactSums(3)
    for start in range(0, values.size, 50):  # 3 x ~80 bins > 50 values: scattered
        direct.add(buckets[start : start + 50], values[start : start + 50])
    assert direct._bins is None
    assert direct == dense
    assert direct.finish().tobytes() == dense.finish().tobytes()
    expected = references(buckets.tolist(), values.tolist(), 3)
    assert dense.finish().tobytes() == expected.tobytes()


@pytest.mark.parametrize(("chunk", "budget"), [(1 << 26, 0), (16, 1 << 16)])
def test_carries_are_normalised_before_a_digit_could_overflow(
    monkeypatch: pytest.MonkeyPatch, chunk: int, budget: int
) -> None:
    """With a tiny limit on the digits' magnitude bound, carries are propagated very often
    (scattered values, or float bins folded every 16 values)."""
    monkeypatch.setattr(exact, "_LOAD_LIMIT", 1 << 33)
    monkeypatch.setattr(exact, "CHUNK", chunk)
    monkeypatch.setattr(exact, "BINS_BUDGET", budget)
    calls = []
    normalise = ExactSums._normalise

    def counting(self: ExactSums) -> None:
        calls.append(1)
        normalise(self)

    monkeypatch.setattr(ExactSums, "_normalise", counting)
    values = [MAX, -MAX * 0.5, 2.0**-1074, 1.0, -(2.0**-1000)] * 4
    sums = ExactSums(2)
    for _ in range(30):
        sums.add(np.array([0, 1] * 10), np.array(values))
    assert len(calls) > 5
    expected = references([0, 1] * 300, values * 30, 2)
    assert sums.finish().tobytes() == expected.tobytes()


def test_a_sum_growing_past_the_digit_window_gets_more_top_digits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exact, "BINS_BUDGET", 0)  # scattered straight into the digits
    sums = ExactSums(2)
    for _ in range(64):
        sums.add(np.array([0]), np.array([2.0**51]))  # all into one digit: 64 * 2**25
    other = ExactSums(2)
    other.add(np.array([0]), np.array([2.0**57]))
    assert sums == other
    assert other == sums
    assert sums.finish()[0] == 2.0**57
    assert sums != filled(2, [0], [2.0**57 + 2.0**5])


def test_many_huge_values_and_long_runs_stay_exact() -> None:
    sums = ExactSums(1)
    for _ in range(2000):
        sums.add(None, np.full(1000, MAX))
        sums.add(None, np.full(1000, -MAX))
    sums.add(None, np.array([TINY]))
    assert same_bits(sums.total(), TINY)
    sums.add(None, np.full(3, MAX))
    assert sums.total() == INF


def test_wide_vocabulary_small_batches_are_fast_and_small() -> None:
    n_buckets = 131072
    rng = np.random.default_rng(7)
    batches = [(rng.integers(0, n_buckets, 8), -np.log(rng.random(8))) for _ in range(50)]
    sums = ExactSums(n_buckets)
    start = time.perf_counter()
    for buckets, values in batches:
        sums.add(buckets, values)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert state_nbytes(sums) < 6_000_000  # a few digits per bucket, not 85
    all_buckets = np.concatenate([b for b, _ in batches])
    all_values = np.concatenate([v for _, v in batches])
    got = sums.finish()
    for bucket in np.unique(all_buckets)[:100].tolist():
        assert got[bucket] == math.fsum(all_values[all_buckets == bucket])
    assert np.count_nonzero(got) == np.unique(all_buckets).size
    assert sums.total() == math.fsum(all_values)


def test_wide_vocabulary_large_batch_stays_small() -> None:
    n_buckets = 131072
    rng = np.random.default_rng(8)
    values = -np.log(rng.random(1 << 18))
    buckets = rng.integers(0, n_buckets, values.size)
    sums = ExactSums(n_buckets)
    sums.add(buckets, values)
    assert state_nbytes(sums) < 6_000_000
    assert sums.total() == math.fsum(values)


def test_threads_get_their_own_scratch_space() -> None:
    rng = np.random.default_rng(9)
    jobs = [(rng.integers(0, 50, 200_000), rng.standard_normal(200_000)) for _ in range(4)]
    expected = [filled(50, b.tolist(), v.tolist()).finish().tobytes() for b, v in jobs]
    results: list[bytes] = [b""] * len(jobs)

    def run(i: int) -> None:
        sums = ExactSums(50)
        for start in range(0, 200_000, 30_000):
            sums.add(jobs[i][0][start : start + 30_000], jobs[i][1][start : start + 30_000])
        results[i] = sums.finish().tobytes()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected


# ------------------------------------------------------------------ input checks


def test_input_checks() -> None:
    sums = ExactSums(3)
    with pytest.raises(ValueError, match="bucket 3"):
        sums.add(np.array([0, 3]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="bucket -1"):
        sums.add(np.array([-1]), np.array([1.0]))
    with pytest.raises(ValueError, match="2 buckets for 1 values"):
        sums.add(np.array([0, 1]), np.array([1.0]))
    with pytest.raises(TypeError, match="integers"):
        sums.add(np.array([0.0]), np.array([1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        ExactSums(-1)
    assert sums == ExactSums(3)  # nothing was added by the failed calls
    sums.add(np.array([2], np.int32), np.array([0.25], np.float32))  # converted exactly
    assert sums.finish()[2] == 0.25
    assert exact_sum([0.1, 0.2, 0.3]) == math.fsum([0.1, 0.2, 0.3])  # type: ignore[arg-type]


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(0, 11), st.floats(allow_nan=True, allow_infinity=True)),
        max_size=60,
    ),
    st.integers(12, 30),
)
def test_resized_and_split_keep_every_bucket(pairs: list[tuple[int, float]], more: int) -> None:
    """Side-by-side sums (12 buckets = 4 groups of 3), grown, then split into groups: each
    group's buckets finish as the exact sums of their own values."""
    sums = ExactSums(12)
    half = len(pairs) // 2
    for part in (pairs[:half], pairs[half:]):  # some values still in pending bins
        if part:
            sums.add(np.array([b for b, _ in part]), np.array([v for _, v in part]))
    grown = sums.resized(more)
    assert grown.n_buckets == more
    want = [reference([v for b, v in pairs if b == bucket]) for bucket in range(more)]
    np.testing.assert_array_equal(grown.finish(), np.array(want))
    groups = sums.split(3)
    assert [g.n_buckets for g in groups] == [3, 3, 3, 3]
    got = np.concatenate([g.finish() for g in groups])
    np.testing.assert_array_equal(got, np.array(want[:12]))
    for g in groups:  # a part is a state like any other: it merges and adds on
        g.add(np.array([0]), np.array([1.0]))
    assert groups[1].finish()[0] == reference([1.0, *(v for b, v in pairs if b == 3)])


def test_split_and_resize_refuse_bad_sizes() -> None:
    with pytest.raises(ValueError, match="cannot split"):
        ExactSums(10).split(3)
    with pytest.raises(ValueError, match="cannot shrink"):
        ExactSums(10).resized(9)


@SETTINGS
@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(0, 4), st.floats(allow_nan=True, allow_infinity=True)),
            max_size=12,
        ),
        max_size=8,
    )
)
def test_totals_of_many_states_equal_each_total(states: list[list[tuple[int, float]]]) -> None:
    """exact.totals([...]) == [s.total() ...] == the exact rational sum of each state's values,
    whatever the states' windows (tiny, huge, empty, non-finite values side by side)."""
    many = []
    for pairs in states:
        sums = ExactSums(5)
        if pairs:
            sums.add(np.array([b for b, _ in pairs]), np.array([v for _, v in pairs]))
        many.append(sums)
    want = [reference([v for _, v in pairs]) for pairs in states]
    got = exact.totals(many)
    assert all(same_bits(g, w) for g, w in zip(got, want, strict=True))
    assert all(same_bits(g, s.total()) for g, s in zip(got, many, strict=True))


@SETTINGS
@given(bucketed(any_floats), st.randoms(use_true_random=False))
def test_add_sums_places_each_bucket_exactly_where_it_is_sent(
    case: tuple, rng: random.Random
) -> None:
    n_local, buckets, values = case
    n_total = n_local + rng.randrange(0, 5)
    targets = rng.sample(range(n_total), n_local)  # distinct, any order
    into = ExactSums(n_total)
    into.add(np.array([0]), np.array([1.5]))  # something there already
    into.add_sums(filled(n_local, buckets, values), np.array(targets, np.intp))
    moved = [targets[b] for b in buckets]
    expected = references([0, *moved], [1.5, *values], n_total)
    assert all(map(same_bits, into.finish(), expected))
    one = ExactSums(1)
    one.add_sums(filled(n_local, buckets, values))  # every bucket into bucket 0
    assert same_bits(one.finish()[0], reference(values))
    assert one == filled(1, [0] * len(values), values)


@SETTINGS
@given(bucketed(any_floats), st.booleans())
def test_every_strategy_gives_the_exact_sums(case: tuple, brief: bool) -> None:
    """Exponent bins, digit bins and the one-by-one scatter (forced by a budget of 1 bin)."""
    from unittest import mock

    n_buckets, buckets, values = case
    expected = references(buckets, values, n_buckets)
    with mock.patch.object(exact, "BINS_BUDGET", 1):
        sums = ExactSums(n_buckets)
        sums.add(np.array(buckets, np.intp), np.array(values), brief=brief)
        assert all(map(same_bits, sums.finish(), expected))
    sums = ExactSums(n_buckets)
    sums.add(np.array(buckets, np.intp), np.array(values), brief=brief)
    assert all(map(same_bits, sums.finish(), expected))


def _digits_of(value: int, width: int) -> list[int]:
    """A positive integer as ``width`` radix-2**26 digits, least significant first."""
    return [(value >> (26 * j)) & ((1 << 26) - 1) for j in range(width)]


@FIXTURES
@given(
    st.lists(
        st.one_of(
            st.integers(1, 1 << 300),
            # ties and near-ties: a 53-bit odd or even head, then exactly half, or half +- 1
            st.builds(
                lambda head, shift, delta: (head << shift) + (1 << (shift - 1)) + delta,
                st.integers(1 << 52, (1 << 53) - 1),
                st.integers(1, 120),
                st.sampled_from([-1, 0, 0, 1]),
            ),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(-45, 30),
)
def test_rounding_digits_without_python_integers_is_correct(
    kernel: str, values: list[int], d0: int
) -> None:
    from xent_cli.kernels.digits import rounded_positive, to_float

    width = max(v.bit_length() for v in values) // 26 + 2
    digits = np.array([_digits_of(v, width) for v in values], np.int64)
    done, got = rounded_positive(digits, d0)
    for value, ok, result in zip(values, done.tolist(), got.tolist(), strict=True):
        expected = to_float(value, 26 * d0)
        if ok:
            assert same_bits(result, expected), (value, d0)
        else:  # left to Python: only near or beyond the ends of the normal floats
            assert not 2.0**-900 < expected < 2.0**900


# ------------------------------------------------------------------ runs


@st.composite
def runs(draw: st.DrawFn, elements: st.SearchStrategy[float] = any_floats) -> tuple:
    values = draw(st.lists(elements, min_size=1, max_size=60))
    cuts = draw(st.sets(st.integers(1, max(1, len(values) - 1)), max_size=len(values) - 1))
    starts = [0, *sorted(c for c in cuts if c < len(values))]
    n_buckets = draw(st.integers(1, 8))
    k = len(starts)
    buckets = draw(st.lists(st.integers(0, n_buckets - 1), min_size=k, max_size=k))
    return n_buckets, starts, buckets, values


def exact_runs(found: extract.RunSums, starts: list[int]) -> list[Fraction]:
    """Each run's exact sum from ``run_sums``' levels and leftovers."""
    levels, left, rest = found
    totals = [Fraction(0)] * len(starts)
    for level in levels:
        totals = [t + Fraction(v) for t, v in zip(totals, level.tolist(), strict=True)]
    runs = np.searchsorted(np.array(starts), left, side="right") - 1
    for r, v in zip(runs.tolist(), rest.tolist(), strict=True):
        totals[r] += Fraction(v)
    return totals


def test_the_compiled_kernel_is_built() -> None:
    if os.environ.get("XENT_NO_NATIVE"):
        pytest.skip("XENT_NO_NATIVE is set")
    assert compiled.native is not None, "setup.py builds xent_cli/kernels/_native.c at install"


@FIXTURES
@given(runs(finite_floats))
def test_run_sums_are_each_runs_exact_sum(kernel: str, case: tuple) -> None:
    _, starts, _, values = case
    found = extract.run_sums(np.array(values), np.array(starts, np.intp))
    assert found is not None
    ends = [*starts[1:], len(values)]
    pairs = zip(starts, ends, strict=True)
    expected = [sum(map(Fraction, values[a:b]), Fraction(0)) for a, b in pairs]
    assert exact_runs(found, starts) == expected
    whole = extract.run_sums(np.array(values), None)
    assert whole is not None
    assert exact_runs(whole, [0]) == [sum(expected, Fraction(0))]


losses = st.floats(0.0, 800.0, allow_subnormal=True) | st.sampled_from([0.0, -0.0, 1e-300])


@FIXTURES
@given(runs(losses))
def test_run_sums_of_squares_and_of_exps_are_exact(kernel: str, case: tuple) -> None:
    """``SQUARES`` and ``EXPS``: each run's exact sum of ``v * v`` (float64's) and of
    ``exp(-v)`` (exponential.exp's), made a block at a time by the compiled kernel, as
    numpy's whole arrays give them."""
    _, starts, _, values = case
    ends = [*starts[1:], len(values)]
    for derive, of in ((extract.SQUARES, np.square), (extract.EXPS, lambda v: exp(-v))):
        found = extract.run_sums(np.array(values), np.array(starts, np.intp), derive)
        assert found is not None
        made = of(np.array(values)).tolist()
        expected = [
            sum(map(Fraction, made[a:b]), Fraction(0)) for a, b in zip(starts, ends, strict=True)
        ]
        assert exact_runs(found, starts) == expected


def test_exps_of_long_runs_cross_blocks_and_reach_the_subnormals(kernel: str) -> None:
    rng = np.random.default_rng(17)
    values = rng.exponential(3.0, 9000)
    values[[7, 2047, 2048, 5000, 8999]] = [0.0, 708.5, 745.0, 800.0, 1e-12]  # (subnormal, 0)
    for starts in ([0], [0, 1, 2049, 7000]):
        found = extract.run_sums(values, np.array(starts, np.intp), extract.EXPS)
        assert found is not None
        made = exp(-values).tolist()
        ends = [*starts[1:], len(values)]
        expected = [
            sum(map(Fraction, made[a:b]), Fraction(0)) for a, b in zip(starts, ends, strict=True)
        ]
        assert exact_runs(found, starts) == expected


def test_derived_sums_say_none_outside_their_domain(kernel: str) -> None:
    """``EXPS`` of a value below 0 (a probability above 1) or NaN, ``SQUARES`` of inf, NaN
    or a value whose square overflows: None (the caller adds the values themselves)."""
    many = np.full(3000, 2.5)
    for derive, bad in ((extract.EXPS, -1e-9), (extract.EXPS, NAN), (extract.SQUARES, INF),
                        (extract.SQUARES, NAN), (extract.SQUARES, 1e200)):  # fmt: skip
        for at in (0, 2999):
            values = many.copy()
            values[at] = bad
            assert extract.run_sums(values, None, derive) is None
            assert extract.run_sums(values, np.array([0, 1500], np.intp), derive) is None
    assert extract.run_sums(np.array([INF, 1.0]), None, extract.EXPS) is not None  # (exp: 0)


@pytest.mark.parametrize("n", [5, 3 * exact.PRESUM_MIN + 7])
def test_exps_are_summed_exactly(kernel: str, n: int) -> None:
    """``add_exps``: the exact sum of each ``exp(-v)``; a value below 0 or NaN is added
    as such (a NaN total), never dropped."""
    rng = np.random.default_rng(n)
    values = rng.exponential(2.0, n)
    sums = ExactSums(1)
    sums.add_exps(values)
    assert same_bits(sums.total(), reference(exp(-values).tolist()))
    values[n // 2] = NAN
    special = ExactSums(1)
    special.add_exps(values)
    assert math.isnan(special.total())


def test_run_sums_say_none_for_a_value_that_is_not_finite(kernel: str) -> None:
    for special in (INF, -INF, NAN):
        values = np.array([1.0, 2.0, special, 3.0])
        assert extract.run_sums(values, np.array([0, 2], np.intp)) is None
        assert extract.run_sums(values, None) is None


def test_long_runs_are_exact_across_the_compiled_kernels_blocks(kernel: str) -> None:
    """Runs longer than the compiled kernel's blocks (2,048 values), values left over in
    several blocks, levels that end in one block and not in the next."""
    rng = np.random.default_rng(5)
    values = np.abs(rng.normal(2.3, 1.5, 9000)).astype(np.float32).astype(np.float64)
    values[[100, 2047, 2048, 4100, 8999]] = [1e-300, -3e-200, 2.0**-1074, 7e-250, -1e-310]
    values[5000:7000] = 0.0
    for starts in ([0], [0, 2500], [0, 1, 4096, 4097, 6000]):
        found = extract.run_sums(values, np.array(starts, np.intp))
        assert found is not None
        ends = [*starts[1:], len(values)]
        pairs = zip(starts, ends, strict=True)
        expected = [sum(map(Fraction, values[a:b].tolist()), Fraction(0)) for a, b in pairs]
        assert exact_runs(found, starts) == expected


def test_more_values_left_over_than_the_room_are_summed_by_numpy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(extract, "LEFT_ROOM", 2)
    values = [1.0, 2.0**-200, 2.0**-400, -(2.0**-600), 3.0, 5.0]
    found = extract.run_sums(np.array(values), np.array([0, 4], np.intp))
    assert found is not None
    assert exact_runs(found, [0, 4]) == [sum(map(Fraction, values[:4])), Fraction(8)]
    squares = [v * v for v in values]  # (2**-400 squared: 0; 2**-200's: left over)
    found = extract.run_sums(np.array(values), np.array([0, 4], np.intp), extract.SQUARES)
    assert found is not None
    assert exact_runs(found, [0, 4]) == [sum(map(Fraction, squares[:4])), Fraction(34)]
    # an inf in a run after the one that overflowed the room: numpy's passes say None too
    for derive in (extract.VALUES, extract.SQUARES):
        with_inf = np.array([*values, INF])
        assert extract.run_sums(with_inf, np.array([0, 4], np.intp), derive) is None


def test_the_compiled_kernel_refuses_runs_outside_the_values() -> None:
    native = compiled.native
    if native is None:
        pytest.skip("the compiled kernel is not built")
    values, sums = np.arange(1.0, 6.0), np.zeros((3, 3))
    room = np.zeros(5, np.int64), np.zeros(5)
    for starts in ([1, 2, 3], [0, 3, 3], [0, 2, 5], [0, 4, 2]):
        with pytest.raises(ValueError, match="starts"):
            native.run_sums(values, np.array(starts, np.int64), sums, *room)
    with pytest.raises(ValueError, match="sums"):
        native.run_sums(values, np.array([0, 2, 4], np.int64), sums[:2], *room)
    with pytest.raises(ValueError, match="empty"):
        native.run_sums(np.zeros(0), None, sums, *room)
    digits, done, out = np.ones((4, 3), np.int64), np.zeros(4, np.uint8), np.zeros(4)
    for width, d0, rows in ((5, 0, 4), (3, 0, 3), (0, 0, 4), (3, 1 << 50, 4)):
        with pytest.raises(ValueError, match="rounded_positive"):
            native.rounded_positive(digits, width, d0, done[:rows], out[:rows])
    for width in (0, 5):
        with pytest.raises(ValueError, match="carry"):
            native.carry(digits, width)


def add_runs(sums: ExactSums, starts: np.ndarray, buckets: np.ndarray, values: np.ndarray):
    """What the document table does with a batch's runs: each run's few exact pieces
    (run_pieces) into its bucket's digits, and their one-bucket total returned."""
    runs, pieces = extract.run_pieces(values, starts)
    sums.add(buckets[runs], pieces, brief=True)
    return exact.one_sum(pieces)


@FIXTURES
@given(runs())
def test_runs_are_summed_exactly_into_their_buckets(kernel: str, case: tuple) -> None:
    n_buckets, starts, buckets, values = case
    sums = ExactSums(n_buckets)
    total = add_runs(sums, np.array(starts, np.intp), np.array(buckets, np.intp), np.array(values))
    lengths = np.diff(starts, append=len(values)).tolist()
    per_row = [b for b, k in zip(buckets, lengths, strict=True) for _ in range(k)]
    assert sums == filled(n_buckets, per_row, values)
    got = sums.finish()
    assert all(map(same_bits, got, references(per_row, values, n_buckets)))
    assert total == filled(1, [0] * len(values), values)  # (what it returns: the sum of all)


@pytest.mark.parametrize("spread", [1.0, 2.0**40])
def test_runs_into_many_buckets_go_straight_into_their_digits(kernel: str, spread: float) -> None:
    """A million documents: each batch's runs land in a few of very many buckets (no
    batch-sized state in between); each bucket is its runs' exact sum."""
    rng = np.random.default_rng(11)
    n_buckets, n = 200_000, 30_000
    values = np.abs(rng.normal(2.3, 1.5, n)).astype(np.float32).astype(np.float64)
    values *= np.exp2(rng.integers(0, 2, n) * np.log2(spread))
    starts = np.concatenate([[0], np.sort(rng.choice(np.arange(1, n), 2_000, False))])
    buckets = rng.choice(n_buckets, len(starts), replace=False).astype(np.intp)
    sums = ExactSums(n_buckets)
    total = add_runs(sums, starts.astype(np.intp), buckets, values)
    bounds = np.append(starts, n)
    got = sums.finish()
    for i in rng.choice(len(starts), 50, replace=False).tolist():
        expected = reference(values[bounds[i] : bounds[i + 1]].tolist())
        assert same_bits(got[buckets[i]], expected)
    assert int(np.count_nonzero(got)) == len(starts)
    assert same_bits(total.total(), reference(values.tolist()))


@pytest.mark.parametrize("scale", [1.0, 2.0**-1000, 2.0**-1060, 2.0**960, 1e-300])
def test_runs_of_float32_and_float64_values_at_any_scale(kernel: str, scale: float) -> None:
    rng = np.random.default_rng(7)
    n = 5000
    narrow = np.abs(rng.normal(2.3, 1.5, n)).astype(np.float32).astype(np.float64)
    wide = rng.normal(0, 1, n) * np.exp2(rng.integers(-40, 40, n).astype(np.float64))
    for values in (narrow * scale, wide * scale, np.concatenate([narrow, [1e-30, 3e-9]])):
        starts = np.concatenate([[0], np.sort(rng.choice(np.arange(1, len(values)), 40, False))])
        buckets = rng.integers(0, 5, len(starts)).astype(np.intp)
        sums = ExactSums(5)
        add_runs(sums, starts.astype(np.intp), buckets, values)
        per_row = np.repeat(buckets, np.diff(starts, append=len(values)))
        expected = references(per_row.tolist(), values.tolist(), 5)
        assert all(map(same_bits, sums.finish(), expected))


def test_carry_keeps_each_rows_value_and_normalises_over_blocks_of_rows(kernel: str) -> None:
    from xent_cli.kernels.digits import BITS, CARRY_ROWS, carry

    rng = np.random.default_rng(3)
    for width in (1, 2, 5):
        digits = rng.integers(-(2**62), 2**62, (CARRY_ROWS + 37, width)) >> rng.integers(0, 40)
        values = [sum(int(d) << (BITS * j) for j, d in enumerate(row)) for row in digits.tolist()]
        out = carry(digits.copy())
        again = [sum(int(d) << (BITS * j) for j, d in enumerate(row)) for row in out.tolist()]
        assert again == values
        assert ((out[:, :-1] >= 0) & (out[:, :-1] < 2**BITS)).all()
        assert ((out[:, -1] >= -(2**BITS)) & (out[:, -1] < 2**BITS)).all()


@pytest.mark.parametrize("scale", [1.0, 2.0**-1040, 2.0**960, 1e-300, 3e200])
def test_long_single_bucket_additions_are_exact_at_any_scale(kernel: str, scale: float) -> None:
    """From ``PRESUM_MIN`` values on, one bucket's values are first summed level by level."""
    rng = np.random.default_rng(11)
    n = 3 * exact.PRESUM_MIN + 5
    narrow = np.abs(rng.normal(2.3, 1.5, n)).astype(np.float32).astype(np.float64)
    wide = rng.normal(0, 1, n) * np.exp2(rng.integers(-40, 40, n).astype(np.float64))
    tiny_mixed = np.concatenate([narrow, [1e-30, -3e-9, 2.0**-1074, 0.0, -0.0]])
    for values in (narrow * scale, wide * scale, tiny_mixed * scale, -narrow * scale):
        sums = ExactSums(1)
        sums.add(None, values[: n // 2])
        sums.add(None, values[n // 2 :])
        assert same_bits(sums.total(), reference(values.tolist()))
        assert sums == filled(1, [0] * len(values), values.tolist())


def test_long_single_bucket_additions_with_non_finite_values_follow_the_rules(
    kernel: str,
) -> None:
    values = np.linspace(-3.0, 7.0, 4 * exact.PRESUM_MIN)
    for special, expected in ((INF, INF), (-INF, -INF), (NAN, NAN)):
        mixed = values.copy()
        mixed[100] = special
        assert same_bits(exact_sum(mixed), expected)
    assert same_bits(exact_sum(values), reference(values.tolist()))


@pytest.mark.parametrize("n", [5, 3 * exact.PRESUM_MIN + 7])
def test_squares_are_summed_exactly_from_scratch_space(kernel: str, n: int) -> None:
    """``add_squares``: the exact sum of each float64 ``v * v``; the scratch is reused by the
    next call (of another size) without changing what the first one added."""
    rng = np.random.default_rng(n)
    values = rng.normal(0, 3, n) * np.exp2(rng.integers(-30, 30, n).astype(np.float64))
    sums = ExactSums(1)
    sums.add_squares(values)
    squares = [v * v for v in values.tolist()]
    assert same_bits(sums.total(), reference(squares))
    sums.add_squares(values[: n // 3])
    assert same_bits(sums.total(), reference(squares + squares[: n // 3]))
    with_inf = values.copy()
    with_inf[1] = -INF
    assert same_bits(exact_sum(with_inf * with_inf), INF)
    special = ExactSums(1)
    special.add_squares(with_inf)
    assert same_bits(special.total(), INF)


def test_finish_of_the_first_buckets_is_the_head_of_finish(kernel: str) -> None:
    """``finish(count)``: the first ``count`` buckets only (zero, negative, huge, inf and
    NaN buckets among them), each as ``finish()`` rounds it."""
    rng = np.random.default_rng(13)
    n = exact.BLOCK + 300
    values = rng.normal(0, 1, 3 * n) * np.exp2(rng.integers(-60, 60, 3 * n).astype(np.float64))
    buckets = rng.integers(0, n - 5, 3 * n).astype(np.intp)  # (the last five: empty)
    special = [(7, INF), (8, NAN), (9, -INF), (10, 1e308), (10, 1e308), (11, -(2.0**-1074))]
    sums = ExactSums(n)
    sums.add(buckets, values)
    sums.add(np.array([b for b, _ in special], np.intp), np.array([v for _, v in special]))
    whole = sums.finish()
    for count in (0, 12, exact.BLOCK, n - 3, n, n + 9):
        head = sums.finish(count)
        assert len(head) == min(count, n)
        assert all(map(same_bits, head, whole[:count]))
    assert whole[10] == INF
    assert (whole < 0).sum() > n // 4  # (negative sums: rounded by their integers)
    assert (whole[-5:] == 0).all()
