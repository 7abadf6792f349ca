"""The containers a Keras model comes in, opened as hostile files: a Keras 3 `.keras` (a zip
of config.json, metadata.json and model.weights.h5), a legacy `.h5` (tf.keras 2: the
`model_config` attribute and the `model_weights` group) and a bare `model.to_json()`.

Counting needs only the config, read from the zip with the standard library; the weights
(keras_weights) and every legacy `.h5` need h5py, the optional extra `keras`, and are read
by libhdf5 in a child process under a time limit (hdf5_guard). Zip members are checked
before a byte is decompressed (names, symlinks, sizes), reads are bounded, and nothing in a
file is ever unpickled or run (a Lambda layer's code stays unread).
"""
from __future__ import annotations

import base64
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass

from cnncost.errors import LimitError, ModelFileError
from cnncost.files import damage_errors, open_zip, read_bounded
from cnncost.interop.keras import hdf5_guard as guard

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MAX_CONFIG_BYTES = 32 * 2 ** 20        # keras.applications' largest config (NASNetLarge) is ~2 MB
MAX_MEMBERS = 256


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
    if ext != ".json":          # another suffix (formats.py found it by its first bytes)
        head = _head(path) if os.path.isfile(path) else b""
        if head.startswith(b"PK\x03\x04"):
            return _read_zip(path)
        if head.startswith(HDF5_MAGIC):
            return _read_legacy(path)
    return _from_json(path, read_bounded(path, MAX_CONFIG_BYTES, "Keras model"), "json", "")


def _from_json(path: str, raw: bytes, fmt: str, version: str) -> KerasFile:
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise ModelFileError(f"{path}: the model config is nested too deeply to be a Keras model") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: the model config is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict) or "class_name" not in doc:
        raise ModelFileError(f"{path}: not a Keras model config (expected an object with `class_name` and `config`)")
    version = version or str(doc.get("keras_version", ""))
    return KerasFile(path, doc, fmt, version)


# ---- .keras (Keras 3) ----------------------------------------------------------------
def open_archive(path: str) -> zipfile.ZipFile:
    _regular(path, "a zip archive")
    archive = open_zip(path, path, _head(path), ".keras archive")
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise LimitError(f"{path}: {len(infos):,} members in the archive (a .keras file holds a few)")
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise ModelFileError(f"{path}: member '{name}' points outside the archive; refused")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ModelFileError(f"{path}: member '{name}' is a symbolic link; refused")
    return archive


def _regular(path: str, what: str) -> None:
    """A FIFO or a device is refused before it is opened: opening a FIFO nobody writes to
    waits for ever, and neither can be seeked."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return                                   # the read that follows says what is wrong
    if not regular:
        raise ModelFileError(f"{path}: not a regular file ({what} must be seekable)")


def _head(path: str) -> bytes:
    from cnncost.files import read_head

    return read_head(path, 8, "Keras model")


def member(archive: zipfile.ZipFile, path: str, name: str, limit: int) -> bytes:
    """A member's bytes, never more than `limit` decompressed (a zip bomb stops there)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ModelFileError(f"{path}: the archive has no {name} (members: "
                           f"{', '.join(archive.namelist()[:6]) or 'none'})") from None
    if info.file_size > limit:
        raise LimitError(f"{path}: {name} is {info.file_size:,} bytes, over the limit of {limit:,}")
    try:
        with archive.open(info) as fh:
            data = fh.read(limit + 1)
    except damage_errors() as exc:              # zlib.error, LZMAError, a bad CRC, an encrypted member
        raise ModelFileError(f"{path}: {name} cannot be read ({guard.first_line(exc)})") from None
    if len(data) > limit:
        raise LimitError(f"{path}: {name} decompresses to more than {limit:,} bytes; refused")
    return data


def _read_zip(path: str) -> KerasFile:
    with open_archive(path) as archive:
        raw = member(archive, path, "config.json", MAX_CONFIG_BYTES)
        version = ""
        if "metadata.json" in archive.namelist():
            try:
                version = str(json.loads(member(archive, path, "metadata.json", 2 ** 16)).get("keras_version", ""))
            except (ValueError, AttributeError, RecursionError):
                version = ""
    return _from_json(path, raw, "keras", version)


# ---- legacy .h5 (tf.keras 2) ---------------------------------------------------------
def _read_legacy(path: str) -> KerasFile:
    """The config and version of a legacy .h5, read by libhdf5 in a child process under a
    time limit (a damaged heap can keep its attribute read from ever returning)."""
    _regular(path, "an HDF5 file")
    head = _head(path)
    if head.startswith(b"PK\x03\x04"):       # a .keras archive saved under .h5: read as what it is
        return _read_zip(path)
    if not head.startswith(HDF5_MAGIC):
        raise ModelFileError(f"{path}: not an HDF5 file (it starts with {head[:8]!r}); a Keras .h5 starts with "
                           f"{HDF5_MAGIC!r}")
    h5py = guard.require_h5py(f"reading {path} (a legacy Keras .h5)")

    def work(_):
        try:
            f = h5py.File(path, "r")
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{path}: not a readable HDF5 file ({guard.first_line(exc)})") from None
        with f, guard.damaged(path):
            raw = guard.text_attribute(h5py, f, "model_config", MAX_CONFIG_BYTES, path)
            if raw is None:
                raise ModelFileError(f"{path}: the file holds no model config (weights only, from save_weights?); "
                                   "save the whole model with model.save()")
            version = guard.text_attribute(h5py, f, "keras_version", 256, path) or b""
            return [base64.b64encode(raw).decode(), version.decode("utf-8", "replace")]

    raw, version = guard.isolated(work, path, seconds=guard.SECONDS, memory=4 * MAX_CONFIG_BYTES)[0]
    return _from_json(path, base64.b64decode(raw), "h5", version)


def snake_case(class_name: str) -> str:
    """The key Keras' saving_lib (Keras 3 and tf.keras 2 alike) files a layer under, before
    its number: `to_snake_case(layer.__class__.__name__)` (ReLU -> re_lu, Conv2D -> conv2d)."""
    name = re.sub(r"\W+", "", class_name.rsplit(">", 1)[-1])
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return "private" + name if name.startswith("_") else name


