"""Student's t distribution (xent_cli.kernels.tdist) against scipy.stats and exact closed forms.

Two known scipy (Boost 1.x) weaknesses are avoided, not copied: ``scipy.stats.t.sf`` with
df == 1 exactly is off near t = 0 (t = 1e-8: 0.49999999526 instead of 0.49999999682), so
df == 1 is checked against ``scipy.stats.cauchy``; and ``scipy.stats.t.ppf`` has an
*absolute* error near q = 1/2 (at df = 4: 3.7e-5 relative at q = 0.500001) and fails in
the far tails, so near the centre quantiles are checked with mpmath, and in the tails only
where scipy's own cdf confirms its answer. ``scipy.stats.t.pdf`` is off by 2e-12 at
df = 1e4, t = 1: the density is checked with mpmath.
"""

from __future__ import annotations

import math

import mpmath
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from xent_cli.kernels.tdist import normal_ppf, t_pdf, t_ppf, t_sf, t_two_sided_p

SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=400)
SF_RTOL = 1e-12
PPF_RTOL = 1e-13


def scipy_sf(t: float, df: float) -> float:
    if df == 1.0:
        return float(scipy.stats.cauchy.sf(t))
    return float(scipy.stats.t.sf(t, df))


def close(got: float, want: float, rtol: float) -> bool:
    return abs(got - want) <= rtol * abs(want)


def mp_sf(t: float, df: float) -> float:
    """P(T > t) from mpmath at 50 digits (for small and moderate df)."""
    with mpmath.workdps(50):
        tt, nu = mpmath.mpf(t), mpmath.mpf(df)
        x = nu / (nu + tt * tt)
        half = mpmath.betainc(nu / 2, mpmath.mpf(1) / 2, 0, x, regularized=True) / 2
        return float(half if tt >= 0 else 1 - half)


# ------------------------------------------------------------------ strategies

dfs = st.one_of(
    st.floats(0.0, 9.0).map(lambda e: 10.0**e),  # 1 .. 1e9, log-uniform
    st.sampled_from([1.0, 1.5, 2.0, 3.0, 4.0, 29.5, 30.0, 31.0, 100.0, 1e6, 1e9]),
)
magnitudes = st.one_of(
    st.floats(-10.0, 6.0).map(lambda e: 10.0**e),  # 1e-10 .. 1e6
    st.floats(0.0, 60.0),
    st.sampled_from([0.0, 1e-8, 0.5, 1.0, 1.7, 2.0, 50.0, 1e6]),
)
ts = st.tuples(magnitudes, st.booleans()).map(lambda p: -p[0] if p[1] else p[0])
qs = st.one_of(
    st.floats(1.0, 300.0).map(lambda e: 10.0**-e),  # tails, 1e-300 .. 0.1
    st.floats(1e-6, 1.0 - 1e-6),
    st.floats(1.0, 15.0).map(lambda e: 1.0 - 10.0**-e),
    st.floats(1.0, 15.0).map(lambda e: 0.5 + 10.0**-e),
    st.floats(1.0, 15.0).map(lambda e: 0.5 - 10.0**-e),
)


# ------------------------------------------------------------------ sf


@SETTINGS
@given(ts, dfs)
def test_sf_matches_scipy(t: float, df: float) -> None:
    want = scipy_sf(t, df)
    got = t_sf(t, df)
    if want < 1e-290:  # at and below the subnormal range: both (nearly) underflow
        assert got < 1e-280
        return
    assert close(got, want, SF_RTOL), (t, df, got, want)


@SETTINGS
@given(ts, dfs)
def test_two_sided_p_matches_scipy(t: float, df: float) -> None:
    want = min(1.0, 2.0 * scipy_sf(abs(t), df))
    got = t_two_sided_p(t, df)
    assert 0.0 <= got <= 1.0
    if want < 1e-290:
        assert got < 1e-280
        return
    assert close(got, want, SF_RTOL), (t, df, got, want)


@SETTINGS
@given(ts, dfs)
def test_sf_is_complementary_and_monotone(t: float, df: float) -> None:
    upper, lower = t_sf(t, df), t_sf(-t, df)
    assert abs(upper + lower - 1.0) <= 4e-16
    if t > 0:
        assert upper <= 0.5 <= lower
        assert t_sf(t * 1.5, df) <= upper


@settings(SETTINGS, max_examples=150)
@given(magnitudes, dfs)
def test_pdf_matches_mpmath(t: float, df: float) -> None:
    """(scipy.stats.t.pdf itself is off by ~2e-12 at df = 1e4, t = 1: mpmath instead.)"""
    with mpmath.workdps(50):
        nu, tt = mpmath.mpf(df), mpmath.mpf(t)
        log_pdf = (
            mpmath.loggamma((nu + 1) / 2)
            - mpmath.loggamma(nu / 2)
            - mpmath.log(nu * mpmath.pi) / 2
            - (nu + 1) / 2 * mpmath.log1p(tt * tt / nu)
        )
        want = float(mpmath.exp(log_pdf))
    if want < 1e-290:
        assert t_pdf(t, df) < 1e-280
        return
    cond = max(1.0, float((nu + 1) * tt * tt / (nu + tt * tt)))  # |d log pdf / d log t|
    assert close(t_pdf(t, df), want, 1e-14 * cond), (t, df)


# ------------------------------------------------------------------ quantiles


def exact_ppf(q: float, df: float) -> float:
    """The quantile for df = 1 and df = 2 in closed form, from p = min(q, 1 - q) (exact)."""
    p = min(q, 1.0 - q)
    with mpmath.workdps(60):
        pp = mpmath.mpf(p)
        if df == 1.0:  # cot(pi p)
            magnitude = mpmath.cot(mpmath.pi * pp)
        else:  # df = 2: p = 1/2 - t / (2 sqrt(2 + t^2))  =>  t = (1 - 2p) / sqrt(2 p (1 - p))
            assert df == 2.0
            magnitude = (1 - 2 * pp) / mpmath.sqrt(2 * pp * (1 - pp))
        return float(-magnitude if q < 0.5 else magnitude)


def ppf_allowance(want: float, df: float) -> float:
    """scipy's error near q = 1/2 is absolute in probability (~eps): ~eps / pdf in t."""
    pdf = t_pdf(want, df)
    return PPF_RTOL * abs(want) + (2e-16 / pdf if pdf > 1e-100 else 0.0)


@SETTINGS
@given(qs, dfs)
def test_ppf_matches_scipy(q: float, df: float) -> None:
    if not 0.0 < q < 1.0:
        return
    got = t_ppf(q, df)
    if q == 0.5:
        assert got == 0.0
        return
    want = float(scipy.stats.t.ppf(q, df))
    if df == 1.0:  # Cauchy: exactly tan(pi (q - 1/2))
        want = exact_ppf(q, df)
        assert close(got, want, PPF_RTOL), (q, got, want)
        return
    if 0.25 <= q <= 0.75:
        # scipy's error is absolute here (3.7e-5 relative at df = 4, q = 0.500001): the
        # centre P(0 < T < t) from mpmath instead, to the quantile's condition number
        # scipy's own error is absolute in probability; at df = 4 (a closed form in Boost)
        # it is 3.7e-5 relative at q = 0.500001: mpmath alone there
        if df != 4.0:
            assert abs(got - want) <= 1e-12 / t_pdf(want, df)
        c = abs(q - 0.5)  # exact
        with mpmath.workdps(40):
            tt, nu = mpmath.mpf(abs(got)), mpmath.mpf(df)
            y = tt * tt / (nu + tt * tt)
            centre = mpmath.betainc(mpmath.mpf(1) / 2, nu / 2, 0, y, regularized=True) / 2
            error = float(abs(centre - c) / c)
        cond = abs(got) * t_pdf(got, df) / c  # relative change in t per relative change in c
        assert error <= 1e-13 * max(1.0, cond), (q, df, got)
        return
    if not math.isfinite(want) or abs(want) > 1e150:
        return
    p = min(q, 1.0 - q)
    if abs(float(scipy.stats.t.sf(abs(want), df)) - p) > 1e-10 * p:
        return  # scipy's quantile is not its own cdf's inverse here: no reference
    if abs(got - want) > ppf_allowance(want, df):
        # scipy's quantile can be the worse one (1.3e-11 off at df = 4.64, q = 5.4e-250):
        # then ours must invert scipy's own sf better than scipy's quantile does
        mine = abs(float(scipy.stats.t.sf(abs(got), df)) - p)
        theirs = abs(float(scipy.stats.t.sf(abs(want), df)) - p)
        cond = max(1.0, abs(got) * t_pdf(got, df) / p)
        assert mine < theirs, (q, df, got, want)
        assert mine <= 1e-12 * cond * p, (q, df, got, want)


@SETTINGS
@given(qs, dfs)
def test_ppf_inverts_sf(q: float, df: float) -> None:
    """sf(ppf(q)) == 1 - q, to the condition number of the quantile."""
    if not 0.0 < q < 1.0:
        return
    t = t_ppf(q, df)
    if not math.isfinite(t) or q == 0.5:
        assert q == 0.5
        assert t == 0.0
        return
    p = min(q, 1.0 - q)
    tail = t_sf(abs(t), df)
    if p < 0.25:
        cond = max(1.0, abs(t) * t_pdf(t, df) / p)
        assert abs(tail - p) <= 1e-13 * cond * p, (q, df, t)
    else:  # compare centres: 1/2 - p is exact
        centre = 0.5 - tail
        assert abs(centre - (0.5 - p)) <= 1e-13 * (0.5 - p) + 2e-16, (q, df, t)
    assert (t < 0) == (q < 0.5)


@SETTINGS
@given(qs)
def test_normal_ppf_matches_scipy(q: float) -> None:
    if not 0.0 < q < 1.0:
        return
    got = normal_ppf(q)
    want = float(scipy.stats.norm.ppf(q))
    allowance = PPF_RTOL * abs(want)
    if 0.25 <= q <= 0.75:  # scipy's error is absolute there; check ours against erf
        centre = 0.5 * math.erf(abs(got) / math.sqrt(2))
        assert abs(centre - abs(q - 0.5)) <= 1e-14 * abs(q - 0.5)
        allowance += 1e-16 / float(scipy.stats.norm.pdf(want))
    assert abs(got - want) <= allowance, (q, got, want)


@SETTINGS
@given(qs, st.sampled_from([1e21, 1e300, math.inf]))
def test_huge_df_is_normal(q: float, df: float) -> None:
    if not 0.0 < q < 1.0:
        return
    assert t_ppf(q, df) == normal_ppf(q)
    z = normal_ppf(q)
    assert close(t_sf(z, df), 0.5 * math.erfc(z / math.sqrt(2)), 1e-15)


# ------------------------------------------------------------------ hard cases

HARD = [(t, df) for df in (1.0, 2.0, 1e6) for t in (1e-8, -1e-8, 50.0, -50.0, 1.0, 1e6)]


@pytest.mark.parametrize(("t", "df"), HARD)
def test_hard_sf_cases(t: float, df: float) -> None:
    got = t_sf(t, df)
    if df == 1.0:
        want = math.atan2(1.0, t) / math.pi  # Cauchy, exactly
    elif df == 2.0:
        with mpmath.workdps(50):  # sf = (1 - t / sqrt(2 + t^2)) / 2
            tt = mpmath.mpf(t)
            want = float((1 - tt / mpmath.sqrt(2 + tt * tt)) / 2)
    else:
        want = float(scipy.stats.t.sf(t, df))
    if want < 1e-290:
        assert got < 1e-280
    else:
        assert close(got, want, 1e-14), (t, df, got, want)
        assert close(got, scipy_sf(t, df), SF_RTOL)


@pytest.mark.parametrize(
    ("t", "df"), [(1e-8, 1.5), (50.0, 3.0), (1e6, 1.0), (1e6, 7.5), (1e150, 1.25), (2.0, 29.0)]
)
def test_sf_against_mpmath(t: float, df: float) -> None:
    assert close(t_sf(t, df), mp_sf(t, df), 1e-13)
    assert close(t_sf(-t, df), mp_sf(-t, df), 1e-15)


@pytest.mark.parametrize("df", [1.0, 2.0, 1e6])
@pytest.mark.parametrize("q", [1e-300, 1e-8, 0.025, 0.5 - 1e-12, 0.5 + 1e-12, 0.975, 1 - 1e-12])
def test_hard_ppf_cases(q: float, df: float) -> None:
    got = t_ppf(q, df)
    if df in (1.0, 2.0):
        assert close(got, exact_ppf(q, df), 1e-14), (q, df, got)
        return
    want = float(scipy.stats.t.ppf(q, df))
    if q == 1e-300:  # scipy gives up there (-inf): the normal tail with the first correction
        z = normal_ppf(q)
        assert close(got, z + (z**3 + z) / (4 * df), 1e-6)
        assert t_sf(got, df) == 1.0
        assert close(t_sf(-got, df), q, 1e-13 * max(1.0, got * got))
    elif 0.25 < q < 0.75:  # scipy's error is absolute here: sf(ppf) instead
        assert abs((0.5 - t_sf(abs(got), df)) - abs(q - 0.5)) <= 1e-14 * abs(q - 0.5)
        assert abs(got - want) <= ppf_allowance(want, df)
    else:
        assert close(got, want, 1e-13), (q, df, got, want)


def test_hard_normal_ppf_cases() -> None:
    assert normal_ppf(0.975) == pytest.approx(1.959963984540054, rel=1e-15)
    assert normal_ppf(0.025) == pytest.approx(-1.959963984540054, rel=1e-15)
    with mpmath.workdps(50):
        for q in (1e-300, 1e-8, 0.5 + 1e-12, 1 - 1e-12):
            want = float(mpmath.sqrt(2) * mpmath.erfinv(2 * mpmath.mpf(q) - 1))
            assert close(normal_ppf(q), want, 1e-13), q


def test_extreme_quantiles_are_finite_and_right() -> None:
    # scipy fails here (df = 2.5, q = 1e-197); the answer is checked with mpmath's cdf
    t = t_ppf(9.747402255565865e-198, 2.5)
    assert t < -1e78
    assert close(mp_sf(-t, 2.5), 9.747402255565865e-198, 1e-13)
    assert close(t_sf(-t, 2.5), 9.747402255565865e-198, 1e-13)
    # scipy's quantile is 1.3e-11 off here; ours inverts both sfs
    q, df = 5.3556669177067324e-250, 4.641588833612778
    t = t_ppf(q, df)
    assert close(float(scipy.stats.t.sf(-t, df)), q, 1e-13)
    assert close(t_sf(-t, df), q, 1e-14)
    assert not close(float(scipy.stats.t.ppf(q, df)), t, 1e-12)


# ------------------------------------------------------------------ edge cases


@pytest.mark.parametrize("df", [0.0, -1.0, -math.inf, math.nan])
def test_bad_df(df: float) -> None:
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_sf(1.0, df)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_ppf(0.3, df)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_two_sided_p(1.0, df)


@pytest.mark.parametrize("q", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_bad_q(q: float) -> None:
    with pytest.raises(ValueError, match="q must be"):
        t_ppf(q, 3.0)
    with pytest.raises(ValueError, match="q must be"):
        normal_ppf(q)


@pytest.mark.parametrize("df", [0.5, 1.0, 2.0, 1e9, math.inf])
def test_infinities_and_centre(df: float) -> None:
    assert t_sf(math.inf, df) == 0.0
    assert t_sf(-math.inf, df) == 1.0
    assert t_two_sided_p(math.inf, df) == 0.0
    assert t_two_sided_p(-math.inf, df) == 0.0
    assert t_sf(0.0, df) == 0.5
    assert t_two_sided_p(0.0, df) == 1.0
    assert t_ppf(0.5, df) == 0.0
    assert math.isnan(t_sf(math.nan, df))
    assert math.isnan(t_two_sided_p(math.nan, df))
    assert t_pdf(math.inf, df) == 0.0


def test_normal_ppf_centre() -> None:
    assert normal_ppf(0.5) == 0.0


def test_t_ppf_monotone_in_q() -> None:
    for df in (1.0, 3.0, 40.0, 1e7):
        values = [t_ppf(q, df) for q in (1e-12, 0.001, 0.1, 0.4, 0.5, 0.6, 0.9, 0.999)]
        assert values == sorted(values)
        assert len(set(values)) == len(values)
