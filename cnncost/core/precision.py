"""The dtypes a layer stores and computes in, for models that keep their own (an int8
TFLite file): `precision: {dtype: int8, weights: {kernel: int8, bias: int32}, scale: s,
zero_point: z}` on a layer. `dtype` is its output's storage (and what it computes in);
`weights` the storage of each weight (default: dtype); `scale` and `zero_point` the
output's quantization, which `run` applies (quantize, round half away from zero as
TFLite does, saturate, dequantize) so that a quantized network runs as its integers would.
Counting is untouched; bytes follow each tensor's own dtype."""
from __future__ import annotations

from cnncost.errors import SpecError
from cnncost.records import FrozenStruct

STORAGE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "int64": 8,
                 "float64": 8}
INTEGER_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


class Precision(FrozenStruct):
    __slots__ = ("dtype", "weights", "scale", "zero_point", "rounding", "step")

    def __init__(self, dtype: str, weights: dict | None = None, scale: float | None = None, zero_point: int = 0,
                 rounding: str = "real", step: float | None = None):
        # rounding "real": round y / scale half away from zero, then add the zero point; "raw":
        # round after adding it (TFLite's int8 average pool rounds the raw integers' mean);
        # "even": half to even (ONNX's QuantizeLinear). step: a dequantized value's
        # quantization step (ONNX's DequantizeLinear)
        self._init(dtype=dtype, weights={} if weights is None else weights, scale=scale,
                   zero_point=zero_point, rounding=rounding, step=step)

    @property
    def quantum(self) -> float | None:
        """The step between the values this tensor can hold, when it holds integers' values."""
        return self.scale if self.scale is not None else self.step

    def weight_dtype(self, name: str) -> str:
        return self.weights.get(name, self.dtype)

    def fake_quant(self, np, y):
        """y as the integers of the output would hold it, in real units."""
        lo, hi = INTEGER_RANGE[self.dtype]
        if self.rounding == "even":
            # ONNX's QuantizeLinear as onnxruntime computes it (MLAS): x / scale divided in
            # float32, then rounded half to even. Divided in float64, a value whose float32
            # quotient lands on a half rounds the other way (19 of MobileNetV3's 150,528
            # input values, one step each, and the flips compound through a QDQ network)
            s = np.float32(self.scale)
            q = np.clip(np.rint(y.astype(np.float32) / s) + self.zero_point, lo, hi)
            return ((q - self.zero_point).astype(np.float32) * s).astype(y.dtype)
        v = y.astype(np.float64) / self.scale + (self.zero_point if self.rounding == "raw" else 0)
        v = np.round(v * 4096) / 4096          # float noise off the halves an integer mean lands on
        if self.rounding == "even":
            q = np.rint(v) + self.zero_point
        else:
            q = np.floor(np.abs(v) + 0.5) * np.sign(v) + (0 if self.rounding == "raw" else self.zero_point)
        q = np.clip(q, lo, hi)
        return ((q - self.zero_point) * self.scale).astype(y.dtype)


def only_on_layers(entry) -> None:
    """`precision` belongs to a layer of a kind: on a block or a group it would say nothing."""
    if "precision" in entry and "kind" not in entry:
        raise SpecError("`precision` applies to a layer of a kind, not to a block or a group",
                        loc=entry.loc_of("precision"))


def of(entry, layer: str) -> Precision | None:
    """A spec layer's `precision:`, or None when it has none."""
    return parse(entry["precision"], entry.loc_of("precision"), layer) if "precision" in entry else None


def parse(value, where, layer: str) -> Precision:
    def bad(why):
        raise SpecError(f"`precision` {why}", loc=where, layer=layer)

    if not isinstance(value, dict) or not isinstance(value.get("dtype"), str):
        bad("must be a mapping with a `dtype` (e.g. {dtype: int8, weights: {kernel: int8, bias: int32}})")
    unknown = set(value) - {"dtype", "weights", "scale", "zero_point", "rounding", "step"}
    if unknown:
        bad(f"has unknown keys {sorted(unknown)} (known: dtype, weights, scale, zero_point, rounding, step)")
    step = value.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0):
        bad(f"step must be a positive number, received {step!r}")
    if value.get("rounding", "real") not in ("real", "raw", "even"):
        bad(f"rounding must be real, raw or even, received {value.get('rounding')!r}")
    weights = value.get("weights") or {}
    for dt in [value["dtype"], *(weights.values() if isinstance(weights, dict) else [None])]:
        if dt not in STORAGE_BYTES:
            bad(f"names dtype {dt!r} (known: {', '.join(STORAGE_BYTES)})")
    scale = value.get("scale")
    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            bad(f"scale must be a positive number, received {scale!r}")
        if value["dtype"] not in INTEGER_RANGE:
            bad(f"gives a scale for dtype {value['dtype']}, which is not an integer type")
    zp = value.get("zero_point", 0)
    if isinstance(zp, bool) or not isinstance(zp, int):
        bad(f"zero_point must be an integer, received {zp!r}")
    return Precision(value["dtype"], dict(weights), float(scale) if scale is not None else None, zp,
                     value.get("rounding", "real"), float(step) if step is not None else None)
