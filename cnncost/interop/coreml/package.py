"""Where a Core ML model's parts are: an `.mlpackage` is a folder (Manifest.json names the
root model item, Data/com.apple.CoreML/model.mlmodel, whose ML Program keeps its weights in
weights/weight.bin beside it); an `.mlmodel` is one protobuf file (a NeuralNetwork holds
its weights inside; an ML Program saved so reads weights/ beside it). Every path a file
names is resolved inside the model's own folder: no `../`, no absolute path, no symlink
out, nothing but regular files."""
from __future__ import annotations

import json
import os

from cnncost.errors import ModelFileError
from cnncost.files import inside_folder, read_bounded

MAX_MANIFEST_BYTES = 1 << 20
MAX_SPEC_BYTES = 2 ** 31 - 1            # protobuf's own limit
DEFAULT_ITEM = "Data/com.apple.CoreML/model.mlmodel"


def inside(folder: str, relative: str, where: str, what: str) -> str:
    """`relative` (a path the model names) as a regular file inside `folder`, or one error."""
    parts = relative.replace("\\", "/").split("/")
    if not relative or os.path.isabs(relative) or relative.startswith(("/", "\\")) or ".." in parts \
            or "\x00" in relative:
        raise ModelFileError(f"{where}: {what} {relative!r} must be a path inside the model's folder "
                             "(no '..', no absolute path)")
    try:
        real = inside_folder(folder, os.path.join(folder, *[p for p in parts if p not in ("", ".")]),
                             f"{where}: {what} {relative!r}:")
    except FileNotFoundError:
        raise ModelFileError(f"{where}: {what} {relative!r}: no such file") from None
    return real


def locate(path: str) -> tuple[str, str]:
    """(the model spec's file, the folder its weights paths start from: `@model_path`)."""
    if not os.path.isdir(path):
        return path, os.path.dirname(os.path.abspath(path))
    raw = read_bounded(inside(path, "Manifest.json", path, "the manifest"), MAX_MANIFEST_BYTES, "Core ML manifest")
    try:
        manifest = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path}: Manifest.json is not valid JSON ({str(exc)[:80]})") from None
    items = manifest.get("itemInfoEntries") if isinstance(manifest, dict) else None
    root = manifest.get("rootModelIdentifier") if isinstance(manifest, dict) else None
    item = items.get(root) if isinstance(items, dict) and isinstance(root, str) else None
    relative = item.get("path") if isinstance(item, dict) else None
    if not isinstance(relative, str):
        raise ModelFileError(f"{path}: Manifest.json names no root model item (rootModelIdentifier and its "
                             "itemInfoEntries path)")
    data = os.path.join(path, "Data")
    spec = inside(data, relative, path, "the root model item")
    return spec, os.path.dirname(spec)


def weights_file(folder: str, name: str, where: str) -> str:
    """A BlobFileValue's file ('@model_path/weights/weight.bin') inside the model's folder."""
    prefix = "@model_path/"
    if not name.startswith(prefix):
        raise ModelFileError(f"{where}: weights file {name!r}: cnncost reads weights under @model_path/ only")
    return inside(folder, name[len(prefix):], where, "weights file")
