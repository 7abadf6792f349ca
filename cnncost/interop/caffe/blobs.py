"""What the Caffe reader hands its layer handlers: a blob as one of our layers in one of
three layouts (`Value`), and where a weight of ours is in the .caffemodel (`Want`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Value:
    layer: str                 # our layer (or input) that makes it
    shape: tuple               # ours, per example
    layout: str                # "map", "plain" or "flat" (interop/caffe/reader.py says what each is)
    chw: tuple | None = None   # a "flat" value: the Caffe (C, H, W) it was flattened from

    @property
    def caffe(self) -> tuple:
        """Caffe's shape, per example."""
        if self.layout == "map":
            h, w, c = self.shape
            return (c, h, w)
        return self.shape


@dataclass
class Want:
    """A weight of ours from the .caffemodel: blobs `blobs` of Caffe layer `layer` (each of
    the Caffe shape in `shapes`) made into ours by `make`."""
    layer: str
    blobs: tuple
    shapes: tuple
    make: Callable = field(default=lambda a: a)


def shown(shape) -> str:
    return "x".join(map(str, shape)) or "a scalar"
