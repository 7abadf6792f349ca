"""A network's cost as exact expressions of its free sizes: the network is built once with
`Sym` sizes (numbers at the probe that also build their expressions), the report's own
code computes every quantity, and the result is checked at other sizes inside the
conditions it recorded, against reports counted there from scratch. A layer whose numbers
disagree somewhere (its code left the integers: a gcd, a fraction, an array) keeps no
expression: it is named, and its sizes are counted per size (`Formula.fallbacks`). Never a
wrong expression: every one given has been equal to the report at every size it was
checked at, and is exact by construction wherever its conditions hold."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Callable, ClassVar

from cnncost.errors import SpecError
from cnncost.formula.domain import Domain, domain_of, prune_max
from cnncost.formula.expr import Poly
from cnncost.formula.sym import Sym, Trace, poly_of

LAYER_FIELDS = ("params", "mults", "flops", "activations", "bytes_read", "bytes_written")
TOTAL_FIELDS = LAYER_FIELDS + ("non_trainable_params", "peak_activations", "peak_activation_bytes", "param_bytes")


@dataclass
class Formula:
    """variables: name -> probe value (the sizes it was built at); domain: where the
    expressions hold; totals and layers: field -> Poly (None: counted per size, see
    fallbacks); fallbacks: layer -> why; checked: the points where every expression
    equalled a report counted there."""
    name: str
    variables: dict
    domain: Domain
    totals: dict
    layers: list
    fallbacks: dict = field(default_factory=dict)
    checked: list = field(default_factory=list)
    at: dict | None = None          # a point it was evaluated at (--at), with its totals
    rendered_as: ClassVar[str] = "formula"

    def holds_at(self, point: dict) -> str | None:
        """None when the expressions hold at `point`, else the condition it breaks."""
        return self.domain.breaks(point)

    def evaluate(self, point: dict) -> dict:
        return {f: None if p is None else p.value(point) for f, p in self.totals.items()}

    def point(self, given: dict) -> dict:
        """A full point from some of the variables (the others at their probe values);
        an unknown name or a size where the expressions do not hold is an error."""
        given = {"N" if k == "batch" else k: v for k, v in given.items()}      # sweep's name for it
        for k, v in given.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(f"--at {k}={v}: a size is a positive integer")
        unknown = sorted(set(given) - set(self.variables))
        if unknown:
            raise SpecError(f"--at {unknown[0]}: {self.name} has no size named so (its sizes: "
                            f"{', '.join(self.variables)})")
        point = {**self.variables, **given}
        broken = self.holds_at(point)
        if broken is not None:
            raise SpecError(f"--at {', '.join(f'{k}={v}' for k, v in point.items())}: {broken}, where the "
                            "formula was not shown to hold: count that size with `cnncost report`")
        return point

    @staticmethod
    def parse_at(text: str) -> dict:
        """--at NAME=V,NAME=V: positive integers, each name once."""
        out: dict = {}
        for part in text.split(","):
            name, sep, value = (x.strip() for x in part.partition("="))
            if not sep or not name.isidentifier() or not value.isdigit():
                raise SpecError(f"--at {part.strip()!r}: expected NAME=SIZE (a positive integer), e.g. "
                                "--at resolution=512,N=4")
            if name in out:
                raise SpecError(f"--at {name} is given twice")
            out[name] = int(value)
        return out

    def evaluated_at(self, given: dict) -> "Formula":
        point = self.point(given)
        return replace(self, at={"point": point, "totals": self.evaluate(point)})

    def to_dict(self) -> dict:
        def text(p):
            return None if p is None else p.python()
        out = {"name": self.name, "variables": list(self.variables), "probe": dict(self.variables),
               "totals": {f: text(p) for f, p in self.totals.items()},
               "layers": [{"name": row["name"], **{f: text(row[f]) for f in LAYER_FIELDS}} for row in self.layers],
               "conditions": self.domain.python(), "fallbacks": dict(self.fallbacks), "checked_at": list(self.checked)}
        if self.at is not None:
            out["at"] = self.at
        return out


def _expr(value) -> Poly | None:
    return poly_of(value)


def derive(build: Callable[[dict], object], variables: dict, *, max_size: int, name: str = "") -> Formula:
    """`build(sizes)` analyses the network at sizes {variable: int or Sym} and returns its
    Report; `variables` gives each free size's probe value."""
    trace = Trace()
    probe = build({v: Sym.variable(v, n, trace) for v, n in variables.items()})
    totals = {f: _expr(probe.totals.get(f, 0)) for f in TOTAL_FIELDS}
    layers = [{"name": r.name, **{f: _expr(getattr(r, f)) for f in LAYER_FIELDS}} for r in probe.layers]
    domain = domain_of(list(trace.conditions.values()), variables, max_size)
    totals = {f: None if p is None else prune_max(p, domain) for f, p in totals.items()}
    out = Formula(name or probe.name, dict(variables), domain, totals, layers)
    _check(out, build, variables)
    return out


# ---- checking at other sizes ------------------------------------------------------------
CHECKS = 40       # sizes each formula is checked at, at most (one report each)


def candidate_points(variables: dict, domain: Domain, count: int = CHECKS) -> list[dict]:
    """Sizes to check at, inside the domain: each variable at its lower bounds (where a
    layer's form changes first: a pool whose kernel is a size, a window that just fits),
    at multiples of 2 to 12 near its probe (where divisions come out even: an adaptive
    pool's windows), moved off its probe (one more, twice, much larger), and at random;
    one variable at a time and all at once; residue conditions kept."""
    import random

    rng = random.Random(sorted(variables.items()).__repr__())

    def fit(v, n):
        lo, hi = domain.bounds.get(v, (1, 2 ** 31 - 1))
        n = min(max(n, lo), hi)
        if v in domain.residues:
            period, allowed = domain.residues[v]
            n += (min(allowed) - n) % period
        return n

    def sizes(v, n):
        lo = domain.bounds.get(v, (1, n))[0]
        step = domain.residues[v][0] if v in domain.residues else 1
        out = [lo, lo + step, lo + 2 * step, lo + 3 * step, n + step, 2 * n + 3 * step, n + 17 * step, 3 * n + 2 * step]
        out += [(n // m + 1) * m for m in range(2, 13)]
        out += [rng.randint(lo, max(lo, 4 * n)) for _ in range(6)]
        return [fit(v, x) for x in out]
    per_var = {v: sizes(v, n) for v, n in variables.items()}
    points = []
    for v in variables:                      # one variable at a time
        points += [{**variables, v: x} for x in per_var[v]]
    for i in range(len(next(iter(per_var.values())))):     # all at once
        points.append({v: per_var[v][(i + k) % len(per_var[v])] for k, v in enumerate(variables)})
    seen, unique = set(), []
    for p in points:
        key = tuple(sorted(p.items()))
        if key not in seen and p != variables:
            seen.add(key)
            unique.append(p)
    rng.shuffle(unique)
    return unique[:count]


def _clip(n: int, bound) -> int:
    return n if bound is None else min(max(n, bound[0]), bound[1])


def _check(f: Formula, build, variables: dict, wanted: int = CHECKS) -> None:
    """Compare every expression with a report counted at other sizes where the conditions
    hold; a layer field that differs anywhere loses its expression (and the totals of that
    field theirs)."""
    for point in candidate_points(variables, f.domain):
        if len(f.checked) >= wanted:
            break
        if f.holds_at(point) is not None:
            continue
        try:
            with warnings.catch_warnings():     # the same warnings as the probe's, at every size
                warnings.simplefilter("ignore")
                rep = build(point)
        except Exception as exc:   # noqa: BLE001 - a size the network refuses is not a check
            f.fallbacks.setdefault("(network)", f"not built at {point}: {exc}")
            continue
        if [r.name for r in rep.layers] != [row["name"] for row in f.layers]:
            f.fallbacks["(network)"] = f"its layers differ at {point}"
            for row in f.layers:
                for k in LAYER_FIELDS:
                    row[k] = None
            break
        for row, r in zip(f.layers, rep.layers):
            for k in LAYER_FIELDS:
                if row[k] is not None and row[k].value(point) != getattr(r, k):
                    row[k] = None
                    f.fallbacks.setdefault(row["name"], f"its {k} has no exact expression (checked at {point})")
        for k in TOTAL_FIELDS:
            if f.totals[k] is not None and f.totals[k].value(point) != rep.totals.get(k, 0):
                f.totals[k] = None
        f.checked.append(point)
    for k in LAYER_FIELDS:
        if any(row[k] is None for row in f.layers):
            f.totals[k] = None


