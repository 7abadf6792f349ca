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

import json
import os
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
        if self.version[:1].isdigit():
            return int(self.version.split(".")[0])
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
    with _open_h5(path, path, h5py) as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise CnnCostError(f"{path}: the file holds no model config (weights only, from save_weights?); "
                               "save the whole model with model.save()")
        raw = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        if len(raw) > MAX_CONFIG_BYTES:
            raise LimitError(f"{path}: the model config is {len(raw):,} bytes, over the limit of {MAX_CONFIG_BYTES:,}")
        version = f.attrs.get("keras_version", b"")
        version = version.decode() if isinstance(version, bytes) else str(version)
    return _from_json(path, raw, "h5", version)


# ---- weights ---------------------------------------------------------------------------
def read_weights(kf: KerasFile) -> dict[tuple, list]:
    """Every layer's weights in Keras' order: (names of the nested models, layer name) ->
    [(weight name, reader)], where reader(expected_shape) checks the dataset's header and
    returns the array. Nothing is read until a reader is called."""
    if kf.fmt == "json":
        raise CnnCostError(f"{kf.path}: a model.to_json() holds no weights; use the .keras file (or "
                           "--weights with an .npz)")
    h5py = require_h5py(f"the weights of {kf.path}")
    if kf.fmt == "keras":
        with _open_zip(kf.path) as archive:
            raw = _member(archive, kf.path, "model.weights.h5", MAX_WEIGHTS_BYTES)
        import io

        f = _open_h5(kf.path + ": model.weights.h5", io.BytesIO(raw), h5py)
        size = len(raw)
        out: dict[tuple, list] = {}
        _walk_v3(f, (), out, kf.path, size, 0)
    else:
        f = _open_h5(kf.path, kf.path, h5py)
        size = os.path.getsize(kf.path)
        out = _walk_v2(f, kf.path, size)
    return out


def _reader(ds, where: str, size: int):
    def read(shape: tuple):
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
        except (OSError, ValueError) as exc:
            raise CnnCostError(f"{where} cannot be read ({exc})") from None
    return read


def _walk_v3(group, scope: tuple, out: dict, path: str, size: int, depth: int) -> None:
    """Keras 3's model.weights.h5: layers/<attribute>/vars/<i>, the layer's name in vars' attrs."""
    if depth > 32:
        raise CnnCostError(f"{path}: model.weights.h5 nests layers more than 32 deep")
    layers = group.get("layers")
    if layers is None:
        return
    for key in layers:
        sub = layers[key]
        vars_ = sub.get("vars")
        name = vars_.attrs.get("name", key) if vars_ is not None else key
        name = name.decode() if isinstance(name, bytes) else str(name)
        where = scope + (name,)
        if vars_ is not None and len(vars_):
            n = len(vars_)
            out[where] = [(str(i), _reader(vars_[str(i)], f"{path}: weights of layer '{'.'.join(where)}' #{i}", size))
                          for i in range(n) if str(i) in vars_]
        _walk_v3(sub, where, out, path, size, depth + 1)


def _walk_v2(f, path: str, size: int) -> dict[tuple, list]:
    """tf.keras 2's model_weights/<layer>/<weight path>, layers listed by `layer_names` and
    weights in order by `weight_names` (a layer name may hold a slash, 'conv1/conv', which
    HDF5 reads as nested groups). A nested model's group holds its layers' weights as
    '<inner layer>/<name>:0'."""
    root = f.get("model_weights", f)
    tops = [n.decode() if isinstance(n, bytes) else str(n) for n in root.attrs.get("layer_names", list(root))]
    out: dict[tuple, list] = {}
    for top in tops:
        group = root.get(top)
        if group is None:
            raise CnnCostError(f"{path}: layer '{top}' is listed but the file holds no group for it")
        for raw in group.attrs.get("weight_names", []):
            wname = raw.decode() if isinstance(raw, bytes) else str(raw)
            if wname not in group:
                raise CnnCostError(f"{path}: layer '{top}' lists weight '{wname}', which the file does not hold")
            inner, _, last = wname.rpartition("/")
            owner = (top,) if inner in ("", top) else (top, inner)
            out.setdefault(owner, []).append((last.split(":")[0], _reader(group[wname], f"{path}: weight '{top}/{wname}'",
                                                                          size)))
    return out
