"""Safe YAML loading that keeps source positions and rejects duplicate keys.

PyYAML's SafeLoader silently keeps the last of two equal keys and forgets where
values came from; we need both for `file:line:col` errors.
"""
from __future__ import annotations

import gc

import yaml

from cnncost.errors import LimitError, Loc, SpecError
from cnncost.spec.located import MAX_FILE_BYTES, YList, YMap

MAX_NODES = 1_000_000


def _loc(loader, node) -> Loc:
    return Loc(loader.source_name, node.start_mark.line + 1, node.start_mark.column + 1)


# libyaml's parser when PyYAML has it (much faster on large specs); same safe constructors.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    source_name = "<spec>"
    nodes_built = 0

    def construct_object(self, node, deep=False):
        self.nodes_built += 1
        if self.nodes_built > MAX_NODES:
            raise LimitError(f"the YAML document expands to more than {MAX_NODES:,} nodes "
                             "(alias expansion bomb?)", loc=_loc(self, node))
        return super().construct_object(node, deep=deep)


def _construct_map(loader: _Loader, node):
    explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    merged = len(node.value) - explicit   # `<<:` pairs come first; explicit keys override them
    out = YMap()
    out.loc = _loc(loader, node)
    out.key_locs = {}
    explicit_keys = set()
    for position, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        kloc = _loc(loader, key_node)
        try:
            hash(key)
        except TypeError:
            raise SpecError("mapping keys must be plain scalars", loc=kloc) from None
        if position >= merged:
            if key in explicit_keys:
                first = out.key_locs[key]
                raise SpecError(f"duplicate key '{key}' (first defined at line {first.line})", loc=kloc)
            explicit_keys.add(key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_locs[key] = kloc
    return out


def _construct_seq(loader: _Loader, node):
    out = YList(loader.construct_object(child, deep=True) for child in node.value)
    out.loc = _loc(loader, node)
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml(text: str | bytes, source_name: str, max_bytes: int = MAX_FILE_BYTES):
    """Parse one YAML document safely; raise SpecError with a position on any problem."""
    if len(text) > max_bytes:
        raise LimitError(f"spec is {len(text):,} bytes; the limit is {max_bytes:,} bytes",
                         loc=Loc(source_name, 1, 1))
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(f"spec is not UTF-8 text (byte {exc.start})",
                            loc=Loc(source_name, 1, 1)) from None
    loader = _Loader(text)
    loader.source_name = source_name
    enabled = gc.isenabled()
    gc.disable()   # building the document allocates only: collector passes would be wasted
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Loc(source_name, mark.line + 1, mark.column + 1) if mark else Loc(source_name, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if "constructor for the tag" in problem:
            problem = f"YAML tags are not allowed here: {problem}"
        raise SpecError(f"invalid YAML: {problem}", loc=loc) from None
    except yaml.reader.ReaderError as exc:
        # a byte or character YAML does not allow: point at it
        before = text[: exc.position]
        loc = Loc(source_name, before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1)
        raise SpecError(f"invalid YAML: {exc.reason} (character #x{exc.character:04x})", loc=loc) from None
    except yaml.YAMLError as exc:
        raise SpecError("invalid YAML: " + " ".join(str(exc).split()), loc=Loc(source_name, 1, 1)) from None
    except RecursionError:
        raise LimitError("YAML nesting is too deep", loc=Loc(source_name, 1, 1)) from None
    finally:
        loader.dispose()
        if enabled:
            gc.enable()
