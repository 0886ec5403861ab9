"""Which column is what: label(s), scores, soft targets, weight, id; class names; mode; kind hint.

Decided once, from the first input's schema and the options, before any data is read.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import pyarrow as pa

from xent_cli.errors import XentError
from xent_cli.options import BySpec, Kind, Mode, Settings

LABEL_CANDIDATES = ("label", "labels", "target", "y", "y_true", "true", "class", "gold")
SCORE_PREFIXES = ("logit_", "logits_", "logprob_", "log_prob_", "prob_", "probs_", "p_", "score_")
_SEPARATORS = "_-.:/ "
# Names that say a column holds a model's scores: whole names, and the prefixes and suffixes
# of one score column per class (``prob_benign``, ``benign_proba``)
SCORE_NAMES = {
    "logit", "logits", "score", "scores", "prob", "probs", "proba", "probability",
    "probabilities", "prediction", "predictions", "pred", "y_score", "y_prob", "y_proba",
    "y_pred", "logprob", "log_prob", "logprobs",
}  # fmt: skip
NAME_PREFIXES = (*SCORE_PREFIXES, "proba_", "probability_", "pred_", "y_pred_", "y_prob_")
NAME_SUFFIXES = ("_prob", "_proba", "_probability", "_score", "_logit", "_p", "_pred")


def names_a_score(name: str) -> bool:
    """The column's name says it holds scores (``logit``, ``y_prob``, ``prob_cat``,
    ``cat_proba``): it is never taken for a row key or a constant, whatever its values."""
    lowered = name.strip().lower()
    return (
        lowered in SCORE_NAMES
        or lowered.startswith(NAME_PREFIXES)
        or lowered.endswith(NAME_SUFFIXES)
    )


@dataclass(frozen=True)
class Roles:
    """The resolved column roles for one evaluation."""

    mode: Mode
    score_columns: tuple[str, ...]
    label_columns: tuple[str, ...] = ()
    list_column: str | None = None
    target_columns: tuple[str, ...] = ()
    weight_column: str | None = None
    id_column: str | None = None
    class_names: tuple[str, ...] = ()  # empty for a list column until its width is known
    kind: Kind = Kind.auto
    kind_source: str = "values"
    # The class names are the numbers that end the score columns' names (p1 -> class 1)
    classes_numbered: bool = False
    # The scores are "every other numeric column" (no option, prefix or list column chose
    # them): the plan checks them against its sample before it trusts the choice.
    scores_guessed: bool = False
    # The one label column holds a list of 0/1 per row (multilabel, ``labels: [0, 1, 1]``);
    # the one target column holds a list of probabilities per row (``soft_labels: [..]``).
    label_list: bool = False
    target_list: bool = False
    by_columns: tuple[str, ...] = ()  # --by: the slice columns (see slices.py)
    by_values: tuple[str, ...] = ()  # of those, the ones sliced by value (not into :N bins)

    @property
    def needed_columns(self) -> list[str]:
        wanted = [
            *self.by_columns,
            *self.label_columns,
            *((self.list_column,) if self.list_column else self.score_columns),
            *self.target_columns,
            *((self.weight_column,) if self.weight_column else ()),
            *((self.id_column,) if self.id_column else ()),
        ]
        return list(dict.fromkeys(wanted))


def kind_from_name(name: str) -> Kind | None:
    """What a column prefix says the scores are: ``logit_`` -> logits, ``prob_`` -> probs."""
    lower = name.lower()
    if lower.startswith(("logprob", "log_prob", "log-prob", "logp_", "log_p_")):
        return Kind.log_probs
    if lower.startswith("logit"):
        return Kind.logits
    if lower.startswith(("prob", "p_")) or lower == "p":
        return Kind.probs
    return None


def is_numeric(field_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(field_type)
        or pa.types.is_floating(field_type)
        or pa.types.is_decimal(field_type)
        or pa.types.is_null(field_type)
    )


def is_list(field_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(field_type)
        or pa.types.is_large_list(field_type)
        or pa.types.is_fixed_size_list(field_type)
    )


def select_columns(spec: str, names: Sequence[str], option: str, source: str) -> list[str]:
    """Columns named by ``spec``: a comma list and/or globs (``logit_*``), in file order."""
    chosen: list[str] = []
    for raw in spec.split(","):
        part = raw.strip()
        if not part:
            continue
        if any(ch in part for ch in "*?["):
            matched = [n for n in names if fnmatch.fnmatchcase(n.strip(), part)]
            if not matched:
                raise XentError(
                    f"{option} {part!r}: no column of {source} matches it",
                    hint=f"columns are: {_preview(names)}",
                )
            chosen.extend(matched)
        else:
            chosen.append(_find(raw, names, option, source))
    if not chosen:
        raise XentError(f"{option}: no column given")
    return list(dict.fromkeys(chosen))


def _preview(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _single(spec: str | None, names: Sequence[str], option: str, source: str) -> str | None:
    return None if spec is None else _find(spec, names, option, source)


def _find(spec: str, names: Sequence[str], option: str, source: str) -> str:
    """The column called ``spec``; spaces around either name do not matter (``' gold'``)."""
    if spec in names:
        return spec
    wanted = spec.strip()
    for name in names:
        if name.strip() == wanted:
            return name
    raise XentError(
        f"{option}: column {wanted!r} not found in {source}",
        hint=f"columns are: {_preview(names)}",
    )


def class_names_for(columns: Sequence[str], prefix: str | None = None) -> tuple[str, ...]:
    """Class names: the column names without their common prefix (``prob_cat`` -> ``cat``).

    The prefix is cut back to its last separator, so ``prob_cat, prob_cow`` give ``cat, cow``.
    """
    stripped = [c.strip() for c in columns]
    if len(stripped) == 1 and prefix is None:
        return (stripped[0],)
    if classes_by_number(stripped, prefix):
        return numbered_names(stripped) or ()
    if prefix is None:
        prefix = _common_prefix(stripped)
    names = tuple(c[len(prefix) :].strip() if c.startswith(prefix) else c for c in stripped)
    if any(not n for n in names) or len(set(names)) != len(names):
        return tuple(stripped)
    return names


def classes_by_number(columns: Sequence[str], prefix: str | None = None) -> bool:
    """The class names are the numbers ending the columns' names (``p1, p2, p3``): no
    prefix with a separator (``prob_``, ``class-``) names them otherwise."""
    stripped = [c.strip() for c in columns]
    return (
        prefix is None
        and len(stripped) > 1
        and not _common_prefix(stripped)
        and numbered_names(stripped) is not None
    )


def numbered_names(columns: Sequence[str]) -> tuple[str, ...] | None:
    """The numbers that end columns named by a common word and a number each (``p1, p2,
    p3`` -> ``1, 2, 3``; ``class0 ... class9``), or None. Such names say which class each
    column scores, so labels ``1, 2, 3`` match them by value, never by position."""
    if len(columns) < 2:
        return None
    first, last = min(columns), max(columns)
    pairs = enumerate(zip(first, last, strict=False))
    size = next((i for i, (a, b) in pairs if a != b), min(len(first), len(last)))
    stem = first[:size].rstrip("0123456789")
    if not stem or not stem[-1].isalpha():
        return None
    numbers = tuple(c[len(stem) :] for c in columns)
    if not all(n.isascii() and n.isdigit() for n in numbers):
        return None
    return numbers if len({int(n) for n in numbers}) == len(numbers) else None


def _common_prefix(columns: Sequence[str]) -> str:
    first, last = min(columns), max(columns)
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    prefix = first[:size]
    cut = max(prefix.rfind(s) for s in _SEPARATORS)
    return prefix[: cut + 1]


def _glob_prefix(spec: str) -> str | None:
    """The literal start of a single glob, ``logit_*`` -> ``logit_``."""
    if "," in spec:
        return None
    match = re.match(r"[^*?\[]*", spec.strip())
    return match.group(0) if match and match.group(0) != spec.strip() else None


def resolve_roles(
    schema: pa.Schema, settings: Settings, source: str, *, drop: Collection[str] = ()
) -> Roles:
    """Decide every column's role from the schema of the first input and the options.

    ``drop``: columns the plan found not to be scores, left out of "every other numeric
    column" (the default when no option, prefix or list column names the scores).
    """
    names = list(schema.names)
    duplicated = {name for name, count in Counter(names).items() if count > 1}
    types = _types_by_name(schema)

    weight = _single(settings.weight, names, "--weight", source)
    row_id = _single(settings.id, names, "--id", source)
    targets = (
        select_columns(settings.targets, names, "--targets", source) if settings.targets else []
    )
    target_list = len(targets) == 1 and is_list(types[targets[0]])
    no_label: XentError | None = None
    try:
        labels = _label_columns(settings, names, source, has_targets=bool(targets))
    except XentError as error:  # perhaps label columns paired with the scores (below)
        if settings.mode not in (Mode.auto, Mode.multilabel):
            raise
        labels, no_label = [], error
    by_columns = by_column_names(settings.by, names, source)
    reserved = {*labels, *targets, *(c for c in (weight, row_id) if c), *by_columns}

    list_column: str | None = None
    prefix: str | None = None
    guessed = False
    try:
        if settings.scores is not None:
            scores = select_columns(settings.scores, names, "--scores", source)
            prefix = _glob_prefix(settings.scores)
            if len(scores) == 1 and is_list(types[scores[0]]):
                list_column, scores = scores[0], []
        else:
            excluded = reserved | set(drop) | pandas_index_columns(schema)
            scores, prefix, list_column = _default_scores(names, types, excluded, source)
            guessed = list_column is None and prefix is None
    except XentError:
        if no_label is not None:
            raise no_label from None
        raise
    if no_label is not None:
        labels = [] if guessed else paired_label_columns(scores, prefix, names, types, reserved)
        if not labels:
            raise no_label
        reserved.update(labels)

    named = [*scores, *([list_column] if list_column else []), *labels, *targets]
    for column in [*named, *(c for c in (weight, row_id) if c)]:
        if column in duplicated:
            raise XentError(
                f"{source}: column name {column!r} appears more than once",
                hint="rename the duplicates so that each column has one name",
            )
    overlap = reserved.intersection(scores)
    if overlap:
        raise XentError(
            f"column {sorted(overlap)[0]!r} is used both as a score and as another role"
        )
    label_list = (
        len(labels) == 1
        and is_list(types[labels[0]])
        and settings.mode in (Mode.auto, Mode.multilabel)
    )
    for column in labels:
        label_type = types[column]
        nested = is_list(label_type) or pa.types.is_struct(label_type)
        if (nested or pa.types.is_map(label_type)) and not label_list:
            raise XentError(
                f"{source}: label column {column!r} holds {label_type}, not one value per row",
                hint="a label is a class name or number (multilabel: one 0/1 column per "
                "label, or one column holding a list of 0/1 per row)",
            )
    for column in scores:
        column_type = types[column]
        if not (is_numeric(column_type) or pa.types.is_string(column_type)):
            raise XentError(
                f"{source}: score column {column!r} is not numeric (it holds {column_type})"
            )

    mode = _resolve_mode(
        settings.mode, scores, list_column, labels, targets, source, label_list=label_list
    )
    class_names = class_names_for(scores, prefix) if scores else ()
    numbered = settings.classes is None and scores and classes_by_number(scores, prefix)
    if targets and scores and len(targets) != len(scores) and not target_list:
        raise XentError(
            f"--targets names {len(targets)} columns but there are {len(scores)} score columns",
            hint="give one target probability column per class, in the order of the scores "
            "(or one column holding a list of them)",
        )
    if mode is Mode.multilabel and not label_list:
        scores, labels, class_names = _pair_multilabel(scores, labels, prefix)
    if settings.classes is not None:
        class_names = _given_classes(settings.classes, scores, list_column, mode, source)

    kind, kind_source = _resolve_kind(settings.kind, scores, list_column, prefix)
    return Roles(
        mode=mode,
        score_columns=tuple(scores),
        label_columns=tuple(labels),
        list_column=list_column,
        target_columns=tuple(targets),
        weight_column=weight,
        id_column=row_id,
        class_names=class_names,
        kind=kind,
        kind_source=kind_source,
        classes_numbered=bool(numbered) and mode is Mode.categorical,
        scores_guessed=guessed,
        label_list=label_list,
        target_list=target_list,
        by_columns=tuple(by_columns),
        by_values=tuple(by_column_names(settings.by, names, source, binned=False)),
    )


def by_column_names(
    spec: BySpec | None, names: Sequence[str], source: str, *, binned: bool | None = None
) -> list[str]:
    """The columns ``--by`` names, as the schema spells them (``binned=False``: only those
    sliced by value, ``True``: only those cut into ``:N`` bins)."""
    if spec is None:
        return []
    found = [_find(name, names, "--by", source) for name in spec.names(binned=binned)]
    return list(dict.fromkeys(found))


def _given_classes(
    spec: str, scores: Sequence[str], list_column: str | None, mode: Mode, source: str
) -> tuple[str, ...]:
    """``--classes NAME,...``: the classes in the order of the scores (one per score column,
    or per value of a list column: that is checked against the data)."""
    names = tuple(name.strip() for name in spec.split(","))
    if not all(names):
        raise XentError(f"--classes {spec!r}: a class name is empty")
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise XentError(f"--classes: class {repeated[0]!r} is named twice")
    if mode is Mode.binary:
        raise XentError(
            "--classes names the classes of several score columns or a list; binary mode has "
            "one score column",
            hint="pass --positive VALUE to say which label value is the positive class",
        )
    if list_column is None and len(names) != len(scores):
        raise XentError(
            f"--classes names {len(names)} classes but there are {len(scores)} score columns "
            f"in {source}",
            hint="name one class per score column, in their order",
        )
    return names


def _label_columns(
    settings: Settings, names: Sequence[str], source: str, *, has_targets: bool
) -> list[str]:
    if settings.label is not None:
        return select_columns(settings.label, names, "--label", source)
    if has_targets:
        return []
    for candidate in LABEL_CANDIDATES:
        if candidate in names:
            return [candidate]
    lowered = {n.lower().strip(): n for n in names}
    for candidate in LABEL_CANDIDATES:
        if candidate in lowered:
            return [lowered[candidate]]
    raise XentError(
        f"{source}: no label column (looked for {', '.join(LABEL_CANDIDATES)})",
        hint=f"pass --label COLUMN; columns are: {_preview(names)}",
    )


def _types_by_name(schema: pa.Schema) -> dict[str, pa.DataType]:
    types: dict[str, pa.DataType] = {}
    for field in schema:
        types.setdefault(field.name, field.type)
    return types


def _default_scores(
    names: Sequence[str], types: dict[str, pa.DataType], reserved: set[str], source: str
) -> tuple[list[str], str | None, str | None]:
    """Score columns by prefix; else the one list-valued column; else all other numbers."""
    free = list(dict.fromkeys(n for n in names if n not in reserved))
    for prefix in SCORE_PREFIXES:
        matched = [n for n in free if n.strip().startswith(prefix)]
        if matched:
            return matched, prefix, None
    lists = [n for n in free if is_list(types[n])]
    if len(lists) == 1:
        return [], None, lists[0]
    if len(lists) > 1:
        raise XentError(
            f"{source}: several list-valued columns ({', '.join(lists)})",
            hint="pass --scores COLUMN to say which one holds the scores",
        )
    numeric = [  # an all-empty column (Arrow type null) holds no scores
        n
        for n in free
        if is_numeric(types[n]) and not pa.types.is_null(types[n]) and not _looks_like_row_key(n)
    ]
    if not numeric:
        raise XentError(
            f"{source}: no score columns found",
            hint="pass --scores, e.g. --scores 'logit_*' or --scores a,b,c",
        )
    return numeric, None, None


# Names of columns that number or name rows (keys, the index columns that pandas, R, polars
# and duckdb write) or group them. Never scores (unless --scores names them).
ROW_KEY_NAMES = {
    "id", "idx", "index", "row", "row_id", "rowid", "sample", "key", "uid", "uuid",
    "#", "rn", "rowname", "rownames", "row.names", "row_names", "row_name", "row_nr",
    "row_number", "row_num", "rownum", "row_no", "row_index", "row_idx", "__index__",
    # the groups rows belong to (documents, sequences, sessions, folds) and where in them
    "doc", "document", "seq", "sequence", "group", "session", "query", "qid", "fold",
    "split", "batch", "epoch", "step", "position", "pos", "offset",
}  # fmt: skip
# pandas: "Unnamed: 0" (to_csv's index read back), "__index_level_0__" (to_parquet of a
# filtered frame), "level_0" (reset_index twice); readr: "...1"; R's write.csv: "" (empty)
_ROW_KEY_PATTERN = re.compile(r"unnamed:.*|__index_level_\d+__|level_\d+|\.\.\.\d+")


def _looks_like_row_key(name: str) -> bool:
    """Columns such as ``id``, ``sample_id``, an unnamed one (a pandas or R index written to
    CSV) or ``__index_level_0__`` name rows; they are never scores."""
    lowered = name.strip().lower()
    return (
        not lowered
        or lowered in ROW_KEY_NAMES
        or lowered.endswith(("_id", "_idx", "_index"))
        or _ROW_KEY_PATTERN.fullmatch(lowered) is not None
    )


def pandas_index_columns(schema: pa.Schema) -> set[str]:
    """The columns a pandas DataFrame's index was stored in (Parquet's ``pandas`` metadata)."""
    metadata = schema.metadata or {}
    raw = metadata.get(b"pandas")
    if not raw:
        return set()
    try:
        index = json.loads(raw).get("index_columns", [])
    except (ValueError, AttributeError):
        return set()
    return {c for c in index if isinstance(c, str)} if isinstance(index, list) else set()


def paired_label_columns(
    scores: Sequence[str],
    prefix: str | None,
    names: Sequence[str],
    types: dict[str, pa.DataType],
    reserved: Collection[str],
) -> list[str]:
    """Label columns that pair with the score columns by name (``y_even`` with
    ``logit_even``), in the order of the scores; empty unless exactly one other prefix
    ending in a separator covers every score column's class name with 0/1-like columns."""
    if len(scores) < 2:
        return []
    classes = class_names_for(scores, prefix)
    taken = set(scores) | set(reserved)
    by_prefix: dict[str, dict[str, str]] = {}
    for column in names:
        stripped = column.strip()
        if column in taken or not _can_hold_01(types[column]):
            continue
        for name in classes:
            head = stripped[: len(stripped) - len(name)]
            if stripped.endswith(name) and head and head[-1] in _SEPARATORS:
                by_prefix.setdefault(head, {}).setdefault(name, column)
    complete = [found for found in by_prefix.values() if len(found) == len(classes)]
    if len(complete) != 1:
        return []
    return [complete[0][name] for name in classes]


def _can_hold_01(field_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(field_type)
        or pa.types.is_floating(field_type)
        or pa.types.is_boolean(field_type)
    )


def _resolve_mode(
    mode: Mode,
    scores: Sequence[str],
    list_column: str | None,
    labels: Sequence[str],
    targets: Sequence[str],
    source: str,
    *,
    label_list: bool = False,
) -> Mode:
    if mode is Mode.auto:
        if targets:
            mode = Mode.categorical
        elif len(labels) > 1 or label_list:
            mode = Mode.multilabel
        elif len(scores) == 1 and list_column is None:
            mode = Mode.binary
        else:
            mode = Mode.categorical
    if mode is Mode.binary and (list_column is not None or len(scores) != 1):
        raise XentError(
            f"--mode binary needs exactly one score column, found {len(scores) or 'a list'}",
            hint="use --mode categorical for one score column per class",
        )
    if mode is Mode.categorical and list_column is None and len(scores) < 2 and not targets:
        raise XentError(
            "--mode categorical needs at least two score columns, found one",
            hint="use --mode binary for a single score column",
        )
    if mode is not Mode.multilabel and len(labels) > 1:
        raise XentError(
            f"--label names {len(labels)} columns; several label columns need --mode multilabel"
        )
    if mode is Mode.multilabel and list_column is not None and not label_list:
        raise XentError(
            "--mode multilabel with a list of scores needs a list of labels",
            hint="a label column holding a list of 0/1 per row (labels: [0, 1, 1]), or one "
            "score column per label column",
        )
    if targets and mode is not Mode.categorical:
        raise XentError("--targets (soft targets) works in categorical mode only")
    return mode


def _pair_multilabel(
    scores: list[str], labels: list[str], prefix: str | None
) -> tuple[list[str], list[str], tuple[str, ...]]:
    """Pair each label column with its score column: by name when the names agree, else in order."""
    if len(scores) != len(labels):
        raise XentError(
            f"multilabel: {len(labels)} label columns but {len(scores)} score columns",
            hint="pass --label and --scores with one score column per label column",
        )
    score_names = class_names_for(scores, prefix)
    label_names = class_names_for(labels) if len(labels) > 1 else tuple(labels)
    if set(score_names) == set(label_names) and score_names != label_names:
        by_name = dict(zip(score_names, scores, strict=True))
        scores = [by_name[name] for name in label_names]
        score_names = label_names
    return scores, labels, tuple(score_names)


def _resolve_kind(
    kind: Kind, scores: Sequence[str], list_column: str | None, prefix: str | None
) -> tuple[Kind, str]:
    if kind is not Kind.auto:
        return kind, "option"
    stripped = [c.strip() for c in scores]
    hint_name = list_column or prefix or (_common_prefix(stripped) if len(scores) > 1 else None)
    if hint_name is None and len(scores) == 1:
        hint_name = stripped[0]
    if hint_name:
        from_name = kind_from_name(hint_name)
        if from_name is not None:
            return from_name, f"column name {hint_name!r}"
    return Kind.auto, "values"
