"""A token file's report: every convention's number, labelled, and an interval that
accounts for documents.

With ``l`` the loss of a row in nats, ``T`` its tokens, ``U`` its count in the ``--per``
unit, and per document ``L_d = Σl``, ``U_d = ΣU`` (``D`` documents):

- ``loss = Σl / ΣU`` in ``--base`` units; ``perplexity = exp(Σl / ΣU)``;
  ``bits_per_token = Σl / (ln 2 · ΣT)``; ``bits_per_byte = Σl / (ln 2 · Σbytes)``,
  ``byte_perplexity = exp(Σl / Σbytes)``, ``word_perplexity = exp(Σl / Σwords)``: the pooled
  figures of lm-evaluation-harness;
- documents: ``mean_loss`` = mean of ``L_d / U_d``, ``mean_perplexity`` = mean of
  ``exp(L_d / U_d)`` (Hugging Face ``evaluate``'s ``mean_perplexity``);
- the interval on ``loss`` with documents as clusters: ``r = ΣL / ΣU``,
  ``se² = D/(D-1) · Σ_d (L_d - r·U_d)² / (ΣU)²``, ``r ± t(1-alpha/2, D-1)·se``; ``se_iid`` is the
  same formula with every row its own cluster, and ``design_effect = (se / se_iid)²``.

Every sum is exact (rounded once), so the report is the same for any order and split of
the rows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xent_cli.core import diagnostics as dx
from xent_cli.core.gates import Gate, gate_reasons
from xent_cli.core.token_state import (
    LOSS,
    LOSS_SQUARED,
    LOSS_TIMES_UNIT,
    P_TRUE,
    SLICE_SEPARATOR,
    TokenState,
)
from xent_cli.core.tokens import TokenPlan
from xent_cli.errors import XentError
from xent_cli.jsonvalues import json_number
from xent_cli.kernels.exact import exact_sum
from xent_cli.kernels.exponential import exp
from xent_cli.kernels.tdist import t_ppf
from xent_cli.options import Base, Per
from xent_cli.version import __version__

UNIT_NAMES = {Per.token: "tokens", Per.byte: "bytes", Per.word: "words"}


@dataclass(frozen=True)
class Interval:
    """The interval on the loss (in the report's base): by documents, or by rows."""

    method: str  # "cluster" or "iid"
    level: float
    low: float | None
    high: float | None
    se: float | None
    se_iid: float | None
    design_effect: float | None
    df: int
    perplexity_low: float | None
    perplexity_high: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "level": self.level,
            "low": json_number(self.low),
            "high": json_number(self.high),
            "se": json_number(self.se),
            "se_iid": json_number(self.se_iid),
            "design_effect": json_number(self.design_effect),
            "df": self.df,
            "perplexity_low": json_number(self.perplexity_low),
            "perplexity_high": json_number(self.perplexity_high),
        }


@dataclass(frozen=True)
class Document:
    id: str
    tokens: int | None
    loss: float
    perplexity: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tokens": self.tokens,
            "loss": json_number(self.loss),
            "perplexity": json_number(self.perplexity),
        }


@dataclass(frozen=True)
class Documents:
    column: str
    count: int
    mean_loss: float | None
    mean_perplexity: float | None
    worst: list[Document]

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "count": self.count,
            "mean_loss": json_number(self.mean_loss),
            "mean_perplexity": json_number(self.mean_perplexity),
            "worst": [d.to_dict() for d in self.worst],
        }


@dataclass(frozen=True)
class TokenSlice:
    key: dict[str, str]
    count: int  # rows scored
    tokens: int | None
    loss: float  # per unit, in the report's base
    perplexity: float
    small: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "count": self.count,
            "tokens": self.tokens,
            "loss": json_number(self.loss),
            "perplexity": json_number(self.perplexity),
            "small": self.small,
        }


@dataclass(frozen=True)
class TokenSlices:
    """``--by``: every slice's loss per unit and perplexity, worst first."""

    by: list[str]
    min_size: int
    groups: list[TokenSlice]

    def eligible(self) -> list[TokenSlice]:
        return [g for g in self.groups if not g.small]

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "min_size": self.min_size,
            "groups": [g.to_dict() for g in self.groups],
        }


@dataclass(frozen=True)
class TokenReport:
    """Everything ``xent eval`` prints for a token file; ``to_dict()`` is its JSON."""

    files: list[str]
    kind: str
    kind_source: str
    base: str
    eps: float
    per: str
    n_rows: int
    n_evaluated: int
    n_masked: int
    n_ignored: int
    n_tokens: int | None
    n_bytes: int | None
    n_words: int | None
    loss: float
    loss_sum: float
    perplexity: float
    bits_per_token: float | None
    bits_per_byte: float | None
    byte_perplexity: float | None
    word_perplexity: float | None
    accuracy: float | None
    mean_p_true: float | None
    ci: Interval
    documents: Documents | None
    columns: dict[str, str]
    warnings: list[dx.WarningRecord] = field(default_factory=list)
    signature: str = ""
    version: str = __version__
    gate: Gate = field(default_factory=Gate)
    mode: str = "tokens"
    slices: TokenSlices | None = None  # --by
    calibration: dict[str, Any] | None = None  # --calibration: the top-1 confidence's

    @property
    def n_skipped(self) -> int:
        return self.n_rows - self.n_evaluated - self.n_masked - self.n_ignored

    @property
    def unit(self) -> str:
        return Base(self.base).unit

    @property
    def denominator(self) -> str:
        return UNIT_NAMES[Per(self.per)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "files": self.files,
            "mode": self.mode,
            "kind": self.kind,
            "kind_source": self.kind_source,
            "base": self.base,
            "unit": self.unit,
            "eps": self.eps,
            "per": self.per,
            "n_rows": self.n_rows,
            "n_evaluated": self.n_evaluated,
            "n_skipped": self.n_skipped,
            "n_masked": self.n_masked,
            "n_ignored": self.n_ignored,
            "n_tokens": self.n_tokens,
            **({"n_bytes": self.n_bytes} if self.n_bytes is not None else {}),
            **({"n_words": self.n_words} if self.n_words is not None else {}),
            "loss": json_number(self.loss),
            "loss_sum": json_number(self.loss_sum),
            "perplexity": json_number(self.perplexity),
            "bits_per_token": json_number(self.bits_per_token),
            **(
                {
                    "bits_per_byte": json_number(self.bits_per_byte),
                    "byte_perplexity": json_number(self.byte_perplexity),
                }
                if self.n_bytes is not None
                else {}
            ),
            **(
                {"word_perplexity": json_number(self.word_perplexity)}
                if self.n_words is not None
                else {}
            ),
            "accuracy": json_number(self.accuracy),
            "mean_p_true": json_number(self.mean_p_true),
            "ci": self.ci.to_dict(),
            **({"documents": self.documents.to_dict()} if self.documents is not None else {}),
            **({"calibration": self.calibration} if self.calibration is not None else {}),
            **({"slices": self.slices.to_dict()} if self.slices is not None else {}),
            "columns": self.columns,
            "classes": [],
            "warnings": [w.to_dict(False) for w in self.warnings],
            "gate": self.gate.to_dict(),
            "signature": self.signature,
        }


def apply_token_gate(
    report: TokenReport,
    max_loss: float | None,
    strict: bool,
    *,
    max_slice_loss: float | None = None,
    max_slice_gap: float | None = None,
) -> TokenReport:
    """The report with its gates judged as for any report: ``--max-loss``, ``--strict``, and
    with ``--by`` the slice gates on the eligible slices' loss per unit."""
    reasons = gate_reasons(report.loss, report.unit, report.warnings, max_loss, strict)
    unit = f"{report.unit}/{report.per}"
    for name, value in (("--max-slice-loss", max_slice_loss), ("--max-slice-gap", max_slice_gap)):
        if value is not None and report.slices is None:
            raise XentError(f"{name} needs --by COL (the slices it judges)")
    eligible = report.slices.eligible() if report.slices is not None else []
    worst = eligible[0] if eligible else None
    if max_slice_loss is not None and worst is not None and not worst.loss <= max_slice_loss:
        reasons.append(
            f"slice {_key_text(worst.key)} loss {worst.loss:.6g} {unit} exceeds "
            f"--max-slice-loss {max_slice_loss:g}"
        )
    if max_slice_gap is not None and worst is not None:
        gap = worst.loss - report.loss
        if not gap <= max_slice_gap:
            reasons.append(
                f"slice {_key_text(worst.key)} is {gap:.6g} {unit} above the overall loss, "
                f"more than --max-slice-gap {max_slice_gap:g}"
            )
    gate = Gate(max_loss, strict, not reasons, tuple(reasons), max_slice_loss, max_slice_gap)
    return dataclasses.replace(report, gate=gate)


def _key_text(key: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())


def build_token_report(
    plan: TokenPlan,
    state: TokenState,
    files: list[str],
    inputs: str,
    *,
    min_slice_size: int | None = None,
) -> TokenReport:
    """Finish a token state into its report (exit 2 when nothing was scored)."""
    if state.n_rows == 0:
        raise XentError(f"{inputs}: no data rows (only a header, or empty)")
    if state.n_evaluated == 0:
        raise XentError(
            f"{inputs}: no token rows to evaluate: all {state.n_rows} rows were masked, "
            "ignored or skipped"
        )
    settings = plan.settings
    per_nat = 1.0 / settings.base.log
    counts = state.counts
    total_unit = {
        Per.token: counts["tokens"],
        Per.byte: counts["bytes"],
        Per.word: counts["words"],
    }[plan.per]
    if total_unit <= 0:
        raise XentError(
            f"{inputs}: the rows scored cover 0 {UNIT_NAMES[plan.per]}: the loss per "
            f"{plan.per.value} is undefined",
            hint="choose another unit with --per",
        )
    exact = [part.exact_total() for part in state.sums]
    loss_nats = state.sums[LOSS].total()
    rate = loss_nats / total_unit
    n_tokens = counts["tokens"] if plan.tokens_known else None
    n_bytes = counts["bytes"] if plan.bytes_column else None
    n_words = counts["words"] if plan.words_column else None
    finished = state.documents.finish() if state.documents is not None else None
    ci = _interval(plan, state, finished, exact, total_unit, per_nat)
    documents = _documents(plan, finished, per_nat) if finished is not None else None
    warnings = _warnings(plan, state)
    return TokenReport(
        files=files,
        kind=plan.kind,
        kind_source=plan.kind_source,
        base=settings.base.value,
        eps=settings.eps,
        per=plan.per.value,
        n_rows=state.n_rows,
        n_evaluated=state.n_evaluated,
        n_masked=state.n_masked,
        n_ignored=state.n_ignored,
        n_tokens=n_tokens,
        n_bytes=n_bytes,
        n_words=n_words,
        loss=rate * per_nat,
        loss_sum=loss_nats * per_nat,
        perplexity=_exp(rate),
        bits_per_token=loss_nats / (math.log(2) * n_tokens) if n_tokens else None,
        bits_per_byte=loss_nats / (math.log(2) * n_bytes) if n_bytes else None,
        byte_perplexity=_exp(loss_nats / n_bytes) if n_bytes else None,
        word_perplexity=_exp(loss_nats / n_words) if n_words else None,
        accuracy=counts["top1"] / counts["n_topk"] if counts["n_topk"] else None,
        mean_p_true=(
            state.sums[P_TRUE].total() / counts["n_p_true"] if counts["n_p_true"] else None
        ),
        ci=ci,
        documents=documents,
        columns=plan.columns(),
        warnings=warnings,
        signature=plan.signature(),
        slices=_slices(plan, state, per_nat, min_slice_size),
        calibration=_calibration(plan, state),
    )


def _calibration(plan: TokenPlan, state: TokenState) -> dict[str, Any] | None:
    """The top-1 confidence's calibration over the tokens with a top-k list (ECE, MCE, the
    top-label Brier score ``mean (p_top - [top-1 right])**2``, the bins)."""
    if plan.convention is None or state.calibration is None:
        return None
    from xent_cli.metrics.calibration import calibration_figures

    n = state.counts["n_topk"]
    figures = calibration_figures(state.calibration, plan.convention, [], 0.0, float(n), 1.0)
    return figures.to_dict()


def _slices(
    plan: TokenPlan, state: TokenState, per_nat: float, min_size: int | None
) -> TokenSlices | None:
    """Each slice's loss per unit and perplexity (counts: rows, tokens, units), worst first;
    slices of fewer than ``min_size`` rows (20) are marked small."""
    if plan.slicer is None or state.slices is None:
        return None
    from xent_cli.core.slicer import DEFAULT_MIN_SLICE_SIZE

    size = DEFAULT_MIN_SLICE_SIZE if min_size is None else min_size
    names = plan.slicer.names
    keys, sums, counts = state.slices.finish(ordered=True)
    groups = []
    for key, loss, (rows, tokens, units) in zip(keys, sums.tolist(), counts.tolist(), strict=True):
        rate = loss / units if units > 0 else math.nan
        groups.append(
            TokenSlice(
                key=dict(zip(names, key.split(SLICE_SEPARATOR), strict=True)),
                count=int(rows),
                tokens=int(tokens) if plan.tokens_known else None,
                loss=rate * per_nat,
                perplexity=_exp(rate) if units > 0 else math.nan,
                small=rows < size,
            )
        )
    groups.sort(key=_worst_first)
    return TokenSlices(names, size, groups)


def _worst_first(group: TokenSlice) -> tuple[float, list[str]]:
    return (-group.loss if not math.isnan(group.loss) else math.inf, list(group.key.values()))


def _exp(x: float) -> float:
    return math.exp(x) if x < 709.0 else math.inf


#: The documents' keys, their ``Σl`` (nats) and counts (tokens, bytes, words), as finished
Finished = tuple[Sequence[str], NDArray[np.float64], NDArray[np.int64]]


def _interval(
    plan: TokenPlan,
    state: TokenState,
    finished: Finished | None,
    exact: list[Fraction | None],
    total_unit: int,
    per_nat: float,
) -> Interval:
    """The t interval on the loss: documents as clusters when there are documents, else
    rows; ``se_iid`` always with rows as clusters (exactly, from exact sums)."""
    level = plan.settings.confidence
    n = state.n_evaluated
    loss, squared, cross = exact[LOSS], exact[LOSS_SQUARED], exact[LOSS_TIMES_UNIT]
    se_iid = None
    if n > 1 and loss is not None and squared is not None and cross is not None:
        r = loss / total_unit
        spread = squared - 2 * r * cross + r * r * state.counts["unit_squared"]
        se_iid = math.sqrt(max(float(spread * n / (n - 1)), 0.0)) / total_unit
    method, se, clusters = "iid", se_iid, n
    if finished is not None:
        method = "cluster"
        keys, sums, doc_counts = finished
        clusters = len(keys)
        se = None
        if clusters > 1 and loss is not None:
            r_float = float(loss / total_unit)
            units = _doc_units(plan, doc_counts).astype(np.float64)
            terms = (sums - r_float * units) ** 2
            se = math.sqrt(clusters / (clusters - 1) * exact_sum(terms)) / total_unit
    rate = state.sums[LOSS].total() / total_unit
    df = clusters - 1
    low = high = None
    if se is not None and df >= 1 and math.isfinite(se):
        half = t_ppf(0.5 + level / 2, df) * se
        low, high = rate - half, rate + half
    design = (se / se_iid) ** 2 if se is not None and se_iid else None
    return Interval(
        method=method,
        level=level,
        low=None if low is None else low * per_nat,
        high=None if high is None else high * per_nat,
        se=None if se is None else se * per_nat,
        se_iid=None if se_iid is None else se_iid * per_nat,
        design_effect=design,
        df=df,
        perplexity_low=None if low is None else _exp(low),
        perplexity_high=None if high is None else _exp(high),
    )


def _doc_units(plan: TokenPlan, counts: np.ndarray) -> np.ndarray:
    return counts[:, {Per.token: 0, Per.byte: 1, Per.word: 2}[plan.per]]


def _documents(plan: TokenPlan, finished: Finished, per_nat: float) -> Documents:
    """The documents' means (over documents with units) and the worst ones."""
    assert plan.doc_column is not None
    keys, sums, counts = finished
    units = _doc_units(plan, counts)
    has = units > 0
    rates = np.zeros(len(keys))
    rates[has] = sums[has] / units[has]
    count = int(has.sum())
    mean_loss = exact_sum(rates[has]) / count * per_nat if count else None
    perplexities = exp(rates)  # (the same bits on every machine, as mean_p_true's)
    mean_perplexity = exact_sum(perplexities[has]) / count if count else None
    order = _worst(rates, has, keys, plan.settings.top_docs)
    worst = [
        Document(
            id=keys[i],
            tokens=int(counts[i, 0]) if plan.tokens_known else None,
            loss=float(rates[i]) * per_nat,
            perplexity=float(perplexities[i]),
        )
        for i in order
    ]
    return Documents(plan.doc_column, len(keys), mean_loss, mean_perplexity, worst)


def _worst(
    rates: NDArray[np.float64], has: NDArray[np.bool_], keys: Sequence[str], n: int
) -> list[int]:
    """The ``n`` documents with the highest loss per unit, worst first (ties: by id): the
    candidates are those at or above the n-th highest rate, so only they are sorted."""
    if n <= 0 or not has.any():
        return []
    scored = np.flatnonzero(has)
    values = rates[scored]
    if len(values) > n:
        threshold = np.partition(values, len(values) - n)[len(values) - n]
        scored = scored[values >= threshold]
    return sorted(scored.tolist(), key=lambda i: (-rates[i], keys[i]))[:n]


def _warnings(plan: TokenPlan, state: TokenState) -> list[dx.WarningRecord]:
    """The state's warnings with their sentences in a token file's words (a zero
    probability is a -inf log-prob; a row is skipped for its value or its counts)."""
    records = state.diagnostics.records(plan.settings)
    for record in records:
        n = record.count
        if record.code == dx.NON_FINITE:
            value, infinite = (
                ("log-probability", "+inf") if plan.kind == "logprob" else ("NLL", "-inf")
            )
            record.message = (
                f"{n} row{'s' if n != 1 else ''} with a missing or NaN {value} "
                f"(or {infinite}), or a missing count, skipped"
            )
        if record.code == dx.ZERO_PROBABILITY:
            eps = plan.settings.eps
            clip = -math.log(eps) / plan.settings.base.log if eps > 0 else math.inf
            record.message = (
                f"{n} row{'s' if n != 1 else ''} gave the actual token log-probability -inf; "
                f"loss clipped to -log(eps) = {clip:.4g} {plan.settings.base.unit} per token"
            )
    return records
