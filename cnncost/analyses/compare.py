"""`cnncost compare`: architectures side by side, with ratios to the first column.

A column is a spec name or file, optionally with a variant: `mobilenet_v1@alpha=0.5,resolution=160`.
Besides spec variables a variant may set batch, dtype, trainable_from, freeze_until, rewrite.
"""
from __future__ import annotations

from dataclasses import dataclass

from cnncost.core.analysis import DTYPE_BYTES, Report, analyze
from cnncost.layers import MULT_CLASSES
from cnncost.core.options import parse_overrides
from cnncost.errors import SpecError

SPECIAL = ("batch", "dtype", "trainable_from", "freeze_until", "rewrite")
METRICS = ("params", "trainable_params", "mults", "flops", "activations", "peak_activation_bytes",
           "param_bytes", "weighted_depth", "bytes_read", "bytes_written", "intensity")


@dataclass
class Column:
    label: str
    report: Report
    values: dict
    source: object = None          # what it was counted from (a Source), and at which setting
    overrides: dict | None = None
    options: dict | None = None


def parse_variant(text: str) -> tuple[str, dict, dict]:
    """'name@a=1,b=2' -> (name, spec overrides, analysis options)."""
    name, _, rest = text.partition("@")
    if not name:
        raise SpecError(f"bad architecture '{text}': expected NAME or NAME@VAR=VALUE,...")
    pairs = [p for p in rest.split(",") if p.strip()] if rest else []
    values = parse_overrides(pairs)
    options = {k: values.pop(k) for k in list(values) if k in SPECIAL}
    if "batch" in options and (not isinstance(options["batch"], int) or options["batch"] < 1):
        raise SpecError(f"{text}: batch must be a positive integer")
    for key in ("trainable_from", "freeze_until", "rewrite", "dtype"):
        if key in options:
            options[key] = str(options[key])
    return name, values, options


def column(source, overrides: dict, options: dict, label: str, *, training: bool = False, dtype: str = "float32",
           rewrite: str | None = None, trainable_from: str | None = None, limits=None) -> Column:
    """One column: a Source (cnncost/sources.py) at a variant's overrides and options,
    named `label` as the user gave it (a module by its class, not a path)."""
    kw = {"dtype": dtype, "rewrite": rewrite, "trainable_from": trainable_from, **options}
    if limits is not None:
        kw["limits"] = limits
    report = analyze(source.spec, overrides=overrides, training=training, **kw)
    t = report.totals
    values = {m: t[m] for m in METRICS}
    total = t["mults"] or 1
    for cls in MULT_CLASSES:
        values[f"share_{cls}"] = t["mults_by_class"][cls] / total
    if training:
        values["training_mults"] = t["training"]["training_mults"]
    if "transfer" in t:
        values["frozen_forward_mults"] = t["transfer"]["frozen_forward_mults"]
        values["cached_feature_bytes_per_example"] = t["transfer"]["cached_feature_bytes_per_example"]
    return Column(label, report, values, source, overrides, options)


def compare(entries, **kw) -> list[Column]:
    """One column per (Source, overrides, options, label); a spec given alone that declares
    `variants:` (a worked example of two ways) is one column per variant."""
    if not entries:
        raise SpecError("compare needs at least one architecture")
    if kw.get("dtype", "float32") not in DTYPE_BYTES:
        raise SpecError(f"unknown dtype '{kw['dtype']}' (known: {', '.join(DTYPE_BYTES)})")
    if len(entries) == 1 and not entries[0][1] and not entries[0][2] and entries[0][0].spec.variants:
        source, _, _, label = entries[0]
        entries = []
        for values in source.spec.variants.values():
            shown = f"{label}@" + ",".join(f"{k}={v}" for k, v in values.items())
            overrides = dict(values)
            options = {k: overrides.pop(k) for k in list(overrides) if k in SPECIAL}
            entries.append((source, overrides, options, shown))
    return [column(*entry, **kw) for entry in entries]


def rows(columns: list[Column]) -> list[tuple[str, list]]:
    """(metric, [value per column]) for every metric any column has, in a stable order."""
    keys = []
    for c in columns:
        keys += [k for k in c.values if k not in keys]
    return [(k, [c.values.get(k) for c in columns]) for k in keys]


def ratio(value, first):
    if isinstance(value, (int, float)) and isinstance(first, (int, float)) and first:
        return value / first
    return None


def notes(columns: list[Column]) -> list[str]:
    """What makes columns count differently: an imported file's params are its tensors (an
    exporter folds BatchNorm into convs), a spec's are its layers' weights."""
    ways = {c.label: c.report.params_as or "params are the spec's layers' weights and biases, BatchNorm's "
            "gamma and beta included" for c in columns}
    if len(set(ways.values())) < 2:
        return []
    return ["the columns count params differently (mults are comparable):"] + \
        [f"  {label}: {way}" for label, way in ways.items()]


def to_dict(columns: list[Column]) -> dict:
    return {"columns": [c.label for c in columns], "notes": notes(columns),
            "metrics": {k: {"values": v, "ratio_to_first": [ratio(x, v[0]) for x in v]} for k, v in rows(columns)}}


def add_time(columns: list[Column], profile, repeat: int = 5) -> None:
    """Roofline-estimated time and the executor's measured median forward time per column."""
    from cnncost.analyses.roofline import estimate, total_seconds
    from cnncost.runtime.verify import verify

    for c in columns:
        c.values["estimated_seconds"] = total_seconds(estimate(c.report, profile))
        v = verify(c.source, overrides=c.overrides, batch=c.options.get("batch"), repeat=repeat)
        c.values["measured_seconds"] = v.forward_seconds_median
