"""`cnncost formula` as text: the free sizes, where the expressions hold, each total in
readable form (products with ·, floors with ⌊ ⌋), the layers counted per size and why,
and the values at --at."""
from __future__ import annotations

FIELDS = (("params", "params"), ("mults", "mults (MACs)"), ("flops", "flops"), ("activations", "activations"),
          ("peak_activations", "peak live elements"), ("bytes_read", "bytes read"), ("bytes_written", "bytes written"))


def formula_text(f, terminal: bool = False, width: int | None = None) -> str:
    sizes = ", ".join(f"{v} (built at {n:,})" for v, n in f.variables.items())
    lines = [f"{f.name}: exact counts as expressions of {sizes}", "holds where:"]
    lines += [f"  {c}" for c in f.domain.describe()]
    width = max(len(label) for _, label in FIELDS)
    lines.append("totals (float32 bytes; N = batch):")
    for key, label in FIELDS:
        p = f.totals.get(key)
        lines.append(f"  {label:<{width}} = " + (p.readable() if p is not None else
                                                "counted per size (a layer below has no expression)"))
    if f.fallbacks:
        lines.append("counted per size, not as expressions:")
        lines += [f"  {name}: {why}" for name, why in f.fallbacks.items()]
    checked = "; ".join(", ".join(f"{k}={v:,}" for k, v in p.items()) for p in f.checked)
    lines.append(f"checked equal to reports counted at: {checked or 'no other size (none inside the domain)'}")
    if f.at is not None:
        at = ", ".join(f"{k}={v:,}" for k, v in f.at["point"].items())
        lines.append(f"at {at}:")
        lines += [f"  {label:<{width}} = " + (f"{f.at['totals'][key]:,}" if f.at["totals"].get(key) is not None
                                             else "n/a (count it with report)") for key, label in FIELDS]
    lines.append("JSON (--format json): every expression in Python integer syntax (+ - * //, max), per layer too")
    return "\n".join(lines) + "\n"
