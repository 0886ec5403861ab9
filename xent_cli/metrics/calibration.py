"""--calibration: mergeable state (reliability bins, Brier sum, temperature grid), its
finished figures, and :data:`CALIBRATION`, the add-on metric that runs them.

``CalibrationState.add`` folds in one batch's :class:`~xent_cli.metrics.confidence.Confidences`,
``merge`` adds two states, and :func:`calibration_figures` turns a state into
:class:`Calibration`, the report's ``calibration`` entry: ECE, MCE (see
:mod:`xent_cli.metrics.reliability`), Brier score ``sum_i w_i b_i / sum_i w_i`` (b: a row's
``sum_c (p_c - y_c)^2``; binary ``(p - y)^2``; multilabel: per cell) and, with
``decompose``, the temperature scan. Each ``--by`` slice gets
its ECE, MCE and Brier score (top-label or positive-class targets; no temperature scan).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xent_cli.errors import XentError
from xent_cli.jsonvalues import json_number
from xent_cli.kernels.accumulate import weighted
from xent_cli.kernels.exact import ExactSums
from xent_cli.kernels.mergeable import FieldState, nested, setting
from xent_cli.metrics.base import BatchScores, CoreTotals, Metric
from xent_cli.metrics.confidence import Confidences, confidences
from xent_cli.metrics.reliability import (
    N_FINE,
    Bin,
    BinSums,
    ece_mce,
    fine_bin,
    mass_bins,
    n_width_buckets,
    width_bin,
    width_bins,
)
from xent_cli.metrics.temperature import (
    Decomposition,
    TemperatureSums,
    as_logits,
    decompose,
    grid_losses,
)
from xent_cli.options import BinEdges, CalibrationSpec, EceBinning, EceTarget, Mode, Settings

Float = NDArray[np.float64]
MAX_MASS_CLASSES = 64  # classwise x fine histogram: 64 x 10241 buckets at most


@dataclass(frozen=True)
class Convention:
    """A spec resolved for a mode: what is binned and how (echoed next to every number)."""

    target: EceTarget
    n_bins: int
    binning: EceBinning
    edges: BinEdges
    preset: str | None
    decompose: bool

    @classmethod
    def of(cls, spec: CalibrationSpec, mode: Mode) -> Convention:
        target = spec.resolved_target(mode)
        if target is EceTarget.positive and mode is Mode.categorical:
            raise XentError(
                "--ece-target positive needs one positive class (binary or multilabel mode)",
                hint="use --ece-target top or classwise for categorical predictions",
            )
        return cls(
            target,
            spec.n_bins,
            spec.binning,
            spec.edges,
            spec.preset.value if spec.preset is not None else None,
            spec.decompose,
        )

    @property
    def buckets(self) -> int:
        """Buckets per group (class, for classwise) of the state."""
        if self.binning is EceBinning.mass:
            return N_FINE
        return n_width_buckets(self.n_bins, self.edges)

    def bucket(self, p: Float) -> NDArray[np.intp]:
        if self.binning is EceBinning.mass:
            return fine_bin(p)
        return width_bin(p, self.n_bins, self.edges)

    @property
    def edge_rule(self) -> str:
        if self.binning is EceBinning.mass:
            return "on the edges of a fine histogram (128 per octave of min(p, 1 - p))"
        return self.edges.rule

    @property
    def text(self) -> str:
        """One line: target, bins, binning, edge rule (and the preset)."""
        what = {
            EceTarget.top: "top-label",
            EceTarget.positive: "positive-class",
            EceTarget.classwise: "classwise (mean one-vs-rest)",
        }[self.target]
        binning = "equal-width" if self.binning is EceBinning.width else "equal-mass"
        text = f"{what}, {self.n_bins} {binning} bins {self.edge_rule}"
        return f"{text} ({self.preset} preset)" if self.preset else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.value,
            "n_bins": self.n_bins,
            "binning": self.binning.value,
            "edges": self.edge_rule,
            "edge_rule": self.edges.value if self.binning is EceBinning.width else "fine",
            "preset": self.preset,
            "convention": self.text,
        }


@dataclass(eq=False)
class CalibrationState(FieldState):
    """Per-bin exact sums (classwise: per class x bin), the Brier sum, temperature sums;
    mergeable (:mod:`xent_cli.kernels.mergeable`)."""

    bins: BinSums = nested(BinSums)
    brier: ExactSums = nested(ExactSums)
    n_groups: int = setting(int, default=1)  # classwise: the number of classes; else 1
    temperature: TemperatureSums | None = nested(TemperatureSums, optional=True)

    @classmethod
    def empty(cls, convention: Convention, n_classes: int, weighted: bool) -> CalibrationState:
        groups = n_classes if convention.target is EceTarget.classwise else 1
        if groups > MAX_MASS_CLASSES and convention.binning is EceBinning.mass:
            raise XentError(
                f"classwise equal-mass bins are kept for at most {MAX_MASS_CLASSES} classes "
                f"(here {n_classes})",
                hint="use --ece-binning width for classwise calibration of many classes",
            )
        return cls(
            BinSums.zeros(groups * convention.buckets, weighted),
            ExactSums(1),
            groups,
            TemperatureSums.zeros() if convention.decompose else None,
        )

    def add(
        self,
        convention: Convention,
        rows: Confidences,
        weight: Float | None,
        grid: list[Float] | None,
    ) -> None:
        """One batch: its confidences, per-entry weights, temperature-grid losses."""
        self.brier.add(None, rows.brier if weight is None else weighted(rows.brier, weight))
        if self.temperature is not None and grid is not None:
            self.temperature.add(grid, weight)
        if convention.target is not EceTarget.classwise:
            bucket = convention.bucket(rows.confidence)
            self.bins.add(bucket, rows.confidence, rows.observed, weight, rows.soft)
            return
        p, y = rows.class_p, rows.class_y
        assert p is not None
        assert y is not None
        k = p.shape[1]
        offsets = np.arange(k, dtype=np.intp) * convention.buckets
        buckets = (convention.bucket(p.ravel()).reshape(p.shape) + offsets).ravel()
        p_cells, y_cells = p.ravel(), y.ravel()
        w = None
        if rows.class_kept is not None:  # multilabel --ignore-label: the cells scored
            keep = rows.class_kept.ravel()
            buckets, p_cells, y_cells, w = buckets[keep], p_cells[keep], y_cells[keep], weight
        elif weight is not None:
            w = weight if len(weight) == p.size else np.repeat(weight, k)
        self.bins.add(buckets, p_cells, y_cells, w, rows.soft)


@dataclass(frozen=True)
class ClassCalibration:
    name: str
    ece: float | None
    mce: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.name, "ece": self.ece, "mce": self.mce}


@dataclass(frozen=True)
class Calibration:
    """The report's calibration figures and the convention that made them."""

    convention: Convention
    ece: float | None
    mce: float | None
    brier: float | None
    bins: tuple[Bin, ...]
    per_class: tuple[ClassCalibration, ...] = ()
    temperature: Decomposition | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.convention.to_dict(),
            "ece": json_number(self.ece),
            "mce": json_number(self.mce),
            "brier": json_number(self.brier),
            "bins": [b.to_dict() for b in self.bins],
        }
        if self.per_class:
            out["per_class"] = [c.to_dict() for c in self.per_class]
        if self.temperature is not None:
            out["temperature"] = self.temperature.to_dict()
        return out


def calibration_figures(
    state: CalibrationState,
    convention: Convention,
    class_names: list[str],
    loss_sum: float,
    total_weight: float,
    log_base: float,
) -> Calibration:
    """Round the sums and compute the figures. ``loss_sum`` (nats) and ``total_weight``:
    the run's totals over the same entries (the loss at T = 1, the Brier denominator)."""
    brier = state.brier.total() / total_weight if total_weight > 0 else None
    temperature = None
    if state.temperature is not None:
        temperature = decompose(state.temperature, loss_sum, total_weight, log_base)
    count, weight, p_sum, o_sum = state.bins.finish()
    per = convention.buckets
    groups = [
        (count[g * per : (g + 1) * per], weight[g * per : (g + 1) * per],
         p_sum[g * per : (g + 1) * per], o_sum[g * per : (g + 1) * per])
        for g in range(state.n_groups)
    ]  # fmt: skip

    def binned(sums: tuple[Any, Any, Any, Any]) -> list[Bin]:
        if convention.binning is EceBinning.mass:
            return mass_bins(sums, convention.n_bins)
        return width_bins(sums, convention.n_bins, convention.edges)

    if state.n_groups == 1:
        bins = binned(groups[0])  # top / positive: every entry is in one bin
        ece, mce = ece_mce(bins, total_weight)
        return Calibration(convention, ece, mce, brier, tuple(bins), (), temperature)
    per_class = []
    for name, sums in zip(class_names, groups, strict=True):
        class_bins = binned(sums)
        ece_c, mce_c = ece_mce(class_bins, float(math.fsum(sums[1].tolist())))
        per_class.append(ClassCalibration(name, ece_c, mce_c))
    pooled = tuple(np.sum(np.stack([g[i] for g in groups]), axis=0) for i in range(4))
    eces = [c.ece for c in per_class if c.ece is not None]
    mces = [c.mce for c in per_class if c.mce is not None]
    ece = math.fsum(eces) / len(eces) if eces else None
    mce = max(mces) if mces else None
    return Calibration(
        convention, ece, mce, brier, tuple(binned(pooled)), tuple(per_class), temperature
    )


# -- the add-on metric ---------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationInputs:
    """One batch's inputs: confidences, and (--decompose) losses at each grid temperature."""

    confidences: Confidences
    grid: list[Float] | None = None


class CalibrationMetric(Metric[Convention, CalibrationInputs, CalibrationState, Calibration]):
    """``--calibration``: the state, its figures, and each slice's ECE, MCE and Brier score."""

    key = "calibration"
    uses_logit_parts = True  # the top-label probability and Brier score from the loss's sums

    def configure(self, settings: Settings, mode: Mode) -> Convention | None:
        spec = settings.calibration
        return Convention.of(spec, mode) if spec is not None else None

    def fingerprint(self, settings: Settings) -> Any:
        spec = settings.calibration
        return spec.to_dict() if spec is not None else None

    def inputs(self, config: Convention, batch: BatchScores) -> CalibrationInputs:
        rows = confidences(
            batch.mode,
            batch.kind,
            config.target,
            batch.scores,
            batch.labels,
            batch.targets,
            batch.scored,
            batch.logit_parts,
            batch.kept,
        )
        if not config.decompose:
            return CalibrationInputs(rows)
        logits = as_logits(batch.scores, batch.kind, batch.mode, batch.eps)
        grid = grid_losses(logits, batch.mode, batch.labels, batch.targets, batch.kept)
        return CalibrationInputs(rows, grid)

    def empty(self, config: Convention, n_classes: int, weighted: bool) -> CalibrationState:
        return CalibrationState.empty(config, n_classes, weighted)

    def load(self, state: dict[str, Any]) -> CalibrationState:
        return CalibrationState.from_state(state)

    def add(
        self,
        state: CalibrationState,
        config: Convention,
        inputs: CalibrationInputs,
        weight: Float | None,
    ) -> None:
        state.add(config, inputs.confidences, weight, inputs.grid)

    def finish(
        self, state: CalibrationState, config: Convention, totals: CoreTotals
    ) -> Calibration:
        return calibration_figures(
            state,
            config,
            totals.class_names,
            totals.loss_sum,
            totals.total_weight,
            totals.log_base,
        )

    def per_slice(self, config: Convention) -> Convention | None:
        """Top-label or positive-class targets (classwise and the temperature scan are the
        whole run's only)."""
        if config.target is EceTarget.classwise:
            return None
        return dataclasses.replace(config, decompose=False)

    def slice_columns(self, inputs: CalibrationInputs) -> tuple[NDArray[Any], ...]:
        rows = inputs.confidences
        return rows.confidence, rows.observed, rows.brier

    def slice_inputs(self, columns: tuple[NDArray[Any], ...]) -> CalibrationInputs:
        confidence, observed, brier = columns
        return CalibrationInputs(Confidences(confidence, observed, brier))

    def slice_figures(
        self, state: CalibrationState, config: Convention, totals: CoreTotals
    ) -> dict[str, float | None]:
        figures = self.finish(state, config, totals)
        return {"ece": figures.ece, "mce": figures.mce, "brier": figures.brier}


CALIBRATION = CalibrationMetric()
