"""Where a formula holds: the conditions recorded while it was built (`poly op 0`), each
about one size or several, turned into what a user can read and check at once, per
variable: a range lo..hi and, where a layer's shape rule changes form with the size's
residue (two branches that meet only at even sizes), the residues mod L it holds at.

A condition on one variable whose floors have denominators dividing L is, on each residue
class v = L q + r, a polynomial in q with integer coefficients (floor((a v + b) / d) =
a L / d q + floor((a r + b) / d) when d divides L): of degree two at most, the q where it
holds are found exactly from its roots. Conditions of several variables, or of higher
degree on one, are kept as they are and checked at each point."""
from __future__ import annotations

from math import gcd, isqrt

from cnncost.formula.expr import Floor, Max, Poly

OPS = {">=": lambda v: v >= 0, ">": lambda v: v > 0, "==": lambda v: v == 0, "!=": lambda v: v != 0}
MAX_PERIOD = 256           # residues examined per variable, at most


class Domain:
    """bounds: var -> (lo, hi); residues: var -> (L, frozenset of r) when not all; raw:
    [(Poly, op)] kept as conditions."""

    def __init__(self, bounds: dict, residues: dict, raw: list):
        self.bounds, self.residues, self.raw = bounds, residues, raw

    def breaks(self, point: dict) -> str | None:
        """None when `point` lies in the domain, else what it breaks, in words."""
        for v, (lo, hi) in self.bounds.items():
            if not lo <= point[v] <= hi:
                return f"{v} = {point[v]:,} is outside {lo:,}..{hi:,}"
        for v, (period, allowed) in self.residues.items():
            if point[v] % period not in allowed:
                return f"{v} = {point[v]:,} is not {_residue_words(period, allowed)}"
        for poly, op in self.raw:
            if not OPS[op](poly.value(point)):
                return f"{poly.python()} {op} 0 is false there"
        return None

    def describe(self) -> list[str]:
        out = []
        for v, (lo, hi) in self.bounds.items():
            out.append(f"{lo:,} <= {v} <= {hi:,}")
            if v in self.residues:
                out.append(f"{v} is {_residue_words(*self.residues[v])}")
        return out + [f"{poly.python()} {op} 0" for poly, op in self.raw]

    def python(self) -> list[str]:
        """Each condition as a Python boolean expression of the variables."""
        out = [f"{lo} <= {v} <= {hi}" for v, (lo, hi) in self.bounds.items()]
        out += [f"{v} % {p} in ({', '.join(map(str, sorted(r)))}{',' if len(r) == 1 else ''})"
                for v, (p, r) in self.residues.items()]
        return out + [f"{poly.python()} {op} 0" for poly, op in self.raw]


def _residue_words(period: int, allowed) -> str:
    if len(allowed) == 1:
        r = next(iter(allowed))
        return f"a multiple of {period}" if r == 0 else f"{r} more than a multiple of {period}"
    return f"% {period} in {{{', '.join(map(str, sorted(allowed)))}}}"


def domain_of(conditions: list, probe: dict, max_size: int) -> Domain:
    bounds = {v: [1, max_size] for v in probe}
    periodic: dict[str, list] = {v: [] for v in probe}
    raw = []
    for poly, op in conditions:
        if _always(poly, op, {}):
            continue
        names = poly.variables()
        v = next(iter(names)) if len(names) == 1 else None
        sign = _monotone(poly, v) if v in bounds and op in (">=", ">") else 0
        if sign:           # true from some size on, or up to some size: found by bisection
            lo, hi = bounds[v]
            test = OPS[op]
            if sign > 0:
                bounds[v][0] = max(lo, _first(lambda n: test(poly.value({v: n})), lo, probe[v]))
            else:
                bounds[v][1] = min(hi, _last(lambda n: test(poly.value({v: n})), probe[v], hi))
        elif v in bounds and _degree(poly) <= 2 and _period(poly) <= MAX_PERIOD:
            periodic[v].append((poly, op))
        else:
            raw.append((poly, op))
    residues = {}
    for v, conds in periodic.items():
        if conds:
            lo, hi, allowed, period = _one_variable(conds, probe[v], *bounds[v])
            bounds[v] = [lo, hi]
            if allowed is not None:
                residues[v] = (period, frozenset(allowed))
    low = {v: b[0] for v, b in bounds.items()}
    raw = [(p, op) for p, op in raw if not _always(p, op, low)]
    return Domain({v: tuple(b) for v, b in bounds.items()}, residues, raw)


def _first(pred, lo: int, hi: int) -> int:
    """The least n in lo..hi with pred(n), pred false then true; pred(hi) holds."""
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _last(pred, lo: int, hi: int) -> int:
    """The greatest n in lo..hi with pred(n), pred true then false; pred(lo) holds."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if pred(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _monotone(poly: Poly, v: str) -> int:
    """+1 if poly never decreases as v grows (v >= 1), -1 if it never increases, 0 if
    this cannot tell: every term a coefficient times one factor in v, a power of v or a
    floor of such a polynomial."""
    signs = set()
    for m, c in poly.terms.items():
        if not m:
            continue
        if len(m) != 1:
            return 0
        (atom, power), = m
        if isinstance(atom, str):
            inner = 1
        elif power == 1 and isinstance(atom, Floor):
            inner = _monotone(atom.num, v)
        else:
            return 0
        if not inner:
            return 0
        signs.add(inner * (1 if c > 0 else -1))
    return signs.pop() if len(signs) == 1 else 0


# ---- conditions that hold at every positive size -----------------------------------------
def _nonneg(p: Poly) -> bool:
    """Every coefficient >= 0 and every floor or max of such polynomials: >= 0 for sizes >= 1."""
    return all(c >= 0 for c in p.terms.values()) and all(
        isinstance(a, str) or all(_nonneg(x) for x in _inner(a)) for m in p.terms for a, _ in m)


def _inner(atom) -> tuple:
    return (atom.num,) if isinstance(atom, Floor) else atom.args


def _always(p: Poly, op: str, low: dict) -> bool:
    """True when `p op 0` holds wherever every variable is at least its `low` (1 if not
    given): p's coefficients are all >= 0, so it never decreases and is least there."""
    if op == "==" or not _nonneg(p):
        return False
    return op == ">=" or p.value({v: low.get(v, 1) for v in p.variables()}) > 0


def _degree(p: Poly) -> int:
    def deg(m):     # a max counts as too high: its conditions stay as written
        return sum(pw * (1 if isinstance(a, str) else _degree(a.num) if isinstance(a, Floor) else 99) for a, pw in m)
    return max((deg(m) for m in p.terms), default=0)


# ---- one variable --------------------------------------------------------------------------
def _period(p: Poly) -> int:
    """A period L such that every floor in p divides exactly on residue classes mod L."""
    out = 1
    for m in p.terms:
        for a, _ in m:
            if not isinstance(a, (str, Floor)):
                return MAX_PERIOD + 1
            if isinstance(a, Floor):
                inner = _period(a.num) * a.den
                out = out * inner // gcd(out, inner)
    return out


def _on_class(p: Poly, period: int, r: int) -> list[int]:
    """p(period q + r) as integer coefficients of q (lowest first)."""
    def sub(poly: Poly) -> list[int]:
        total = [0]
        for m, c in poly.terms.items():
            term = [c]
            for a, pw in m:
                base = [r, period] if isinstance(a, str) else _floor_on_class(a)
                for _ in range(pw):
                    term = _mul(term, base)
            total = _add(total, term)
        return total

    def _floor_on_class(f: Floor) -> list[int]:
        inner = sub(f.num)
        # every coefficient but the constant is divisible by den (den divides the period)
        return [inner[0] // f.den] + [c // f.den for c in inner[1:]]
    return sub(p)


def _add(a, b):
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)]


def _mul(a, b):
    out = [0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def _value(coeffs, q):
    return sum(c * q ** i for i, c in enumerate(coeffs))


def _holding(coeffs: list[int], op: str, q_lo: int, q_hi: int) -> list[tuple[int, int]]:
    """The integer q in q_lo..q_hi where poly(q) op 0, as inclusive intervals (degree <= 2:
    the sign can change only next to a real root)."""
    while len(coeffs) > 1 and coeffs[-1] == 0:
        coeffs = coeffs[:-1]
    cuts = {q_lo, q_hi}
    if len(coeffs) == 2:
        b, a = coeffs
        cuts |= {-b // a + k for k in (-1, 0, 1, 2)}
    elif len(coeffs) == 3:
        c, b, a = coeffs
        disc = b * b - 4 * a * c
        if disc >= 0:
            s = isqrt(disc)
            for root_num in (-b - s, -b + s, -b - s - 1, -b + s + 1):
                cuts |= {root_num // (2 * a) + k for k in (-1, 0, 1, 2)}
        cuts |= {-b // (2 * a) + k for k in (-1, 0, 1)}
    points = sorted(q for q in cuts if q_lo <= q <= q_hi)
    test = OPS[op]
    out: list[list[int]] = []
    for i, q in enumerate(points):
        # the sign is constant strictly between consecutive cut points: test the ends and one inside
        segment = [q] if i == 0 else ([points[i - 1] + 1] if points[i - 1] + 1 < q else []) + [q]
        for x in segment:
            ok = test(_value(coeffs, x))
            lo_x = x if x == q else x
            hi_x = x if x == q else q - 1
            if ok:
                if out and out[-1][1] >= lo_x - 1:
                    out[-1][1] = max(out[-1][1], hi_x)
                else:
                    out.append([lo_x, hi_x])
    return [tuple(iv) for iv in out]


def _one_variable(conds: list, probe: int, lo: int, hi: int):
    """(lo, hi, allowed residues or None, period) of one variable within lo..hi."""
    period = 1
    for poly, _ in conds:
        period = period * _period(poly) // gcd(period, _period(poly))
    holds: dict[int, list[tuple[int, int]]] = {}
    for r in range(period):        # per residue class, the q (v = period q + r) where all hold
        q_lo, q_hi = -(-(lo - r) // period), (hi - r) // period
        ranges = [(q_lo, q_hi)] if q_lo <= q_hi else []
        for poly, op in conds:
            if not ranges:
                break
            ranges = _intersect(ranges, _holding(_on_class(poly, period, r), op, q_lo, q_hi))
        holds[r] = ranges
    r0, qp = probe % period, probe // period
    # most say "large enough": each class holds from some size on to the end
    tails = {r: ranges[-1][0] * period + r for r, ranges in holds.items()
             if ranges and ranges[-1][1] == (hi - r) // period}
    if r0 in tails and max(tails.values()) <= probe:
        allowed = set(tails)
        return max(lo, max(tails.values())), hi, None if len(allowed) == period else allowed, period
    own = next(((a, b) for a, b in holds[r0] if a <= qp <= b), None)
    if own is None:     # every condition held at the probe: only a bug gets here
        return probe, probe, None, 1
    lo, hi = max(lo, own[0] * period + r0), min(hi, own[1] * period + r0)
    allowed = {r for r in range(period) if _covers(holds[r], lo, hi, period, r)}
    return lo, hi, None if len(allowed) == period else allowed, period


def _covers(ranges, lo, hi, period, r) -> bool:
    q_lo, q_hi = -(-(lo - r) // period), (hi - r) // period
    if q_lo > q_hi:
        return True
    return any(a <= q_lo and q_hi <= b for a, b in ranges)


def _intersect(a: list, b: list) -> list:
    out = []
    for x1, y1 in a:
        for x2, y2 in b:
            lo, hi = max(x1, x2), min(y1, y2)
            if lo <= hi:
                out.append((lo, hi))
    return out


# ---- the largest of several: those never the largest inside the domain left out ---------------
def prune_max(p: Poly, domain: Domain) -> Poly:
    """p with each max(...) keeping only the arguments no other is shown to be at least
    everywhere in the domain (one variable, degree two at most: exactly, per residue)."""
    terms = {}
    for m, c in p.terms.items():
        atoms = []
        for atom, power in m:
            if isinstance(atom, Max):
                kept = _undominated(list(atom.args), domain)
                atom = kept[0] if len(kept) == 1 else Max(tuple(kept))
            atoms.append((atom, power))
        terms[tuple(atoms)] = c
    out = Poly.const(0)
    for m, c in terms.items():       # a max that became one polynomial multiplies out
        term = Poly.const(c)
        for atom, power in m:
            term = term * (atom if isinstance(atom, Poly) else Poly({((atom, 1),): 1})).pow(power)
        out = out + term
    return out


def _undominated(args: list, domain: Domain) -> list:
    probe = {v: lo for v, (lo, _) in domain.bounds.items()}
    order = sorted(args, key=lambda a: -a.value({**probe, **{v: max(lo, 1) for v, (lo, _) in domain.bounds.items()}}))
    kept: list = []
    for a in order:
        if not any(_at_least(q, a, domain) for q in kept):
            kept.append(a)
    return sorted(kept, key=lambda a: a.python())


def _at_least(q: Poly, p: Poly, domain: Domain) -> bool:
    d = q - p
    names = d.variables()
    if not names:
        return d.constant() >= 0
    if len(names) != 1 or _degree(d) > 2 or _period(d) > 16 * MAX_PERIOD:
        return False
    (v,) = names
    lo, hi = domain.bounds.get(v, (1, 2 ** 31 - 1))
    period = _period(d)
    step, allowed = domain.residues.get(v, (1, {0}))
    period = period * step // gcd(period, step)
    for r in range(period):
        if r % step not in allowed:
            continue
        q_lo, q_hi = -(-(lo - r) // period), (hi - r) // period
        if q_lo > q_hi:
            continue
        if _holding(_on_class(d, period, r), ">=", q_lo, q_hi) != [(q_lo, q_hi)]:
            return False
    return True
