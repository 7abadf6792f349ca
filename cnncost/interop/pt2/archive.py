"""A torch.export archive (torch.export.save: a zip), opened as a hostile file: its members
are checked before anything is read (no '../' or absolute names, no more members or bytes
than a model could hold), its graph is JSON (models/model.json since torch 2.6; before,
serialized_exported_program.json), and its weights are raw tensor bytes
(data/weights/weight_N, described by model_weights_config.json), each a zero-copy view of
the mapped archive when stored uncompressed. Nothing is ever unpickled: a weight the archive
keeps as a pickle (use_pickle, or the older serialized_state_dict.pt) is counted from the
graph's shapes, and `run` says in one line that it cannot have it; a pickle where JSON is
expected is refused by name."""
from __future__ import annotations

import json
import math
import struct
import zipfile
from dataclasses import dataclass, field

from cnncost.errors import ModelFileError
from cnncost.files import damage_errors, map_bounded, open_zip, read_head

MAX_MEMBERS = 100_000
MAX_JSON_BYTES = 256 * 2 ** 20
MAX_ARCHIVE_BYTES = 2 ** 38
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
GRAPH_NAMES = ("models/model.json", "serialized_exported_program.json")
# the export schema's ScalarType -> numpy's name
DTYPES = {1: "uint8", 2: "int8", 3: "int16", 4: "int32", 5: "int64", 6: "float16", 7: "float32", 8: "float64",
          12: "bool", 13: "bfloat16"}
ITEMSIZE = {"uint8": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8, "float16": 2, "float32": 4, "float64": 8,
            "bool": 1, "bfloat16": 2}


@dataclass
class Stored:
    """A tensor the archive keeps: its dtype and sizes, and where its bytes are."""
    dtype: str
    sizes: tuple
    member: str | None = None        # the zip member of raw bytes; None: kept as a pickle
    offset: int = 0                  # storage_offset, in elements
    contiguous: bool = True


@dataclass
class Archive:
    path: str
    root: str                        # the archive's folder prefix ('tiny/')
    program: dict                    # the ExportedProgram's JSON
    version: str                     # which layout: "models/model.json" or the older one
    weights: dict = field(default_factory=dict)       # fully qualified name -> Stored
    zip: zipfile.ZipFile | None = None
    data: memoryview | None = None

    def array(self, name: str, stored: Stored):
        """A weight's values, as numpy: a view of the mapped archive (nothing read until
        touched) when stored, else read from the zip (bounded by its size)."""
        import numpy as np

        if stored.member is None:
            raise ModelFileError(f"{self.path}: weight {name!r} is stored as a pickle, which cnncost never loads: "
                                 "it counts this archive from its graph's shapes; `run` needs the weights as raw "
                                 "tensor bytes (torch.export.save of torch 2.6 or later writes them)")
        if stored.dtype == "bfloat16":
            raise ModelFileError(f"{self.path}: weight {name!r} is bfloat16, which cnncost does not run")
        if not stored.contiguous:
            raise ModelFileError(f"{self.path}: weight {name!r} is a strided view of its storage")
        count = math.prod(stored.sizes)
        size = ITEMSIZE[stored.dtype]
        raw = self._member_bytes(stored.member, (stored.offset + count) * size, name)
        flat = np.frombuffer(raw, dtype=np.dtype(stored.dtype).newbyteorder("<"), count=count,
                             offset=stored.offset * size)
        return flat.reshape(stored.sizes)

    def _member_bytes(self, member: str, need: int, name: str):
        info = self.zip.getinfo(member)
        if info.file_size < need:
            raise ModelFileError(f"{self.path}: weight {name!r}: {member} holds {info.file_size:,} bytes, its sizes "
                                 f"need {need:,}")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size == info.file_size:
            start = _data_start(self.data, info, self.path)
            return self.data[start:start + info.file_size]
        try:
            with self.zip.open(info) as fh:
                raw = fh.read(need + 1)
        except damage_errors() as exc:
            raise ModelFileError(f"{self.path}: weight {name!r}: {member} cannot be read ({exc})") from None
        return memoryview(raw[:need])


def _data_start(data, info, path: str) -> int:
    """Where a stored member's bytes start: after its local header, all inside the file."""
    at = info.header_offset
    if at + 30 > len(data) or bytes(data[at:at + 4]) != b"PK\x03\x04":
        raise ModelFileError(f"{path}: member {info.filename}: no local header at byte {at:,}")
    name_len, extra_len = struct.unpack_from("<HH", data, at + 26)
    start = at + 30 + name_len + extra_len
    if start + info.file_size > len(data):
        raise ModelFileError(f"{path}: member {info.filename}: {info.file_size:,} bytes from {start:,} run past the "
                             f"end of the archive ({len(data):,} bytes)")
    return start


def is_export_archive(path: str) -> bool:
    """A zip whose members include an exported program's JSON graph (torch.export.save)."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith(GRAPH_NAMES) for n in z.namelist()[:MAX_MEMBERS])
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def read_archive(path: str) -> Archive:
    z = open_zip(path, path, read_head(path, 8, "torch.export archive"), "torch.export archive (.pt2)")
    try:
        infos = z.infolist()
    except damage_errors() as exc:
        raise ModelFileError(f"{path}: not a readable torch.export archive ({exc})") from None
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(f"{path}: {len(infos):,} members, more than the {MAX_MEMBERS:,} an archive of a model holds")
    names = {}
    for info in infos:
        n = info.filename
        parts = n.replace("\\", "/").split("/")
        if n.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or "\x00" in n:
            raise ModelFileError(f"{path}: member {n!r} names a path outside the archive ('..' or absolute): refused")
        names[n] = info
    graph = next((n for n in names if n.endswith(GRAPH_NAMES) and n.count("/") <= 2), None)
    if graph is None:
        if any(n.endswith(("data.pkl", ".pkl")) for n in names):
            raise ModelFileError(f"{path}: a torch.save or TorchScript archive (a pickle), not a torch.export "
                                 "archive: cnncost never unpickles; save with torch.export.save, or give the module")
        raise ModelFileError(f"{path}: no exported program in the archive (models/model.json or "
                             "serialized_exported_program.json): not a torch.export archive")
    version = next(g for g in GRAPH_NAMES if graph.endswith(g))
    root = graph[: len(graph) - len(version)]
    program = _json(z, names[graph], path)
    if not isinstance(program, dict) or not isinstance(program.get("graph_module"), dict):
        raise ModelFileError(f"{path}: {graph} holds no graph_module: not an exported program")
    archive = Archive(path, root, program, version, zip=z,
                      data=map_bounded(path, MAX_ARCHIVE_BYTES, 2 ** 31, "torch.export archive"))
    if version == "models/model.json":
        for config in ("data/weights/model_weights_config.json", "data/constants/model_constants_config.json"):
            if root + config in names:
                _weights(archive, names, _json(z, names[root + config], path), config)
    return archive


def _json(z, info, path: str):
    if info.file_size > MAX_JSON_BYTES:
        raise ModelFileError(f"{path}: {info.filename} is {info.file_size:,} bytes, over the {MAX_JSON_BYTES:,} "
                             "a model's graph needs")
    try:
        with z.open(info) as fh:
            raw = fh.read(MAX_JSON_BYTES + 1)
    except damage_errors() as exc:
        raise ModelFileError(f"{path}: {info.filename} cannot be read ({exc})") from None
    if raw.startswith(PICKLE_MAGIC):
        raise ModelFileError(f"{path}: {info.filename} is a pickle where JSON is expected: refused (cnncost never "
                             "unpickles)")
    try:
        return json.loads(raw)
    except RecursionError:
        raise ModelFileError(f"{path}: {info.filename} is nested too deeply to be an exported program") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: {info.filename} is not valid JSON ({str(exc)[:80]})") from None


def _weights(archive: Archive, names: dict, doc, config: str) -> None:
    """Each weight's dtype, sizes and member, from the config beside the weights."""
    folder = config.rsplit("/", 1)[0] + "/"
    entries = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise ModelFileError(f"{archive.path}: {config} has no `config` object")
    for fqn, e in entries.items():
        meta = e.get("tensor_meta") if isinstance(e, dict) else None
        if not isinstance(meta, dict):
            raise ModelFileError(f"{archive.path}: {config}: weight {fqn!r} has no tensor_meta")
        dtype, sizes = tensor_meta(meta, f"{archive.path}: {config}: weight {fqn!r}")
        strides = [s.get("as_int") if isinstance(s, dict) else None for s in meta.get("strides") or []]
        contiguous = strides == [math.prod(sizes[i + 1:]) for i in range(len(sizes))] or math.prod(sizes) <= 1
        offset = (meta.get("storage_offset") or {}).get("as_int", 0) if isinstance(meta.get("storage_offset"), dict) \
            else 0
        member = None
        if not e.get("use_pickle"):
            member = archive.root + folder + str(e.get("path_name", ""))
            if member not in names:
                raise ModelFileError(f"{archive.path}: weight {fqn!r} is in {member}, which the archive does not hold")
        if not isinstance(offset, int) or offset < 0:
            raise ModelFileError(f"{archive.path}: weight {fqn!r} has storage offset {offset!r}")
        archive.weights[fqn] = Stored(dtype, sizes, member, offset, contiguous)


def tensor_meta(meta: dict, where: str) -> tuple[str, tuple]:
    """(dtype, sizes) of a TensorMeta; a symbolic size is refused (export with static shapes)."""
    dtype = DTYPES.get(meta.get("dtype"))
    if dtype is None:
        raise ModelFileError(f"{where}: dtype {meta.get('dtype')!r} is not one cnncost reads")
    sizes = []
    for s in meta.get("sizes") or []:
        v = s.get("as_int") if isinstance(s, dict) else None
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2 ** 40:
            shown = s.get("as_expr", {}).get("expr_str", s) if isinstance(s, dict) and isinstance(
                s.get("as_expr"), dict) else s
            raise ModelFileError(f"{where}: size {shown!r} is symbolic or out of range; cnncost reads programs "
                                 "exported with static shapes")
        sizes.append(v)
    if len(sizes) > 16:
        raise ModelFileError(f"{where}: {len(sizes)} dimensions")
    return dtype, tuple(sizes)
