"""A blob as the ncnn reader holds it: one of our layers, its shape, and whether it is a
map (channels last) or plain (ncnn's own order): interop/ncnn/reader.py."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Held:
    """A blob as one of our layers: its shape (ours) and whether it is a map (channels last)."""
    layer: str
    shape: tuple
    layout: str           # "map" | "plain"

    @property
    def dims(self) -> tuple:
        """ncnn's shape in torch's order, (c, h, w): a map's channels first."""
        if self.layout == "map" and len(self.shape) > 1:
            return (self.shape[-1], *self.shape[:-1])
        return self.shape
