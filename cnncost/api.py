"""The library API: every command as one typed function returning a frozen result with
`to_dict()`. The command line is options -> these functions -> `cnncost.render.render`
(`cnncost.to_text`) -> exit code; notebooks and tests call the same functions.

    >>> import cnncost
    >>> cnncost.report("resnet18").totals["mults"]
    1814073344
"""
from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Sequence

from cnncost.analyses.sweep_metrics import METRICS as SWEEP_METRICS    # what a sweep cell holds
from cnncost.core.analysis import Report, analyze as _analyze
from cnncost.errors import CnnCostError, SpecError
from cnncost.results.report import ReportResult
from cnncost.sources import Source, label_of, open_source, open_sources, reread, shapes_for
from cnncost.spec.limits import DEFAULT, Limits

if TYPE_CHECKING:
    from cnncost.analyses import check as _check
    from cnncost.analyses import compare as _compare
    from cnncost.analyses import explain as _explain
    from cnncost.analyses import roofline as _roofline
    from cnncost.analyses import sweep as _sweep
    from cnncost.analyses import whatif as _whatif
    from cnncost.formula.derive import Formula

    from cnncost.results.commands import (Roofline, Savings, BundledResult, CalibrateResult, CheckResult, CompareResult, ExplainResult,
                                     ExportResult, ImportResult, KindInfo, KindsResult, RunResult, SweepResult,
                                     VerifyResult)

    Profile = _roofline.Profile
    LatencyResult = _roofline.Latency
else:
    from cnncost.lazy import OnUse

    _check, _compare, _explain, _roofline, _sweep, _whatif = (
        OnUse(f"cnncost.analyses.{m}") for m in ("check", "compare", "explain", "roofline", "sweep", "whatif"))

    _RESULTS = ("Savings", "Roofline", "CompareResult", "SweepResult", "ExplainResult", "VerifyResult", "RunResult", "CheckResult",
                "CalibrateResult", "ExportResult", "ImportResult", "KindInfo", "KindsResult", "BundledResult")

    def __getattr__(name):
        if name in _RESULTS:             # built on first use: a report needs none of them
            return getattr(importlib.import_module("cnncost.results.commands"), name)
        if name in ("Profile", "LatencyResult"):
            module = importlib.import_module("cnncost.analyses.roofline")
            return module.Profile if name == "Profile" else module.Latency
        raise AttributeError(name)

__all__ = ["Report", "ReportResult", "Savings", "Roofline", "CompareResult", "SweepResult",
           "ExplainResult", "VerifyResult", "RunResult", "CheckResult",
           "CalibrateResult", "ExportResult", "KindsResult", "BundledResult", "analyze", "report",
           "compare", "sweep", "explain", "verify", "run", "check", "latency", "calibrate", "export",
           "kinds", "bundled", "import_model", "ImportResult", "Source", "open_source", "Limits", "DEFAULT",
           "CnnCostError"]

Overrides = Sequence[str] | dict[str, Any] | None
# a YAML path or bundled name, a model file (.onnx), a PyTorch factory name
# ("torchvision.models:resnet50") or a torch.nn.Module
Spec = Any
InputShape = str | Sequence[int] | Sequence[Sequence[int]] | Any | None


def _open(spec: Spec, input_shape: InputShape, allow_code: bool, limits: Limits = DEFAULT,
          with_weights: bool = False) -> Source:
    """The one door (cnncost/sources.py): `spec` read once, whatever it is."""
    return open_source(spec, input_shape=input_shape, allow_code=allow_code, with_weights=with_weights,
                       limits=limits)


def analyze(spec: Spec, *, input_shape: InputShape = None, allow_code: bool = False, **kw: Any) -> Report:
    """The Report of `spec` (any SPEC, or a parsed ArchSpec), as core.analysis.analyze counts
    it (`kw`: batch, overrides, limits, dtype, trainable_from, freeze_until, training, rewrite)."""
    return _analyze(_open(spec, input_shape, allow_code, kw.get("limits", DEFAULT)).spec, **kw)


def _profile(profile: str | Profile | None) -> Profile | None:
    return _roofline.load_profile(profile) if isinstance(profile, str) else profile


# ---- report ---------------------------------------------------------------------------
def report(spec: Spec, *, input_shape: InputShape = None, allow_code: bool = False, batch: int | None = None, overrides: Overrides = None, depth: int | None = None,
           dtype: str = "float32", trainable_from: str | None = None, freeze_until: str | None = None,
           training: bool = False, rewrite: str | None = None, profile: str | Profile | None = None,
           totals_row: bool = False, by_kind: bool = False, limits: Limits = DEFAULT) -> ReportResult:
    """Per-layer cost of `spec` (a YAML path or a bundled name). `rewrite` ("separable" or
    "bottleneck=R") reports the rewritten network with the savings; `profile` (a path or a
    Profile) adds roofline estimates; `depth` groups rows by dotted-name prefix, `by_kind`
    by kind of layer and of multiplication; `totals_row` adds a TOTAL row to CSV. A
    torch.nn.Module is exported to ONNX first (`input_shape` (1, 3, 224, 224), several
    shapes or example tensors) and left as it was."""
    arch = _open(spec, input_shape, allow_code, limits).spec
    kw: dict[str, Any] = dict(batch=batch, overrides=overrides, limits=limits, dtype=dtype,
                              trainable_from=trainable_from, freeze_until=freeze_until, training=training)
    savings = None
    if rewrite:
        original, rep, rows = _whatif.savings(arch, rewrite, **kw)
        from cnncost.results.commands import Savings
        savings = Savings(rewrite, original, tuple(rows))
    else:
        rep = _analyze(arch, **kw)
    prof = _profile(profile)
    roof = None
    if prof is not None:
        from cnncost.results.commands import Roofline
        roof = Roofline(prof, tuple(_roofline.estimate(rep, prof)))
    return ReportResult(rep, depth, savings, roof, totals_row, by_kind)


# ---- formula ------------------------------------------------------------------------------
def formula(spec: Spec, *, input_shape: InputShape = None, allow_code: bool = False, overrides: Overrides = None,
            dtype: str = "float32", limits: Limits = DEFAULT) -> Formula:
    """Every total and per-layer count of `spec` as an exact expression of its free sizes
    (a spec's input variables, a model file's spatial axes) and N, the batch, checked
    against reports counted at other sizes; see cnncost.formula."""
    from cnncost.formula import derive as _derive, source as _source

    label, free, count = _counter(spec, input_shape, allow_code, overrides, dtype, limits)
    return _derive.derive(count, free, max_size=_source.MAX_SIZE, name=label)


def _counter(spec: Spec, input_shape: InputShape, allow_code: bool, overrides: Overrides, dtype: str,
             limits: Limits) -> tuple[str, dict[str, int], Callable[[dict[str, int]], Report]]:
    """(label, free sizes with their values, sizes -> Report) of a spec or a model file."""
    from cnncost.core.options import parse_overrides
    from cnncost.formula import source as _source

    src = _open(spec, input_shape, allow_code, limits)
    sets: dict[str, Any] = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(list(overrides or []))
    if not src.is_model:
        return (src.label, *_source.spec_counter(src.spec, _analyze, sets, dtype=dtype, limits=limits))
    per = src.spec.input
    if not isinstance(per, (list, tuple)):
        raise SpecError(f"{src.label}: a model of several inputs: formula takes one")
    n = src.spec.batch or 1
    image = src.channels_first and len(per) == 3      # ours H x W x C; the file's N x C x H x W
    probe = (n, per[-1], *per[:-1]) if image else (n, *per)

    def opened_at(shape: tuple[int, ...]) -> Report:
        return _analyze(reread(src, shape, allow_code=allow_code, limits=limits).spec, dtype=dtype, limits=limits)
    return (src.label, *_source.file_counter(opened_at, tuple(probe), src.channels_first))


# ---- compare and sweep ------------------------------------------------------------------
def compare(specs: Sequence[Spec], *, input_shape: InputShape = None, allow_code: bool = False, training: bool = False, dtype: str = "float32",
            rewrite: str | None = None, trainable_from: str | None = None,
            profile: str | Profile | None = None, repeat: int = 5,
            limits: Limits = DEFAULT) -> CompareResult:
    """Architectures side by side with ratios to the first; a column is NAME or
    NAME@VAR=VALUE,... (also batch, dtype, trainable_from, freeze_until, rewrite). With a
    profile, roofline-estimated and executor-measured time per column."""
    columns = _compare.compare(_columns(specs, input_shape, allow_code, limits), training=training,
                               dtype=dtype, rewrite=rewrite, trainable_from=trainable_from, limits=limits)
    prof = _profile(profile)
    if prof is not None:
        _compare.add_time(columns, prof, repeat=repeat)
    from cnncost.results.commands import CompareResult
    return CompareResult(tuple(columns))


def _columns(specs: Sequence[Spec], input_shape: InputShape, allow_code: bool, limits: Limits) -> list[Any]:
    """compare's columns as (Source, overrides, options, label): a text NAME@VAR=VALUE,... is
    NAME at that setting; each NAME is read once however many columns name it."""
    parsed = [_compare.parse_variant(s) if isinstance(s, str) else (s, {}, {}) for s in specs]
    names = list({id(n) if not isinstance(n, str) else n: n for n, _, _ in parsed}.values())
    opened = dict(zip([id(n) if not isinstance(n, str) else n for n in names],
                      open_sources(names, input_shape=input_shape, allow_code=allow_code, limits=limits)))
    given_as = [label_of(given) for given in specs]
    labels = [f"{label} #{given_as[:i + 1].count(label)}"      # two modules of one class: told apart
              if not isinstance(given, str) and given_as.count(label) > 1 else label
              for i, (given, label) in enumerate(zip(specs, given_as))]
    return [(opened[id(n) if not isinstance(n, str) else n], o, opt, label)
            for (n, o, opt), label in zip(parsed, labels)]


def sweep(spec: Spec, axes: Sequence[str] | Mapping[str, Any], *, metric: str = "mults", jobs: int = 1,
          on_cell: Callable[[], None] | None = None, limits: Limits = DEFAULT,
          input_shape: InputShape = None, allow_code: bool = False, scheduler: str | None = None) -> SweepResult:
    """`metric` over the grid of `axes` ({"alpha": [1, 0.75, 0.5], ...} or, as the command
    line's --set, "alpha=1,0.75,0.5", ...), at most
    limits.max_sweep_cells cells, in min(jobs, cells - 1, CPUs) processes. A PyTorch module
    (or factory) is swept over `batch` and `resolution` from its `input_shape`, in this
    process. A grid whose axes are the network's free sizes and the batch is evaluated
    from its formula (cnncost.formula); another is counted cell by cell, on Dask's
    distributed scheduler at `scheduler` when given (optional extra `dask`)."""
    if metric not in SWEEP_METRICS:
        raise CnnCostError(f"unknown metric '{metric}' (known: {', '.join(SWEEP_METRICS)})")
    from cnncost.results.commands import SweepResult
    from cnncost.interop.torch import module as torch_module

    if torch_module.is_module(spec) or (allow_code and torch_module.is_factory(spec)):
        module = spec if torch_module.is_module(spec) else torch_module.build_factory(spec)
        base = input_shape
        if isinstance(base, str):
            from cnncost.interop.input_shape import parse_input_shape
            base = parse_input_shape(base)
        grid = _sweep.sweep_shapes(label_of(spec), lambda shape: open_source(module, input_shape=shape).spec, base,
                                   _axes(axes), on_cell=on_cell, limits=limits)
        return SweepResult(grid, metric)
    names, values = _sweep.parse_axes(_axes(axes))
    grid = _formula_sweep(spec, names, values, input_shape, allow_code, on_cell, limits)
    if grid is not None:
        return SweepResult(grid, metric)
    source = _open(spec, input_shape, allow_code, limits)        # a spec given a shape says so
    return SweepResult(_sweep.sweep(source.spec, label_of(spec), _axes(axes), jobs=jobs, on_cell=on_cell,
                                    limits=limits, scheduler=scheduler), metric)


def _formula_sweep(spec: Spec, names: list[str], values: list[list[Any]], input_shape: InputShape, allow_code: bool,
                   on_cell: Callable[[], None] | None, limits: Limits) -> Any:
    """The grid from the network's formula when every axis is one of its free sizes or the
    batch and every total has an expression; None otherwise (counted cell by cell)."""
    from cnncost.analyses import sweep_formula
    from cnncost.formula import derive as _derive, source as _source

    try:
        label, free, count = _counter(spec, input_shape, allow_code, None, "float32", limits)
    except SpecError:
        return None               # no free size (a spec without input variables)
    if any(("N" if n == "batch" else n) not in free for n in names):
        return None
    f = _derive.derive(count, free, max_size=_source.MAX_SIZE, name=label)
    return sweep_formula.formula_sweep(f, label_of(spec), names, values, count, limits, on_cell)


def _axes(axes: Sequence[str] | Mapping[str, Any]) -> list[str] | Mapping[str, Any]:
    """A mapping of axes as it is (its values are the point); NAME=V texts as a list."""
    return axes if isinstance(axes, Mapping) else list(axes)


def sweep_cells(axes: Sequence[str] | Mapping[str, Any], jobs: int = 1, limits: Limits = DEFAULT) -> tuple[int, int]:
    """(cells, workers) of a sweep, checked before any work against the larger limit, of a
    sweep evaluated from a formula (one counted cell by cell is checked against its own)."""
    cells = _sweep.check_grid(_sweep.parse_axes(_axes(axes))[1], limits, from_formula=True)
    return cells, _sweep.workers(jobs, cells)


# ---- explain ---------------------------------------------------------------------------
def explain(target: str, layer: str | None = None, *, input_shape: str | None = None,
            filters: int | None = None, kernel: int = 3, stride: int = 1, padding: str = "valid",
            separable: bool = False, units: int | None = None, bottleneck: int | None = None,
            bias: bool = True, overrides: Overrides = None, limits: Limits = DEFAULT,
            allow_code: bool = False, model_shape: InputShape = None) -> ExplainResult:
    """Derivations step by step: a layer or block of a network (`target` a spec, `layer`
    its path; an ONNX model's node path too), or calculator mode (`target` a kind,
    `input_shape` HxWxC and that kind's arguments, a bias unless `bias=False`, as in a spec;
    `separable` / `bottleneck` R compare the cheaper versions). `model_shape` fixes a model
    file's dynamic axes (--input-shape)."""
    from cnncost.results.commands import ExplainResult

    if layer is not None:
        return ExplainResult(tuple(_explain.layer(_open(target, model_shape, allow_code, limits), layer, typed=target,
                                                   overrides=overrides, limits=limits)))
    if input_shape is None:
        raise CnnCostError("calculator mode needs --input HxWxC (or name a network and a layer)")
    return ExplainResult(tuple(_explain.calculator(target, input_shape, filters=filters, kernel=kernel,
                                                   stride=stride, padding=padding, separable=separable,
                                                   units=units, bottleneck=bottleneck, bias=bias)))


# ---- running ---------------------------------------------------------------------------
def verify(spec: Spec, *, input_shape: InputShape = None, allow_code: bool = False, batch: int | None = None, overrides: Overrides = None, seed: int = 0, repeat: int = 1,
           weights: str | None = None, max_memory: int | str | None = None, engine: str = "numpy",
           on_layer: Callable[[Any], None] | None = None, limits: Limits = DEFAULT) -> VerifyResult:
    """Run `spec` on a seeded random input (and random or given weights); compare every
    layer. engine="onnxruntime" also compares values with onnxruntime (extra `onnx`)."""
    from cnncost.runtime.verify import verify as _verify

    source = _open(spec, input_shape, allow_code, limits, with_weights=not weights)
    from cnncost.results.commands import VerifyResult
    return VerifyResult(_verify(source, batch=batch, overrides=overrides, seed=seed, repeat=repeat,
                                max_memory=_bytes(max_memory, "--max-memory"), weights_path=weights,
                                limits=limits, on_layer=on_layer,
                                engine=None if engine == "numpy" else engine))


def run(spec: Spec, input_path: str, *, input_shape: InputShape = None, allow_code: bool = False, weights: str | None = None, seed: int = 0,
        overrides: Overrides = None, max_memory: int | str | None = None,
        limits: Limits = DEFAULT) -> RunResult:
    """Run the .npy at `input_path` (H x W x C or N x H x W x C, checked against the network
    before it is read; an ONNX model's own C x H x W, or T x N x C of a time-first one, too)
    through `spec`."""
    from cnncost.runtime import executor

    source = _open(spec, input_shape, allow_code, limits, with_weights=not weights)
    graph = _graph(_analyze(source.spec, overrides=_overrides(overrides), limits=limits))
    x, layout = executor.load_input(input_path, graph, _bytes(max_memory, "--max-memory"),
                                    channels_first=source.channels_first,
                                    time_first="batch_second" in source.input_layouts.values())
    arrays = executor.weights_for(graph, source, weights, seed)
    result = executor.run(graph, x, arrays)
    out: Any = result.output
    top: tuple[tuple[int, float], ...] = ()
    if out.ndim == 2 and out.shape[1] > 1:
        top = tuple((int(i), float(out[0, i])) for i in out[0].argsort()[::-1][:5])
    fails = tuple(f"layer '{r.name}': shape {r.executed_shape} vs {r.output_shape}, mults "
                  f"{r.executed_mults:,} vs {r.mults:,}" for r in result.layers if not r.ok)
    random = weights is None and not source.is_model    # a model file brings its own
    from cnncost.results.commands import RunResult
    return RunResult(out, float(result.seconds), random, seed, float(out.min()), float(out.max()),
                     float(out.mean()), top, fails, layout, result.outputs)


def save_output(result: RunResult, path: str) -> None:
    """One output as .npy; .npz holds every output under its layer's name."""
    from cnncost.files import save_array, save_arrays

    if path.endswith(".npz"):
        save_arrays(path, result.outputs or {"output": result.output})
    elif len(result.outputs) > 1:
        raise CnnCostError(f"the network has {len(result.outputs)} outputs ({', '.join(result.outputs)}); "
                           "write them to an .npz (--output out.npz)")
    else:
        save_array(path, result.output)


# ---- check -----------------------------------------------------------------------------
def check(specs: Sequence[Spec] = (), *, input_shape: InputShape = None, allow_code: bool = False, overrides: Overrides = None, budgets: dict[str, str | int | None] | None = None,
          baseline: str | None = None, max_increase: str | Sequence[str] | None = None, strict: bool = False,
          no_dead_layers: bool = False, allow_different: bool = False, batch: int | None = None,
          dtype: str = "float32", limits: Limits = DEFAULT) -> CheckResult:
    """`expect:` blocks, budgets ({"params": "5M", "mults": ...}) and a baseline report.
    No specs: every bundled spec. It never passes by accident: a bad budget or tolerance,
    --max-increase without a baseline, an unreadable baseline or one of something else
    (unless allow_different), or a spec against which nothing applies is an error (exit 2);
    `strict` fails skipped expectations, `no_dead_layers` layers nothing reads. Budgets and
    the baseline are compared at `batch` and `dtype` (a baseline made at batch 8 or int8 is
    checked at that setting); an expect: block at the setting its numbers describe. Only
    named tolerances (["mults=5%"]) gate only the metrics they name."""
    from cnncost.core.analysis import DTYPE_BYTES
    from cnncost.errors import SpecError, did_you_mean
    from cnncost.spec import bundled_names

    budgets = {k: v for k, v in (budgets or {}).items() if v is not None}
    for metric, value in budgets.items():
        _check.parse_budget(metric, value)
    if isinstance(max_increase, str):
        max_increase = [max_increase]
    if max_increase and not baseline:
        raise CnnCostError("--max-increase needs --baseline (there is nothing to increase over)")
    _check.parse_increases(max_increase)          # a bad one is exit 2 before any spec is read
    if dtype not in DTYPE_BYTES:
        raise SpecError(f"unknown dtype '{dtype}'{did_you_mean(dtype, DTYPE_BYTES)} (known: {', '.join(DTYPE_BYTES)})")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise SpecError(f"batch must be a positive integer, received {batch!r}")
    base = _check.load_baseline(baseline, limits) if baseline else None   # read once, refused in one line
    given = list(specs) or bundled_names()
    results = [_check.check_one(functools.partial(open_source, g, input_shape=shape,
                                                  allow_code=allow_code, limits=limits),
                                overrides=overrides, budgets=budgets, baseline=baseline,
                                max_increase=max_increase, limits=limits, strict=strict,
                                no_dead_layers=no_dead_layers, allow_different=allow_different,
                                batch=batch, dtype=dtype, baseline_data=base, label=label_of(g))
               for g, shape in zip(given, shapes_for(given, input_shape, allow_code, limits))]
    from cnncost.results.commands import CheckResult
    return CheckResult(tuple(results))


# ---- time ------------------------------------------------------------------------------
def latency(spec: Spec, profile: str | Profile, *, input_shape: InputShape = None, allow_code: bool = False, repeat: int = 5, batch: int | None = None,
            overrides: Overrides = None, engine: str = "numpy", limits: Limits = DEFAULT) -> LatencyResult:
    """Roofline-predicted vs measured time per layer, measured by our executor or by
    onnxruntime's profiler, and their Spearman rank correlation."""
    prof = _profile(profile)
    if prof is None:
        raise CnnCostError("latency needs a device profile (cnncost calibrate)")
    source = _open(spec, input_shape, allow_code, limits, with_weights=engine == "numpy")
    result: LatencyResult = _roofline.latency(source, prof, repeat=repeat, batch=batch, overrides=overrides,
                                              limits=limits, engine=engine)
    return result


def calibrate(engine: str = "numpy") -> CalibrateResult:
    """Measure this machine (float32 matmul FLOP/s, copy bandwidth) through NumPy or
    onnxruntime, as a device profile."""
    from cnncost.results.commands import CalibrateResult
    return CalibrateResult(_roofline.calibrate(engine=engine))


# ---- export ----------------------------------------------------------------------------
def export(spec: Spec, output: str, *, input_shape: InputShape = None, weights: str | None = None, seed: int = 0,
           overrides: Overrides = None, batch: int | None = None, max_memory: int | str | None = None,
           limits: Limits = DEFAULT, allow_code: bool = False) -> ExportResult:
    """Write `spec` as an ONNX model (opset 17, NCHW) with the weights of `weights` or the
    seeded weights `run` uses; checked by onnx.checker (full check). Needs the `onnx` extra.
    A module is read at `input_shape`."""
    from cnncost.interop import require
    from cnncost.interop.onnx import export as onnx_export
    from cnncost.runtime import executor

    require("onnx")                  # a missing extra is the first thing to say
    source = _open(spec, input_shape, allow_code, limits, with_weights=not weights)
    rep = _analyze(source.spec, batch=batch, overrides=_overrides(overrides), limits=limits)
    graph, batch = _graph(rep), rep.batch
    executor.guard_memory(graph, 1, _bytes(max_memory, "--max-memory"))
    arrays = executor.weights_for(graph, source, weights, seed)
    facts = onnx_export.export(graph, arrays, output, batch=batch)

    def shape(s: Sequence[int]) -> str:
        return "x".join(map(str, onnx_export.onnx_shape(s, batch)))

    from cnncost.results.commands import ExportResult
    return ExportResult(output, facts["bytes"], facts["nodes"], facts["initializers"], facts["opset"],
                        shape(graph.nodes[0].out_shape), shape(graph.output.out_shape), facts["seconds"])


def import_model(model: str, output: str, *, weights_out: str | None = None, input_shape: InputShape = None,
                 allow_code: bool = False) -> ImportResult:
    """Read a model file (ONNX, Keras, TFLite) or module and write it as an editable spec (and
    its weights as the .npz that `run --weights` reads); `input_shape` fixes dynamic axes."""
    import io

    import numpy as np

    from cnncost.files import write_outputs
    from cnncost.spec import parse_spec

    source = _open(model, input_shape, allow_code, with_weights=weights_out is not None)
    imported = source.imported
    if imported is None:
        raise CnnCostError(f"{label_of(model)}: import reads a model file (ONNX, Keras, TFLite) or a module; "
                           "this is a spec already")
    layers = _analyze(parse_spec(imported.spec_text, output)).totals["layers"]    # it must count
    files: list[tuple[str, str | bytes]] = [(output, imported.spec_text)]
    if weights_out is not None:
        buf = io.BytesIO()
        arrays: dict[str, Any] = {k: np.asarray(v, dtype=np.float32) for k, v in imported.weights.items()}
        np.savez(buf, **arrays)
        files.append((weights_out, buf.getvalue()))
    write_outputs(files)            # the spec and its weights, both or neither
    from cnncost.results.commands import ImportResult
    return ImportResult(output, weights_out, int(layers), len(imported.weights))


# ---- what exists -----------------------------------------------------------------------
def kinds(name: str | None = None) -> KindsResult:
    """Every layer kind from the registry (or the one `name` is, an alias's included):
    arguments with defaults and docs, multiplication and FLOP rules."""
    from cnncost.results.commands import KindInfo, KindsResult
    from cnncost.layers import ALIASES, KINDS, lookup
    from cnncost.layers.base import REQUIRED
    from cnncost.errors import did_you_mean

    if name is not None:
        found = lookup(name)
        if found is None:
            raise CnnCostError(f"unknown layer kind '{name}'{did_you_mean(name, [*KINDS, *ALIASES])} "
                               "(`cnncost kinds` lists them all)")
        one = found[0].name

    def default(value: object) -> str:
        return "required" if value is REQUIRED else ("none" if value is None else str(value).lower()
                                                     if isinstance(value, bool) else str(value))

    infos = tuple(KindInfo(kname, k.family, k.doc,
                           tuple((a, arg.kind, default(arg.default), arg.doc) for a, arg in k.args.items()),
                           k.flops_rule, k.mults_rule, k.saves_rule)
                  for kname, k in KINDS.items() if name is None or kname == one)
    aliases = tuple((a, k, ", ".join(f"{key}={v}" for key, v in fixed.items())) for a, (k, fixed) in ALIASES.items()
                    if name is None or k == one)
    return KindsResult(infos, aliases)


def bundled() -> BundledResult:
    """The bundled architectures, their sources and the variables `--set` overrides."""
    from cnncost.spec import bundled_names, load_spec

    specs = [load_spec(n) for n in bundled_names()]
    from cnncost.results.commands import BundledResult
    return BundledResult(tuple((s.name, s.source) for s in specs),
                         tuple(tuple((str(k), str(v)) for k, v in s.vars.items()) for s in specs))


def _graph(rep: Report) -> Any:
    """The graph `analyze` counted (it always attaches one; a Report built by hand may not)."""
    if rep.graph is None:
        raise CnnCostError(f"report '{rep.name}' carries no graph to run")
    return rep.graph


def _overrides(value: Overrides) -> dict[str, Any] | list[str] | None:
    return value if value is None or isinstance(value, dict) else list(value)


def _bytes(value: int | str | None, what: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return int(_check.parse_quantity(value, what))
