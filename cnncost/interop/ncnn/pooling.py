"""ncnn's Pooling, Pooling1D and Pooling3D (src/layer/pooling.cpp) onto our pools of 2-D,
1-D and 3-D maps. 0=pooling_type (0 max, 1 avg), 1/11/21 kernel (w, h, d), 2/12/22 stride,
3/14 13/15 23/16 pads (left, right; top, bottom; front, behind), 4=global_pooling,
5=pad_mode, 6=avgpool_count_include_pad, 7=adaptive_pooling with 8/18/28 its sizes.

pad_mode 0, ncnn's "full padding", pads the end of each axis by what the last window
lacks (ceil rounding, without PyTorch's rule that a window starts inside the input): our
ceil_mode where the two agree; an average that counts that tail (6=1) divides by the
whole kernel, so the tail is a zero_pad layer of its own before it. pad_mode 1 pads as
given; 2 and 3 (SAME_UPPER and SAME_LOWER) pad to ceil(n / stride), the larger half after
(before for LOWER): explicit padding from the input's size; an average over it counts
SAME's zeros whatever 6= says (ncnn leaves out only the pads its keys give)."""
from __future__ import annotations

from cnncost.errors import ModelFileError
from cnncost.interop.ncnn.table import LAYERS
from cnncost.interop.ncnn.windows import MAX_WINDOW
from cnncost.interop.refusals import Refused


def _axis(n, k, s, lo, hi, mode):
    """(before, after, tail) of one axis: the pads and full padding's extra tail."""
    if mode == 0:
        rest = (n + lo + hi - k) % s
        return lo, hi, (s - rest) if rest else 0
    if mode == 1:
        return lo, hi, 0
    total = max(k + (n - 1) // s * s - n, 0)
    small, big = total // 2, total - total // 2
    return (small, big, 0) if mode == 2 else (big, small, 0)


POOLS = {"Pooling": 2, "Pooling1D": 1, "Pooling3D": 3}
# ncnn's keys per axis, ours in order (d, h, w): kernel, stride, pad before, pad after, adaptive size
AXIS_KEYS = {"w": (1, 2, 3, 14, 8), "h": (11, 12, 13, 15, 18), "d": (21, 22, 23, 16, 28)}
FALLBACK = {11: 1, 21: 1, 12: 2, 22: 2, 13: 3, 23: 3, 14: 3, 15: 13, 16: 23, 18: 8, 28: 8}
AXES = {1: "w", 2: "hw", 3: "dhw"}


def _get(p, key):
    return p.int(key, _get(p, FALLBACK[key]) if key in FALLBACK else {2: 1}.get(key, 0))


@LAYERS.on(*POOLS)
def pooling(r, layer):
    r.one_to_one(layer)
    p = layer.params
    kind = p.int(0)
    if kind not in (0, 1):
        raise ModelFileError(f"pooling_type {kind} (0: max, 1: average)")
    d = POOLS[layer.type]
    x = r.as_map(r.x(layer))
    if len(x.shape) != d + 1:
        raise ModelFileError(f"a {layer.type} of a blob of {len(x.shape)} axes")
    keys = [AXIS_KEYS[a] for a in AXES[d]]
    if p.int(4):
        r.put(layer, r.emit(layer, ("global_max_pool", "global_avg_pool")[kind], [x], layout="plain"))
        return
    if p.int(7):
        out = [_get(p, k[4]) for k in keys]
        if min(out) < 1:
            raise ModelFileError(f"adaptive output {out}")
        if kind == 0 and set(out) != {1}:
            raise Refused("adaptive max pooling to more than one value a channel (cnncost has adaptive_avg_pool)")
        held = (r.emit(layer, "global_max_pool", [x], keepdims=True) if kind == 0 else
                r.emit(layer, "adaptive_avg_pool", [x], output_size=out))
        r.put(layer, held)
        return
    kernel, stride = [_get(p, k[0]) for k in keys], [_get(p, k[1]) for k in keys]
    pads = [(_get(p, k[2]), _get(p, k[3])) for k in keys]
    mode = p.int(5)
    for v in (*kernel, *stride):
        if not 1 <= v <= MAX_WINDOW:
            raise ModelFileError(f"kernel {kernel} and stride {stride} (1 to {MAX_WINDOW:,})")
    if mode not in (0, 1, 2, 3) or min(min(pair) for pair in pads) < 0:
        raise ModelFileError(f"pad_mode {mode} with pads {pads}")
    # ncnn's Pooling3D splits SAME_LOWER's depth padding as SAME_UPPER's
    modes = [2 if mode == 3 and d == 3 and i == 0 else mode for i in range(d)]
    sides = [_axis(n, k, s, lo, hi, m) for n, k, s, (lo, hi), m in zip(x.shape[:-1], kernel, stride, pads, modes)]
    padding = [v for lo, hi, _ in sides for v in (lo, hi)]
    tails = [t for _, _, t in sides]
    full = [(n + lo + hi + t - k) // s + 1 for n, k, s, (lo, hi, t) in zip(x.shape[:-1], kernel, stride, sides)]
    include = bool(p.int(6))
    if mode in (2, 3) and kind == 1 and not include:
        # ncnn leaves out of the count only the pads its keys give, not SAME's: SAME's zeros
        # are counted whatever 6= says
        if any(lo or hi for lo, hi in pads):
            raise Refused("SAME padding with pads of its own as well (ncnn counts them apart)")
        include = True
    args = {"kernel": kernel, "stride": stride, "padding": padding}
    if kind == 1:
        args["count_include_pad"] = include
    if any(tails) and kind == 1 and include:
        # ncnn divides every window by the whole kernel, the tail's zeros counted
        x = r.emit(layer, "zero_pad", [x], suffix=".tail", padding=[v for t in tails for v in (0, t)])
    elif any(tails):
        args["ceil_mode"] = True
    held = r.emit(layer, ("max_pool", "avg_pool")[kind], [x], **args)
    if list(held.shape[:-1]) != full:
        raise Refused(f"ncnn's full padding makes {'x'.join(map(str, full))} here, where a window starts past the "
                      f"input (PyTorch's ceil rule makes {'x'.join(map(str, held.shape[:-1]))})")
    r.put(layer, held)
