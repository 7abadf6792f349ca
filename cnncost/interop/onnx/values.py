"""What the ONNX import knows of each value of a graph: a tensor that a layer makes (and
how ONNX holds it), a constant, or the output of a refused node."""
from __future__ import annotations

from dataclasses import dataclass, field

from cnncost.interop.refusals import Refused


@dataclass
class Held:
    """A tensor a layer makes. shape: ours, (H, W, C) or (C,). layout: how ONNX holds it:
    nchw | nhwc | vec | grouped (N, g, C/g, H, W) | shuffled (N, C/g, g, H, W) |
    gn (N, G, CHW/G) | gnorm (the same, normalised) | unshuffle6 / unshuffle_t (pixel
    unshuffle's 6-D views) | stack: (L, H, W, C) ours, L maps in NCHW whose N folds the
    batch (L x C x H x W, a model read at batch 1). ncx: a 1-D or 3-D map, ours (T, C) or
    (D, H, W, C), ONNX's (N, C, T) or (N, C, D, H, W). seq_axes: an output of an LSTM, GRU or RNN
    node, ours the layer's (T, dirs*h) or (dirs*h,), ONNX's axes named in extra["axes"]
    (onnx/sequences); seq_states: a stack's h_n, every layer's Y_h concatenated (onnx/sequences).
    tnc: the model's time-first input (T, N, C), ours (T, C), read only as a recurrent X.
    chw: a vector flattened from an NCHW map: that map's (C, H, W)."""
    layer: str
    shape: tuple
    layout: str = "nchw"
    chw: tuple | None = None
    extra: dict = field(default_factory=dict)


class Const:
    """A constant: an initializer (decoded only when its values are needed) or a folded value."""

    def __init__(self, array=None, tensor=None, source=None, stored=None):
        self._array, self.tensor, self.source = array, tensor, source
        self.stored = stored      # the dtype the file keeps it in, when not float32 (a QDQ file's int8 weight)

    @property
    def dims(self):
        return tuple(self.tensor.dims) if self._array is None else tuple(self._array.shape)

    @property
    def value(self):
        if self._array is None:
            self._array = self.tensor.value()
        return self._array

    def file_dtype(self) -> str | None:
        """The integer or half dtype an initializer holds (int8, uint8, int16, int32, float16),
        for a DequantizeLinear of it; None for float32 and for folded values."""
        from cnncost.interop.onnx.proto import DTYPES

        if self.tensor is None:
            return None
        name = DTYPES.get(self.tensor.data_type)
        return name if name in ("int8", "uint8", "int32", "int16", "float16") else None


TIME_FIRST = ("it reads the model's time-first input (T, N, C), which cnncost reads only as the X of an LSTM, "
              "GRU or RNN (layout 0)")
UNKNOWN = object()      # the output of a refused node: its consumers are not reported again


def slice_bounds(start: int, end: int, step: int, size: int) -> tuple[int, int, int]:
    """(start, stop, count) of an ONNX Slice along an axis of `size`, as its spec reads them:
    a negative start or end has the size added; then, stepping forwards, both are clamped to
    [0, size]; backwards, the start to [0, size - 1] and the end to [-1, size - 1] (-1: past
    position 0). The positions are Python's range(start, stop, step)."""
    if step == 0:
        raise Refused("a slice of step 0")
    start, end = start + size if start < 0 else start, end + size if end < 0 else end
    lo, hi = (0, size) if step > 0 else (-1, size - 1)
    start, end = max(0, min(hi, start)), max(lo, min(hi, end))
    return start, end, len(range(start, end, step))


def slice_cuts(starts, ends, axes, steps, dims) -> list[tuple[int, int, int, int]]:
    """(axis, start, stop, step) of every axis an ONNX Slice really cuts (slice_bounds), in
    its order; an empty cut is refused (a network does not take nothing)."""
    cuts = []
    for s, e, ax, st in zip(starts, ends, axes, steps):
        ax %= len(dims)
        size = dims[ax]
        s, e, count = slice_bounds(s, e, st, size)
        if (s, e, st) != (0, size, 1):
            if not count:
                raise Refused(f"an empty slice {s}..{e} (step {st}) of axis {ax}")
            cuts.append((ax, s, e, st))
    return cuts
