"""--input-shape as text, for every format that takes one (ONNX N x C x H x W, Keras and
TFLite N x H x W x C): one parser, one message."""
from __future__ import annotations

from cnncost.errors import SpecError


def parse_input_shape(text: str) -> tuple:
    """'1x3x224x224' -> (1, 3, 224, 224); 'image=1x3x224x224,mask=1x1x224x224' (one per
    input of a model of several) -> (('image', (1, 3, 224, 224)), ('mask', ...)); one clear
    error otherwise."""
    if "=" in text:
        pairs = []
        for part in text.split(","):
            name, sep, dims = part.partition("=")
            if not sep or not name.strip():
                raise SpecError(f"bad --input-shape '{text}': expected NAME=NxCxHxW for each input, "
                                "separated by commas")
            pairs.append((name.strip(), parse_input_shape(dims.strip())))
        if len({n for n, _ in pairs}) != len(pairs):
            raise SpecError(f"bad --input-shape '{text}': an input is named twice")
        return tuple(pairs)
    try:
        dims = tuple(int(d) for d in text.lower().replace("*", "x").split("x"))
    except ValueError:
        dims = ()
    if not 2 <= len(dims) <= 9 or min(dims) < 1 or max(dims) > 2 ** 31 - 1:
        raise SpecError(f"bad --input-shape '{text}': expected NxCxHxW (or NxC, or the batch and 1 to 8 "
                        "sizes of a tensor) of positive sizes, e.g. 1x3x224x224; NAME=... for each of several inputs")
    return dims
