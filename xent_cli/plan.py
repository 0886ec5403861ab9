"""The plan: every decision about how the input is read and scored, made once and frozen.

Columns, mode and class names come from the first input's schema and the options
(:func:`xent_cli.columns.resolve_roles`). What the schema cannot tell is decided from a fixed
sample of the data, the first ``sample_rows`` rows whose scores are all finite: the kind of the
scores when no option or column name says it (``--kind auto``), and the number of classes of a
list-valued score column. The sample is the same rows however the input is cut into batches or
files, so the decision is too. A later row that contradicts the decision (scores judged to be
probabilities, then one outside [0, 1]) stops the run with exit 2 and a hint to pass ``--kind``:
the same policy for every command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import __version__
from .columns import Roles
from .labels import BinaryLookup, ClassLookup, MultilabelLookup
from .numerics import logsumexp_rows
from .options import NORMALIZATION_TOLERANCE, Kind, Mode, Settings

SAMPLE_ROWS = 10_000  # rows with finite scores that decide --kind auto
SAMPLE_VALUES = 1 << 22  # ... but at most this many score values (wide rows: fewer rows)
LOG_PROB_SLACK = 1e-9  # log-probabilities this far above 0 are rounding noise, read as 0


def sample_rows(n_classes: int) -> int:
    """How many rows the kind is decided from: depends on the width only, never on batching."""
    return max(1, min(SAMPLE_ROWS, SAMPLE_VALUES // max(n_classes, 1)))


def kind_from_values(scores: NDArray[np.float64], mode: Mode) -> Kind:
    """probs if all in [0, 1]; log-probs if all <= 0 and rows log-sum-exp to 0; else logits.

    ``scores`` (n, k) may hold -inf (a log-probability of 0): such rows count against probs
    and, unless normalized, against log-probs too. No rows: logits.
    """
    if scores.size == 0:
        return Kind.logits
    if scores.min() >= 0.0 and scores.max() <= 1.0:
        return Kind.probs
    if mode is Mode.categorical and scores.max() <= LOG_PROB_SLACK:
        if np.abs(logsumexp_rows(scores)).max() <= NORMALIZATION_TOLERANCE:
            return Kind.log_probs
    return Kind.logits


@dataclass(frozen=True)
class Plan:
    """How this evaluation reads and scores rows; the same for every batch, file and worker."""

    settings: Settings
    roles: Roles
    kind: Kind
    kind_source: str  # "option", "column name 'logit_*'" or "values"
    class_names: tuple[str, ...]
    lookup: Any = field(compare=False, repr=False)  # label value -> class index

    @property
    def mode(self) -> Mode:
        return self.roles.mode

    @property
    def n_classes(self) -> int:
        """Buckets of the per-class table: classes, the two binary values, or label columns."""
        return 2 if self.mode is Mode.binary else len(self.class_names)

    def current_class_names(self) -> list[str]:
        """Class names; binary: the two label values as seen so far (negative, positive)."""
        if self.mode is Mode.binary:
            return list(self.lookup.class_names)
        return list(self.class_names)

    @property
    def checks_probabilities_as_logits(self) -> bool:
        """Logits by option or column name are checked for looking like probabilities."""
        return self.kind is Kind.logits and self.kind_source != "values"

    def signature(self) -> str:
        """The settings behind every number, in one line (in the style of sacrebleu's)."""
        s = self.settings
        parts = [
            "xent",
            f"mode:{self.mode.value}",
            f"kind:{self.kind.value}",
            f"eps:{s.eps:g}",
            f"base:{s.base.value}",
        ]
        if s.weight:
            parts.append("weighted:yes")
        if s.renormalize:
            parts.append("renormalize:yes")
        parts.append(f"v:{__version__}")
        return "|".join(parts)


def make_plan(
    settings: Settings, roles: Roles, sample: NDArray[np.float64] | None, width: int | None
) -> Plan:
    """Freeze the decisions: ``sample`` holds the sampled rows' scores (None when the kind was
    given), ``width`` the values per row of a list-valued score column (None otherwise)."""
    class_names: Sequence[str] = roles.class_names
    if roles.list_column and not class_names:
        class_names = [str(i) for i in range(width or 1)]
    kind, kind_source = roles.kind, roles.kind_source
    if kind is Kind.auto:
        assert sample is not None
        kind = kind_from_values(sample, roles.mode)
    lookup: Any
    if roles.mode is Mode.binary:
        lookup = BinaryLookup(settings.positive)
    elif roles.mode is Mode.multilabel:
        lookup = MultilabelLookup()
    else:
        lookup = ClassLookup(class_names)
    return Plan(settings, roles, kind, kind_source, tuple(class_names), lookup)
