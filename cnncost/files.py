"""Every file cnncost reads or writes, handled in one place and safely.

Reads are bounded (at most limit + 1 bytes, from any kind of file: /dev/zero, a FIFO, a
sparse 8 GiB file). NumPy files are judged by their headers (numpy's format module reads
them without the data): key, dtype kind and shape are checked against the network
before a byte of data is read or decompressed, and nothing is ever unpickled. Writes to
a regular file go through a temporary file and a rename (never half a file), with the
permissions the umask allows; anything else (a device, a FIFO, a symlink such as
/dev/stdout) is written straight into, never replaced.
"""
from __future__ import annotations

import errno
import io
import os
import stat

from cnncost.errors import CnnCostError, LimitError

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
ZIP_EMPTY = b"PK\x05\x06"     # an archive with no members
NUMERIC_KINDS = "fiu"          # float, signed and unsigned integers; no complex, bool, dates


# ---- reading -------------------------------------------------------------------------
def read_bounded(path: str, limit: int, what: str) -> bytes:
    """The file's bytes, refusing (before reading on) anything over `limit` bytes."""
    data = read_head(path, limit + 1, what)
    if len(data) > limit:
        raise LimitError(f"{what} {path}: larger than the limit of {limit:,} bytes")
    return data


def inside_folder(folder: str, path: str, what: str) -> str:
    """The real path of `path`, a file a model names beside it (its weights, external
    data), when it is a regular file inside the model's `folder` once every symbolic link is
    resolved; else a ModelFileError naming `what`: a link out of the folder, a device or a
    FIFO (which would block) is never opened. A missing file is the caller's to word."""
    from cnncost.errors import ModelFileError

    base, real = os.path.realpath(folder), os.path.realpath(path)
    if os.path.commonpath([base, real]) != base:
        raise ModelFileError(f"{what} {path} resolves to {real}, outside the model's folder: it is not read")
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ModelFileError(f"{what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise ModelFileError(f"{what} {path} is not a regular file (a folder, device or FIFO is never read)")
    return real


def read_head(path: str, n: int, what: str) -> bytes:
    """At most the first n bytes of any kind of file, or a one-line error."""
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise _unreadable(path, what, exc) from None


def _unreadable(path: str, what: str, exc: OSError) -> CnnCostError:
    if isinstance(exc, FileNotFoundError):
        return CnnCostError(f"{what} {path}: no such file")
    if isinstance(exc, IsADirectoryError):
        return CnnCostError(f"{what} {path}: is a folder")
    return CnnCostError(f"{what} {path}: cannot read ({exc.strerror or exc})")


def map_bounded(path: str, limit: int, stream_limit: int, what: str, check_head=None, head: int = 8):
    """A regular file mapped, not read: its pages cost only when touched (a sparse 2 GB file
    costs the bytes looked at), at most `limit` bytes. Anything else (a pipe, a device, an
    empty or /proc file) is read, its first `head` bytes passed to `check_head` before the
    rest, and at most `stream_limit` bytes. A memoryview either way, or a one-line error."""
    import mmap

    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size:
                if st.st_size > limit:
                    raise LimitError(f"{what} {path}: {st.st_size:,} bytes, over the limit of {limit:,}")
                mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
                if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_RANDOM"):
                    mapped.madvise(mmap.MADV_RANDOM)      # no read-ahead around the pages looked at
                view = memoryview(mapped)
                if check_head is not None:
                    check_head(bytes(view[:head]))
                return view
            first = fh.read(head)
            if check_head is not None:
                check_head(first)
            data = first + fh.read(stream_limit + 1 - len(first))
    except OSError as exc:
        raise _unreadable(path, what, exc) from None
    if len(data) > stream_limit:
        raise LimitError(f"{what} {path}: more than {stream_limit:,} bytes from a pipe or device; save it to a file")
    return memoryview(data)


def _header(fp, what: str):
    """(shape, dtype) from an .npy header, or a one-line error."""
    import zipfile

    import numpy as np
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npformat.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except damage_errors() as exc:
        raise CnnCostError(f"{what}: not a valid .npy array ({_first_line(exc)})") from None
    if dtype.hasobject or dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
        raise CnnCostError(f"{what}: dtype {dtype} is not a real number type (expected float or integer)")
    return tuple(shape), np.dtype(dtype), fortran


def damage_errors() -> tuple:
    """What the standard library raises on a damaged archive or .npy header: the zip layer,
    its decompressors (zlib, bz2, lzma), numpy's header parser (tokenize, ast) and text
    decoding. Caught where a file is read and said in one line."""
    import bz2  # noqa: F401 - imported so that its errors' classes exist
    import lzma
    import tokenize
    import zipfile
    import zlib

    return (ValueError, OSError, EOFError, SyntaxError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
            zlib.error, lzma.LZMAError, tokenize.TokenError, RecursionError)


def _read_data(fp, shape, dtype, fortran, what: str):
    import numpy as np

    count = 1
    for d in shape:
        count *= d
    data = fp.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise CnnCostError(f"{what}: truncated (the header promises {count * dtype.itemsize:,} bytes, "
                           f"the file holds {len(data):,})")
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sniff(path: str, what: str) -> bytes:
    return read_head(path, 8, what)


def open_zip(path: str, where: str, head: bytes, noun: str):
    """A zip archive judged from its first bytes (a zip finds its directory at the end of
    the file, which on /dev/zero or a FIFO means reading without end), then opened."""
    import zipfile

    if not head.startswith((ZIP_MAGIC, ZIP_EMPTY)):
        raise CnnCostError(f"{where}: not a readable {noun} (it starts with {head[:4]!r}; a zip starts with "
                           f"{ZIP_MAGIC!r})")
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise CnnCostError(f"{where}: not a regular file (a zip archive must be seekable)")
    try:
        return zipfile.ZipFile(path)
    except damage_errors() as exc:
        raise CnnCostError(f"{where}: not a readable {noun} ({_first_line(exc)})") from None


def npy_header(path: str, what: str):
    """(shape, dtype, fortran) of a .npy file, reading only its header."""
    head = _sniff(path, what)
    if not head:
        raise CnnCostError(f"{what} {path}: the file is empty")
    if head.startswith(ZIP_MAGIC):
        raise CnnCostError(f"{what} {path}: this is an .npz (zip) archive; a single .npy array is expected")
    with open(path, "rb") as fh:
        return _header(fh, f"{what} {path}")


def load_npy(path: str, what: str, check):
    """A .npy array whose header `check(shape, dtype)` accepted (it raises to refuse)."""
    shape, dtype, fortran = npy_header(path, what)
    check(shape, dtype)
    with open(path, "rb") as fh:
        _header(fh, f"{what} {path}")
        return _read_data(fh, shape, dtype, fortran, f"{what} {path}")


def load_npz(path: str, expected: dict[str, tuple], what: str = "weights") -> dict:
    """Arrays of an .npz keyed as `expected` says ('key' -> shape). Every member's header
    is read and checked first; data is read only when all keys, dtypes and shapes fit."""
    import zipfile

    from cnncost.layers import fmt_shape

    head = _sniff(path, what)
    if not head:
        raise CnnCostError(f"{what} {path}: the file is empty")
    if head.startswith(NPY_MAGIC):
        raise CnnCostError(f"{what} {path}: this is a single .npy array; an .npz archive of "
                           "'<layer path>/<weight name>' arrays is expected (numpy.savez)")
    with open_zip(path, f"{what} {path}", head, ".npz archive") as archive:
        headers, problems = {}, []
        for info in archive.infolist():
            if info.is_dir():
                continue
            if not info.filename.endswith(".npy"):
                problems.append(f"member '{info.filename}' is not an .npy array")
                continue
            key = info.filename[:-4]
            try:
                with archive.open(info) as fp:
                    headers[key] = (info,) + _header(fp, f"{what} {path}: member '{info.filename}'")
            except damage_errors() as exc:
                raise CnnCostError(f"{what} {path}: member '{info.filename}' cannot be read "
                                   f"({_first_line(exc)})") from None
        for key, shape in expected.items():
            if key not in headers:
                problems.append(f"missing '{key}' (layer '{key.rsplit('/', 1)[0]}', shape {fmt_shape(shape)})")
            elif headers[key][1] != tuple(shape):
                problems.append(f"'{key}' has shape {fmt_shape(headers[key][1])}, "
                                f"layer '{key.rsplit('/', 1)[0]}' expects {fmt_shape(shape)}")
        problems += [f"unexpected array '{k}' (no such layer weight)" for k in headers if k not in expected]
        if problems:
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
            raise CnnCostError(f"{what} {path}: " + "; ".join(problems[:3]) + more)
        arrays = {}
        for key, (info, shape, dtype, fortran) in headers.items():
            try:
                with archive.open(info) as fp:
                    _header(fp, what)
                    arrays[key] = _read_data(fp, shape, dtype, fortran, f"{what} {path}: member '{info.filename}'")
            except damage_errors() as exc:
                raise CnnCostError(f"{what} {path}: member '{info.filename}' is damaged "
                                   f"({_first_line(exc)})") from None
    return arrays


# ---- writing -------------------------------------------------------------------------
def write_output(path: str, data: str | bytes) -> None:
    """Write `data` to `path`: a regular file (or a new one) atomically, through a
    temporary file and a rename, with umask permissions; anything else straight into it."""
    write_outputs([(path, data)])


def write_outputs(items: list[tuple[str, str | bytes]]) -> None:
    """Write several files, all or none: each regular one goes to a temporary file first,
    and the renames happen only once every temporary is written (`import`'s spec and its
    weights: a failed .npz leaves no .yaml behind). A device, FIFO or symlink is written
    through, never replaced; a read-only file is refused, as a write to it would be."""
    import tempfile

    staged, through = [], []
    try:
        for path, data in items:
            raw = data.encode("utf-8") if isinstance(data, str) else data
            st = _target_stat(path)
            if st is not None and not stat.S_ISREG(st.st_mode):
                through.append((path, raw))      # device, FIFO, socket or symlink: never replace it
                continue
            target = os.fspath(path)
            folder = os.path.dirname(target) or "."
            if not os.path.isdir(folder):
                raise CnnCostError(f"cannot write {path}: folder {folder} does not exist")
            try:
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
            except OSError as exc:
                raise CnnCostError(f"cannot write {path}: {exc.strerror}") from None
            staged.append((tmp, target))
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(raw)
                os.chmod(tmp, stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask())
            except OSError as exc:
                raise CnnCostError(f"cannot write {path}: {exc.strerror}") from None
        for path, raw in through:
            _write_through(path, raw)
        for tmp, target in staged:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise CnnCostError(f"cannot write {target}: {exc.strerror}") from None
    finally:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def _target_stat(path: str):
    """The existing target's lstat (None: a new file); a folder or a file its mode makes
    read-only is refused (the rename would go through where a write would not)."""
    try:
        st = os.lstat(os.fspath(path))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CnnCostError(f"cannot write {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise CnnCostError(f"cannot write {path}: it is a folder")
    if stat.S_ISREG(st.st_mode) and (not st.st_mode & 0o222 or not os.access(path, os.W_OK)):
        raise CnnCostError(f"cannot write {path}: it is read-only (make it writable, or choose another file)")
    return st


FIFO_WAIT_SECONDS = 5.0


def _write_through(path: str, raw: bytes) -> None:
    """Into a device or FIFO as it is. A FIFO with no reader would block forever: wait a few
    seconds for one, then refuse."""
    import time

    try:
        if stat.S_ISFIFO(os.stat(path).st_mode):
            deadline = time.monotonic() + FIFO_WAIT_SECONDS
            while True:
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                    break
                except OSError as exc:
                    if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            os.set_blocking(fd, True)
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            return
        with open(path, "wb") as fh:
            fh.write(raw)
            fh.flush()
    except OSError as exc:
        why = "no process reads this FIFO" if exc.errno == errno.ENXIO else exc.strerror or exc
        raise CnnCostError(f"cannot write {path}: {why}") from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_arrays(path: str, arrays: dict) -> None:
    """Several arrays as one .npz, each under its name."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_output(path, buf.getvalue())


def save_array(path: str, array) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array)
    write_output(path, buf.getvalue())
