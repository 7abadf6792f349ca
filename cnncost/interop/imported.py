"""What a reader of a model file gives: the spec as a document and as YAML text, the
weights in the layout `run --weights` reads, and how the file itself counts params."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field


@dataclass
class Imported:
    document: dict                                     # name, source, input, layers: the spec
    weights: dict = field(default_factory=dict)        # '<layer>/<name>' -> array, our layout
    input_shape: tuple = ()
    batch: int | None = None     # the N the model fixes (statically or by --input-shape); None: dynamic
    batch_from: str = ""         # "--input-shape" or "file"
    params_as: str = ""
    # how the file holds each output: "nchw" (a map, ours H x W x C), "plain" (our shape) or "batch_second"
    output_layouts: dict = field(default_factory=dict)
    # "batch_second": an input or output the file holds with the batch on axis 1 (a
    # time-first sequence, (T, N, C)), ours without that axis
    input_layouts: dict = field(default_factory=dict)
    # the file's framework's own parameter accounting, for the lines it prints (Keras'
    # model.summary()): {"framework": "Keras", "extra_non_trainable": n, "why": "..."}
    accounting: dict = field(default_factory=dict)
    channels_first: bool = False   # an input array in the file's own layout is N x C x H x W
    weights_read: bool = False     # `weights` holds the file's weights (read when a command runs it)
    # the file as its reader parsed it, for what runs the file itself (an ONNX Model: what
    # onnxruntime is given); None for formats nothing else runs
    native: object = None

    @property
    def spec_text(self) -> str:
        """The spec as YAML, one layer per line: layer i stands on line FIRST_LAYER_LINE + i."""
        d = self.document
        shown = "{" + ", ".join(f"{k}: {list(v)}" for k, v in d["input"].items()) + "}" \
            if isinstance(d["input"], dict) else str(list(d["input"]))
        lines = ["# imported by cnncost import", f"name: {d['name']}", f"source: {json.dumps(d['source'])}",
                 f"input: {shown}", "layers:"]
        for layer in d["layers"]:
            lines.append("  - {" + ", ".join(f"{k}: {_yaml(v)}" for k, v in layer.items()) + "}")
        if "outputs" in d:
            lines.append(f"outputs: {_yaml(d['outputs'])}")
        if "input_precision" in d:
            lines.append(f"input_precision: {json.dumps(d['input_precision'])}")
        return "\n".join(lines) + "\n"


_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _yaml(value) -> str:
    """A flow-style YAML value: names bare, everything else as JSON (which YAML reads)."""
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) \
            and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)


FIRST_LAYER_LINE = 6
