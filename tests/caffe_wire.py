"""Caffe's binary layout written by hand (caffe.proto's field numbers), with no package: what
tests/caffe_files/make_caffe_files.py writes its .caffemodels with, and what the hostile
tests bend (tests/test_hostile_caffe.py)."""
from __future__ import annotations


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num: int, payload: bytes | int, wire: int = 2) -> bytes:
    """A varint field (wire 0) or a length-delimited one (wire 2)."""
    if wire == 0:
        return varint(num << 3) + varint(payload)
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def blob(dims, data: bytes, legacy: bool = False) -> bytes:
    """BlobProto: shape (7) of packed dims, or the 4-D num/channels/height/width (1-4) of old
    models; data (5): packed little-endian floats."""
    if legacy:
        dims = (1,) * (4 - len(dims)) + tuple(dims)
        head = b"".join(field(i + 1, d, 0) for i, d in enumerate(dims))
    else:
        head = field(7, field(1, b"".join(varint(d) for d in dims)))
    return head + field(5, data)


def caffemodel(name: str, layers: dict, v1: bool = False) -> bytes:
    """NetParameter: name (1), then each layer (100: name 1, blobs 7), or in a V1 model each
    `layers` (2: name 4, blobs 6); `layers`: name -> the blobs' bytes (`blob`)."""
    out = field(1, name.encode())
    for lname, blobs in layers.items():
        if v1:
            out += field(2, field(4, lname.encode()) + b"".join(field(6, b) for b in blobs))
        else:
            out += field(100, field(1, lname.encode()) + b"".join(field(7, b) for b in blobs))
    return out
