"""From operation counts to time: a device profile (peak FLOP/s, memory bandwidth), a
roofline estimate per layer, calibration on this machine, and a comparison of the
estimate with the NumPy executor's measured times.

Roofline: time = max(flops / peak_flops, bytes / bandwidth); a layer whose byte term is
the larger one is memory-bound.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

from cnncost.core.analysis import Report, intensity
from cnncost.timing import best_of
from cnncost.errors import CnnCostError, SpecError


@dataclass(frozen=True)
class Profile:
    name: str
    peak_flops: float        # FLOP/s
    bandwidth: float         # bytes/s
    source: str = ""

    @property
    def ridge(self) -> float:
        """The intensity (FLOP/byte) where compute and memory time are equal."""
        return self.peak_flops / self.bandwidth


def load_profile(path: str) -> Profile:
    from cnncost.analyses.check import parse_quantity
    from cnncost.files import read_bounded
    from cnncost.spec.yamlload import MAX_FILE_BYTES, YMap, load_yaml

    doc = load_yaml(read_bounded(path, MAX_FILE_BYTES, "profile"), path)
    if not isinstance(doc, YMap):
        raise SpecError(f"profile {path}: expected a mapping with peak_flops and bandwidth")
    for key in doc:
        if key not in ("name", "peak_flops", "bandwidth", "source"):
            raise SpecError(f"unknown key '{key}' (known: name, peak_flops, bandwidth, source)",
                            loc=doc.loc_of(key))
    values = {}
    for key in ("peak_flops", "bandwidth"):
        if key not in doc:
            raise SpecError(f"profile needs `{key}`", loc=doc.loc)
        try:
            values[key] = float(parse_quantity(doc[key], key))
        except CnnCostError as exc:
            raise exc.with_context(loc=doc.loc_of(key))
        if values[key] <= 0:
            raise SpecError(f"`{key}` must be positive", loc=doc.loc_of(key))
    return Profile(str(doc.get("name", path)), values["peak_flops"], values["bandwidth"],
                   str(doc.get("source", "")))


def profile_yaml(p: Profile) -> str:
    return (f"# cnncost device profile ({p.source})\nname: {p.name}\n"
            f"peak_flops: {p.peak_flops:.4g}   # FLOP/s, float32 matmul\n"
            f"bandwidth: {p.bandwidth:.4g}    # bytes/s, large-array copy (read + write)\n"
            f"source: \"{p.source}\"\n")


def calibrate(matmul_n: int = 2048, copy_mb: int = 256, repeat: int = 5, engine: str = "numpy") -> Profile:
    """Measure this machine: float32 matmul throughput and large-array copy bandwidth (a
    copy moves 2 bytes per byte copied: one read, one write), through NumPy or onnxruntime."""
    import platform

    import numpy as np

    if engine == "onnxruntime":
        from cnncost.runtime import onnxruntime_engine

        flops, bandwidth, how = onnxruntime_engine.calibrate(matmul_n, copy_mb, repeat)
        return Profile(platform.node() or "this-machine", flops, bandwidth, how)
    if engine != "numpy":
        raise CnnCostError(f"unknown engine '{engine}' (known: numpy, onnxruntime)")

    def best(fn):
        return best_of(fn, repeat)

    rng = np.random.default_rng(0)
    a = rng.standard_normal((matmul_n, matmul_n), dtype=np.float32)
    b = rng.standard_normal((matmul_n, matmul_n), dtype=np.float32)
    flops = 2 * matmul_n**3 / best(lambda: np.matmul(a, b))
    src = np.ones(copy_mb * 1024 * 1024 // 4, np.float32)
    dst = np.empty_like(src)
    bandwidth = 2 * src.nbytes / best(lambda: np.copyto(dst, src))
    return Profile(platform.node() or "this-machine", flops, bandwidth,
                   f"cnncost calibrate: {matmul_n}^3 float32 matmul, {copy_mb} MB copy, "
                   f"numpy {np.__version__}, best of {repeat}")


@dataclass
class Estimate:
    name: str
    kind: str
    flops: int
    bytes: int
    intensity: float
    compute_seconds: float
    memory_seconds: float
    seconds: float
    bound: str               # "compute" | "memory" | "-" (nothing to do)


def estimate(report: Report, profile: Profile) -> list[Estimate]:
    out = []
    for r in report.layers:
        nbytes = r.bytes_read + r.bytes_written
        c, m = r.flops / profile.peak_flops, nbytes / profile.bandwidth
        bound = "-" if not (r.flops or nbytes) else ("compute" if c >= m else "memory")
        out.append(Estimate(r.name, r.kind, r.flops, nbytes, r.intensity, c, m, max(c, m), bound))
    return out


def grouped(estimates: list[Estimate], depth: int | None) -> list[Estimate]:
    """Estimates summed by the first `depth` parts of their dotted names, as the report's
    rows fold (`--depth`): a block's time is its layers' times; its bound is theirs when
    they agree, else "mixed"."""
    if not depth:
        return list(estimates)
    groups: dict[str, list[Estimate]] = {}
    for e in estimates:
        groups.setdefault(".".join(e.name.split(".")[:depth]), []).append(e)
    out = []
    for key, members in groups.items():
        if len(members) == 1:
            out.append(members[0] if members[0].name == key else replace(members[0], name=key))
            continue
        flops, nbytes = sum(e.flops for e in members), sum(e.bytes for e in members)
        bounds = {e.bound for e in members if e.bound != "-"}
        out.append(Estimate(key, "block", flops, nbytes, intensity(flops, nbytes),
                            sum(e.compute_seconds for e in members), sum(e.memory_seconds for e in members),
                            sum(e.seconds for e in members),
                            bounds.pop() if len(bounds) == 1 else ("mixed" if bounds else "-")))
    return out


def total_seconds(estimates: list[Estimate]) -> float:
    return sum(e.seconds for e in estimates)


def memory_share(estimates: list[Estimate]) -> float:
    """Share of the estimated time spent in memory-bound layers."""
    total = total_seconds(estimates)
    return sum(e.seconds for e in estimates if e.bound == "memory") / total if total else 0.0


def roof(profile: Profile, intensities: list[float], points: int = 50) -> tuple[list[float], list[float]]:
    """The roofline (attainable FLOP/s against intensity) over the given intensities' range."""
    lo, hi = min(intensities) / 2, max(intensities) * 2
    xs = [lo * (hi / lo) ** (i / points) for i in range(points + 1)]
    return xs, [attainable(profile, x) for x in xs]


def attainable(profile: Profile, intensity: float) -> float:
    return min(profile.peak_flops, intensity * profile.bandwidth)


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    def ranks(values):
        order = sorted(range(len(values)), key=values.__getitem__)
        r = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    rx, ry = ranks(xs), ranks(ys)
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    sy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (sx * sy) if sx and sy else float("nan")


@dataclass
class Latency:
    rendered_as: ClassVar[str] = "latency"      # its formats in cnncost.render
    report: Report
    profile: Profile
    rows: list[dict]          # per layer: estimate fields + measured_seconds
    rho: float                # Spearman over layers with work to do
    predicted_seconds: float
    measured_seconds: float   # median forward pass
    engine: str = "numpy"     # what measured: our executor or onnxruntime's profiler
    optimized_seconds: float | None = None   # onnxruntime with graph optimisations on

    def to_dict(self) -> dict:
        return {"name": self.report.name, "engine": self.engine, "profile": asdict(self.profile),
                "spearman_rho": self.rho, "predicted_seconds": self.predicted_seconds,
                "measured_seconds": self.measured_seconds, "optimized_seconds": self.optimized_seconds,
                "layers": self.rows}


def latency(source, profile: Profile, *, repeat: int = 5, batch: int | None = None, overrides=None,
            limits=None, max_memory=None, engine: str | None = None) -> Latency:
    """Predicted (roofline) vs measured time per layer, measured by our executor or, with
    engine="onnxruntime", by onnxruntime's profiler (graph optimisations off, so every
    layer is its own node; the optimised forward is measured beside it)."""
    from cnncost.spec.limits import DEFAULT
    from cnncost.runtime.verify import verify

    if engine == "onnxruntime":
        import numpy as np

        from cnncost.runtime import executor
        from cnncost.core.analysis import analyze
        from cnncost.runtime import onnxruntime_engine

        report = analyze(source.spec, batch=batch, overrides=overrides, limits=limits or DEFAULT)
        graph, batch = report.graph, report.batch
        executor.guard_memory(graph, batch, max_memory)
        weights = executor.init_weights(graph, 0)
        x = executor.random_inputs(graph, batch, np.random.default_rng(1))
        measured_by = onnxruntime_engine.profile_layers(graph, weights, x, repeat=repeat)
        measured = [measured_by.layer_seconds[n.name] for n in graph.layers]
        forward, optimized = measured_by.forward_seconds, measured_by.optimized_seconds
    elif engine in (None, "numpy"):
        v = verify(source, batch=batch, overrides=overrides, repeat=repeat, limits=limits or DEFAULT,
                   max_memory=max_memory)
        report, measured, forward, optimized = v.report, v.layer_seconds(), v.forward_seconds_median, None
    else:
        raise CnnCostError(f"unknown engine '{engine}' (known: numpy, onnxruntime)")
    est = estimate(report, profile)
    rows = [dict(asdict(e), measured_seconds=m, measured_over_predicted=m / e.seconds if e.seconds else None)
            for e, m in zip(est, measured)]
    work = [r for r in rows if r["bound"] != "-"]
    rho = spearman([r["seconds"] for r in work], [r["measured_seconds"] for r in work])
    return Latency(report, profile, rows, rho, total_seconds(est), forward,
                   engine or "numpy", optimized)
