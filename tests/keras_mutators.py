"""Structure-aware mutators of Keras files for tests/reader_fuzzing.py: edits that pass the
container (zip, HDF5, JSON) and reach the reader behind it.

- config (a .keras' config.json, a .h5's model_config, a model.to_json()): a layer's config
  value made hostile, a weight shape changed (filters, units, kernel size, bias), an inbound
  node duplicated (a layer applied twice) or pointed at another application or layer, a class
  swapped, a layer or its config dropped, input and output references and batch shapes bent;
- HDF5 (a legacy .h5, a .keras' model.weights.h5): attributes of other types (a uint64
  config, invalid UTF-8, a 2-D name list, 20,000 names), datasets of other shapes or types,
  huge and never written, compressed by a filter HDF5 does not build in, stored in an
  external file, virtual, or replaced by an external or soft link, groups dropped, renamed
  or filled with 1,000 members. Every reference outside the file names CANARY, a FIFO: a
  reader that opens it blocks, and the case counts as a hang;
- zip: members recompressed with bzip2 or LZMA, a member name that is not UTF-8, a size in
  the directory that lies, a member duplicated, a weights member padded to 64 MB of zeros.

Each mutator takes the seeded `rng`, the seed file's bytes and the byte-level mutator to
fall back on, and returns the mutant's bytes.
"""
from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import zipfile

HOSTILE = [None, [], {}, "", -1, 0, 2 ** 63, 1e308, float("nan"), "x" * 10_000, [[[]]], "3rc1", True,
           {"class_name": "Lambda"}, [2 ** 40, 2 ** 40], "../../etc/passwd", "\x1b]0;title\x07", [None, None]]
SHAPE_KEYS = {"filters": [0, 1, 3, 2 ** 31], "units": [0, 1, 7, 2 ** 31], "kernel_size": [[1, 1], [5, 5], [0, 3], 9],
              "use_bias": [False, True], "groups": [2, 3, 0], "depth_multiplier": [2, 0], "axis": [1, [1, 2], 7],
              "epsilon": [[], "x", -1.0], "target_shape": [None, [], [-1, -1], [2 ** 40]], "strides": [0, [2, 2], 99],
              "padding": ["causal", "same", 3], "pool_size": [0, 99], "dims": [[3, 1], [1]], "rate": [2.0, "x"]}
_CANARY: list[str] = []


def canary() -> str:
    """A FIFO nobody writes to: what a reader following a reference out of its file opens."""
    if not _CANARY:
        folder = tempfile.mkdtemp(prefix="cnncost-canary-")
        path = os.path.join(folder, "canary.fifo")
        os.mkfifo(path)
        _CANARY.append(path)
    return _CANARY[0]


# ---- the config -----------------------------------------------------------------------------
def _layers(doc) -> list[list]:
    """Every `layers` list of the model and of the models nested in it."""
    out, stack = [], [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            cfg = node.get("config")
            if isinstance(cfg, dict) and isinstance(cfg.get("layers"), list):
                out.append(cfg["layers"])
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))
    return out


def _histories(node, found):
    """The [layer, node, tensor] references inside an inbound node (both savers' forms)."""
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__" and isinstance(node.get("config"), dict):
            history = node["config"].get("keras_history")
            if isinstance(history, list) and len(history) == 3:
                found.append(history)
            return
        for v in node.values():
            _histories(v, found)
    elif isinstance(node, list):
        if len(node) >= 3 and isinstance(node[0], str) and not isinstance(node[1], (list, dict)):
            found.append(node)
            return
        for v in node:
            _histories(v, found)


def mutate_config(rng, raw: bytes, fallback) -> bytes:
    try:
        doc = json.loads(raw)
    except ValueError:
        return fallback(rng, raw)
    lists = _layers(doc)
    if not lists or not any(lists):
        return fallback(rng, raw)
    for _ in range(rng.randint(1, 2)):
        layers = rng.choice([x for x in lists if x] or lists)
        if not layers:
            continue
        i = rng.randrange(len(layers))
        entry = layers[i]
        cfg = entry.get("config") if isinstance(entry, dict) else None
        what = rng.randrange(9)
        if what == 0 and isinstance(cfg, dict) and cfg:                     # a config value
            cfg[rng.choice(list(cfg))] = rng.choice(HOSTILE)
        elif what == 1 and isinstance(cfg, dict):                           # a weight shape or argument
            key = rng.choice(list(SHAPE_KEYS))
            cfg[key] = rng.choice(SHAPE_KEYS[key])
        elif what == 2 and isinstance(entry, dict) and entry.get("inbound_nodes"):   # applied twice
            nodes = entry["inbound_nodes"]
            nodes.append(json.loads(json.dumps(rng.choice(nodes))))
        elif what == 3 and isinstance(entry, dict):                         # a reference bent
            found: list = []
            _histories(entry.get("inbound_nodes"), found)
            if found:
                ref = rng.choice(found)
                names = [e.get("name") for e in layers if isinstance(e, dict)]
                choice = rng.randrange(4)
                if choice == 0:
                    ref[1] = rng.choice([1, 2, -1, "0", None, 2 ** 40])
                elif choice == 1:
                    ref[2] = rng.choice([1, -1, "0", 2 ** 40])
                elif choice == 2:
                    ref[0] = rng.choice(names + ["ghost"])
                else:
                    ref[0] = entry.get("name")
        elif what == 4 and isinstance(entry, dict):                         # another class
            entry["class_name"] = rng.choice(["Conv2D", "Dense", "Functional", "Sequential", "InputLayer", "Add",
                                              "BatchNormalization", "Lambda", "Reshape", "Concatenate", "TFOpLambda"])
        elif what == 5:                                                     # a layer or its config dropped
            if rng.random() < 0.5:
                del layers[i]
            elif isinstance(entry, dict):
                entry.pop("config", None)
        elif what == 6 and isinstance(doc.get("config"), dict):             # inputs and outputs
            key = rng.choice(["input_layers", "output_layers", "layers", "name", "trainable"])
            doc["config"][key] = rng.choice(HOSTILE + [[["ghost", 0, 0]], ["x", "y", "z"], [["x", [0], {}]]])
        elif what == 7 and isinstance(cfg, dict):                           # batch shapes
            key = "batch_shape" if "batch_shape" in cfg else "batch_input_shape"
            cfg[key] = rng.choice([[None, None, None, 3], [None, 2 ** 31, 2, 3], [None, 0, 4, 3], [None], 7,
                                   [None, -3, 4, 3], [2 ** 40, 8, 8, 3]])
        elif isinstance(entry, dict):                                       # a name
            entry["name"] = rng.choice([layers[rng.randrange(len(layers))].get("name")
                                        if isinstance(layers[0], dict) else "x", "", "a.b/c", "\udcff", 7])
    try:
        return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogateescape")
    except (TypeError, ValueError):
        return fallback(rng, raw)


# ---- HDF5 ------------------------------------------------------------------------------------
def _objects(f, h5py):
    groups, datasets = [], []
    f.visititems(lambda name, obj: (groups if isinstance(obj, h5py.Group) else datasets).append(name))
    return groups, datasets


def _attribute(rng, f, h5py, groups):
    import numpy as np

    holders = [f] + [f[g] for g in groups]
    holders = [h for h in holders if len(h.attrs)] or [f]
    holder = rng.choice(holders)
    names = list(holder.attrs) or ["model_config"]
    name = rng.choice(names)
    old = holder.attrs.get(name)
    choice = rng.randrange(8)
    if choice == 0 and name == "model_config" and old is not None:
        text = old.encode() if isinstance(old, str) else bytes(old)
        value = mutate_config(rng, text, lambda r, b: b[: r.randrange(1, len(b))])
        holder.attrs[name] = np.void(value) if rng.random() < 0.2 else value
        return
    values = [np.uint64(rng.choice([5, 2 ** 63])), np.array([b"\xff\xfe\xed\xa0\x80"], dtype="S5"),
              b"\xed\xa0\x80{}", np.zeros((2, 3)), np.array([[b"a", b"b"], [b"c", b"d"]]),
              np.array([b"k"] * 20_000), np.array([], dtype="f8"), np.arange(4, dtype="i8")]
    holder.attrs[name] = values[choice]


def _replace(parent, name, make):
    del parent[name]
    make(parent, name)


def _dataset(rng, f, h5py, datasets):
    import numpy as np

    path = rng.choice(datasets)
    ds = f[path]
    parent, name = ds.parent, path.rsplit("/", 1)[-1]
    shape, dtype = ds.shape, ds.dtype
    data = ds[()]
    outside = canary()
    choice = rng.randrange(9)
    if choice == 0:
        _replace(parent, name, lambda p, n: p.create_dataset(n, data=np.zeros(tuple(d + 1 for d in shape) or (2,),
                                                                               dtype)))
    elif choice == 1:
        kind = rng.choice(["i1", "f2", "f8", "c8", "S4", "?", [("a", "f4"), ("b", "i4")]])
        _replace(parent, name, lambda p, n: p.create_dataset(n, shape=shape, dtype=np.dtype(kind)))
    elif choice == 2:                                      # declared huge, never written
        _replace(parent, name, lambda p, n: p.create_dataset(n, shape=(2 ** 20,) + tuple(shape[1:]), dtype=dtype))
    elif choice == 3:                                      # values in an external file
        size = max(1, int(np.prod(shape)) * dtype.itemsize)
        _replace(parent, name, lambda p, n: p.create_dataset(n, shape=shape, dtype=dtype,
                                                             external=[(outside, 0, size)]))
    elif choice == 4:                                      # a virtual dataset over another file
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        layout[...] = h5py.VirtualSource(outside, "weights", shape=shape, dtype=dtype)
        _replace(parent, name, lambda p, n: p.create_virtual_dataset(n, layout, fillvalue=0))
    elif choice == 5:
        _replace(parent, name, lambda p, n: p.__setitem__(n, h5py.ExternalLink(outside, "/" + n)))
    elif choice == 6:
        _replace(parent, name, lambda p, n: p.__setitem__(n, h5py.SoftLink(rng.choice(["/", p.name, "/nowhere"]))))
    elif choice == 7:                                      # a filter HDF5 does not build in
        _replace(parent, name, lambda p, n: p.create_dataset(
            n, data=data, chunks=True, compression=rng.choice([32001, 307, 32015]), allow_unknown_filter=True))
    else:
        _replace(parent, name, lambda p, n: p.create_dataset(n, data=data, compression="gzip", shuffle=True))


def _group(rng, f, h5py, groups):
    path = rng.choice(groups)
    group = f[path]
    choice = rng.randrange(4)
    if choice == 0:
        del f[path]
    elif choice == 1:
        f.move(path, path + "_moved")
    elif choice == 2:
        for i in range(1000):
            group.create_group(f"g{i}")
    else:
        group["loop"] = h5py.SoftLink(group.name)
        group["outside"] = h5py.ExternalLink(canary(), "/")


def mutate_hdf5(rng, raw: bytes, fallback) -> bytes:
    """One structural edit of an HDF5 file (a quarter of the time, its bytes instead)."""
    if rng.random() < 0.25:
        return fallback(rng, raw)
    import h5py

    buf = io.BytesIO(raw)
    try:
        with h5py.File(buf, "r+") as f:
            groups, datasets = _objects(f, h5py)
            choice = rng.randrange(3)
            if choice == 0 or not (groups or datasets):
                _attribute(rng, f, h5py, groups)
            elif choice == 1 and datasets:
                _dataset(rng, f, h5py, datasets)
            elif groups:
                _group(rng, f, h5py, groups)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        return fallback(rng, raw)
    return buf.getvalue()


# ---- zip -------------------------------------------------------------------------------------
_PADDING: list[bytes] = []


def mutate_archive(rng, raw: bytes, fallback, zip_fallback) -> bytes:
    """A .keras with its config or weights edited by structure, or its zip layer bent."""
    if rng.random() < 0.3:
        return zip_fallback(rng, raw)
    try:
        src = zipfile.ZipFile(io.BytesIO(raw))
        members = [(info, src.read(info)) for info in src.infolist()]
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError):
        return fallback(rng, raw)
    choice = rng.randrange(6)
    method = {n: zipfile.ZIP_STORED for n, _ in [(i.filename, d) for i, d in members]}
    out = []
    for info, data in members:
        if choice == 0 and info.filename == "config.json":
            data = mutate_config(rng, data, fallback)
        elif choice == 1 and info.filename == "model.weights.h5":
            data = mutate_hdf5(rng, data, fallback)
        elif choice == 2:
            method[info.filename] = rng.choice([zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_DEFLATED])
        elif choice == 3 and info.filename == "model.weights.h5":        # weights padded with zeros
            if not _PADDING:
                _PADDING.append(b"\0" * (64 * 2 ** 20))
            data += _PADDING[0]
            method[info.filename] = zipfile.ZIP_DEFLATED
        out.append((info.filename, data))
    if choice == 4:
        out.append(rng.choice(out))                                    # a member twice
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as dst:
        for name, data in out:
            dst.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, compress_type=method.get(name))
    blob = bytearray(buf.getvalue())
    if choice == 5:                                                    # the directory lies or a name is not UTF-8
        at = blob.rfind(b"PK\x01\x02")
        if at >= 0 and rng.random() < 0.5:
            struct.pack_into("<I", blob, at + 24, rng.choice([0, 1, 2 ** 32 - 1]))       # uncompressed size
        elif at >= 0:
            struct.pack_into("<H", blob, at + 8, struct.unpack_from("<H", blob, at + 8)[0] | 0x800)
            blob[at + 46] = 0xFF                                       # the name's first byte
    return bytes(blob)
