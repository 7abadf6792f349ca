"""Each layer the TFLite reader makes, held to the file before its weights are read: its
output shape, by our kind's own rule from its inputs' shapes as the file gives them, must
be the shape the file gives its output tensor, and each weight must hold as many values
as the layer needs. Layer by layer from the input, so the spec the reader writes derives
the file's own shapes everywhere, and the weights `run` and `verify` read are the ones its
layers take (a file whose tensors disagree, as a conv reading 8 channels where the
operator before makes 3, is refused here, not counted as something else)."""
from __future__ import annotations

import math

from cnncost.interop.tflite.file import Damaged
from cnncost.layers import lookup
from cnncost.spec import expr


def checked_shape(kind_name: str, args: dict, in_shapes: list[tuple], weights: dict[str, int],
                  file_shape: tuple | None) -> tuple:
    """The layer's output shape (without the batch); `weights`: name -> values the file
    stores; `file_shape`: the file's for the output (None: a step that makes no tensor)."""
    kind, fixed = lookup(kind_name)
    a = kind.normalize({**fixed, **args}, lambda text: expr.evaluate(text, {}))
    ins = [tuple(s) for s in in_shapes]
    out = tuple(kind.output_shape(a, ins))
    if file_shape is not None and out != tuple(file_shape):
        raise Damaged(f"its output is {_shown(file_shape)} in the file; a {kind_name} of "
                      f"{', '.join(_shown(s) for s in in_shapes)} makes {_shown(out)}")
    for name, want in kind.weight_shapes(a, ins).items():
        if name in weights and math.prod(want) != weights[name]:
            raise Damaged(f"its {name} holds {weights[name]:,} values; a {kind_name} of "
                          f"{', '.join(_shown(s) for s in in_shapes)} takes {_shown(want)}")
    return out


def _shown(shape) -> str:
    return "x".join(map(str, shape)) or "a scalar"
