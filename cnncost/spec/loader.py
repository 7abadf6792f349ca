"""YAML -> ArchSpec: the top-level structure of a spec file, its blocks, and the common
block library. Expansion of layers into a graph lives in `build.py`.
"""
from __future__ import annotations

import functools
import os
import re

from cnncost.errors import Loc, SpecError, did_you_mean
from cnncost.records import Struct
from cnncost.spec.located import MAX_FILE_BYTES, YList, YMap

TOP_KEYS = ("name", "source", "description", "variant", "vars", "variants", "input", "layers", "blocks",
            "expect", "outputs", "input_precision")
BLOCK_KEYS = ("params", "inputs", "layers", "output", "doc")


class BlockDef(Struct):
    __slots__ = ("name", "params", "layers", "output", "loc", "doc", "inputs")

    def __init__(self,
                 name: str,
                 params: YMap,                        # parameter -> default (None: required)
                 layers: YList,
                 output: str | None,
                 loc: Loc,
                 doc: str = "",
                 inputs: tuple[str, ...] = ("input",)):  # a block of several inputs names them
        self.name = name
        self.params = params
        self.layers = layers
        self.output = output
        self.loc = loc
        self.doc = doc
        self.inputs = inputs


class ArchSpec(Struct):
    __slots__ = ("name", "path", "input", "layers", "outputs", "vars", "blocks", "expect", "source",
                 "description", "loc", "digest", "batch", "batch_from", "params_as", "accounting",
                 "input_precision", "variants")

    def __init__(self,
                 name: str,
                 path: str,                           # what errors call the file
                 input: object,  # [H, W, C], any shape, or {name: shape, ...} (values may be expressions)
                 layers: YList,
                 outputs: object = None,              # the layers that are the network's outputs (default: the last)
                 vars: YMap | None = None,
                 blocks: dict[str, BlockDef] | None = None,
                 expect: YMap | None = None,
                 source: str = "",
                 description: str = "",
                 loc: Loc | None = None,
                 digest: str = "",                    # sha256 of the spec's bytes: what a baseline was measured on
                 batch: int | None = None,            # the batch an imported model fixes (its file or --input-shape)
                 batch_from: str = "",                # where that batch was said: "--input-shape" or "file"
                 params_as: str = "",  # how params are counted when not by the spec's own layers (imports)
                 accounting: dict | None = None,      # a framework's own param lines (Keras' summary)
                 # the input's stored dtype and quantization (a TFLite int8 file)
                 input_precision: dict | None = None,
                 variants: dict[str, dict] | None = None):  # name -> vars: ways to compare
        self.name = name
        self.path = path
        self.input = input
        self.layers = layers
        self.outputs = outputs
        self.vars = YMap() if vars is None else vars
        self.blocks = {} if blocks is None else blocks
        self.expect = expect
        self.source = source
        self.description = description
        self.loc = loc
        self.digest = digest
        self.batch = batch
        self.batch_from = batch_from
        self.params_as = params_as
        self.accounting = {} if accounting is None else accounting
        self.input_precision = input_precision
        self.variants = {} if variants is None else variants


def _need(cond: bool, message: str, loc: Loc) -> None:
    if not cond:
        raise SpecError(message, loc=loc)


def _mapping(value, what: str, loc: Loc) -> YMap:
    _need(isinstance(value, YMap), f"{what} must be a mapping, received {type(value).__name__}", loc)
    return value


def _parse_blocks(raw, loc: Loc) -> dict[str, BlockDef]:
    blocks = {}
    for bname, body in _mapping(raw, "`blocks`", loc).items():
        bloc = raw.loc_of(bname)
        _need(isinstance(bname, str) and bname.isidentifier(),
              f"block name {bname!r} must be an identifier", bloc)
        body = _mapping(body, f"block '{bname}'", bloc)
        for key in body:
            if key not in BLOCK_KEYS:
                raise SpecError(f"unknown key '{key}' in block '{bname}'{did_you_mean(key, BLOCK_KEYS)} "
                                f"(known: {', '.join(BLOCK_KEYS)})", loc=body.loc_of(key))
        params = body.get("params", YMap())
        if not isinstance(params, YMap):
            raise SpecError(f"`params` of block '{bname}' must be a mapping", loc=body.loc_of("params"))
        if not hasattr(params, "loc"):
            params.loc, params.key_locs = body.loc, {}
        layers = body.get("layers")
        _need(isinstance(layers, YList) and len(layers) > 0,
              f"block '{bname}' needs a non-empty `layers` list", body.loc_of("layers"))
        output = body.get("output")
        _need(output is None or isinstance(output, str), "`output` must be a layer name",
              body.loc_of("output"))
        names = body.get("inputs", ["input"])
        _need(isinstance(names, list) and names and all(isinstance(n, str) and n.isidentifier() for n in names)
              and len(set(names)) == len(names), "`inputs` of a block must be a list of distinct names",
              body.loc_of("inputs") if "inputs" in body else body.loc)
        blocks[bname] = BlockDef(bname, params, layers, output, body.loc, str(body.get("doc", "")),
                                 tuple(names))
    return blocks


def parse_spec(text: str | bytes, path: str, max_bytes: int = MAX_FILE_BYTES, *, cached: bool = False) -> ArchSpec:
    """Parse and structurally validate a spec document. `cached`: a bundled spec, whose
    parsed document may come from the cache of parsed specs (spec/cache.py)."""
    digest = sha256_of(text)
    if cached and isinstance(text, bytes):
        from cnncost.spec.cache import load

        return _from_document(load(text, path, digest, max_bytes), path, digest)
    from cnncost.spec.yamlload import load_yaml

    return _from_document(load_yaml(text, path, max_bytes), path, digest)


def sha256_of(text: str | bytes) -> str:
    try:      # CPython's own SHA-256 (the same digest) loads in a third of OpenSSL's time
        from _sha2 import sha256  # type: ignore[import-not-found]   # 3.12 and later
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,no-redef]   # 3.11
        except ImportError:
            from hashlib import sha256  # type: ignore[no-redef]
    return sha256(text if isinstance(text, bytes) else text.encode("utf-8")).hexdigest()


def _located(value, path: str, line: int):
    """A plain document as the YAML loader would give it, every position on `line`."""
    if isinstance(value, dict):
        out = YMap((k, _located(v, path, line)) for k, v in value.items())
        out.loc, out.key_locs = Loc(path, line, 5), {}
        return out
    if isinstance(value, list):
        out = YList(_located(v, path, line) for v in value)
        out.loc = Loc(path, line, 5)
        return out
    return value


def spec_from_document(document: dict, path: str, digest: str, *, first_layer_line: int) -> ArchSpec:
    """A spec a reader of a model file made (a plain document), without a YAML round: each
    layer located on the line `cnncost import` writes it to (`first_layer_line` + i)."""
    doc = _located({k: v for k, v in document.items() if k != "layers"}, path, 1)
    doc["layers"] = YList(_located(layer, path, first_layer_line + i) for i, layer in enumerate(document["layers"]))
    doc["layers"].loc = Loc(path, first_layer_line - 1, 1)
    return _from_document(doc, path, digest)


def _from_document(doc, path: str, digest: str) -> ArchSpec:
    top = Loc(path, 1, 1)
    _need(isinstance(doc, YMap), "a spec must be a YAML mapping with `input` and `layers`", top)
    for key in doc:
        if key not in TOP_KEYS:
            raise SpecError(f"unknown top-level key '{key}'{did_you_mean(key, TOP_KEYS)} "
                            f"(known: {', '.join(TOP_KEYS)})", loc=doc.loc_of(key))
    _need("input" in doc, "missing `input: [H, W, C]`", doc.loc)
    _need("layers" in doc, "missing `layers:` list", doc.loc)
    layers = doc["layers"]
    _need(isinstance(layers, YList) and len(layers) > 0, "`layers` must be a non-empty list",
          doc.loc_of("layers"))
    vars_ = doc.get("vars", YMap())
    if "vars" in doc:
        _mapping(vars_, "`vars`", doc.loc_of("vars"))
        for vname in vars_:
            _need(isinstance(vname, str) and vname.isidentifier(),
                  f"variable name {vname!r} must be an identifier", vars_.loc_of(vname))
    expect = doc.get("expect")
    if expect is not None:
        _mapping(expect, "`expect`", doc.loc_of("expect"))
    name = doc.get("name", os.path.splitext(os.path.basename(path))[0])
    _need(isinstance(name, str), "`name` must be a string", doc.loc_of("name"))
    blocks = _parse_blocks(doc["blocks"], doc.loc_of("blocks")) if "blocks" in doc else {}
    variants = _parse_variants(doc["variants"], vars_, doc.loc_of("variants")) if "variants" in doc else {}
    return ArchSpec(name=name, path=path, input=doc["input"], layers=layers, vars=vars_, outputs=doc.get("outputs"),
                    blocks=blocks, expect=expect, source=str(doc.get("source", "")),
                    description=str(doc.get("description", "")), loc=doc.loc, digest=digest,
                    input_precision=doc.get("input_precision"),
                    variants=variants)


def _parse_variants(raw, vars_: YMap, loc: Loc) -> dict[str, dict]:
    """`variants: {normal: {way: normal}, separable: {way: separable}}`: the ways a worked
    example is meant to be compared (`cnncost compare SPEC` puts them side by side)."""
    out = {}
    for vname, values in _mapping(raw, "`variants`", loc).items():
        where = raw.loc_of(vname)
        _need(isinstance(vname, str) and vname.isidentifier(), f"variant name {vname!r} must be an identifier",
              where)
        _mapping(values, f"variant '{vname}'", where)
        for key in values:
            _need(key in vars_, f"variant '{vname}' sets '{key}', which is not one of `vars`", values.loc_of(key))
        out[vname] = dict(values)
    _need(len(out) >= 2, "`variants` needs two or more ways to compare", loc)
    return out


PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.cache
def library_blocks() -> dict[str, BlockDef]:
    """The common blocks every spec can `use` (cnncost/blocks.yaml)."""
    from cnncost.spec.cache import load

    with open(os.path.join(PACKAGE_DIR, "blocks.yaml"), "rb") as fh:
        text = fh.read()
    doc = load(text, "cnncost/blocks.yaml", sha256_of(text), MAX_FILE_BYTES)
    return _parse_blocks(doc["blocks"], doc.loc)


@functools.cache
def _architectures() -> str:
    """The folder of the bundled specs: the package's `architectures` when installed (the
    import system knows where, an editable install included), the checkout's otherwise.
    Plain paths: importlib.resources and pathlib cost more start-up than the whole report."""
    from importlib.util import find_spec

    try:
        found = find_spec("cnncost.architectures")
    except ModuleNotFoundError:
        found = None
    if found is not None and found.submodule_search_locations:
        return list(found.submodule_search_locations)[0]
    return os.path.join(os.path.dirname(PACKAGE_DIR), "architectures")


def is_bundled(spec: str) -> bool:
    """Whether a SPEC argument is the name of a bundled architecture (not a file of that name)."""
    return "/" not in spec and os.sep not in spec and os.path.isfile(os.path.join(_architectures(), f"{spec}.yaml"))


def bundled_names() -> list[str]:
    return sorted(n[:-5] for n in os.listdir(_architectures()) if n.endswith(".yaml"))


def read_spec(spec: str, max_bytes: int = MAX_FILE_BYTES) -> tuple[str, str]:
    """Resolve a path or a bundled name to (display path, text); never reads more than
    max_bytes + 1 bytes (a spec path may be /dev/zero or a sparse 8 GiB file)."""
    from cnncost.files import read_bounded

    p = os.path.normpath(spec) if spec else spec
    if os.path.splitext(spec)[1] in (".yaml", ".yml") or os.path.exists(spec):
        return p, read_bounded(p, max_bytes, "spec")
    if is_bundled(spec):
        with open(os.path.join(_architectures(), f"{spec}.yaml"), "rb") as fh:
            return f"{spec}.yaml", fh.read()
    names = bundled_names()
    raise SpecError(f"'{spec}' is neither a spec file nor a bundled architecture{did_you_mean(spec, names)} "
                    f"(bundled: {', '.join(names) or 'none'})")


def load_spec(spec: str, max_bytes: int = MAX_FILE_BYTES) -> ArchSpec:
    """A YAML spec file or a bundled name (model files enter through cnncost/sources.py)."""
    path, text = read_spec(spec, max_bytes)
    return parse_spec(text, path, max_bytes, cached=path != os.path.normpath(spec))   # bundled


def refuse_input_shape(spec: ArchSpec, shape) -> None:
    """--input-shape fixes a model file's dynamic axes; a spec's input is its `input:` and its
    variables. Never ignored without a word: the refusal names the way that works."""
    given = "x".join(map(str, shape)) if all(isinstance(d, int) for d in shape) else str(shape)
    text = "[" + ", ".join(str(v) for v in spec.input) + "]" if isinstance(spec.input, list) else str(spec.input)
    names = [v for v in spec.vars if f"${v}" in text or re.search(rf"\b{re.escape(v)}\b", text)]
    hw = shape[2:] if len(shape) == 4 and all(isinstance(d, int) for d in shape) else ()
    if names:
        how = "set its variables instead: " + " ".join(
            f"--set {n}={hw[0] if hw and n == 'resolution' else '...'}" for n in names)
        if hw and hw[0] != hw[1]:
            how += (f" (that is {hw[0]}x{hw[0]}; a {hw[0]}x{hw[1]} input needs a copy of the spec with "
                    f"`input: [{hw[0]}, {hw[1]}, ...]`)")
    else:
        how = "its input is fixed: change `input:` in a copy of the spec"
    raise SpecError(f"{spec.name}: --input-shape {given} applies to model files (ONNX, Keras, TFLite, modules); "
                    f"this spec's input is {text}: {how}; the batch is --batch", loc=spec.loc)
