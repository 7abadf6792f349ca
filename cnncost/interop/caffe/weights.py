"""The .caffemodel: a NetParameter in binary protobuf whose layers carry their blobs (the
learned weights, and BatchNorm's statistics), read with the ONNX reader's wire decoder
(interop/onnx/proto.py) against caffe.proto's field numbers. Caffe copies weights into a
net by layer name; so does this: only the layers the deploy net asks for are decoded, each
blob's dims held to its data (4 bytes a float) before a value is read.

Field numbers: NetParameter.layer 100 (LayerParameter: name 1, blobs 7) and the old
NetParameter.layers 2 (V1LayerParameter: name 4, blobs 6); BlobProto: shape 7 (BlobShape.dim
1), data 5 (packed float), double_data 8, and the legacy 4-D num 1, channels 2, height 3,
width 4 of models saved before 2015."""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cnncost.errors import CnnCostError, ModelFileError
from cnncost.files import inside_folder, map_bounded
from cnncost.interop.onnx.proto import ProtoError, _fields, _ints, _text
from cnncost.spec.limits import DEFAULTS

MAX_MODEL_BYTES = 2 ** 31 - 1     # protobuf's limit for one message (VGG-16's is 528 MB)
MAX_BLOBS = 64                    # blobs of one layer (a convolution has 2, BatchNorm 3)
MAX_RANK = 8
MAX_UNPACKED = 1_000_000          # floats written one field each (Caffe packs them): decoded in Python


@dataclass
class Blob:
    dims: tuple
    floats: memoryview | None = None      # packed float32 data
    doubles: memoryview | None = None     # packed double_data
    listed: list | None = None            # unpacked floats

    def count(self) -> int:
        if self.floats is not None:
            return len(self.floats) // 4
        if self.doubles is not None:
            return len(self.doubles) // 8
        return len(self.listed or ())

    def array(self):
        import numpy as np

        if self.floats is not None:
            return np.frombuffer(self.floats, "<f4").reshape(self.dims)
        if self.doubles is not None:
            return np.frombuffer(self.doubles, "<f8").astype(np.float32).reshape(self.dims)
        return np.asarray(self.listed or [], np.float32).reshape(self.dims)


def weights_path(prototxt: str) -> str:
    """The .caffemodel beside a deploy net: the same folder and stem (deploy.prototxt ->
    deploy.caffemodel), as a regular file inside that folder once links are resolved."""
    folder = os.path.dirname(os.path.abspath(prototxt))
    path = os.path.join(folder, os.path.splitext(os.path.basename(prototxt))[0] + ".caffemodel")
    if not os.path.lexists(path):
        raise ModelFileError(f"{prototxt}: its weights are not beside it: running the net reads "
                             f"{os.path.basename(path)} in the same folder (Caffe's binary weights; a link "
                             "to it will do). Counting needs none; `--weights FILE.npz` gives weights of your "
                             "own, and `cnncost import` writes a spec that `verify` runs with seeded ones")
    inside_folder(folder, path, f"{prototxt}: its weights")
    return path


def read_blobs(path: str, wanted: set[str]) -> dict[str, list[Blob]]:
    """{layer name: its blobs} for each layer of `wanted` the file holds."""
    buf = map_bounded(path, MAX_MODEL_BYTES, MAX_MODEL_BYTES, "Caffe weights")
    try:
        return _layers(buf, wanted)
    except ProtoError as exc:
        why = str(exc).replace(" (not an ONNX model?)", "")
        raise ModelFileError(f"{path}: not a readable .caffemodel ({why})") from None
    except CnnCostError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except (UnicodeError, struct.error, ValueError, OverflowError) as exc:
        raise ModelFileError(f"{path}: not a readable .caffemodel ({type(exc).__name__})") from None


def _layers(buf, wanted: set[str]) -> dict[str, list[Blob]]:
    found: dict[str, list[Blob]] = {}
    kinds = set()
    for num, wire, span in _fields(buf, 0, len(buf)):
        if wire != 2 or num not in (100, 2):
            continue
        kinds.add(num)
        name_field, blob_field = (1, 7) if num == 100 else (4, 6)
        name, blobs = None, []
        for n2, w2, v2 in _fields(buf, *span):
            if n2 == name_field and w2 == 2:
                name = _text(buf, v2)
            elif n2 == blob_field and w2 == 2:
                blobs.append(v2)
        if name not in wanted:
            continue
        if name in found:
            raise ModelFileError(f"two layers are named '{name}'; Caffe's weights are matched by name")
        if len(blobs) > MAX_BLOBS:
            raise ModelFileError(f"layer '{name}' holds {len(blobs):,} blobs, more than {MAX_BLOBS}")
        found[name] = [_blob(buf, span, name, i) for i, span in enumerate(blobs)]
    if not kinds:
        raise ProtoError("no layers: not a Caffe model")
    return found


def _blob(buf, span, layer: str, index: int) -> Blob:
    shape, legacy, listed = None, {}, []
    blob = Blob(())
    for num, wire, value in _fields(buf, *span):
        if num == 7 and wire == 2:
            shape = []
            for n2, w2, v2 in _fields(buf, *value):
                if n2 == 1:
                    shape += _ints(buf, w2, v2)
                    if len(shape) > MAX_RANK:
                        raise ModelFileError(f"layer '{layer}' blob {index}: more than {MAX_RANK} dims")
        elif num in (1, 2, 3, 4) and wire == 0:
            legacy[num] = value
        elif num == 5 and wire == 2:
            blob.floats = buf[value[0]:value[1]]
        elif num == 5 and wire == 5:
            if len(listed) == MAX_UNPACKED:
                raise ModelFileError(f"layer '{layer}' blob {index}: more than {MAX_UNPACKED:,} unpacked floats")
            listed.append(struct.unpack("<f", value.to_bytes(4, "little"))[0])
        elif num == 8 and wire == 2:
            blob.doubles = buf[value[0]:value[1]]
    if listed:
        blob.listed = listed
    dims = tuple(shape) if shape is not None else tuple(legacy.get(i, 0) for i in (1, 2, 3, 4)) if legacy else ()
    if any(d < 0 or d > DEFAULTS["max_dim"] for d in dims):
        raise ModelFileError(f"layer '{layer}' blob {index}: dims {list(dims)}")
    blob.dims = dims
    need = 1
    for d in dims:
        need *= d
    held = blob.count()
    if (blob.floats is not None and len(blob.floats) % 4) or (blob.doubles is not None and len(blob.doubles) % 8):
        raise ModelFileError(f"layer '{layer}' blob {index}: its data is not a whole number of values")
    if held != need or not dims:
        raise ModelFileError(f"layer '{layer}' blob {index}: dims {list(dims)} hold {need:,} values, the file "
                             f"{held:,} (damaged, or a blob of float16 or diffs only)")
    return blob
