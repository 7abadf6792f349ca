"""The results of every command of `cnncost.api` but the report: frozen, with `to_dict()`.
Apart from results/report.py so that a report (what start-up is measured on) does not build
a dozen classes it never returns; `cnncost.api` re-exports each of them by name."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from cnncost.analyses import check as _check
    from cnncost.analyses import compare as _compare
    from cnncost.analyses import roofline as _roofline
    from cnncost.analyses import sweep as _sweep
    from cnncost.analyses import whatif as _whatif
    from cnncost.core.analysis import Report

    Profile = _roofline.Profile
else:
    from cnncost.lazy import OnUse

    _check, _compare, _roofline, _sweep, _whatif = (
        OnUse(f"cnncost.analyses.{m}") for m in ("check", "compare", "roofline", "sweep", "whatif"))


# ---- what a report carries when asked (a --rewrite, a --profile) -------------------------
@dataclass(frozen=True)
class Savings:
    """What a --rewrite saves, per rewritten layer and for the whole network."""

    rewrite: str
    original: Report
    rows: tuple[_whatif.Saving, ...]

    def to_dict(self, rewritten: Report) -> dict[str, Any]:
        return {"rewrite": self.rewrite, "original_totals": self.original.totals,
                "rewritten_totals": rewritten.totals,
                "network_ratios": _whatif.network_ratios(self.original, rewritten),
                "layers": [asdict(s) for s in self.rows]}


@dataclass(frozen=True)
class Roofline:
    """Per-layer roofline estimates of a report on a device profile."""

    profile: Profile
    estimates: tuple[_roofline.Estimate, ...]

    @property
    def total_seconds(self) -> float:
        return _roofline.total_seconds(list(self.estimates))

    @property
    def memory_share(self) -> float:
        return _roofline.memory_share(list(self.estimates))

    def grouped(self, depth: int | None) -> list[_roofline.Estimate]:
        """The estimates folded as the report's rows are at `depth`."""
        return _roofline.grouped(list(self.estimates), depth)

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        return {"profile": asdict(self.profile), "total_seconds": self.total_seconds,
                "memory_bound_share": self.memory_share, "layers": [asdict(e) for e in self.grouped(depth)]}



@dataclass(frozen=True)
class CompareResult:
    rendered_as: ClassVar[str] = "compare"
    columns: tuple[_compare.Column, ...]

    def to_dict(self) -> dict[str, Any]:
        return dict(_compare.to_dict(list(self.columns)))


@dataclass(frozen=True)
class SweepResult:
    rendered_as: ClassVar[str] = "sweep"
    grid: _sweep.Grid
    metric: str

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, **_sweep.to_dict(self.grid)}


@dataclass(frozen=True)
class ExplainResult:
    rendered_as: ClassVar[str] = "explain"
    lines: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"lines": list(self.lines)}


@dataclass(frozen=True)
class VerifyResult:
    """The executor's shapes and multiplications against the analysis (and, with an
    engine, every layer's values against the engine's)."""

    rendered_as: ClassVar[str] = "verify"
    verification: Any          # runtime.verify.Verification

    @property
    def ok(self) -> bool:
        return bool(self.verification.ok)

    def failures(self) -> list[str]:
        return list(self.verification.failures())

    def to_dict(self) -> dict[str, Any]:
        return dict(self.verification.to_dict())


@dataclass(frozen=True)
class RunResult:
    """A real input through a network: the output, its summary, and per-layer checks."""

    rendered_as: ClassVar[str] = "run"
    output: Any                    # numpy array, batch first (the first output)
    seconds: float
    weights_random: bool
    seed: int
    minimum: float
    maximum: float
    mean: float
    top5: tuple[tuple[int, float], ...]   # of example 0, when the output is a vector
    failures: tuple[str, ...]
    input_layout: str = "NHWC"     # how the .npy was read: NHWC, or NCHW for a model whose input is
    outputs: dict[str, Any] = field(default_factory=dict)   # every output by name (several: `run --output F.npz`)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"output_shape": list(self.output.shape), "seconds": self.seconds,
                "weights": f"random (seed {self.seed})" if self.weights_random else "file",
                "input_layout": self.input_layout,
                "min": self.minimum, "max": self.maximum, "mean": self.mean,
                "top5": [list(t) for t in self.top5], "ok": self.ok, "failures": list(self.failures),
                **({"outputs": {k: list(v.shape) for k, v in self.outputs.items()}} if len(self.outputs) > 1 else {})}


@dataclass(frozen=True)
class CheckResult:
    rendered_as: ClassVar[str] = "check"
    results: tuple[_check.ArchResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 all hold, 1 a check failed, 2 a spec is wrong."""
        if any(r.error for r in self.results):
            return 2
        return 0 if self.ok else 1

    def junit_xml(self) -> str:
        return _check.junit_xml(list(self.results))

    def to_dict(self) -> dict[str, Any]:
        return dict(_check.results_dict(list(self.results)))


@dataclass(frozen=True)
class CalibrateResult:
    rendered_as: ClassVar[str] = "calibrate"
    profile: Profile

    def yaml(self) -> str:
        return _roofline.profile_yaml(self.profile)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self.profile)


@dataclass(frozen=True)
class ExportResult:
    rendered_as: ClassVar[str] = "export"
    path: str
    bytes: int
    nodes: int
    initializers: int
    opset: int
    input_shape: str
    output_shape: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ImportResult:
    rendered_as: ClassVar[str] = "import"
    spec_path: str
    weights_path: str | None
    layers: int
    weight_arrays: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KindInfo:
    name: str
    family: str
    doc: str
    args: tuple[tuple[str, str, str, str], ...]    # (name, type, default, doc)
    flops: str
    mults: str
    saves: str = ""      # what its backward pass keeps (training memory)


@dataclass(frozen=True)
class KindsResult:
    rendered_as: ClassVar[str] = "kinds"
    kinds: tuple[KindInfo, ...]
    aliases: tuple[tuple[str, str, str], ...]       # (alias, kind, fixed arguments)

    def to_dict(self) -> dict[str, Any]:
        return {"kinds": [{**asdict(k), "args": [dict(zip(("name", "type", "default", "doc"), a))
                                                  for a in k.args]} for k in self.kinds],
                "aliases": [dict(zip(("alias", "kind", "fixed"), a)) for a in self.aliases]}


@dataclass(frozen=True)
class BundledResult:
    rendered_as: ClassVar[str] = "bundled"
    rows: tuple[tuple[str, str], ...]        # (name, source)
    variables: tuple[tuple[tuple[str, str], ...], ...] = ()   # per row: (variable, default) for --set

    def to_dict(self) -> dict[str, Any]:
        return {"architectures": [{"name": n, "source": s, "vars": dict(v)}
                                  for (n, s), v in zip(self.rows, self.variables or [()] * len(self.rows))]}
