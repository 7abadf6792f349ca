"""HDF5 from outside, read as a hostile file.

libhdf5 is native code that a damaged file can send into a loop it never leaves (an
attribute read that never returns) or a crash, and its features reach outside the file:
external links, external storage (a dataset's bytes in another file) and virtual datasets.
So:

- every read of an HDF5 file runs in a child process (`isolated`): forked, so it starts in
  about a millisecond with h5py already loaded, under a time limit and an address-space
  limit; a child that overruns either, or dies, is a one-line refusal naming the file.
  Arrays come back through a shared mapping the parent sized from the network's own
  weight shapes; everything else as JSON (nothing is unpickled);
- inside it, every object is reached link by link (`child`), refusing any link that is not
  a hard link before libhdf5 follows it; a dataset is judged by its header (`dataset`):
  its layout (no virtual dataset), its storage (no external file), its filters (only the
  ones HDF5 builds in), its type and shape, before a byte of its data is read; attributes
  and groups by their sizes before they are read or listed.

Where there is no fork (Windows) the work runs in this process, with the same checks and
no time limit.
"""
from __future__ import annotations

import json
import os
import select
import signal
import time
import traceback

from cnncost.errors import CnnCostError, LimitError, ModelFileError

try:                                   # imported here, not in each child (a dlopen there costs ~8 ms)
    import faulthandler
    import mmap
    import resource
except ImportError:                    # pragma: no cover - Windows: no resource module
    resource = None

INSTALL_HINT = "pip install '.[keras]' in a clone of cnncost (or: pip install h5py)"
# what h5py raises on a damaged file (a bad heap, a link name cut short, undecodable text)
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, UnicodeError, IndexError, OverflowError,
             MemoryError)
SECONDS = 3.0                        # a refusal comes within 5 s, start-up included
READ_RATE = 50 * 2 ** 20             # bytes a second granted on top, for a large file read whole
SLACK = 256 * 2 ** 20                # address space for libhdf5's own buffers and metadata
BUILT_IN_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset"}


def require_h5py(why: str):
    try:
        import h5py
    except ImportError:
        raise ModelFileError(f"{why} needs the optional `keras` extra (h5py is not installed): {INSTALL_HINT}") from None
    return h5py


def first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class damaged:
    """Turns h5py's errors on a damaged file into one line naming the file."""

    def __init__(self, where: str):
        self.where = where

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is not None and issubclass(kind, H5_ERRORS) and not issubclass(kind, CnnCostError):
            if issubclass(kind, MemoryError):
                raise LimitError(f"{self.where}: reading it needs more memory than the network's weights; "
                                 "refused") from None
            raise ModelFileError(f"{self.where}: the HDF5 file is damaged ({first_line(exc)})") from None
        return False


def time_limit(size: int) -> float:
    """Seconds a child may take over a file of `size` bytes."""
    return SECONDS + size / READ_RATE


# ---- the child process ----------------------------------------------------------------------
def isolated(work, where: str, *, seconds: float, memory: int, shared_bytes: int = 0):
    """`work(shared)` run in a forked child: its JSON-able result (or its CnnCostError,
    raised here again), and `shared`, a mapping of `shared_bytes` the child wrote into.
    The child may add at most `memory` bytes of address space and take `seconds`."""
    shared = mmap.mmap(-1, max(shared_bytes, 1), flags=mmap.MAP_SHARED) if hasattr(mmap, "MAP_SHARED") \
        else bytearray(max(shared_bytes, 1))
    if not hasattr(os, "fork"):                             # pragma: no cover - Windows: no fork
        return _outcome(_work(work, shared, where)), shared
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                            # pragma: no cover - the child (coverage does not see it)
        code = 0
        try:
            os.close(read_end)
            _quiet()
            _limit_memory(memory)
            payload = json.dumps(_work(work, shared, where)).encode()
            view = memoryview(payload)
            while view:
                view = view[os.write(write_end, view):]
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    chunks, deadline, status = [], time.monotonic() + seconds, None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                raise ModelFileError(f"{where}: libhdf5 did not finish reading it within {seconds:.0f} s "
                                   "(a damaged file); refused")
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(read_end)
        if status is None:           # stopped by the time limit, or by a signal here (Ctrl-C): no orphan left
            _kill(pid)
    if os.WIFSIGNALED(status) or not chunks:
        why = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
        raise ModelFileError(f"{where}: libhdf5 failed reading it ({why}: a damaged file); refused")
    try:
        payload = json.loads(b"".join(chunks))
    except ValueError:                                   # pragma: no cover - a child cut short
        raise ModelFileError(f"{where}: libhdf5 failed reading it (a damaged file); refused") from None
    return _outcome(payload), shared


def _work(work, shared, where: str) -> dict:
    try:
        return {"ok": work(shared)}
    except CnnCostError as exc:
        return {"error": str(exc), "limit": isinstance(exc, LimitError)}
    except MemoryError:
        return {"error": f"{where}: reading it needs more memory than the network's weights; refused",
                "limit": True}
    except Exception as exc:                               # a bug of ours: shown as one, not as a refusal
        return {"bug": f"reading {where}:\n" + "".join(traceback.format_exception(exc))[-3000:]}


def _outcome(payload: dict):
    if "ok" in payload:
        return payload["ok"]
    if "bug" in payload:
        raise RuntimeError(f"the HDF5 reader failed {payload['bug']}")
    raise (LimitError if payload.get("limit") else CnnCostError)(payload["error"])


def _quiet() -> None:
    """The child says nothing on the terminal: its outcome comes back through the pipe (a
    crash in libhdf5 would otherwise print Python's fault handler's traceback)."""
    faulthandler.disable()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)


def _limit_memory(extra: int) -> None:
    """The child's address space: what it has at the fork, plus `extra` (libhdf5's own
    allocations, a decompressed archive member), so that a lying header cannot spend more."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[0])
        now = pages * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (now + extra + SLACK, now + extra + SLACK))
    except (OSError, ValueError, AttributeError):
        pass                                               # no /proc (macOS): the time limit still holds


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


# ---- inside the child: objects reached link by link, judged by their headers --------------
def child(h5py, group, name: str, where: str):
    """The object at `name` (a path of one or more parts) under `group`, or None when a
    part does not exist; any link that is not a hard link (an external link to another
    file, a soft link, a user-defined link) is refused before libhdf5 follows it."""
    node = group
    for part in name.split("/"):
        if not part or part == ".":
            continue
        if not isinstance(node, h5py.Group):
            return None
        raw = part.encode("utf-8", "surrogateescape")
        if not node.id.links.exists(raw):
            return None
        kind = node.id.links.get_info(raw).type
        if kind != h5py.h5l.TYPE_HARD:
            raise ModelFileError(f"{where}: '{node.name.rstrip('/')}/{part}' is {_link(h5py, node, raw, kind)}; "
                               "a model file is read alone, nothing it points to outside itself; refused")
        node = node[raw]
    return node


def _link(h5py, node, raw: bytes, kind: int) -> str:
    if kind == h5py.h5l.TYPE_EXTERNAL:
        target, path = node.id.links.get_val(raw)
        return f"an external link to '{_show(target)}' ({_show(path)})"
    if kind == h5py.h5l.TYPE_SOFT:
        return f"a soft link to '{_show(node.id.links.get_val(raw))}'"
    return f"a user-defined link (type {kind})"


def _show(v) -> str:
    return (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))[:120]


def members(h5py, group, most: int, where: str) -> list[str]:
    """The names in a group, counted from its header before they are listed."""
    count = len(group)
    if count > most:
        raise LimitError(f"{where}: group '{group.name}' holds {count:,} entries, more than the network's "
                         f"{most:,} could need; refused")
    return [n for n in group]


def dataset(h5py, ds, where: str, shape: tuple, size: int):
    """A dataset's values, judged by its header first: stored in the file itself (no
    external storage, no virtual dataset), with filters HDF5 builds in, a number type and
    the `shape` the config makes (axes of 1 aside: PReLU's 1 x 1 x C slope is C here), not
    declaring more bytes than a file of `size` bytes can hold. Read as float32."""
    import numpy as np

    plist = ds.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise ModelFileError(f"{where} is a virtual dataset (its values in other files); refused")
    if plist.get_external_count():
        target = _show(plist.get_external(0)[0])
        raise ModelFileError(f"{where} keeps its values in the external file '{target}'; refused")
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in BUILT_IN_FILTERS:
            raise ModelFileError(f"{where} is compressed by filter {code}, not one HDF5 builds in; refused")
    if ds.dtype.kind not in "fiu" or ds.dtype.itemsize > 8:
        raise ModelFileError(f"{where}: dtype {ds.dtype} is not a number type")
    if [d for d in ds.shape if d != 1] != [d for d in shape if d != 1]:
        raise ModelFileError(f"{where} has shape {'x'.join(map(str, ds.shape)) or 'scalar'}, "
                           f"the config makes {'x'.join(map(str, shape))}")
    nbytes = int(np.prod(ds.shape, dtype=object)) * ds.dtype.itemsize
    if nbytes > size * (1 if plist.get_nfilters() == 0 else 64):     # compressed: at most 64:1
        raise ModelFileError(f"{where} declares {nbytes:,} bytes in a file of {size:,}")
    return np.asarray(ds[()], dtype=np.float32).reshape(shape)


def text_attribute(h5py, obj, name: str, most: int, where: str) -> bytes | None:
    """A text attribute's bytes (undecodable ones kept, for the JSON reader to refuse), or
    None where there is none; judged by its type and size before it is read."""
    if name not in obj.attrs:
        return None
    aid = obj.attrs.get_id(name)
    if aid.dtype.kind not in "SOU" or (aid.dtype.kind == "O" and h5py.check_string_dtype(aid.dtype) is None):
        raise ModelFileError(f"{where}: attribute '{name}' is {aid.dtype}, not text")
    if aid.shape not in ((), (1,)):
        raise ModelFileError(f"{where}: attribute '{name}' holds {'x'.join(map(str, aid.shape))} values, not one text")
    if aid.get_storage_size() > most:
        raise LimitError(f"{where}: attribute '{name}' is {aid.get_storage_size():,} bytes, over the limit of {most:,}")
    raw = obj.attrs[name]
    if not isinstance(raw, (str, bytes)):
        raw = raw.reshape(-1)[0] if hasattr(raw, "reshape") else raw
    raw = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
    if len(raw) > most:
        raise LimitError(f"{where}: attribute '{name}' is {len(raw):,} bytes, over the limit of {most:,}")
    return raw


def names_attribute(h5py, group, name: str, most: int, where: str) -> list[str] | None:
    """A list of names (Keras' layer_names, weight_names) counted before it is read; None
    where there is none."""
    if name not in group.attrs:
        return None
    aid = group.attrs.get_id(name)
    count = 1
    for d in aid.shape:
        count *= d
    if count > most:
        raise LimitError(f"{where}: '{group.name}' lists {count:,} names in {name}, more than the network's "
                         f"{most:,} could need; refused")
    if count == 0:                                    # Keras writes an empty list as an empty float array
        return []
    if aid.dtype.kind not in "SOU" or (aid.dtype.kind == "O" and h5py.check_string_dtype(aid.dtype) is None):
        raise ModelFileError(f"{where}: '{group.name}' attribute {name} is {aid.dtype}, not names")
    raw = group.attrs[name]
    values = [raw] if isinstance(raw, (str, bytes)) else list(raw.reshape(-1))
    return [v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v) for v in values]
