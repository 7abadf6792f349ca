"""`expect:` blocks, budgets and baselines: compare a Report with what it should be.

Each comparison becomes a CheckItem; a spec passes when every item does. Exact integers
are compared exactly; a tolerance is stated per item (`{value: 569e6, tolerance: 0.5%}`).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from cnncost.core.analysis import COUNT_FIELDS, Report, analyze
from cnncost.errors import CnnCostError, SpecError, did_you_mean, escape_controls
from cnncost.spec.limits import DEFAULT, Limits

_SI = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
       "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
# a number, an optional SI (k = 1e3) or binary (Ki = 1024) prefix, an optional B for bytes
_NUMBER = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*([kKMGT]i?)?B?\s*$")


MAX_QUANTITY = 10**30        # above any count, byte size or FLOP/s a real network or device has
MAX_QUANTITY_CHARS = 64


def parse_quantity(value, what: str = "value") -> Fraction:
    """Exact number from 5000000, 5e6, '5M', '4.1G', '569e6', '5MB', '5 MiB' (SI: k = 1e3;
    binary: Ki = 1024; a trailing B for bytes is allowed). The one parser
    of budgets, tolerances, --max-memory and profile values: bounded in length, exponent
    and magnitude, so that '1e999999999' is an error at once, not an endless Fraction."""
    if isinstance(value, bool):
        raise SpecError(f"{what}: expected a number, received {value!r}")
    if isinstance(value, int):
        number = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError(f"{what}: expected a finite number, received {value!r}")
        number = Fraction(str(value))
    elif isinstance(value, str) and len(value) <= MAX_QUANTITY_CHARS and (m := _NUMBER.match(value)):
        mantissa, _, exponent = m.group(1).replace("_", "").replace(",", "").lower().partition("e")
        if exponent and abs(int(exponent)) > 40:
            raise SpecError(f"{what}: exponent out of range (at most 1e30), received {value!r}")
        number = Fraction(mantissa) * Fraction(10) ** int(exponent or 0) * _SI[m.group(2) or ""]
    else:
        shown = value if not isinstance(value, str) or len(value) <= MAX_QUANTITY_CHARS \
            else value[:MAX_QUANTITY_CHARS] + "..."
        raise SpecError(f"{what}: expected a number such as 5000000, 5e6, 5M, 4.1G, 5MB or 5 MiB, "
                       f"received {shown!r}")
    if abs(number) > MAX_QUANTITY:
        shown = repr(value) if isinstance(value, str) else \
            str(value) if isinstance(value, int) and value.bit_length() <= 133 else f"{float(number):.3g}"
        raise SpecError(f"{what}: {shown} is out of range (at most 1e30)")
    return number


def parse_tolerance(value, what: str = "tolerance") -> tuple[Fraction, bool]:
    """'0.5%' -> (0.005, relative); 1000 -> (1000, absolute). Never negative: a tolerance is
    how far a value may stray, and a negative one would fail every value."""
    if isinstance(value, str) and value.strip().startswith("-") or \
            isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        raise SpecError(f"{what}: a tolerance cannot be negative, received {value!r}")
    if isinstance(value, str) and value.strip().endswith("%"):
        return parse_quantity(value.strip()[:-1], what) / 100, True
    return parse_quantity(value, what), False


@dataclass
class CheckItem:
    arch: str
    check: str                # e.g. "params", "layers.conv1.mults", "budget mults"
    expected: object
    actual: object
    ok: bool
    source: str = ""
    tolerance: str = ""
    detail: str = ""          # for a failure: limit, value, difference and percentage

    @property
    def delta(self):
        if isinstance(self.expected, (int, Fraction)) and isinstance(self.actual, int):
            d = self.actual - self.expected
            return int(d) if Fraction(d).denominator == 1 else float(d)
        return None


@dataclass
class LayerChange:
    """A layer whose params or mults differ from the baseline's (None: absent there or here)."""
    layer: str
    change: str                       # "added", "changed" or "removed"
    params: tuple[int | None, int | None]
    mults: tuple[int | None, int | None]
    kind: str = ""

    def text(self) -> str:
        if self.change == "added":
            return f"+ {self.layer} ({self.kind}): params {self.params[1]:,}, mults {self.mults[1]:,}"
        if self.change == "removed":
            return f"- {self.layer}: params {self.params[0]:,}, mults {self.mults[0]:,}"
        return (f"~ {self.layer}: params {self.params[0]:,} -> {self.params[1]:,}, "
                f"mults {self.mults[0]:,} -> {self.mults[1]:,}")

    def to_dict(self) -> dict:
        return {"layer": self.layer, "change": self.change, "kind": self.kind,
                "params_before": self.params[0], "params_after": self.params[1],
                "mults_before": self.mults[0], "mults_after": self.mults[1]}


@dataclass
class ArchResult:
    arch: str
    items: list[CheckItem] = field(default_factory=list)
    error: str | None = None          # a bad spec or nothing to check: exit 2
    changed_layers: list[LayerChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)     # skipped expectations, dead layers, ...
    spec: str = ""                    # the SPEC as given (a path, a bundled name): its identity
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and all(i.ok for i in self.items)


def _fmt(v):
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else float(v)
    return v


def _compare(arch, check, raw, actual, source) -> CheckItem:
    if isinstance(raw, dict):
        if "value" not in raw:
            raise SpecError(f"expect {check}: a mapping needs `value` (and optional `tolerance`)")
        unknown = set(raw) - {"value", "tolerance"}
        if unknown:
            raise SpecError(f"expect {check}: unknown key(s) {', '.join(map(str, unknown))}")
        expected_raw, tol_raw = raw["value"], raw.get("tolerance", 0)
    else:
        expected_raw, tol_raw = raw, 0
    if check.endswith("output_shape"):
        expected = list(expected_raw) if isinstance(expected_raw, list) else expected_raw
        return CheckItem(arch, check, expected, list(actual), expected == list(actual), source)
    expected = parse_quantity(expected_raw, f"expect {check}")
    tol, relative = parse_tolerance(tol_raw, f"expect {check} tolerance")
    allowed = tol * abs(expected) if relative else tol
    ok = abs(actual - expected) <= allowed
    tol_text = "" if not tol else (f"{float(tol) * 100:g}%" if relative else f"±{_fmt(tol)}")
    return CheckItem(arch, check, _fmt(expected), actual, ok, source, tol_text)


def _layer_values(report: Report, key: str) -> dict | None:
    """A layer's row, or the sum over a block's rows (`stage3` = every `stage3.*`)."""
    rows = [r for r in report.layers if r.name == key or r.name.startswith(key + ".")]
    if not rows:
        return None
    values = {f: sum(getattr(r, f) for r in rows) for f in COUNT_FIELDS}
    values["output_shape"] = rows[-1].output_shape
    return values


def check_expect(report: Report, expect: dict) -> list[CheckItem]:
    arch = report.name
    source = str(expect.get("source", ""))
    items = []
    totals = dict(report.totals, output_shape=report.layers[-1].output_shape)
    for key, raw in expect.items():
        if key == "source":
            continue
        if key == "layers":
            if not isinstance(raw, dict):
                raise SpecError("expect layers: must map layer names to expected values")
            for lname, wanted in raw.items():
                values = _layer_values(report, str(lname))
                if values is None:
                    raise SpecError(f"expect layers: no layer or block named '{lname}'")
                if not isinstance(wanted, dict):
                    raise SpecError(f"expect layers.{lname}: must be a mapping of metrics")
                for metric, value in wanted.items():
                    if metric not in values:
                        raise SpecError(f"expect layers.{lname}: unknown metric '{metric}' "
                                        f"(known: {', '.join(values)})")
                    items.append(_compare(arch, f"{lname}.{metric}", value, values[metric], source))
            continue
        if key not in totals:
            raise SpecError(f"expect: unknown key '{key}' (known: source, layers, {', '.join(totals)})")
        items.append(_compare(arch, key, raw, totals[key], source))
    return items


# budget name -> the total it bounds; counts take plain numbers, byte sizes take bytes
BUDGETS = {"params": "params", "mults": "mults", "flops": "flops", "activations": "activations",
           "weight_bytes": "param_bytes", "peak_bytes": "peak_activation_bytes"}


def parse_budget(metric: str, limit) -> int:
    """A budget as a whole number. A byte unit on a count is refused: `--max-params 5MB`
    could mean 5M parameters or 5 MB of weights, and the two differ fourfold in float32."""
    option = f"--max-{metric.replace('_', '-')}"
    if metric not in BUDGETS:
        raise SpecError(f"unknown budget '{metric}' (known: {', '.join(BUDGETS)})")
    text = str(limit).strip()
    if not metric.endswith("bytes") and text[-1:] in "bB" and _NUMBER.match(text):
        number = text[:-1].rstrip()
        number = "".join((number[:-1] if number.endswith("i") else number).split())
        raise SpecError(f"{option} {text}: a byte size on a count is ambiguous; say {option} {number} "
                        f"for {metric}, or --max-weight-bytes {text} for the weights' bytes")
    return math.floor(parse_quantity(limit, option))   # counts and bytes are whole


def check_budgets(report: Report, budgets: dict) -> list[CheckItem]:
    items = []
    for metric, limit in budgets.items():
        if limit is None:
            continue
        bound = parse_budget(metric, limit)
        actual = report.totals[BUDGETS[metric]]
        detail = over(metric, bound, actual)
        if detail and metric == "peak_bytes" and report.graph is not None:
            detail += f" (the peak is while layer '{peak_layer(report)}' runs)"
        items.append(CheckItem(report.name, f"budget {metric}", f"<= {bound:,}", actual,
                               actual <= bound, "command line", detail=detail))
    return items


def peak_layer(report: Report) -> str:
    """The layer running when the live activations are largest (in bytes, each tensor in its
    own dtype when the file has them)."""
    from cnncost.core.analysis import DTYPE_BYTES, node_bytes

    g, item = report.graph, DTYPE_BYTES[report.dtype]
    live = g.live_elements(lambda n: node_bytes(n, item))
    at = max(range(len(live)), key=live.__getitem__)
    return g.nodes[at].name


def over(metric: str, bound, actual) -> str:
    """limit, value, difference and percentage, when a value exceeds its limit."""
    if actual <= bound:
        return ""
    diff = actual - bound
    pct = f" ({float(diff / bound):+.1%})" if bound else ""
    return (f"{metric} {actual:,} exceeds the limit {_fmt(bound):,} by {_fmt(diff):,}{pct}")


BASELINE_METRICS = ("params", "mults", "flops", "activations")


def parse_increases(values) -> dict[str, tuple[Fraction, bool, str]]:
    """--max-increase values -> {gated metric: (tolerance, relative, as written)}: `5%` or
    `1M` for every metric, `mults=5%` for one (repeatable; a metric's own beats the common
    one). Only named tolerances (`mults=5%`): only those metrics are gated, which is what
    "gate the MACs" means; none at all: every metric is gated at 0."""
    if values is None or isinstance(values, (str, int, float)):
        values = [] if values is None else [values]
    common, own = None, {}
    for value in values:
        text = str(value).strip()
        metric, sep, tol = text.partition("=")
        what = f"--max-increase {text}"
        if sep:
            metric = metric.strip()
            if metric not in BASELINE_METRICS:
                raise SpecError(f"{what}: unknown metric '{metric}'{did_you_mean(metric, BASELINE_METRICS)} "
                                f"(known: {', '.join(BASELINE_METRICS)})")
            if metric in own:
                raise SpecError(f"--max-increase: {metric} given twice")
            own[metric] = (*_increase(tol.strip(), what, f"{metric}="), tol.strip())
        else:
            if common is not None:
                raise SpecError(f"--max-increase: a tolerance for every metric given twice "
                                f"({common[2]} and {text}); name a metric for one: mults={text}")
            common = (*_increase(text, what, ""), text)
    if common is None and own:
        return own
    common = common or (Fraction(0), False, "0")
    return {metric: own.get(metric, common) for metric in BASELINE_METRICS}


def _increase(text: str, what: str, metric: str) -> tuple[Fraction, bool]:
    """One tolerance of --max-increase, refused in the words it was typed in."""
    if text.startswith("-"):
        raise SpecError(f"{what}: the allowed growth cannot be negative (a decrease always passes; "
                        f"say --max-increase {metric}{text[1:].strip() or '5%'} to allow that much growth)")
    return parse_tolerance(text, what)


def growth(metric: str, old: int, new: int, allowed: int, allowed_text: str) -> str:
    """How a metric grew over the baseline, against what was allowed."""
    if new <= allowed:
        return ""
    pct = f" {float(Fraction(new - old, old) * 100):+.1f}%" if old else ""
    return (f"{metric}{pct} over the baseline ({old:,} -> {new:,}, {new - old:+,}; allowed "
            f"{allowed_text}: at most {allowed:,})")


def load_baseline(path: str, max_bytes: int | Limits) -> dict:
    """A `report --format json` file, read within `max_bytes` (or the limits'
    max_baseline_bytes) and validated: totals and per-layer counts must be exact
    non-negative integers, or exit 2 saying which is not."""
    from cnncost.files import read_bounded

    if isinstance(max_bytes, Limits):
        max_bytes = max_bytes.max_baseline_bytes
    data = read_bounded(path, max_bytes, "baseline")

    def refuse(why):
        raise CnnCostError(f"baseline {path}: not a cnncost JSON report: {why}")

    def no_constants(name):
        refuse(f"{name} is not a number JSON allows")

    try:
        base = json.loads(data.decode("utf-8"), parse_constant=no_constants)
    except UnicodeDecodeError:
        refuse("not UTF-8 text")
    except RecursionError:
        refuse("nested too deeply")
    except ValueError as exc:
        refuse(str(exc).splitlines()[0])

    def count(value, where):
        if isinstance(value, bool) or not isinstance(value, int):
            refuse(f"{where} is {json.dumps(value)[:40]}, not a whole number")
        if value < 0:
            refuse(f"{where} is negative")
        return value

    if not isinstance(base, dict):
        refuse(f"the top level is {type(base).__name__}, not an object")
    totals, layers = base.get("totals"), base.get("layers")
    if not isinstance(totals, dict):
        refuse("`totals` is missing or not an object")
    if not isinstance(layers, list):
        refuse("`layers` is missing or not a list")
    if not any(m in totals for m in BASELINE_METRICS):
        refuse(f"`totals` has none of {', '.join(BASELINE_METRICS)}")
    for m in BASELINE_METRICS:
        if m in totals:
            count(totals[m], f"totals.{m}")
    for i, row in enumerate(layers):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            refuse(f"layers[{i}] is not an object with a name")
        row["name"] = escape_controls(row["name"])      # shown on a terminal: no sequence of the file's
        for m in ("params", "mults"):
            count(row.get(m), f"layers[{i}].{m}")
    return base


# what makes a comparison meaningless; another cnncost version is only worth a warning
STRICT_PROVENANCE = ("network", "input_shape", "batch", "dtype", "vars")


def provenance_differences(base: dict, report: Report) -> tuple[list[str], list[str]]:
    """(what makes the comparison meaningless, what is expected to differ). The spec's
    digest is expected to differ (a changed model is what a baseline check measures)."""
    recorded = base.get("provenance")
    now = report.provenance()
    if not isinstance(recorded, dict):
        return ["it records no provenance (made by an older cnncost: run `cnncost report --format json` "
                "again)"], []
    strict = [f"{key} {json_text(recorded.get(key))} vs {json_text(now[key])}" for key in STRICT_PROVENANCE
              if recorded.get(key) != now[key]]
    soft = ([f"spec changed (sha256 {str(recorded.get('spec_sha256'))[:12]} -> {now['spec_sha256'][:12]})"]
            if recorded.get("spec_sha256") != now["spec_sha256"] else [])
    if recorded.get("cnncost_version") != now["cnncost_version"]:
        soft.append(f"warning: made by cnncost {json_text(recorded.get('cnncost_version'))}, this is "
                    f"{json_text(now['cnncost_version'])} (counting conventions may differ)")
    return strict, soft


def json_text(value) -> str:
    return json.dumps(value, default=str)


def check_baseline(report: Report, baseline_path: str, max_increase,
                   max_bytes: int = DEFAULT.max_baseline_bytes, allow_different: bool = False,
                   notes: list[str] | None = None, base: dict | None = None) -> tuple[list[CheckItem], list[str]]:
    """The baseline's totals against the report's, within --max-increase, and the layers
    that changed. `base`: the baseline already read (check reads it once for every spec)."""
    if base is None:
        base = load_baseline(baseline_path, max_bytes)
    strict, soft = provenance_differences(base, report)
    if strict and not allow_different:
        raise CnnCostError(f"baseline {baseline_path} measured something else: " + "; ".join(strict)
                           + " (regenerate it, or pass --allow-different)")
    if notes is not None:
        notes += [f"baseline differs: {d}" for d in strict + soft]
    base_totals, base_layers = base["totals"], base["layers"]
    increases = parse_increases(max_increase)
    recorded = [m for m in BASELINE_METRICS if m in base_totals]
    if not any(m in increases for m in recorded):
        raise CnnCostError(f"--max-increase names {', '.join(increases)}, which baseline {baseline_path} does not "
                           f"record (it has {', '.join(recorded)})")
    items, ungated = [], []
    for metric in recorded:
        old, new = int(base_totals[metric]), report.totals[metric]
        if metric not in increases:
            ungated.append(f"{metric} {old:,} -> {new:,}" + (f" ({float(Fraction(new - old, old)):+.1%})"
                                                             if old and new != old else ""))
            continue
        tol, relative, text = increases[metric]
        allowed = math.floor(old + (tol * old if relative else tol))
        items.append(CheckItem(report.name, f"baseline {metric}", old, new, new <= allowed,
                               baseline_path, text, detail=growth(metric, old, new, allowed, text)))
    if ungated and notes is not None:
        gated = [i.check.removeprefix("baseline ") for i in items]
        notes.append(f"baseline: gating {', '.join(gated)} only, as --max-increase names "
                     f"{'it' if len(gated) == 1 else 'them'} (give a tolerance without a metric, "
                     f"e.g. --max-increase 0, to gate every metric); not gated: {'; '.join(ungated)}")
    old_rows = {r["name"]: r for r in base_layers if isinstance(r, dict) and "name" in r}
    changed = []
    for row in report.layers:
        old = old_rows.pop(row.name, None)
        if old is None:
            if row.params or row.mults:
                changed.append(LayerChange(row.name, "added", (None, row.params), (None, row.mults), row.kind))
        elif old.get("params") != row.params or old.get("mults") != row.mults:
            changed.append(LayerChange(row.name, "changed", (old.get("params"), row.params),
                                       (old.get("mults"), row.mults), row.kind))
    changed += [LayerChange(name, "removed", (r.get("params"), None), (r.get("mults"), None), str(r.get("kind", "")))
                for name, r in old_rows.items() if r.get("params") or r.get("mults")]
    return items, changed


def check_one(opened, *, overrides=None, budgets=None, baseline=None,
              max_increase=None, use_expect: bool = True, limits: Limits = DEFAULT,
              strict: bool = False, no_dead_layers: bool = False,
              allow_different: bool = False, batch: int | None = None, dtype: str = "float32",
              baseline_data: dict | None = None, label: str = "") -> ArchResult:
    """Run every applicable comparison for one spec (`opened()`: its Source, opened here so
    that a bad one is this spec's error and the others are still checked); a bad spec, or a spec against which
    nothing was checked, becomes `error` (exit 2). `strict` fails skipped expectations;
    `no_dead_layers` fails layers whose output nothing reads. Budgets and the baseline are
    compared at `batch` and `dtype`; an `expect:` block at the setting its numbers describe
    (the spec's own batch, float32)."""
    import time

    from cnncost.core.analysis import resolve_batch

    result = ArchResult(label, spec=label)     # the SPEC as the user gave it
    t0 = time.perf_counter()
    try:
        spec = opened().spec
        result.arch = spec.name
        report = analyze(spec, overrides=overrides, limits=limits, batch=batch, dtype=dtype)
        own = report
        if use_expect and spec.expect and not overrides and (report.batch != resolve_batch(spec, None)
                                                             or dtype != "float32"):
            own = analyze(spec, limits=limits)
            result.notes.append(f"expect: checked at batch {own.batch}, {own.dtype}, the setting its numbers "
                                f"describe (budgets and the baseline at batch {report.batch}, {report.dtype})")
        if use_expect and spec.expect and overrides:
            why = ("expect: skipped: --set " + ", ".join(f"{k}={v}" for k, v in _as_dict(overrides).items())
                   + " changes the network the expectations describe")
            result.notes.append(why)
            if strict:
                result.items.append(CheckItem(report.name, "expect", "applied", "skipped", False,
                                              "--strict", detail=why))
        elif use_expect and spec.expect:
            try:
                result.items += check_expect(own, spec.expect)
            except CnnCostError as exc:
                raise exc.with_context(loc=spec.expect.loc)
        result.items += check_budgets(report, budgets or {})
        if baseline:
            items, result.changed_layers = check_baseline(report, baseline, max_increase,
                                                          limits.max_baseline_bytes, allow_different,
                                                          result.notes, baseline_data)
            result.items += items
        if report.dead_layers:
            dead = ", ".join(report.dead_layers)
            result.notes.append(f"warning: the output of {dead} is never read (counted in the totals)")
            if no_dead_layers:
                result.items.append(CheckItem(report.name, "dead layers", 0, len(report.dead_layers), False,
                                              "--no-dead-layers", detail=f"never read: {dead}"))
        if not result.items:
            result.error = ("nothing to check: " + ("its expect: block was skipped, " if spec.expect else
                                                    "no expect: block, ") + "no budget and no baseline")
    except CnnCostError as exc:
        result.error = str(exc)
    result.seconds = time.perf_counter() - t0
    return result


def _as_dict(overrides) -> dict:
    from cnncost.core.options import parse_overrides
    return overrides if isinstance(overrides, dict) else parse_overrides(list(overrides))


def results_dict(results: list[ArchResult]) -> dict:
    return {
        "ok": all(r.ok for r in results),
        "architectures": [
            {"arch": r.arch, "ok": r.ok, "error": r.error,
             "spec": r.spec, "seconds": r.seconds, "notes": r.notes,
             "changed_layers": [c.to_dict() for c in r.changed_layers],
             "checks": [dict(asdict(i), delta=i.delta) for i in r.items]}
            for r in results
        ],
    }


def _xml_safe(text: str) -> str:
    """XML 1.0 allows no control characters but tab, newline and carriage return: show
    the others escaped, as the terminal messages do."""
    return "".join(ch if ch in "\t\n\r" or (ord(ch) >= 32 and ord(ch) not in range(0xD800, 0xE000)
                                            and ord(ch) not in (0xFFFE, 0xFFFF))
                   else ascii(ch)[1:-1] for ch in text)


def junit_xml(results: list[ArchResult]) -> str:
    from xml.sax.saxutils import escape as _escape
    from xml.sax.saxutils import quoteattr as _quoteattr

    def escape(text):
        return _escape(_xml_safe(str(text)))

    def quoteattr(text):
        return _quoteattr(_xml_safe(str(text)))

    failures = sum(1 for r in results if r.error is None and not r.ok)
    errors = sum(1 for r in results if r.error is not None)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuite name="cnncost check" tests="{len(results)}" failures="{failures}" errors="{errors}">']
    for r in results:
        # named by the SPEC as given: two files with the same `name:` stay two test cases
        out.append(f'  <testcase classname="cnncost.check" name={quoteattr(r.spec or r.arch)} '
                   f'time="{r.seconds:.3f}">')
        if r.error is not None:
            out.append(f'    <error message={quoteattr(r.error)}/>')
        elif not r.ok:
            lines = [f"{i.check}: expected {i.expected}, actual {i.actual}" + (f" ({i.detail})" if i.detail else "")
                     for i in r.items if not i.ok]
            body = lines + [c.text() for c in r.changed_layers]
            out.append(f'    <failure message={quoteattr(lines[0])}>{escape(chr(10).join(body))}</failure>')
        out.append("  </testcase>")
    out.append("</testsuite>")
    return "\n".join(out) + "\n"
