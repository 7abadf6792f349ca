"""The contract every layer kind fulfils, argument normalisation, and the kind registry.

A kind is defined once: its arguments, output shape, weight shapes (params are derived
from them), multiplications, other FLOPs, and NumPy forward. Shapes exclude the batch
axis: (H, W, C) for feature maps, (N,) after flatten.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

from cnncost.errors import CnnCostError, ExportError, ShapeError, SpecError, closest, did_you_mean
from cnncost.layers.geometry import AxisPair, Each, PerAxis

REQUIRED = object()
# Which kind of multiplication a layer does, for shares in `compare`: name -> label.
# (attention: products of two activations, matmul and einsum, not of an activation and a weight)
MULT_CLASSES = {"standard": "standard kxk", "pointwise": "pointwise 1x1", "depthwise": "depthwise",
                "grouped": "grouped", "dense": "dense", "attention": "attention"}
MAX_ARG = 2**31 - 1      # no size, stride or count in a real network comes near it


class Args(dict):
    """Normalised arguments of one layer; attribute access for readability in formulas."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _as_int(value, what: str, minimum: int | None):
    written = value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"Invalid value for argument `{what}`. Expected an integer. "
                        f"Received {what}={value!r}.")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise SpecError(f"Invalid value for argument `{what}`. Expected an integer "
                            f"(use int() or round() in the expression). Received {what}={value!r}.")
        value = int(value)
    if minimum is not None and value < minimum:
        raise SpecError(f"Invalid value for argument `{what}`. Expected an integer >= {minimum}. "
                        f"Received {what}={_as_written(written)}.")
    if abs(value) > MAX_ARG:
        raise SpecError(f"Invalid value for argument `{what}`. Expected an integer of at most "
                        f"{MAX_ARG:,}. Received {what}={_as_written(written)}.")
    return value


def _as_written(value) -> str:
    """A number echoed as the spec wrote it: an integer in full (1e+20 is not what was
    written), up to a length a message can carry."""
    if isinstance(value, float):
        return repr(value)
    if value.bit_length() > 133:              # past 40 digits (and str() refuses past 4,300)
        digits = math.floor((value.bit_length() - 1) * math.log10(2)) + 1
        digits += abs(value) >= 10**digits
        return f"{'a negative' if value < 0 else 'an'} integer of {digits:,} digits"
    return str(value)


class Arg:
    """One argument: its type, default and bounds. `kind` is one of
    int, pair, padding, bool, float, choice, ints (a list of integers), text (a string
    taken as written, never evaluated: an einsum equation), axes (a window argument of a map of
    any rank: one integer or one per spatial axis), padding_nd (padding of a map of any rank:
    valid, same, one integer, one per axis or one per side)."""

    def __init__(self, kind: str, default=REQUIRED, *, minimum: int | None = 1,
                 choices: tuple[str, ...] = (), doc: str = ""):
        self.kind, self.default, self.minimum, self.choices, self.doc = kind, default, minimum, choices, doc

    def literals(self) -> tuple[str, ...]:
        if self.kind in ("padding", "padding_nd"):
            return ("valid", "same")
        return self.choices

    def normalize(self, name: str, value):
        k = self.kind
        if k == "int":
            return _as_int(value, name, self.minimum)
        if k == "pair":
            return _pair(name, value, self.minimum)
        if k in ("padding", "padding_nd"):
            if isinstance(value, str) and value not in self.literals():
                self.refuse(name, value, "valid, same, an integer, [h, w] or [top, bottom, left, right]")
            return _padding_nd(name, value) if k == "padding_nd" else _padding(name, value)
        if k == "axes":
            return _axes(name, value, self.minimum)
        if k == "bool":
            if not isinstance(value, bool):
                raise SpecError(f"Invalid value for argument `{name}`. Expected true or false. "
                                f"Received {name}={value!r}.")
            return value
        if k == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SpecError(f"Invalid value for argument `{name}`. Expected a number. "
                                f"Received {name}={value!r}.")
            return value
        if k == "ints":
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            if not items or len(items) > 64:
                raise SpecError(f"Invalid value for argument `{name}`. Expected a list of 1 to 64 integers. "
                                f"Received {name}={value!r}.")
            return tuple(_as_int(v, name, self.minimum) for v in items)
        if k == "text":
            if not isinstance(value, str) or not value or len(value) > 200:
                raise SpecError(f"Invalid value for argument `{name}`. Expected a string. Received {name}={value!r}.")
            return value
        if k == "choice":
            if isinstance(value, str) and value not in self.choices and value.lower() in self.choices:
                value = value.lower()                 # GELU, Bilinear: names in any case
            if value not in self.choices:
                self.refuse(name, value, "one of " + ", ".join(self.choices))
            return value
        raise AssertionError(k)  # pragma: no cover - programming error in a kind table

    def refuse(self, name: str, value, expected: str):
        """An enumerated argument (a choice, padding's valid and same) given another word:
        what it takes, what it received and the word it was probably meant to be."""
        close = closest(value, self.literals()) if isinstance(value, str) else None
        hint = f" Did you mean {close}?" if close is not None else ""
        raise SpecError(f"Invalid value for argument `{name}`. Expected {expected}. "
                        f"Received {name}={value!r}.{hint}")


def _pair(name, value, minimum):
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise SpecError(f"Invalid value for argument `{name}`. Expected an integer or "
                            f"[height, width]. Received {name}={list(value)!r}.")
        return tuple(_as_int(v, name, minimum) for v in value)
    v = _as_int(value, name, minimum)
    return (v, v)


def _axes(name, value, minimum):
    """k -> Each((k, k)) (today's 2-D value; k along every axis of any map) | [k] | [kh, kw] |
    [kd, kh, kw] -> that tuple."""
    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= 3:
            raise SpecError(f"Invalid value for argument `{name}`. Expected an integer or one per spatial "
                            f"axis ([length], [height, width] or [depth, height, width]). "
                            f"Received {name}={list(value)!r}.")
        return tuple(_as_int(v, name, minimum) for v in value)
    v = _as_int(value, name, minimum)
    return Each((v, v))


def _padding_nd(name, value):
    """_padding's forms (a number and valid held as Each, [a, b] as AxisPair), and [p] or
    [pd, ph, pw] per axis (PerAxis), six values per side of a 3-D map."""
    if isinstance(value, (list, tuple)) and len(value) in (1, 3):
        return PerAxis(_as_int(v, name, 0) for v in value)
    if isinstance(value, (list, tuple)) and len(value) == 6:
        return tuple(_as_int(v, name, 0) for v in value)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return AxisPair(_padding(name, value))
    out = _padding(name, value)
    return out if out == "same" or isinstance(value, (list, tuple)) else Each(out)


def _padding(name, value):
    """'valid' | 'same' | p | [ph, pw] | [top, bottom, left, right] -> 'same' or a 4-tuple."""
    if value == "same":
        return "same"
    if value == "valid":
        return (0, 0, 0, 0)
    if isinstance(value, str):
        raise SpecError(f"Invalid value for argument `{name}`. Expected valid, same, an integer, "
                        f"[h, w] or [top, bottom, left, right]. Received {name}={value!r}.")
    if isinstance(value, (list, tuple)):
        if len(value) == 2:
            h, w = (_as_int(v, name, 0) for v in value)
            return (h, h, w, w)
        if len(value) == 4:
            return tuple(_as_int(v, name, 0) for v in value)
        raise SpecError(f"Invalid value for argument `{name}`. Expected valid, same, an integer, "
                        f"[h, w] or [top, bottom, left, right]. Received {name}={list(value)!r}.")
    p = _as_int(value, name, 0)
    return (p, p, p, p)


class Kind:
    """Base of all layer kinds. Subclasses fill in the class attributes and formulas."""

    name: str = ""
    family: str = ""
    doc: str = ""
    args: dict[str, Arg] = {}
    arity: int | tuple[int, ...] | None = 1   # None: two or more inputs; a tuple: those counts
    flops_rule: str = "0"          # the per-kind FLOP convention, quoted in the README
    mults_rule: str = "0"          # the multiplication (MAC) formula, for `kinds` and the README
    mult_classes: tuple[str, ...] = ()   # what mult_class() may answer, checked at registration
    # How the ONNX export holds this kind's rank-3 values: "map" (N x C x H x W, the
    # convolutional kinds), "plain" (batch + our shape, the tensor kinds) or "any" (either:
    # element-wise kinds keep their first input's; the builder converts the others).
    onnx_layout: str = "map"
    # What the backward pass keeps of this layer (PyTorch autograd's saved tensors), for
    # `cnncost kinds` and the training memory; `saved` computes it
    saves_rule: str = "its inputs (this kind's backward is not modelled more closely: an upper bound)"

    def groups(self, a: Args, ins: list[tuple]) -> int | None:
        """How many groups its channels are split into, where it has groups (Netron's g96)."""
        return a.get("groups")

    def saved(self, a: Args, ins: list[tuple], out: tuple, grads: list[bool], trains: bool) -> Saved:
        """What autograd keeps for this layer's backward, given which inputs need a gradient
        (`grads`) and whether its own weights train; asked only when its output needs one."""
        return Saved(inputs=tuple(range(len(ins))))

    def normalize(self, raw: dict, evaluate: Callable[[str], object],
                  locate: Callable[[str], object] = lambda key: None) -> Args:
        """Check names, evaluate expression strings, apply defaults and bounds.
        `locate(key)` gives the source position of an argument for error messages."""
        out = Args()
        for key in raw:
            if key not in self.args:
                known = ", ".join(self.args) or "none"
                raise SpecError(f"unknown argument `{key}` for kind '{self.name}'"
                                f"{did_you_mean(key, self.args, '`')} (known: {known})", loc=locate(key))
        for key, arg in self.args.items():
            if key in raw:
                try:
                    out[key] = arg.normalize(key, _evaluate_value(raw[key], arg, evaluate, key))
                except CnnCostError as exc:
                    raise exc.with_context(loc=locate(key))
            elif arg.default is REQUIRED:
                raise SpecError(f"missing required argument `{key}` for kind '{self.name}'")
            else:
                out[key] = arg.default if arg.default is None else arg.normalize(key, arg.default)
        self.validate(out)
        return out

    def validate(self, a: Args) -> None:
        """Cross-argument checks (override when needed)."""

    def rewrite_note(self, a: Args, ins: list[tuple], rewrite) -> str:
        """Why a what-if rewrite's measured ratio differs from its analytic one ("" if not)."""
        return ""

    def warnings(self, a: Args, ins: list[tuple]) -> list[str]:
        """What a writer should hear about a legal but likely unintended use."""
        return []

    # --- shape and cost; `ins` is the list of input shapes, `out` the output shape ---
    def output_shape(self, a: Args, ins: list[tuple]) -> tuple:
        return ins[0]

    def weight_shapes(self, a: Args, ins: list[tuple]) -> dict[str, tuple]:
        """Learned weights (trainable unless the layer is frozen)."""
        return {}

    def stat_shapes(self, a: Args, ins: list[tuple]) -> dict[str, tuple]:
        """Non-trainable state such as BN running statistics."""
        return {}

    def mults(self, a: Args, ins: list[tuple], out: tuple) -> int:
        return 0

    def mult_class(self, a: Args, ins: list[tuple]) -> str:
        """Which kind of multiplication this layer does (one of its `mult_classes`, a key
        of MULT_CLASSES), or '' when it does none."""
        return ""

    def explain(self, a: Args, ins: list[tuple], out: tuple) -> list[str]:
        """The multiplication formula with this layer's values substituted."""
        raise NotImplementedError(f"kind '{self.name}' does not explain its multiplications")

    def flops(self, a: Args, ins: list[tuple], out: tuple) -> int:
        return 0

    def window(self, a: Args, ins: list[tuple]):
        """The sliding window for receptive fields: None for point-wise layers,
        "global" when every output reads the whole map, else
        ((kh, kw), (sh, sw), (dh, dw), (pad_top, pad_left)). Every kind says which (a
        guess would silently give wrong receptive fields)."""
        raise NotImplementedError(f"kind '{self.name}' does not say its window")

    def id_range(self, a: Args, ins: list[tuple]) -> int | None:
        """How many integer ids this kind reads its first input as (an embedding's vocab:
        a random input feeding it holds ids in [0, that)), or None for real values."""
        return None

    def state_grad_mults(self, a: Args, ins: list[tuple]) -> int:
        """Multiplications the backward pass needs inside the layer when only its own
        weights learn (its input needs no gradient): 0, but for a recurrence, whose weight
        gradients need the gradient of every earlier state (back-propagation through time)."""
        return 0

    def serial_steps(self, a: Args, ins: list[tuple]) -> int:
        """How many steps the NumPy forward takes one after another, each depending on the
        last (a recurrence's time steps; 0 for a layer computed at once), for the
        executor's time guard."""
        return 0

    def workspace(self, a: Args, ins: list[tuple], out: tuple) -> int:
        """Elements of temporary memory the NumPy forward needs per example, beyond its
        inputs and output (for the executor's memory guard)."""
        raise NotImplementedError(f"kind '{self.name}' does not say its workspace")

    def fan_in(self, a: Args, ins: list[tuple], shape: tuple) -> int:
        """Inputs that reach one output through the kernel of `shape` (weight init scale):
        every axis but the last, (kh, kw, C_in/g) for a conv, `in` for a dense layer."""
        return math.prod(shape[:-1])

    def init_weight(self, a: Args, ins: list[tuple], name: str, shape: tuple, rng, dtype):
        """A seeded random array for weight `name`: kernels scaled by 1/sqrt(fan-in)
        (LeCun), other weights (biases) small."""
        arr = rng.standard_normal(shape, dtype=dtype)
        if name == "kernel":
            arr *= dtype(1.0 / math.sqrt(max(self.fan_in(a, ins, shape), 1)))
        else:
            arr *= dtype(0.1)
        return arr

    def label(self, a: Args, written: str) -> str:
        """What reports call the layer: the kind as written (an alias such as `relu` stays)."""
        return written

    def rewrite(self, a: Args, in_shape: tuple, rewrite: tuple):
        """What-if: the parts that replace this layer under `rewrite` (("separable",) or
        ("bottleneck", R)), or None when the rewrite does not apply to it."""
        return None

    def rewrite_analytic(self, a: Args, ins: list[tuple], out: tuple, rewrite: tuple):
        """(exact ratio, formula) a rewrite should achieve; kinds that rewrite define it."""
        raise NotImplementedError(f"kind '{self.name}' has no what-if rewrite")

    def parts(self, a: Args):
        """Composite kinds return [(suffix, kind_name, raw_args), ...]; others None."""
        return None

    def forward(self, a: Args, w: dict, xs: list, ops):
        raise NotImplementedError(f"kind '{self.name}' has no forward")

    def onnx(self, a: Args, ins: list[tuple], out: tuple, b) -> str:
        """Write this layer as ONNX nodes through `b` (interop.onnx.export.LayerBuilder);
        feature maps are NCHW there. Return the name of the tensor that is the output."""
        raise ExportError(f"kind '{self.name}' cannot be exported to ONNX")


class Saved(NamedTuple):
    """Tensors a layer's backward pass keeps: some of its inputs, its output, and tensors of
    its own (per example and batch-independent elements in the report's dtype; int64
    elements per example: a max pool's indices). Weights are parameters, not counted here."""
    inputs: tuple = ()
    output: bool = False
    per_example: int = 0
    fixed: int = 0
    int64: int = 0


class SavesNothing:
    """Mixin: a backward that needs only shapes (add, concat, reshapes, average pools)."""
    saves_rule = "nothing (its backward needs only shapes)"

    def saved(self, a, ins, out, grads, trains):
        return Saved()


class SavesInputForWeights:
    """Mixin: conv and dense keep their input for the weight gradient (dy x), only when their
    weights train; the input gradient (dy w) needs the weights, which are parameters."""
    saves_rule = "its input, when its weights train (the weight gradient dy·x)"

    def saved(self, a, ins, out, grads, trains):
        return Saved(inputs=(0,) if trains else ())


def partners(grads: list[bool]) -> tuple:
    """A product of two activations (multiply, matmul) keeps each operand whose partner needs a
    gradient: d(xy)/dx needs y."""
    return tuple(i for i in range(len(grads)) if any(g for j, g in enumerate(grads) if j != i))


class PointWise:
    """Mixin: each output position reads only the same position of its inputs."""

    def window(self, a, ins):
        return None


class NoMults:
    """Mixin: no multiplications under our convention (only conv and dense multiply)."""

    def explain(self, a, ins, out):
        return ["mults = 0 (only convolution and dense layers multiply under our convention)"]


class OutputSized:
    """Mixin: the forward's temporaries are at most one output's worth."""

    def workspace(self, a, ins, out):
        return numel(out)


_EXPECTED = {"int": "an integer", "pair": "an integer or [height, width]", "bool": "true or false",
             "axes": "an integer or one per spatial axis",
             "padding_nd": "valid, same, an integer, one per axis or one per side",
             "float": "a number", "padding": "valid, same, an integer, [h, w] or [top, bottom, left, right]"}


def _evaluate_value(value, arg: Arg, evaluate, key: str):
    if arg.kind == "text":
        return value
    if isinstance(value, str) and arg.literals():
        if value.lower() in arg.literals():
            return value          # a word of the enumeration, in any case (`approximate: None`)
        if value.isidentifier():
            # A lone word for an enumerated argument: a variable holding the choice, or a
            # misspelt choice that normalisation reports with the list of valid ones.
            try:
                return evaluate(value)
            except SpecError:
                return value
    try:
        if isinstance(value, str):
            return evaluate(value)
        if isinstance(value, list):
            return [evaluate(v) if isinstance(v, str) else v for v in value]
    except SpecError as exc:
        # say what the argument takes before what the expression got wrong
        # (`filters: thirty-two` is no unknown name 'thirty' to its writer)
        expected = " or ".join(c for c in arg.choices) or _EXPECTED.get(arg.kind, "a value")
        raise SpecError(f"Invalid value for argument `{key}`. Expected {expected} (or an expression "
                        f"giving one). Received {key}={value!r}: {exc.message}.", loc=exc.loc) from None
    return value


KINDS: dict[str, Kind] = {}
ALIASES: dict[str, tuple[str, dict]] = {}


def register(cls):
    """Class decorator: instantiate and register a kind; refuses duplicates."""
    kind = cls()
    if kind.name in KINDS or kind.name in ALIASES:
        raise RuntimeError(f"layer kind '{kind.name}' registered twice")
    unknown = set(kind.mult_classes) - set(MULT_CLASSES)
    if unknown:
        raise RuntimeError(f"layer kind '{kind.name}': unknown mult classes {sorted(unknown)}")
    KINDS[kind.name] = kind
    return cls


def register_alias(alias: str, kind_name: str, fixed_args: dict) -> None:
    if alias in KINDS or alias in ALIASES:
        raise RuntimeError(f"layer kind '{alias}' registered twice")
    ALIASES[alias] = (kind_name, fixed_args)


def numel(shape) -> int:
    return math.prod(shape)


def require_rank(shape, ranks, what="input"):
    if len(shape) not in ranks:
        want = " or ".join(f"rank {r}" for r in ranks)
        raise ShapeError(f"expected {what} of {want} ({'HxWxC' if 3 in ranks else 'N'}), "
                         f"received {fmt_shape(shape)}")


def per_example(x, y):
    """Two batches (batch first) aligned for NumPy broadcasting of their per-example shapes:
    the lower-rank one gains axes after the batch ((N, C) against (N, H, W, C) is (N, 1, 1, C)),
    never against the batch itself."""
    if y.ndim < x.ndim:
        y = y.reshape(y.shape[:1] + (1,) * (x.ndim - y.ndim) + y.shape[1:])
    elif x.ndim < y.ndim:
        x = x.reshape(x.shape[:1] + (1,) * (y.ndim - x.ndim) + x.shape[1:])
    return x, y


def example_axes(axes, rank: int, what: str = "axis") -> tuple[int, ...]:
    """Axes that count the batch as axis 0 (as NumPy and ONNX do on a batch; negative from
    the end) -> axes of the per-example shape. The batch axis itself is refused: every
    kind works per example."""
    out = []
    for axis in axes:
        if not -rank <= axis <= rank or axis == 0:
            why = "is the batch axis; kinds work per example" if axis == 0 else \
                f"is outside a tensor of rank {rank + 1} (the batch and {rank} axes)"
            raise ShapeError(f"{what} {axis} {why}")
        out.append(axis - 1 if axis > 0 else axis % rank)
    if len(set(out)) != len(out):
        raise ShapeError(f"{what} {list(axes)} names an axis twice")
    return tuple(out)


class Tensorial:
    """Mixin of the tensor kinds (reshape, matmul, softmax over any axis, ...): ONNX holds
    their values as our shape with the batch in front, and a receptive field means
    nothing past them unless the kind says otherwise."""

    onnx_layout = "plain"

    def window(self, a, ins):
        return "n/a"


def onnx_axis(axis: int, rank: int) -> int:
    """An axis of our per-example shape (H, W, C) or (F,) -> the axis of the ONNX tensor
    (N, C, H, W) or (N, F)."""
    axis %= rank
    return (2, 3, 1)[axis] if rank == 3 else 1 + axis


def same_map_in_groups(groups: int, ins: list[tuple], ranks: tuple = (3,)) -> tuple:
    """The output shape of a layer that keeps an H x W x C map (or a map of `ranks`) and
    splits its channels into `groups` (channel shuffle, group norm): the input's, when
    groups divide the channels."""
    require_rank(ins[0], ranks)
    if ins[0][-1] % groups:
        raise ShapeError(f"groups={groups} must divide the channels ({ins[0][-1]})")
    return ins[0]


def fmt_shape(shape) -> str:
    return "x".join(str(d) for d in shape)
