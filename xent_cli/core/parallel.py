"""Fold a stream of batches into mergeable states on several threads at once.

Each worker folds the batches it takes into a state of its own; the states are merged at the
end. Merging is exact and does not depend on order, so the result is the same ``==`` state
whichever worker took which batch. numpy and Arrow release the GIL in their loops, so two
workers use two cores while a third thread reads ahead.

An error is the sequential pass's error: batches are taken in order, so when a worker fails
every earlier batch has already been taken, and after the others finish their batch the error
of the earliest failing batch is raised.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

Item = TypeVar("Item")


State = TypeVar("State", bound="Mergeable")


class Mergeable(Protocol):
    def merge(self: State, other: State, /) -> State: ...


def workers() -> int:
    """Threads worth folding on: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # (not on Linux)
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def fold(
    items: Iterator[Item],
    empty: Callable[[], State],
    add: Callable[[State, Item], None],
    n_workers: int,
) -> State:
    """``add`` every item into a state (``empty()`` states merged at the end), on
    ``n_workers`` threads (the calling thread one of them)."""
    if n_workers <= 1:
        state = empty()
        for item in items:
            add(state, item)
        return state
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[tuple[int, BaseException]] = []
    states = [empty() for _ in range(n_workers)]
    taken = iter(enumerate(items))

    def run(state: State) -> None:
        while not stop.is_set():
            with lock:
                try:
                    number, item = next(taken)
                except StopIteration:
                    return
                except BaseException as error:  # the reader's error: after every batch taken
                    failures.append((1 << 62, error))
                    stop.set()
                    return
            try:
                add(state, item)
            except BaseException as error:
                with lock:
                    failures.append((number, error))
                stop.set()
                return

    threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in states[1:]]
    for thread in threads:
        thread.start()
    try:
        run(states[0])
    finally:
        stop.set()  # (all items taken, or the caller interrupted: the others stop)
        for thread in threads:
            thread.join()
    if failures:
        raise min(failures, key=lambda failure: failure[0])[1]
    merged = states[0]
    for state in states[1:]:
        merged = merged.merge(state)
    return merged
