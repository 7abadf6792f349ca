"""The XML half of an OpenVINO IR (v10, v11): its layers, their ports' dims and its edges,
read with expat as a stream. The file is hostile: a DOCTYPE (where entities, and so the
billion-laughs bomb and external entities, are declared) is refused before anything is
expanded, and the size of the file, the nesting, the number of layers, edges, ports and
dims are bounded. A layer's sub-graph (TensorIterator, Loop, If bodies) is skipped, not
read: the translator refuses those layers by type."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from xml.parsers import expat

from cnncost.errors import ModelFileError

MAX_XML_BYTES = 256 * 2 ** 20      # resnet152's IR is some 1 MB; a transformer's a few
MAX_LAYERS = 200_000               # a conv is some four layers (Const, Convert, Convolution, Add)
MAX_EDGES = 400_000
MAX_PORTS = 4096                   # a Concat of many inputs
MAX_RANK = 16
MAX_DEPTH = 64
MAX_DIM = 2 ** 31 - 1
IR_VERSIONS = (10, 11)


@dataclass
class Port:
    id: int
    dims: tuple            # int per axis, None where dynamic (-1, ?)
    precision: str = ""


@dataclass
class Layer:
    id: int
    name: str
    type: str
    version: str
    attrs: dict = field(default_factory=dict)       # the <data> element's, as text
    inputs: list = field(default_factory=list)      # Port
    outputs: list = field(default_factory=list)     # Port
    has_body: bool = False                          # holds a sub-graph (control flow)

    def output(self, port_id: int) -> Port | None:
        return next((p for p in self.outputs if p.id == port_id), None)


@dataclass
class Net:
    name: str
    version: int
    layers: list                   # Layer, in the file's order
    edges: dict                    # (to layer, to port) -> (from layer, from port)


class _Stream:
    """expat's callbacks: a stack of open elements, the layer being read."""

    def __init__(self, path: str):
        self.path = path
        self.stack: list[str] = []
        self.net: dict | None = None
        self.layers: list[Layer] = []
        self.edges: dict = {}
        self.layer: Layer | None = None
        self.ports: list | None = None       # the layer's inputs or outputs being read
        self.port: Port | None = None
        self.dims: list | None = None
        self.text: list[str] = []
        self.skip = 0                        # depth inside a sub-graph, rt_info: not read

    def fail(self, why: str):
        raise ModelFileError(f"{self.path}: not a readable OpenVINO IR ({why})")

    def start(self, tag: str, attrs: dict) -> None:
        self.stack.append(tag)
        if len(self.stack) > MAX_DEPTH:
            self.fail(f"elements nested more than {MAX_DEPTH} deep")
        if self.skip:
            self.skip += 1
            if self.layer is not None and tag == "layers":
                self.layer.has_body = True
            return
        where = tuple(self.stack)
        if where == ("net",):
            self.net = attrs
        elif where == ("net", "layers", "layer"):
            self._layer(attrs)
        elif where == ("net", "edges", "edge"):
            self._edge(attrs)
        elif len(where) == 4 and where[:3] == ("net", "layers", "layer"):
            if tag == "data":
                self.layer.attrs = dict(attrs)
            elif tag in ("input", "output"):
                self.ports = self.layer.inputs if tag == "input" else self.layer.outputs
            else:                              # body, port_map, back_edges, rt_info
                self.skip = 1
                self.layer.has_body = self.layer.has_body or tag == "body"
        elif len(where) == 5 and tag == "port" and self.ports is not None:
            if len(self.ports) >= MAX_PORTS:
                self.fail(f"layer '{self.layer.name}' has more than {MAX_PORTS} ports")
            self.port = Port(self._int(attrs, "id", "port"), (), attrs.get("precision", ""))
            self.dims = []
        elif len(where) == 6 and tag == "dim" and self.port is not None:
            self.text = []
        elif where[0] != "net":
            self.fail(f"the root element is <{where[0]}>, not <net>")
        elif len(where) == 2 and tag not in ("layers", "edges"):
            self.skip = 1                      # rt_info, meta_data, statistics ...

    def end(self, tag: str) -> None:
        depth = len(self.stack)
        self.stack.pop()
        if self.skip:
            self.skip -= 1
            return
        if depth == 6 and tag == "dim" and self.dims is not None:
            self._dim("".join(self.text).strip())
        elif depth == 5 and tag == "port" and self.port is not None:
            self.port.dims = tuple(self.dims)
            self.ports.append(self.port)
            self.port, self.dims = None, None
        elif depth == 4 and tag in ("input", "output"):
            self.ports = None
        elif depth == 3 and tag == "layer":
            self.layer = None

    def chars(self, data: str) -> None:
        if self.dims is not None and len(self.stack) == 6 and not self.skip:
            if sum(map(len, self.text)) + len(data) > 64:
                self.fail("a <dim> longer than 64 characters")
            self.text.append(data)

    def _int(self, attrs: dict, key: str, what: str) -> int:
        text = attrs.get(key, "")
        if not text.strip().isdigit() or len(text) > 12:
            self.fail(f"a {what} whose {key} is {text[:40]!r}")
        return int(text)

    def _layer(self, attrs: dict) -> None:
        if len(self.layers) >= MAX_LAYERS:
            self.fail(f"more than {MAX_LAYERS:,} layers")
        self.layer = Layer(self._int(attrs, "id", "layer"), attrs.get("name", ""), attrs.get("type", ""),
                           attrs.get("version", ""))
        self.layers.append(self.layer)

    def _edge(self, attrs: dict) -> None:
        if len(self.edges) >= MAX_EDGES:
            self.fail(f"more than {MAX_EDGES:,} edges")
        to = (self._int(attrs, "to-layer", "edge"), self._int(attrs, "to-port", "edge"))
        if to in self.edges:
            self.fail(f"two edges into port {to[1]} of layer {to[0]}")
        self.edges[to] = (self._int(attrs, "from-layer", "edge"), self._int(attrs, "from-port", "edge"))

    def _dim(self, text: str) -> None:
        if len(self.dims) >= MAX_RANK:
            self.fail(f"a port of layer '{self.layer.name}' has more than {MAX_RANK} dims")
        if text in ("-1", "?") or ".." in text:
            self.dims.append(None)                     # dynamic (a bounded range too)
        elif text.isdigit() and int(text) <= MAX_DIM:
            self.dims.append(int(text))
        else:
            self.fail(f"a dim {text!r} in layer '{self.layer.name}'")


def _no_declarations(*_):
    raise _Refused("a DOCTYPE or entity declaration (entities are never expanded)")


class _Refused(Exception):
    pass


def read_ir(path: str) -> Net:
    """The IR's XML as a Net; every failure is one ModelFileError naming the file."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_XML_BYTES + 1)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_XML_BYTES:
        raise ModelFileError(f"{path}: more than {MAX_XML_BYTES >> 20} MiB of XML, more than an OpenVINO IR "
                             "of any network holds")
    stream = _Stream(path)
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _no_declarations     # before any entity is declared or used
    parser.EntityDeclHandler = _no_declarations
    parser.ExternalEntityRefHandler = _no_declarations
    parser.StartElementHandler, parser.EndElementHandler = stream.start, stream.end
    parser.CharacterDataHandler = stream.chars
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise ModelFileError(f"{path}: the XML holds {exc}; an OpenVINO IR has none") from None
    except expat.ExpatError as exc:
        raise ModelFileError(f"{path}: not a readable OpenVINO IR (XML: {expat.ErrorString(exc.code)} "
                             f"at line {exc.lineno})") from None
    except (RecursionError, UnicodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a readable OpenVINO IR ({type(exc).__name__})") from None
    net = stream.net
    if net is None:
        raise ModelFileError(f"{path}: not an OpenVINO IR (no <net> element)")
    version = net.get("version", "")
    if not version.isdigit() or int(version) not in IR_VERSIONS:
        raise ModelFileError(f"{path}: OpenVINO IR version {version or '(none)'!s:.12}: cnncost reads IR v10 and v11 "
                             "(convert the model again with a recent openvino.convert_model and save_model)")
    ids = set()
    for layer in stream.layers:
        if layer.id in ids:
            raise ModelFileError(f"{path}: two layers have id {layer.id}")
        ids.add(layer.id)
    return Net(net.get("name", "") or os.path.splitext(os.path.basename(path))[0], int(version),
               stream.layers, stream.edges)
