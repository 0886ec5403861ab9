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

import dataclasses
import functools
import itertools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from xent_cli.core.columns import split_by_spec
from xent_cli.core.labels import display
from xent_cli.errors import XentError
from xent_cli.io.arrays import integers, is_text

if TYPE_CHECKING:
    from xent_cli.core.plan import Plan
    from xent_cli.core.prepare import Prepared
    from xent_cli.core.state import EvalState
    from xent_cli.kernels.accumulate import ClassTotals

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
    spec: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch], source: str
) -> tuple[Slicer, Iterator[pa.RecordBatch]]:
    """The slicer of ``--by spec``, its bins decided from the first rows of ``batches``
    (returned again from the first). Exit 2 for a numeric column with too many values."""
    from xent_cli.core.columns import _find, is_numeric

    names = list(schema.names)
    parts = [(_find(name, names, "--by", source), bins) for name, bins in split_by_spec(spec)]
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
    return Slicer(tuple(columns)), itertools.chain(seen, batches)


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


FLUSH_ENTRIES = 1 << 20  # calibration entries buffered before they are filed into their slices
FIRST_CAPACITY = 16  # slices the side-by-side totals have room for before they first grow


@dataclass
class _Pending:
    """Calibration entries of some batches, not yet filed into their slices."""

    codes: list[NDArray[np.intp]] = field(default_factory=list)
    confidences: list[tuple[NDArray[Any], ...]] = field(default_factory=list)
    weights: list[NDArray[np.float64]] = field(default_factory=list)
    entries: int = 0


@dataclass
class _SideBySide:
    """Every slice's per-class totals in one :class:`ClassTotals`: slice code ``c``'s class
    ``j`` is class ``c * n_classes + j``. A batch is one ``add`` whatever its slices: no
    sort, no copy per slice. Room for ``capacity`` slices, doubled when more appear."""

    totals: ClassTotals
    rows: NDArray[np.int64]  # rows per slice code
    n_classes: int

    @property
    def capacity(self) -> int:
        return len(self.rows)

    @classmethod
    def empty(cls, capacity: int, n_classes: int, weighted: bool) -> _SideBySide:
        from xent_cli.kernels.accumulate import ClassTotals

        totals = ClassTotals.zeros(capacity * n_classes, weighted)
        return cls(totals, np.zeros(capacity, np.int64), n_classes)

    def grown(self, n_slices: int) -> _SideBySide:
        """Room for at least ``n_slices`` slices (doubling: a batch of new slices is rare)."""
        if n_slices <= self.capacity:
            return self
        capacity = max(2 * self.capacity, n_slices)
        totals = self.totals.resized(capacity * self.n_classes)
        rows = np.pad(self.rows, (0, capacity - self.capacity))
        return _SideBySide(totals, rows, self.n_classes)


@dataclass(eq=False)
class SliceStates:
    """One :class:`EvalState` per slice key (mergeable: a merge is per key).

    The per-class sums of all slices are accumulated side by side (:class:`_SideBySide`) and
    handed to the slices' states when these are asked for; calibration entries are buffered
    (at most :data:`FLUSH_ENTRIES`) and filed one ``add`` per slice per flush. The sums are
    exact, so neither changes a figure. A slice's state keeps no warnings and no evidence of
    probabilities passed as logits (those are the run's, judged by batch: per slice they would
    depend on how the rows were split)."""

    n_classes: int
    weighted: bool
    _states: dict[Key, EvalState] = field(default_factory=dict)
    convention: Any = field(default=None, repr=False)  # per-slice calibration
    _keys: list[Key] = field(default_factory=list, repr=False)
    _index: dict[Key, int] = field(default_factory=dict, repr=False)
    _side: _SideBySide | None = field(default=None, repr=False)
    _pending: _Pending = field(default_factory=_Pending, repr=False)

    @classmethod
    def empty(cls, plan: Plan) -> SliceStates:
        return cls(plan.n_classes, plan.roles.weight_column is not None, {}, slice_convention(plan))

    @property
    def states(self) -> dict[Key, EvalState]:
        """Each slice's state, everything added so far filed."""
        self.flush()
        return self._states

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SliceStates):
            return NotImplemented
        return (self.n_classes, self.weighted, self.states) == (
            other.n_classes,
            other.weighted,
            other.states,
        )

    __hash__ = None  # type: ignore[assignment]

    def _state(self, key: Key) -> EvalState:
        state = self._states.get(key)
        if state is None:
            from xent_cli.core import diagnostics as dx
            from xent_cli.core.state import EvalState
            from xent_cli.kernels.accumulate import ClassTotals

            totals = ClassTotals.zeros(self.n_classes, self.weighted)
            state = self._states[key] = EvalState(0, 0, totals, dx.Diagnostics(0))
            if self.convention is not None:
                from xent_cli.metrics.calibration import CalibrationState

                state.convention = self.convention
                state.calibration = CalibrationState.empty(self.convention, 1, self.weighted)
        return state

    def add(self, slicer: Slicer, batch: Prepared) -> None:
        if batch.scored is None or not len(batch.local):
            return
        inverse, keys = slicer.local_codes(batch.slice_columns, batch.local)
        remap = np.empty(len(keys), np.intp)
        for i, key in enumerate(keys):
            code = self._index.get(key)
            if code is None:
                code = self._index[key] = len(self._keys)
                self._keys.append(key)
            remap[i] = code
        codes = remap[inverse]
        local = batch.local
        if len(local) > 1 and not (np.diff(local) > 0).all():  # multilabel: rows, not cells
            pairs = np.unique(codes.astype(np.int64) * (int(local.max()) + 1) + local)
            codes_of_rows = pairs // (int(local.max()) + 1)
        else:
            codes_of_rows = codes
        if self._side is None:
            capacity = max(FIRST_CAPACITY, len(self._keys))
            self._side = _SideBySide.empty(capacity, self.n_classes, self.weighted)
        side = self._side = self._side.grown(len(self._keys))
        rows = np.bincount(codes_of_rows)
        side.rows[: len(rows)] += rows
        s = batch.scored
        classes = codes * self.n_classes + s.classes
        side.totals.add(classes, s.loss, batch.weight, s.correct, s.p_true, s.zero)
        if self.convention is not None and batch.confidences is not None:
            c, pending = batch.confidences, self._pending
            pending.codes.append(codes)
            pending.confidences.append((c.confidence, c.observed, c.brier))
            if batch.weight is not None:
                pending.weights.append(batch.weight)
            pending.entries += len(codes)
            if pending.entries >= FLUSH_ENTRIES:
                self._file_calibration()

    def flush(self) -> None:
        """Hand the side-by-side totals and the buffered calibration entries to the slices."""
        side, self._side = self._side, None
        if side is not None:
            parts = side.totals.split(self.n_classes)
            for code, key in enumerate(self._keys):
                rows = int(side.rows[code])
                if not rows:
                    continue
                state = self._state(key)
                first = not state.n_rows
                state.n_rows += rows
                state.n_evaluated += rows
                state.totals = parts[code] if first else state.totals.merge(parts[code])
        self._file_calibration()

    def _file_calibration(self) -> None:
        """File the buffered calibration entries: one ``add`` per slice."""
        from xent_cli.metrics.confidence import Confidences

        pending = self._pending
        if not pending.entries:
            return
        self._pending = _Pending()
        codes = np.concatenate(pending.codes)
        # stable: entries keep their order within a slice; 16-bit codes sort by radix, O(n)
        small = codes.astype(np.uint16) if len(self._keys) <= 1 << 16 else codes
        order = np.argsort(small, kind="stable")
        confidence, observed, brier = (
            np.concatenate([c[j] for c in pending.confidences])[order] for j in range(3)
        )
        weight = np.concatenate(pending.weights)[order] if pending.weights else None
        sizes = np.bincount(codes)
        present = np.flatnonzero(sizes)
        ends_all = np.cumsum(sizes)
        starts = (ends_all - sizes)[present]
        ends = ends_all[present].tolist()
        for code, lo, hi in zip(present.tolist(), starts.tolist(), ends, strict=True):
            state = self._state(self._keys[code])
            assert state.calibration is not None
            part = slice(lo, hi)
            rows = Confidences(confidence[part], observed[part], brier[part])
            w = weight[part] if weight is not None else None
            state.calibration.add(self.convention, rows, w, None)

    def merge(self, other: SliceStates) -> SliceStates:
        states = dict(self.states)
        for key, state in other.states.items():
            states[key] = states[key].merge(state) if key in states else state
        convention = self.convention if self.convention is not None else other.convention
        return SliceStates(self.n_classes, self.weighted, states, convention)

    def to_state(self) -> dict[str, Any]:
        return {
            "n_classes": self.n_classes,
            "weighted": self.weighted,
            "slices": [[list(k), s.to_state()] for k, s in self.states.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SliceStates:
        from xent_cli.core.state import EvalState

        states = {tuple(k): EvalState.from_state(s) for k, s in state["slices"]}
        return cls(int(state["n_classes"]), bool(state["weighted"]), states)


# -- the report's slices -------------------------------------------------------------------


@dataclass(frozen=True)
class SliceResult:
    key: dict[str, str]
    count: int
    weight: float
    loss: float | None
    share: float | None
    accuracy: float | None
    mean_p_true: float | None
    zero_probability: int
    small: bool
    calibration: dict[str, Any] | None = None  # --calibration: the slice's ece, mce, brier

    def to_dict(self) -> dict[str, Any]:
        from xent_cli.jsonvalues import json_number

        extra = self.calibration or {}
        return {
            "key": self.key,
            "count": self.count,
            "weight": json_number(self.weight),
            "loss": json_number(self.loss),
            "accuracy": json_number(self.accuracy),
            "mean_p_true": json_number(self.mean_p_true),
            "small": self.small,
            "zero_probability": self.zero_probability,
            "share": json_number(self.share),
            **{k: json_number(v) for k, v in extra.items()},
        }

    @property
    def name(self) -> str:
        return ", ".join(f"{c}={v}" for c, v in self.key.items())


@dataclass(frozen=True)
class SliceReport:
    by: list[str]
    min_size: int
    groups: list[SliceResult]
    worst: dict[str, str] | None
    difference_between: float | None
    difference_to_overall: float | None

    @property
    def eligible(self) -> list[SliceResult]:
        return [g for g in self.groups if not g.small and g.loss is not None]

    def worst_first(self) -> list[SliceResult]:
        return sorted(
            self.groups, key=lambda g: (-(g.loss if g.loss is not None else -math.inf), g.small)
        )

    def to_dict(self) -> dict[str, Any]:
        from xent_cli.jsonvalues import json_number

        return {
            "by": self.by,
            "min_size": self.min_size,
            "groups": [g.to_dict() for g in self.groups],
            "worst": self.worst,
            "difference_between": json_number(self.difference_between),
            "difference_to_overall": json_number(self.difference_to_overall),
        }


def slice_convention(plan: Plan) -> Any:
    """The calibration convention of each slice: the run's, for top or positive targets
    (classwise and the temperature scan are the whole run's only)."""
    convention = plan.calibration
    if convention is None:
        return None
    from xent_cli.options import EceTarget

    if convention.target is EceTarget.classwise:
        return None
    return dataclasses.replace(convention, decompose=False)


def _slice_calibration(
    state: EvalState, convention: Any, loss_sum: float, weight: float
) -> dict[str, Any] | None:
    if state.calibration is None or convention is None:
        return None
    from xent_cli.metrics.calibration import finish

    figures = finish(state.calibration, convention, [], loss_sum, weight, 1.0)
    return {"ece": figures.ece, "mce": figures.mce, "brier": figures.brier}


def _order(slicer: Slicer, key: Key) -> tuple[Any, ...]:
    parts: list[Any] = []
    for column, value in zip(slicer.columns, key, strict=True):
        if value == MISSING_SLICE:
            parts.append((2, 0.0, ""))
        elif column.edges is not None:
            parts.append((0, float(column.bin_names.index(value)), ""))
        else:
            try:
                parts.append((0, float(value), value))
            except ValueError:
                parts.append((1, 0.0, value))
    return tuple(parts)


def build_slices(
    slicer: Slicer,
    slices: SliceStates,
    overall_loss: float,
    per_nat: float,
    min_size: int = DEFAULT_MIN_SLICE_SIZE,
    convention: Any = None,
) -> SliceReport:
    """Each slice's figures (in the report's base), sorted by key; the differences and the
    worst slice over the eligible (not small) slices."""
    from xent_cli.kernels.accumulate import overall_totals

    states = slices.states
    totals = dict(zip(states, overall_totals([s.totals for s in states.values()]), strict=True))
    grand = math.fsum(t.loss for t in totals.values())  # fsum: in any order, one sum
    groups = []
    columns = slicer.names
    for key in sorted(states, key=lambda k: _order(slicer, k)):
        state, sums = states[key], totals[key]
        w = sums.weight
        groups.append(
            SliceResult(
                key=dict(zip(columns, key, strict=True)),
                count=state.n_evaluated,
                weight=w,
                loss=sums.loss / w * per_nat if w > 0 else None,
                share=sums.loss / grand if grand > 0 and math.isfinite(grand) else 0.0,
                accuracy=sums.correct / w if w > 0 else None,
                mean_p_true=sums.p_true / w if w > 0 else None,
                zero_probability=sums.zero_probability,
                small=state.n_evaluated < min_size,
                calibration=_slice_calibration(state, convention, sums.loss, w),
            )
        )
    eligible = [g for g in groups if not g.small and g.loss is not None]
    worst = max(eligible, key=lambda g: g.loss or 0.0) if eligible else None
    losses = [g.loss for g in eligible if g.loss is not None]
    return SliceReport(
        by=slicer.names,
        min_size=min_size,
        groups=groups,
        worst=worst.key if worst else None,
        difference_between=max(losses) - min(losses) if losses else None,
        difference_to_overall=max(abs(x - overall_loss) for x in losses) if losses else None,
    )


def slice_gate_reasons(
    report: SliceReport,
    overall_loss: float,
    unit: str,
    max_loss: float | None,
    max_gap: float | None,
) -> list[str]:
    """The failed slice gates, one sentence each."""
    reasons = []
    eligible = report.eligible
    if max_loss is not None:
        over = [g for g in eligible if not (g.loss is not None and g.loss <= max_loss)]
        if over:
            worst = max(over, key=lambda g: g.loss or 0.0)
            reasons.append(
                f"{len(over)} slice(s) exceed --max-slice-loss {max_loss:g}; worst: "
                f"{worst.name} with loss {worst.loss:.6g} {unit} ({worst.count} rows)"
            )
    if max_gap is not None and eligible:
        worst = max(eligible, key=lambda g: g.loss or 0.0)
        gap = (worst.loss or 0.0) - overall_loss
        if not gap <= max_gap:
            reasons.append(
                f"slice {worst.name} has loss {worst.loss:.6g} {unit}, {gap:.6g} above the "
                f"overall {overall_loss:.6g}: exceeds --max-slice-gap {max_gap:g}"
            )
    return reasons
