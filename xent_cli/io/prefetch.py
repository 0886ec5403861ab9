"""Read-ahead: the next batches decoded in a thread while the current one is scored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa


def prefetch(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Read ahead in a background thread, so that parsing overlaps scoring on another core.

    At most ``depth`` batches wait in the queue (memory stays bounded); an error in the
    reader is raised in the consumer; a consumer that stops early stops the reader.
    """
    import queue
    import threading

    done = object()
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(done)
        except BaseException as error:  # handed to the consumer, which re-raises it
            put(error)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="xent-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def coalesce(
    batches: Iterator[pa.RecordBatch], rows: int, max_bytes: int
) -> Iterator[pa.RecordBatch]:
    """The same rows in batches of about ``rows`` rows (at most ``max_bytes`` of buffers),
    for a consumer whose cost per batch matters more than the copy: narrow token rows. A
    batch of half that size or more, with none held, passes as it is (Parquet's row groups
    end in such batches: joining them would copy every row)."""
    parts: list[pa.RecordBatch] = []
    held = held_bytes = 0
    for batch in batches:
        if batch.num_rows >= rows // 2 and not parts:
            yield batch
            continue
        parts.append(batch)
        held += batch.num_rows
        held_bytes += batch.nbytes
        if held >= rows or held_bytes >= max_bytes:
            yield _joined(parts)
            parts, held, held_bytes = [], 0, 0
    if parts:
        yield _joined(parts)


def _joined(parts: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(parts) == 1:
        return parts[0]
    table = pa.Table.from_batches(parts).combine_chunks()
    return table.to_batches()[0]
