"""One protocol for mergeable state, written once for every accumulator in xent.

A *state* is what some rows leave behind before they become figures. Every state in xent
(exact sums, class totals, calibration bins, slices, the bootstrap, the evaluation's state,
``xent compare``'s paired totals) is :class:`Mergeable`:

- ``empty_like()``: a state of no rows with the same settings (the identity of ``merge``);
- ``merge(other)``: a new state holding both, neither changed; associative and commutative,
  so any split of the rows, merged in any order, gives an equal state;
- ``==``: the same rows were seen, whatever their split, batching or order;
- ``to_state()`` / ``from_state(dict)``: JSON-able and exact (the saved-state format); equal
  states write equal dicts;
- ``fingerprint()``: the settings that must agree for two states to merge; ``merge`` raises
  ValueError (naming the setting) when they do not.

:class:`FieldState` derives all of this for a dataclass from its fields, each declared with
its merge rule, in the manner of torchmetrics' ``Metric.add_state(name, default,
dist_reduce_fx)``: the rule is written once, with the field, not in five methods.

================================  ====================================  =========================
declared as                       merged by                             saved as
================================  ====================================  =========================
``counted()``                     ``a + b`` (an int, or int64 arrays    an int or a list of ints
                                  of one length)
``setting(convert)``              must be equal                         the value
``nested(cls)``                   ``a.merge(b)``                        ``a.to_state()``
``nested(cls, optional=True)``    as nested, or absent on both sides    left out when absent
``reduced(combine, identity)``    ``combine(a, b)`` (and, min, ...)     the value
``keyed(cls)``                    per key: ``a[k].merge(b[k])``, or     ``[[key, state], ...]``,
                                  the one side's state                  sorted by key
``flattened(loaders)``            per name, as nested                   each under its own name
``attached()``                    not state (a plan's object): the      not saved, not compared
                                  first present is kept
================================  ====================================  =========================

Fields without a rule are scratch (buffers, caches): they must be ``init=False``; a state
files them into its declared fields in :meth:`FieldState._settle`, which runs before every
merge, comparison, fingerprint and save.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

__all__ = [
    "FieldState",
    "Mergeable",
    "attached",
    "counted",
    "flattened",
    "keyed",
    "nested",
    "reduced",
    "require_mergeable",
    "setting",
]

M = TypeVar("M", bound="Mergeable")
F = TypeVar("F", bound="FieldState")
_RULE = "xent_cli.mergeable.rule"
_OMIT = object()  # a fingerprint entry left out (counts, reductions: not settings)


class Mergeable(Protocol):
    """What every state in xent provides (see the module docstring)."""

    def empty_like(self: M) -> M: ...

    def merge(self: M, other: M) -> M: ...

    def fingerprint(self) -> dict[str, Any]: ...

    def to_state(self) -> dict[str, Any]: ...

    @classmethod
    def from_state(cls: type[M], state: dict[str, Any]) -> M: ...


def require_mergeable(state: Mergeable, other: object) -> None:
    """TypeError unless ``other`` is a state of the same type; ValueError naming the first
    setting in which the two fingerprints differ."""
    if type(other) is not type(state):
        raise TypeError(f"cannot merge {type(state).__name__} with {type(other).__name__}")
    assert isinstance(other, type(state))
    mine, theirs = state.fingerprint(), other.fingerprint()
    if mine != theirs:
        name = next(k for k in mine if mine[k] != theirs.get(k))
        raise ValueError(
            f"cannot merge two {type(state).__name__} states with different {name}: "
            f"{theirs.get(name)!r} and {mine[name]!r}"
        )


# -- the rules ----------------------------------------------------------------------------


class Rule:
    """How one field merges, compares, saves, loads and empties; ``key``: its name in the
    saved state (the field's name if None)."""

    is_state = True  # compared and saved (attached fields are not)

    def __init__(self, key: str | None = None) -> None:
        self.key = key

    def merge(self, a: Any, b: Any, where: str) -> Any:
        raise NotImplementedError

    def equal(self, a: Any, b: Any) -> bool:
        return bool(a == b)

    def write(self, out: dict[str, Any], key: str, value: Any) -> None:
        out[key] = value

    def read(self, state: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in state:
            raise ValueError(f"{where}: {key!r} missing from the saved state")
        return state[key]

    def fingerprint(self, value: Any) -> Any:
        return _OMIT

    def empty(self, value: Any) -> Any:
        raise NotImplementedError


class _Count(Rule):
    def merge(self, a: Any, b: Any, where: str) -> Any:
        if isinstance(a, np.ndarray) and a.shape != b.shape:
            raise ValueError(f"cannot merge {where}: {len(a)} entries with {len(b)}")
        return a + b

    def equal(self, a: Any, b: Any) -> bool:
        if isinstance(a, np.ndarray):
            return bool(np.array_equal(a, b))
        return bool(a == b)

    def write(self, out: dict[str, Any], key: str, value: Any) -> None:
        out[key] = value.tolist() if isinstance(value, np.ndarray) else int(value)

    def read(self, state: Mapping[str, Any], key: str, where: str) -> Any:
        value = super().read(state, key, where)
        if isinstance(value, list):
            return np.array(value, dtype=np.int64).reshape(-1)
        if isinstance(value, (int, np.integer)):
            return int(value)
        raise ValueError(f"{where}: {key!r} must be a count or a list of counts")

    def fingerprint(self, value: Any) -> Any:
        return len(value) if isinstance(value, np.ndarray) else _OMIT

    def empty(self, value: Any) -> Any:
        return np.zeros_like(value) if isinstance(value, np.ndarray) else 0


class _RareCount(_Count):
    """A count that is usually 0: saved only when it is not, read as 0 when absent (so the
    states of runs that never count it keep their old form)."""

    def write(self, out: dict[str, Any], key: str, value: Any) -> None:
        if value:
            super().write(out, key, value)

    def read(self, state: Mapping[str, Any], key: str, where: str) -> Any:
        return super().read(state, key, where) if key in state else 0


class _Setting(Rule):
    def __init__(self, convert: Callable[[Any], Any] | None, key: str | None) -> None:
        super().__init__(key)
        self.convert = convert

    def merge(self, a: Any, b: Any, where: str) -> Any:
        if a != b:
            raise ValueError(f"cannot merge {where}: {b!r} and {a!r} differ")
        return a

    def read(self, state: Mapping[str, Any], key: str, where: str) -> Any:
        value = super().read(state, key, where)
        return self.convert(value) if self.convert is not None else value

    def fingerprint(self, value: Any) -> Any:
        return value

    def empty(self, value: Any) -> Any:
        return value


def _resolve(kind: Any) -> Any:
    """A class, or a function returning one (a class defined further down its module)."""
    return kind if isinstance(kind, type) else kind()


class _Nested(Rule):
    def __init__(self, kind: Any, optional: bool, key: str | None) -> None:
        super().__init__(key)
        self.kind, self.optional = kind, optional

    def merge(self, a: Any, b: Any, where: str) -> Any:
        if a is None and b is None:
            return None
        if a is None or b is None:
            raise ValueError(f"cannot merge {where}: present in one state only")
        return a.merge(b)

    def write(self, out: dict[str, Any], key: str, value: Any) -> None:
        if value is not None or not self.optional:
            out[key] = value.to_state()

    def read(self, state: Mapping[str, Any], key: str, where: str) -> Any:
        value = state.get(key) if self.optional else super().read(state, key, where)
        if value is None and self.optional:
            return None
        if not isinstance(value, dict):
            raise ValueError(f"{where}: {key!r} must be a saved state (an object)")
        return _resolve(self.kind).from_state(value)

    def fingerprint(self, value: Any) -> Any:
        return None if value is None else value.fingerprint()

    def empty(self, value: Any) -> Any:
        return None if value is None else value.empty_like()


class _Reduced(Rule):
    def __init__(
        self,
        combine: Callable[[Any, Any], Any],
        identity: Any,
        convert: Callable[[Any], Any] | None,
        key: str | None,
    ) -> None:
        super().__init__(key)
        self.combine, self.identity, self.convert = combine, identity, convert

    def merge(self, a: Any, b: Any, where: str) -> Any:
        return self.combine(a, b)

    def read(self, state: Mapping[str, Any], key: str, where: str) -> Any:
        value = state.get(key, self.identity)
        return self.convert(value) if self.convert is not None else value

    def empty(self, value: Any) -> Any:
        return self.identity


class _Keyed(Rule):
    def __init__(
        self,
        kind: Any,
        encode: Callable[[Any], Any],
        decode: Callable[[Any], Any],
        key: str | None,
    ) -> None:
        super().__init__(key)
        self.kind, self.encode, self.decode = kind, encode, decode

    def merge(self, a: Any, b: Any, where: str) -> Any:
        # a key on one side only keeps that side's state (shared, not copied: merged
        # states are finished or merged again, not added to)
        merged = dict(a)
        for k, state in b.items():
            merged[k] = merged[k].merge(state) if k in merged else state
        return merged

    def write(self, out: dict[str, Any], key: str, value: Any) -> None:
        out[key] = [[self.encode(k), value[k].to_state()] for k in sorted(value)]

    def read(self, state: Mapping[str, Any], key: str, where: str) -> Any:
        entries = super().read(state, key, where)
        if not isinstance(entries, list):
            raise ValueError(f"{where}: {key!r} must be a list of [key, state] pairs")
        kind = _resolve(self.kind)
        return {self.decode(k): kind.from_state(s) for k, s in entries}

    def empty(self, value: Any) -> Any:
        return {}


class _Flattened(Rule):
    def __init__(self, loaders: Callable[[], Mapping[str, Callable[[dict[str, Any]], Any]]]):
        super().__init__(None)
        self.loaders = loaders

    def merge(self, a: Any, b: Any, where: str) -> Any:
        if set(a) != set(b):
            raise ValueError(f"cannot merge {where}: {sorted(b)} and {sorted(a)} differ")
        return {name: state.merge(b[name]) for name, state in a.items()}

    def write(self, out: dict[str, Any], key: str, value: Any) -> None:
        for name, state in value.items():
            out[name] = state.to_state()

    def read(self, state: Mapping[str, Any], key: str, where: str) -> Any:
        return {
            name: load(state[name])
            for name, load in self.loaders().items()
            if state.get(name) is not None
        }

    def fingerprint(self, value: Any) -> Any:
        return {name: state.fingerprint() for name, state in value.items()}

    def empty(self, value: Any) -> Any:
        return {name: state.empty_like() for name, state in value.items()}


class _Attached(Rule):
    is_state = False

    def merge(self, a: Any, b: Any, where: str) -> Any:
        return b if a is None or (isinstance(a, (tuple, list, dict)) and not a) else a

    def empty(self, value: Any) -> Any:
        return value


def _field(rule: Rule, **options: Any) -> Any:
    return dataclasses.field(metadata={_RULE: rule}, **options)


def counted(*, key: str | None = None, **options: Any) -> Any:
    """A count: an int or an int64 array (one per class, bin, ...), merged by addition."""
    return _field(_Count(key), **options)


def rare_count(*, key: str | None = None, **options: Any) -> Any:
    """A count that is usually 0 (rows left out by an option): merged by addition, saved
    only when it is not 0."""
    options.setdefault("default", 0)
    return _field(_RareCount(key), **options)


def setting(
    convert: Callable[[Any], Any] | None = None, *, key: str | None = None, **options: Any
) -> Any:
    """A setting the rows do not change (a number of classes, a seed): must be equal to
    merge; ``convert`` turns the saved value back (e.g. ``int``)."""
    return _field(_Setting(convert, key), **options)


def nested(kind: Any, *, optional: bool = False, key: str | None = None, **options: Any) -> Any:
    """A mergeable state of class ``kind`` (or a function returning the class); optional:
    may be None (on both sides of a merge), left out of the saved state then."""
    if optional:
        options.setdefault("default", None)
    return _field(_Nested(kind, optional, key), **options)


def reduced(
    combine: Callable[[Any, Any], Any],
    identity: Any,
    *,
    convert: Callable[[Any], Any] | None = None,
    key: str | None = None,
    **options: Any,
) -> Any:
    """A value merged by ``combine`` (associative, commutative, ``identity`` its neutral
    value: e.g. ``operator.and_`` and True), saved as it is."""
    options.setdefault("default", identity)
    return _field(_Reduced(combine, identity, convert, key), **options)


def keyed(
    kind: Any,
    *,
    encode: Callable[[Any], Any] = lambda k: k,
    decode: Callable[[Any], Any] = lambda k: k,
    key: str | None = None,
    **options: Any,
) -> Any:
    """A dict of states of class ``kind`` by key, merged key by key; saved as ``[[encode(key),
    state], ...]`` sorted by key (the same rows write the same list)."""
    options.setdefault("default_factory", dict)
    return _field(_Keyed(kind, encode, decode, key), **options)


def flattened(
    loaders: Callable[[], Mapping[str, Callable[[dict[str, Any]], Any]]], **options: Any
) -> Any:
    """A dict of states by name (add-on metrics), each saved under its own name in the
    enclosing state; ``loaders()``: name -> function loading that name's saved state."""
    options.setdefault("default_factory", dict)
    return _field(_Flattened(loaders), **options)


def attached(**options: Any) -> Any:
    """Not state: an object of the plan that made it (not saved, not compared); a merge
    keeps the first side's, or the other's if the first has none."""
    options.setdefault("default", None)
    return _field(_Attached(), **options)


# -- the derived protocol -----------------------------------------------------------------

_RULES: dict[type, list[tuple[str, str, Rule]]] = {}


def _rules(cls: type) -> list[tuple[str, str, Rule]]:
    """(field name, saved name, rule) of every declared field of a FieldState class."""
    rules = _RULES.get(cls)
    if rules is None:
        rules = []
        for f in dataclasses.fields(cls):
            rule = f.metadata.get(_RULE)
            if rule is None:
                if f.init:
                    raise TypeError(f"{cls.__name__}.{f.name} declares no merge rule")
                continue  # scratch
            rules.append((f.name, rule.key or f.name, rule))
        rules = _RULES[cls] = rules
    return rules


class FieldState:
    """The :class:`Mergeable` protocol derived from a dataclass's declared fields.

    Subclasses are ``@dataclass(eq=False)`` (so that this ``==`` is theirs);
    ``STATE_HEADER``: constant entries written first in the saved state and checked on load
    (e.g. a grid the sums were kept on).
    """

    STATE_HEADER: ClassVar[Mapping[str, Any]] = {}

    def _settle(self) -> None:
        """File anything buffered in scratch fields into the declared ones (default: none)."""

    def _values(self) -> Iterable[tuple[str, str, Rule, Any]]:
        return ((name, key, rule, getattr(self, name)) for name, key, rule in _rules(type(self)))

    def merge(self: F, other: F) -> F:
        """A new state holding both (neither changed): each field merged by its rule."""
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(self).__name__} with {type(other).__name__}")
        self._settle()
        other._settle()
        kind = type(self).__name__
        merged = {
            name: rule.merge(value, getattr(other, name), f"{kind}.{name}")
            for name, _, rule, value in self._values()
        }
        return type(self)(**merged)

    def empty_like(self: F) -> F:
        """A state of no rows with these settings."""
        return type(self)(**{name: rule.empty(value) for name, _, rule, value in self._values()})

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, FieldState)
        self._settle()
        other._settle()
        return all(
            rule.equal(value, getattr(other, name))
            for name, _, rule, value in self._values()
            if rule.is_state
        )

    __hash__ = None  # type: ignore[assignment]

    def fingerprint(self) -> dict[str, Any]:
        """The settings that must agree to merge: settings, array lengths, what is present."""
        self._settle()
        prints = {
            key: rule.fingerprint(value) for _, key, rule, value in self._values() if rule.is_state
        }
        return {key: value for key, value in prints.items() if value is not _OMIT}

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable and exact: the header, then each field as its rule writes it."""
        self._settle()
        out = dict(self.STATE_HEADER)
        for _, key, rule, value in self._values():
            if rule.is_state:
                rule.write(out, key, value)
        return out

    @classmethod
    def from_state(cls: type[F], state: dict[str, Any]) -> F:
        """The state :meth:`to_state` wrote (ValueError if it is not one)."""
        kind = cls.__name__
        if not isinstance(state, dict):
            raise ValueError(f"{kind}: a saved state is an object, not {type(state).__name__}")
        for key, expected in cls.STATE_HEADER.items():
            if state.get(key) != expected:
                raise ValueError(
                    f"{kind}: {key!r} is {state.get(key)!r}, not {expected!r} "
                    "(a state of another xent version)"
                )
        values = {
            name: rule.read(state, key, kind) for name, key, rule in _rules(cls) if rule.is_state
        }
        return cls(**values)
