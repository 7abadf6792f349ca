"""A Keras file's weights, found per layer by name (never by the order a file holds them)
and read in a child process under hdf5_guard's limits, bounded by what the network needs.

The network's own weight shapes (from the config) set every bound before a byte is read:
the arrays come back in a shared mapping of exactly their float32 size; a `.keras`
archive's model.weights.h5 may hold at most `budget()` bytes (the weights at up to 8 bytes
an element, up to three optimizer slots each, and a few kB of HDF5 structure per layer and
array), checked against the zip directory before decompressing and again while reading;
a member the archive stores uncompressed (as both savers write it) is read in place, not
copied; the names a file lists and the entries of its groups are counted before they are
read.
"""
from __future__ import annotations

import os
import zipfile

from cnncost.errors import LimitError, ModelFileError
from cnncost.interop.keras import hdf5_guard as guard

PER_OBJECT = 16 * 2 ** 10            # HDF5 structure a layer's group or a dataset takes (1-5 kB seen)
BASE = 2 ** 20


def budget(elements: int, layers: int, arrays: int) -> int:
    """The most bytes a file's weights can take for a network of `elements` weights in
    `arrays` arrays over `layers` layers: float64 at most, and an optimizer's state."""
    return 8 * 4 * elements + PER_OBJECT * (layers + arrays) + BASE


def read_weights(kf, wanted: dict[str, tuple], layers: int, match) -> dict:
    """{our key: float32 array} for every key of `wanted` (key -> shape the config makes),
    `match(stored, put, expected)` finding them in the file (`stored`: LegacyWeights or
    ArchiveWeights, opened in the child) and handing each to `put(key, array)`."""
    import numpy as np

    if kf.fmt == "json":
        raise ModelFileError(f"{kf.path}: a model.to_json() holds no weights; use the .keras file (or "
                           "--weights with an .npz)")
    h5py = guard.require_h5py(f"the weights of {kf.path}")
    layout, total = {}, 0
    for key, shape in wanted.items():
        count = 1
        for d in shape:
            count *= d
        layout[key] = (total, count, tuple(shape))
        total += 4 * count
    size = os.path.getsize(kf.path)
    if total > 128 * size:           # float16 at 64:1 at most, as each dataset's header is held to
        raise LimitError(f"{kf.path}: the config makes {total // 4:,} weights ({total:,} bytes as float32), "
                         f"more than a file of {size:,} bytes holds; refused")
    most = budget(total // 4, layers, len(wanted))
    names = 2 * (layers + len(wanted)) + 64

    def work(shared):
        stored = _open(kf, h5py, most, names)
        with guard.damaged(kf.path):
            def put(key, array):
                offset, count, shape = layout[key]
                np.frombuffer(shared, np.float32, count, offset)[:] = array.reshape(-1)
            match(stored, put, wanted)
            return stored.unclaimed()

    extra, shared = guard.isolated(work, kf.path, seconds=guard.time_limit(size), memory=2 * most,
                                   shared_bytes=total)
    if extra:
        raise ModelFileError(f"{kf.path}: weights for layer(s) the config does not have: {', '.join(extra[:4])}")
    return {key: np.frombuffer(shared, np.float32, count, offset).reshape(shape)
            for key, (offset, count, shape) in layout.items()}


def _open(kf, h5py, most: int, names: int):
    """In the child: the file's weights as LegacyWeights or ArchiveWeights."""
    if kf.fmt == "h5":
        size = os.path.getsize(kf.path)
        return LegacyWeights(_h5(kf.path, kf.path, h5py), kf.path, size, h5py, names)
    from cnncost.interop.keras.archive import open_archive

    where = f"{kf.path}: model.weights.h5"
    with open_archive(kf.path) as archive:
        try:
            info = archive.getinfo("model.weights.h5")
        except KeyError:
            raise ModelFileError(f"{kf.path}: the archive has no model.weights.h5 (members: "
                               f"{', '.join(archive.namelist()[:6]) or 'none'})") from None
        if info.file_size > most:
            raise LimitError(f"{where} is {info.file_size:,} bytes; the network's weights need at most "
                             f"{most:,}; refused")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size == info.file_size:
            source = Window(kf.path, _data_offset(kf.path, info), info.file_size)
        else:
            import io

            from cnncost.interop.keras.archive import member

            source = io.BytesIO(member(archive, kf.path, "model.weights.h5", most))
    return ArchiveWeights(_h5(where, source, h5py), where, info.file_size, h5py, names)


def _h5(where: str, source, h5py):
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{where}: not a readable HDF5 file ({guard.first_line(exc)})") from None


def _data_offset(path: str, info: zipfile.ZipInfo) -> int:
    """Where a member's bytes begin: after its local header, whose name and extra field
    lengths are its own (not the directory's)."""
    import struct

    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        head = fh.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise ModelFileError(f"{path}: the local header of model.weights.h5 is damaged")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    return info.header_offset + 30 + name_len + extra_len


class Window:
    """A stored zip member read in place: the bytes [start, start + size) of the archive,
    as the file object h5py reads (seek, tell, readinto); nothing outside it."""

    def __init__(self, path: str, start: int, size: int):
        self.fh = open(path, "rb")
        self.start, self.size, self.pos = start, size, 0
        if os.fstat(self.fh.fileno()).st_size < start + size:
            raise ModelFileError(f"{path}: model.weights.h5 runs past the end of the archive")

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = max(0, offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        n = max(0, min(len(view), self.size - self.pos))
        self.fh.seek(self.start + self.pos)
        got = self.fh.readinto(view[:n]) if n else 0
        self.pos += got
        return got

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n is None or n < 0 else n
        buf = bytearray(max(0, min(n, self.size - self.pos)))
        return bytes(buf[:self.readinto(buf)])

    def close(self) -> None:
        self.fh.close()


def _reader(h5py, ds, where: str, size: int):
    def read(shape: tuple):
        with guard.damaged(where):
            return guard.dataset(h5py, ds, where, shape, size)
    return read


def _text(v) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


class ArchiveWeights:
    """A `.keras` archive's model.weights.h5, as both savers write it (saving_lib):
    `layers/<key>/vars/<i>` for each layer of a model, a nested model's layers under its own
    `layers/<key>/layers/...`. The key is the layer's class in snake case, numbered per class
    in the model's list of layers (conv2d, conv2d_1, ...), not the layer's name; Keras 3
    also writes the layer's name as the `name` attribute of `vars`, tf.keras 2 and early
    Keras 3 do not. A layer is found by that name where the file gives names, else by its
    key; `vars/<i>` are the layer's weights in the layer's own order (trainable ones first),
    which the file names no other way."""

    def __init__(self, f, path: str, size: int, h5py, most: int):
        self.f, self.path, self.size, self.h5py, self.most = f, path, size, h5py, most
        self.taken: set[str] = set()
        self.by_name: dict[str, dict] = {}            # a `layers` group's path -> {layer name: its group}

    def _get(self, group, name: str):
        return guard.child(self.h5py, group, name, self.path)

    def _name(self, group) -> str | None:
        vars_ = self._get(group, "vars")
        if not isinstance(vars_, self.h5py.Group):
            return None
        raw = guard.text_attribute(self.h5py, vars_, "name", 4096, self.path)
        return None if raw is None else _text(raw)

    def _child(self, node, name: str, key: str | None):
        layers = self._get(node, "layers")
        if not isinstance(layers, self.h5py.Group):
            return None
        keyed = self._get(layers, key) if key else None
        if isinstance(keyed, self.h5py.Group) and self._name(keyed) in (None, name):
            return keyed
        if layers.name not in self.by_name:           # keys numbered otherwise: by name, each group once
            index = self.by_name[layers.name] = {}
            for k in guard.members(self.h5py, layers, self.most, self.path):
                g = self._get(layers, k)
                if isinstance(g, self.h5py.Group):
                    index.setdefault(self._name(g), g)
        return self.by_name[layers.name].get(name)

    def find(self, names: tuple, keys: tuple, part: tuple | None = None):
        node = self.f
        for i, name in enumerate(names):
            node = self._child(node, name, keys[i] if i < len(keys) else None)
            if node is None:
                return None
        self.taken.add(node.name)
        for sub in part[0] if part else ():             # a wrapper's layer, a recurrent layer's cell
            node = self._get(node, sub)
            if not isinstance(node, self.h5py.Group):
                return None
        vars_ = self._get(node, "vars")
        if not isinstance(vars_, self.h5py.Group):
            return []
        where = f"{self.path}: weights of layer '{'.'.join(names)}'"
        out = []
        for i in range(len(guard.members(self.h5py, vars_, self.most, self.path))):
            ds = self._get(vars_, str(i))
            if not isinstance(ds, self.h5py.Dataset):
                raise ModelFileError(f"{where}: the file holds {len(vars_)} entries but no weight #{i}")
            out.append((None, _reader(self.h5py, ds, f"{where} #{i}", self.size)))
        return out

    def unclaimed(self) -> list[str]:
        out: list[str] = []

        def walk(group, scope, depth):
            if depth > 32:
                raise ModelFileError(f"{self.path}: model.weights.h5 nests layers more than 32 deep")
            layers = self._get(group, "layers")
            if not isinstance(layers, self.h5py.Group):
                return
            for key in guard.members(self.h5py, layers, self.most, self.path):
                sub = self._get(layers, key)
                if not isinstance(sub, self.h5py.Group):
                    continue
                where = scope + (self._name(sub) or key,)
                vars_ = self._get(sub, "vars")
                if sub.name not in self.taken and isinstance(vars_, self.h5py.Group) and len(vars_):
                    out.append(".".join(where))
                walk(sub, where, depth + 1)
        walk(self.f, (), 0)
        return out


class LegacyWeights:
    """A legacy `.h5` (tf.keras 2's and Keras 3's `model.save("x.h5")`): one group per layer
    of the model, named by the layer (`layer_names`), listing in `weight_names` the paths of
    its weights inside it. A plain layer's group holds its own weights, whatever scopes their
    paths carry (tf.keras 2: 'conv2d_3/kernel:0'; Keras 3 in a Sequential:
    'sequential_5/conv2d_17/kernel'); a nested model's group holds the weights of all its
    layers, each path ending in '<layer>/<weight>'. Weights are matched by those names."""

    def __init__(self, f, path: str, size: int, h5py, most: int):
        self.f, self.path, self.size, self.h5py, self.most = f, path, size, h5py, most
        self.groups: dict[str, list[list] | None] = {}
        with guard.damaged(path):
            root = guard.child(h5py, f, "model_weights", path)
            self.root = root if isinstance(root, h5py.Group) else f
            self.tops = self._listed(self.root, "layer_names") or [
                k for k in guard.members(h5py, self.root, most, path) if k != "top_level_model_weights"]

    def _listed(self, group, name: str) -> list[str]:
        """An attribute that Keras writes as a list of names, split into `name0`, `name1`, ...
        when it is longer than HDF5's 64 kB header allows (load_attributes_from_hdf5_group)."""
        whole = guard.names_attribute(self.h5py, group, name, self.most, self.path)
        if whole is not None:
            return whole
        out: list[str] = []
        for i in range(self.most):
            part = guard.names_attribute(self.h5py, group, f"{name}{i}", self.most - len(out), self.path)
            if part is None:
                break
            out += part
        return out

    def _entries(self, top: str):
        """[(path less the weight's name, the weight's name, reader, taken)] of a layer's group."""
        if top not in self.groups:
            group = guard.child(self.h5py, self.root, top, self.path) if top in self.tops else None
            if not isinstance(group, self.h5py.Group):
                if top in self.tops:
                    raise ModelFileError(f"{self.path}: layer '{top}' is listed but the file holds no group for it")
                self.groups[top] = None
                return None
            entries = []
            for wname in self._listed(group, "weight_names"):
                ds = guard.child(self.h5py, group, wname, self.path)
                if not isinstance(ds, self.h5py.Dataset):
                    raise ModelFileError(f"{self.path}: layer '{top}' lists weight '{wname}', "
                                       "which the file does not hold")
                bare = wname.rsplit(":", 1)[0] if wname.rsplit(":", 1)[-1].isdigit() else wname
                scope, _, last = bare.rpartition("/")
                entries.append([scope, last, _reader(self.h5py, ds, f"{self.path}: weight '{top}/{wname}'",
                                                     self.size), False])
            self.groups[top] = entries
        return self.groups[top]

    def find(self, names: tuple, keys: tuple, part: tuple | None = None):
        entries = self._entries(names[0])
        if entries is None:
            return None
        if part and part[1]:                                 # one of a wrapper's layers: its scope
            entries = [e for e in entries if part[1] in e[0].split("/")]
        if len(names) == 1:
            mine = entries                                   # the layer's own group: all of it
        else:                                                # a nested model's group: '.../<layer>/<weight>'
            layer = names[-1]
            # the layer's own name first (tf.keras 2 writes none of the scopes, and its names may
            # hold a slash: 'bn' is not 'conv1/bn'), else under scopes (Keras 3: 'sequential_5/...')
            mine = [e for e in entries if e[0] == layer] or [e for e in entries if e[0].endswith("/" + layer)]
            inner = [e for e in mine if all(n in e[0].split("/") for n in names[1:-1])]
            if len({e[1] for e in mine}) < len(mine) and inner:
                mine = inner
            if len({e[1] for e in mine}) < len(mine):
                raise ModelFileError(f"{self.path}: model '{names[0]}' holds several weights of layer "
                                   f"'{'.'.join(names)}' by the same name; which is whose cannot be told")
        for e in mine:
            if e[3]:
                raise ModelFileError(f"{self.path}: weight '{names[0]}/{e[0]}/{e[1]}' would be read for two layers "
                                   f"('{'.'.join(names)}' and another); which is whose cannot be told")
            e[3] = True
        return [(e[1], e[2]) for e in mine]

    def unclaimed(self) -> list[str]:
        out = []
        for top in self.tops:
            for e in self._entries(top) or []:
                if not e[3]:
                    out.append(f"{top}/{e[0] + '/' if e[0] else ''}{e[1]}")
        return out
