"""Kernel accuracy against independent arbitrary-precision references (mpmath).

Every expected value below is derived in this file, from the float64 input values
themselves (``mp.mpf(float)`` is exact), with mpmath at ``DPS`` significant digits, and only
then rounded once to float64. No expected number is copied from documentation.

Tolerances are relative: the kernels promise full relative precision per row, so a loss of
1e-80 must come back as 1e-80 to ~1e-13, not as 0.
"""

from __future__ import annotations

import inspect
import math

import mpmath
import numpy as np
import pandas as pd
import pytest
import scipy.special
from mpmath import mp
from sklearn.metrics import log_loss

import xent_cli
from xent_cli.kernels import numerics as nx
from xent_cli.kernels.scoring import score_binary, score_categorical, score_soft_targets
from xent_cli.options import Kind

# 150 digits: the worst cancellation below is logsumexp(z) - z_y for a loss of 1e-80,
# which loses 80 digits and still leaves ~70 correct ones.
DPS = 150
# Loss of 1e-80 and 1e-12: a margin d with exp(-d) = 10**-p, i.e. d = p * ln(10).
MARGIN_1E80 = 80 * math.log(10.0)
MARGIN_1E12 = 12 * math.log(10.0)
TIGHT = 1e-13  # relative tolerance for "full precision" kernels


# -- mpmath references (each takes float64 values, widens them exactly) -------------------


def _mpf(value: float) -> mpmath.mpf:
    return mp.mpf(float(value))


def ref_categorical(z, y: int) -> mpmath.mpf:
    """loss = log(sum_j exp(z_j)) - z_y, evaluated directly at DPS digits."""
    with mp.workdps(DPS):
        zz = [_mpf(v) for v in z]
        return mp.log(mp.fsum(mp.exp(v) for v in zz)) - zz[y]


def ref_log_softmax(z) -> list[mpmath.mpf]:
    """log softmax(z)_j = z_j - log(sum_i exp(z_i)) at DPS digits."""
    with mp.workdps(DPS):
        zz = [_mpf(v) for v in z]
        lse = mp.log(mp.fsum(mp.exp(v) for v in zz))
        return [v - lse for v in zz]


def ref_softmax(z) -> list[mpmath.mpf]:
    """softmax(z)_j = exp(z_j) / sum_i exp(z_i) at DPS digits."""
    with mp.workdps(DPS):
        zz = [_mpf(v) for v in z]
        total = mp.fsum(mp.exp(v) for v in zz)
        return [mp.exp(v) / total for v in zz]


def ref_binary(z: float, y: float) -> mpmath.mpf:
    """-(y log sigmoid(z) + (1-y) log(1 - sigmoid(z))), with
    -log sigmoid(z) = log1p(exp(-z)) and -log(1 - sigmoid(z)) = log1p(exp(z)).
    mpmath's log1p is accurate at any precision, so exp(-1e4) ~ 1e-4343 is kept exactly."""
    with mp.workdps(DPS):
        zz, yy = _mpf(z), _mpf(y)
        pos = mp.log1p(mp.exp(-zz))
        neg = mp.log1p(mp.exp(zz))
        return yy * pos + (1 - yy) * neg


def ref_neg_log_clipped(q: float, eps: float) -> mpmath.mpf:
    """-log(max(q, eps)) (q <= 1); -log(0) = +inf."""
    with mp.workdps(DPS):
        v = max(_mpf(q), _mpf(eps))
        return mp.inf if v == 0 else -mp.log(v)


def ref_log1mexp(a: float) -> mpmath.mpf:
    """log(1 - exp(a)) directly at 400 digits (enough for a = -1e-300: 1 - exp(a) ~ 1e-300)."""
    with mp.workdps(400):
        aa = mp.mpf(a)
        if aa == -mp.inf:
            return mp.mpf(0)
        one_minus = 1 - mp.exp(aa)
        return -mp.inf if one_minus == 0 else mp.log(one_minus)


def ref_soft(log_q, t) -> mpmath.mpf:
    """-sum_c t_c * log q_c with the convention 0 * log 0 = 0."""
    with mp.workdps(DPS):
        total = mp.mpf(0)
        for lq, tc in zip(log_q, t, strict=True):
            if tc > 0:
                total += _mpf(tc) * (lq if isinstance(lq, mpmath.mpf) else _mpf(lq))
        return -total


# -- comparison helper ---------------------------------------------------------------------


def assert_rel(actual, expected, rtol: float = TIGHT) -> None:
    """Each ``actual`` within ``rtol`` relative of float(expected) (itself rounded once).

    When the exact value rounds to 0 or +-inf in float64, the kernel must return exactly that.
    """
    actual = np.atleast_1d(np.asarray(actual, dtype=np.float64))
    expected = np.atleast_1d(np.asarray(expected, dtype=object))
    assert actual.shape == expected.shape
    for i, (a, e_mp) in enumerate(zip(actual.ravel(), expected.ravel(), strict=True)):
        e = float(e_mp)
        if e == 0.0 or math.isinf(e):
            assert a == e, f"[{i}] got {a!r}, exact value rounds to {e!r}"
            continue
        err = abs(a - e) / abs(e)
        assert err <= rtol, f"[{i}] got {a!r}, expected {e!r} (rel err {err:.3g} > {rtol:g})"


# -- categorical_logits_loss ---------------------------------------------------------------


def test_categorical_logits_at_plus_minus_1e4():
    logits = np.array(
        [
            [1e4, -1e4, 0.0],
            [1e4, -1e4, 0.0],
            [1e4, -1e4, 0.0],
            [-1e4, -1e4, 1e4],
            [1e4, 1e4, -1e4],  # tie at the top: loss log 2 for either top class
            [1e4, 1e4, -1e4],
        ]
    )
    labels = np.array([0, 1, 2, 2, 1, 2])
    loss, predicted = nx.categorical_logits_loss(logits, labels)
    # references: logsumexp(z) - z_y in mpmath; e.g. row 1 is 2e4 (+ exp(-1e4) terms),
    # row 4 is log 2 (+ ~e^-2e4), row 5 is 2e4 + log 2.
    assert_rel(loss, [ref_categorical(z, y) for z, y in zip(logits, labels, strict=True)])
    assert np.isfinite(loss).all()
    np.testing.assert_array_equal(predicted, [0, 0, 0, 2, 0, 0])


@pytest.mark.parametrize(("k", "n", "scale"), [(2, 64, 3.0), (10, 64, 5.0), (1000, 6, 4.0)])
def test_categorical_logits_random(k, n, scale):
    rng = np.random.default_rng(1000 + k)
    logits = rng.normal(0.0, scale, size=(n, k))
    labels = rng.integers(0, k, size=n)
    labels[0] = logits[0].argmax()  # at least one confidently-right-ish row
    loss, predicted = nx.categorical_logits_loss(logits, labels)
    # reference: logsumexp(z) - z_y at DPS digits, per row
    assert_rel(loss, [ref_categorical(z, y) for z, y in zip(logits, labels, strict=True)])
    np.testing.assert_array_equal(predicted, logits.argmax(axis=1))


def test_categorical_true_class_800_below():
    # K = 3: true class 800 below two others; exp(-800) underflows in float64, yet the loss
    # must be finite and exact: 800 + log(1 + exp(-2.5)) (z_top = 2.5 + ...; see reference).
    # K = 10: the true logit is max - 800, the rest random.
    rng = np.random.default_rng(800)
    row10 = rng.normal(0.0, 2.0, size=10)
    row10[4] = row10.max() - 800.0
    logits_list = [np.array([2.5, 0.0, 2.5 - 800.0]), np.array([0.0, 0.0, -800.0]), row10]
    labels_list = [2, 2, 4]
    for z, y in zip(logits_list, labels_list, strict=True):
        loss, _ = nx.categorical_logits_loss(z[None, :], np.array([y]))
        expected = ref_categorical(z, y)  # log(sum exp z) - z_y at DPS digits, ~800.x
        assert 800.0 < float(expected) < 810.0
        assert np.isfinite(loss).all()
        assert_rel(loss, [expected], rtol=1e-15)


@pytest.mark.parametrize(
    ("margin", "size"), [(MARGIN_1E80, 1e-80), (MARGIN_1E12, 1e-12)], ids=["1e-80", "1e-12"]
)
def test_categorical_confidently_right_keeps_relative_precision(margin, size):
    # Row A (K=2): z = [0, -d]; exact loss log(1 + e^-d) ~ e^-d = size.
    # Row B (K=10): z_y = 3, the nine others at 3 - d - ln 9, so sum_j e^(z_j - z_y) = e^-d.
    # Row C (K=10, label not first): same as B with the true class at index 7.
    row_b = np.full(10, 3.0 - margin - math.log(9.0))
    row_b[0] = 3.0
    row_c = np.roll(row_b, 7)
    logits = np.vstack([np.pad([0.0, -margin], (0, 8), constant_values=-1e4), row_b, row_c])
    labels = np.array([0, 0, 7])
    loss, predicted = nx.categorical_logits_loss(logits, labels)
    expected = [ref_categorical(z, y) for z, y in zip(logits, labels, strict=True)]
    for e in expected:  # the derivation really lands on the intended magnitude
        assert 0.5 * size < float(e) < 2.0 * size
    assert_rel(loss, expected, rtol=TIGHT)
    np.testing.assert_array_equal(predicted, labels)
    # The textbook m + log(sum exp(z - m)) - z_y cannot do this for 1e-80: it rounds to 0.
    if size < 1e-20:
        top = logits.max(axis=1)
        naive = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
        assert (naive - logits[np.arange(3), labels] == 0.0).all()


def test_categorical_float32_inputs_are_widened_to_float64():
    # float32 logits; the reference uses the float32 values widened exactly to float64.
    rng = np.random.default_rng(32)
    logits32 = rng.normal(0.0, 4.0, size=(40, 5)).astype(np.float32)
    logits32[0] = np.array([20.0, 0.0, 0.0, 0.0, 0.0], np.float32)  # loss ~ 4 e^-20
    labels = rng.integers(0, 5, size=40)
    labels[0] = 0
    widened = logits32.astype(np.float64)
    expected = [ref_categorical(z, y) for z, y in zip(widened, labels, strict=True)]

    loss, _ = nx.categorical_logits_loss(widened, labels)
    assert loss.dtype == np.float64
    assert_rel(loss, expected)

    # Through the public API with float32 DataFrame columns: the sum of the per-row losses
    # (all positive, so no cancellation) must match the float64 reference to full precision.
    frame = pd.DataFrame({f"logit_{j}": logits32[:, j] for j in range(5)})
    frame.insert(0, "label", labels)
    assert frame["logit_0"].dtype == np.float32
    report = xent_cli.evaluate(frame)
    with mp.workdps(DPS):
        total = mp.fsum(expected)
    assert_rel([report.loss_sum], [total])
    assert_rel([report.loss], [total / 40])
    # a float32 computation would be off by ~1e-7 relative on row 0 (loss ~ 8e-9)
    single = xent_cli.evaluate(frame.iloc[:1])
    assert_rel([single.loss], [expected[0]])


def test_evaluate_reports_1e80_loss():
    frame = pd.DataFrame({"label": [0], "logit_0": [0.0], "logit_1": [-MARGIN_1E80]})
    report = xent_cli.evaluate(frame)
    expected = ref_categorical([0.0, -MARGIN_1E80], 0)  # ~1e-80
    assert_rel([report.loss], [expected])
    assert_rel([report.loss_sum], [expected])
    assert report.accuracy == 1.0


# -- binary_logits_loss --------------------------------------------------------------------

BINARY_Z = [1e4, -1e4, 40.0, -40.0, 700.0, -745.0, 0.5, -0.5, 1e-300, 0.0, 36.7, -36.7]


@pytest.mark.parametrize("y", [0.0, 1.0])
def test_binary_logits(y):
    z = np.array(BINARY_Z)
    loss = nx.binary_logits_loss(z, np.full(len(z), y))
    # reference: y*log1p(exp(-z)) + (1-y)*log1p(exp(z)) in mpmath. For y=1, z=40 this is
    # ~4.25e-18 (must be kept, not rounded to 0); z=1e4 gives ~e^-1e4, which rounds to 0.
    assert_rel(loss, [ref_binary(v, y) for v in z])
    assert np.isfinite(loss).all()


def test_binary_logits_soft_target():
    z = np.array([1e4, -1e4, 40.0, -40.0, 1.5])
    t = np.array([0.3, 0.3, 0.25, 0.75, 0.5])
    loss = nx.binary_logits_loss(z, t)
    # reference: t*log1p(e^-z) + (1-t)*log1p(e^z); e.g. z=1e4, t=0.3 gives 0.7e4 exactly-ish
    assert_rel(loss, [ref_binary(v, tv) for v, tv in zip(z, t, strict=True)])


# -- clipped_neg_log -----------------------------------------------------------------------


@pytest.mark.parametrize("eps", [1e-15, 0.0])
def test_clipped_neg_log(eps):
    q = np.array([1.0, 0.5, 0.999, 1e-15, 1e-16, 1e-300, 5e-324, 0.0])
    loss = nx.clipped_neg_log(q, eps)
    # reference: -log(max(q, eps)); eps = 1e-15 gives -log(1e-15) for q <= 1e-15,
    # eps = 0 gives inf for q = 0 and -log(5e-324) ~ 744.4 for the smallest subnormal.
    assert_rel(loss, [ref_neg_log_clipped(v, eps) for v in q])
    if eps > 0:
        assert loss[-1] == loss[-2] == float(ref_neg_log_clipped(0.0, eps))
        assert np.isfinite(loss).all()
    else:
        assert loss[-1] == math.inf


# -- log1mexp ------------------------------------------------------------------------------


def test_log1mexp():
    ln2 = math.log(2.0)
    a = np.array(
        [
            -1e-300,
            -1e-100,
            -1e-20,
            -1e-10,
            -1e-3,
            -0.5,
            -ln2,
            np.nextafter(-ln2, 0.0),
            np.nextafter(-ln2, -1.0),
            -1.0,
            -10.0,
            -40.0,
            -745.0,
            -1000.0,
            -math.inf,
            0.0,
        ]
    )
    out = nx.log1mexp(a)
    # reference: log(1 - exp(a)) directly at 400 digits; a = 0 -> -inf, a = -inf -> 0.
    assert_rel(out, [ref_log1mexp(v) for v in a])
    assert out[-1] == -math.inf
    assert out[-2] == 0.0


# -- log_softmax ---------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "scale"), [(2, 3.0), (10, 6.0), (1000, 4.0)])
def test_log_softmax_random(k, scale):
    rng = np.random.default_rng(77 + k)
    logits = rng.normal(0.0, scale, size=(8, k))
    out = nx.log_softmax(logits)
    # reference: z_j - log(sum_i exp(z_i)) at DPS digits. log_softmax is an absolute-error
    # kernel (its near-zero entries are 0 - log(1 + tiny)); allow a few ulps of the row scale.
    for row, got in zip(logits, out, strict=True):
        expected = np.array([float(v) for v in ref_log_softmax(row)])
        atol = 8 * np.finfo(float).eps * max(1.0, np.abs(row).max())
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=atol)


def test_log_softmax_extreme():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [0.0, -800.0, -1e4]])
    out = nx.log_softmax(logits)
    # reference: mpmath log softmax; row 1 = -log 3 everywhere; row 0 = [~0, -2e4, -1e4].
    for row, got in zip(logits, out, strict=True):
        assert_rel(got, ref_log_softmax(row), rtol=1e-15)


# -- soft_target_loss ----------------------------------------------------------------------


def test_soft_target_loss_zero_times_log_zero():
    log_q = np.array(
        [
            [math.log(0.5), math.log(0.25), math.log(0.25)],
            [0.0, -math.inf, -math.inf],  # q = [1, 0, 0], t = [1, 0, 0]: 0 * log 0 = 0
            [math.log(0.5), math.log(0.5), -math.inf],  # t puts 0.1 on a zero: inf
            [-1e4, -1e-300, -40.0],
        ]
    )
    t = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.45, 0.45, 0.1], [0.25, 0.5, 0.25]])
    loss = nx.soft_target_loss(log_q, t)
    # reference: -sum_c t_c log q_c over t_c > 0 in mpmath
    assert_rel(loss, [ref_soft(lq, tc) for lq, tc in zip(log_q, t, strict=True)])
    assert loss[1] == 0.0
    assert loss[2] == math.inf


# -- scoring: categorical ------------------------------------------------------------------


def test_score_categorical_logits():
    rng = np.random.default_rng(5)
    logits = rng.normal(0.0, 5.0, size=(50, 10))
    logits[0] = [1e4, -1e4, 0, 0, 0, 0, 0, 0, 0, 0]
    logits[1] = [0.0, -MARGIN_1E80, *([-1e4] * 8)]
    labels = rng.integers(0, 10, size=50)
    labels[:2] = 0
    s = score_categorical(logits, labels, Kind.logits, 1e-15)
    # reference loss: logsumexp(z) - z_y; p_true: softmax(z)_y; both in mpmath
    assert_rel(s.loss, [ref_categorical(z, y) for z, y in zip(logits, labels, strict=True)])
    p_ref = [ref_softmax(z)[y] for z, y in zip(logits, labels, strict=True)]
    assert_rel(s.p_true, p_ref, rtol=1e-12)
    np.testing.assert_array_equal(s.predicted, logits.argmax(axis=1))
    np.testing.assert_array_equal(s.classes, labels)
    assert not s.zero.any()


def _softmax64(z) -> np.ndarray:
    """softmax rounded once to float64 from the mpmath value."""
    return np.array([float(v) for v in ref_softmax(z)])


@pytest.mark.parametrize("eps", [1e-15, 0.0])
def test_score_categorical_probs(eps):
    rng = np.random.default_rng(6)
    probs = np.vstack([_softmax64(z) for z in rng.normal(0.0, 2.0, size=(20, 4))])
    special = np.array(
        [
            [0.0, 0.5, 0.5, 0.0],  # label 0: probability 0
            [1e-16, 0.5, 0.5 - 1e-16, 0.0],  # label 0: below eps = 1e-15
            [1e-15, 0.5, 0.5 - 1e-15, 0.0],  # label 0: exactly eps (not below)
            [1.0, 0.0, 0.0, 0.0],  # label 0: certain, loss 0
        ]
    )
    probs = np.vstack([special, probs])
    labels = np.concatenate([[0, 0, 0, 0], rng.integers(0, 4, size=20)])
    s = score_categorical(probs, labels, Kind.probs, eps)
    q = probs[np.arange(len(labels)), labels]
    # reference: -log(max(q, eps)) in mpmath; eps=1e-15 -> -log(1e-15) ~ 34.54 for q = 0;
    # eps = 0 -> +inf for q = 0.
    assert_rel(s.loss, [ref_neg_log_clipped(v, eps) for v in q])
    if eps > 0:
        assert s.loss[0] == s.loss[1] == float(-mp.log(mp.mpf(1e-15)))
        np.testing.assert_array_equal(s.zero[:4], [True, True, False, False])
    else:
        assert s.loss[0] == math.inf
        np.testing.assert_array_equal(s.zero[:4], [True, False, False, False])
    assert not s.zero[4:].any()
    np.testing.assert_array_equal(s.p_true, q)
    np.testing.assert_array_equal(s.predicted, probs.argmax(axis=1))


@pytest.mark.parametrize("eps", [1e-15, 0.0])
def test_score_categorical_log_probs(eps):
    rng = np.random.default_rng(7)
    logits = rng.normal(0.0, 3.0, size=(20, 4))
    log_probs = np.vstack(
        [
            [-math.inf, 0.0, -math.inf, -math.inf],  # label 0 has probability 0
            [-1e4, -1e-300, -800.0, -math.inf],  # label 0: -1e4 (finite: not clipped)
            *[[float(v) for v in ref_log_softmax(z)] for z in logits],
        ]
    )
    labels = np.concatenate([[0, 0], rng.integers(0, 4, size=20)])
    s = score_categorical(log_probs, labels, Kind.log_probs, eps)
    lq = log_probs[np.arange(len(labels)), labels]
    # reference: loss = -log q_y; a -inf log-probability is probability 0 -> -log(eps)
    # (clipped, flagged) or +inf when eps = 0.
    expected = [ref_neg_log_clipped(0.0, eps) if v == -math.inf else -_mpf(v) for v in lq]
    assert_rel(s.loss, expected)
    np.testing.assert_array_equal(s.zero, np.isneginf(lq))
    assert s.zero[0]
    assert not s.zero[1:].any()
    assert s.loss[1] == 1e4


# -- scoring: binary -----------------------------------------------------------------------


def test_score_binary_logits():
    z = np.array(BINARY_Z * 2)
    labels = np.repeat([0, 1], len(BINARY_Z))
    s = score_binary(z, labels, Kind.logits, 1e-15)
    # reference: log1p(exp(-z)) for y = 1, log1p(exp(z)) for y = 0 (mpmath)
    assert_rel(s.loss, [ref_binary(v, y) for v, y in zip(z, labels, strict=True)])
    # p_true: sigmoid(z) for y = 1, sigmoid(-z) for y = 0, i.e. exp(-reference loss)
    with mp.workdps(DPS):
        p_ref = [mp.exp(-ref_binary(v, y)) for v, y in zip(z, labels, strict=True)]
    assert_rel(s.p_true, p_ref, rtol=1e-12)
    np.testing.assert_array_equal(s.predicted, (z > 0).astype(int))
    assert not s.zero.any()


@pytest.mark.parametrize("eps", [1e-15, 0.0])
def test_score_binary_probs(eps):
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.25, 0.25, 1e-16, 1 - 2**-53, 0.5])
    labels = np.array([1, 0, 0, 1, 1, 0, 1, 0, 1])
    s = score_binary(p, labels, Kind.probs, eps)
    # q = p for y = 1, 1 - p for y = 0 (computed exactly in mpmath from the float p);
    # loss = -log(max(q, eps)).
    with mp.workdps(DPS):
        q = [_mpf(v) if y == 1 else 1 - _mpf(v) for v, y in zip(p, labels, strict=True)]
        expected = [mp.inf if max(v, eps) == 0 else -mp.log(max(v, _mpf(eps))) for v in q]
    assert_rel(s.loss, expected)
    zero = [float(v) < eps if eps > 0 else float(v) <= 0 for v in q]
    np.testing.assert_array_equal(s.zero, zero)
    if eps > 0:
        assert s.loss[0] == s.loss[1] == float(-mp.log(mp.mpf(1e-15)))
    else:
        assert s.loss[0] == s.loss[1] == math.inf
    assert s.loss[2] == s.loss[3] == 0.0
    np.testing.assert_array_equal(s.predicted, (p > 0.5).astype(int))


@pytest.mark.parametrize("eps", [1e-15, 0.0])
def test_score_binary_log_probs(eps):
    a = np.array([-math.inf, 0.0, -math.inf, 0.0, -1e-20, -1e-20, -40.0, -40.0, -0.5, -0.5])
    labels = np.array([1, 0, 0, 1, 0, 1, 0, 1, 0, 1])
    s = score_binary(a, labels, Kind.log_probs, eps)
    # log q = a for y = 1, log(1 - exp(a)) for y = 0 (mpmath at 400 digits); loss = -log q,
    # with log q = -inf -> -log(eps) (flagged) or +inf when eps = 0.
    log_q = [_mpf(v) if y == 1 else ref_log1mexp(v) for v, y in zip(a, labels, strict=True)]
    expected = [ref_neg_log_clipped(0.0, eps) if v == -mp.inf else -v for v in log_q]
    assert_rel(s.loss, expected)
    np.testing.assert_array_equal(s.zero, [v == -mp.inf for v in log_q])
    assert s.zero[0]
    assert s.zero[1]
    assert not s.zero[2:].any()
    assert 46.0 < s.loss[4] < 46.1  # -log(1 - e^-1e-20) = -log(~1e-20)


# -- scoring: soft targets -----------------------------------------------------------------


def test_score_soft_targets_logits():
    rng = np.random.default_rng(9)
    logits = rng.normal(0.0, 4.0, size=(30, 6))
    logits[0] = [1e4, -1e4, 0, 0, 0, 0]
    targets = rng.dirichlet(np.ones(6), size=30)
    targets[1] = [0, 0, 1, 0, 0, 0]
    s = score_soft_targets(logits, targets, Kind.logits, 1e-15)
    # reference: -sum_c t_c (log softmax z)_c in mpmath
    expected = [ref_soft(ref_log_softmax(z), t) for z, t in zip(logits, targets, strict=True)]
    assert_rel(s.loss, expected, rtol=1e-12)
    np.testing.assert_array_equal(s.classes, targets.argmax(axis=1))
    np.testing.assert_array_equal(s.predicted, logits.argmax(axis=1))
    assert not s.zero.any()


@pytest.mark.parametrize("eps", [1e-15, 0.0])
def test_score_soft_targets_probs(eps):
    probs = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    targets = np.array([[0.5, 0.5, 0.0], [0.4, 0.4, 0.2], [0.1, 0.1, 0.8], [1.0, 0.0, 0.0]])
    s = score_soft_targets(probs, targets, Kind.probs, eps)
    # reference: -sum_c t_c log max(p_c, eps), 0 * log 0 = 0; row 1 puts 0.2 on a zero:
    # 0.2 * -log(eps) more with eps = 1e-15, +inf with eps = 0.
    with mp.workdps(DPS):
        log_q = [
            [mp.log(max(_mpf(v), _mpf(eps))) if max(v, eps) > 0 else -mp.inf for v in row]
            for row in probs
        ]
    expected = [ref_soft(lq, t) for lq, t in zip(log_q, targets, strict=True)]
    assert_rel(s.loss, expected)
    np.testing.assert_array_equal(s.zero, [False, True, False, False])
    assert s.loss[0] == float(mp.log(2))
    assert s.loss[3] == 0.0
    assert (s.loss[1] == math.inf) == (eps == 0)


@pytest.mark.parametrize("eps", [1e-15, 0.0])
def test_score_soft_targets_log_probs(eps):
    ln = math.log
    log_probs = np.array(
        [[ln(0.5), ln(0.5), -math.inf], [ln(0.5), ln(0.5), -math.inf], [-1e4, 0.0, -40.0]]
    )
    targets = np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5], [0.5, 0.25, 0.25]])
    s = score_soft_targets(log_probs, targets, Kind.log_probs, eps)
    # reference: -sum_c t_c log q_c; -inf (probability 0) becomes log(eps), or stays -inf
    # (loss inf) when eps = 0.
    with mp.workdps(DPS):
        log_q = [
            [
                (mp.log(_mpf(eps)) if eps > 0 else -mp.inf) if v == -math.inf else _mpf(v)
                for v in row
            ]
            for row in log_probs
        ]
    expected = [ref_soft(lq, t) for lq, t in zip(log_q, targets, strict=True)]
    assert_rel(s.loss, expected)
    np.testing.assert_array_equal(s.zero, [False, True, False])
    assert s.loss[2] == 0.5e4 + 0.25 * 40.0


# -- cross-checks with scipy / scikit-learn on seeded random batches -----------------------


def _log_loss(y, proba, **kwargs) -> float:
    """sklearn.metrics.log_loss, passing the probabilities by the keyword this version uses."""
    key = "y_proba" if "y_proba" in inspect.signature(log_loss).parameters else "y_pred"
    return float(log_loss(y, **{key: proba}, **kwargs))


def test_log_softmax_matches_scipy():
    rng = np.random.default_rng(2024)
    logits = rng.normal(0.0, 5.0, size=(500, 10))
    np.testing.assert_allclose(
        nx.log_softmax(logits), scipy.special.log_softmax(logits, axis=1), rtol=1e-12, atol=1e-13
    )
    labels = rng.integers(0, 10, size=500)
    loss, _ = nx.categorical_logits_loss(logits, labels)
    naive = -scipy.special.log_softmax(logits, axis=1)[np.arange(500), labels]
    np.testing.assert_allclose(loss, naive, rtol=1e-11, atol=1e-13)


def test_categorical_matches_sklearn_log_loss():
    rng = np.random.default_rng(11)
    n, k = 400, 7
    logits = rng.normal(0.0, 2.0, size=(n, k))
    labels = rng.integers(0, k, size=n)
    weights = rng.integers(0, 5, size=n).astype(float)
    probs = scipy.special.softmax(logits, axis=1)
    assert probs.min() > 1e-10  # sklearn clips to [2.2e-16, 1 - 2.2e-16]: keep away from it
    for w in (None, weights):
        expected = _log_loss(labels, probs, labels=list(range(k)), sample_weight=w)
        frame = pd.DataFrame(logits, columns=[f"logit_{j}" for j in range(k)])
        frame.insert(0, "label", labels)
        pframe = pd.DataFrame(probs, columns=[f"prob_{j}" for j in range(k)])
        pframe.insert(0, "label", labels)
        options = {}
        if w is not None:
            frame["w"] = w
            pframe["w"] = w
            options["weight"] = "w"
        by_logits = xent_cli.evaluate(frame, **options)
        by_probs = xent_cli.evaluate(pframe, **options)
        assert by_logits.loss == pytest.approx(expected, rel=1e-12)
        assert by_probs.loss == pytest.approx(expected, rel=1e-12)
        assert by_logits.warnings == []
        assert by_probs.warnings == []


def test_binary_matches_sklearn_log_loss():
    rng = np.random.default_rng(12)
    n = 300
    z = rng.normal(0.0, 3.0, size=n)
    labels = rng.integers(0, 2, size=n)
    p = scipy.special.expit(z)
    expected = _log_loss(labels, p)
    assert xent_cli.evaluate(
        pd.DataFrame({"label": labels, "logit": z}), kind="logits"
    ).loss == pytest.approx(expected, rel=1e-12)
    assert xent_cli.evaluate(
        pd.DataFrame({"label": labels, "p": p}), kind="probs"
    ).loss == pytest.approx(expected, rel=1e-12)
    # and the kernel itself against the direct mpmath reference, row by row
    assert_rel(
        nx.binary_logits_loss(z, labels.astype(float)),
        [ref_binary(v, y) for v, y in zip(z, labels, strict=True)],
    )


# -- zero probabilities through the public API ---------------------------------------------


@pytest.mark.parametrize("eps", [1e-15, 0.0])
def test_evaluate_zero_probability(eps):
    frame = pd.DataFrame(
        {"label": [0, 1, 1], "prob_0": [0.0, 0.5, 0.25], "prob_1": [1.0, 0.5, 0.75]}
    )
    report = xent_cli.evaluate(frame, eps=eps)
    # reference: mean of [-log max(0, eps), -log 0.5, -log 0.75] in mpmath
    with mp.workdps(DPS):
        losses = [ref_neg_log_clipped(0.0, eps), -mp.log(mp.mpf(0.5)), -mp.log(mp.mpf(0.75))]
        expected = mp.fsum(losses) / 3
    assert_rel([report.loss], [expected])
    assert report.zero_probability == 1
    codes = {w.code: w for w in report.warnings}
    assert codes["zero-probability"].rows == [0]
    assert report.to_dict()["classes"][0]["zero_probability"] == 1
