"""The plan: every decision about how the input is read and scored, made once and frozen.

Columns, mode and class names come from the first input's schema and the options
(:func:`xent_cli.core.columns.resolve_roles`). What the schema cannot tell is decided from a fixed
sample of the data, the first ``sample_rows`` rows whose scores are all finite: the kind of the
scores when no option or column name says it (``--kind auto``), the number of classes of a
list-valued score column, whether "every other numeric column" really holds scores (a row
counter, a constant or an integer key does not), and the positive class of a binary file whose
labels are not 0/1 but one of them names the score column (``prob_benign``). The sample is
the same rows however the input is cut into batches or files, so the decision is too. A later
row that contradicts the decision (scores judged to be probabilities, then one outside [0, 1])
stops the run with exit 2 and a hint to pass ``--kind``: the same policy for every command.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.core.columns import (
    NAME_PREFIXES,
    NAME_SUFFIXES,
    SCORE_NAMES,
    Roles,
    names_a_score,
    resolve_roles,
)
from xent_cli.core.labels import (
    UNKNOWN,
    BinaryLookup,
    ClassLookup,
    MultilabelLookup,
    canonical,
    display,
)
from xent_cli.errors import XentError
from xent_cli.kernels.numerics import logsumexp_rows
from xent_cli.metrics import active_metrics, slice_metrics
from xent_cli.metrics.base import ActiveMetric
from xent_cli.options import NORMALIZATION_TOLERANCE, Kind, Mode, Settings, signature_line
from xent_cli.version import __version__

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
    slicer: Any = field(default=None, compare=False, repr=False)  # --by: a slices.Slicer

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

    @functools.cached_property
    def metrics(self) -> tuple[ActiveMetric, ...]:
        """The add-on metrics asked for (--calibration), their settings resolved for the mode."""
        return active_metrics(self.settings, self.mode)

    @functools.cached_property
    def slice_metrics(self) -> tuple[ActiveMetric, ...]:
        """Those with figures per --by slice, with their settings for slices."""
        return slice_metrics(self.metrics)

    @property
    def checks_probabilities_as_logits(self) -> bool:
        """Logits by option or column name are checked for looking like probabilities."""
        return self.kind is Kind.logits and self.kind_source != "values"

    def signature(self) -> str:
        """The settings behind every number, in one line (in the style of sacrebleu's)."""
        s = self.settings
        return signature_line(
            "xent",
            [
                ("mode", self.mode.value),
                ("kind", self.kind.value),
                ("eps", s.eps),
                ("base", s.base.value),
                ("weighted", bool(s.weight)),
                ("renormalize", bool(s.renormalize)),
                ("v", __version__),
            ],
        )


def make_plan(
    settings: Settings,
    roles: Roles,
    sample: NDArray[np.float64] | None,
    width: int | None,
    *,
    labels: Sequence[Any] | None = None,
    schema: pa.Schema | None = None,
    source: str = "input",
) -> Plan:
    """Freeze the decisions: ``sample`` holds the sampled rows' scores (None when nothing was
    left to decide from the data), ``width`` the values per row of a list-valued score column
    (None otherwise), ``labels`` the distinct label values of the sampled rows. ``schema``
    and ``source`` (the first input's) let guessed score columns be chosen again."""
    if roles.scores_guessed and sample is not None and schema is not None:
        roles, sample = _settle_guessed_scores(
            settings, roles, sample, labels or (), schema, source
        )
    if roles.mode is Mode.binary and labels is not None:
        settings = _positive_from_column(settings, roles, labels)
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
        lookup = ClassLookup(class_names, roles.score_columns)
    return Plan(settings, roles, kind, kind_source, tuple(class_names), lookup)


# -- guessed score columns -----------------------------------------------------------------


def _settle_guessed_scores(
    settings: Settings,
    roles: Roles,
    sample: NDArray[np.float64],
    labels: Sequence[Any],
    schema: pa.Schema,
    source: str,
) -> tuple[Roles, NDArray[np.float64]]:
    """Roles whose "every other numeric column" scores hold no column that looks like
    something else (a row counter, a constant, an integer key), and the sample's matching
    columns. Only columns that nothing names are judged: a name that says scores
    (:func:`names_a_score`) is believed. Labels that name score columns decide: the suspect
    columns they do not name are dropped. Without such evidence: exit 2, asking for --scores."""
    columns = roles.score_columns
    if len(sample) < 2 or sample.shape[1] != len(columns):
        return roles, sample
    every_constant = bool((sample.min(axis=0) == sample.max(axis=0)).all())
    suspects = {
        j: why
        for j, why in enumerate(
            _not_like_scores(sample[:, j], every_constant) for j in range(len(columns))
        )
        if why is not None and not names_a_score(columns[j])
    }
    if not suspects:
        return roles, sample
    lookup = ClassLookup(roles.class_names, columns)
    named = [lookup.by_name(v) for v in labels if canonical(v) is not None]
    if named and UNKNOWN not in named and roles.mode is not Mode.binary:
        drop = [columns[j] for j in suspects if j not in named]
        if not drop:
            return roles, sample
        settled = resolve_roles(schema, settings, source, drop=drop)
        keep = [columns.index(c) for c in settled.score_columns]
        return settled, sample[:, keep]
    first = min(suspects)
    plain = [c for j, c in enumerate(columns) if j not in suspects]
    example = ",".join(plain) if plain else ",".join(columns[:3])
    shown = ", ".join(repr(c) for c in columns[:12]) + (", ..." if len(columns) > 12 else "")
    raise XentError(
        f"{source}: cannot tell which columns hold the scores: column {columns[first]!r} "
        f"{suspects[first]}, and no option or column prefix names the scores "
        f"(numeric columns: {shown})",
        hint=f"pass --scores with the score columns, e.g. --scores {example}",
    )


def _not_like_scores(values: NDArray[np.float64], every_constant: bool) -> str | None:
    """Why a column of the sample does not look like scores, or None: its values are
    integers that count rows, that are all distinct (a key), or that are all the same (a
    constant such as a fold number; unless every column is constant, as the predictions of
    a model that always predicts the same are)."""
    n = len(values)
    if not np.isfinite(values).all() or not (values == np.floor(values)).all():
        return None
    low, high = float(values.min()), float(values.max())
    if low == high:
        return None if every_constant else f"is constant ({display(low)})"
    if n < 3 or len(np.unique(values)) != n:
        return None
    steps = np.diff(values)
    first = ", ".join(display(float(v)) for v in values[:3])
    if abs(float(steps[0])) == 1.0 and (steps == steps[0]).all():
        return f"counts rows ({first}, ...)"
    return f"holds distinct integers, like a row key ({first}, ...)"


# -- the positive class of a binary file ---------------------------------------------------


def _same(a: str, b: str) -> bool:
    return a == b


def _same_ignoring_case(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def _positive_from_column(settings: Settings, roles: Roles, labels: Sequence[Any]) -> Settings:
    """Binary labels that are not 0/1 (or true/false), one of which names the score column
    (``prob_benign`` for labels benign / malignant): that label is the positive class. The
    decision becomes ``--positive``, as if it had been given."""
    if settings.positive is not None or len(roles.score_columns) != 1:
        return settings
    keys = {canonical(v) for v in labels} - {None}
    if "1" in keys or (keys and keys <= {"0"}):
        return settings
    column = roles.score_columns[0].strip()
    derived = [column[len(p) :] for p in NAME_PREFIXES if column.lower().startswith(p)]
    derived += [column[: -len(s)] for s in NAME_SUFFIXES if column.lower().endswith(s)]
    derived = [n.strip() for n in derived if n.strip()]
    wanted = [n.strip() for n in [*roles.class_names, column, *derived] if n.strip()]
    for match in (_same, _same_ignoring_case):
        for name in wanted:
            for value in labels:
                key = canonical(value)
                if key is not None and match(key, canonical(name) or ""):
                    return dataclasses.replace(settings, positive=display(value))
    # No sampled label names the column (the first rows may hold only the other label, or
    # none): a name that carries a class (``logit_a``) decides, so that the decision is the
    # same for any split of the rows into files.
    if derived and column.lower() not in SCORE_NAMES and canonical(derived[0]) not in ("0", "1"):
        return dataclasses.replace(settings, positive=derived[0])
    return settings
