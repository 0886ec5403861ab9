"""Keys (document ids, slices) numbered in the order they first come.

A key is text: ``7``, ``7.0`` and ``"7"`` are one document (see
:func:`~xent_cli.core.token_state.document_key`). Integer ids, the common case, are kept in
numpy arrays (sorted, with their numbers) and looked up a batch at a time by binary search,
so a million documents cost no Python object each; their text is made only when asked for.
The first key that is not an integer id turns the index into a dict of texts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

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
        self._ids: NDArray[np.int64] | None = np.zeros(0, np.int64)  # number -> id
        self._sorted = np.zeros(0, np.int64)  # the ids, sorted
        self._numbers = np.zeros(0, np.intp)  # their numbers
        self._texts: list[str] = []  # once not every key is an integer id
        self._where: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids) if self._ids is not None else len(self._texts)

    def copy(self) -> KeyIndex:
        out = KeyIndex()
        if self._ids is not None:
            out._ids, out._sorted, out._numbers = self._ids, self._sorted, self._numbers
        else:  # (the arrays above are never changed in place, only replaced)
            out._ids, out._texts, out._where = None, list(self._texts), dict(self._where)
        return out

    def texts(self) -> Sequence[str]:
        """Every key's text, in number order."""
        return IdTexts(self._ids) if self._ids is not None else self._texts

    def number_ids(self, ids: NDArray[np.int64]) -> NDArray[np.intp]:
        """The numbers of these distinct integer ids (new ones numbered next, in order)."""
        if self._ids is None:
            return self.number_texts([str(v) for v in ids.tolist()])
        at = np.searchsorted(self._sorted, ids)
        known = at < len(self._sorted)
        known[known] = self._sorted[at[known]] == ids[known]
        numbers = np.empty(len(ids), np.intp)
        numbers[known] = self._numbers[at[known]]
        new = ~known
        count = int(new.sum())
        if count:
            first = len(self._ids)
            fresh = np.arange(first, first + count, dtype=np.intp)
            numbers[new] = fresh
            added = ids[new]
            self._ids = np.concatenate([self._ids, added])
            order = np.argsort(added, kind="stable")
            where = at[new][order]
            self._sorted = np.insert(self._sorted, where, added[order])
            self._numbers = np.insert(self._numbers, where, fresh[order])
        return numbers

    def number_texts(self, keys: Sequence[str]) -> NDArray[np.intp]:
        """The numbers of these keys (new ones numbered next, in order; a key may repeat)."""
        if self._ids is not None:  # from now on every key is text
            self._texts = [str(v) for v in self._ids.tolist()]
            self._where = {k: i for i, k in enumerate(self._texts)}
            self._ids = None
            self._sorted, self._numbers = np.zeros(0, np.int64), np.zeros(0, np.intp)
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
        if other._ids is not None and self._ids is not None:
            return self.number_ids(other._ids)
        return self.number_texts(list(other.texts()))
