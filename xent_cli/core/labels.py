"""Label values -> class indices: by name, by position, or as the two values of a binary label."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.errors import XentError
from xent_cli.io.arrays import integers, null_mask

MISSING = -1  # label empty / null / NaN: the row is skipped with a warning
UNKNOWN = -2  # a value that is not a class: an input error
IGNORED = -3  # multilabel: a cell whose label is --ignore-label's value (not scored)
INTEGER_SPAN = 4096  # integer labels within this range are encoded through a table


def canonical(value: Any) -> str | None:
    """A label's matching key: ``1``, ``1.0``, ``"1"``, ``" 1 "`` and ``True`` all give ``"1"``.

    Returns None for a missing label (null, NaN, empty text).
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(float(value))
    text = str(value).strip()
    if not text or text.lower() in ("nan", "null", "none", "na", "n/a"):
        return None
    lowered = text.lower()
    if lowered in ("true", "false"):
        return "1" if lowered == "true" else "0"
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return text


def _as_int(key: str) -> int | None:
    try:
        return int(key)
    except ValueError:
        return None


class ClassLookup:
    """Categorical labels: match a class by name (its class name, or the full name of its
    score column: ``class_0`` as well as ``0`` for column ``class_0``), or integer labels
    0..K-1 by position."""

    def __init__(self, class_names: Sequence[str], columns: Sequence[str] = ()) -> None:
        self.class_names = list(class_names)
        self._by_name: dict[str, int] = {}
        self._by_key: dict[str, int] = {}
        # class names first: a column's full name only where no class is called that
        named = [*enumerate(class_names), *enumerate(columns[: len(class_names)])]
        for index, name in named:
            if name.strip():
                self._by_name.setdefault(name.strip(), index)
            key = canonical(name)
            if key is not None:
                self._by_key.setdefault(key, index)
        self._names_are_ints = all(_as_int(canonical(n) or "") is not None for n in class_names)

    def by_name(self, value: Any) -> int:
        """The class ``value`` names (never by position), or UNKNOWN (MISSING if missing)."""
        if isinstance(value, str) and value.strip() in self._by_name:
            return self._by_name[value.strip()]  # a class of that name, even "na" or "none"
        key = canonical(value)
        if key is None:
            return MISSING
        return self._by_key.get(key, UNKNOWN)

    def __call__(self, value: Any) -> int:
        found = self.by_name(value)
        if found != UNKNOWN:
            return found
        key = canonical(value)
        assert key is not None
        position = _as_int(key)
        if (
            not self._names_are_ints
            and position is not None
            and 0 <= position < len(self.class_names)
        ):
            return position
        return UNKNOWN

    def unknown_error(self, values: Sequence[Any], source: str, option: str) -> XentError:
        shown = ", ".join(_short(v) for v in values[:5])
        classes = ", ".join(_short(n, quote=False) for n in self.class_names[:12])
        if len(self.class_names) > 12:
            classes += f", ... ({len(self.class_names)} in all)"
        hint = f"the classes are: {classes}"
        ints = [_as_int(canonical(v) or "") for v in values]
        k = len(self.class_names)
        one_based = k in ints and all(i is not None and 1 <= i <= k for i in ints)
        if one_based and self._names_are_ints:
            first, last = self.class_names[0], self.class_names[-1]
            hint = (
                f"labels run up to {k} but the classes are {first}..{last}: are the labels 1-based?"
            )
        elif self._names_are_ints and all(i is not None and 0 <= i < k for i in ints):
            names = ",".join(str(i) for i in range(min(k, 3))) + (",..." if k > 3 else "")
            hint = (
                f"{hint}; are the labels 0-based positions of the score columns? "
                f"Then pass --classes {names}"
            )
        elif one_based:
            names = ",".join(str(i) for i in range(1, min(k, 3) + 1)) + (",..." if k > 3 else "")
            hint = (
                f"integer labels name the {k} score columns by position 0..{k - 1}, and {k} is "
                f"past the end: are the labels 1-based? Then pass --classes {names} ({hint})"
            )
        padding = [v for v, i in zip(values, ints, strict=True) if i is not None and i < 0]
        if padding:  # -100: PyTorch's ignore_index
            value = _display(padding[0])
            hint = f"{hint}; if {value} marks rows not to score, pass --ignore-label {value}"
        return XentError(f"{source}: label {shown} not among the classes ({option})", hint=hint)


class BinaryLookup:
    """Binary labels: the positive value (``--positive``, else ``1``/``true``) -> 1, other -> 0."""

    def __init__(self, positive: str | None) -> None:
        self.positive_key = canonical(positive) if positive is not None else "1"
        self.positive_name = positive if positive is not None else None
        self.negative_key: str | None = None
        self.negative_name: str | None = None
        self.positive_seen = False

    def __call__(self, value: Any) -> int:
        key = canonical(value)
        if key is None:
            return MISSING
        if key == self.positive_key or (isinstance(value, str) and value == self.positive_name):
            self.positive_seen = True
            if self.positive_name is None:
                self.positive_name = _display(value)
            return 1
        if self.negative_key is None:
            self.negative_key, self.negative_name = key, _display(value)
        if key == self.negative_key:
            return 0
        return UNKNOWN

    def learned(self) -> dict[str, Any]:
        """What the labels seen so far taught it (the positive's spelling, the negative value):
        a JSON-able dict, saved with a partial state and merged by :func:`merge_learned`."""
        negative = None if self.negative_key is None else [self.negative_key, self.negative_name]
        return {"positive": self.positive_name, "positive_seen": self.positive_seen,
                "negative": negative}  # fmt: skip

    def learn(self, learned: dict[str, Any]) -> None:
        """Take over what another lookup learned (as :meth:`learned` returned it)."""
        if learned.get("positive") is not None:
            self.positive_name = learned["positive"]
        self.positive_seen = self.positive_seen or bool(learned.get("positive_seen"))
        if learned.get("negative") is not None:
            self.negative_key, self.negative_name = learned["negative"]

    @property
    def class_names(self) -> list[str]:
        negative = self.negative_name
        if negative is None:
            negative = "0" if self.positive_key == "1" else f"not {self.positive_key}"
        return [negative, self.positive_name or self.positive_key or "1"]

    def unknown_error(self, values: Sequence[Any], source: str, option: str) -> XentError:
        seen = [self.negative_name, *(_display(v) for v in values[:3])]
        if self.positive_seen:
            seen.insert(0, self.positive_name)
        shown = ", ".join(dict.fromkeys(_short(s, quote=False) for s in seen if s is not None))
        if self.positive_name is not None and not self.positive_seen:
            return XentError(
                f"{source}: --positive {self.positive_name} matches no label; "
                f"the labels include {shown} ({option})",
                hint="pass --positive with one of the label values",
            )
        if self.positive_name is None:
            return XentError(
                f"{source}: binary labels must include the positive value {self.positive_key!r}; "
                f"found {shown}",
                hint="pass --positive VALUE to say which label value is the positive class",
            )
        return XentError(
            f"{source}: binary mode needs two label values, found more: {shown} ({option})",
            hint="use --mode categorical with one score column per class",
        )


class MultilabelLookup:
    """Multilabel cells: 0/1 (or true/false) per label column."""

    class_names: tuple[str, ...] = ()

    def __call__(self, value: Any) -> int:
        key = canonical(value)
        if key is None:
            return MISSING
        if key in ("0", "1"):
            return int(key)
        return UNKNOWN

    def unknown_error(self, values: Sequence[Any], source: str, option: str) -> XentError:
        shown = ", ".join(_short(v) for v in values[:5])
        first = _display(values[0]) if values else "VALUE"
        return XentError(
            f"{source}: multilabel label columns must hold 0/1, found {shown} ({option})",
            hint=f"if {first} marks cells not to score (padding), pass --ignore-label {first}",
        )


def display(value: Any) -> str:
    """A label value as text: ``True`` -> ``true``, ``1.0`` -> ``1``, bytes decoded."""
    return _display(value)


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _short(value: Any, quote: bool = True, limit: int = 40) -> str:
    """A value for an error message: quoted, and cut short when long."""
    text = _display(value) if not isinstance(value, str) else value
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text) if quote and isinstance(value, str) else text


def encode(array: pa.Array, lookup: Callable[[Any], int]) -> tuple[NDArray[np.intp], list[Any]]:
    """Class index per row (``MISSING`` for missing labels) and the values that matched nothing.

    Each distinct value is looked up once per batch (dictionary encoding), so this is cheap
    however many rows there are.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_integer(array.type) and array.null_count < len(array):
        encoded = _encode_integers(array, lookup)
        if encoded is not None:
            return encoded
    given = pa.types.is_dictionary(array.type)
    if not given:
        array = array.dictionary_encode()
    values = array.dictionary.to_pylist()
    indices = integers(array.indices, missing=len(values))
    # A dictionary that came with the data (Parquet, a polars Enum or Categorical) may hold
    # values no row has: those are not looked up (nor reported as unknown classes).
    used = np.bincount(indices, minlength=len(values) + 1)[:-1] > 0 if given else None
    looked = [lookup(v) if used is None or used[i] else MISSING for i, v in enumerate(values)]
    mapping = np.array([*looked, MISSING], dtype=np.intp)
    codes = mapping[indices]
    unknown = [v for v, m in zip(values, mapping[:-1], strict=True) if m == UNKNOWN]
    return codes, unknown


def _encode_integers(
    array: pa.Array, lookup: Callable[[Any], int]
) -> tuple[NDArray[np.intp], list[Any]] | None:
    """``encode`` for integer labels spanning a narrow range: a table over the range instead
    of hashing every value. None when the range is too wide for a table.

    Only the values that occur are looked up: a binary lookup takes the first value it is
    shown besides the positive one as the negative, so it must not be shown absent ones.
    """
    values = integers(array, missing=0)
    nulls = null_mask(array)
    present = values if nulls is None else values[~nulls]
    low, high = int(present.min()), int(present.max())
    if high - low >= INTEGER_SPAN:
        return None
    span = high - low + 1
    offsets = values if low == 0 and nulls is None else values - low
    if nulls is not None:
        offsets[nulls] = span
    if span <= 2:  # the lowest and the highest value occur: nothing else to find (binary)
        occurring = np.arange(span)
    else:
        occurring = np.flatnonzero(np.bincount(offsets, minlength=span + 1)[:span])
    table = np.full(span + 1, UNKNOWN, dtype=np.intp)
    table[span] = MISSING
    table[occurring] = [_looked_up(lookup, low + offset) for offset in occurring.tolist()]
    if nulls is None and low == 0 and (table[occurring] == occurring).all():
        return values.astype(np.intp, copy=False), []  # labels are the class indices already
    codes = table[offsets]
    unknown: list[Any] = []
    if (table[occurring] == UNKNOWN).any():
        bad = values[codes == UNKNOWN]
        _, first = np.unique(bad, return_index=True)
        unknown = [int(v) for v in bad[np.sort(first)]]  # in order of appearance
    return codes, unknown


@functools.lru_cache(maxsize=1 << 16)
def _looked_up(lookup: Callable[[Any], int], value: int) -> int:
    """``lookup(value)``, remembered: batches share their labels, and 1000 classes would be
    1000 lookups a batch. A lookup answers a value the same way each time once it has seen
    it (a binary one learns its negative value from the first), so this is safe."""
    return lookup(value)


def merge_learned(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """Two binary lookups' learnings as one; two different negative values are an error
    (the labels of all the parts together hold three values)."""
    if a is None or b is None:
        return a if b is None else b
    negatives = [n for n in (a.get("negative"), b.get("negative")) if n is not None]
    if len(negatives) == 2 and negatives[0][0] != negatives[1][0]:
        shown = ", ".join(str(n[1]) for n in negatives)
        raise XentError(
            f"binary mode needs two label values, but the parts hold different negatives: {shown}",
            hint="use --mode categorical, or --positive to say which value is positive",
        )
    return {
        "positive": a.get("positive") if a.get("positive") is not None else b.get("positive"),
        "positive_seen": bool(a.get("positive_seen")) or bool(b.get("positive_seen")),
        "negative": negatives[0] if negatives else None,
    }
