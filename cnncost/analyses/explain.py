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
               separable=False, units=None, bottleneck=None, bias=True) -> list[str]:
    """Explain one layer of `kind` on `input_shape`, from the options that kind takes
    (filters, kernel, stride, padding, units, bias: on by default, as in a spec); `separable`
    adds the depthwise separable version, `bottleneck` R the version with a 1x1 convolution
    to C_in / R channels first (each with the same bias setting, so params compare fairly)."""
    from cnncost.layers import lookup

    shape = parse_shape(input_shape)
    found = lookup(kind)
    if found is None:
        raise SpecError(f"unknown layer kind '{kind}' (see `cnncost kinds`)")
    k, fixed = found
    given = {"filters": filters, "kernel": kernel, "stride": stride, "padding": padding, "units": units,
             "bias": bias}
    args = {a: v for a, v in given.items() if a in k.args and a not in fixed and v is not None}
    missing = [a for a, arg in k.args.items() if arg.default is REQUIRED and a not in args and a not in fixed]
    if missing:
        raise SpecError(f"explain {kind} needs " + ", ".join(f"--{a}" for a in missing))
    body = ", ".join(f"{a}: {v}" for a, v in args.items())
    layers = [f"{{name: {kind}, kind: {kind}{', ' + body if body else ''}}}"]
    win = ", ".join(f"{a}: {args[a]}" for a in ("kernel", "stride", "padding") if a in args)
    bias_arg = f"bias: {'true' if bias else 'false'}"
    if (separable or bottleneck) and "filters" not in args:
        raise SpecError(f"--{'separable' if separable else 'bottleneck'} needs a kind with filters, not '{kind}'")
    if separable:
        layers.append(f"{{name: separable, inputs: input, kind: separable_conv, filters: {args['filters']}, "
                      f"{win}, {bias_arg}}}")
    if bottleneck:
        if isinstance(bottleneck, bool) or not isinstance(bottleneck, int) or not 1 <= bottleneck <= shape[-1]:
            raise SpecError(f"--bottleneck must be an integer from 1 to the input's channels ({shape[-1]}), "
                            f"received {bottleneck!r}")
        layers.append(f"{{name: reduce, inputs: input, kind: conv, filters: {shape[-1] // bottleneck}, "
                      f"kernel: 1, {bias_arg}}}")
        layers.append(f"{{name: bottleneck, kind: conv, filters: {args['filters']}, {win}, {bias_arg}}}")
    text = f"input: {shape}\nlayers:\n" + "".join(f"  - {l}\n" for l in layers)
    report = analyze(parse_spec(text, "explain"))
    g = report.graph
    lines = [f"input {fmt_shape(shape)}"]
    for node, row in zip(g.layers, report.layers):
        lines.append("")
        lines.append(f"{node.name} ({node.label}): output {fmt_shape(node.out_shape)}")
        lines += ["  " + line for line in node.kind.explain(node.args, node.in_shapes, node.out_shape)]
        lines.append("  " + _params_line(node, row.params))
    rows = report.layers
    if separable:
        normal, dw, pw = rows[0], rows[1], rows[2]
        n, f = filters, kernel
        ratio = Fraction(dw.mults + pw.mults, normal.mults)
        lines += ["", f"N = {n}, the number of filters (output channels); f = {f}, the kernel's height "
                      "and width",
                  f"separable = depthwise + pointwise = {dw.mults:,} + {pw.mults:,} = {dw.mults + pw.mults:,} "
                  f"mults, {dw.params + pw.params:,} params (normal: {normal.mults:,} mults, "
                  f"{normal.params:,} params)",
                  f"ratio = {dw.mults + pw.mults:,} / {normal.mults:,} = {float(ratio):.4f}"
                  f" = 1/N + 1/f^2 = 1/{n} + 1/{f * f} = {float(Fraction(1, n) + Fraction(1, f * f)):.4f}"
                  f" ({float(1 / ratio):.1f}x fewer multiplications)"]
    if bottleneck:
        normal, reduce, conv = rows[0], rows[-2], rows[-1]
        c, r = shape[-1], bottleneck
        both = reduce.mults + conv.mults
        lines += ["", f"C_in = {c}, the input's channels; R = {r}, the reduction: the 1x1 convolution "
                      f"outputs C_in / R = {c // r} channels"
                  + ("" if c % r == 0 else f" ({c} / {r} = {float(Fraction(c, r)):.4g}, rounded down)"),
                  f"bottleneck = 1x1 + {kernel}x{kernel} = {reduce.mults:,} + {conv.mults:,} = {both:,} mults, "
                  f"{reduce.params + conv.params:,} params (normal: {normal.mults:,} mults, {normal.params:,} params)",
                  f"ratio = {both:,} / {normal.mults:,} = {float(Fraction(both, normal.mults)):.4f} "
                  f"({float(Fraction(normal.mults, both)):.1f}x fewer multiplications)"]
        (h, w), (oh, ow) = shape[:2], conv.output_shape[:2]
        n, f = filters, kernel
        analytic = Fraction(1, r) * (Fraction(c * h * w, n * f * f * oh * ow) + 1)
        lines.append(f"  = 1/R x (C_in x H x W / (N x f^2 x H_out x W_out) + 1) = 1/{r} x ({c} x {h} x {w} / "
                     f"({n} x {f * f} x {oh} x {ow}) + 1) = {float(analytic):.4f}"
                     + ("" if c % r == 0 else " (exact only when R divides C_in)"))
    return lines


def _params_line(node, params: int) -> str:
    """`params = kernel 3x3x3x10 + bias 10 = 280`: each weight tensor's shape, so a left-out
    bias is never silent."""
    weights = node.kind.weight_shapes(node.args, node.in_shapes)
    if not weights:
        return f"params = {params:,}"
    terms = " + ".join(f"{w} {fmt_shape(s)}" for w, s in weights.items())
    return f"params = {terms} = {params:,}" + (" (no bias)" if node.args.get("bias") is False else "")


def layer(source, name: str, typed: str | None = None, **analyze_kw) -> list[str]:
    """A layer's derivation, or a block's (every layer under a dotted prefix) summed, of a
    Source (cnncost/sources.py); `typed`: the SPEC as the user wrote it, for the command a
    block suggests."""
    report = analyze(source.spec, **analyze_kw)
    g = report.graph
    if name not in g.by_name and source.format in ("onnx", "torch") and "/" in name:   # the node path Netron shows
        from cnncost.interop.onnx.reader import layer_name
        name = layer_name(name)
    if name not in g.by_name and any(n.name.startswith(name + ".") for n in g.layers):
        return block(report, name, typed or source.label)
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
             "arguments: " + ", ".join(f"{key}={_fmt(v)}" for key, v in a.items()
                                       if v is not None or not getattr(k.args.get(key), "inferred", False))]
    lines += k.explain(a, node.in_shapes, node.out_shape)
    if k.weight_shapes(a, node.in_shapes):
        lines.append(_params_line(node, row.params))
    stats = k.stat_shapes(a, node.in_shapes)
    if stats:
        lines.append("non-trainable = " + " + ".join(f"{w} {fmt_shape(s)}" for w, s in stats.items())
                     + f" = {sum(numel(s) for s in stats.values()):,}")
    lines.append(f"flops = {row.flops:,} ({k.flops_rule})")
    if row.rf_global:
        lines.append("receptive field global: every output reads the whole input (through a global "
                     "pool, a flatten or a map-wide normalisation)")
    elif row.rf_na:
        lines.append("receptive field n/a: the value is no longer a map's (tokens, a sequence, attention)")
    else:
        lines.append(f"receptive field {fmt_shape(row.receptive_field)}, stride {fmt_shape(row.rf_stride)}, "
                     f"first unit at {fmt_shape(row.rf_start)}")
    return lines


def block(report, prefix: str, typed: str) -> list[str]:
    """Every layer of a block with its numbers, and their sums; the suggested command names
    the SPEC as `typed` (a spec's `name:` need not be a file or a bundled name)."""
    from shlex import quote

    rows = [r for r in report.layers if r.name.startswith(prefix + ".")]
    width = max(len(r.name) - len(prefix) - 1 for r in rows)
    lines = [f"{report.name} / {prefix}: a block of {len(rows)} layers, output {fmt_shape(rows[-1].output_shape)}",
             f"{'layer':{width}s}  {'kind':16s} {'output':>12s} {'params':>12s} {'mults':>15s} {'flops':>15s}"]
    for r in rows:
        lines.append(f"{r.name[len(prefix) + 1:]:{width}s}  {r.kind:16s} {fmt_shape(r.output_shape):>12s} "
                     f"{r.params:>12,} {r.mults:>15,} {r.flops:>15,}")
    params, mults, flops = (sum(getattr(r, f) for r in rows) for f in ("params", "mults", "flops"))
    lines.append(f"{'sum':{width}s}  {'':16s} {'':>12s} {params:>12,} {mults:>15,} {flops:>15,}")
    share = mults / report.totals["mults"] if report.totals["mults"] else 0
    lines.append(f"{prefix} does {share:.1%} of {report.name}'s multiplications; `cnncost explain "
                 f"{quote(typed)} {quote(rows[0].name)}` derives one layer")
    return lines


def _fmt(v):
    """An argument as written: a window argument given as one number is that number (held
    as (k, k) for the 2-D rules), padding [a, b] is [a, b] (held per side)."""
    from cnncost.layers.geometry import AxisPair, Each

    if isinstance(v, Each):
        return str(v[0])
    if isinstance(v, AxisPair):
        return f"[{v[0]}, {v[2]}]"
    return fmt_shape(v) if isinstance(v, tuple) else str(v)
