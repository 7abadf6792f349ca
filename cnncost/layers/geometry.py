"""Sliding-window geometry shared by convolution and pooling: output size and padding.

"same" follows TensorFlow (out = ceil(in / stride), the odd extra pixel at the bottom /
right); explicit padding and ceil mode follow PyTorch.
"""
from __future__ import annotations

from cnncost.errors import ShapeError


def same_padding(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def window_out(size: int, k: int, s: int, d: int, pad_lo: int, pad_hi: int,
               ceil_mode: bool, axis: str) -> int:
    """PyTorch's rule (pooling_output_shape): floor or ceil of (padded - span) / s, plus
    one; in ceil mode a kernel may overhang the padded input, but the last window must
    start inside the input or its leading padding."""
    span = (k - 1) * d + 1
    padded = size + pad_lo + pad_hi
    if ceil_mode:
        out = (padded - span + s - 1) // s + 1     # // rounds down, also below zero
        if out > 0 and (out - 1) * s >= size + pad_lo:
            out -= 1
    else:
        out = (padded - span) // s + 1 if span <= padded else 0
    if out < 1:
        raise ShapeError(f"kernel {k} (dilated span {span}) is larger than the padded input "
                         f"{axis} {padded} (input {size}, padding {pad_lo}+{pad_hi})"
                         + (f" even in ceil mode with stride {s}" if ceil_mode else ""))
    return out


# the spatial axes of a map of each rank: a 1-D map over time (T x C), a 2-D map (H x W x C),
# a 3-D map or volume (D x H x W x C); the words name them in messages
AXES = {1: ("T",), 2: ("H", "W"), 3: ("D", "H", "W")}
AXIS_WORDS = {"T": "length", "D": "depth", "H": "height", "W": "width"}


def resolve_nd(sizes, kernel, stride, dilation, padding, ceil_mode=False):
    """Return (out sizes, pads) for a window op over len(sizes) spatial axes; pads are
    per side, axis by axis: (lo_0, hi_0, lo_1, hi_1, ...); padding is "same" or pads."""
    names = AXES[len(sizes)]
    if padding == "same":
        pads = sum((same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernel, stride, dilation)), ())
    else:
        pads = tuple(padding)
    outs = tuple(window_out(n, k, s, d, pads[2 * i], pads[2 * i + 1], ceil_mode, AXIS_WORDS[names[i]])
                 for i, (n, k, s, d) in enumerate(zip(sizes, kernel, stride, dilation)))
    return outs, pads


def resolve(in_hw, kernel, stride, dilation, padding, ceil_mode=False):
    """Return ((out_h, out_w), (top, bottom, left, right)) for a 2-D window op."""
    return resolve_nd(tuple(in_hw), kernel, stride, dilation, padding, ceil_mode)


def describe_axes(sizes, kernel, stride, dilation, pads, ceil_mode=False) -> list[str]:
    """`describe` for every spatial axis, each named (T; H, W; D, H, W): 'H_out = ...'."""
    return [f"{name}_out = {describe(n, k, s, d, pads[2 * i], pads[2 * i + 1], ceil_mode)}"
            for i, (name, n, k, s, d) in enumerate(zip(AXES[len(sizes)], sizes, kernel, stride, dilation))]


def describe(size, k, s, d, lo, hi, ceil_mode=False) -> str:
    """The output-size formula of one axis with its values substituted."""
    span = f"({d} x ({k} - 1) + 1)" if d > 1 else f"{k}"
    rnd = "ceil" if ceil_mode else "floor"
    out = window_out(size, k, s, d, lo, hi, ceil_mode, "axis")
    return f"{rnd}(({size} + {lo} + {hi} - {span}) / {s}) + 1 = {out}"


# --- window arguments of a map of any rank -------------------------------------------
# A kernel, stride or dilation is one number (the same along every spatial axis) or one
# per axis; padding is one number, one per axis or one per side. Written forms are kept
# apart by the tuple's class until the input says the rank: a number keeps today's 2-D
# normalised value ((k, k); (p, p, p, p)) so every 2-D formula reads it unchanged.

class Each(tuple):
    """Written as one number: the same value along every spatial axis."""


class AxisPair(tuple):
    """padding [a, b], held as (a, a, b, b): [h, w] per axis on a 2-D map, [before, after]
    on a 1-D map."""


class PerAxis(tuple):
    """padding [p] or [pd, ph, pw]: per axis, on both sides."""


_MAP = {1: "TxC", 2: "HxWxC", 3: "DxHxWxC"}


def map_name(d: int) -> str:
    return f"{d}-D map ({_MAP[d]})"


def written_rank(a) -> int:
    """How many spatial axes the window arguments name (0 when each was one number)."""
    return max((len(a[k]) for k in ("kernel", "stride", "dilation")
                if isinstance(a.get(k), tuple) and not isinstance(a[k], Each)), default=0)


def spatial_rank(a, shape, stack: bool) -> int:
    """The spatial rank of the map a window op reads: its `rank` argument if given (the
    conv1d / conv3d aliases), else from the input: T x C is 1-D, H x W x C 2-D, and a
    rank-4 input a D x H x W x C volume (`kernel: 3` is 3 along every axis, as PyTorch's
    Conv3d), unless `stack` (convolutions) and a window argument has two entries: then it
    is a stack of 2-D maps (L x H x W x C, EfficientViT's heads)."""
    d = a.get("rank")
    if d is None:
        d = {2: 1, 3: 2, 4: 2 if stack and written_rank(a) == 2 else 3}.get(len(shape), 2)
    if len(shape) != d + 1 and not (stack and d == 2 and len(shape) == 4):
        raise ShapeError(f"expected a {map_name(d)} input (rank {d + 1}), received "
                 f"{'x'.join(str(n) for n in shape)}")
    return d


def per_axis(name: str, value, d: int) -> tuple:
    """A kernel, stride or dilation as one value per spatial axis of a d-D map."""
    if isinstance(value, Each):
        return (value[0],) * d
    if len(value) != d:
        words = ", ".join(AXIS_WORDS[x] for x in AXES[d])
        raise ShapeError(f"Invalid value for argument `{name}`. Expected an integer or [{words}] for a "
                         f"{map_name(d)}. Received {name}={list(value)!r}.")
    return tuple(value)


def sides(value, d: int):
    """Padding as "same" or per side, axis by axis: (lo_0, hi_0, ...), for a d-D map."""
    if value == "same":
        return "same"
    if isinstance(value, Each):
        return (value[0],) * (2 * d)
    if isinstance(value, AxisPair):
        if d == 2:
            return tuple(value)
        if d == 1:
            return value[0], value[2]
    elif isinstance(value, PerAxis):
        if len(value) == d:
            return sum(((p, p) for p in value), ())
    elif len(value) == 2 * d:
        return tuple(value)
    written = [value[0], value[2]] if isinstance(value, AxisPair) else list(value)
    raise ShapeError(f"Invalid value for argument `padding`. Expected valid, same, an integer, {d} values "
                     f"(per axis) or {2 * d} (per side) for a {map_name(d)}. Received padding={written!r}.")
