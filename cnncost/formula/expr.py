"""Exact integer expressions of a network's free sizes: polynomials with integer
coefficients over atoms, an atom being a variable (`H`, `N`, `resolution`) or the floor of
a polynomial divided by a positive integer (`(H + 1) // 2`), the form every strided
layer's output size takes. Normalised as they are built, so that equal expressions compare
equal and print alike:

- a floor of a polynomial whose coefficients and divisor share a factor is reduced by it;
- the multiples of the divisor leave the floor: (4H + 5) // 2 = 2H + 2, (4H + 2W) // 3 =
  H + (H + 2W) // 3 (what stays has coefficients below the divisor);
- a floor of a floor plus a constant is one floor: ((H + 1) // 2 + 1) // 2 = (H + 3) // 4;
- a floor plus a constant is one floor: (H - 1) // 2 + 1 = (H + 1) // 2;
- a floor of a polynomial whose sizes all have negative coefficients is minus a ceiling:
  (-H) // 2 = -((H + 1) // 2).

All three are identities over the integers (the middle one because the part taken out is
an integer), so no expression is ever less exact than the arithmetic that built it.
Printed in Python's integer syntax (`+ - * //`, parentheses, the variable names): any user
can evaluate it.
"""
from __future__ import annotations

from math import gcd


class NotExpressible(Exception):
    """An operation with no exact polynomial-and-floor form (a division by a size, a
    fraction): the caller counts that layer per size instead."""


class Floor:
    """num // den: num a Poly that is not constant, den an integer > 1."""

    __slots__ = ("num", "den", "_key")

    def __init__(self, num: "Poly", den: int):
        self.num, self.den = num, den
        self._key = ("floor", num.key, den)

    def __eq__(self, other):
        return isinstance(other, Floor) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def sort_key(self):
        return (1, self.num.python(), self.den)

    def value(self, env: dict) -> int:
        return self.num.value(env) // self.den

    def variables(self) -> set:
        return self.num.variables()


class Max:
    """max(args): the largest of several polynomials (peak memory is the largest set of
    tensors alive at once, which set depends on the size)."""

    __slots__ = ("args", "_key")

    def __init__(self, args: tuple):
        self.args = args
        self._key = ("max", tuple(a.key for a in args))

    def __eq__(self, other):
        return isinstance(other, Max) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def sort_key(self):
        return (2, ", ".join(a.python() for a in self.args), 0)

    def value(self, env: dict) -> int:
        return max(a.value(env) for a in self.args)

    def variables(self) -> set:
        return set().union(*(a.variables() for a in self.args))


def maximum(polys: list) -> "Poly":
    """The Poly of max(polys): one argument each, less those another is never below
    (every coefficient of their difference >= 0 where nothing is floored: see
    `never_below`)."""
    unique = list({p.key: p for p in polys}.values())
    kept = [p for i, p in enumerate(unique)
            if not any(j != i and never_below(q, p) for j, q in enumerate(unique))]
    if len(kept) == 1:
        return kept[0]
    kept.sort(key=lambda p: p.python())
    return Poly({((Max(tuple(kept)), 1),): 1})


def never_below(q: "Poly", p: "Poly") -> bool:
    """q >= p at every size >= 1, shown termwise: q - p has only coefficients >= 0 on
    products of variables (the floors in it cancel)."""
    d = q - p
    return all(c >= 0 for c in d.terms.values()) and all(isinstance(a, str) for m in d.terms for a, _ in m)


def _atom_key(atom) -> tuple:
    return (0, atom, 0) if isinstance(atom, str) else atom.sort_key()


class Poly:
    """sum of coefficient x monomial; a monomial is a sorted tuple of (atom, power)."""

    __slots__ = ("terms", "key")

    def __init__(self, terms: dict):
        self.terms = {m: c for m, c in terms.items() if c}
        if len(self.terms) == 2 and self.terms.get((), 0):
            # a floor plus a constant is one floor, (P + k d) // d: an output size stays one
            # atom, so that products of sizes stay products (96 x a^2, not 96a^2 + 192a + 96)
            (m, c), = ((m, c) for m, c in self.terms.items() if m)
            if c == 1 and len(m) == 1 and m[0][1] == 1 and isinstance(m[0][0], Floor):
                f, k = m[0][0], self.terms[()]
                self.terms = {((Floor(f.num + Poly.const(k * f.den), f.den), 1),): 1}
        self.key = tuple(sorted(((tuple((_atom_key(a), p) for a, p in m), c) for m, c in self.terms.items())))

    # ---- construction ----
    @staticmethod
    def const(n: int) -> "Poly":
        return Poly({(): n})

    @staticmethod
    def var(name: str) -> "Poly":
        return Poly({((name, 1),): 1})

    def is_const(self) -> bool:
        return not self.terms or (len(self.terms) == 1 and () in self.terms)

    def constant(self) -> int:
        return self.terms.get((), 0)

    def __eq__(self, other):
        return isinstance(other, Poly) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    # ---- arithmetic ----
    def __add__(self, other: "Poly") -> "Poly":
        out = dict(self.terms)
        for m, c in other.terms.items():
            out[m] = out.get(m, 0) + c
        return Poly(out)

    def __neg__(self) -> "Poly":
        return Poly({m: -c for m, c in self.terms.items()})

    def __sub__(self, other: "Poly") -> "Poly":
        return self + (-other)

    def __mul__(self, other: "Poly") -> "Poly":
        out: dict = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in other.terms.items():
                m = _mono_mul(m1, m2)
                out[m] = out.get(m, 0) + c1 * c2
        return Poly(out)

    def scale(self, k: int) -> "Poly":
        return Poly({m: c * k for m, c in self.terms.items()})

    def pow(self, n: int) -> "Poly":
        if n < 0:
            raise NotExpressible("a negative power of a size")
        out = Poly.const(1)
        for _ in range(n):
            out = out * self
        return out

    def floordiv(self, other: "Poly") -> "Poly":
        if not other.is_const():
            if other == self:
                return Poly.const(1)
            raise NotExpressible("a division by a size")
        d = other.constant()
        if d == 0:
            raise ZeroDivisionError("integer division or modulo by zero")
        if d < 0:
            return (-self).floordiv(Poly.const(-d))
        return floor_of(self, d)

    def mod(self, other: "Poly") -> "Poly":
        return self - other * self.floordiv(other)

    # ---- reading ----
    def value(self, env: dict) -> int:
        total = 0
        for m, c in self.terms.items():
            v = c
            for atom, p in m:
                v *= (env[atom] if isinstance(atom, str) else atom.value(env)) ** p
            total += v
        return total

    def variables(self) -> set:
        out: set = set()
        for m in self.terms:
            for atom, _ in m:
                out |= {atom} if isinstance(atom, str) else atom.variables()
        return out

    def python(self) -> str:
        """Python integer syntax."""
        # a floor is always parenthesised whole: 3*(H + 1) // 2 and -(H + 1) // 2 would be
        # read by Python as (3*(H + 1)) // 2 and (-(H + 1)) // 2
        def atom(f):
            if isinstance(f, Max):
                return f"max({', '.join(a.python() for a in f.args)})"
            return f"({_grouped(f.num.python(), f.num)} // {f.den})"
        return _render(self, "*", atom, lambda a, p: f"{a}**{p}")

    def readable(self) -> str:
        """For people: products with ·, floors with ⌊ ⌋, powers as superscripts."""
        def atom(f):
            if isinstance(f, Max):
                return f"max({', '.join(a.readable() for a in f.args)})"
            return f"⌊{_grouped(f.num.readable(), f.num)}/{f.den}⌋"
        return _render(self, "·", atom, lambda a, p: a + str(p).translate(SUPERSCRIPT), thousands=True)


SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _mono_mul(m1: tuple, m2: tuple) -> tuple:
    powers: dict = {}
    for atom, p in m1 + m2:
        powers[atom] = powers.get(atom, 0) + p
    return tuple(sorted(powers.items(), key=lambda ap: _atom_key(ap[0])))


def floor_of(num: Poly, d: int) -> Poly:
    """num // d for an integer d > 0, normalised (the module docstring's three rules)."""
    if d == 1:
        return num
    if num.is_const():
        return Poly.const(num.constant() // d)
    if all(c < 0 for m, c in num.terms.items() if m):
        # floor(-P / d) = -ceil(P / d) = -floor((P + d - 1) / d): a ceiling, -(-n // s), is
        # then one floor, (n + s - 1) // s, not n - n // 2
        return -floor_of(-num + Poly.const(d - 1), d)
    g = d
    for c in num.terms.values():
        g = gcd(g, c)
    if g > 1:
        num, d = Poly({m: c // g for m, c in num.terms.items()}), d // g
        if d == 1:
            return num
    whole = Poly({m: c // d for m, c in num.terms.items()})
    rest = Poly({m: c % d for m, c in num.terms.items()})
    if rest.is_const():
        return whole                       # 0 <= rest < d
    # rest = 1 x (inner // a) + k: one floor of (inner + k a) // (a d)
    nonconst = [(m, c) for m, c in rest.terms.items() if m]
    if len(nonconst) == 1 and nonconst[0][1] == 1 and len(nonconst[0][0]) == 1:
        (atom, power), = nonconst[0][0]
        if power == 1 and isinstance(atom, Floor):
            return whole + floor_of(atom.num + Poly.const(rest.constant() * atom.den), atom.den * d)
    return whole + Poly({((Floor(rest, d), 1),): 1})


def _grouped(text: str, p: Poly) -> str:
    single = len(p.terms) == 1 and all(c == 1 for c in p.terms.values())
    return text if single else f"({text})"


def _render(p: Poly, times: str, floor, power, thousands: bool = False) -> str:
    if not p.terms:
        return "0"

    def number(n: int) -> str:
        return f"{n:,}" if thousands else str(n)

    def atom_text(atom, pw) -> str:
        text = atom if isinstance(atom, str) else floor(atom)
        return text if pw == 1 else power(text if isinstance(atom, str) else f"({text})", pw)

    parts = []
    order = sorted(p.terms.items(), key=lambda mc: (-sum(pw for _, pw in mc[0]), [(_atom_key(a), pw) for a, pw in mc[0]]))
    for m, c in order:
        body = times.join(atom_text(a, pw) for a, pw in m)
        if not m:
            text = number(abs(c))
        elif abs(c) == 1:
            text = body
        else:
            text = f"{number(abs(c))}{times}{body}"
        parts.append((c < 0, text))
    out = ("-" if parts[0][0] else "") + parts[0][1]
    for neg, text in parts[1:]:
        out += (" - " if neg else " + ") + text
    return out
