"""The one idiom of every reader for "one handler per operator": a table of small
functions. A reader's table is one module-level `Handlers`; a handler is registered with
`@TABLE.on("Conv", "ConvTranspose")` beside its code and called as handler(reader, ...),
the reader passed explicitly, never reached through `self` of a mixin. Overriding one (a
test, a user's own operator) is one assignment in one place: `TABLE["Conv"] = mine`."""
from __future__ import annotations

from typing import Callable


class Handlers(dict):
    """Operator name -> handler, for the reader named `reader` (its messages)."""

    def __init__(self, reader: str):
        super().__init__()
        self.reader = reader

    def on(self, *ops: str) -> Callable:
        """Register the decorated function for each of `ops` (a name given twice is a bug)."""
        def register(fn: Callable) -> Callable:
            for op in ops:
                if op in self:
                    raise ValueError(f"{self.reader} reader: '{op}' has two handlers")
                self[op] = fn
            return fn
        return register
