"""The one door: every SPEC argument (a bundled name, a YAML file, a model file of any
format, a live PyTorch module or a `module:factory` text) is resolved here, once, into a
`Source`: the spec our kinds count, the reader's result (weights, input layout, how the
file holds its outputs, the parsed file for what runs it), and the name the user knows it
by. Every command takes Sources; nothing downstream re-opens or re-parses the file.

Which reader reads a file is the table in interop/formats.py."""
from __future__ import annotations

from typing import Any, Sequence

from cnncost.errors import CnnCostError, ModelFileError
from cnncost.records import Struct
from cnncost.spec.limits import DEFAULT, Limits
from cnncost.spec.loader import ArchSpec


class Source(Struct):
    __slots__ = ("spec", "label", "format", "imported")

    def __init__(self,
                 spec: ArchSpec,        # what core.analysis counts
                 label: str,            # as the user gave it: the text, or "PyTorch module ResNet"
                 format: str = "spec",  # "spec" (YAML, bundled), or a reader's: "onnx", "keras", "tflite", "torch"
                 imported: Any = None):  # the reader's Imported (interop/imported.py); None for a spec
        self.spec = spec
        self.label = label
        self.format = format
        self.imported = imported

    @property
    def weights(self) -> dict | None:
        """The file's own weights (opened with_weights=True), else None: a spec has none."""
        return self.imported.weights if self.imported is not None and self.imported.weights_read else None

    @property
    def is_model(self) -> bool:
        """A model file or module, which brings its own weights."""
        return self.imported is not None

    @property
    def channels_first(self) -> bool:
        """An input array in the file's own layout is N x C x H x W (ONNX, a module)."""
        return self.imported is not None and self.imported.channels_first

    @property
    def output_layouts(self) -> dict:
        return self.imported.output_layouts if self.imported is not None else {}

    @property
    def input_layouts(self) -> dict:
        return self.imported.input_layouts if self.imported is not None else {}

    @property
    def onnx_model(self):
        """The parsed ONNX Model (a file's, or a module's traced one), else None."""
        return self.imported.native if self.format in ("onnx", "torch") and self.imported is not None else None


def label_of(given: object) -> str:
    """A SPEC as the user gave it: its text, or a live module's class."""
    return given if isinstance(given, str) else f"PyTorch module {type(given).__name__}"


def open_source(given: object, *, input_shape: Any = None, allow_code: bool = False, with_weights: bool = False,
                limits: Limits = DEFAULT) -> Source:
    """`given` resolved once. `input_shape` fixes a model's dynamic axes (a module's example
    shape); given for a YAML spec it is refused, naming the variables to set. `with_weights`:
    read a model file's weights too (run, verify, export)."""
    if isinstance(given, Source):
        return given
    if isinstance(given, ArchSpec):
        return Source(given, given.name)
    shape = _shape(input_shape)
    if _is_code(given, allow_code):
        from cnncost.interop.torch import module as torch_module

        imported = torch_module.read(given, shape, with_weights=with_weights)
        return _from_imported(imported, label_of(given), "torch")
    from cnncost.interop import formats

    fmt = formats.recognise(given)
    if fmt is not None:
        try:
            imported = fmt.read(str(given), with_weights=with_weights, input_shape=shape)
        except ModelFileError:         # a file under another format's suffix: its first bytes say
            other = formats.by_content(str(given))
            if other is None or other is fmt:
                raise
            fmt, imported = other, other.read(str(given), with_weights=with_weights, input_shape=shape)
        return _from_imported(imported, str(given), fmt.name)
    if not isinstance(given, str):
        raise CnnCostError(f"a SPEC is a bundled name, a spec or model file, or a PyTorch module; "
                           f"received a {type(given).__name__}")
    from cnncost.spec.loader import load_spec, refuse_input_shape

    spec = load_spec(given, max_bytes=limits.max_spec_bytes)
    if shape is not None:
        refuse_input_shape(spec, shape)
    return Source(spec, given)


def open_sources(given: Sequence[object], *, input_shape: Any = None, allow_code: bool = False,
                 with_weights: bool = False, limits: Limits = DEFAULT) -> list[Source]:
    """Several SPECs (compare): each opened once, with its share of `input_shape`
    (shapes_for)."""
    return [open_source(g, input_shape=shape, allow_code=allow_code, with_weights=with_weights, limits=limits)
            for g, shape in zip(given, shapes_for(given, input_shape, allow_code, limits))]


def shapes_for(given: Sequence[object], input_shape: Any, allow_code: bool = False,
               limits: Limits = DEFAULT) -> list[Any]:
    """The input shape each SPEC takes: a model file's or module's the given one, a spec's
    none. Given with specs alone it would apply to nothing: refused (open_source names the
    variables to set), never ignored."""
    takes = [not _is_spec_text(g, allow_code) for g in given]
    if input_shape is not None and given and not any(takes):
        open_source(given[0], input_shape=input_shape, limits=limits)
    return [input_shape if ok else None for ok in takes]


def _is_spec_text(given: object, allow_code: bool) -> bool:
    from cnncost.interop import formats

    return isinstance(given, str) and formats.recognise(given) is None and not _is_code(given, allow_code)


def _is_code(given: object, allow_code: bool) -> bool:
    """A live module, or a module:factory text (refused without allow_code: it runs code)."""
    if isinstance(given, str) and ":" not in given:
        return False
    from cnncost.interop.torch import module as torch_module

    if torch_module.is_module(given):
        return True
    if not torch_module.is_factory(given):
        return False
    if not allow_code:
        raise CnnCostError(f"'{given}' is no file; as module:factory it would import and run Python code, "
                           "which cnncost does only when asked: add --allow-code (allow_code=True in the API), "
                           "or pass the module itself")
    return True


def _shape(input_shape: Any) -> Any:
    if isinstance(input_shape, str):
        from cnncost.interop.input_shape import parse_input_shape

        return parse_input_shape(input_shape)
    return None if input_shape is None else input_shape


def reread(source: Source, input_shape: Any, *, allow_code: bool = False, limits: Limits = DEFAULT) -> Source:
    """The same model at another input shape: a parsed ONNX model (a file's, or the one a
    live module was traced into at its first shape) read again from memory, not from disk
    or by tracing again; another model file opened again."""
    model = source.onnx_model
    if model is None:
        return open_source(source.label, input_shape=input_shape, allow_code=allow_code, limits=limits)
    from cnncost.interop.onnx.reader import Origin, import_model

    origin = Origin(source.label) if source.format == "onnx" else Origin(f"{source.label}.onnx", source.label)
    imported = import_model(model, origin, with_weights=False, input_shape=_shape(input_shape))
    return _from_imported(imported, source.label, source.format)


def _from_imported(imported: Any, label: str, fmt: str) -> Source:
    """A reader's result as the spec our kinds count, each layer on the line `cnncost import`
    writes it to; the digest is that text's, so a baseline of the import matches."""
    from cnncost.interop.imported import FIRST_LAYER_LINE
    from cnncost.spec.loader import sha256_of, spec_from_document

    spec = spec_from_document(imported.document, label, sha256_of(imported.spec_text),
                              first_layer_line=FIRST_LAYER_LINE)
    spec.batch, spec.batch_from, spec.params_as = imported.batch, imported.batch_from, imported.params_as
    spec.accounting = imported.accounting
    return Source(spec, label, fmt, imported)
