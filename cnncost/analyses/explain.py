"""`cnncost explain`: derivations step by step, with the values substituted.

Calculator mode builds a one-layer spec and runs the ordinary analysis on it, so every
number printed is the analysis's own; the formulas come from each kind's `explain`.
"""
from __future__ import annotations

from fractions import Fraction

from cnncost.core.analysis import analyze
from cnncost.errors import SpecError
from cnncost.layers import fmt_shape, numel
from cnncost.layers.base import REQUIRED
from cnncost.spec import parse_spec


def parse_shape(text: str) -> list[int]:
    try:
        dims = [int(x) for x in text.lower().replace("×", "x").split("x")]
    except ValueError:
        dims = []
    if len(dims) not in (1, 3) or any(d < 1 for d in dims):
        raise SpecError(f"bad --input '{text}': expected HxWxC, e.g. 6x6x3")
    return dims


def calculator(kind: str, input_shape: str, *, filters=None, kernel=3, stride=1, padding="valid",
               separable=False, units=None) -> list[str]:
    """Explain one layer of `kind` on `input_shape`, from the options that kind takes
    (filters, kernel, stride, padding, units); `separable` adds the separable version."""
    from cnncost.layers import lookup

    shape = parse_shape(input_shape)
    found = lookup(kind)
    if found is None:
        raise SpecError(f"unknown layer kind '{kind}' (see `cnncost kinds`)")
    k, fixed = found
    given = {"filters": filters, "kernel": kernel, "stride": stride, "padding": padding, "units": units,
             "bias": False}
    args = {a: v for a, v in given.items() if a in k.args and a not in fixed and v is not None}
    missing = [a for a, arg in k.args.items() if arg.default is REQUIRED and a not in args and a not in fixed]
    if missing:
        raise SpecError(f"explain {kind} needs " + ", ".join(f"--{a}" for a in missing))
    body = ", ".join(f"{a}: {v}" for a, v in args.items())
    layers = [f"{{name: {kind}, kind: {kind}{', ' + body if body else ''}}}"]
    if separable:
        win = ", ".join(f"{a}: {args[a]}" for a in ("kernel", "stride", "padding") if a in args)
        if "filters" not in args:
            raise SpecError(f"--separable needs a kind with filters, not '{kind}'")
        layers.append(f"{{name: separable, inputs: input, kind: separable_conv, filters: {args['filters']}, "
                      f"{win}, bias: false}}")
    text = f"input: {shape}\nlayers:\n" + "".join(f"  - {l}\n" for l in layers)
    report = analyze(parse_spec(text, "explain"))
    g = report.graph
    lines = [f"input {fmt_shape(shape)}"]
    for node, row in zip(g.layers, report.layers):
        lines.append("")
        lines.append(f"{node.name} ({node.label}): output {fmt_shape(node.out_shape)}")
        lines += ["  " + line for line in node.kind.explain(node.args, node.in_shapes, node.out_shape)]
    if separable:
        normal, dw, pw = (r.mults for r in report.layers)
        n, f = filters, kernel
        ratio = Fraction(dw + pw, normal)
        lines += ["", f"separable = depthwise + pointwise = {dw:,} + {pw:,} = {dw + pw:,}",
                  f"ratio = {dw + pw:,} / {normal:,} = {float(ratio):.4f}"
                  f" = 1/N + 1/f^2 = 1/{n} + 1/{f * f} = {float(Fraction(1, n) + Fraction(1, f * f)):.4f}"
                  f" ({float(1 / ratio):.1f}x fewer multiplications)"]
    return lines


def layer(spec: str, name: str, **analyze_kw) -> list[str]:
    report = analyze(spec, **analyze_kw)
    g = report.graph
    if name not in g.by_name or name == "input":
        close = [n.name for n in g.layers if name in n.name][:5]
        raise SpecError(f"{report.name} has no layer '{name}'"
                        + (f" (did you mean: {', '.join(close)})" if close else ""))
    node = g.nodes[g.by_name[name]]
    row = report.layers[node.index - 1]
    k, a = node.kind, node.args
    lines = [f"{report.name} / {node.name}: {node.label} ({k.doc})",
             f"inputs: {', '.join(g.nodes[i].name for i in node.inputs)} "
             f"({', '.join(fmt_shape(s) for s in node.in_shapes)}); output {fmt_shape(node.out_shape)}",
             "arguments: " + ", ".join(f"{key}={_fmt(v)}" for key, v in a.items())]
    lines += k.explain(a, node.in_shapes, node.out_shape)
    weights = {**k.weight_shapes(a, node.in_shapes)}
    if weights:
        lines.append("params = " + " + ".join(f"{w} {fmt_shape(s)}" for w, s in weights.items())
                     + f" = {row.params:,}")
    stats = k.stat_shapes(a, node.in_shapes)
    if stats:
        lines.append("non-trainable = " + " + ".join(f"{w} {fmt_shape(s)}" for w, s in stats.items())
                     + f" = {sum(numel(s) for s in stats.values()):,}")
    lines.append(f"flops = {row.flops:,} ({k.flops_rule})")
    lines.append(f"receptive field {fmt_shape(row.receptive_field)}, stride {fmt_shape(row.rf_stride)}, "
                 f"first unit at {fmt_shape(row.rf_start)}")
    return lines


def _fmt(v):
    return fmt_shape(v) if isinstance(v, tuple) else str(v)
