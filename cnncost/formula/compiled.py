"""A formula evaluated over a grid at the speed of integer arithmetic: one Python function
generated from the expressions (our own, never a file's text), each floor and max computed
once, at the outermost loop whose variables it needs; cells outside the formula's domain
are counted per size by the caller's `count`."""
from __future__ import annotations

from cnncost.formula.domain import Domain, OPS
from cnncost.formula.expr import Floor, Poly

OP_TEXT = {">=": ">= 0", ">": "> 0", "==": "== 0", "!=": "!= 0"}


class Atoms:
    """Names for the floors and maxima of several expressions, each with the loop level it
    can be computed at (the last of its variables in the loop order)."""

    def __init__(self, order: list[str]):
        self.order, self.names, self.lines = order, {}, []
        # in the generated code a variable is x0, x1 ... by its place: no name a spec or a
        # file gave (`count`, `rows`, a keyword) ever becomes code
        self.var = {v: f"x{i}" for i, v in enumerate(order)}

    def level(self, variables: set) -> int:
        return max((self.order.index(v) for v in variables), default=-1)

    def text(self, p: Poly) -> str:
        """p in Python, its floors and maxima by name (defined in self.lines)."""
        if not p.terms:
            return "0"
        parts = []
        for m, c in p.terms.items():
            factors = [str(c)] if c != 1 or not m else []
            for atom, power in m:
                name = self.var[atom] if isinstance(atom, str) else self.name(atom)
                factors.append(name if power == 1 else f"{name}**{power}")
            parts.append("*".join(factors))
        return "(" + " + ".join(parts) + ")"

    def name(self, atom) -> str:
        key = atom._key
        if key not in self.names:
            if isinstance(atom, Floor):
                body = f"{self.text(atom.num)} // {atom.den}"
            else:
                body = f"max({', '.join(self.text(a) for a in atom.args)})"
            name = f"a{len(self.names)}"
            self.names[key] = name
            self.lines.append((self.level(atom.variables()), f"{name} = {body}"))
        return self.names[key]


def grid_function(exprs: list[Poly], domain: Domain, order: list[str], shown: int):
    """A function f(values_per_axis, count) -> list of CSV rows ("v0,v1,...,e0,e1,...",
    the first `shown` axes' values) over the product of the axes (the first outermost);
    `count(point)` gives the expressions' values at a point outside the domain."""
    atoms = Atoms(order)
    x = atoms.var
    outs = [atoms.text(e) for e in exprs]
    checks = []          # (level, python condition)
    for v, (lo, hi) in domain.bounds.items():
        if v in order:
            checks.append((order.index(v), f"{int(lo)} <= {x[v]} <= {int(hi)}"))
    for v, (period, allowed) in domain.residues.items():
        if v in order:
            checks.append((order.index(v), f"{x[v]} % {int(period)} in {tuple(sorted(int(r) for r in allowed))!r}"))
    for poly, op in domain.raw:
        checks.append((atoms.level(poly.variables()), f"{atoms.text(poly)} {OP_TEXT[op]}"))
    lines = ["def grid(axes, count):", "    rows = []", "    append = rows.append"]
    indent = "    "
    for level, v in enumerate(order):
        lines.append(f"{indent}for {x[v]} in axes[{level}]:")
        indent += "    "
        here = [c for lv, c in checks if lv == level]
        lines.append(f"{indent}ok{level} = {' and '.join(here) or 'True'}" +
                     (f" and ok{level - 1}" if level else ""))
        for lv, text in atoms.lines:
            if lv == level:
                lines.append(f"{indent}if ok{level}: {text}")
    last = len(order) - 1
    point = ", ".join(f"{i}: {x[v]}" for i, v in enumerate(order))      # by place: see below
    keys = " + ',' + ".join(f"str({x[v]})" for v in order[:shown])
    lines.append(f"{indent}if ok{last}:")
    lines.append(f"{indent}    append({keys} + ',' + " + " + ',' + ".join(f"str({o})" for o in outs) + ")")
    lines.append(f"{indent}else:")
    lines.append(f"{indent}    append({keys} + ',' + ','.join(map(str, count({{{point}}}))))")
    lines.append("    return rows")
    # atoms defined at an outer level exist only where that level is inside the domain;
    # lines above use them only under the same `ok`, which implies it.
    # The code is made of integers, operators and the names x0.., a0.., ok0.. alone: no text
    # from a spec or a file (a million cells at integer speed need one compiled function).
    namespace = {"__builtins__": {"str": str, "map": map, "max": max}}
    exec(compile("\n".join(lines), "<cnncost formula grid>", "exec"), namespace)
    grid = namespace["grid"]

    def by_name(axes, count):
        return grid(axes, lambda at: count({order[i]: n for i, n in at.items()}))
    return by_name


__all__ = ["grid_function", "OPS"]
