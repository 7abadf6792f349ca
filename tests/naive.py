"""Slow, obviously-correct loop references for the executor tests (NHWC, float64)."""
import math

import numpy as np


def pad_hw(x, t, b, l, r, value=0.0):
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def conv(x, k, bias, stride, dilation, pads, groups):
    n, h, w, c = x.shape
    kh, kw, cg, f = k.shape
    xp = pad_hw(x, *pads)
    (sh, sw), (dh, dw) = stride, dilation
    oh = (xp.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (xp.shape[2] - (kw - 1) * dw - 1) // sw + 1
    fg = f // groups
    out = np.zeros((n, oh, ow, f))
    for o in range(f):
        g = o // fg
        for y in range(oh):
            for xx in range(ow):
                acc = np.zeros(n)
                for i in range(kh):
                    for j in range(kw):
                        for ci in range(cg):
                            acc += xp[:, y * sh + i * dh, xx * sw + j * dw, g * cg + ci] * k[i, j, ci, o]
                out[:, y, xx, o] = acc + (bias[o] if bias is not None else 0.0)
    return out


def pool(x, kernel, stride, pads, ceil_mode, op, count_include_pad=True):
    """op: 'max' or 'avg'; PyTorch semantics (windows clipped to input + padding)."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    t, b, l, r = pads

    def size(n_in, k, s, lo, hi):
        span = n_in + lo + hi - k
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n_in + lo:
            o -= 1
        return o

    oh, ow = size(h, kh, sh, t, b), size(w, kw, sw, l, r)
    out = np.zeros((n, oh, ow, c))
    for y in range(oh):
        for xx in range(ow):
            y0, x0 = y * sh - t, xx * sw - l
            y1, x1 = min(y0 + kh, h + b), min(x0 + kw, w + r)   # clip to input + padding
            ys, xs = max(y0, 0), max(x0, 0)
            ye, xe = min(y1, h), min(x1, w)
            win = x[:, ys:ye, xs:xe, :]
            if op == "max":
                out[:, y, xx, :] = win.max(axis=(1, 2))
            else:
                count = (y1 - y0) * (x1 - x0) if count_include_pad else (ye - ys) * (xe - xs)
                out[:, y, xx, :] = win.sum(axis=(1, 2)) / count
    return out


def lrn(x, size, alpha, beta, k):
    c = x.shape[-1]
    out = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c, ch + (size - 1) // 2 + 1)
        s = (x[..., lo:hi] ** 2).sum(axis=-1)
        out[..., ch] = x[..., ch] / (k + alpha / size * s) ** beta
    return out


def adaptive_avg(x, oh, ow):
    n, h, w, c = x.shape
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            hs, he = (i * h) // oh, math.ceil((i + 1) * h / oh)
            ws, we = (j * w) // ow, math.ceil((j + 1) * w / ow)
            out[:, i, j] = x[:, hs:he, ws:we].mean(axis=(1, 2))
    return out
