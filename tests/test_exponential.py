"""exp of float64 arrays (xent_cli.kernels.exponential): against mpmath at 300 bits, the table
regenerated from its definition, and the compiled and numpy versions bit for bit."""

from __future__ import annotations

import math
import struct

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xent_cli.kernels import compiled
from xent_cli.kernels import exponential as expo

mpmath.mp.prec = 300
SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def ulps_off(got: float, x: float) -> float:
    """|got - exp(x)| in units of the last place of the exact value (subnormals: of 2**-1074)."""
    exact = mpmath.exp(mpmath.mpf(x))
    if exact == 0:
        return 0.0 if got == 0.0 else math.inf
    _, e = mpmath.frexp(exact)  # exact = m 2**e, 1/2 <= m < 1: an ulp is 2**(e - 53)
    ulp = mpmath.ldexp(1, max(e - 53, -1074))
    return float(abs(mpmath.mpf(got) - exact) / ulp)


def test_the_table_is_two_to_the_j_over_n_and_its_rounding_error() -> None:
    for j in range(expo.N):
        exact = mpmath.power(2, mpmath.mpf(j) / expo.N)
        s = float(exact)  # (mpmath rounds to nearest)
        tail = float((exact - mpmath.mpf(s)) / mpmath.mpf(s))
        assert int(expo.TABLE[j, 0]) == bits(tail)
        assert int(expo.TABLE[j, 1]) == bits(s) - (j << 45)


def test_the_constants_are_what_they_say() -> None:
    ln2_n = mpmath.log(2) / expo.N
    assert expo.INV_LN2_N == float(1 / ln2_n)
    hi = mpmath.mpf(expo.LN2_HI_N)
    assert abs(hi - ln2_n) < mpmath.ldexp(1, -8 - 32)  # the top 32 bits of ln 2 / N
    assert int(hi * mpmath.ldexp(1, 8 + 31)) == hi * mpmath.ldexp(1, 8 + 31)
    assert expo.LN2_LO_N == float(ln2_n - hi)


@pytest.mark.parametrize(
    "span", [(-1e-300, 1e-300), (-1.0, 1e-5), (-30.0, 0.0), (-700.0, 700.0), (-746.0, -700.0)]
)
def test_within_half_an_ulp_and_a_bit_of_mpmath(kernel: str, span: tuple[float, float]) -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(*span, 400)
    if span[0] > -1:  # (and float32 log-probabilities, as token files hold them)
        x = np.concatenate([x, x.astype(np.float32).astype(np.float64)])
    got = expo.exp(x)
    worst = max(ulps_off(g, v) for g, v in zip(got.tolist(), x.tolist(), strict=True))
    assert worst < (1.0 if span[0] < -708 else 0.52)  # (subnormal results: one rounding more)


def test_edges_and_specials(kernel: str) -> None:
    x = np.array([0.0, -0.0, -np.inf, np.inf, np.nan, -745.2, -800.0, 709.78, 709.8, 1e-5])
    got = expo.exp(x)
    assert got[:4].tolist() == [1.0, 1.0, 0.0, math.inf]
    assert math.isnan(got[4])
    assert got[5] == 0.0
    assert got[6] == 0.0
    assert ulps_off(float(got[7]), 709.78) < 0.52
    assert got[8] == math.inf
    assert ulps_off(float(got[9]), 1e-5) < 0.52
    assert expo.exp(np.zeros(0)).shape == (0,)
    assert expo.exp(np.full((2, 3), -1.0)).shape == (2, 3)


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.floats(-750.0, 710.0),
            st.floats(-40.0, 1e-5),
            st.floats(allow_nan=True, allow_infinity=True),
        ),
        min_size=1,
        max_size=50,
    )
)
def test_the_compiled_and_numpy_versions_agree_bit_for_bit(values: list[float]) -> None:
    if compiled.native is None:
        pytest.skip("the compiled kernel is not built")
    x = np.array(values)
    native = compiled.native
    try:
        compiled.native = None
        by_numpy = expo.exp(x)
    finally:
        compiled.native = native
    by_c = expo.exp(x)
    same = (by_c.view(np.uint64) == by_numpy.view(np.uint64)) | (
        np.isnan(by_c) & np.isnan(by_numpy)
    )
    assert same.all(), x[~same]


def test_the_compiled_kernel_refuses_a_wrong_table() -> None:
    native = compiled.native
    if native is None:
        pytest.skip("the compiled kernel is not built")
    with pytest.raises(ValueError, match="exp"):
        native.exp(np.zeros(3), expo.TABLE[:64], np.zeros(3))
    with pytest.raises(ValueError, match="exp"):
        native.exp(np.zeros(3), expo.TABLE, np.zeros(2))
