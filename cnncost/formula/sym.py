"""Sizes that are numbers and expressions at once. A `Sym` is an int: its value at the
probe (the size the network is built at), so every check, index, loop and dictionary the
counting code has works unchanged; its arithmetic also builds the exact expression of that
value in the free sizes. Every comparison it takes part in is answered at the probe and
written down in its `Trace` as a condition (`H - 32 >= 0`): the expression holds wherever
those conditions hold, because the code took the same branches there.

What leaves the integers (a true division, a float, a gcd, a NumPy array) leaves the
expression behind: its result is a plain number, and the caller's check at other sizes
(formula.derive) finds the layer that did so and counts it per size."""
from __future__ import annotations

from cnncost.formula.expr import NotExpressible, Poly, maximum


class Trace:
    """The conditions met while building one formula: (Poly, op) meaning `poly op 0`,
    op one of >=, >, ==, != ; each condition once."""

    def __init__(self):
        self.conditions: dict[tuple, tuple] = {}

    def record(self, poly: Poly, op: str) -> None:
        if poly.is_const():
            return
        self.conditions.setdefault((poly.key, op), (poly, op))


def poly_of(x) -> Poly | None:
    """The expression of an int or Sym (None for other numbers)."""
    if isinstance(x, Sym):
        return x.expr
    if isinstance(x, int):            # bools too: `n + (step < 0)` is arithmetic
        return Poly.const(int(x))
    return None


class Sym(int):
    # (int subclasses cannot have __slots__: each Sym has a small __dict__)

    def __new__(cls, value: int, expr: Poly, trace: Trace):
        self = super().__new__(cls, value)
        self.expr, self.trace = expr, trace
        return self

    @staticmethod
    def variable(name: str, value: int, trace: Trace) -> "Sym":
        return Sym(value, Poly.var(name), trace)

    def _make(self, value, expr: Poly):
        return int(value) if expr.is_const() else Sym(value, expr, self.trace)

    def _binary(self, other, value_op, expr_op, swap=False):
        p = poly_of(other)
        if p is None:
            return NotImplemented
        a, b = (p, self.expr) if swap else (self.expr, p)
        x, y = (int(other), int(self)) if swap else (int(self), int(other))
        try:
            return self._make(value_op(x, y), expr_op(a, b))
        except NotExpressible:
            return value_op(x, y)      # a number only: the check at other sizes finds the layer

    def __add__(self, o):
        return self._binary(o, int.__add__, Poly.__add__)

    def __radd__(self, o):
        return self._binary(o, int.__add__, Poly.__add__, swap=True)

    def __sub__(self, o):
        return self._binary(o, int.__sub__, Poly.__sub__)

    def __rsub__(self, o):
        return self._binary(o, int.__sub__, Poly.__sub__, swap=True)

    def __mul__(self, o):
        return self._binary(o, int.__mul__, Poly.__mul__)

    def __rmul__(self, o):
        return self._binary(o, int.__mul__, Poly.__mul__, swap=True)

    def __floordiv__(self, o):
        return self._binary(o, int.__floordiv__, Poly.floordiv)

    def __rfloordiv__(self, o):
        return self._binary(o, int.__floordiv__, Poly.floordiv, swap=True)

    def __mod__(self, o):
        return self._binary(o, int.__mod__, Poly.mod)

    def __rmod__(self, o):
        return self._binary(o, int.__mod__, Poly.mod, swap=True)

    def __pow__(self, o, mod=None):
        if mod is not None or isinstance(o, Sym) or not isinstance(o, int):
            return int(self) ** o if mod is None else pow(int(self), o, mod)
        return self._make(int(self) ** o, self.expr.pow(o))

    def __neg__(self):
        return self._make(-int(self), -self.expr)

    def __pos__(self):
        return self

    def __abs__(self):
        return self if self >= 0 else -self

    def __divmod__(self, o):
        return self // o, self % o

    # ---- comparisons: answered at the probe, written down ----
    def _compare(self, other, op) -> bool:
        p = poly_of(other)
        if p is None:
            return getattr(int(self), op)(other)
        diff = self.expr - p
        result = getattr(int(self), op)(int(other))
        if diff.is_const():
            return result
        if op in ("__eq__", "__ne__"):
            holds = (int(self) == int(other))
            self.trace.record(diff, "==" if holds else "!=")
        else:
            # a - b >= 0 or a - b > 0, whichever is true here
            greater = {"__lt__": lambda: not result, "__le__": lambda: not result,
                       "__gt__": lambda: result, "__ge__": lambda: result}[op]()
            strict = op in ("__gt__", "__le__")
            if greater:
                self.trace.record(diff, ">" if strict else ">=")
            else:
                self.trace.record(-diff, ">=" if strict else ">")
        return result

    def __lt__(self, o):
        return self._compare(o, "__lt__")

    def __le__(self, o):
        return self._compare(o, "__le__")

    def __gt__(self, o):
        return self._compare(o, "__gt__")

    def __ge__(self, o):
        return self._compare(o, "__ge__")

    def __eq__(self, o):
        return self._compare(o, "__eq__")

    def __ne__(self, o):
        return self._compare(o, "__ne__")

    def __hash__(self):
        return int.__hash__(self)

    @staticmethod
    def largest(values: list):
        """max(values) as an expression of every candidate (core.graph.largest): which
        set of tensors is the largest changes with the size, so no comparison is made."""
        if not values:
            return 0
        trace = next(v.trace for v in values if isinstance(v, Sym))
        polys = [poly_of(v) for v in values]
        if any(p is None for p in polys):
            return max(values)
        expr = maximum(polys)
        return int(max(int(v) for v in values)) if expr.is_const() else Sym(max(int(v) for v in values), expr, trace)

    def __bool__(self):
        return self != 0

    def __repr__(self):
        return f"{int(self)}"

    # ---- leaving the integers: a number, not an expression ----
    def __truediv__(self, o):
        return int(self) / o

    def __rtruediv__(self, o):
        return o / int(self)


__all__ = ["NotExpressible", "Sym", "Trace", "poly_of"]
