"""A cache of parsed bundled specs (and the block library), so that a report of a bundled
architecture needs neither PyYAML's import nor its parse: the start-up a user waits for.

Keyed on content: an entry is named by the sha256 of the YAML bytes it was parsed from and
lives under a folder named by cnncost's version and this format's number, so a changed
spec, another version of cnncost or another encoding never finds it. An entry is JSON (no
pickles): each mapping and list keeps its line and column, so errors point into the YAML
exactly as a fresh parse would. A missing, unreadable or malformed entry is a miss and the
YAML is parsed; a cache folder that cannot be written is silently not used.

`CNNCOST_CACHE_DIR` chooses the folder (default: $XDG_CACHE_HOME/cnncost or
~/.cache/cnncost); `CNNCOST_NO_CACHE=1` turns the cache off.
"""
from __future__ import annotations

import json
import os

from cnncost.errors import Loc
from cnncost.spec.located import YList, YMap

FORMAT = 1
MAX_ENTRY_BYTES = 8 * 1024 * 1024      # a parsed spec of the largest allowed YAML, with positions
_SCALARS = (str, int, float, bool, type(None))


def folder() -> str | None:
    """Where entries of this version live, or None when the cache is off."""
    if os.environ.get("CNNCOST_NO_CACHE", "") not in ("", "0"):
        return None
    from cnncost import __version__

    root = os.environ.get("CNNCOST_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "cnncost")
    return os.path.join(root, f"{__version__}-f{FORMAT}")


class _NotCacheable(Exception):
    """A value JSON cannot carry as it is (a YAML date, binary, set): parse such a spec."""


def encode(value):
    """The document as JSON values: ["m", line, col, key, key_line, key_col, value, ...] for a
    mapping, ["l", line, col, item, ...] for a list, scalars as they are."""
    if isinstance(value, YMap):
        out = ["m", value.loc.line, value.loc.col]
        for key, item in value.items():
            if not isinstance(key, _SCALARS):
                raise _NotCacheable
            kloc = value.loc_of(key)
            out += [key, kloc.line, kloc.col, encode(item)]
        return out
    if isinstance(value, YList):
        return ["l", value.loc.line, value.loc.col, *map(encode, value)]
    if isinstance(value, _SCALARS):
        return value
    raise _NotCacheable


def decode(value, path: str):
    if not isinstance(value, list):
        return value
    tag, line, col = value[0], value[1], value[2]
    if tag == "l":
        out = YList(decode(v, path) for v in value[3:])
        out.loc = Loc(path, line, col)
        return out
    if tag != "m" or (len(value) - 3) % 4:
        raise ValueError("malformed cache entry")
    m = YMap()
    m.loc, m.key_locs = Loc(path, line, col), {}
    items = value[3:]
    for i in range(0, len(items), 4):
        key = items[i]
        m[key] = decode(items[i + 3], path)
        m.key_locs[key] = Loc(path, items[i + 1], items[i + 2])
    return m


def load(text: bytes, path: str, digest: str, max_bytes: int):
    """The parsed document of `text` (YAML bytes whose sha256 is `digest`), from the cache
    when it holds it, else parsed (and stored for next time)."""
    where = folder()
    entry = os.path.join(where, f"{digest}.json") if where else None
    if entry is not None:
        try:
            with open(entry, "rb") as fh:
                raw = fh.read(MAX_ENTRY_BYTES + 1)
            if len(raw) <= MAX_ENTRY_BYTES:
                return decode(json.loads(raw), path)
        except (OSError, ValueError, TypeError, IndexError, RecursionError):
            pass                          # a miss: parse it
    from cnncost.spec.yamlload import load_yaml

    doc = load_yaml(text, path, max_bytes)
    if entry is not None:
        _store(entry, doc)
    return doc


def _store(entry: str, doc) -> None:
    try:
        data = json.dumps(encode(doc), separators=(",", ":")).encode("utf-8")
    except (_NotCacheable, ValueError, RecursionError):
        return
    tmp = f"{entry}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, entry)            # readers see a whole entry or none
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
