"""Plain records for the classes every report builds (a node, a layer's cost, a location):
what @dataclass gives them (a repr, == by fields, frozen, replace) without generating and
compiling methods at import. A dataclass cost 0.3-1 ms of every command's start-up, 8 ms
for the thirteen a report needs; a record spells its __init__ out (compiled once, into
the .pyc) and takes the rest from its __slots__."""
from __future__ import annotations


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record (dataclasses' name for the same error)."""


class Struct:
    """Fields are the __slots__ of the class, in order; `_uncompared` ones are left out of
    == and repr (a report's graph)."""

    __slots__ = ()
    _uncompared: tuple[str, ...] = ()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        names = cls.__dict__.get("_field_names")
        if names is None:       # once per class: the slots of its bases first, as dataclasses order them
            names = tuple(n for klass in reversed(cls.__mro__) for n in klass.__dict__.get("__slots__", ()))
            type.__setattr__(cls, "_field_names", names)
        return names

    def _compared(self) -> tuple:
        skip = self._uncompared
        return tuple(getattr(self, n) for n in self.field_names() if n not in skip)

    def __repr__(self) -> str:
        skip = self._uncompared
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.field_names() if n not in skip)
        return f"{type(self).__qualname__}({inner})"

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    __hash__ = None             # mutable: like a dataclass with eq and without frozen

    def replace(self, **changes):
        """A copy with some fields changed (dataclasses.replace)."""
        unknown = set(changes) - set(self.field_names())
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        new = object.__new__(type(self))
        for n in self.field_names():
            object.__setattr__(new, n, changes[n] if n in changes else getattr(self, n))
        return new

    def __getstate__(self) -> tuple:       # pickled between a sweep's worker processes
        return tuple(getattr(self, n) for n in self.field_names())

    def __setstate__(self, state: tuple) -> None:
        for n, v in zip(self.field_names(), state):
            object.__setattr__(self, n, v)

    def to_dict(self) -> dict:
        return {n: getattr(self, n) for n in self.field_names()}


class FrozenStruct(Struct):
    """A record whose fields are set once, in __init__ (through `_init`), and hashable by them."""

    __slots__ = ()

    def _init(self, **values) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(self._compared())
