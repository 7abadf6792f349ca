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


def resolve(in_hw, kernel, stride, dilation, padding, ceil_mode=False):
    """Return ((out_h, out_w), (top, bottom, left, right)) for a 2-D window op."""
    (h, w), (kh, kw), (sh, sw), (dh, dw) = in_hw, kernel, stride, dilation
    if padding == "same":
        pads = same_padding(h, kh, sh, dh) + same_padding(w, kw, sw, dw)
    else:
        pads = tuple(padding)
    oh = window_out(h, kh, sh, dh, pads[0], pads[1], ceil_mode, "height")
    ow = window_out(w, kw, sw, dw, pads[2], pads[3], ceil_mode, "width")
    return (oh, ow), pads


def describe(size, k, s, d, lo, hi, ceil_mode=False) -> str:
    """The output-size formula of one axis with its values substituted."""
    span = f"{d} x ({k} - 1) + 1" if d > 1 else f"{k}"
    rnd = "ceil" if ceil_mode else "floor"
    out = window_out(size, k, s, d, lo, hi, ceil_mode, "axis")
    return f"{rnd}(({size} + {lo} + {hi} - {span}) / {s}) + 1 = {out}"
