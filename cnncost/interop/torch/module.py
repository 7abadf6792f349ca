"""Live PyTorch modules (optional extra `torch`): a `torch.nn.Module`, or a factory the
command line names (`torchvision.models:resnet50`, `timm:resnet50`, `torchvision:resnet18`),
read as an ONNX model: traced on meta tensors into memory (interop/torch_trace), or, for
what the tracer does not write down, exported by torch.onnx.export (the TorchScript
exporter, no onnxscript) into a private temporary file. Either is read by the ONNX importer
like any model file: layer names are the module paths.

The module is left as it was: every submodule's training flag, every parameter's
requires_grad, the grad mode and its hooks are put back after it is read, which itself
changes no parameter or buffer (evaluation mode: BatchNorm's statistics are read, never
updated).
"""
from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import warnings
from dataclasses import replace

from cnncost.errors import CnnCostError, SpecError

INSTALL_HINT = "pip install '.[torch]' in a clone of cnncost (or: pip install torch)"
FACTORY = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<name>[A-Za-z_][\w.]*)(?:\((?P<args>.*)\))?$", re.S)
_DIR: list[str] = []                # this process's folder of exported files, removed at exit


def is_module(obj) -> bool:
    """A torch.nn.Module, known without importing torch when it is not loaded."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def is_factory(spec) -> bool:
    """`package.module:callable(...)`, `timm:NAME` or `torchvision:NAME`, not a file."""
    return isinstance(spec, str) and bool(FACTORY.match(spec)) and not os.path.exists(spec)


def _torch():
    try:
        import torch
    except ImportError:
        raise CnnCostError(f"this needs the optional `torch` extra (torch is not installed): {INSTALL_HINT}") from None
    return torch


def _kwargs(text: str | None, spec: str) -> dict:
    """Keyword arguments as Python literals only (`num_classes=10, weights=None`)."""
    if not text or not text.strip():
        return {}
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args:
            raise ValueError("positional arguments")
        return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    except (SyntaxError, ValueError) as exc:
        why = "a value is no literal (a name or an expression)" if "malformed node" in str(exc) else exc
        raise SpecError(f"{spec}: the factory's arguments must be keyword=literal pairs "
                        f"(e.g. num_classes=10, weights=None): {why}") from None


def build_factory(spec: str):
    """Import the named package and call the factory: this runs that package's code."""
    import importlib

    from cnncost.errors import warn

    m = FACTORY.match(spec)
    module, name, kwargs = m["module"], m["name"], _kwargs(m["args"], spec)
    _torch()
    warn(f"{spec}: importing {module} and calling {name}(): this runs that package's code")
    try:
        if module == "timm":
            timm = importlib.import_module("timm")
            return timm.create_model(name, pretrained=False, **kwargs)
        if module == "torchvision":
            tv = importlib.import_module("torchvision.models")
            return tv.get_model(name, **{"weights": None, **kwargs})
        target = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
    except ImportError as exc:
        raise CnnCostError(f"{spec}: cannot import {exc.name or module} ({exc})") from None
    except AttributeError:
        raise CnnCostError(f"{spec}: {module} has no {name}") from None
    except Exception as exc:       # noqa: BLE001 - the factory is the user's code: one line, no traceback
        raise CnnCostError(f"{spec}: {type(exc).__name__}: {exc}") from None
    try:
        built = target(**kwargs)
    except Exception as exc:       # noqa: BLE001
        raise CnnCostError(f"{spec}: calling {name}() failed: {type(exc).__name__}: {exc}") from None
    if not is_module(built):
        raise CnnCostError(f"{spec}: {name}() returned a {type(built).__name__}, not a torch.nn.Module")
    return built


def _examples(torch, inputs, module=None):
    """Example inputs from shapes ((1, 3, 224, 224), or a tuple of them), NAME=shape pairs
    named as forward() names its parameters, or tensors."""
    if inputs is None:
        raise CnnCostError("a PyTorch module needs its input shape: input_shape=(1, 3, 224, 224) "
                           "(--input-shape 1x3x224x224 on the command line)")
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    if isinstance(inputs, (tuple, list)) and inputs and all(isinstance(d, int) for d in inputs):
        table = _leading_embedding(torch, module)
        if table is not None:          # a text model: token ids, not real values
            return (torch.randint(0, table.num_embeddings, tuple(inputs)),)
        return (torch.randn(*inputs),)
    if isinstance(inputs, (tuple, list)) and inputs and all(isinstance(x, tuple) and len(x) == 2 and
                                                            isinstance(x[0], str) for x in inputs):
        inputs = _by_parameter(module, dict(inputs))
    if isinstance(inputs, (tuple, list)) and inputs:
        return tuple(x if isinstance(x, torch.Tensor) else torch.randn(*x) for x in inputs)
    raise CnnCostError(f"input_shape must be a shape such as (1, 3, 224, 224), several of them, or example "
                       f"tensors; received {inputs!r}")


def _leading_embedding(torch, module):
    """The nn.Embedding a module begins with (its first leaf module), which reads token ids;
    None otherwise."""
    if module is None:
        return None
    for m in module.modules():
        if not any(True for _ in m.children()):
            return m if isinstance(m, torch.nn.Embedding) else None
    return None


def _by_parameter(module, shapes: dict) -> list:
    """NAME=shape pairs (--input-shape image=1x3x224x224,mask=...) in the order forward()
    takes its parameters; a name it does not take is refused, never dropped."""
    import inspect

    try:
        params = [p for p in inspect.signature(module.forward).parameters]
    except (TypeError, ValueError, AttributeError):
        params = []
    unknown = [n for n in shapes if n not in params]
    if unknown:
        raise CnnCostError(f"--input-shape names {', '.join(unknown)}; the module's forward() takes "
                           f"({', '.join(params) or '?'}): give its inputs' shapes in that order, "
                           "e.g. --input-shape 1x3x224x224 for one input")
    return [shapes[p] for p in params if p in shapes]


def export(module, inputs, label: str | None = None):
    """The module as (an ONNX Model, its Origin) for the ONNX importer: traced on meta tensors
    (interop/torch/trace, in memory) when every operator it runs is one the tracer writes
    down, else exported by torch.onnx.export to a private temporary file and read from it.

    A module at a batch N > 1 that the importer cannot read at N, because its forward folds
    the batch into another axis (ViT's class token concatenated per example, an einsum over
    `b`, windows of a map in the batch axis), is read on its first example and counted at
    batch N: each example on its own (evaluation mode), N times one example's counts."""
    from cnncost.interop.onnx.reader import import_model

    torch = _torch()
    if isinstance(inputs, str):
        from cnncost.interop.input_shape import parse_input_shape
        inputs = parse_input_shape(inputs)
    examples = _examples(torch, inputs, module)
    batch = {x.shape[0] if x.dim() else 0 for x in examples}
    batch = batch.pop() if len(batch) == 1 else 1
    model, origin = _export(module, examples, label)
    if batch > 1:
        try:
            import_model(model, origin, with_weights=False)
        except CnnCostError:       # SpecError: an operator as used at batch N
            one, first = _export(module, tuple(x[:1] for x in examples), label)
            try:
                read = import_model(one, first, with_weights=False)
            except CnnCostError:
                return model, origin     # the error at the batch asked for is the one to show
            if read.input_layouts:       # a time-first input: its axis 0 was time, not the batch
                return model, origin
            return one, replace(first, module_batch=batch)
    return model, origin


def _export(module, examples, label: str | None):
    import atexit
    import shutil
    import tempfile

    from cnncost.interop.onnx.proto import read_model
    from cnncost.interop.onnx.reader import Origin
    from cnncost.interop.torch import trace as torch_trace

    torch = _torch()
    name = re.sub(r"\W+", "_", type(module).__name__) or "module"
    names = _input_names(module, len(examples))
    # what never trains: parameters with requires_grad=False, and buffers (BN's statistics)
    frozen = frozenset([n for n, p in module.named_parameters() if not p.requires_grad]
                       + [n for n, _ in module.named_buffers()])
    with _untouched(torch, module):
        try:
            model = torch_trace.trace(torch, module, examples, names)
            # a tensor the tracer made of parameters (an LSTM's gates in ONNX's order) is frozen with them
            model.frozen = frozen | {k for k, ps in model.derived.items() if all(p in frozen for p in ps)}
        except torch_trace.Unfaithful as exc:
            raise CnnCostError(f"{label or type(module).__name__}: {exc}") from None
        except torch_trace.Untraceable as exc:
            why = str(exc)
        else:
            shown = (label or f"PyTorch module {type(module).__name__}").replace(
                "exported by torch.onnx.export", "traced on meta tensors") + ("" if label else " (traced on meta tensors)")
            return model, Origin(f"{name}.onnx", shown)
        if not _DIR:
            _DIR.append(tempfile.mkdtemp(prefix="cnncost-torch-"))
            atexit.register(shutil.rmtree, _DIR[0], True)
        path = tempfile.mkstemp(prefix=f"{name}_", suffix=".onnx", dir=_DIR[0])[1]
        _export_file(torch, module, examples, names, path, label)
    shown = label or f"PyTorch module {type(module).__name__} (exported by torch.onnx.export; the tracer: {why})"
    return read_model(path), Origin(path, shown)


@contextlib.contextmanager
def _untouched(torch, module):
    """Evaluation mode while the module is read; afterwards every submodule's attributes and
    training flag, every parameter's requires_grad, the grad mode and the hooks as they were."""
    modes = [(m, m.training) for m in module.modules()]
    # what a forward keeps on itself (ultralytics' Detect caches its anchors and the shape
    # they were made for): put back as it was, or the next real call would reuse meta tensors
    attributes = [(m, dict(m.__dict__)) for m in module.modules()]
    grad = torch.is_grad_enabled()
    flags = [(p, p.requires_grad) for p in module.parameters()]
    hooks = [(m, dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, saved in attributes:
            m.__dict__.clear()
            m.__dict__.update(saved)
        for m, mode in modes:
            m.training = mode
        torch.set_grad_enabled(grad)
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, fwd, pre in hooks:          # neither reader adds one; leave exactly what was there
            m._forward_hooks.clear(), m._forward_hooks.update(fwd)
            m._forward_pre_hooks.clear(), m._forward_pre_hooks.update(pre)


def _export_file(torch, module, examples, names, path, label):
    try:
        # not under no_grad: there nn.MultiheadAttention takes its fused fast path, which the
        # exporter cannot write; the exporter's dump of the whole graph on failure is not shown
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            # the legacy exporter is what we ask for; unfolded, the file holds the module's own
            # parameters (folding fuses each BatchNorm into its conv and reads a learned table
            # out into a weight of the read-out's size: Swin-T's params 308,016 too many)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(module, examples, path, dynamo=False, opset_version=17,
                              training=torch.onnx.TrainingMode.EVAL, do_constant_folding=False,
                              input_names=names,
                              # else the exporter merges parameters of equal values (an untrained
                              # model's LayerNorm weights, all ones) into one: Swin-T 51,168 short
                              keep_initializers_as_inputs=True)
    except Exception as exc:       # noqa: BLE001 - the exporter's failure is the module's: say what to do
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CnnCostError(f"{label or type(module).__name__}: torch.onnx.export could not trace it ({first}); "
                           "data-dependent control flow and unsupported operators cannot be exported: "
                           "export the module yourself, or simplify its forward") from None


def _input_names(module, n: int) -> list[str]:
    """The inputs named as forward() names its parameters (image, mask), else input0, input1."""
    if n == 1:
        return ["input"]
    import inspect

    try:
        names = [p for p in inspect.signature(module.forward).parameters][:n]
    except (TypeError, ValueError):
        names = []
    ok = len(names) == n and all(p.isidentifier() and p != "input" for p in names) and len(set(names)) == n
    return names if ok else [f"input{i}" for i in range(n)]


def read(spec: object, inputs: object, *, with_weights: bool = False):
    """A module, or a factory text (its code run: the door asks for --allow-code first), as
    the Imported the ONNX importer makes of it."""
    from cnncost.interop.onnx.reader import import_model

    if is_module(spec):
        model, origin = export(spec, inputs)
    else:
        model, origin = export(build_factory(str(spec)), inputs, label=f"{spec} (PyTorch, exported by torch.onnx.export)")
    return import_model(model, origin, with_weights=with_weights)
