"""Build a PyTorch eager forward from a cnncost graph, with the executor's weights, so the
benchmark times the same network in both and checks that their outputs agree.
Benchmarks only: the project never needs torch."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cnncost.layers.activation import FUNCTIONS
from cnncost.layers.conv import conv_geometry


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _conv(x, a, kernel_oihw, bias, groups, in_shape):
    _, _, (t, b, l, r) = conv_geometry(a, in_shape)
    if (t, l) == (b, r):
        return F.conv2d(x, kernel_oihw, bias, a.stride, (t, l), a.dilation, groups)
    return F.conv2d(F.pad(x, (l, r, t, b)), kernel_oihw, bias, a.stride, 0, a.dilation, groups)


def _pool(x, a, in_shape, op):
    from cnncost.layers.pool import MaxPool
    (_, _), (t, b, l, r) = MaxPool.geometry(MaxPool(), a, in_shape)
    if (t, l) != (b, r) or a.padding == "same":
        fill = float("-inf") if op == "max" else 0.0
        x = F.pad(x, (l, r, t, b), value=fill)
        t = l = 0
    fn = F.max_pool2d if op == "max" else F.avg_pool2d
    return fn(x, a.kernel, a.stride, (t, l), ceil_mode=a.ceil_mode)


_ACT = {"linear": lambda x: x, "relu": F.relu, "relu6": F.relu6, "tanh": torch.tanh,
        "sigmoid": torch.sigmoid, "hard_sigmoid": F.hardsigmoid, "swish": F.silu,
        "hard_swish": F.hardswish, "softmax": lambda x: F.softmax(x, dim=1)}
assert set(_ACT) == set(FUNCTIONS)


def build(graph, weights):
    """Return forward(x_nchw) running every node in torch (NCHW), weights converted once."""
    tw = {}
    for node in graph.layers:
        k, p = node.kind.name, node.name + "/"
        if k == "conv":
            tw[node.name] = (_t(weights[p + "kernel"].transpose(3, 2, 0, 1)),
                             _t(weights[p + "bias"]) if node.args.bias else None)
        elif k == "depthwise_conv":
            kh, kw, c, m = weights[p + "kernel"].shape
            tw[node.name] = (_t(weights[p + "kernel"].reshape(kh, kw, 1, c * m).transpose(3, 2, 0, 1)),
                             _t(weights[p + "bias"]) if node.args.bias else None)
        elif k == "dense":
            tw[node.name] = (_t(weights[p + "kernel"].T), _t(weights[p + "bias"]) if node.args.bias else None)
        elif k == "batch_norm":
            tw[node.name] = tuple(_t(weights[p + n]) if p + n in weights else None
                                  for n in ("moving_mean", "moving_variance", "gamma", "beta"))

    def forward(x):
        values = {0: x}
        for node in graph.layers:
            xs = [values[i] for i in node.inputs]
            a, k, ins = node.args, node.kind.name, node.in_shapes
            x0 = xs[0]
            if k == "conv":
                y = _conv(x0, a, *tw[node.name], a.groups, ins[0])
            elif k == "depthwise_conv":
                y = _conv(x0, a, *tw[node.name], ins[0][2], ins[0])
            elif k == "dense":
                if x0.dim() == 4:   # dense on the channel axis of a map
                    y = F.linear(x0.permute(0, 2, 3, 1), *tw[node.name]).permute(0, 3, 1, 2)
                else:
                    y = F.linear(x0, *tw[node.name])
            elif k == "flatten":
                y = x0.permute(0, 2, 3, 1).flatten(1) if x0.dim() == 4 else x0.flatten(1)
            elif k == "batch_norm":
                mean, var, gamma, beta = tw[node.name]
                y = F.batch_norm(x0, mean, var, gamma, beta, False, 0.0, a.eps)
            elif k == "activation":
                y = _ACT[a.fn](x0)
            elif k in ("max_pool", "avg_pool"):
                y = _pool(x0, a, ins[0], k[:3])
            elif k == "global_avg_pool":
                y = x0.mean(dim=(2, 3), keepdim=a.keepdims)
            elif k == "global_max_pool":
                y = x0.amax(dim=(2, 3), keepdim=a.keepdims)
            elif k == "adaptive_avg_pool":
                y = F.adaptive_avg_pool2d(x0, a.output_size)
            elif k == "add":
                y = sum(xs[1:], xs[0])
            elif k == "multiply":
                y = xs[0]
                for other in xs[1:]:
                    if other.dim() < y.dim():
                        other = other.reshape(other.shape + (1,) * (y.dim() - other.dim()))
                    elif y.dim() < other.dim():
                        y = y.reshape(y.shape + (1,) * (other.dim() - y.dim()))
                    y = y * other
            elif k == "concat":
                y = torch.cat(xs, dim=1)
            elif k == "dropout":
                y = x0
            else:
                raise NotImplementedError(k)
            values[node.index] = y
        return values[graph.output.index]

    return forward
