"""``xent compare --by`` of token files: the paired delta per slice of the baseline's rows.

Each paired row goes to the slice of its **baseline** row (the ``--by`` columns and bins of
the baseline, as in ``xent eval``; the candidate's copy of the columns, if any, is never
read). Per slice ``s``, with ``l`` a paired row's loss (nats) and ``U`` its baseline count in
the ``--per`` unit, exact sums (one bucket per slice) give

- ``loss_baseline = Σ_s l_b / Σ_s U``, ``loss_candidate``, ``delta = (Σ_s l_c - Σ_s l_b) /
  Σ_s U`` and ``perplexity_ratio = exp(delta)``; ``contribution = (Σ_s l_c - Σ_s l_b) / Σ U``
  over all paired rows, so the slices' contributions add up to the overall delta;
- with documents, the cluster-t interval over the slice's documents: the clusters are the
  (slice, document) sums ``Lb_d``, ``Lc_d``, ``U_d`` (a document whose rows fall in two
  slices is a cluster in each), ``r = delta``, ``se² = D_s/(D_s-1) · Σ_d (D_d - r U_d)² /
  (Σ_s U)²``, ``delta ± t(1-a/2, D_s-1) · se``: a slice of one document has no interval;
- without documents, every row its own cluster (``t`` on ``n_s - 1``; per token, the paired
  t interval of the slice's rows).

Paired by document (``--pair-by doc``) a slice holds whole documents: each document is in the
slice of its baseline rows (a document with rows in more than one slice: exit 2). Per slice
each side is normalized by its own units, ``delta = Σ_s Lc/Σ_s Uc - Σ_s Lb/Σ_s Ub`` with the
linearized cluster se of :func:`~xent_cli.comparison.token_stats.cluster_se` over its
documents, and ``contribution = Σ_s Lc/ΣUc - Σ_s Lb/ΣUb``. Every sum is exact: the slices
are the same for any order and split of the rows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from xent_cli.comparison.pairing import Entries, SliceCodes
from xent_cli.comparison.request import exp_or_inf
from xent_cli.comparison.slices import SliceComparison, SliceDelta, TokenFigures
from xent_cli.comparison.stats import Statistics, p_value, t_interval
from xent_cli.comparison.token_stats import cluster_se_by, document_rows, rows_se
from xent_cli.core.slice_report import slice_order
from xent_cli.core.token_state import KeyedSums, TokenRows
from xent_cli.errors import XentError
from xent_cli.kernels.exact import ExactSums, exact_sum

Float = NDArray[np.float64]
SEPARATOR = "\x1f"  # between a slice's code and a document id in a (slice, document) key


@dataclass(frozen=True)
class SliceOptions:
    """How the slices are judged and shown: ``per_nat`` converts nats to the report's unit."""

    per_nat: float
    confidence: float
    min_size: int
    tokens_known: bool


_SUMS = ("b", "c", "dd", "du")  # Σ l_b, Σ l_c, Σ d², Σ d·u per slice
_ROWS, _UNITS, _UNITS_SQUARED, _TOKENS = range(4)


@dataclass
class PairedTokenSlices:
    """Per slice code (one bucket each), exact sums of the paired rows' losses, ``d²`` and
    ``d·u``, and integer counts; with documents, each side's (slice, document) sums in one
    :class:`KeyedSums` per side (memory: the pairs present, not slices x documents)."""

    codes: SliceCodes
    sums: dict[str, ExactSums] = field(default_factory=lambda: {k: ExactSums(0) for k in _SUMS})
    counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    documents: tuple[KeyedSums, KeyedSums] | None = None

    def add(self, b: Entries, c: Entries) -> None:
        assert b.slice is not None
        assert b.unit is not None
        assert b.tokens is not None
        n = len(self.codes.keys)
        if n > len(self.counts):
            room = max(n, 2 * len(self.counts), 16)
            self.sums = {k: s.resized(room) for k, s in self.sums.items()}
            self.counts = np.pad(self.counts, ((0, room - len(self.counts)), (0, 0)))
        codes = b.slice.astype(np.intp)
        d = c.loss - b.loss
        u = b.unit.astype(np.float64)
        for name, values in zip(_SUMS, (b.loss, c.loss, d * d, d * u), strict=True):
            self.sums[name].add(codes, values)
        weights = (np.ones(len(u)), u, u * u, b.tokens.astype(np.float64))
        for j, values in zip((_ROWS, _UNITS, _UNITS_SQUARED, _TOKENS), weights, strict=True):
            added = np.bincount(codes, weights=values, minlength=len(self.counts))
            self.counts[:, j] += added.astype(np.int64)  # integer sums below 2**53: exact
        if self.documents is not None:
            assert b.doc is not None
            prefix = pc.cast(pa.array(b.slice), pa.string())
            keyed = dataclasses.replace(
                b, doc=pc.binary_join_element_wise(prefix, b.doc, SEPARATOR)
            )
            for sums, side in zip(self.documents, (b, c), strict=True):
                sums.add_documents(document_rows(side, keyed))

    def build(self, unit_column: int, total_units: int, options: SliceOptions) -> SliceComparison:
        """Every slice's figures (see the module docstring), sorted by key."""
        n = len(self.codes.keys)
        rows, units, units_squared, tokens = (self.counts[:n, j].tolist() for j in range(4))
        sums = {k: s.head(n) for k, s in self.sums.items()}
        floats = {k: sums[k].finish() for k in ("b", "c")}
        exact = {k: [p.exact_total() for p in s.split(1)] if n else [] for k, s in sums.items()}
        clustered = None
        if self.documents is not None:  # each slice's (slice, document) sums: cluster t
            keys, lb, counts = self.documents[0].finish()
            _, lc, _ = self.documents[1].finish()
            slice_of = np.array([int(k.split(SEPARATOR, 1)[0]) for k in keys], np.intp)
            u = counts[:, unit_column].astype(np.float64)
            total = np.array(units, np.float64)
            clustered = cluster_se_by(slice_of, n, (lb, lc, u, u), total, total)
        groups = []
        for code in range(n):
            b, c = exact["b"][code], exact["c"][code]
            if b is not None and c is not None:
                difference: float = float(c - b)
            else:
                difference = float(floats["c"][code] - floats["b"][code])
            stats = documents = None
            if units[code] > 0:
                delta_exact = None if b is None or c is None else (c - b) / units[code]
                delta = difference / units[code] if delta_exact is None else float(delta_exact)
                if clustered is not None:
                    se, df = float(clustered[0][code]), int(clustered[1][code])
                    documents = df + 1
                else:
                    se = rows_se(exact["dd"][code], exact["du"][code], delta_exact, rows[code],
                                 units[code], units_squared[code])  # fmt: skip
                    df = rows[code] - 1
                loss_b, loss_c = (float(floats[k][code]) / units[code] for k in ("b", "c"))
                stats = Statistics(rows[code], float(units[code]), loss_b, loss_c, delta, se, df)
            group = _group(self.codes, code, rows[code], tokens[code], units[code], documents,
                           stats, difference / total_units, options)  # fmt: skip
            groups.append(group)
        method = "cluster-t" if self.documents is not None else "t"
        return _comparison(self.codes, groups, options, method, "rows")


@dataclass
class DocumentSlices:
    """Each document's slice, from its baseline rows (``--pair-by doc``). Per document, exact
    sums of its rows' slice codes ``c`` and ``c²`` (keyed as the documents' own sums are): its
    rows lie in one slice iff ``n · Σc² = (Σc)²``; else exit 2."""

    codes: SliceCodes
    sums: tuple[KeyedSums, KeyedSums] = field(default_factory=lambda: (KeyedSums(), KeyedSums()))

    def add(self, rows: TokenRows, slices: NDArray[np.int64]) -> None:
        """A batch's scored rows and their slice codes."""
        code = slices.astype(np.float64)
        ones = np.ones(len(code), np.int64)
        for sums, values in zip(self.sums, (code, code * code), strict=True):
            sums.add_documents(
                dataclasses.replace(rows, loss=values, tokens=ones, n_bytes=None, words=None)
            )

    def slice_of(self) -> dict[str, int]:
        """Each document's slice code (exit 2 naming a document whose rows hold two)."""
        keys, firsts, counts = self.sums[0].finish()
        squares = dict(zip(self.sums[1].keys, self.sums[1].finish()[1].tolist(), strict=True))
        out = {}
        for key, n, total in zip(keys, counts[:, 0].tolist(), firsts.tolist(), strict=True):
            first, second = int(total), int(squares[key])  # integers below 2**53: exact
            if n * second != first * first:
                raise XentError(
                    f"--by {','.join(self.codes.slicer.names)}: document {key!r} has rows in "
                    "more than one slice; --pair-by doc compares whole documents, so each "
                    "document must lie in one slice",
                    hint="slice by a column that is constant within each document, or pair "
                    "tokens (--pair-by token or row)",
                )
            out[key] = first // n
        return out

    def build(
        self,
        keys: Sequence[str],
        sides: tuple[Float, Float, Float, Float],
        tokens: NDArray[np.int64],
        options: SliceOptions,
    ) -> SliceComparison:
        """The paired documents' slices: ``keys`` the documents, ``sides`` their sums
        ``Lb``, ``Lc``, ``Ub``, ``Uc`` (paired, aligned with ``keys``), ``tokens`` the
        baseline's."""
        lb, lc, ub, uc = sides
        total_b, total_c = exact_sum(ub), exact_sum(uc)
        slice_of = self.slice_of()
        codes = np.array([slice_of[k] for k in keys], np.intp)
        n = len(self.codes.keys)
        per_slice = [ExactSums(n) for _ in range(4)]
        for part, values in zip(per_slice, (lb, lc, ub, uc), strict=True):
            part.add(codes, values)
        sum_b, sum_c, units_b, units_c = (part.finish() for part in per_slice)
        se, df = cluster_se_by(codes, n, sides, units_b, units_c)
        count = np.bincount(codes, minlength=n)
        tokens_b = np.bincount(codes, weights=tokens, minlength=n).astype(np.int64)
        groups = []
        for code in np.flatnonzero(count).tolist():
            stats = None
            if units_b[code] > 0 and units_c[code] > 0:
                loss_b, loss_c = sum_b[code] / units_b[code], sum_c[code] / units_c[code]
                stats = Statistics(int(count[code]), float(units_b[code]), loss_b, loss_c,
                                   loss_c - loss_b, float(se[code]), int(df[code]))  # fmt: skip
            contribution = sum_c[code] / total_c - sum_b[code] / total_b
            group = _group(self.codes, code, int(count[code]), int(tokens_b[code]),
                           int(units_b[code]), int(count[code]), stats, contribution,
                           options)  # fmt: skip
            groups.append(group)
        return _comparison(self.codes, groups, options, "cluster-t", "documents")


def _group(
    codes: SliceCodes,
    code: int,
    count: int,
    tokens: int,
    units: int,
    documents: int | None,
    stats: Statistics | None,
    contribution: float,
    options: SliceOptions,
) -> SliceDelta:
    """One slice's figures in the report's unit (``stats`` in nats; None: no units)."""
    per_nat = options.per_nat
    if stats is None:
        low = high = se = math.nan
        df = 0
    else:
        low, high = t_interval(stats, options.confidence)
        se, df = stats.se, int(stats.df)
    has = stats is not None
    token = TokenFigures(
        tokens=tokens if options.tokens_known else None,
        units=units,
        documents=documents,
        se=se * per_nat,
        df=df,
        perplexity_ratio=exp_or_inf(stats.delta) if stats is not None else math.nan,
        perplexity_ratio_low=exp_or_inf(low),
        perplexity_ratio_high=exp_or_inf(high),
    )
    return SliceDelta(
        key=dict(zip(codes.slicer.names, codes.keys[code], strict=True)),
        count=count,
        weight=float(units),
        loss_baseline=stats.loss_baseline * per_nat if stats is not None else None,
        loss_candidate=stats.loss_candidate * per_nat if stats is not None else None,
        delta=stats.delta * per_nat if stats is not None else None,
        contribution=contribution * per_nat,
        ci_low=low * per_nat if has else None,
        ci_high=high * per_nat if has else None,
        p_value=p_value(stats) if stats is not None else None,
        small=count < options.min_size,
        token=token,
        stats=stats,
    )


def _comparison(
    codes: SliceCodes, groups: list[SliceDelta], options: SliceOptions, method: str, entries: str
) -> SliceComparison:
    slicer = codes.slicer
    groups.sort(key=lambda g: slice_order(slicer, tuple(g.key.values())))
    eligible = [g for g in groups if not g.small and g.delta is not None]
    worst = max(eligible, key=lambda g: g.delta or 0.0) if eligible else None
    return SliceComparison(
        slicer.names,
        options.min_size,
        options.confidence,
        groups,
        worst.key if worst else None,
        method=method,
        entries=entries,
    )
