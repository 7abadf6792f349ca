"""Keras' spatial layers of every rank onto cnncost's kinds: ZeroPadding, Cropping and
UpSampling 1-D/2-D/3-D, and Resizing (mappers registered in layers' `MAPPERS`; the
reader imports this module so that they are there)."""
from __future__ import annotations

from cnncost.interop.keras.emit import Emit
from cnncost.interop.keras.layers import MAPPERS, _axes_n, _channels_last
from cnncost.interop.refusals import Refused


def _side_pairs(v, rank: int, what: str) -> list[int]:
    """Keras' padding or cropping of a rank-`rank` layer -> [before, after] per axis, flat:
    one integer (every side), one per axis (both sides), or one (before, after) pair per
    axis; a 1-D layer's two integers are its (before, after)."""
    if isinstance(v, int):
        return [v] * (2 * rank)
    if isinstance(v, list) and rank == 1 and len(v) == 2 and all(isinstance(x, int) for x in v):
        return list(v)
    if isinstance(v, list) and len(v) == rank and all(isinstance(x, int) for x in v):
        return [x for x in v for _ in range(2)]
    if isinstance(v, list) and len(v) == rank and all(
            isinstance(x, list) and len(x) == 2 and all(isinstance(y, int) for y in x) for x in v):
        return [y for x in v for y in x]
    raise Refused(f"{what} {v!r}")


def _zero_padding(rank: int):
    def zero_padding(e: Emit):
        _channels_last(e)
        e.one_input()
        e.layer("zero_pad", padding=_side_pairs(e.get("padding", 1), rank, "padding"))
    return zero_padding


def _cropping(rank: int):
    def cropping(e: Emit):
        """One slice per cropped axis in a group, each reading the group's input size."""
        _channels_last(e)
        e.one_input()
        sides = _side_pairs(e.get("cropping", {1: [1, 1], 2: 0, 3: 1}[rank]), rank, "cropping")
        names = {1: ["steps"], 2: ["rows", "cols"], 3: ["depth", "rows", "cols"]}[rank]
        parts = [{"name": names[i], "kind": "slice", "axis": i + 1, "start": sides[2 * i],
                  "stop": f"in_shape[{i}] - {sides[2 * i + 1]}"} for i in range(rank)
                 if sides[2 * i] or sides[2 * i + 1]]
        e.layers.append({"name": e.name, "inputs": e.inputs[0],
                         "layers": parts or [{"name": names[0], "kind": "identity", "note": "no cropping"}],
                         **({} if e.trainable else {"trainable": False})})
        e.last = e.name
    return cropping


def _upsampling(rank: int):
    def upsampling(e: Emit):
        """UpSampling1D/3D repeat each position `size` times (nearest at an integer scale);
        UpSampling2D also interpolates bilinearly, as tf.image.resize."""
        _channels_last(e)
        e.one_input()
        mode = e.get("interpolation", "nearest")
        e.need(mode in ("nearest", "bilinear"), f"interpolation '{mode}'")
        scale = _axes_n(e.get("size", 2), rank)
        e.layer("upsample", mode=mode, scale=scale, **({"coordinates": "tensorflow"} if rank == 2 else {}))
    return upsampling


for _rank in (1, 2, 3):
    MAPPERS.on(f"ZeroPadding{_rank}D")(_zero_padding(_rank))
    MAPPERS.on(f"Cropping{_rank}D")(_cropping(_rank))
    MAPPERS.on(f"UpSampling{_rank}D")(_upsampling(_rank))


@MAPPERS.on("Resizing")
def resizing(e: Emit):
    e.one_input()
    mode = e.get("interpolation", "bilinear")
    e.need(mode in ("nearest", "bilinear"), f"interpolation '{mode}'")
    e.need(not e.get("crop_to_aspect_ratio", False) and not e.get("pad_to_aspect_ratio", False),
           "crop_to_aspect_ratio / pad_to_aspect_ratio")
    e.need(not e.get("antialias", False), "antialias=True")
    e.layer("upsample", mode=mode, size=[e.get("height"), e.get("width")], coordinates="tensorflow")
