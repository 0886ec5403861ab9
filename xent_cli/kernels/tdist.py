"""Student's t distribution (and the normal quantile), numpy-free and scipy-free.

Only :mod:`math` is used. For ``t >= 0`` everything is built on two complementary
probabilities, each computed with *relative* accuracy where it is the smaller one:

* the tail ``P(T > t) = I_x(df/2, 1/2) / 2`` with ``x = df / (df + t**2)``;
* the centre ``P(0 < T < t) = I_y(1/2, df/2) / 2`` with ``y = t**2 / (df + t**2)``;

``I`` the regularized incomplete beta function. ``x``, ``y`` and their logarithms are formed
from ``u = t**2 / df`` (``x = 1 / (1 + u)``, ``log x = -log1p(u)``), never as ``1 - x``.

Method (``a = df / 2``):

* ``I_x(a, b)`` by its continued fraction (Numerical Recipes' ``betacf``, evaluated with the
  modified Lentz method) times ``x**a (1-x)**b / (a B(a, b))``, in logs; ``log B(a, 1/2)``
  is ``math.lgamma`` for small ``a`` and, for ``a >= 16``, Stirling's series written as a
  difference so that no large logarithms cancel.
* The continued fraction loses accuracy for large ``a`` when ``x`` is close to 1 (about
  ``a * eps``); there, for ``df >= 30`` and ``log1p(t**2 / df) <= 0.2``, the tail comes from
  DiDonato & Morris' asymptotic expansion BGRAT (TOMS 708; as in Boost's
  ``beta_small_b_large_a_series``), whose leading term is ``erfc(sqrt(u'))`` for ``b = 1/2``.
* The branch: for ``df < 30``, the tail's fraction if ``x < (a + 1) / (a + 5/2)`` (where it
  converges fast), else the centre's; for ``df >= 30``, the centre's for ``t <= 1``, else
  the tail (BGRAT or fraction as above). The other probability is ``1/2`` minus it.
* ``df > 1e20`` (or infinite): the normal distribution (``math.erfc``/``math.erf``); the
  t distribution differs from it by about ``t**4 / (4 df)`` relative.

Quantiles solve ``tail(t) = p`` (``p = min(q, 1 - q) < 1/4``) or ``centre(t) = 1/2 - p``
(otherwise; both exact in floating point) with Newton's method on the logarithm of the
probability, safeguarded by a bracket that is bisected (geometrically) whenever a step
leaves it, to a relative step below ``1e-15``.

Accuracy (tests/test_tdist.py; df from 1 to 1e9, |t| up to 1e6): the probabilities agree
with scipy (Boost) to ``1.2e-14 * max(1, |t| pdf(t) / sf(t))`` relative at worst (the last
factor is the condition number, the error any double ``t`` carries; 1.6e-13 at worst in
absolute terms), and with mpmath where scipy is off (df = 1 near t = 0, huge t); the
quantiles agree with mpmath near the centre to 7e-15 relative per unit of condition
number and invert the sf in the tails (where scipy's quantile is sometimes the worse one).
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["normal_ppf", "t_pdf", "t_ppf", "t_sf", "t_two_sided_p"]

_EPS = 2.0**-52
_TINY = 1e-300
_NORMAL_DF = 1e20  # beyond: the normal distribution
_BGRAT_DF = 30.0  # BGRAT needs a = df / 2 >= 15
_BGRAT_LOG1P = 0.2  # and log1p(t**2 / df) at most this (x >= 0.82)
_LOG_SQRT_PI = 0.5 * math.log(math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT2 = math.sqrt(2.0)
_MAX_ITER = 20_000


def _check_df(df: float) -> float:
    value = float(df)
    if not value > 0:  # also NaN
        raise ValueError(f"degrees of freedom must be > 0, not {df!r}")
    return value


# ------------------------------------------------------------------ special functions


def _stirling_rest(z: float) -> float:
    """lgamma(z) - ((z - 1/2) log z - z + log(2 pi) / 2), for z >= 16 (error < 1e-19)."""
    r = 1.0 / (z * z)
    series = 1 / 1188 - r * (691 / 360360 - r * (1 / 156 - r * (3617 / 122400)))
    series = 1 / 12 - r * (1 / 360 - r * (1 / 1260 - r * (1 / 1680 - r * series)))
    return series / z


def _lgamma_ratio_half(a: float) -> float:
    """lgamma(a + 1/2) - lgamma(a), without cancelling large logarithms."""
    if a < 16:
        return math.lgamma(a + 0.5) - math.lgamma(a)
    # (a) log(a + 1/2) - (a - 1/2) log a - 1/2 + rest(a + 1/2) - rest(a)
    return (
        a * math.log1p(0.5 / a)
        - 0.5
        + 0.5 * math.log(a)
        + _stirling_rest(a + 0.5)
        - _stirling_rest(a)
    )


def _lbeta_half(a: float) -> float:
    """log B(a, 1/2)."""
    return _LOG_SQRT_PI - _lgamma_ratio_half(a)


def _betacf(a: float, b: float, x: float, first: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz); ``first`` = 1 - (a+b) x / (a+1),
    passed in because the caller can form it without cancellation."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = first if abs(first) >= _TINY else _TINY
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = d if abs(d) >= _TINY else _TINY
        c = 1.0 + aa / c
        c = c if abs(c) >= _TINY else _TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = d if abs(d) >= _TINY else _TINY
        c = 1.0 + aa / c
        c = c if abs(c) >= _TINY else _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= _EPS:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b})")


def _bgrat_p(count: int) -> list[float]:
    """BGRAT's coefficients p_n for b = 1/2 (DiDonato & Morris, eq. 9.4)."""
    b = 0.5
    p = [1.0]
    for n in range(1, count):
        total = 0.0
        for m in range(1, n):
            total += (m * b - n) * p[n - m] / math.factorial(2 * m + 1)
        p.append(total / n + (b - 1) / math.factorial(2 * n + 1))
    return p


_BGRAT_P = _bgrat_p(40)


def _bgrat_tail(a: float, l1: float) -> float:
    """I_x(a, 1/2) / 2 for log(1/x) = l1 (small) and a >= 15: BGRAT."""
    b = 0.5
    big_t = a - 0.25  # a + (b - 1) / 2
    u = big_t * l1
    log_lead = _lgamma_ratio_half(a) - b * math.log(big_t)  # Gamma(a+b)/Gamma(a) T^-b
    q = math.erfc(math.sqrt(u))  # Q(1/2, u)
    total = math.exp(log_lead) * q
    if total == 0.0:
        return 0.0
    # h = u^b e^-u / Gamma(b); terms prefix * p_n * j_n with j_n = J_n / h
    h = math.exp(b * math.log(u) - u - _LOG_SQRT_PI)
    prefix = math.exp(log_lead) * h
    j = q / h
    lx2 = (0.5 * l1) ** 2
    lxp = 1.0
    t4 = 4.0 * big_t * big_t
    b2n = b
    for n in range(1, len(_BGRAT_P)):
        j = (b2n * (b2n + 1) * j + (u + b2n + 1) * lxp) / t4
        lxp *= lx2
        b2n += 2
        term = prefix * _BGRAT_P[n] * j
        total += term
        if abs(term) <= 0.5 * _EPS * abs(total):
            return 0.5 * total
    raise ArithmeticError(f"BGRAT did not converge (a={a}, log(1/x)={l1})")


# ------------------------------------------------------------------ the t distribution


def _power(t: float, df: float, p: float, q: float) -> float:
    """x**p * y**q for t > 0, x = df / (df + t^2) and y = 1 - x, with relative accuracy.

    Never through ``exp(p * log x)`` with a large ``log x``: for ``u = t^2 / df <= 1``,
    ``u**q * exp(-(p + q) log1p(u))``; beyond, with ``r = sqrt(df) / t`` (no overflow for
    any t), ``r**(2p) * exp(-(p + q) log1p(r^2))``.
    """
    u = t * t / df
    if u <= 1.0:
        return math.pow(u, q) * math.exp(-(p + q) * math.log1p(u))
    r = math.sqrt(df) / t
    return math.pow(r, 2.0 * p) * math.exp(-(p + q) * math.log1p(r * r))


def _x_y(t: float, df: float) -> tuple[float, float]:
    """(x, y) = (df / (df + t^2), t^2 / (df + t^2)), each to a few ulps, for t > 0."""
    u = t * t / df
    if u <= 1.0:
        return 1.0 / (1.0 + u), u / (1.0 + u)
    v = (df / t) / t
    return v / (1.0 + v), 1.0 / (1.0 + v)


def _tail_centre(t: float, df: float) -> tuple[float, float]:
    """(P(T > t), P(0 < T < t)) for t >= 0 finite, df <= _NORMAL_DF."""
    if t == 0.0:
        return 0.5, 0.0
    a, b = 0.5 * df, 0.5
    if t < 1e-100:  # centre = t * pdf(0) to all digits
        centre = t * math.exp(-_lbeta_half(a) - 0.5 * math.log(df))
        return 0.5 - centre, centre
    x, y = _x_y(t, df)
    if df >= _BGRAT_DF:
        use_tail = t > 1.0
    else:
        use_tail = x < (a + 1.0) / (a + b + 2.0)
    # x^a y^b / B(a, b)
    scale = _power(t, df, a, b) * math.exp(-_lbeta_half(a))
    if use_tail:
        l1 = math.log1p(t * t / df) if t * t / df <= 1.0 else math.inf
        if df >= _BGRAT_DF and l1 <= _BGRAT_LOG1P:
            tail = _bgrat_tail(a, l1)
        else:
            # 1 - (a + b) x / (a + 1), without cancellation (x + y = 1)
            first = ((1.0 - b) * x + (a + 1.0) * y) / (a + 1.0)
            tail = 0.5 * scale / a * _betacf(a, b, x, first)
        return tail, 0.5 - tail
    # centre: I_y(b, a); 1 - (a + b) y / (b + 1) likewise
    first = ((b + 1.0) * x + (1.0 - a) * y) / (b + 1.0)
    centre = 0.5 * scale / b * _betacf(b, a, y, first)
    return 0.5 - centre, centre


def _normal_tail_centre(z: float) -> tuple[float, float]:
    """(P(Z > z), P(0 < Z < z)) for z >= 0."""
    return 0.5 * math.erfc(z / _SQRT2), 0.5 * math.erf(z / _SQRT2)


def _log_pdf(t: float, df: float) -> float:
    """log pdf(t) for t > 0 (a few ulps of the logarithm: for Newton steps only)."""
    u = t * t / df
    if u <= 1.0:
        log_power = -0.5 * (df + 1.0) * math.log1p(u)
    else:
        r = math.sqrt(df) / t
        log_power = (df + 1.0) * math.log(r) - 0.5 * (df + 1.0) * math.log1p(r * r)
    return log_power - _lbeta_half(0.5 * df) - 0.5 * math.log(df)


def t_pdf(t: float, df: float) -> float:
    """The density of Student's t with ``df`` degrees of freedom."""
    df = _check_df(df)
    t = abs(float(t))
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    if df > _NORMAL_DF:
        return math.exp(-0.5 * t * t - _LOG_SQRT_2PI)
    if t == 0.0:
        power = 1.0
    elif t < 1e-100:
        power = 1.0  # (1 + t^2 / df)^-(df+1)/2 = 1 to all digits
    else:
        power = _power(t, df, 0.5 * (df + 1.0), 0.0)
    return power * math.exp(-_lbeta_half(0.5 * df) - 0.5 * math.log(df))


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` > 0 degrees of freedom (ValueError otherwise)."""
    df = _check_df(df)
    t = float(t)
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail, centre = _normal_tail_centre(abs(t)) if df > _NORMAL_DF else _tail_centre(abs(t), df)
    return tail if t >= 0 else 0.5 + centre


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) = 2 sf(|t|), clipped to [0, 1]."""
    p = 2.0 * t_sf(abs(float(t)), df)
    return min(1.0, max(0.0, p)) if not math.isnan(p) else math.nan


# ------------------------------------------------------------------ quantiles


def _check_q(q: float) -> float:
    value = float(q)
    if not 0.0 < value < 1.0:
        raise ValueError(f"q must be in (0, 1), not {q!r}")
    return value


def _solve(
    probabilities: Callable[[float], tuple[float, float]],
    log_density: Callable[[float], float],
    target: float,
    use_tail: bool,
    guess: float,
) -> float:
    """t > 0 with tail(t) = target (use_tail) or centre(t) = target.

    ``probabilities(t) -> (tail, centre)``, ``log_density(t) -> log pdf`` (no underflow).
    Newton on ``log(g / target)`` (the ratio first: a difference of two large logarithms
    would lose the last digits), safeguarded by a bracket [lo, hi] bisected geometrically.
    """
    lo, hi = 0.0, math.inf
    t = guess if math.isfinite(guess) and guess > 0 else 1.0
    log_target = math.log(target)
    for _ in range(400):
        tail, centre = probabilities(t)
        g = tail if use_tail else centre
        if g <= 0.0:  # underflow: t far beyond the solution (tail) or far below (centre)
            f = -math.inf
        else:
            ratio = g / target
            f = math.log(ratio) if 0.0 < ratio < math.inf else math.log(g) - log_target
        if f == 0.0:
            return t
        too_small = (f > 0) == use_tail  # t below the solution
        if too_small:
            lo = t
        else:
            hi = t
        if hi <= lo * (1 + 4 * _EPS) or (hi == math.inf and lo > 1e300):
            return hi if math.isfinite(hi) else math.inf
        step = math.nan
        if math.isfinite(f):
            slope = math.exp(log_density(t) - math.log(g))  # d log(centre)/dt; -that: tail
            step = -f / slope if not use_tail else f / slope
        new = t + step
        if not (lo < new < hi):  # bisect in log space (or expand)
            if hi == math.inf:
                new = max(2.0 * t, lo * 2.0)
            elif lo == 0.0:
                new = hi / 2.0
            else:
                new = math.sqrt(lo) * math.sqrt(hi)
        if abs(new - t) <= 1e-15 * t:
            return new
        t = new
    raise ArithmeticError("quantile search did not converge")  # pragma: no cover


def _normal_guess(p: float) -> float:
    """z with P(Z > z) ~= p (p <= 1/2), |error| < 5e-4 (Abramowitz & Stegun 26.2.23)."""
    s = math.sqrt(-2.0 * math.log(p))
    return s - (2.515517 + s * (0.802853 + s * 0.010328)) / (
        1.0 + s * (1.432788 + s * (0.189269 + s * 0.001308))
    )


def normal_ppf(q: float) -> float:
    """The standard normal quantile, q in (0, 1) (ValueError otherwise); 0.5 -> 0."""
    q = _check_q(q)
    if q == 0.5:
        return 0.0
    p = q if q < 0.5 else 1.0 - q  # exact for q >= 0.5
    use_tail = p < 0.25
    target = p if use_tail else 0.5 - p  # exact
    guess = _normal_guess(p) if use_tail else target * math.sqrt(2 * math.pi)

    def log_density(z: float) -> float:
        return -0.5 * z * z - _LOG_SQRT_2PI

    z = _solve(_normal_tail_centre, log_density, target, use_tail, max(guess, 1e-300))
    return -z if q < 0.5 else z


def t_ppf(q: float, df: float) -> float:
    """The quantile of Student's t: t with P(T <= t) = q, q in (0, 1) (ValueError otherwise)."""
    q = _check_q(q)
    df = _check_df(df)
    if q == 0.5:
        return 0.0
    if df > _NORMAL_DF:
        return normal_ppf(q)
    p = q if q < 0.5 else 1.0 - q  # exact for q >= 0.5
    use_tail = p < 0.25
    target = p if use_tail else 0.5 - p  # exact
    # initial guess: the normal quantile with Cornish-Fisher terms, or the power-law tail
    z = _normal_guess(p) if use_tail or target > 0.05 else target * math.sqrt(2 * math.pi)
    guess = z + (z**3 + z) / (4.0 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96.0 * df * df)
    if use_tail:
        # P(T > t) ~ df^(df/2 - 1) / B(df/2, 1/2) * t^-df once t^2 >> df
        log_t = (math.log(df) * (0.5 * df - 1.0) - _lbeta_half(0.5 * df) - math.log(p)) / df
        if 2.0 * log_t > math.log(10.0 * df):
            guess = math.exp(min(log_t, 700.0))

    def probabilities(t: float) -> tuple[float, float]:
        return _tail_centre(t, df)

    def log_density(t: float) -> float:
        return _log_pdf(t, df)

    t = _solve(probabilities, log_density, target, use_tail, guess)
    return -t if q < 0.5 else t
