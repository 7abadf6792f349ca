"""What every reader shares about refusals and names: the one `Refused` an operator or
layer that cannot be read raises, a `Tally` of refusals (a count per operator or class and
its first occurrence, for the one message that lists them all), and `UniqueNames`, the
layer names a reader hands out (base, base_2, base_3 ...). Each reader words its own
message; only the bookkeeping is here."""
from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterator
from typing import Any


class Refused(Exception):
    """This operator or layer is not read; the message says why (gathered, with counts, into
    one error). `label`: what to count it under, when not its operator or class (Keras:
    `activation gelu`)."""

    def __init__(self, why: str | None = None, label: str = "") -> None:
        super().__init__(*(() if why is None else (why,)))
        self.label = label


class Tally:
    """Refusals by key (an operator, a class): how many, and what the first one recorded
    (`first`: the node or layer, why). Listed most common first, ties in order of first
    occurrence."""

    def __init__(self) -> None:
        self.counts: Counter[Hashable] = Counter()
        self.first: dict[Hashable, tuple[Any, ...]] = {}

    def add(self, key: Hashable, *first: Any) -> None:
        self.counts[key] += 1
        self.first.setdefault(key, first)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def __iter__(self) -> Iterator[Hashable]:
        """The keys, in order of first occurrence."""
        return iter(self.counts)

    def total(self) -> int:
        return sum(self.counts.values())

    def listed(self) -> list[tuple[Any, int, tuple[Any, ...]]]:
        """(key, count, first) for each key, the most common first."""
        return [(key, n, self.first[key]) for key, n in self.counts.most_common()]


class UniqueNames:
    """Layer names given out once each: `base`, else base_2, base_3 ... counted on from the
    last one given for that base (linear time, however many share it). `cap`: a base longer
    than this is cut to it before a suffix is added."""

    def __init__(self, cap: int | None = None) -> None:
        self.cap = cap
        self.taken: set[str] = set()
        self._tries: dict[str, int] = {}

    def add(self, name: str) -> None:
        """A name taken otherwise (an input's)."""
        self.taken.add(name)

    def __contains__(self, name: object) -> bool:
        return name in self.taken

    def __call__(self, base: str) -> str:
        if self.cap is not None:
            base = base[:self.cap]
        n = self._tries.get(base, 1)
        name = base if n == 1 else f"{base}_{n}"
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self._tries[base] = n
        self.taken.add(name)
        return name
