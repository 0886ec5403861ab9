"""Keys (document ids, slices) numbered in the order they first come.

A key is text: ``7``, ``7.0`` and ``"7"`` are one document (see
:func:`~xent_cli.core.token_state.document_key`). Integer ids, the common case, are kept in
numpy arrays (sorted, with their numbers) and looked up a batch at a time by binary search,
so a million documents cost no Python object each; their text is made only when asked for.
The first key that is not an integer id turns the index into a dict of texts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray


class IdTexts(Sequence[str]):
    """The texts of integer ids, made one at a time when read."""

    def __init__(self, ids: NDArray[np.int64]) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [str(v) for v in self.ids[i].tolist()]
        return str(int(self.ids[i]))

    def __iter__(self) -> Iterator[str]:
        return (str(v) for v in self.ids.tolist())


class KeyIndex:
    """Keys numbered 0, 1, ... in the order they first come."""

    def __init__(self) -> None:
        # number -> id, the ids sorted, and their numbers: the first ``_count`` entries of
        # buffers that grow by doubling (ids mostly come in increasing order: appended)
        self._id_buffer: NDArray[np.int64] | None = np.zeros(0, np.int64)
        self._sorted_buffer = np.zeros(0, np.int64)
        self._numbers_buffer = np.zeros(0, np.intp)
        self._count = 0
        self._texts: list[str] = []  # once not every key is an integer id
        self._where: dict[str, int] = {}

    @property
    def _ids(self) -> NDArray[np.int64] | None:
        buffer = self._id_buffer
        return None if buffer is None else buffer[: self._count]

    @property
    def _sorted(self) -> NDArray[np.int64]:
        return self._sorted_buffer[: self._count]

    @property
    def _numbers(self) -> NDArray[np.intp]:
        return self._numbers_buffer[: self._count]

    def __len__(self) -> int:
        return self._count if self._id_buffer is not None else len(self._texts)

    def copy(self) -> KeyIndex:
        out = KeyIndex()
        if self._id_buffer is not None:  # (copies: the buffers are appended to in place)
            out._id_buffer, out._count = self._id_buffer[: self._count].copy(), self._count
            out._sorted_buffer, out._numbers_buffer = self._sorted.copy(), self._numbers.copy()
        else:
            out._id_buffer, out._texts, out._where = None, list(self._texts), dict(self._where)
        return out

    def texts(self) -> Sequence[str]:
        """Every key's text, in number order."""
        return IdTexts(self._ids) if self._ids is not None else self._texts

    def number_ids(self, ids: NDArray[np.int64]) -> NDArray[np.intp]:
        """The numbers of these distinct integer ids (new ones numbered next, in order)."""
        if self._id_buffer is None:
            return self.number_texts([str(v) for v in ids.tolist()])
        first = self._count
        sorted_ids = self._sorted
        at = np.searchsorted(sorted_ids, ids)
        known = at < first
        known[known] = sorted_ids[at[known]] == ids[known]
        numbers = np.empty(len(ids), np.intp)
        numbers[known] = self._numbers[at[known]]
        new = ~known
        count = int(new.sum())
        if count:
            fresh = np.arange(first, first + count, dtype=np.intp)
            numbers[new] = fresh
            added = ids[new]
            order = np.argsort(added, kind="stable")
            self._id_buffer = _appended(self._id_buffer, first, added)
            if not first or int(added.min()) > int(sorted_ids[-1]):  # the usual: beyond all
                self._sorted_buffer = _appended(self._sorted_buffer, first, added[order])
                self._numbers_buffer = _appended(self._numbers_buffer, first, fresh[order])
            else:
                where = at[new][order]
                self._sorted_buffer = np.insert(sorted_ids, where, added[order])
                self._numbers_buffer = np.insert(self._numbers, where, fresh[order])
            self._count = first + count
        return numbers

    def number_texts(self, keys: Sequence[str]) -> NDArray[np.intp]:
        """The numbers of these keys (new ones numbered next, in order; a key may repeat)."""
        ids = self._ids
        if ids is not None:  # from now on every key is text
            self._texts = [str(v) for v in ids.tolist()]
            self._where = {k: i for i, k in enumerate(self._texts)}
            self._id_buffer, self._count = None, 0
            self._sorted_buffer, self._numbers_buffer = np.zeros(0, np.int64), np.zeros(0, np.intp)
        where, texts = self._where, self._texts
        found = [where.get(key) for key in keys]
        for i, number in enumerate(found):  # keys not seen before (each batch: a few)
            if number is None:
                key = keys[i]
                number = where.get(key)  # (a key twice in ``keys``: once added, found)
                if number is None:
                    number = where[key] = len(texts)
                    texts.append(key)
                found[i] = number
        return np.array(found, np.intp)

    def number_index(self, other: KeyIndex) -> NDArray[np.intp]:
        """The numbers here of every key of ``other``, in its number order."""
        theirs = other._ids
        if theirs is not None and self._id_buffer is not None:
            return self.number_ids(theirs)
        return self.number_texts(list(other.texts()))


def _appended(buffer: NDArray[Any], used: int, values: NDArray[Any]) -> NDArray[Any]:
    """``buffer``'s first ``used`` entries followed by ``values``: in place when there is
    room, else in a buffer twice as large (so appending a batch costs O(batch))."""
    end = used + len(values)
    if end > len(buffer):
        grown = np.empty(max(end, 2 * len(buffer), 1024), buffer.dtype)
        grown[:used] = buffer[:used]
        buffer = grown
    buffer[used:end] = values
    return buffer
