"""Add-on metrics, one file each, and the registry the core runs them from.

A metric is a :class:`~xent_cli.metrics.base.Metric` (its state, inputs, figures and slices in
one module); registering it in :data:`METRICS` is all the core needs: the plan asks each one
whether the run wants it (:func:`active_metrics`), and the state, the saved states, the slices
and the report go through them in this order.

Adding one (say a per-class Brier score, key ``"brier"``):

1. ``metrics/brier.py``: its state, a ``@dataclass(eq=False)`` :class:`FieldState
   <xent_cli.kernels.mergeable.FieldState>` whose fields declare their merge rules (exact sums
   are ``nested(ExactSums)``, counts ``counted()``); its result, with ``to_dict()`` (the JSON
   report's ``"brier"`` entry); and ``BRIER``, a :class:`~xent_cli.metrics.base.Metric`
   subclass's instance;
2. ``BRIER`` added to :data:`METRICS` below;
3. the option that asks for it: a field of :class:`~xent_cli.options.Settings` (read by its
   ``configure``) and the command line's flag for it;
4. optionally, its rendering: the JSON and the saved state carry it already; the table and the
   HTML page show what ``render/`` is taught to show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xent_cli.metrics.base import ActiveMetric, AnyMetric
from xent_cli.metrics.calibration import CALIBRATION
from xent_cli.options import Mode, Settings

METRICS: tuple[AnyMetric, ...] = (CALIBRATION,)


def active_metrics(settings: Settings, mode: Mode) -> tuple[ActiveMetric, ...]:
    """The metrics these settings ask for, each with its settings resolved for the mode."""
    active = []
    for metric in METRICS:
        config = metric.configure(settings, mode)
        if config is not None:
            active.append(ActiveMetric(metric, config))
    return tuple(active)


def slice_metrics(active: tuple[ActiveMetric, ...]) -> tuple[ActiveMetric, ...]:
    """Those of ``active`` with figures per slice, with their settings for slices."""
    return tuple(m for m in (a.for_slices() for a in active) if m is not None)


def metric_fingerprints(settings: Settings) -> dict[str, Any]:
    """Every registered metric's settings (None: not asked for), by key."""
    return {metric.key: metric.fingerprint(settings) for metric in METRICS}


def state_loaders() -> dict[str, Callable[[dict[str, Any]], Any]]:
    """Each registered metric's saved-state loader, by key."""
    return {metric.key: metric.load for metric in METRICS}
