"""``--dask ADDRESS|local[:N]``: the inputs' parts evaluated on a Dask cluster, one report.

The plan is made once, on the client, exactly as a local run makes it. Each Parquet file
becomes one task per group of row groups (about ``TASK_ROWS`` rows), every other file one
task. A task reads its part under the client's plan and returns the part's exact state as
JSON-able data; the client shifts each part's warning rows by the rows before it, merges the
parts in a tree, and finishes the report. Exact sums make the report byte-identical to a
local run's, whatever the number of workers or the order tasks finish in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from xent_cli.core.engine import ProgressCallback, Scan
from xent_cli.core.plan import Plan
from xent_cli.core.state import EvalState
from xent_cli.core.token_engine import TokenScan
from xent_cli.core.token_state import TokenState
from xent_cli.core.tokens import TokenPlan
from xent_cli.errors import XentError
from xent_cli.io.base import STDIN, BatchSource
from xent_cli.io.parquet import ParquetSource
from xent_cli.io.sources import open_source
from xent_cli.options import InputFormat, Settings

TASK_ROWS = 1 << 20  # Parquet row groups are grouped into tasks of about this many rows
DASK_HINT = "pip install 'xent-cli[dask]'"


@dataclass(frozen=True)
class Part:
    """One task: a file, or some row groups of a Parquet file."""

    path: str
    input_format: InputFormat
    row_groups: tuple[int, ...] | None
    size: int  # bytes, about (for progress)


def parts_of(sources: Sequence[BatchSource], input_format: InputFormat) -> list[Part]:
    """The tasks for these inputs, in input order."""
    parts = []
    for source in sources:
        path = getattr(source, "path", None)
        if path == STDIN:
            raise XentError(
                f"{source.name}: --dask reads files (the workers open them), not standard input",
                hint="pass the files themselves, or leave out --dask",
            )
        if path is None:
            raise XentError(
                f"{source.name}: --dask reads files (the workers open them), not data in this "
                "process's memory",
                hint="write the data to Parquet files the workers can read, or leave out dask=",
            )
        size = source.size or 0
        if isinstance(source, ParquetSource):
            metadata = source.metadata
            total = max(metadata.num_rows, 1)
            group: list[int] = []
            rows = 0
            for i in range(metadata.num_row_groups):
                group.append(i)
                rows += metadata.row_group(i).num_rows
                last = i == metadata.num_row_groups - 1
                if rows >= TASK_ROWS or last:
                    parts.append(Part(path, input_format, tuple(group), size * rows // total))
                    group, rows = [], 0
            if metadata.num_row_groups == 0:
                parts.append(Part(path, input_format, None, size))
        else:
            parts.append(Part(path, input_format, None, size))
    return parts


def evaluate_part(plan: Plan, part: Part) -> dict[str, Any]:
    """A worker's task: the part's state under the client's plan (rows numbered from 0)."""
    source = open_source(part.path, part.input_format, part.row_groups)
    scan = Scan([source], plan.settings, plan=plan)
    return scan.state().to_state()


@contextmanager
def connect(address: str) -> Iterator[Any]:
    """A Dask client: ``local`` / ``local:N`` starts a LocalCluster of N worker processes
    (default: one per core), closed afterwards; anything else is a scheduler address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise XentError("--dask needs Dask's distributed scheduler", hint=DASK_HINT) from None
    import logging
    import warnings

    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2]
        if count and not (count.isdigit() and int(count) > 0):
            raise XentError(f"--dask {address}: say local or local:N with N >= 1 workers")
        workers = int(count) if count else (os.cpu_count() or 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Dask's own notes (ports, versions) are not xent's
            with (
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                ) as cluster,
                Client(cluster) as client,
            ):
                yield client
        return
    try:
        client = Client(address, timeout=10)
    except (OSError, TimeoutError) as error:
        raise XentError(f"--dask {address}: cannot reach the scheduler ({error})") from None
    with client:
        yield client


def evaluate_on(
    client: Any,
    sources: Sequence[BatchSource],
    settings: Settings,
    on_progress: ProgressCallback | None = None,
) -> tuple[Scan, EvalState]:
    """The plan (on the client) and the merged state of every part (on the workers)."""
    scan = Scan(sources, settings)
    parts = parts_of(scan.sources, settings.input_format)
    futures = client.map(evaluate_part, [scan.plan] * len(parts), parts, pure=False)
    results = _gather(futures, parts, on_progress)
    states = []
    offset = 0
    for result in results:
        state = EvalState.from_state(result)
        states.append(state.shifted(offset))
        offset += state.n_rows
    return scan, _tree(states, EvalState.merge)


def _gather(
    futures: list[Any], parts: list[Part], on_progress: ProgressCallback | None
) -> list[dict[str, Any]]:
    """The tasks' results in part order, with progress as they complete; a failed task is
    one line."""
    from distributed import as_completed

    index = {future.key: i for i, future in enumerate(futures)}
    results: list[dict[str, Any] | None] = [None] * len(parts)
    total = sum(p.size for p in parts)
    done = 0
    try:
        for future in as_completed(futures):
            i = index[future.key]
            results[i] = future.result()
            done += parts[i].size
            if on_progress is not None:
                on_progress(done, total)
    except XentError:
        raise
    except Exception as error:  # a worker died or could not run the task: one line
        text = " ".join(str(error).split()) or type(error).__name__
        raise XentError(f"a Dask task failed: {text[:300]}") from None
    return [r for r in results if r is not None]


def _tree(items: list[Any], merge: Callable[[Any, Any], Any]) -> Any:
    """Merge neighbours pairwise, level by level (the order of rows is kept)."""
    while len(items) > 1:
        pairs = [merge(a, b) for a, b in zip(items[0::2], items[1::2], strict=False)]
        items = pairs + ([items[-1]] if len(items) % 2 else [])
    return items[0]


def evaluate_token_part(plan: TokenPlan, part: Part) -> dict[str, Any]:
    """A worker's task for token files: the part's token state (rows numbered from 0)."""
    source = open_source(part.path, part.input_format, part.row_groups)
    return TokenScan([source], plan.settings, plan=plan).state().to_state()


def evaluate_tokens_on(
    client: Any,
    sources: Sequence[BatchSource],
    settings: Settings,
    on_progress: ProgressCallback | None = None,
) -> tuple[TokenScan, TokenState]:
    """The token plan (on the client) and the merged token state of every part: a document
    split across parts is one document (its sums are keyed by its id)."""
    scan = TokenScan(sources, settings)
    parts = parts_of(scan.sources, settings.input_format)
    futures = client.map(evaluate_token_part, [scan.plan] * len(parts), parts, pure=False)
    results = _gather(futures, parts, on_progress)
    states = []
    offset = 0
    for result in results:
        state = TokenState.from_state(result)
        states.append(state.shifted(offset))
        offset += state.n_rows
    return scan, _tree(states, TokenState.merge)
