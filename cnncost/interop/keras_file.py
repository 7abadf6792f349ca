"""The containers a Keras model comes in, opened as hostile files: a Keras 3 `.keras` (a zip
of config.json, metadata.json and model.weights.h5), a legacy `.h5` (tf.keras 2: the
`model_config` attribute and the `model_weights` group) and a bare `model.to_json()`.

Counting needs only the config, read from the zip with the standard library; the weights
(and every legacy `.h5`) need h5py, the optional extra `keras`. Zip members are checked
before a byte is decompressed (names, symlinks, sizes), reads are bounded, HDF5 datasets
are judged by their headers (shape, dtype, bytes stored) before their data is read, and
nothing in a file is ever unpickled or run (a Lambda layer's code stays unread).
"""
from __future__ import annotations

import functools
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass

from cnncost.errors import CnnCostError, LimitError
from cnncost.files import open_zip, read_bounded

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MAX_CONFIG_BYTES = 32 * 2 ** 20        # keras.applications' largest config (NASNetLarge) is ~2 MB
MAX_MEMBERS = 256
MAX_WEIGHTS_BYTES = 4 * 2 ** 30
INSTALL_HINT = "pip install '.[keras]' in a clone of cnncost (or: pip install h5py)"


@dataclass
class KerasFile:
    path: str
    model: dict          # {"class_name": "Functional" | "Sequential", "config": {...}}
    fmt: str             # "keras" (Keras 3 zip), "h5" (legacy HDF5) or "json"
    version: str         # the Keras version that saved it ("" when the file does not say)

    @property
    def major(self) -> int:
        """3 for Keras 3 files, 2 for tf.keras 2 (legacy .h5 and Keras 2 JSON)."""
        lead = re.match(r"\d{1,3}", self.version)     # '3.15.1', '3rc1'; a damaged version is no number
        if lead:
            return int(lead.group())
        return 3 if self.fmt == "keras" or "module" in self.model else 2


def is_keras_json(path: str) -> bool:
    """Whether a .json file is a Keras model (`model.to_json()`) rather than a spec: its
    first bytes name a Keras class."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b'"class_name"' in head


def read_keras_file(path: str) -> KerasFile:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".keras":
        return _read_zip(path)
    if ext in (".h5", ".hdf5"):
        return _read_legacy(path)
    return _from_json(path, read_bounded(path, MAX_CONFIG_BYTES, "Keras model"), "json", "")


def _from_json(path: str, raw: bytes, fmt: str, version: str) -> KerasFile:
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise CnnCostError(f"{path}: the model config is nested too deeply to be a Keras model") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CnnCostError(f"{path}: the model config is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict) or "class_name" not in doc:
        raise CnnCostError(f"{path}: not a Keras model config (expected an object with `class_name` and `config`)")
    version = version or str(doc.get("keras_version", ""))
    return KerasFile(path, doc, fmt, version)


# ---- .keras (Keras 3) ----------------------------------------------------------------
def _open_zip(path: str) -> zipfile.ZipFile:
    archive = open_zip(path, path, _head(path), ".keras archive")
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise LimitError(f"{path}: {len(infos):,} members in the archive (a .keras file holds a few)")
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise CnnCostError(f"{path}: member '{name}' points outside the archive; refused")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise CnnCostError(f"{path}: member '{name}' is a symbolic link; refused")
    return archive


def _head(path: str) -> bytes:
    from cnncost.files import _read_head

    return _read_head(path, 8, "Keras model")


def _member(archive: zipfile.ZipFile, path: str, name: str, limit: int) -> bytes:
    """A member's bytes, never more than `limit` decompressed (a zip bomb stops there)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise CnnCostError(f"{path}: the archive has no {name} (members: "
                           f"{', '.join(archive.namelist()[:6]) or 'none'})") from None
    if info.file_size > limit:
        raise LimitError(f"{path}: {name} is {info.file_size:,} bytes, over the limit of {limit:,}")
    try:
        with archive.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise CnnCostError(f"{path}: {name} cannot be read ({exc})") from None
    if len(data) > limit:
        raise LimitError(f"{path}: {name} decompresses to more than {limit:,} bytes; refused")
    return data


def _read_zip(path: str) -> KerasFile:
    with _open_zip(path) as archive:
        raw = _member(archive, path, "config.json", MAX_CONFIG_BYTES)
        version = ""
        if "metadata.json" in archive.namelist():
            try:
                version = str(json.loads(_member(archive, path, "metadata.json", 2 ** 16)).get("keras_version", ""))
            except (ValueError, AttributeError, RecursionError):
                version = ""
    return _from_json(path, raw, "keras", version)


# ---- legacy .h5 (tf.keras 2) ---------------------------------------------------------
def require_h5py(why: str):
    try:
        import h5py
    except ImportError:
        raise CnnCostError(f"{why} needs the optional `keras` extra (h5py is not installed): {INSTALL_HINT}") from None
    return h5py


def _open_h5(path: str, source, h5py):
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError) as exc:
        raise CnnCostError(f"{path}: not a readable HDF5 file ({str(exc).splitlines()[0] if str(exc) else exc})") from None


def _read_legacy(path: str) -> KerasFile:
    head = _head(path)
    if not head.startswith(HDF5_MAGIC):
        raise CnnCostError(f"{path}: not an HDF5 file (it starts with {head[:8]!r}); a Keras .h5 starts with "
                           f"{HDF5_MAGIC!r}")
    h5py = require_h5py(f"reading {path} (a legacy Keras .h5)")
    with _open_h5(path, path, h5py) as f, _damaged(path):
        raw = f.attrs.get("model_config")
        if raw is None:
            raise CnnCostError(f"{path}: the file holds no model config (weights only, from save_weights?); "
                               "save the whole model with model.save()")
        # h5py gives undecodable bytes as surrogates: kept, for the JSON reader to refuse
        raw = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
        if len(raw) > MAX_CONFIG_BYTES:
            raise LimitError(f"{path}: the model config is {len(raw):,} bytes, over the limit of {MAX_CONFIG_BYTES:,}")
        version = _text(f.attrs.get("keras_version", b""))
    return _from_json(path, raw, "h5", version)


# what h5py raises on a damaged file (a bad heap, a link name cut short, undecodable text)
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, UnicodeError, IndexError)


class _damaged:
    """Turns h5py's errors on a damaged file into one line naming the file."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is not None and issubclass(kind, H5_ERRORS) and not issubclass(kind, CnnCostError):
            first = str(exc).splitlines()[0] if str(exc) else kind.__name__
            raise CnnCostError(f"{self.path}: the HDF5 file is damaged ({first[:200]})") from None
        return False


def _guarded(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with _damaged(self.path):
            return method(self, *args, **kwargs)
    return call


# ---- weights ---------------------------------------------------------------------------
# Each layer's weights are found by the layer's name (or, where a file names no layers, by
# the key Keras itself files the layer under) and each weight by its own name where the file
# names weights: never by the order in which the file happens to hold them.
def read_weights(kf: KerasFile):
    """The file's weights, looked up per layer with `find(names, keys)`: the layer's names
    (the nested models' and its own, as the config gives them) and the keys a `.keras`
    archive files it under (`to_snake_case(class)`, numbered per class in each model's list
    of layers). `find` gives [(Keras' weight name, or None where the file names none,
    reader)], reader(expected_shape) checking the dataset's header before reading it, or
    None where the file holds nothing for that layer; `unclaimed()` lists what no layer took."""
    if kf.fmt == "json":
        raise CnnCostError(f"{kf.path}: a model.to_json() holds no weights; use the .keras file (or "
                           "--weights with an .npz)")
    h5py = require_h5py(f"the weights of {kf.path}")
    if kf.fmt == "keras":
        with _open_zip(kf.path) as archive:
            raw = _member(archive, kf.path, "model.weights.h5", MAX_WEIGHTS_BYTES)
        import io

        f = _open_h5(kf.path + ": model.weights.h5", io.BytesIO(raw), h5py)
        return ArchiveWeights(f, kf.path, len(raw), h5py)
    f = _open_h5(kf.path, kf.path, h5py)
    return LegacyWeights(f, kf.path, os.path.getsize(kf.path), h5py)


def snake_case(class_name: str) -> str:
    """The key Keras' saving_lib (Keras 3 and tf.keras 2 alike) files a layer under, before
    its number: `to_snake_case(layer.__class__.__name__)` (ReLU -> re_lu, Conv2D -> conv2d)."""
    import re

    name = re.sub(r"\W+", "", class_name.rsplit(">", 1)[-1])
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return "private" + name if name.startswith("_") else name


def _text(v) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _reader(ds, where: str, size: int):
    def read(shape: tuple):
        with _damaged(where):
            return _read(shape)

    def _read(shape: tuple):
        import numpy as np

        if ds.dtype.kind not in "fiu":
            raise CnnCostError(f"{where}: dtype {ds.dtype} is not a number type")
        # the same sizes, but for axes of 1 (PReLU's slope is 1 x 1 x C in Keras, C here)
        if [d for d in ds.shape if d != 1] != [d for d in shape if d != 1]:
            raise CnnCostError(f"{where} has shape {'x'.join(map(str, ds.shape)) or 'scalar'}, "
                               f"the config makes {'x'.join(map(str, shape))}")
        nbytes = int(np.prod(ds.shape, dtype=object)) * ds.dtype.itemsize
        if nbytes > size * (1 if ds.compression is None else 64):    # compressed: at most 64:1
            raise CnnCostError(f"{where} declares {nbytes:,} bytes in a file of {size:,}")
        try:
            return np.asarray(ds[()]).reshape(shape)
        except (OSError, ValueError, RuntimeError) as exc:
            raise CnnCostError(f"{where} cannot be read ({exc})") from None
    return read


class ArchiveWeights:
    """A `.keras` archive's model.weights.h5, as both savers write it (saving_lib):
    `layers/<key>/vars/<i>` for each layer of a model, a nested model's layers under its own
    `layers/<key>/layers/...`. The key is the layer's class in snake case, numbered per class
    in the model's list of layers (conv2d, conv2d_1, ...), not the layer's name; Keras 3
    also writes the layer's name as the `name` attribute of `vars`, tf.keras 2 and early
    Keras 3 do not. A layer is found by that name where the file gives names, else by its
    key; `vars/<i>` are the layer's weights in the layer's own order (trainable ones first),
    which the file names no other way."""

    def __init__(self, f, path: str, size: int, h5py):
        self.f, self.path, self.size, self.h5py = f, path, size, h5py
        self.taken: set[str] = set()

    def _name(self, group) -> str | None:
        vars_ = group.get("vars")
        if not isinstance(vars_, self.h5py.Group) or "name" not in vars_.attrs:
            return None
        return _text(vars_.attrs["name"])

    def _child(self, node, name: str, key: str | None):
        layers = node.get("layers")
        if not isinstance(layers, self.h5py.Group):
            return None
        keyed = layers.get(key) if key else None
        if isinstance(keyed, self.h5py.Group) and self._name(keyed) in (None, name):
            return keyed
        for k in layers:                      # a file whose keys were numbered otherwise: by name alone
            g = layers[k]
            if isinstance(g, self.h5py.Group) and self._name(g) == name:
                return g
        return None

    @_guarded
    def find(self, names: tuple, keys: tuple):
        node = self.f
        for i, name in enumerate(names):
            node = self._child(node, name, keys[i] if i < len(keys) else None)
            if node is None:
                return None
        self.taken.add(node.name)
        vars_ = node.get("vars")
        if not isinstance(vars_, self.h5py.Group):
            return []
        where = f"{self.path}: weights of layer '{'.'.join(names)}'"
        out = []
        for i in range(len(vars_)):
            ds = vars_.get(str(i))
            if not isinstance(ds, self.h5py.Dataset):
                raise CnnCostError(f"{where}: the file holds {len(vars_)} entries but no weight #{i}")
            out.append((None, _reader(ds, f"{where} #{i}", self.size)))
        return out

    @_guarded
    def unclaimed(self) -> list[str]:
        out: list[str] = []

        def walk(group, scope, depth):
            if depth > 32:
                raise CnnCostError(f"{self.path}: model.weights.h5 nests layers more than 32 deep")
            layers = group.get("layers")
            if not isinstance(layers, self.h5py.Group):
                return
            for key in layers:
                sub = layers[key]
                if not isinstance(sub, self.h5py.Group):
                    continue
                where = scope + (self._name(sub) or key,)
                vars_ = sub.get("vars")
                if sub.name not in self.taken and isinstance(vars_, self.h5py.Group) and len(vars_):
                    out.append(".".join(where))
                walk(sub, where, depth + 1)
        walk(self.f, (), 0)
        return out


def _listed(group, name: str) -> list[str]:
    """An attribute that Keras writes as a list of names, split into `name0`, `name1`, ...
    when it is longer than HDF5's 64 kB header allows (load_attributes_from_hdf5_group)."""
    if name in group.attrs:
        raw = group.attrs[name]
        return [_text(n) for n in (raw if hasattr(raw, "__len__") and not isinstance(raw, (str, bytes)) else [raw])]
    out: list[str] = []
    for i in range(100_000):
        if f"{name}{i}" not in group.attrs:
            break
        out += [_text(n) for n in group.attrs[f"{name}{i}"]]
    return out


class LegacyWeights:
    """A legacy `.h5` (tf.keras 2's and Keras 3's `model.save("x.h5")`): one group per layer
    of the model, named by the layer (`layer_names`), listing in `weight_names` the paths of
    its weights inside it. A plain layer's group holds its own weights, whatever scopes their
    paths carry (tf.keras 2: 'conv2d_3/kernel:0'; Keras 3 in a Sequential:
    'sequential_5/conv2d_17/kernel'); a nested model's group holds the weights of all its
    layers, each path ending in '<layer>/<weight>'. Weights are matched by those names."""

    def __init__(self, f, path: str, size: int, h5py):
        self.f, self.path, self.size, self.h5py = f, path, size, h5py
        self.groups: dict[str, list[list] | None] = {}
        with _damaged(path):
            self.root = f.get("model_weights", f)
            self.tops = _listed(self.root, "layer_names") or [k for k in self.root if k != "top_level_model_weights"]

    def _entries(self, top: str):
        """[(path less the weight's name, the weight's name, reader, taken)] of a layer's group."""
        if top not in self.groups:
            group = self.root.get(top) if top in self.tops else None
            if group is None:
                if top in self.tops:
                    raise CnnCostError(f"{self.path}: layer '{top}' is listed but the file holds no group for it")
                self.groups[top] = None
                return None
            entries = []
            for wname in _listed(group, "weight_names"):
                ds = group.get(wname)
                if not isinstance(ds, self.h5py.Dataset):
                    raise CnnCostError(f"{self.path}: layer '{top}' lists weight '{wname}', "
                                       "which the file does not hold")
                bare = wname.rsplit(":", 1)[0] if wname.rsplit(":", 1)[-1].isdigit() else wname
                scope, _, last = bare.rpartition("/")
                entries.append([scope, last, _reader(ds, f"{self.path}: weight '{top}/{wname}'", self.size), False])
            self.groups[top] = entries
        return self.groups[top]

    @_guarded
    def find(self, names: tuple, keys: tuple):
        entries = self._entries(names[0])
        if entries is None:
            return None
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
                raise CnnCostError(f"{self.path}: model '{names[0]}' holds several weights of layer "
                                   f"'{'.'.join(names)}' by the same name; which is whose cannot be told")
        for e in mine:
            if e[3]:
                raise CnnCostError(f"{self.path}: weight '{names[0]}/{e[0]}/{e[1]}' would be read for two layers "
                                   f"('{'.'.join(names)}' and another); which is whose cannot be told")
            e[3] = True
        return [(e[1], e[2]) for e in mine]

    @_guarded
    def unclaimed(self) -> list[str]:
        out = []
        for top in self.tops:
            for e in self._entries(top) or []:
                if not e[3]:
                    out.append(f"{top}/{e[0] + '/' if e[0] else ''}{e[1]}")
        return out
