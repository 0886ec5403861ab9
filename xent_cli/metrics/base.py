"""What an add-on metric is: one object that the core drives through a run's whole life.

An add-on metric (``--calibration`` is the first) is a :class:`Metric`, registered in
:data:`xent_cli.metrics.METRICS`. The core never names it: for every metric asked for in a
run (:class:`ActiveMetric`, the metric and its settings resolved for the run's mode) it

1. computes the batch's inputs from what the core scored (:meth:`Metric.inputs`, from a
   :class:`BatchScores`);
2. folds them into the metric's mergeable state (:meth:`Metric.empty`, :meth:`Metric.add`);
   the state follows :mod:`xent_cli.kernels.mergeable`, so merging, ``==`` and saving come
   with it (saved under the metric's ``key``, loaded by :meth:`Metric.load`);
3. with ``--by``, files each slice's share of the inputs into that slice's own state, when
   :meth:`Metric.per_slice` gives settings for slices (:meth:`Metric.slice_columns` and
   :meth:`Metric.slice_inputs` cut the inputs by entry);
4. finishes the state into a result with ``to_dict()`` (the report's JSON under ``key``;
   :meth:`Metric.finish`), and each slice's into a few figures of its slice row
   (:meth:`Metric.slice_figures`), given the core's totals over the same entries
   (:class:`CoreTotals`).

:meth:`Metric.fingerprint` is the metric's part of a saved state's fingerprint: the settings
that must agree for two saved states to merge.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from xent_cli.kernels.mergeable import Mergeable
from xent_cli.kernels.scoring import Scored
from xent_cli.options import Kind, Mode, Settings

Float = NDArray[np.float64]
Int = NDArray[np.intp]

Config = TypeVar("Config")  # the metric's settings, resolved for a run's mode
Inputs = TypeVar("Inputs")  # one batch's inputs to the metric
State = TypeVar("State", bound=Mergeable)  # its mergeable state
Result = TypeVar("Result")  # its finished figures (with to_dict(): the JSON report's entry)


@dataclass(frozen=True)
class BatchScores:
    """One batch's evaluated entries as the core validated and scored them.

    scores: (n, k) validated scores (binary: (n, 1)); labels: class per row (multilabel:
    (n, L) 0/1); targets: soft targets or None; scored: the loss kernel's per-entry results;
    logit_parts: categorical logits only, when a metric asked for them (``uses_logit_parts``):
    the loss kernel's sums over the classes other than the arg-max. kept: multilabel with
    ``--ignore-label``, which cells of ``scores`` and ``labels`` are entries (row-major, as
    ``scored``); None: all of them.
    """

    mode: Mode
    kind: Kind
    eps: float
    scores: Float
    labels: Int
    targets: Float | None
    scored: Scored
    logit_parts: tuple[Float, Float | None] | None = None
    kept: NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class CoreTotals:
    """The core's finished figures over the entries a metric saw (the run's, or a slice's).

    loss_sum: ``sum w * loss`` in nats; total_weight: ``sum w`` (the row count, unweighted);
    log_base: ``log`` of the report's base (a loss in nats / log_base is in its unit);
    class_names: the per-class table's names (empty for a slice).
    """

    class_names: list[str]
    loss_sum: float
    total_weight: float
    log_base: float


class Metric(ABC, Generic[Config, Inputs, State, Result]):
    """An add-on metric (see the module docstring). Subclasses set ``key`` and implement the
    abstract methods; a metric with figures per slice also overrides :meth:`per_slice`,
    :meth:`slice_columns`, :meth:`slice_inputs` and :meth:`slice_figures`."""

    key: str  # its name in saved states, fingerprints and the JSON report
    uses_logit_parts: bool = False  # it reads BatchScores.logit_parts (categorical logits)

    @abstractmethod
    def configure(self, settings: Settings, mode: Mode) -> Config | None:
        """Its settings resolved for the run's mode; None when not asked for (XentError
        for settings that cannot apply to the mode)."""

    @abstractmethod
    def fingerprint(self, settings: Settings) -> Any:
        """Its settings as JSON-able values (None when not asked for)."""

    @abstractmethod
    def inputs(self, config: Config, batch: BatchScores) -> Inputs:
        """One batch's inputs, entries aligned with the batch's scored entries."""

    @abstractmethod
    def empty(self, config: Config, n_classes: int, weighted: bool) -> State:
        """The state of no rows."""

    @abstractmethod
    def load(self, state: dict[str, Any]) -> State:
        """The state its ``to_state()`` saved (ValueError if it is not one)."""

    @abstractmethod
    def add(self, state: State, config: Config, inputs: Inputs, weight: Float | None) -> None:
        """Fold one batch's inputs (and per-entry weights, None: all 1) into the state."""

    @abstractmethod
    def finish(self, state: State, config: Config, totals: CoreTotals) -> Result:
        """The figures of a run (a result with ``to_dict()``)."""

    def per_slice(self, config: Config) -> Config | None:
        """Its settings for each slice of ``--by`` (None: no figures per slice)."""
        return None

    def slice_columns(self, inputs: Inputs) -> tuple[NDArray[Any], ...]:
        """The per-entry arrays a slice's state needs from one batch's inputs."""
        raise NotImplementedError(f"{self.key} keeps no state per slice")

    def slice_inputs(self, columns: tuple[NDArray[Any], ...]) -> Inputs:
        """Inputs made of some entries of :meth:`slice_columns`' arrays."""
        raise NotImplementedError(f"{self.key} keeps no state per slice")

    def slice_figures(
        self, state: State, config: Config, totals: CoreTotals
    ) -> dict[str, float | None]:
        """A slice's figures, written into its row of the slice table (JSON ``groups``)."""
        return {}


AnyMetric = Metric[Any, Any, Any, Any]


@dataclass(frozen=True)
class ActiveMetric:
    """A metric asked for in a run, bound to its settings resolved for the run's mode: the
    core's one handle on it (each method is the metric's, with these settings)."""

    metric: AnyMetric
    config: Any

    @property
    def key(self) -> str:
        return self.metric.key

    @property
    def uses_logit_parts(self) -> bool:
        return self.metric.uses_logit_parts

    def inputs(self, batch: BatchScores) -> Any:
        return self.metric.inputs(self.config, batch)

    def empty(self, n_classes: int, weighted: bool) -> Any:
        return self.metric.empty(self.config, n_classes, weighted)

    def add(self, state: Any, inputs: Any, weight: Float | None) -> None:
        self.metric.add(state, self.config, inputs, weight)

    def finish(self, state: Any, totals: CoreTotals) -> Any:
        return self.metric.finish(state, self.config, totals)

    def for_slices(self) -> ActiveMetric | None:
        """The same metric with its settings for each slice (None: none per slice)."""
        config = self.metric.per_slice(self.config)
        return None if config is None else ActiveMetric(self.metric, config)

    def slice_columns(self, inputs: Any) -> tuple[NDArray[Any], ...]:
        return self.metric.slice_columns(inputs)

    def slice_inputs(self, columns: tuple[NDArray[Any], ...]) -> Any:
        return self.metric.slice_inputs(columns)

    def slice_figures(self, state: Any, totals: CoreTotals) -> dict[str, float | None]:
        return self.metric.slice_figures(state, self.config, totals)
