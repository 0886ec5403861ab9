"""How far the candidate's predicted distributions moved from the baseline's, row by row.

Per paired entry (a row; in multilabel mode a row x label cell), from each side's validated
scores (:func:`log_probs`): the log-probabilities ``a = log p_b`` and ``b = log p_c`` of every
outcome (categorical: the classes; binary and multilabel: the two outcomes), and

- ``KL(p_b || p_c) = Σ_j p_j (a_j - b_j)``, computed in the form ``Σ_j [p_j (a_j - b_j) +
  (q_j - p_j)]`` (``q = p_c``; the added terms sum to 1 - 1 = 0) whose every term is
  ``p·φ(a - b)`` with ``φ(d) = d - 1 + e^{-d} >= 0``; when both sides are logits, ``Σ p =
  Σ q = 1`` by construction and ``Σ p (a - b)`` alone is summed. A row's KL is negative only
  by rounding (above -1e-12; such a row counts as 0, and is counted in ``n_rounded``).
  Log-probabilities come from logits in log space (``z - m - log Σ e^{z - m}``, or ``z -
  (loss + z_y)``), never as the log of a softmax; probabilities are clipped to ``[eps, 1]``
  as the loss clips them, and ``-inf`` log-probabilities become ``log(eps)`` (then a row of
  probabilities that does not sum to 1 gives the generalized divergence ``Σ p log(p/q) - Σ p
  + Σ q``, still >= 0);
- ``delta_p = p_c(true) - p_b(true)`` (each model's probability of the true class, as its loss
  reads it);
- top-1 agreement (both sides' arg-max is the same class; ties: the first) and the flips of
  correctness, right -> wrong and wrong -> right.

:class:`DistributionTotals` keeps their exact sums (``ExactSums``: means and standard errors
the same for any split of the rows), the flips' counts, and two :class:`LogHistogram` for
the percentiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xent_cli.comparison.sketch import ALPHA, LogHistogram
from xent_cli.kernels.accumulate import weighted
from xent_cli.kernels.exact import ExactSums
from xent_cli.kernels.numerics import log1mexp, row_sums
from xent_cli.kernels.tdist import t_ppf, t_sf
from xent_cli.options import FailOn, Kind, Mode

Float = NDArray[np.float64]
Int = NDArray[np.int64]

#: Values per step of the row kernels (rows x classes): keeps temporaries in cache.
STEP_VALUES = 1 << 18
#: A row's KL below 0 by at most this much is rounding (counts as 0).
ROUNDING = 1e-12
PERCENTILES = ("99.9", "99", "95", "90", "50", "10", "5", "1", "0.1")
_SUMS = ("weight", "kl", "kl2", "dp", "dp2", "dp4", "same")
DELTA_P_PERCENTILES = ("99.9", "99", "95", "90", "75", "50", "25", "10", "5", "1", "0.1")


def log_probs(scores: Float, mode: Mode, kind: Kind, eps: float) -> tuple[Float, Float]:
    """Each entry's distribution as (log-probabilities, probabilities), (n, k) in categorical
    mode; binary and multilabel cells (``scores`` (n, 1)): columns (positive, negative)."""
    if mode is Mode.categorical:
        if kind is Kind.logits:
            return _log_softmax(scores)
        if kind is Kind.probs:
            return _from_probs(scores, eps)
        return _from_log_probs(scores, eps)
    s = scores[:, 0] if scores.ndim == 2 else scores
    if kind is Kind.logits:
        small = np.exp(-np.abs(s))  # the smaller outcome's odds: exact for any finite s
        big_p, small_p = 1.0 / (1.0 + small), small / (1.0 + small)
        log_big = -np.log1p(small)
        log_small = -np.abs(s) + log_big
        up = s >= 0
        p = np.column_stack([np.where(up, big_p, small_p), np.where(up, small_p, big_p)])
        a = np.column_stack([np.where(up, log_big, log_small), np.where(up, log_small, log_big)])
        return a, p
    if kind is Kind.probs:
        return _from_probs(np.column_stack([s, 1.0 - s]), eps)
    s = np.minimum(s, 0.0)
    return _from_log_probs(np.column_stack([s, log1mexp(s)]), eps)


def _log_softmax(logits: Float) -> tuple[Float, Float]:
    """``z - m - log Σ e^{z - m}`` and ``e^{z - m} / Σ e^{z - m}`` per row (m: the row max)."""
    top = logits.max(axis=1)
    shifted = logits - top[:, None]
    e = np.exp(shifted)
    total = row_sums(e)
    shifted -= np.log(total)[:, None]
    e /= total[:, None]
    return shifted, e


def _from_probs(probs: Float, eps: float) -> tuple[Float, Float]:
    p = np.clip(probs, eps, 1.0)
    with np.errstate(divide="ignore"):  # log(0) = -inf only with --eps 0, by design
        return np.log(p), p


def _from_log_probs(log_p: Float, eps: float) -> tuple[Float, Float]:
    if eps > 0:
        log_p = np.maximum(log_p, math.log(eps))
    return log_p, np.exp(log_p)


def kl_rows(a: Float, p: Float, b: Float, q: Float) -> Float:
    """``Σ_j [p_j (a_j - b_j) + q_j - p_j]`` per row: KL(p || q) in nats, term by term >= 0
    (``0 · log 0 = 0``; a class the candidate gives probability 0 but the baseline does not:
    ``inf``)."""
    d = a - b
    with np.errstate(invalid="ignore"):  # -inf - -inf: NaN, replaced below (p = 0 there)
        d *= p
    if not np.isfinite(a).all():  # p = 0 with log p = -inf: the term is q alone
        d[p == 0] = 0.0
    d += q
    d -= p
    return row_sums(d)


def divergence(
    scores: tuple[Float, Float],
    mode: Mode,
    kind: tuple[Kind, Kind],
    eps: float,
    norms: tuple[Float | None, Float | None] = (None, None),
) -> Float:
    """KL(p_b || p_c) of each entry from both sides' validated scores, in row steps.
    ``norms``: categorical logits' ``log Σ e^z`` per row where the caller has it (the loss
    plus the true class's logit), which spares the log-sum-exp here."""
    n = len(scores[0])
    width = max(scores[0].shape[1] if scores[0].ndim == 2 else 1, 2)
    step = max(1, STEP_VALUES // width)
    out = np.empty(n)
    for start in range(0, n, step):
        stop = min(n, start + step)
        if norms[0] is not None and norms[1] is not None:
            out[start:stop] = _kl_logits(
                scores[0][start:stop], norms[0][start:stop], scores[1][start:stop],
                norms[1][start:stop],
            )  # fmt: skip
            continue
        sides = []
        for side in (0, 1):
            z, norm = scores[side][start:stop], norms[side]
            if norm is not None:
                log_p = z - norm[start:stop, None]
                sides.append((log_p, np.exp(log_p)))
            else:
                sides.append(log_probs(z, mode, kind[side], eps))
        (a, p), (b, q) = sides
        out[start:stop] = kl_rows(a, p, b, q)
    return out


def _kl_logits(zb: Float, norm_b: Float, zc: Float, norm_c: Float) -> Float:
    """Both sides logits: ``Σ p (a - b)`` (``Σ p = Σ q = 1`` by construction: :func:`kl_rows`'
    form without its ``q - p`` terms, so without the candidate's exponentials; identical rows
    give exactly 0)."""
    a = zb - norm_b[:, None]
    b = zc - norm_c[:, None]
    p = np.exp(a)
    np.subtract(a, b, out=b)
    b *= p
    return row_sums(b)


def logits_norm(scores: Float, loss: Float, truth: NDArray[np.int64]) -> Float:
    """``log Σ_j e^{z_j}`` per row from its loss ``log Σ e^z - z_y`` (categorical logits)."""
    return loss + scores[np.arange(len(truth)), truth]


@dataclass
class DistributionTotals:
    """Exact, mergeable sums over the paired entries (``w``: the weight, else 1)."""

    sums: dict[str, ExactSums] = field(
        default_factory=lambda: {k: ExactSums(1) for k in _SUMS}
    )  # fmt: skip
    n: int = 0
    same_top: int = 0
    right_to_wrong: int = 0
    wrong_to_right: int = 0
    n_rounded: int = 0  # rows whose KL came out below 0 by rounding (counted as 0)
    weighted: bool = False  # weights were given (else the weight and agreement sums are counts)
    kl: LogHistogram = field(default_factory=LogHistogram)
    delta_p: LogHistogram = field(default_factory=LogHistogram)

    def add(
        self,
        kl: Float,
        delta_p: Float,
        same: NDArray[np.bool_],
        right: tuple[NDArray[np.bool_], NDArray[np.bool_]],
        weight: Float | None,
    ) -> None:
        """Fold in one chunk's per-entry KL (nats), delta_p, agreement and correctness."""
        if len(kl) and kl.min() < 0:
            negative = kl < 0
            rounded = negative & (kl >= -ROUNDING)
            self.n_rounded += int(rounded.sum())
            kl = np.where(rounded, 0.0, kl)
        agree = same.astype(np.float64)
        w = np.ones(len(kl)) if weight is None else weight
        parts = {
            "weight": w,
            "kl": kl,
            "kl2": kl * kl,
            "dp": delta_p,
            "dp2": delta_p * delta_p,
            "dp4": (delta_p * delta_p) ** 2,
            "same": agree,
        }
        if weight is None:  # the weights' and the agreements' sums are the counts
            del parts["weight"], parts["same"]
        else:
            self.weighted = True
        for name, values in parts.items():
            self.sums[name].add(None, values if weight is None or name == "weight"
                                else weighted(values, weight))  # fmt: skip
        self.n += len(kl)
        self.same_top += int(same.sum())
        self.right_to_wrong += int((right[0] & ~right[1]).sum())
        self.wrong_to_right += int((~right[0] & right[1]).sum())
        self.kl.add(kl)
        self.delta_p.add(delta_p)

    def merge(self, other: DistributionTotals) -> DistributionTotals:
        return DistributionTotals(
            {k: self.sums[k].merge(other.sums[k]) for k in _SUMS},
            self.n + other.n,
            self.same_top + other.same_top,
            self.right_to_wrong + other.right_to_wrong,
            self.wrong_to_right + other.wrong_to_right,
            self.n_rounded + other.n_rounded,
            self.weighted or other.weighted,
            self.kl.merge(other.kl),
            self.delta_p.merge(other.delta_p),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DistributionTotals):
            return NotImplemented
        return (
            all(self.sums[k] == other.sums[k] for k in _SUMS)
            and (self.n, self.same_top, self.right_to_wrong, self.wrong_to_right, self.n_rounded)
            == (other.n, other.same_top, other.right_to_wrong, other.wrong_to_right,
                other.n_rounded)
            and self.kl == other.kl
            and self.delta_p == other.delta_p
        )  # fmt: skip

    __hash__ = None  # type: ignore[assignment]


def mean_se(total: Fraction | None, squares: Fraction | None, n: Fraction | None
            ) -> tuple[float | None, float | None]:  # fmt: skip
    """Mean ``S1/n`` and its standard error ``sqrt((S2 - S1²/n) / (n - 1) / n)``, exactly
    from exact sums (frequency weights: ``n = Σ w``); llama.cpp's ``mean_and_uncertainty``."""
    if total is None or n is None or n <= 0:
        return None, None
    mean = float(total / n)
    if squares is None or n <= 1:
        return mean, None
    spread = max(squares - total * total / n, Fraction(0))
    return mean, math.sqrt(float(spread / (n - 1) / n))


def mcnemar_p(b: int, c: int) -> float:
    """McNemar's exact test: two-sided binomial p of ``min(b, c)`` in ``b + c`` at 1/2, i.e.
    ``min(1, 2 P(X <= min(b, c)))`` (``scipy.stats.binomtest(b, b + c).pvalue``)."""
    n, k = b + c, min(b, c)
    if n == 0 or 2 * k >= n:
        return 1.0
    # the terms below k fall at least geometrically; far below, they are past float64
    lo = max(0, k - int(40 * math.sqrt(n)) - 50)
    i = np.arange(lo, k + 1, dtype=np.float64)
    log_terms = (
        math.lgamma(n + 1) - _lgamma(i + 1) - _lgamma(n - i + 1) - n * math.log(2.0)
    )  # fmt: skip
    top = float(log_terms.max())
    tail = math.exp(top) * math.fsum(np.exp(log_terms - top).tolist())
    return min(1.0, 2.0 * tail)


def _lgamma(x: Float) -> Float:
    return np.array([math.lgamma(v) for v in x.tolist()])


def finish(totals: DistributionTotals, per_nat: float) -> dict[str, Any]:
    """The JSON ``distribution`` block (KL in the report's unit)."""
    s = {k: totals.sums[k].exact_total() for k in _SUMS}
    if not totals.weighted:
        s["weight"], s["same"] = Fraction(totals.n), Fraction(totals.same_top)
    n = s["weight"]
    kl_mean, kl_se = mean_se(s["kl"], s["kl2"], n)
    dp_mean, dp_se = mean_se(s["dp"], s["dp2"], n)
    ms_mean, ms_se = mean_se(s["dp2"], s["dp4"], n)
    rms = math.sqrt(ms_mean) if ms_mean is not None else None
    rms_se = 0.5 / rms * ms_se if rms and ms_se is not None else None
    rate, rate_se, churn = None, None, None
    if n is not None and n > 0 and s["same"] is not None:
        rate, churn = float(s["same"] / n), float((n - s["same"]) / n)
        rate_se = math.sqrt(rate * (1 - rate) / float(n - 1)) if n > 1 else None

    def unit(x: float | None) -> float | None:
        return None if x is None else x * per_nat

    kl_qs = totals.kl.percentiles([float(q) for q in PERCENTILES])
    dp_qs = totals.delta_p.percentiles([float(q) for q in DELTA_P_PERCENTILES])
    n_flips = totals.right_to_wrong + totals.wrong_to_right
    return {
        "n": totals.n,
        "weight": float(n) if n is not None else float(totals.n),
        "kl": {
            "direction": "baseline||candidate",
            "mean": unit(kl_mean),
            "se": unit(kl_se),
            "max": unit(totals.kl.maximum) if totals.n else None,
            "min": unit(totals.kl.minimum) if totals.n else None,
            "percentiles": dict(zip(PERCENTILES, map(unit, kl_qs), strict=True)),
            "relative_accuracy": ALPHA,
            "n_rounded": totals.n_rounded,
            "histogram": [
                {"low": unit(lo), "high": unit(hi), "count": c} for lo, hi, c in totals.kl.coarse()
            ],
        },
        "delta_p": {
            "mean": dp_mean,
            "se": dp_se,
            "rms": rms,
            "rms_se": rms_se,
            "max": totals.delta_p.maximum if totals.n else None,
            "min": totals.delta_p.minimum if totals.n else None,
            "percentiles": dict(zip(DELTA_P_PERCENTILES, dp_qs, strict=True)),
            "relative_accuracy": ALPHA,
        },
        "top1_agreement": {"rate": rate, "se": rate_se, "n": totals.n, "same": totals.same_top},
        "churn": churn,
        "flips": {
            "right_to_wrong": totals.right_to_wrong,
            "wrong_to_right": totals.wrong_to_right,
            "n_discordant": n_flips,
            "mcnemar_p": mcnemar_p(totals.right_to_wrong, totals.wrong_to_right),
        },
    }


def distribution_reasons(
    block: dict[str, Any],
    max_kl: float | None,
    max_churn: float | None,
    fail_on: FailOn,
    confidence: float,
) -> list[str]:
    """``--max-kl`` (mean KL, in the report's unit) and ``--max-churn`` (1 - top-1 agreement)
    under ``--fail-on``'s rule: the estimate above the limit; the interval's upper end
    (``+ t·se``) above it; or the estimate above it and a one-sided t test rejecting ``<=``
    the limit at 1 - confidence."""
    reasons = []
    df = block["weight"] - 1
    agreement = block["top1_agreement"]
    for option, limit, what, value, se in (
        ("--max-kl", max_kl, "mean KL", block["kl"]["mean"], block["kl"]["se"]),
        ("--max-churn", max_churn, "churn", block["churn"], agreement["se"]),
    ):
        if limit is None or value is None:
            continue
        if fail_on is FailOn.estimate and value > limit:
            reasons.append(f"{what} {value:.6g} exceeds {option} {limit:g}")
        elif fail_on is FailOn.ci:
            high = value if not se else value + t_ppf(0.5 + confidence / 2, df) * se
            if high > limit:
                reasons.append(f"the upper end of the {what}'s interval {high:.6g} exceeds "
                               f"{option} {limit:g}")  # fmt: skip
        elif fail_on is FailOn.significant and value > limit:
            p = t_sf((value - limit) / se, df) if se else 0.0
            if p < 1 - confidence:
                reasons.append(f"{what} {value:.6g} exceeds {option} {limit:g} significantly "
                               f"(one-sided p={p:.3g} < {1 - confidence:g})")  # fmt: skip
    return reasons
