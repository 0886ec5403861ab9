"""``--by COL[:N][,COL...]``: the evaluation split into slices, one mergeable state per slice.

A slice is one value of the ``--by`` column (several columns: one combination of their
values). Each evaluated entry of a prepared batch goes to its slice's
:class:`~xent_cli.core.state.EvalState`, so every slice has the exact sums of the per-class table;
memory is bounded by slices x classes, never rows. Null and empty values form the slice
``<missing>``. Values are compared as text, spelled one way whatever the format stored them
as (:func:`_text`: ``True`` and a boolean true are ``true``, ``1.0`` and ``1`` are ``1``), so a
CSV file and a Parquet copy of it give the same slices.

A numeric column with more than :data:`MAX_DISTINCT` distinct values in the plan's sample (the
first :data:`SAMPLE_ROWS` rows) is refused unless binned: ``--by col:N`` cuts it into N
equal-mass bins whose edges are quantiles of the column over those first rows, decided once
(so the same for any batching), named like ``[0.1, 0.35)``; the outer bins reach to -inf/inf.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.core.columns import _find, is_numeric
from xent_cli.core.labels import display
from xent_cli.errors import XentError
from xent_cli.io.arrays import integers, is_text
from xent_cli.options import BySpec

MISSING_SLICE = "<missing>"
MAX_DISTINCT = 50  # a numeric column with more distinct values (in the sample) must be binned
SAMPLE_ROWS = 10_000  # the first rows that decide the bins
DEFAULT_MIN_SLICE_SIZE = 20

Key = tuple[str, ...]


@dataclass(frozen=True)
class SliceColumn:
    """One ``--by`` column: its values as text, or ``edges`` (interior bin edges)."""

    name: str
    edges: tuple[float, ...] | None = None

    @property
    def bin_names(self) -> list[str]:
        assert self.edges is not None
        ends = [-math.inf, *self.edges, math.inf]
        return [
            f"{'(' if lo == -math.inf else '['}{_edge(lo)}, {_edge(hi)})"
            for lo, hi in itertools.pairwise(ends)
        ]

    def codes(self, array: pa.Array) -> tuple[NDArray[np.intp], list[str]]:
        """Each value's code and the names of the codes (``<missing>`` among them)."""
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if self.edges is not None:
            values = _as_floats(array, self.name)
            names = [*self.bin_names, MISSING_SLICE]
            codes = np.searchsorted(np.asarray(self.edges), values, side="right")
            codes[np.isnan(values)] = len(names) - 1
            return codes.astype(np.intp), names
        if not pa.types.is_dictionary(array.type):  # else the reader's or the file's own
            import pyarrow.compute as pc

            array = pc.dictionary_encode(array)
        dictionary = array.dictionary
        codes = integers(array.indices, len(dictionary)).astype(np.intp)  # nulls: missing
        if len(dictionary) <= 2 * len(array) + 64:
            names = [_spelled(v) for v in dictionary.to_pylist()]  # may repeat: 1 and 1.0
        else:  # a file's dictionary of many more values than this batch uses: only those
            used = np.flatnonzero(np.bincount(codes, minlength=len(dictionary) + 1))
            used = used[used < len(dictionary)]
            renumber = np.full(len(dictionary) + 1, len(used), np.intp)
            renumber[used] = np.arange(len(used))
            codes = renumber[codes]
            names = [_spelled(dictionary[int(i)].as_py()) for i in used]
        names.append(MISSING_SLICE)
        return codes, names


def _edge(value: float) -> str:
    return "-inf" if value == -math.inf else "inf" if value == math.inf else f"{value:.4g}"


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@functools.lru_cache(maxsize=1 << 16, typed=True)  # typed: True, 1 and 1.0 stay apart
def _spelled_once(value: Any) -> str:
    return _text(value)


def _spelled(value: Any) -> str:
    """:func:`_text`, remembered: each batch of a file repeats its dictionary's values."""
    try:
        return _spelled_once(value)
    except TypeError:  # unhashable (a list value)
        return _text(value)


def _text(value: Any) -> str:
    """A slice value's spelling, the same whatever the file format stored it as: booleans
    ``true``/``false`` (also the text ``True``, ``FALSE``), numbers as :func:`display` spells
    them (``1.0``, ``+1`` and ``1`` are ``1``; ``0.50`` is ``0.5``), except integers written
    with leading zeros (``007``: a code, kept as written); null, NaN and empty text are
    ``<missing>``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_SLICE
    text = display(value)
    if not text or text.lower() == "nan":
        return MISSING_SLICE
    if isinstance(value, (str, bytes)):
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered
        if _NUMBER.fullmatch(text) and not re.match(r"[+-]?0\d", text):
            # digits only: an integer, exactly; else the float64 it stands for, as display
            # spells a float (an integral one without its ".0")
            return str(int(text)) if text.lstrip("+-").isdigit() else display(float(text))
    return text


def _as_floats(array: pa.Array, name: str) -> NDArray[np.float64]:
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    try:
        if is_text(array.type):
            array = pc.if_else(pc.equal(pc.utf8_trim_whitespace(array), ""), None, array)
        floats = pc.cast(array, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise XentError(
            f"--by {name}:N bins a numeric column, but {name!r} holds {array.type} values",
            hint=f"pass --by {name} to slice by its values",
        ) from None
    return np.asarray(floats.fill_null(math.nan).to_numpy(zero_copy_only=False), np.float64)


@dataclass(frozen=True)
class Slicer:
    """The frozen slicing of a plan: its columns and their bins."""

    columns: tuple[SliceColumn, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_state(self) -> list[dict[str, Any]]:
        """The columns and their bin edges (JSON, exact: floats round-trip)."""
        return [
            {"column": c.name, "edges": None if c.edges is None else list(c.edges)}
            for c in self.columns
        ]

    @classmethod
    def from_state(cls, state: list[dict[str, Any]]) -> Slicer:
        return cls(
            tuple(
                SliceColumn(
                    str(c["column"]),
                    None if c["edges"] is None else tuple(float(e) for e in c["edges"]),
                )
                for c in state
            )
        )

    def local_codes(
        self, arrays: Sequence[pa.Array], local: NDArray[np.intp]
    ) -> tuple[NDArray[np.intp], list[Key]]:
        """Each entry's slice (at rows ``local``) as an index into the keys returned (a key
        may repeat: values spelled alike, e.g. ``1`` and ``1.0``)."""
        n = len(arrays[0]) if arrays else 0
        if len(local) == n and (n == 0 or (local[0] == 0 and local[-1] == n - 1)):
            taken = list(arrays)  # every row evaluated, in order: no take
        else:
            positions = np.ascontiguousarray(local, dtype=np.int64)  # from buffers: no pandas
            indices = pa.Array.from_buffers(
                pa.int64(), len(positions), [None, pa.py_buffer(positions)]
            )
            taken = [a.take(indices) for a in arrays]
        per_column = [c.codes(a) for c, a in zip(self.columns, taken, strict=True)]
        if len(per_column) == 1:
            codes, names = per_column[0]
            uniques = np.flatnonzero(np.bincount(codes, minlength=len(names)))
            remap = np.full(len(names), -1, np.intp)
            remap[uniques] = np.arange(len(uniques))
            return remap[codes], [(names[u],) for u in uniques.tolist()]
        stacked = np.column_stack([codes for codes, _ in per_column])
        rows, inverse = np.unique(stacked, axis=0, return_inverse=True)
        keys = [tuple(per_column[j][1][code] for j, code in enumerate(row)) for row in rows]
        return inverse.reshape(-1).astype(np.intp), keys

    def split(self, arrays: Sequence[pa.Array], local: NDArray[np.intp]) -> Iterator[Any]:
        """(key, entries) for each slice present among the entries at rows ``local``."""
        inverse, keys = self.local_codes(arrays, local)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
        merged: dict[Key, list[NDArray[np.intp]]] = {}
        for i, key in enumerate(keys):
            merged.setdefault(key, []).append(order[bounds[i] : bounds[i + 1]])
        for key, parts in merged.items():
            yield key, np.sort(np.concatenate(parts)) if len(parts) > 1 else parts[0]


def make_slicer(
    spec: BySpec, schema: pa.Schema, batches: Iterator[pa.RecordBatch], source: str
) -> tuple[Slicer, Iterator[pa.RecordBatch]]:
    """The slicer of ``--by spec``, its bins decided from the first rows of ``batches``
    (returned again from the first; ``batches`` itself when no rows were needed: text
    columns). Exit 2 for a numeric column with too many values."""
    names = list(schema.names)
    parts = [(_find(c.name, names, "--by", source), c.bins) for c in spec.columns]
    seen: list[pa.RecordBatch] = []
    numeric = [
        is_numeric(schema.field(name).type) and not pa.types.is_null(schema.field(name).type)
        for name, _ in parts
    ]
    sample: dict[str, list[pa.Array]] = {name: [] for name, _ in parts}
    if any(numeric) or any(bins for _, bins in parts):
        rows = 0
        for batch in batches:
            seen.append(batch)
            for name in sample:
                sample[name].append(batch.column(name))
            rows += batch.num_rows
            if rows >= SAMPLE_ROWS:
                break
    columns = []
    for (name, bins), is_number in zip(parts, numeric, strict=True):
        values = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in sample[name]]
        if bins is not None:
            floats = (
                np.concatenate([_as_floats(a, name) for a in values]) if values else np.empty(0)
            )
            floats = floats[np.isfinite(floats)][:SAMPLE_ROWS]
            edges: tuple[float, ...] = ()
            if len(floats):
                qs = np.quantile(floats, np.linspace(0, 1, bins + 1)[1:-1])
                edges = tuple(sorted({float(q) for q in qs if float(q) > float(floats.min())}))
            columns.append(SliceColumn(name, edges))
            continue
        if is_number and values:
            distinct = len(pa.chunked_array(values).unique())
            if distinct > MAX_DISTINCT:
                raise XentError(
                    f"--by {name}: the numeric column {name!r} has {distinct} distinct values "
                    f"in its first rows (more than {MAX_DISTINCT}): one slice per value is "
                    "too many",
                    hint=f"bin it into N equal-mass bins with --by {name}:N (e.g. {name}:5)",
                )
        columns.append(SliceColumn(name))
    return Slicer(tuple(columns)), itertools.chain(seen, batches) if seen else batches


def differing_slices(expected: Any, seen: Any) -> str | None:
    """Why two saved slicings cannot merge (None: the same). Equal-mass bin edges come from
    each run's first rows, so runs over different shards usually cut a column differently."""
    if expected == seen:
        return None
    if expected is None or seen is None:
        which = "with --by" if seen is not None else "without --by"
        return f"made {which} (the other state {'without' if seen is None else 'with'} it)"
    names = [c["column"] for c in expected], [c["column"] for c in seen]
    if names[0] != names[1]:
        return f"made with --by {','.join(names[1])}, the other with --by {','.join(names[0])}"
    for a, b in zip(expected, seen, strict=True):
        if a["edges"] != b["edges"]:
            shown = [", ".join(f"{e:.6g}" for e in c["edges"] or []) for c in (b, a)]
            return (
                f"the bins of --by {a['column']}:N differ ([{shown[0]}] vs [{shown[1]}]): "
                "equal-mass edges come from each run's first rows, so states of different "
                "shards cut the column differently"
            )
    return "made with other --by slices"
