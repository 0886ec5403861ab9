"""Choices and settings shared by the CLI and the core (no heavy imports here)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

from xent_cli.errors import XentError


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


class Per(str, Enum):
    """The unit a token file's loss is normalised by (``--per``)."""

    auto = "auto"
    token = "token"
    byte = "byte"
    word = "word"


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
    arrow = "arrow"  # Arrow IPC file or stream (Feather v2, Hugging Face datasets shards)
    lm_eval = "lm-eval"  # lm-evaluation-harness --log_samples JSON Lines
    openai = "openai"  # OpenAI-style responses with logprobs, JSON Lines


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    junit = "junit"


class OnMismatch(str, Enum):
    """compare --id: ids in one file only are an error, or left out."""

    error = "error"
    intersect = "intersect"


class PairBy(str, Enum):
    """compare: how rows are paired (auto: --id if given; a token file with a document and
    a position column: token; else row)."""

    auto = "auto"
    row = "row"
    id = "id"
    token = "token"
    doc = "doc"


class FailOn(str, Enum):
    """compare gates: on the estimate, the interval's end, or a one-sided test."""

    estimate = "estimate"
    ci = "ci"
    significant = "significant"


class Interval(str, Enum):
    """compare: the paired t interval or a Poisson bootstrap."""

    t = "t"
    bootstrap = "bootstrap"


class EceBinning(str, Enum):
    """Reliability bins of equal width, or of (about) equal mass."""

    width = "width"
    mass = "mass"


class EceTarget(str, Enum):
    """What a bin's p and observed are: the top label, the positive class, or each class."""

    top = "top"
    positive = "positive"
    classwise = "classwise"


class EcePreset(str, Enum):
    """A peer library's calibration convention (see README, Calibration)."""

    sklearn = "sklearn"
    torchmetrics = "torchmetrics"
    netcal = "netcal"


class BinEdges(str, Enum):
    """Which bin a p on an edge falls in (equal-width bins)."""

    right = "right"  # (lo, hi], the first bin closed at 0: scikit-learn's calibration_curve
    left = "left"  # [lo, hi), the last bin closed at 1: numpy.histogram, netcal
    left_own_one = "left-own-one"  # [lo, hi), p = 1 in a bin [1, 1] of its own: torchmetrics

    @property
    def rule(self) -> str:
        return {
            "right": "(lo, hi], first bin closed at 0",
            "left": "[lo, hi), last bin closed at 1",
            "left-own-one": "[lo, hi), p = 1 in its own bin [1, 1]",
        }[self.value]


@dataclass(frozen=True)
class CalibrationSpec:
    """The binning convention of --calibration (target None: positive in binary mode, else
    top), and whether to scan temperatures (--decompose)."""

    target: EceTarget | None = None
    n_bins: int = 15
    binning: EceBinning = EceBinning.width
    edges: BinEdges = BinEdges.right
    preset: EcePreset | None = None
    decompose: bool = False

    def to_dict(self) -> dict[str, object]:
        """Plain values (saved states, fingerprints)."""
        return {
            "target": self.target.value if self.target is not None else None,
            "n_bins": self.n_bins,
            "binning": self.binning.value,
            "edges": self.edges.value,
            "preset": self.preset.value if self.preset is not None else None,
            "decompose": self.decompose,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> CalibrationSpec:
        target, preset = data.get("target"), data.get("preset")
        return cls(
            EceTarget(str(target)) if target is not None else None,
            int(str(data["n_bins"])),
            EceBinning(str(data["binning"])),
            BinEdges(str(data["edges"])),
            EcePreset(str(preset)) if preset is not None else None,
            bool(data.get("decompose")),
        )

    def resolved_target(self, mode: Mode) -> EceTarget:
        if self.target is not None:
            return self.target
        return EceTarget.positive if mode is Mode.binary else EceTarget.top


# preset -> (bins, binning, edges): the peers' defaults (targets: positive for binary, else top)
ECE_PRESETS: dict[EcePreset, tuple[int, EceBinning, BinEdges]] = {
    EcePreset.sklearn: (5, EceBinning.width, BinEdges.right),  # calibration_curve(n_bins=5)
    EcePreset.torchmetrics: (15, EceBinning.width, BinEdges.left_own_one),  # n_bins=15
    EcePreset.netcal: (10, EceBinning.width, BinEdges.left),  # ECE(bins=10)
}


def calibration_spec(
    *,
    bins: int | None = None,
    binning: EceBinning | str | None = None,
    target: EceTarget | str | None = None,
    preset: EcePreset | str | None = None,
    decompose: bool = False,
) -> CalibrationSpec:
    """The convention from the options: a preset's values, overridden by any option given."""
    chosen = EcePreset(preset) if preset is not None else None
    n_bins, kind, edges = ECE_PRESETS[chosen] if chosen else (15, EceBinning.width, BinEdges.right)
    n_bins = n_bins if bins is None else bins
    if not 1 <= n_bins <= 10_000:
        raise XentError(f"--ece-bins must be in 1..10000, got {n_bins}")
    return CalibrationSpec(
        EceTarget(target) if target is not None else None,
        n_bins,
        EceBinning(binning) if binning is not None else kind,
        edges,
        chosen,
        decompose,
    )


class RowsFormat(str, Enum):
    csv = "csv"
    json = "json"
    table = "table"


class ByColumn(NamedTuple):
    """One column of ``--by``: as the user spelled it (the schema's spelling is looked up
    later), and ``bins`` N for ``COL:N`` (N equal-mass bins; None: one slice per value)."""

    name: str
    bins: int | None = None


class BySpec(NamedTuple):
    """``--by COL[:N][,COL...]`` parsed once (:func:`parse_by`): its columns in order, and
    the text as given (saved states keep it). A NamedTuple, as frozen as a dataclass and
    cheaper to define at start-up (``--help`` imports this module)."""

    text: str
    columns: tuple[ByColumn, ...]

    def names(self, *, binned: bool | None = None) -> list[str]:
        """The columns' names as given (``binned=False``: only those sliced by value,
        ``True``: only those cut into ``:N`` bins)."""
        return [c.name for c in self.columns if binned is None or binned == (c.bins is not None)]


def parse_by(text: str) -> BySpec:
    """``--by a,b:4`` -> columns ``a`` (by value) and ``b`` (4 bins). Exit 2 for a spec with
    no column or a number of bins below 1."""
    columns: list[ByColumn] = []
    for raw in text.split(","):
        if not raw.strip():
            continue
        name, bins = raw, None
        match = re.fullmatch(r"(.*):\s*(\d+)\s*", raw)
        if match:
            name, bins = match.group(1), int(match.group(2))
            if bins < 1:
                raise XentError(f"--by {raw.strip()!r}: the number of bins must be at least 1")
        columns.append(ByColumn(name, bins))
    if not columns:
        raise XentError("--by: no column given")
    return BySpec(text, tuple(columns))


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
    by: BySpec | None = None  # --by COL[:N][,COL...]: slice columns (":N": N equal-mass bins)
    calibration: CalibrationSpec | None = None  # --calibration: ECE, MCE, Brier, bins
    ignore_label: str | None = None  # --ignore-label: rows (multilabel: cells) left unscored
    # Language-model token files (see core/tokens.py)
    logprob: str | None = None  # --logprob COL: log p of the actual token (natural log)
    nll: str | None = None  # --nll COL: the same as a negative log-likelihood
    tokens: str | None = None  # --tokens COL: how many tokens a row's value sums
    doc: str | None = None  # --doc COL: the document a row belongs to
    bytes: str | None = None  # --bytes COL: UTF-8 bytes the row's tokens cover
    words: str | None = None  # --words COL: words the row's tokens cover
    per: Per = Per.auto  # --per token|byte|word: the unit the loss is normalised by
    mask: str | None = None  # --mask COL: rows whose value is false/0 are not scored
    topk: str | None = None  # --topk COL: the model's top-k log-probs at that position
    top_docs: int = 10  # --top-docs N: documents listed, worst first
    confidence: float = 0.95  # --confidence: the level of the interval on the loss


def make_settings(**options: Any) -> Settings:
    """Settings from keyword options (strings accepted for the choices and ``by``),
    validated."""
    options = _calibration_option(options)
    if isinstance(options.get("by"), str):
        options["by"] = parse_by(options["by"])
    fields = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(f"unknown option {unknown[0]!r}; known: {', '.join(sorted(fields))}")
    settings = Settings(**options)
    coerced = dataclasses.replace(
        settings,
        mode=Mode(settings.mode),
        kind=Kind(settings.kind),
        base=Base(str(getattr(settings.base, "value", settings.base))),
        input_format=InputFormat(settings.input_format),
        per=Per(settings.per),
    )
    if not (0.0 <= coerced.eps < 1.0):
        raise XentError(f"--eps must be in [0, 1), got {coerced.eps}")
    if not (0.0 < coerced.confidence < 1.0):
        raise XentError(f"--confidence must be in (0, 1), got {coerced.confidence}")
    if coerced.top_docs < 0:
        raise XentError(f"--top-docs must be 0 or more, got {coerced.top_docs}")
    return coerced


CALIBRATION_OPTIONS = ("ece_bins", "ece_binning", "ece_target", "ece_preset", "decompose")


def _calibration_option(options: dict[str, Any]) -> dict[str, Any]:
    """``calibration=True`` and the ``ece_*`` / ``decompose`` keywords -> one CalibrationSpec
    (any of them turns calibration on)."""
    given = {k: options[k] for k in CALIBRATION_OPTIONS if options.get(k) not in (None, False)}
    spec = options.get("calibration")
    rest = {k: v for k, v in options.items() if k not in CALIBRATION_OPTIONS}
    if isinstance(spec, dict):  # a saved state's settings
        spec = CalibrationSpec.from_dict(spec)
        rest["calibration"] = spec
    if isinstance(spec, CalibrationSpec):
        if given:
            raise TypeError("pass either a CalibrationSpec or the ece_* keywords, not both")
        return rest
    if spec or given:
        rest["calibration"] = calibration_spec(
            bins=given.get("ece_bins"),
            binning=given.get("ece_binning"),
            target=given.get("ece_target"),
            preset=given.get("ece_preset"),
            decompose=bool(given.get("decompose")),
        )
    else:
        rest["calibration"] = None
    return rest


def signature_line(name: str, fields: Iterable[tuple[str, object]]) -> str:
    """The settings behind every number in one line, in the style of sacrebleu's signature:
    ``name|key:value|...``. A float is written short (``1e-15``), True as ``yes``; a field
    whose value is None or False is left out."""
    parts = [name]
    for key, value in fields:
        if value is None or value is False:
            continue
        if value is True:
            text = "yes"
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = str(value)
        parts.append(f"{key}:{text}")
    return "|".join(parts)
