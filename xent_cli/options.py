"""Choices and settings shared by the CLI and the core (no heavy imports here)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class Mode(str, Enum):
    auto = "auto"
    categorical = "categorical"
    binary = "binary"
    multilabel = "multilabel"


class Kind(str, Enum):
    auto = "auto"
    logits = "logits"
    probs = "probs"
    log_probs = "log-probs"


class Base(str, Enum):
    e = "e"
    two = "2"
    ten = "10"

    @property
    def log(self) -> float:
        """Natural log of the base: divide a loss in nats by it to get this unit."""
        return {"e": 1.0, "2": math.log(2.0), "10": math.log(10.0)}[self.value]

    @property
    def unit(self) -> str:
        return {"e": "nats", "2": "bits", "10": "dits"}[self.value]


class InputFormat(str, Enum):
    auto = "auto"
    csv = "csv"
    tsv = "tsv"
    parquet = "parquet"
    jsonl = "jsonl"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class OnMismatch(str, Enum):
    """compare --id: ids in one file only are an error, or left out."""

    error = "error"
    intersect = "intersect"


class FailOn(str, Enum):
    """compare gates: on the estimate, the interval's end, or a one-sided test."""

    estimate = "estimate"
    ci = "ci"
    significant = "significant"


class Interval(str, Enum):
    """compare: the paired t interval or a Poisson bootstrap."""

    t = "t"
    bootstrap = "bootstrap"


class RowsFormat(str, Enum):
    csv = "csv"
    json = "json"
    table = "table"


DEFAULT_EPS = 1e-15
DEFAULT_TOP_WARNINGS = 10
DEFAULT_MAX_CLASSES = 40  # rows of a table or markdown report (0: all; JSON and CSV: all)
NORMALIZATION_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Settings:
    """Everything that decides how the input is read and scored (echoed in every report)."""

    label: str | None = None
    scores: str | None = None
    targets: str | None = None
    weight: str | None = None
    id: str | None = None
    positive: str | None = None
    mode: Mode = Mode.auto
    kind: Kind = Kind.auto
    eps: float = DEFAULT_EPS
    base: Base = Base.e
    renormalize: bool = False
    input_format: InputFormat = InputFormat.auto
    top_warnings: int = DEFAULT_TOP_WARNINGS
    classes: str | None = None  # --classes: the class names in the order of the scores
    by: str | None = None  # --by COL[:N][,COL...]: slice columns (":N": N equal-mass bins)
