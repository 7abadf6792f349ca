"""ONNX operators in the tensor world: where a map leaves the map world (a Reshape into
tokens, a MatMul of two activations, a Softmax over an axis that is not the channels),
the importer converts it explicitly to the model's own order and reads the operator as
it is, never as a spelling to recognise.

A value held as "plain" is our tensor in ONNX's own order, the batch left out: its axis k
is ONNX's axis k (the batch is axis 0 in both). A map (ours H x W x C, ONNX's N x C x H x W)
becomes plain through one `transpose` layer to C x H x W; a plain rank-3 tensor that a
convolution reads becomes a map again through the inverse. The patterns of the map world
(onnx_layers, onnx_moves) are tried first, where they give a cleaner spec; each `plain_<Op>`
here is what an operator becomes when they refuse it. A mixin of onnx_import._Importer.
"""
from __future__ import annotations

import math

from cnncost.interop.onnx import fold as onnx_fold
from cnncost.interop.onnx.proto import Node
from cnncost.interop.onnx.values import Const, Held, slice_cuts
from cnncost.interop.refusals import Refused

MAX_INDICES = 64          # a gather layer's constant indices (a spec argument)
UNARY = {"Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Erf": "erf", "Sin": "sin", "Cos": "cos", "Abs": "abs",
         "Neg": "neg", "Reciprocal": "reciprocal", "Floor": "floor", "Ceil": "ceil", "Sign": "sign"}
BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Max": "max", "Min": "min", "Pow": "pow"}
REDUCE = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min", "ReduceL2": "l2"}


class TensorOps:
    # ---- crossing between the map world and the tensor world --------------------------
    def _part(self, node, suffix):
        """A node for a layer the import adds on its own (a layout conversion, a constant)."""
        return Node(node.op, f"{node.name or node.outputs[0]}_{suffix}", node.inputs, [], {})

    def _plain(self, node, x) -> Held:
        """x as a plain tensor: our shape = ONNX's dims without the batch."""
        if isinstance(x, Const):
            raise Refused("a constant here needs the shape of the tensor it meets (internal)")  # pragma: no cover
        if x.layout == "plain":
            return x
        if x.layout == "stack":
            x = self._stack_to_full(node, x)
        cache = self.__dict__.setdefault("_plain_cache", {})
        key = (x.layer, x.layout, repr(sorted(x.extra.items())) if x.layout != "vec" else x.extra.get("as_map"))
        if key in cache:
            return cache[key]
        if x.layout == "nhwc":
            out = Held(x.layer, x.shape, "plain")
        elif x.layout == "vec":
            self._whole_features(x)
            out = (self.emit(self._part(node, "as_map"), {"kind": "reshape", "shape": [x.shape[0], 1, 1]},
                             (x.shape[0], 1, 1), [x], output=False, layout="plain")
                   if x.extra.get("as_map") else Held(x.layer, x.shape, "plain"))
        elif x.layout == "nchw":
            h, w, c = x.shape
            out = self.emit(self._part(node, "chw"), {"kind": "transpose", "perm": [0, 3, 1, 2]}, (c, h, w), [x],
                            output=False, layout="plain")
        elif x.layout in ("grouped", "gn", "unshuffle6"):
            base = self._plain(node, Held(x.layer, x.shape, "nchw"))
            dims = self._onnx_dims(x)[1:]
            out = self.emit(self._part(node, "view"), {"kind": "reshape", "shape": dims}, tuple(dims), [base],
                            output=False, layout="plain")
        elif x.layout in ("shuffled", "unshuffle_t"):
            source, perm = {"shuffled": ("grouped", [0, 2, 1, 3, 4]),
                            "unshuffle_t": ("unshuffle6", [0, 1, 3, 5, 2, 4])}[x.layout]
            base = self._plain(node, Held(x.layer, x.shape, source, extra=dict(x.extra)))
            shape = tuple(base.shape[p - 1] for p in perm[1:])
            out = self.emit(self._part(node, "view"), {"kind": "transpose", "perm": perm}, shape, [base],
                            output=False, layout="plain")
        elif x.layout == "full":
            if x.shape[0] != 1 or len(x.shape) < 2:
                raise Refused(f"the batch is merged with other axes ({list(x.shape)}) where a map operator reads it")
            out = self.emit(self._part(node, "unfold"), {"kind": "reshape", "shape": list(x.shape[1:])},
                            tuple(x.shape[1:]), [x], output=False, layout="plain")
        elif x.layout == "moved":
            raise Refused(f"the batch axis moved (perm {x.extra['perm']}) and is not brought back to the front "
                          "by an unbind (Split or Gather on axis 0)")
        else:
            raise Refused(f"a {x.layout} view (mid-way through a group norm) read by another operator")
        cache[key] = out
        return out

    def _as_map(self, node, x) -> Held:
        """A plain C x H x W tensor as our H x W x C map (for a convolution or a pool); a
        full L x C x H x W one whose L folds the batch with other axes (windows of a map,
        EfficientViT-M's) as a stack of L maps, each convolved on its own."""
        if isinstance(x, Held) and x.layout == "full" and len(x.shape) == 4 and x.shape[0] != 1:
            maps, c, h, w = x.shape
            cache = self.__dict__.setdefault("_stack_cache", {})
            if x.layer not in cache:
                cache[x.layer] = self.emit(self._part(node, "maps"), {"kind": "transpose", "perm": [0, 1, 3, 4, 2]},
                                           (maps, h, w, c), [x], output=False, layout="stack")
            return cache[x.layer]
        if isinstance(x, Held) and x.layout == "full":
            x = self._plain(node, x)
        if isinstance(x, Held) and x.layout == "plain" and len(x.shape) == 3:
            c, h, w = x.shape
            return self.emit(self._part(node, "hwc"), {"kind": "transpose", "perm": [0, 2, 3, 1]}, (h, w, c), [x],
                             output=False, layout="nchw")
        return x

    def _operand(self, node, x, rank: int, full: bool = False) -> Held:
        """A plain tensor for an operand of an operator whose other operands have ONNX rank
        `rank`: a layer's output, or a constant as a `constant` layer (a learned tensor of
        the file's, counted in params as the file holds it; a folded one, a buffer)."""
        if isinstance(x, Held):
            return self._plain(node, x)
        # one layer for a computed constant read twice (anchors); a weight of the file shared
        # by several layers is counted for each, as every shared tensor is
        cache = self.__dict__.setdefault("_const_layers", {})
        if x.source is None and (id(x), rank, full) in cache:
            return cache[(id(x), rank, full)][1]
        dims = list(x.dims)
        if full:                          # one example's tensor, its leading axes included
            dims = [1] * (rank - len(dims)) + dims if len(dims) < rank else dims
        elif len(dims) >= rank:           # its first axis meets the batch: it must be 1
            if len(dims) > rank or dims[0] != 1:
                raise Refused(f"a constant of dims {dims} against a batch of rank {rank}")
            dims = dims[1:]
        if not dims:
            dims = [1]
        arr = x.value.reshape(dims)
        layer = self.emit(self._part(node, "const"), {"kind": "constant", "shape": dims,
                                                      **({"learned": True} if x.source else {})},
                          tuple(dims), [], output=False, layout="full" if full else "plain")
        self._weight(layer.layer, "value", x if x.source else Const(array=arr), lambda v: v.reshape(dims))
        cache[(id(x), rank, full)] = (x, layer)      # x kept alive: its id stays its own
        return layer

    def _rank(self, x) -> int:
        return len(x.dims) if isinstance(x, Const) else len(self._onnx_dims(x))

    def _out(self, node, body, inputs, output=None, layout="plain"):
        return self.emit(node, body, None, inputs, output=output, layout=layout)

    # ---- the batch folded into other axes (batch 1) -------------------------------------
    # Some models fold the batch into another axis (MobileViT's unfold: B*C*h, ...) or move
    # it (nn.MultiheadAttention's sequence-first tensors). Held "full", our per-example
    # tensor is the ONNX tensor of one example, its leading axes included: ONNX axis k is
    # our axis k + 1. Running a batch of N then runs N such examples, which is what the
    # file computes for a batch of one each; a file that fixes a larger batch is refused.
    def _t(self, node, x) -> Held:
        """A value in the tensor world: plain, or full when the batch is folded already."""
        if isinstance(x, Held) and x.layout == "full":
            return x
        if isinstance(x, Held) and x.layout == "stack":
            return self._stack_to_full(node, x)
        if isinstance(x, Held) and x.layout in ("moved", "picked"):
            return self._moved_to_full(node, x)
        return self._plain(node, x)

    def _full(self, node, x) -> Held:
        x = self._t(node, x)
        if x.layout == "full":
            return x
        self._one_example(f"the batch axis is merged with others at {node.op} {node.name or node.outputs[0]!r}")
        return self.emit(self._part(node, "example"), {"kind": "reshape", "shape": [1, *x.shape]}, (1, *x.shape),
                         [x], output=False, layout="full")

    def _one_example(self, what):
        if (self.fixed_batch or 1) != 1:
            raise Refused(f"{what}: cnncost reads such a model at batch 1 (the file fixes {self.fixed_batch}); "
                          "export it with batch 1")

    def _moved_to_full(self, node, view):
        src = self._full(node, view.extra["source"])
        perm = [0] + [p + 1 for p in view.extra["perm"]]
        out = self.emit(self._part(node, "moved"), {"kind": "transpose", "perm": perm}, None, [src],
                        output=False, layout="full")
        if view.layout == "picked":
            raise Refused("a part of an unbound view read by another operator than Squeeze")
        return out

    def _dims(self, x) -> list:
        return list(x.shape) if x.layout == "full" else [self.batch, *x.shape]

    def _axis(self, x, axis: int, what: str = "axis") -> int:
        """An ONNX axis of x -> ours (batch counted as 0); the batch itself is refused."""
        dims = self._dims(x)
        axis %= len(dims)
        if x.layout == "full":
            return axis + 1
        if axis == 0:
            raise Refused(f"{what} 0 is the batch")
        return axis

    # ---- the operators --------------------------------------------------------------
    def plain_Reshape(self, node, args):
        x = self._t(node, args[0])
        target = onnx_fold.reshape_target(self._dims(x), [int(d) for d in self._const(node, args[1], "shape").value],
                                          bool(node.attrs.get("allowzero", 0)))
        if x.layout == "plain" and target[0] == self.batch and len(target) >= 2:
            return self._out(node, {"kind": "reshape", "shape": target[1:]}, [x])
        x = self._full(node, x)
        self._out(node, {"kind": "reshape", "shape": target}, [x], layout="full")

    def plain_Transpose(self, node, args):
        if isinstance(args[0], Held) and args[0].layout in ("moved", "picked"):
            args = [self._t(node, args[0])]
        x = self._t(node, args[0])
        rank = len(self._dims(x))
        perm = list(node.attrs.get("perm", range(rank - 1, -1, -1)))
        if x.layout == "full":
            return self._out(node, {"kind": "transpose", "perm": [0] + [p + 1 for p in perm]}, [x], layout="full")
        if perm == [0, 3, 1, 2] and len(x.shape) == 3:
            # a tensor (A, B, C) as N x C x A x B: how ONNX holds the map A x B x C, no layer
            return self._alias(node, x, layout="nchw", extra={})
        if perm[0] != 0:
            # attention's q, k, v: permute(2, 0, 3, 1, 4) then unbind(0) puts the batch first
            # again; held as a view until the unbind picks each part
            dims = self._dims(x)
            self.values[node.outputs[0]] = Held(x.layer, x.shape, "moved",
                                                extra={"perm": perm, "dims": [dims[p] for p in perm], "source": x})
            return
        self._out(node, {"kind": "transpose", "perm": perm}, [x])

    def _unbind(self, node, view, index, output, part=None):
        """Part `index` of a view whose first axis is the source's axis perm[0]: a gather
        of that axis, then the rest of the permutation (the batch first again)."""
        perm, src = view.extra["perm"], view.extra["source"]
        a0 = perm[0]
        rest = [p - (p > a0) for p in perm[1:]]
        if rest[0] != 0:
            raise Refused(f"after taking part of axis {a0}, the batch is still not first (perm {perm})")
        body = {"kind": "gather", "axis": a0, "indices": [index], "keepdims": False}
        if rest == sorted(rest):
            return self.emit(part or node, body, None, [src], output=output, layout="plain")
        g = self.emit(self._part(part or node, "pick"), body, None, [src], output=False, layout="plain")
        return self.emit(part or node, {"kind": "transpose", "perm": rest}, None, [g], output=output, layout="plain")

    def plain_Flatten(self, node, args):
        """A Flatten on an axis after 1 (or of a tensor) is a reshape."""
        x = self._t(node, args[0])
        dims = self._dims(x)
        axis = node.attrs.get("axis", 1) % len(dims)
        target = [math.prod(dims[:axis]), math.prod(dims[axis:])]
        if x.layout == "plain" and axis == 1:
            return self._out(node, {"kind": "reshape", "shape": target[1:]}, [x])
        self._out(node, {"kind": "reshape", "shape": target}, [self._full(node, x)], layout="full")

    def plain_Squeeze(self, node, args):
        if isinstance(args[0], Held) and args[0].layout == "picked":
            axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1)
            if axes not in (None, [0]):
                raise Refused(f"squeezing axes {axes} of an unbound part (only its axis 0 is 1)")
            return self._unbind(node, args[0], args[0].extra["index"], None)
        x = self._t(node, args[0])
        dims = self._dims(x)
        axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1)
        axes = [i for i, d in enumerate(dims) if d == 1 and (i > 0 or x.layout == "full")] if axes is None \
            else [a % len(dims) for a in axes]
        if any(dims[a] != 1 for a in axes):
            raise Refused(f"squeezing axes {axes} of {dims}")
        shape = [d for i, d in enumerate(dims) if i not in axes]
        self._reshaped(node, x, shape, keeps_batch=0 not in axes)

    def _reshaped(self, node, x, onnx_shape, keeps_batch: bool):
        """A reshape to `onnx_shape` (ONNX's dims): plain while the batch stays first."""
        if x.layout == "plain" and keeps_batch and len(onnx_shape) >= 2:
            return self._out(node, {"kind": "reshape", "shape": onnx_shape[1:]}, [x])
        self._out(node, {"kind": "reshape", "shape": onnx_shape or [1]}, [self._full(node, x)], layout="full")

    def plain_Unsqueeze(self, node, args):
        x = self._t(node, args[0])
        dims = self._dims(x)
        axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1) or []
        rank = len(dims) + len(axes)
        axes = sorted(a % rank for a in axes)
        if not axes:
            raise Refused("unsqueezing no axis")
        shape = list(dims)
        for a in axes:
            shape.insert(a, 1)
        self._reshaped(node, x, shape, keeps_batch=0 not in axes)

    def _same_world(self, node, args):
        """Operands of one operator: all plain, or all full when any is (batch 1)."""
        rank = max(self._rank(a) for a in args)
        held = [self._t(node, a) if isinstance(a, Held) else a for a in args]
        full = any(isinstance(h, Held) and h.layout == "full" for h in held)
        out = []
        for h in held:
            if isinstance(h, Held):
                out.append(self._full(node, h) if full and h.layout != "full" else h)
            else:
                out.append(self._operand(node, h, rank, full))
        return out, ("full" if full else "plain")

    def plain_MatMul(self, node, args):
        if isinstance(args[1], Const) and isinstance(args[0], Held) and len(args[1].dims) == 2:
            x = self._t(node, args[0])       # an activation times a weight: a dense layer
            if x.shape[-1] != args[1].dims[0]:
                raise Refused(f"a weight of dims {list(args[1].dims)} against {self._dims(x)}")
            return self._dense(node, x, args[1], args[1].dims[1], False, None)
        xs, world = self._same_world(node, args)
        if min(len(x.shape) for x in xs) < 2:
            raise Refused("a MatMul with a 1-D operand per example has no cnncost kind")
        self._out(node, {"kind": "matmul"}, xs, layout=world)

    def plain_Einsum(self, node, args):
        eq = node.attrs.get("equation", "")
        eq = (eq.decode() if isinstance(eq, bytes) else eq).replace(" ", "")
        lhs, _, rhs = eq.partition("->")
        ops = lhs.split(",")
        if "..." in eq or "->" not in eq or len(ops) != len(args) or eq != eq.lower() and eq != eq.upper():
            raise Refused(f"equation {eq!r}: cnncost reads explicit outputs in one case and no '...'")
        b = rhs[:1]
        held = [a for a in args if isinstance(a, Held)]
        if held and all(a.layout != "full" for a in held) and b and all(
                o.startswith(b) for o, a in zip(ops, args) if isinstance(a, Held)):
            # the batch letter leads every activation; a constant (a relative-position table)
            # keeps its own letters, or drops a leading batch axis of 1
            xs, per = [], []
            for o, a in zip(ops, args):
                if isinstance(a, Held):
                    xs.append(self._t(node, a))
                    per.append(o[1:])
                elif o.startswith(b) and a.dims and a.dims[0] == 1:
                    xs.append(self._operand(node, a, len(a.dims)))
                    per.append(o[1:])
                else:
                    xs.append(self._operand(node, a, len(a.dims) + 1))
                    per.append(o)
            if all(x.layout == "plain" for x in xs):
                return self._out(node, {"kind": "einsum", "equation": (",".join(per) + "->" + rhs[1:]).lower()}, xs)
        self._one_example(f"equation {eq!r} does not keep the batch letter first")
        xs = [self._full(node, a) if isinstance(a, Held) else self._operand(node, a, len(a.dims), True) for a in args]
        self._out(node, {"kind": "einsum", "equation": eq.lower()}, xs, layout="full")

    def _softmax(self, node, args, fn):
        x = self._t(node, args[0])
        rank = len(self._dims(x))
        axis = node.attrs.get("axis", -1 if self.model.opsets[""] >= 13 else 1)
        if self.model.opsets[""] < 13 and axis % rank != rank - 1:
            raise Refused("before opset 13 Softmax spans every axis after `axis`")
        self._out(node, {"kind": fn, "axis": self._axis(x, axis)}, [x], layout=x.layout)

    def plain_Softmax(self, node, args):
        self._softmax(node, args, "softmax")

    def plain_LogSoftmax(self, node, args):
        self._softmax(node, args, "log_softmax")

    def plain_Unary(self, node, args):
        x = self._t(node, args[0])
        self._out(node, {"kind": UNARY[node.op]}, [x], layout=x.layout)

    def plain_Binary(self, node, args):
        op = BINARY[node.op]
        consts = [a for a in args if isinstance(a, Const)]
        if consts and len(args) == 2 and math.prod(consts[0].dims or (1,)) == 1 and len(consts) == 1:
            c = consts[0]
            x = self._t(node, args[1] if c is args[0] else args[0])
            value = float(c.value.reshape(-1)[0])
            self._out(node, {"kind": "binary", "op": op, "scalar": value,
                             **({"scalar_first": True} if c is args[0] else {})}, [x], layout=x.layout)
            return
        xs, world = self._same_world(node, args)
        if len(xs) > 2:
            y = xs[0]
            for k, z in enumerate(xs[1:]):
                last = k == len(xs) - 2
                y = self.emit(node if last else self._part(node, f"{k}"), {"kind": "binary", "op": op}, None, [y, z],
                              output=None if last else False, layout=world)
            return
        self._out(node, {"kind": "binary", "op": op}, xs, layout=world)

    def plain_Reduce(self, node, args):
        x = self._t(node, args[0])
        rank = len(self._dims(x))
        axes = onnx_fold._axes(node, [None] + [getattr(a, "value", None) for a in args[1:]], 1)
        if not axes:
            if node.attrs.get("noop_with_empty_axes", 0):
                return self._alias(node, x)
            axes = list(range(0 if x.layout == "full" else 1, rank))
        self._out(node, {"kind": "reduce", "op": REDUCE[node.op], "axes": sorted(self._axis(x, a, "axes") for a in axes),
                         "keepdims": bool(node.attrs.get("keepdims", 1))}, [x], layout=x.layout)

    def plain_LayerNormalization(self, node, args):
        x = self._t(node, args[0])
        rank = len(self._dims(x))
        k = rank - node.attrs.get("axis", -1) % rank
        if x.layout == "plain" and k >= rank:
            raise Refused("a LayerNorm over the batch")
        scale = self._const(node, args[1], "scale") if len(args) > 1 and args[1] is not None else None
        bias = self._const(node, args[2], "bias") if len(args) > 2 and args[2] is not None else None
        if scale is not None and bias is None:
            raise Refused("a LayerNorm with a scale and no bias has no cnncost kind")
        shape = tuple(x.shape[-k:])
        wk = {} if scale is None else {"gamma": (scale, lambda v: v.reshape(shape)),
                                       "beta": (bias, lambda v: v.reshape(shape))}
        self.emit(node, {"kind": "layer_norm", "eps": float(node.attrs.get("epsilon", 1e-5)), "axes": k,
                         **({} if scale is not None else {"affine": False})}, x.shape, [x], wk, layout=x.layout)

    def plain_InstanceNormalization(self, node, args):
        """InstanceNormalization of a tensor (MobileViT-v2's GroupNorm(1) on a 3-D view):
        statistics over every axis after the channels, a layer norm without affine, then
        the scale and bias per channel."""
        x = self._t(node, args[0])
        scale, bias = self._const(node, args[1], "scale"), self._const(node, args[2], "bias")
        if not self._identity_affine(scale, bias):
            raise Refused("an InstanceNormalization with a learned scale on a tensor has no cnncost kind")
        k = len(self._dims(x)) - 2
        self.emit(node, {"kind": "layer_norm", "eps": float(node.attrs.get("epsilon", 1e-5)), "axes": k,
                         "affine": False}, x.shape, [x], layout=x.layout)

    def plain_Concat(self, node, args):
        xs, world = self._same_world(node, args)
        axis = self._axis(xs[0], node.attrs.get("axis", 1))
        self._out(node, {"kind": "concat", "axis": axis}, xs, layout=world)

    def plain_Split(self, node, args):
        if isinstance(args[0], Held) and args[0].layout == "moved":
            return self._split_moved(node, args)
        x = self._t(node, args[0])
        axis = self._axis(x, node.attrs.get("axis", 0))
        sizes = self._split_sizes(node, args, x.shape[axis - 1])
        start = 0
        for k, (out, part) in enumerate(zip(node.outputs, sizes)):
            self.emit(self._part(node, str(k)), {"kind": "slice", "axis": axis, "start": start, "stop": start + part},
                      None, [x], output=out, layout=x.layout)
            start += part

    def _split_moved(self, node, args):
        view = args[0]
        if node.attrs.get("axis", 0) != 0:
            return self.plain_Split(node, [self._t(node, view), *args[1:]])
        size = view.extra["dims"][0]
        sizes = [int(s) for s in self._const(node, args[1], "split").value] if len(args) > 1 and args[1] is not None \
            else list(node.attrs.get("split", [1] * len(node.outputs)))
        if sizes != [1] * size:
            raise Refused(f"split sizes {sizes}: an unbind takes one part at a time")
        for k, out in enumerate(node.outputs):
            self.values[out] = Held(view.layer, view.shape, "picked", extra={**view.extra, "index": k})

    def plain_Slice(self, node, args):
        x = self._t(node, args[0])
        dims = self._dims(x)
        vals = [None if a is None else [int(v) for v in self._const(node, a, "bound").value.reshape(-1)]
                for a in args[1:5]]
        starts, ends = vals[0], vals[1]
        axes = vals[2] if len(vals) > 2 and vals[2] is not None else list(range(len(starts)))
        steps = vals[3] if len(vals) > 3 and vals[3] is not None else [1] * len(starts)
        cuts = [(self._axis(x, ax), s, e, st) for ax, s, e, st in slice_cuts(starts, ends, axes, steps, dims)]
        if not cuts:
            return self._alias(node, x)
        y = x
        for k, (ax, s, e, st) in enumerate(cuts):
            last = k == len(cuts) - 1
            y = self.emit(node if last else self._part(node, f"axis{ax}"),
                          {"kind": "slice", "axis": ax, "start": s, "stop": e, **({"step": st} if st != 1 else {})},
                          None, [y], output=None if last else False, layout=x.layout)

    def plain_Gather(self, node, args):
        if not isinstance(args[1], Const):
            raise Refused("indices computed from the data (a data-dependent gather) cannot be counted ahead")
        if isinstance(args[0], Held) and args[0].layout == "moved" and args[1].value.ndim == 0 \
                and node.attrs.get("axis", 0) == 0:
            return self._unbind(node, args[0], int(args[1].value) % args[0].extra["dims"][0], None)
        x = self._t(node, args[0])
        idx = args[1].value
        axis = self._axis(x, node.attrs.get("axis", 0))
        if idx.ndim > 1 or idx.size > MAX_INDICES:      # too many for a spec's list: the model's buffer of them
            return self._out(node, {"kind": "gather", "axis": axis}, [x, self._positions(node, idx)],
                             layout=x.layout)
        body = {"kind": "gather", "axis": axis, "indices": [int(i) for i in idx.reshape(-1)]}
        if idx.ndim == 0:
            body["keepdims"] = False
        self._out(node, body, [x], layout=x.layout)

    def learned_Gather(self, node, args):
        """A learned table read out at constant positions (LeViT's and EfficientFormer's
        attention biases, MaxViT's relative-position table): the table stays the weight it
        is, counted at its own size, and the positions are the buffer the model keeps.
        Folded together they were one constant of the read-out's size, its values no
        longer the table's."""
        table, pos = args
        axis = node.attrs.get("axis", 0) % len(table.dims)
        t = self._operand(node, table, len(table.dims), full=True)
        body = {"kind": "gather", "axis": axis + 1}
        positions = pos.value.astype("int64")
        if positions.ndim <= 1 and positions.size <= MAX_INDICES:        # a short list: the spec says it
            body["indices"] = [int(i) for i in positions.reshape(-1)]
            if positions.ndim == 0:
                body["keepdims"] = False
            return self._out(node, body, [t], layout="full")
        self._out(node, body, [t, self._positions(node, positions)], layout="full")

    def _positions(self, node, idx):
        """Constant positions as the buffer the model keeps (a second input of `gather`)."""
        return self._operand(self._part(node, "positions"), Const(array=idx.astype("float32")), idx.ndim, full=True)

    def plain_CumSum(self, node, args):
        x = self._t(node, args[0])
        axis = self._axis(x, int(self._const(node, args[1], "axis").value.reshape(-1)[0]))
        self._out(node, {"kind": "cumsum", "axis": axis, "exclusive": bool(node.attrs.get("exclusive", 0)),
                         "reverse": bool(node.attrs.get("reverse", 0))}, [x], layout=x.layout)

    def plain_Expand(self, node, args):
        x = self._t(node, args[0])
        shape = [int(d) for d in self._const(node, args[1], "shape").value]
        dims = self._dims(x)
        if len(shape) > len(dims):
            dims = [1] * (len(shape) - len(dims)) + dims
        if any(s != d and 1 not in (s, d) for s, d in zip(shape[::-1], dims[::-1])):
            raise Refused(f"expanding {self._dims(x)} to {shape}")
        out = [max(a, b) for a, b in zip(dims, [1] * (len(dims) - len(shape)) + shape)]
        if x.layout == "plain" and (len(out) != len(self._dims(x)) or out[0] != self.batch):
            raise Refused(f"expanding {self._dims(x)} to {shape} copies across the batch")
        per = out[1:] if x.layout == "plain" else out
        # a copy: adding a zero constant of the target shape broadcasts it, as ONNX's Expand
        zero = self.emit(self._part(node, "zeros"), {"kind": "constant", "shape": per}, tuple(per), [],
                         output=False, layout=x.layout)
        import numpy as np
        self._weight(zero.layer, "value", Const(array=np.zeros(per, "float32")))
        self._out(node, {"kind": "binary", "op": "add"}, [x, zero], layout=x.layout)

    def plain_Gemm(self, node, args):
        a = node.attrs
        x = self._t(node, args[0])
        if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or not isinstance(args[1], Const):
            raise Refused("transA, alpha or beta other than 1, or a weight that is a layer's output")
        trans = a.get("transB", 0)
        units = args[1].dims[0] if trans else args[1].dims[1]
        self._dense(node, x, args[1], units, trans, args[2] if len(args) > 2 and args[2] is not None else None)

    def plain_Pad(self, node, args):
        x = args[0]
        pads = [int(p) for p in self._const(node, args[1], "pads").value] if len(args) > 1 and args[1] is not None \
            else list(node.attrs.get("pads", []))
        if pads and not any(pads):
            return self._alias(node, x)          # swin's window padding where none is needed
        if isinstance(x, Held) and x.layout not in ("nchw", "nhwc"):
            return self._pad_tensor(node, self._t(node, x), args)
        if isinstance(x, Held) and x.layout == "nhwc" and len(pads) == 8 and not any(pads[i] for i in (0, 3, 4, 7)) \
                and node.attrs.get("mode", "constant") == "constant" and not (len(args) > 2 and args[2] is not None
                                                                               and float(self._const(node, args[2], "value").value.reshape(-1)[0])):
            t, l, b_, r = pads[1], pads[2], pads[5], pads[6]
            return self.emit(node, {"kind": "zero_pad", "padding": [t, b_, l, r]}, None, [x], layout="nhwc")
        self.op_Pad(node, [self._as_map(node, self._t(node, x) if isinstance(x, Held) and x.layout != "nchw" else x),
                           *args[1:]])

    def plain_BatchNormalization(self, node, args):
        x = self._t(node, args[0])
        if len(self._dims(x)) == 2 and x.layout == "full":
            # BatchNorm1d of tokens flattened with the batch (LeViT): channels are the last axis
            names = ("gamma", "beta", "moving_mean", "moving_variance")
            wk = {k: (self._const(node, a, k), None) for k, a in zip(names, args[1:5])}
            return self.emit(node, {"kind": "batch_norm", "eps": float(node.attrs.get("epsilon", 1e-5))}, x.shape,
                             [x], wk, layout="full")
        self.op_BatchNormalization(node, [self._as_map(node, x), *args[1:]])

    def plain_Clip(self, node, args):
        """Clip to other bounds than an activation's: a max and a min by constants."""
        x = args[0] if isinstance(args[0], Held) and args[0].layout in ("nchw", "nhwc", "vec", "plain", "full") \
            else self._t(node, args[0])

        def bound(i, key):
            if len(args) > i and args[i] is not None:
                return float(self._const(node, args[i], key).value.reshape(-1)[0])
            return node.attrs.get(key)
        lo, hi = bound(1, "min"), bound(2, "max")
        steps = [(op, v) for op, v in (("max", lo), ("min", hi)) if v is not None and math.isfinite(v)]
        if not steps:
            return self._alias(node, x)
        for k, (op, v) in enumerate(steps):
            last = k == len(steps) - 1
            x = self.emit(node if last else self._part(node, op), {"kind": "binary", "op": op, "scalar": v}, x.shape,
                          [x], output=None if last else False, layout=x.layout, chw=x.chw)

    def plain_Conv(self, node, args):
        x = args[0]
        if isinstance(x, Const):        # a convolution of a constant (EdgeNeXt's position grid) runs too
            x = self._operand(node, x, len(x.dims))
        self.op_Conv(node, [self._as_map(node, x), *args[1:]])


for _op in UNARY:
    setattr(TensorOps, "plain_" + _op, TensorOps.plain_Unary)
for _op in BINARY:
    setattr(TensorOps, "plain_" + _op, TensorOps.plain_Binary)
for _op in REDUCE:
    setattr(TensorOps, "plain_" + _op, TensorOps.plain_Reduce)
TensorOps.plain_ConvTranspose = lambda self, node, args: self.op_Conv(node, [self._as_map(node, args[0]), *args[1:]],
                                                                      transpose=True)
for _op in ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize"):
    setattr(TensorOps, "plain_" + _op, lambda self, node, args, _op=_op:
            getattr(self, "op_" + _op)(node, [self._as_map(node, args[0]), *args[1:]]))
