"""One streaming pass over token files: sources -> token plan -> scored rows -> state.

The plan is made once from the first input's schema and the options; every input is read
for the plan's columns only, in bounded batches, and folded into one
:class:`~xent_cli.core.token_state.TokenState`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa

from xent_cli.core import parallel
from xent_cli.core.token_batch import score_batch
from xent_cli.core.token_state import KeyedSums, TokenState
from xent_cli.core.tokens import TokenPlan, make_token_plan
from xent_cli.errors import XentError
from xent_cli.io.base import BatchSource, Part
from xent_cli.io.prefetch import coalesce, prefetch
from xent_cli.io.text import TextSource
from xent_cli.options import InputFormat, Settings

READ_AHEAD_BYTES = 4 << 20
#: Token rows are narrow: batches of 262,144 rows (at most 64 MiB) keep the per-batch
#: work (keying documents, folding exact sums) small beside the per-row work.
BATCH_ROWS = 1 << 18
BATCH_BYTES = 64 << 20
#: Parts a file must come in for each thread to decode its own: with fewer, one reader thread
#: decoding every column at once (Arrow's threads) while the others score keeps cores busier.
PARTS_PER_WORKER = 4
#: A thread scores the part it decoded in batches of up to 524,288 rows: half the per-batch
#: work of BATCH_ROWS, for about 45 MB more at the peak on two threads (0.97x the time with
#: 40,000 documents, 0.90x with a million; batches that size from one reader were slower).
PART_ROWS = 1 << 19
ProgressCallback = Callable[[int, "int | None"], None]


class TokenScan:
    """The token plan of the inputs, and their batches of the plan's columns."""

    def __init__(
        self,
        sources: Sequence[BatchSource],
        settings: Settings,
        on_progress: ProgressCallback | None = None,
        *,
        first_row: int = 0,
        plan: TokenPlan | None = None,
    ) -> None:
        if not sources:
            raise XentError("no input given")
        self.sources = list(sources)
        self.on_progress = on_progress
        self.first_row = first_row
        first = self.sources[0]
        self._first: Iterator[pa.RecordBatch] | None = None
        if plan is None:
            plan = make_token_plan(first.schema, settings, first.name)
            if settings.by is not None:
                from xent_cli.core.slicer import make_slicer

                wanted = plan.needed_columns + settings.by.names()
                stream = self._stream(first, plan, wanted)
                slicer, rest = make_slicer(settings.by, first.schema, stream, first.name)
                plan = dataclasses.replace(plan, slicer=slicer)
                # (text columns need no sample: then nothing was read, and the file is read
                # as any other, in parts where it can be)
                self._first = None if rest is stream else rest
        self.plan = plan

    @property
    def files(self) -> list[str]:
        return [s.name for s in self.sources]

    def input_names(self) -> str:
        names = self.files
        return names[0] if len(names) == 1 else f"{names[0]} (and {len(names) - 1} more)"

    def _read(self, source: BatchSource) -> Iterator[pa.RecordBatch]:
        return self._stream(source, self.plan, self.plan.needed_columns)

    def _stream(
        self, source: BatchSource, plan: TokenPlan, needed: list[str]
    ) -> Iterator[pa.RecordBatch]:
        needed = list(dict.fromkeys(needed))
        self._check_columns(source, needed)
        asked = source.batches(needed, self._types(source, plan), rows=BATCH_ROWS)
        batches = coalesce(asked, BATCH_ROWS, BATCH_BYTES)
        if source.size is None or source.size > READ_AHEAD_BYTES:
            batches = prefetch(batches)
        return batches

    def _check_columns(self, source: BatchSource, needed: Sequence[str]) -> None:
        present = set(source.schema.names)
        missing = [c for c in needed if c not in present]
        if missing:
            raise XentError(
                f"{source.name}: column {missing[0]!r} not found "
                f"(it is in {self.sources[0].name}; several files must share their columns)"
            )

    def _types(self, source: BatchSource, plan: TokenPlan) -> dict[str, pa.DataType]:
        """Text inputs: numbers as float64; in CSV/TSV document ids and tokens as text
        (``007`` stays ``007``); JSON Lines says itself which values are text (``7``, ``"7"``)."""
        if not isinstance(source, TextSource):
            return {}
        numbers = [plan.value_column, plan.tokens_column, plan.bytes_column, plan.words_column]
        types: dict[str, pa.DataType] = {c: pa.float64() for c in numbers if c is not None}
        delimited = source.format is not InputFormat.jsonl
        if plan.doc_column is not None and delimited:
            types[plan.doc_column] = pa.string()
        if plan.token_column is not None and plan.settings.ignore_label is not None and delimited:
            types[plan.token_column] = pa.string()
        if plan.topk_column is not None:
            types[plan.topk_column] = pa.list_(pa.float64())
        return types

    def state(self, n_workers: int | None = None) -> TokenState:
        """The whole pass folded into one state (on ``n_workers`` threads: the same state)."""
        plan = self.plan
        count = parallel.workers() if n_workers is None else n_workers
        # the threads fold their batches' documents into one table, under a lock
        documents = KeyedSums() if plan.doc_column is not None and count > 1 else None
        lock = threading.Lock()

        def empty() -> TokenState:
            state = TokenState.empty(
                plan.settings.top_warnings, plan.doc_column is not None, plan.slicer is not None
            )
            if documents is not None:
                state.sharing_documents(documents, lock)
            if plan.convention is not None:
                from xent_cli.metrics.calibration import CalibrationState

                state.calibration = CalibrationState.empty(plan.convention, 1, False)
            return state

        def add(state: TokenState, item: tuple[str, int, pa.RecordBatch | Part]) -> None:
            name, start, batch = item
            if isinstance(batch, pa.RecordBatch):
                score_batch(plan, batch, start, state, name)
                return
            for piece in batch.read():  # (decoded here, on this thread)
                score_batch(plan, piece, start, state, name)
                start += piece.num_rows

        state = parallel.fold(self._numbered(count), empty, add, count)
        state.documents_lock = None  # (the pass is over: its table is this state's alone)
        return state

    def _numbered(self, workers: int = 1) -> Iterator[tuple[str, int, pa.RecordBatch | Part]]:
        """Every input's batches, each with its source's name and its first row's number.
        For several ``workers``, a source that comes in enough parts that threads decode
        themselves (a Parquet file on disk, in row groups) gives its parts instead."""
        start = self.first_row
        for i, source in enumerate(self.sources):
            items: Iterator[pa.RecordBatch | Part] | None = None
            if i == 0 and self._first is not None:
                items = self._first
            elif workers > 1:
                parts = self._parts(source)
                if parts is not None and len(parts) >= PARTS_PER_WORKER * workers:
                    items = iter(parts)
            for item in items if items is not None else self._read(source):
                yield source.name, start, item
                start += item.num_rows if isinstance(item, pa.RecordBatch) else item.rows
                if self.on_progress is not None:
                    self._report_progress()

    def _parts(self, source: BatchSource) -> list[Part] | None:
        cut = getattr(source, "parts", None)
        if cut is None:
            return None
        needed = list(dict.fromkeys(self.plan.needed_columns))
        self._check_columns(source, needed)
        parts: list[Part] | None = cut(needed, self._types(source, self.plan), PART_ROWS)
        return parts

    def _report_progress(self) -> None:
        assert self.on_progress is not None
        sizes = [s.size for s in self.sources]
        total = None if None in sizes else sum(s or 0 for s in sizes)
        self.on_progress(sum(s.bytes_done() for s in self.sources), total)
