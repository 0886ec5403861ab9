"""Language-model token files: which column is what, decided once from the first input's
schema and the options (the token layout's plan).

A token layout has no label column: each row holds the log-probability a model gave to the
token that actually came (``--logprob``; or ``--nll``, its negative), or a document's summed
log-probability with its token count (``--tokens``). Documents (``--doc``) are the clusters
of the interval; bytes and words (``--bytes``, ``--words``) are other units to normalise by
(``--per``). Every default is a list of usual column names, the first present wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from xent_cli.core.columns import LABEL_CANDIDATES, is_numeric
from xent_cli.errors import XentError
from xent_cli.io.base import ROWS_ARE
from xent_cli.options import EceTarget, Mode, Per, Settings
from xent_cli.version import __version__

if TYPE_CHECKING:  # (--calibration's and --by's modules load when they are asked for)
    from xent_cli.core.slicer import Slicer
    from xent_cli.metrics.calibration import Convention

LOGPROB_NAMES = (
    "logprob",
    "token_logprob",
    "target_logprob",
    "log_prob",
    "loglik",
    "log_likelihood",
)
NLL_NAMES = ("nll", "token_nll", "neg_log_likelihood")
DOC_NAMES = ("doc_id", "document_id", "doc", "seq_id", "sequence_id", "sample_id", "request_id")
BYTES_NAMES = ("n_bytes", "num_bytes", "bytes")
WORDS_NAMES = ("n_words", "num_words", "words")
MASK_NAMES = ("mask", "loss_mask", "attention_mask", "label_mask")
TOPK_NAMES = ("top_logprobs", "topk_logprobs")
TOKEN_NAMES = ("token_id", "token", "target_id", "label", "target")  # --ignore-label's column


@dataclass(frozen=True)
class TokenPlan:
    """The frozen decisions for a token file: columns, kind, unit."""

    settings: Settings
    value_column: str
    kind: str  # "logprob" or "nll"
    kind_source: str
    tokens_column: str | None
    doc_column: str | None
    bytes_column: str | None
    words_column: str | None
    mask_column: str | None
    topk_column: str | None
    token_column: str | None  # the actual token's id or text (--ignore-label; pairing)
    per: Per
    tokens_known: bool  # rows are tokens (1 each) or --tokens counts them
    slicer: Slicer | None = field(default=None, compare=False)  # --by (decided by the scan)
    # --calibration (with --topk): the top-1 confidence's binning
    convention: Convention | None = field(default=None, compare=False)

    @property
    def needed_columns(self) -> list[str]:
        wanted = [
            self.value_column,
            self.tokens_column,
            self.doc_column,
            self.bytes_column,
            self.words_column,
            self.mask_column,
            self.topk_column,
            self.token_column if self.settings.ignore_label is not None else None,
            *(self.slicer.names if self.slicer is not None else ()),
        ]
        return list(dict.fromkeys(c for c in wanted if c is not None))

    @property
    def unit(self) -> str:
        return self.per.value

    def signature(self) -> str:
        """The settings behind every number, in one line (as eval's)."""
        s = self.settings
        parts = [
            "xent",
            "mode:tokens",
            f"kind:{self.kind}",
            f"per:{self.per.value}",
            f"eps:{s.eps:g}",
            f"base:{s.base.value}",
            f"ci:{'cluster' if self.doc_column else 'iid'}",
            f"level:{s.confidence:g}",
            f"v:{__version__}",
        ]
        return "|".join(parts)

    def columns(self) -> dict[str, str]:
        """The columns chosen for each role (in every report)."""
        roles = {
            self.kind: self.value_column,
            "tokens": self.tokens_column,
            "doc": self.doc_column,
            "bytes": self.bytes_column,
            "words": self.words_column,
            "mask": self.mask_column,
            "topk": self.topk_column,
        }
        return {role: name for role, name in roles.items() if name is not None}


def is_token_layout(schema: pa.Schema, settings: Settings) -> bool:
    """A token file: ``--logprob``/``--nll``/``--tokens`` given, or no label column (and no
    label option) but a column named like a token log-probability or NLL."""
    if settings.logprob or settings.nll or settings.tokens:
        return True
    if settings.label or settings.scores or settings.targets:
        return False
    names = {n.strip().lower() for n in schema.names}
    if names & set(LABEL_CANDIDATES):
        return False
    return bool(names & {*LOGPROB_NAMES, *NLL_NAMES})


def make_token_plan(schema: pa.Schema, settings: Settings, source: str) -> TokenPlan:
    """Decide every column of a token file from its schema and the options (exit 2 with
    one line saying what to pass where the file does not tell)."""
    names = list(schema.names)
    types = {f.name: f.type for f in schema}
    if settings.weight:
        raise XentError(
            "--weight does not apply to token files: every token counts once",
            hint="drop --weight (use --mask to leave tokens out)",
        )
    if settings.logprob and settings.nll:
        raise XentError("pass either --logprob or --nll, not both")
    if settings.logprob:
        value, kind, kind_source = (
            _given(settings.logprob, names, "--logprob", source),
            "logprob",
            "--logprob",
        )
    elif settings.nll:
        value = _given(settings.nll, names, "--nll", source)
        kind, kind_source = "nll", "--nll"
    else:
        found = _first(LOGPROB_NAMES, names)
        kind = "logprob"
        if found is None:
            found, kind = _first(NLL_NAMES, names), "nll"
        if found is None:
            raise XentError(
                f"{source}: no log-probability column (looked for "
                f"{', '.join(LOGPROB_NAMES + NLL_NAMES)})",
                hint="pass --logprob COL (or --nll COL)",
            )
        value, kind_source = found, f"column name {found!r}"
    if not is_numeric(types[value]):
        raise XentError(f"{source}: column {value!r} is not numeric (it holds {types[value]})")
    tokens = _option_or_none(settings.tokens, names, "--tokens", source)
    doc = _option_or_default(settings.doc, DOC_NAMES, names, "--doc", source)
    n_bytes = _option_or_default(settings.bytes, BYTES_NAMES, names, "--bytes", source)
    words = _option_or_default(settings.words, WORDS_NAMES, names, "--words", source)
    mask = _option_or_default(settings.mask, MASK_NAMES, names, "--mask", source)
    topk = _option_or_default(settings.topk, TOPK_NAMES, names, "--topk", source)
    token = _first(TOKEN_NAMES, names)
    for option, column in (("--tokens", tokens), ("--bytes", n_bytes), ("--words", words)):
        if column is not None and not is_numeric(types[column]):
            raise XentError(f"{source}: {option} column {column!r} is not numeric")
    if topk is not None and not (
        pa.types.is_list(types[topk])
        or pa.types.is_large_list(types[topk])
        or pa.types.is_fixed_size_list(types[topk])
    ):
        raise XentError(f"{source}: --topk column {topk!r} is not a list of log-probabilities")
    if topk is not None and tokens is not None:
        raise XentError("--topk needs one token per row; --tokens says rows hold several")
    if settings.ignore_label is not None and token is None:
        raise XentError(
            f"{source}: --ignore-label needs the actual token's column ({', '.join(TOKEN_NAMES)})",
            hint="use --mask COL to leave rows out of a token file",
        )
    metadata = schema.metadata or {}
    documents_only = metadata.get(ROWS_ARE) == b"documents"
    tokens_known = tokens is not None or not documents_only
    per = _per(settings.per, tokens_known, n_bytes, words, source)
    convention = None
    if settings.calibration is not None:
        if topk is None:
            raise XentError(
                "--calibration of a token file bins the top-1 confidence: it needs the "
                "model's top-k log-probabilities",
                hint="pass --topk COL (a list column such as top_logprobs)",
            )
        if (
            settings.calibration.target not in (None, EceTarget.top)
            or settings.calibration.decompose
        ):
            raise XentError(
                "a token file's calibration is of the top-1 confidence: --ece-target top, "
                "no --decompose"
            )
        from xent_cli.metrics.calibration import Convention

        convention = Convention.of(settings.calibration, Mode.categorical)
    return TokenPlan(
        settings=settings,
        value_column=value,
        kind=kind,
        kind_source=kind_source,
        tokens_column=tokens,
        doc_column=doc,
        bytes_column=n_bytes,
        words_column=words,
        mask_column=mask,
        topk_column=topk,
        token_column=token,
        per=per,
        tokens_known=tokens_known,
        convention=convention,
    )


def _per(
    asked: Per, tokens_known: bool, n_bytes: str | None, words: str | None, source: str
) -> Per:
    """``--per``, checked against the counts the file has; auto: token, else byte, else word."""
    have = {Per.token: tokens_known, Per.byte: n_bytes is not None, Per.word: words is not None}
    if asked is Per.auto:
        for unit in (Per.token, Per.byte, Per.word):
            if have[unit]:
                return unit
        raise XentError(
            f"{source}: the rows are documents with no token, byte or word counts",
            hint="pass --tokens COL, --bytes COL or --words COL",
        )
    if not have[asked]:
        option = {Per.token: "--tokens", Per.byte: "--bytes", Per.word: "--words"}[asked]
        raise XentError(
            f"--per {asked.value}: {source} has no {asked.value} counts",
            hint=f"pass {option} COL naming the column that counts them",
        )
    return asked


def _first(candidates: Sequence[str], names: Sequence[str]) -> str | None:
    lowered = {n.strip().lower(): n for n in reversed(names)}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    return None


def _given(name: str, names: Sequence[str], option: str, source: str) -> str:
    if name in names:
        return name
    stripped = {n.strip(): n for n in names}
    if name.strip() in stripped:
        return stripped[name.strip()]
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise XentError(f"{source}: {option} column {name!r} not found", hint=f"columns are: {shown}")


def _option_or_none(
    value: str | None, names: Sequence[str], option: str, source: str
) -> str | None:
    return None if value is None else _given(value, names, option, source)


def _option_or_default(
    value: str | None, defaults: Sequence[str], names: Sequence[str], option: str, source: str
) -> str | None:
    if value is not None:
        return _given(value, names, option, source)
    return _first(defaults, names)
