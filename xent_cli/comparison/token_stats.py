"""Exact paired sums over token rows, and the intervals a token comparison takes from them.

With ``l`` a paired row's loss (nats) and ``U`` its count in the ``--per`` unit (the
baseline's): ``delta = (Σ l_c - Σ l_b) / Σ U``, its two sums exact and their difference
rounded once. The standard error of ``delta``:

- every row its own cluster (:meth:`TokenPairTotals.rows_se`): ``se² = n/(n-1) · Σ (d - r u)²
  / (Σ U)²`` with ``d = l_c - l_b`` and ``r = delta``, exactly from ``Σ d²``, ``Σ d·u`` and
  ``Σ u²`` (per token, ``u = 1``: the paired t's ``s / √n``);
- documents as clusters (:func:`cluster_se`): per document ``z_d = (Lc_d - r_c Uc_d)/ΣUc -
  (Lb_d - r_b Ub_d)/ΣUb``, ``se² = D/(D-1) · Σ_d z_d²`` on ``D - 1`` degrees of freedom
  (paired tokens: ``Uc_d = Ub_d``, so ``z_d = (D_d - r U_d)/ΣU``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from xent_cli.comparison.pairing import Entries
from xent_cli.core.token_state import DocumentSums, TokenRows
from xent_cli.kernels.exact import ExactSums, exact_sum

Float = NDArray[np.float64]


@dataclass
class TokenPairTotals:
    """Exact sums over paired token rows; per document, each side's paired sums."""

    sums: dict[str, ExactSums] = field(
        default_factory=lambda: {k: ExactSums(1) for k in ("b", "c", "dd", "du", "bb", "cc", "bc")}
    )  # fmt: skip
    n: int = 0
    units: int = 0
    units_squared: int = 0
    documents: tuple[DocumentSums, DocumentSums] | None = None

    def add(self, b: Entries, c: Entries) -> None:
        assert b.unit is not None
        d = c.loss - b.loss
        u = b.unit.astype(np.float64)
        parts = {"b": b.loss, "c": c.loss, "dd": d * d, "du": d * u, "bb": b.loss * b.loss,
                 "cc": c.loss * c.loss, "bc": b.loss * c.loss}  # fmt: skip
        for name, values in parts.items():
            self.sums[name].add(None, values)
        self.n += len(d)
        self.units += int(b.unit.sum())
        self.units_squared += int((b.unit * b.unit).sum())
        if self.documents is not None:
            for sums, side in zip(self.documents, (b, c), strict=True):
                sums.add_documents(document_rows(side, b))

    def exact(self) -> dict[str, Fraction | None]:
        """Each sum exactly (None: not finite)."""
        return {k: s.exact_total() for k, s in self.sums.items()}

    def delta(self) -> tuple[float, Fraction | None]:
        """``(Σ l_c - Σ l_b) / Σ U`` in nats, and exactly (None when a sum is not finite)."""
        b, c = self.sums["b"].exact_total(), self.sums["c"].exact_total()
        if b is None or c is None:
            return (self.sums["c"].total() - self.sums["b"].total()) / self.units, None
        exact = (c - b) / self.units
        return float(exact), exact

    def rows_se(self, delta: Fraction | None) -> float:
        """Every row its own cluster (:func:`rows_se`)."""
        dd, du = self.sums["dd"].exact_total(), self.sums["du"].exact_total()
        return rows_se(dd, du, delta, self.n, self.units, self.units_squared)


def rows_se(dd: Fraction | None, du: Fraction | None, delta: Fraction | None, n: int, units: int,
            units_squared: int) -> float:  # fmt: skip
    """Every row its own cluster: ``n/(n-1) · Σ (d - r u)² / (Σ u)²``, exactly from ``Σ d²``,
    ``Σ d·u``, ``r`` and ``Σ u²`` (NaN below two rows, or with a sum not finite)."""
    if delta is None or dd is None or du is None or n < 2:
        return math.nan
    spread = dd - 2 * delta * du + delta * delta * units_squared
    return math.sqrt(max(float(spread * n / (n - 1)), 0.0)) / units


def document_rows(side: Entries, base: Entries) -> TokenRows:
    """A side's paired rows as DocumentSums reads them: the baseline's documents and counts."""
    assert base.tokens is not None
    assert base.unit is not None
    return TokenRows(
        loss=side.loss,
        tokens=base.tokens,
        n_bytes=base.n_bytes,
        words=base.words,
        unit=base.unit,
        doc=base.doc,
        p_true=None,
        top1=None,
        top_p=None,
    )


def pearson(n: Fraction, sb: Fraction, sc: Fraction, bb: Fraction, cc: Fraction, bc: Fraction
            ) -> float | None:  # fmt: skip
    """Pearson's correlation from exact sums of ``b``, ``c``, ``b²``, ``c²`` and ``b·c``."""
    vb, vc = bb - sb * sb / n, cc - sc * sc / n
    if n <= 1 or vb <= 0 or vc <= 0:
        return None
    return max(-1.0, min(1.0, float(bc - sb * sc / n) / math.sqrt(float(vb) * float(vc))))


def cluster_se(lb: Float, lc: Float, ub: Float, uc: Float, total_b: float, total_c: float
               ) -> tuple[float, int]:  # fmt: skip
    """The documents' linearized se of ``ΣLc/ΣUc - ΣLb/ΣUb`` and its degrees of freedom
    (NaN below two documents)."""
    count = len(lb)
    if count < 2:
        return math.nan, max(count - 1, 0)
    r_b, r_c = exact_sum(lb) / total_b, exact_sum(lc) / total_c
    z = (lc - r_c * uc) / total_c - (lb - r_b * ub) / total_b
    return math.sqrt(count / (count - 1) * exact_sum(z * z)), count - 1


def cluster_se_by(
    group: NDArray[np.intp], n_groups: int, sides: tuple[Float, Float, Float, Float],
    total_b: Float, total_c: Float,
) -> tuple[Float, NDArray[np.int64]]:  # fmt: skip
    """:func:`cluster_se` of every group of documents at once (``group``: each document's;
    ``sides``: ``Lb``, ``Lc``, ``Ub``, ``Uc`` per document; ``total_b``, ``total_c``: each
    group's units): the same figures, with exact sums per group."""
    lb, lc, ub, uc = sides
    count = np.bincount(group, minlength=n_groups)
    sums = [ExactSums(n_groups), ExactSums(n_groups)]
    sums[0].add(group, lb)
    sums[1].add(group, lc)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_b, r_c = sums[0].finish() / total_b, sums[1].finish() / total_c
        z = (lc - r_c[group] * uc) / total_c[group] - (lb - r_b[group] * ub) / total_b[group]
    squares = ExactSums(n_groups)
    squares.add(group, z * z)
    spread = squares.finish()
    several = count >= 2
    se = np.full(n_groups, np.nan)
    se[several] = np.sqrt(count[several] / (count[several] - 1) * spread[several])
    return se, np.maximum(count - 1, 0).astype(np.int64)
