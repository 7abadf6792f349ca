"""Shape arithmetic a TFLite file leaves to the runtime, folded on import: SHAPE of an
activation, and STRIDED_SLICE, PACK, CONCATENATION, RESHAPE and CAST of small integer
constants (a transposed conv's output shape is computed so). In Python, on constants of at
most MAX_SMALL values, the result as well: counting imports no numpy, and a file cannot make
a fold allocate more than that whatever it says (a PACK of one constant named a million
times is not folded, and its reader refuses it as an operator it cannot read)."""
from __future__ import annotations

import math

from cnncost.interop.tflite.file import MAX_SMALL, Damaged, OpInfo, TensorInfo

FOLDED = ("SHAPE", "STRIDED_SLICE", "PACK", "CAST", "RESHAPE", "CONCATENATION")


def fold(r, op: OpInfo) -> bool:
    """Shape arithmetic on small integer constants (a transposed conv's output shape from
    SHAPE, STRIDED_SLICE and PACK): computed now, in Python, a constant for what reads
    it. Only constants of at most MAX_SMALL values fold, the result as well."""
    if op.code not in FOLDED:
        return False
    out = r.t[op.outputs[0]]
    if out.dtype not in ("int32", "int64") or math.prod(out.shape) > MAX_SMALL:
        return False
    if op.code == "SHAPE":
        if op.inputs[0] not in r.values:
            return False
        value, shape = list(r.t[op.inputs[0]].shape), [len(r.t[op.inputs[0]].shape)]
    else:
        consts = [r.constant(i) for i in op.inputs if i >= 0]
        if not all(c is not None and c.dtype in ("int32", "int64") and math.prod(c.shape) <= MAX_SMALL
                   for c in consts) or sum(math.prod(c.shape) for c in consts) > MAX_SMALL:
            return False
        arrays = [(c.numbers(), list(c.shape)) for c in consts]
        value, shape = _folded(r, op, arrays, out)
    if math.prod(shape) != len(value):
        raise Damaged(f"makes {len(value)} values for its output of shape {shape}")
    r.consts[out.index] = TensorInfo(out.index, out.name, tuple(shape), out.dtype, 0, folded=value)
    return True


def _folded(r, op, arrays, out) -> tuple[list, list]:
    """(flat values, shape) of a folded STRIDED_SLICE, PACK, CONCATENATION, RESHAPE or CAST."""
    first, first_shape = arrays[0]
    if op.code == "STRIDED_SLICE":
        if len(first_shape) != 1 or any(len(a[0]) != 1 for a in arrays[1:4]):
            raise Damaged("folds a slice of anything but a vector by one begin, end and stride")
        b, e, s = (int(a[0][0]) for a in arrays[1:4])
        if s == 0:
            raise Damaged("a stride of 0")
        value = first[b:e if e else None:s]
        return value, (list(out.shape) if r.opt(op, 4, "i") else [len(value)])
    if op.code == "PACK":
        if any(a[1] != first_shape for a in arrays):
            raise Damaged(f"packs values of shapes {[a[1] for a in arrays]}")
        return [v for a in arrays for v in a[0]], [len(arrays), *first_shape]
    if op.code == "CONCATENATION":
        if any(len(a[1]) != 1 for a in arrays):
            raise Damaged("folds a concatenation of anything but vectors")
        value = [v for a in arrays for v in a[0]]
        return value, [len(value)]
    return first, list(out.shape)        # RESHAPE, CAST: the values, in the output's shape
