"""Closed-form cost of every layer kind: output shape, params, mults, flops."""
import numpy as np
import pytest

from cnncost.errors import ShapeError, SpecError
from cnncost.runtime import executor
from cnncost.layers import ALIASES, KINDS

from conftest import analyze_text, one_layer

# (input, layer, output shape, params, mults, flops) — each derived by hand in the comment.
CASES = [
    # 6x6x3, 3x3x3 filters x5, valid: 4*4*5 outputs * 27 MACs = 2160; bias 5
    ((6, 6, 3), "kind: conv, filters: 5, kernel: 3", [4, 4, 5], 140, 2160, 2 * 2160 + 80),
    ((6, 6, 3), "kind: conv, filters: 5, kernel: 3, bias: false", [4, 4, 5], 135, 2160, 4320),
    # stride 2, same (TF): out = ceil(7/2) = 4
    ((7, 7, 2), "kind: conv, filters: 4, kernel: 3, stride: 2, padding: same, bias: false",
     [4, 4, 4], 72, 4 * 4 * 4 * 18, 2 * 1152),
    # explicit asymmetric padding [t, b, l, r]: h = 5+1+0-3+1 = 4, w = 5+2+1-3+1 = 6
    ((5, 5, 1), "kind: conv, filters: 1, kernel: 3, padding: [1, 0, 2, 1], bias: false",
     [4, 6, 1], 9, 4 * 6 * 9, 2 * 216),
    # dilation 2: span 5, 9 -> 5
    ((9, 9, 1), "kind: conv, filters: 2, kernel: 3, dilation: 2, bias: false", [5, 5, 2], 18,
     5 * 5 * 2 * 9, 2 * 450),
    # rectangular kernel [1, 7] with padding [0, 3]
    ((8, 8, 4), "kind: conv, filters: 4, kernel: [1, 7], padding: [0, 3], bias: false",
     [8, 8, 4], 112, 8 * 8 * 4 * 28, 2 * 7168),
    # grouped: 8 -> 6 channels in 2 groups: weights 3*3*4*6 = 216, MACs 4*4*6*36
    ((6, 6, 8), "kind: conv, filters: 6, kernel: 3, groups: 2, bias: false", [4, 4, 6], 216,
     4 * 4 * 6 * 36, 2 * 3456),
    # depthwise, multiplier 2: 4*4*(3*2) outputs * 9 MACs
    ((6, 6, 3), "kind: depthwise_conv, kernel: 3, depth_multiplier: 2, bias: false", [4, 4, 6], 54,
     864, 1728),
    ((6, 6, 3), "kind: depthwise_conv, kernel: 3", [4, 4, 3], 30, 432, 864 + 48),
    # transposed: out = (3-1)*2 - 1 - 1 + (3-1) + 1 + 1 = 6 (rows), (4-1)*2 - 2 + 2 + 2 = 8 (cols);
    # mults = C_in 4 x C_out/g 3 x 9 x H_in 3 x W_in 4 = 1296; weights 3*3*3*4 + 6 bias
    ((3, 4, 4), "kind: conv_transpose, filters: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2",
     [6, 8, 6], 114, 1296, 2 * 1296 + 288),
    # DCGAN's first layer: 1x1x100 -> 4x4x512, no bias: 100 x 512 x 16 MACs
    ((1, 1, 100), "kind: conv_transpose, filters: 512, kernel: 4, bias: false", [4, 4, 512], 819200, 819200, 1638400),
    # sub-pixel shuffle: 4x4x18 -> 12x12x2 and back; data moves, no arithmetic
    ((4, 4, 18), "kind: pixel_shuffle, factor: 3", [12, 12, 2], 0, 0, 0),
    ((12, 12, 2), "kind: pixel_unshuffle, factor: 3", [4, 4, 18], 0, 0, 0),
    # upsample: nearest moves data (0 flops); bilinear 7 per output element
    ((4, 3, 2), "kind: upsample, scale: 2", [8, 6, 2], 0, 0, 0),
    ((4, 3, 2), "kind: upsample, mode: bilinear, size: [7, 5]", [7, 5, 2], 0, 0, 7 * 70),
    ((4, 3, 2), "kind: upsample, mode: bilinear, scale: [3, 2], align_corners: true", [12, 6, 2], 0, 0, 7 * 144),
    # normalisations from the input's own statistics: gamma and beta per channel (instance
    # norm has none unless affine, as PyTorch); 8 flops per element
    ((4, 3, 6), "kind: layer_norm, eps: 1e-6", [4, 3, 6], 12, 0, 8 * 72),
    ((4, 3, 6), "kind: group_norm, groups: 3", [4, 3, 6], 12, 0, 8 * 72),
    ((4, 3, 6), "kind: instance_norm", [4, 3, 6], 0, 0, 8 * 72),
    ((4, 3, 6), "kind: instance_norm, affine: true", [4, 3, 6], 12, 0, 8 * 72),
    # prelu: a slope per channel (6), 2 flops per element; layer scale: 6 params, 1 flop each
    ((4, 3, 6), "kind: prelu", [4, 3, 6], 6, 0, 144),
    ((4, 3, 6), "kind: scale", [4, 3, 6], 6, 0, 72),
    # shared: one value for every channel (nn.PReLU()'s default, an ONNX scalar); shift: a bias
    ((4, 3, 6), "kind: prelu, shared: true", [4, 3, 6], 1, 0, 144),
    ((4, 3, 6), "kind: scale, shared: true", [4, 3, 6], 1, 0, 72),
    ((4, 3, 6), "kind: shift", [4, 3, 6], 6, 0, 72),
    # crop 5x4 to 3x2 at offsets (1, 1); slice channels 2..5
    ((5, 4, 6), "kind: crop, size: [3, 2]", [3, 2, 6], 0, 0, 0),
    ((5, 4, 6), "kind: slice, start: 2, stop: 6", [5, 4, 4], 0, 0, 0),
    # dense on a vector: 100*10 weights + 10 biases
    ((100,), "kind: dense, units: 10", [10], 1010, 1000, 2010),
    # dense on H x W x C applies to the last axis (Keras)
    ((2, 2, 3), "kind: dense, units: 4, bias: false", [2, 2, 4], 12, 48, 96),
    ((3, 4, 5), "kind: flatten", [60], 0, 0, 0),
    # max pool 3/2 ceil mode: ceil((112-3)/2)+1 = 56
    ((112, 112, 64), "kind: max_pool, kernel: 3, stride: 2, ceil_mode: true", [56, 56, 64], 0, 0,
     8 * 56 * 56 * 64),
    # floor mode: (112-3)//2+1 = 55
    ((112, 112, 64), "kind: max_pool, kernel: 3, stride: 2", [55, 55, 64], 0, 0, 8 * 55 * 55 * 64),
    # PyTorch rule: the last ceil-mode window must start inside the input: 5, k2 s2 p1 -> 3
    ((5, 5, 1), "kind: max_pool, kernel: 2, stride: 2, padding: 1, ceil_mode: true", [3, 3, 1], 0, 0, 27),
    ((4, 4, 2), "kind: avg_pool, kernel: 2", [2, 2, 2], 0, 0, 4 * 8),
    ((7, 7, 3), "kind: avg_pool, kernel: 3, stride: 2, padding: same", [4, 4, 3], 0, 0, 9 * 48),
    ((7, 7, 3), "kind: global_avg_pool", [3], 0, 0, 147),
    ((7, 7, 3), "kind: global_avg_pool, keepdims: true", [1, 1, 3], 0, 0, 147),
    ((7, 7, 3), "kind: global_max_pool", [3], 0, 0, 48 * 3),
    # adaptive 5 -> 3 windows [0,2) [1,4) [3,5): 2+3+2 = 7 rows and cols
    ((5, 5, 2), "kind: adaptive_avg_pool, output_size: 3", [3, 3, 2], 0, 0, 7 * 7 * 2),
    ((6, 6, 2), "kind: adaptive_avg_pool, output_size: [1, 1]", [1, 1, 2], 0, 0, 72),
    ((4, 4, 8), "kind: batch_norm", [4, 4, 8], 16, 0, 2 * 128),
    ((4, 4, 8), "kind: batch_norm, scale: false", [4, 4, 8], 8, 0, 256),
    ((4, 4, 8), "kind: lrn, size: 5", [4, 4, 8], 0, 0, 9 * 128),
    ((4, 4, 8), "kind: dropout, rate: 0.3", [4, 4, 8], 0, 0, 0),
    ((4, 4, 8), "kind: identity, note: RandomFlip", [4, 4, 8], 0, 0, 0),
    ((4, 4, 8), "kind: quantize, to: int8", [4, 4, 8], 0, 0, 2 * 128),
    ((4, 4, 8), "kind: relu", [4, 4, 8], 0, 0, 128),
    ((4, 4, 8), "kind: relu6", [4, 4, 8], 0, 0, 256),
    ((4, 4, 8), "kind: activation, fn: tanh", [4, 4, 8], 0, 0, 128),
    ((4, 4, 8), "kind: tanh", [4, 4, 8], 0, 0, 128),
    # 128 elements: leaky_relu 2 (multiply, select), elu 3, gelu 5 (tanh form 9), mish 5,
    # silu = swish 4, hard_tanh 2, softplus 3
    ((4, 4, 8), "kind: leaky_relu, slope: 0.2", [4, 4, 8], 0, 0, 256),
    ((4, 4, 8), "kind: elu", [4, 4, 8], 0, 0, 384),
    ((4, 4, 8), "kind: gelu", [4, 4, 8], 0, 0, 640),
    ((4, 4, 8), "kind: gelu, approximate: tanh", [4, 4, 8], 0, 0, 9 * 128),
    ((4, 4, 8), "kind: mish", [4, 4, 8], 0, 0, 640),
    ((4, 4, 8), "kind: silu", [4, 4, 8], 0, 0, 512),
    ((4, 4, 8), "kind: hard_tanh", [4, 4, 8], 0, 0, 256),
    ((4, 4, 8), "kind: softplus", [4, 4, 8], 0, 0, 384),
    ((4, 4, 8), "kind: sigmoid", [4, 4, 8], 0, 0, 3 * 128),
    ((4, 4, 8), "kind: hard_sigmoid", [4, 4, 8], 0, 0, 4 * 128),
    ((4, 4, 8), "kind: swish", [4, 4, 8], 0, 0, 4 * 128),
    ((4, 4, 8), "kind: hard_swish", [4, 4, 8], 0, 0, 5 * 128),
    ((4, 4, 8), "kind: linear", [4, 4, 8], 0, 0, 0),
    # softmax over 10: 10 exp + 9 adds + 10 divides = 29
    ((10,), "kind: softmax", [10], 0, 0, 29),
    ((4, 4, 8), "kind: zero_pad, padding: [1, 2, 0, 3]", [7, 7, 8], 0, 0, 0),
    ((4, 4, 8), "kind: zero_pad, padding: 1", [6, 6, 8], 0, 0, 0),
    ((4, 4, 8), "kind: channel_shuffle, groups: 4", [4, 4, 8], 0, 0, 0),
    # --- tensor kinds (axes count the batch as 0) ---
    # reshape: same 128 elements; 0 copies the input's size, -1 is inferred
    ((4, 4, 8), "kind: reshape, shape: [16, 8]", [16, 8], 0, 0, 0),
    ((4, 4, 8), "kind: reshape, shape: [0, -1]", [4, 32], 0, 0, 0),
    ((4, 3, 2), "kind: transpose, perm: [0, 3, 1, 2]", [2, 4, 3], 0, 0, 0),
    # tile: each axis repeated whole, data moves only
    ((4, 3, 2), "kind: tile, repeats: [1, 2, 3]", [4, 6, 6], 0, 0, 0),
    ((5, 4), "kind: gather, axis: 1, indices: [0, 2]", [2, 4], 0, 0, 0),
    ((5, 4), "kind: gather, axis: 1, indices: [0], keepdims: false", [4], 0, 0, 0),
    # a slice along tokens, every second one of 1..4: 2 of 5 rows
    ((5, 4), "kind: slice, axis: 1, start: 1, stop: 5, step: 2", [2, 4], 0, 0, 0),
    # backwards: rows 4, 2 and 0; a map's colour channels reversed (BGR from RGB)
    ((5, 4), "kind: slice, axis: 1, start: 4, stop: -1, step: -2", [3, 4], 0, 0, 0),
    ((4, 4, 3), "kind: slice, start: 2, stop: -1, step: -1", [4, 4, 3], 0, 0, 0),
    # a constant padded around any axes: tokens 5 -> 5 + 0 + 1 with a value of one, a map's
    # rows, columns and channels
    ((2, 5, 4), "kind: pad, padding: [0, 0, 0, 1, 0, 0], value: 1.0", [2, 6, 4], 0, 0, 0),
    ((4, 4, 3), "kind: pad, padding: [1, 0, 0, 2, 1, 1], value: -0.5", [5, 6, 5], 0, 0, 0),
    # a stack of 4 maps (a 2-entry kernel), each convolved: 4 x (3 x 3 x 5 x 3 x 3 x 2) MACs
    ((4, 5, 5, 2), "kind: conv, filters: 5, kernel: [3, 3]", [4, 3, 3, 5], 95, 3240, 6660),
    ((4, 5, 5, 2), "kind: depthwise_conv, kernel: [3, 3], padding: 1", [4, 5, 5, 2], 20, 1800, 3800),
    # the same input as a volume (kernel: 3 is 3 x 3 x 3): 2 x 3 x 3 x 5 outputs x 27 x 2 MACs;
    # depthwise, padded: 4 x 5 x 5 x 2 outputs x 27 MACs
    ((4, 5, 5, 2), "kind: conv, filters: 5, kernel: 3", [2, 3, 3, 5], 275, 4860, 9810),
    ((4, 5, 5, 2), "kind: depthwise_conv, kernel: 3, padding: 1", [4, 5, 5, 2], 56, 5400, 11000),
    # --- 1-D maps (T x C): T_out x C_out x k x C_in / groups MACs
    # 10 - 3 + 1 = 8 steps; weights 3 x 3 x 4 + 4 (Conv1d(3, 4, 3)); 8 x 4 x 3 x 3 = 288
    ((10, 3), "kind: conv1d, filters: 4, kernel: 3", [8, 4], 40, 288, 2 * 288 + 32),
    # same (TF): 10 steps, dilated span 5; 10 x 4 x 3 x 3 = 360
    ((10, 3), "kind: conv, filters: 4, kernel: 3, dilation: 2, padding: same, bias: false", [10, 4], 36, 360, 720),
    # padding [before, after] = [1, 2]: (11 + 3 - 5) // 2 + 1 = 5; groups 2: 5 x 2 x 6 weights, 5 x 6 x 5 x 2 MACs
    ((11, 4), "kind: conv, filters: 6, kernel: 5, stride: 2, groups: 2, padding: [1, 2], bias: false",
     [5, 6], 60, 300, 600),
    ((10, 3), "kind: conv, filters: 5, kernel: 1", [10, 5], 20, 150, 350),
    # depthwise x2: 8 steps x 6 channels x 3 taps; weights 3 x 3 x 2 + 6
    ((10, 3), "kind: depthwise_conv, kernel: [3], depth_multiplier: 2", [8, 6], 24, 144, 288 + 48),
    # --- 3-D maps (D x H x W x C): D_out x H_out x W_out x C_out x kd x kh x kw x C_in / groups
    # 2 x 4 x 4 x 5 outputs x 27 x 3; weights 27 x 3 x 5 + 5 (Conv3d(3, 5, 3))
    ((4, 6, 6, 3), "kind: conv3d, filters: 5, kernel: 3", [2, 4, 4, 5], 410, 12960, 2 * 12960 + 160),
    # R(2+1)D's factorised kernels: temporal [3, 1, 1] and spatial [1, 3, 3] (padded per axis)
    ((4, 6, 6, 3), "kind: conv, filters: 5, kernel: [3, 1, 1], bias: false", [2, 6, 6, 5], 45, 3240, 6480),
    ((4, 6, 6, 3), "kind: conv, filters: 5, kernel: [1, 3, 3], padding: [0, 1, 1], bias: false",
     [4, 6, 6, 5], 135, 19440, 38880),
    # same, stride 2: ceil(5/2), ceil(7/2) x 2; groups 2: 27 x 2 x 4 weights, 192 x 27 x 2 MACs
    ((5, 7, 7, 4), "kind: conv3d, filters: 4, kernel: 3, stride: 2, padding: same, groups: 2, bias: false",
     [3, 4, 4, 4], 216, 10368, 20736),
    # dilation 2 in depth: span 5, 7 -> 3; 150 outputs x 27 x 2
    ((7, 7, 7, 2), "kind: conv3d, filters: 2, kernel: 3, dilation: [2, 1, 1], bias: false", [3, 5, 5, 2], 108,
     8100, 16200),
    ((4, 6, 6, 3), "kind: depthwise_conv, kernel: [3, 3, 3], padding: 1", [4, 6, 6, 3], 84, 11664, 23328 + 432),
    # --- pools over 1-D maps: kernel taps - 1 comparisons (max), taps per output (average)
    # ceil mode, padded 19: ceil((19 - 3) / 2) + 1 = 9 (the last window starts at 16 < 17 + 1)
    ((17, 4), "kind: max_pool, kernel: 3, stride: 2, padding: 1, ceil_mode: true", [9, 4], 0, 0, 2 * 36),
    ((17, 4), "kind: max_pool, kernel: 3, stride: 2", [8, 4], 0, 0, 2 * 32),
    ((16, 4), "kind: avg_pool, kernel: 2", [8, 4], 0, 0, 2 * 32),
    ((7, 3), "kind: avg_pool, kernel: 3, stride: 2, padding: same", [4, 3], 0, 0, 3 * 12),
    ((7, 3), "kind: global_avg_pool", [3], 0, 0, 21),
    ((7, 3), "kind: global_max_pool, keepdims: true", [1, 3], 0, 0, 6 * 3),
    # windows [0,2) [1,4) [3,5): 7 steps per channel
    ((5, 2), "kind: adaptive_avg_pool, output_size: 3", [3, 2], 0, 0, 7 * 2),
    # --- pools over 3-D maps
    ((4, 8, 8, 2), "kind: max_pool, kernel: [1, 2, 2]", [4, 4, 4, 2], 0, 0, 3 * 128),
    # ceil mode: D ceil((5 - 3) / 2) + 1 = 2, H and W ceil((9 - 3) / 2) + 1 = 4; 26 comparisons each
    ((5, 9, 9, 2), "kind: max_pool, kernel: 3, stride: 2, ceil_mode: true", [2, 4, 4, 2], 0, 0, 26 * 64),
    ((4, 4, 4, 3), "kind: avg_pool, kernel: 2", [2, 2, 2, 3], 0, 0, 8 * 24),
    ((4, 6, 6, 3), "kind: global_avg_pool", [3], 0, 0, 432),
    ((4, 6, 6, 3), "kind: global_max_pool", [3], 0, 0, 143 * 3),
    # window totals per axis: 5 -> 3: 7, 5 -> 1: 5, 5 -> 5: 5
    ((5, 5, 5, 2), "kind: adaptive_avg_pool, output_size: [3, 1, 5]", [3, 1, 5, 2], 0, 0, 7 * 5 * 5 * 2),
    # norms over the spatial axes of 1-D and 3-D maps: 8 flops per element, gamma and beta per channel
    ((5, 6), "kind: group_norm, groups: 3", [5, 6], 12, 0, 8 * 30),
    ((2, 3, 3, 6), "kind: instance_norm, affine: true", [2, 3, 3, 6], 12, 0, 8 * 108),
    # constants: a buffer (non-trainable, not in params) or learned (12 params)
    ((5, 4), "kind: constant, shape: [3, 4]", [3, 4], 0, 0, 0),
    ((5, 4), "kind: constant, shape: [3, 4], learned: true", [3, 4], 12, 0, 0),
    # attention products: [3,4,4] x [3,4,4]: 3 x M 4 x N 4 x K 4 = 192 MACs, 2 flops each
    ((3, 4, 4), "kind: matmul, inputs: [input, input]", [3, 4, 4], 0, 192, 384),
    # Q.K^T on [2 heads, 3 tokens, 5]: 2 x 3 x 3 x 5 = 90
    ((2, 3, 5), "kind: matmul, transpose_b: true, inputs: [input, input]", [2, 3, 3], 0, 90, 180),
    ((2, 3, 5), "kind: einsum, equation: 'hnd,hmd->hnm', inputs: [input, input]", [2, 3, 3], 0, 90, 180),
    # one operand: a sum over d, 30 inputs to 6 outputs = 24 adds
    ((2, 3, 5), "kind: einsum, equation: 'hnd->hn'", [2, 3], 0, 0, 24),
    # softmax over axis 1 (4 rows of 6? no: rows run along axis 1, 6 of 4): 3 x 24 - 6
    ((4, 6), "kind: softmax, axis: 1", [4, 6], 0, 0, 66),
    ((4, 6), "kind: log_softmax", [4, 6], 0, 0, 48),
    # reductions over 24 elements: mean 24, sum 24 - outputs, max/min the same, l2 2 x 24
    ((4, 6), "kind: reduce, op: mean, axes: [2]", [4, 1], 0, 0, 24),
    ((4, 6), "kind: reduce_mean, axes: [-1]", [4, 1], 0, 0, 24),
    ((4, 6), "kind: reduce_sum, axes: [1, 2], keepdims: false", [1], 0, 0, 23),
    ((4, 6), "kind: reduce_max, axes: [2]", [4, 1], 0, 0, 20),
    ((4, 6), "kind: reduce_min, axes: [1], keepdims: false", [6], 0, 0, 18),
    ((4, 6), "kind: reduce_l2, axes: [2]", [4, 1], 0, 0, 48),
    # running sum along 6: 5 adds per line of 4 lines
    ((4, 6), "kind: cumsum, axis: 2", [4, 6], 0, 0, 20),
    ((4, 6), "kind: unary, fn: exp", [4, 6], 0, 0, 24),
    *[((4, 6), f"kind: {fn}", [4, 6], 0, 0, 24) for fn in
      ("exp", "log", "sqrt", "erf", "sin", "cos", "abs", "neg", "reciprocal", "floor", "ceil", "sign")],
    ((4, 6), "kind: pow, exponent: 2", [4, 6], 0, 0, 24),
    ((4, 6), "kind: binary, op: mul, scalar: 0.125", [4, 6], 0, 0, 24),
    # broadcast per example: [4, 6] against [6] (a slice of the input's first row)
    ((4, 6), "kind: maximum, inputs: [input, input]", [4, 6], 0, 0, 24),
    ((4, 6), "kind: minimum, inputs: [input, input]", [4, 6], 0, 0, 24),
    # layer norm over the last two axes of 4x3x6: gamma and beta 3x6 each
    ((4, 3, 6), "kind: layer_norm, axes: 2", [4, 3, 6], 36, 0, 8 * 72),
    # windowed attention's bias: a (2w - 1)^2 x heads table read out as [heads, w^2, w^2]
    ((4, 6), "kind: relative_position_bias, window: 2, heads: 3", [3, 4, 4], 27, 0, 0),
    # --- recurrent kinds on T = 5 steps of C = 3 features, h = 4 units; per step and direction:
    # mults G*h*(C + h_out), flops 2 x mults + bias vectors x G*h + gate arithmetic per unit
    # (LSTM 15h: 3 sigmoids x 3 + 2 tanh + 4; GRU 12h: 2 sigmoids x 3 + tanh + 5; RNN 1h)
    # LSTM: weights 16x3 + 16x4 + 2 x 16 (b_ih, b_hh) = 144 (PyTorch LSTM(3, 4)); 5 x 16 x 7 MACs;
    # flops 5 x (2 x 112 + 32 + 60) = 1580
    ((5, 3), "kind: lstm, units: 4", [5, 4], 144, 560, 1580),
    ((5, 3), "kind: lstm, units: 4, bias: false", [5, 4], 112, 560, 5 * (224 + 60)),
    # Keras' one bias: 48 + 64 + 16 = 128 (Keras LSTM(4) on 3 features); reverse costs the same
    ((5, 3), "kind: lstm, units: 4, direction: reverse, bias_layout: keras", [5, 4], 128, 560, 5 * (224 + 16 + 60)),
    ((5, 3), "kind: lstm, units: 4, direction: bidirectional, return_sequences: false", [8], 288, 1120, 3160),
    # TFLite's cell clip: a min and a max per cell element and step, 2h more flops
    ((5, 3), "kind: lstm, units: 4, bias_layout: keras, cell_clip: 10", [5, 4], 128, 560, 5 * (224 + 16 + 68)),
    # proj_size 2: recurrent 2x16, projection 4x2: 48 + 32 + 32 + 8 = 120 (PyTorch LSTM(3, 4, proj_size=2));
    # per step 16 x (3 + 2) + 4 x 2 = 88 MACs
    ((5, 3), "kind: lstm, units: 4, proj_size: 2", [5, 2], 120, 440, 5 * (2 * 88 + 32 + 60)),
    # GRU: 12x3 + 12x4 + 2 x 12 = 108 (PyTorch GRU(3, 4), Keras GRU(4) with reset_after); 5 x 12 x 7 MACs;
    # flops 5 x (2 x 84 + 24 + 48) = 1200
    ((5, 3), "kind: gru, units: 4", [5, 4], 108, 420, 1200),
    ((5, 3), "kind: gru, units: 4, reset_after: false", [5, 4], 108, 420, 1200),
    ((5, 3), "kind: gru, units: 4, bias_layout: keras", [5, 4], 108, 420, 1200),
    # Keras GRU(4, reset_after=False): one bias of 12: 96
    ((5, 3), "kind: gru, units: 4, bias_layout: keras, reset_after: false", [5, 4], 96, 420, 5 * (168 + 12 + 48)),
    ((5, 3), "kind: gru, units: 4, direction: bidirectional, return_sequences: false", [8], 216, 840, 2400),
    ((5, 3), "kind: gru, units: 4, direction: reverse, bias: false", [5, 4], 84, 420, 5 * (168 + 48)),
    # RNN: 4x3 + 4x4 + 2 x 4 = 36 (PyTorch RNN(3, 4)); 5 x 4 x 7 MACs; flops 5 x (56 + 8 + 4) = 340
    ((5, 3), "kind: rnn, units: 4", [5, 4], 36, 140, 340),
    ((5, 3), "kind: rnn, units: 4, bias_layout: keras, direction: reverse", [5, 4], 32, 140, 5 * (56 + 4 + 4)),
    ((5, 3), "kind: rnn, units: 4, activation: relu, direction: bidirectional, return_sequences: false",
     [8], 72, 280, 680),
    # a table of 10 x 3: a lookup, no arithmetic
    ((5,), "kind: embedding, vocab: 10, dim: 3", [5, 3], 30, 0, 0),
]


@pytest.mark.parametrize("shape,layer,out,params,mults,flops", CASES)
def test_closed_form(shape, layer, out, params, mults, flops):
    row = one_layer(shape, layer)
    assert (row.output_shape, row.params, row.mults, row.flops) == (out, params, mults, flops)


def test_every_kind_and_alias_has_a_closed_form_case():
    covered = set()
    for _, layer, *_ in CASES:
        kind = layer.split(",")[0].split(":")[1].strip()
        covered.add(kind)
    # separable_conv and the merge kinds are covered by their own tests below
    missing = set(KINDS) | set(ALIASES)
    missing -= covered | {"separable_conv", "add", "concat", "multiply", "subtract", "divide"}
    assert not missing, f"kinds without a closed-form test: {sorted(missing)}"


def test_batch_scales_mults_flops_activations_not_params():
    one = one_layer((6, 6, 3), "kind: conv, filters: 5, kernel: 3")
    four = one_layer((6, 6, 3), "kind: conv, filters: 5, kernel: 3", batch=4)
    assert (four.params, four.mults, four.flops, four.activations) == (
        one.params, 4 * one.mults, 4 * one.flops, 4 * one.activations)


def test_separable_conv_reports_its_two_parts():
    rep = analyze_text("""
        input: [6, 6, 3]
        layers:
          - {name: sep, kind: separable_conv, filters: 5, kernel: 3, bias: false}
    """)
    assert [(r.name, r.kind, r.mults) for r in rep.layers] == [
        ("sep.depthwise", "depthwise_conv", 432), ("sep.pointwise", "conv", 240)]
    assert rep.totals["mults"] == 672
    # the textbook ratio 1/N + 1/f^2 with N = 5, f = 3
    assert rep.totals["mults"] / 2160 == pytest.approx(1 / 5 + 1 / 9)


def test_mobilenet_paper_table3_example():
    rep = analyze_text("""
        input: [14, 14, 512]
        layers:
          - {name: standard, kind: conv, filters: 512, kernel: 3, padding: same, bias: false}
          - {name: separable, inputs: input, kind: separable_conv, filters: 512, kernel: 3,
             padding: same, bias: false}
    """)
    rows = {r.name: r.mults for r in rep.layers}
    assert rows["standard"] == 462_422_016
    assert rows["separable.depthwise"] + rows["separable.pointwise"] == 52_283_392


def test_merge_kinds():
    rep = analyze_text("""
        input: [8, 8, 4]
        layers:
          - {name: a, kind: conv, filters: 4, kernel: 1, bias: false}
          - {name: b, inputs: input, kind: conv, filters: 6, kernel: 1, bias: false}
          - {name: sum, kind: add, inputs: [a, input]}
          - {name: cat, kind: concat, inputs: [sum, b, input]}
          - {name: gate, kind: global_avg_pool, inputs: cat}
          - {name: scaled, kind: multiply, inputs: [cat, gate]}
    """)
    rows = {r.name: r for r in rep.layers}
    assert rows["sum"].output_shape == [8, 8, 4] and rows["sum"].flops == 256
    assert rows["cat"].output_shape == [8, 8, 14] and rows["cat"].flops == 0
    assert rows["scaled"].output_shape == [8, 8, 14] and rows["scaled"].flops == 8 * 8 * 14


def test_three_way_add_counts_two_adds_per_element():
    rep = analyze_text("""
        input: [2, 2, 3]
        layers:
          - {name: a, kind: relu}
          - {name: b, kind: relu, inputs: input}
          - {name: s, kind: add, inputs: [a, b, input]}
    """)
    assert rep.layers[-1].flops == 2 * 12


@pytest.mark.parametrize("layer,message", [
    ("kind: conv, filters: 4, kernel: 7", "kernel 7 (dilated span 7) is larger than the padded input height 5"),
    ("kind: conv, filters: 3, kernel: 1, groups: 2", "groups=2 must divide both input channels (4) and filters (3)"),
    ("kind: conv, filters: 0, kernel: 3", "Expected an integer >= 1. Received filters=0."),
    ("kind: conv, filters: 4, kernel: 3, stride: -1", "Expected an integer >= 1. Received stride=-1."),
    ("kind: conv, filters: 2.5, kernel: 3", "Expected an integer (use int() or round() in the expression). Received filters=2.5."),
    ("kind: conv, filters: 4, kernel: [3, 3, 3]", "Expected an integer or [height, width]"),
    ("kind: conv, filters: 4, kernel: [3, 3, 3, 3]", "Expected an integer or one per spatial axis"),
    ("kind: conv, filters: 4, kernel: [3]", "Expected an integer or [height, width] for a 2-D map (HxWxC)"),
    ("kind: conv, filters: 4, kernel: 3, padding: [1, 1, 1]", "Expected valid, same, an integer, 2 values "
                                                               "(per axis) or 4 (per side) for a 2-D map"),
    ("kind: conv1d, filters: 4, kernel: 3", "expected a 1-D map (TxC) input (rank 2), received 5x5x4"),
    ("kind: conv3d, filters: 4, kernel: 3", "expected a 3-D map (DxHxWxC) input (rank 4), received 5x5x4"),
    ("kind: max_pool, kernel: [2, 2, 2]", "Expected an integer or [height, width] for a 2-D map (HxWxC)"),
    ("kind: adaptive_avg_pool, output_size: [2]", "Expected an integer or [height, width] for a 2-D map"),
    ("kind: conv, filters: 4, kernel: 3, padding: middle", "Expected valid, same, an integer, [h, w] or [top, bottom, left, right]. Received padding='middle'."),
    ("kind: conv, filters: 4, kernel: 3, colour: red", "unknown argument `colour` for kind 'conv'"),
    ("kind: conv, kernel: 3", "missing required argument `filters`"),
    ("kind: max_pool, kernel: 2, padding: 2", "padding [2, 2, 2, 2] must be at most half the kernel [2, 2]"),
    ("kind: channel_shuffle, groups: 3", "groups=3 must divide the channels (4)"),
    ("kind: activation, fn: gleu", "Expected one of linear, relu"),
    ("kind: conv_transpose, filters: 2, kernel: 3, stride: 2, output_padding: 2", "Expected less than stride"),
    ("kind: conv_transpose, filters: 2, kernel: 3, output_padding: -1", "Expected an integer >= 0"),
    ("kind: conv_transpose, filters: 2, kernel: 1, padding: 5", "leaves no output"),
    ("kind: pixel_shuffle, factor: 3", "must be a multiple of factor^2"),
    ("kind: upsample, size: [0, 4]", "Expected an integer >= 1"),
    ("kind: upsample", "exactly one of `scale`, `size` or a second input"),
    ("kind: group_norm, groups: 3", "groups=3 must divide the channels (4)"),
    ("kind: crop, size: [6, 2]", "cannot crop 5x5 to a larger 6x2"),
    ("kind: tile, repeats: [2, 2]", "repeats [2, 2] for an input of 3 axes"),
    ("kind: slice, start: 2, stop: 9", "do not fit in 4 channels"),
    ("kind: slice, start: 3, stop: 3", "Expected more than start"),
    ("kind: slice, start: 1, stop: 2, step: -1", "Expected less than start"),
    ("kind: slice, start: 1, stop: 2, step: 0", "Expected a non-zero integer"),
    ("kind: slice, start: 4, stop: -1, step: -1", "do not fit in 4 channels"),
    ("kind: pad, padding: [1, 1]", "an input of rank 3 takes 6"),
    ("kind: upsample, scale: 2, align_corners: true", "mode nearest does not take it"),
    ("kind: pixel_unshuffle, factor: 2", "must be multiples of factor 2"),
    ("kind: zero_pad, padding: same", "Expected explicit padding"),
    ("kind: dense, units: 3, bias: maybe", "unknown name 'maybe'"),
])
def test_argument_and_shape_errors(layer, message):
    with pytest.raises((SpecError, ShapeError)) as info:
        one_layer((5, 5, 4), layer)
    assert message in str(info.value)
    assert "test.yaml:3:" in str(info.value) and "layer 'x'" in str(info.value)


def test_no_module_outside_layers_compares_a_kind_name():
    """Facts about a kind live in layers/: nothing else branches on a kind's name."""
    import pathlib
    import re

    import cnncost
    root = pathlib.Path(cnncost.__file__).parent
    names = "|".join(sorted(KINDS, key=len, reverse=True))
    pattern = re.compile(rf"""(==|!=|\bin\b)\s*\(?\s*["']({names})["']|["']({names})["']\s*(==|!=)""")
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if "layers" not in p.parts
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)
                 and "mode" not in line]     # ONNX's Pad mode "constant" is no kind's name
    assert offenders == []


def test_every_kind_answers_window_workspace_and_explain():
    """No silent defaults in the kind contract: every kind used in CASES says its window,
    workspace and multiplication formula (the base class raises)."""
    seen = set()
    merges = [((4, 4, 2), f"kind: {k}, inputs: [input, input]")
              for k in ("add", "concat", "multiply", "subtract", "divide")]
    for shape, layer, *_ in CASES + merges:
        node = analyze_text(f"input: {list(shape)}\nlayers:\n  - {{name: x, {layer}}}\n").graph.layers[0]
        k = node.kind
        k.window(node.args, node.in_shapes)
        assert k.workspace(node.args, node.in_shapes, node.out_shape) >= 0
        assert k.explain(node.args, node.in_shapes, node.out_shape)
        seen.add(k.name)
    assert seen == set(KINDS) - {"separable_conv"}, set(KINDS) - seen


def test_mult_classes_are_declared_and_checked():
    from cnncost.layers import MULT_CLASSES
    for name, kind in KINDS.items():
        assert set(kind.mult_classes) <= set(MULT_CLASSES), name
    for shape, layer, *_ in CASES:
        node = analyze_text(f"input: {list(shape)}\nlayers:\n  - {{name: x, {layer}}}\n").graph.layers[0]
        got = node.kind.mult_class(node.args, node.in_shapes)
        assert got == "" or got in node.kind.mult_classes, (layer, got)


def test_activation_parameters_belong_to_their_function():
    with pytest.raises(SpecError, match="only leaky_relu takes it"):
        one_layer((4, 4, 8), "kind: relu, slope: 0.1")
    with pytest.raises(SpecError, match="only gelu takes it"):
        one_layer((4, 4, 8), "kind: activation, fn: elu, approximate: tanh")


def test_new_activations_against_hand_values():
    import numpy as np
    from cnncost.runtime import executor
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0], np.float32).reshape(1, 1, 5, 1)
    expect = {   # from the formulas with Python's math module (math.erf, math.log1p)
        "leaky_relu, slope: 0.1": [-0.2, -0.05, 0.0, 0.5, 3.0],
        "elu": [np.expm1(-2.0), np.expm1(-0.5), 0.0, 0.5, 3.0],
        "gelu": [-0.04550026, -0.15426877, 0.0, 0.34573123, 2.99595031],      # x * Phi(x)
        "gelu, approximate: tanh": [-0.04540231, -0.15428599, 0.0, 0.34571401, 2.99636261],
        "mish": [-0.25250148, -0.22074377, 0.0, 0.37524521, 2.986535],
        "silu": [-0.23840584, -0.18877033, 0.0, 0.31122967, 2.85772238],
        "hard_tanh": [-1.0, -0.5, 0.0, 0.5, 1.0],
        "softplus": [0.12692801, 0.47407698, 0.69314718, 0.97407698, 3.04858735],
    }
    for fn, want in expect.items():
        g = analyze_text(f"input: [1, 5, 1]\nlayers:\n  - {{name: a, kind: {fn}}}\n").graph
        got = executor.run(g, x, {}).output.ravel()
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-7, err_msg=fn)


def test_upsample_against_hand_values():
    """PyTorch's rules by hand on a 1 x 2 row [0, 10]: nearest x2 -> 0 0 10 10; bilinear x2
    half-pixel -> 0, 2.5, 7.5, 10; align_corners to 4 -> 0, 10/3, 20/3, 10."""
    import numpy as np
    from cnncost.runtime import executor
    x = np.array([0.0, 10.0], np.float32).reshape(1, 1, 2, 1)
    for layer, want in (("upsample, scale: [1, 2]", [0, 0, 10, 10]),
                        ("upsample, mode: bilinear, scale: [1, 2]", [0, 2.5, 7.5, 10]),
                        ("upsample, mode: bilinear, size: [1, 4], align_corners: true", [0, 10 / 3, 20 / 3, 10])):
        g = analyze_text(f"input: [1, 2, 1]\nlayers:\n  - {{name: u, kind: {layer}}}\n").graph
        np.testing.assert_allclose(executor.run(g, x, {}).output.ravel(), want, rtol=1e-6, err_msg=layer)


@pytest.mark.parametrize("kind, op", [("subtract", np.subtract), ("divide", np.divide)])
def test_subtract_and_divide_broadcast_like_multiply(kind, op):
    rep = analyze_text("input: [3, 3, 4]\nlayers:\n  - {name: g, kind: global_avg_pool}\n"
                       f"  - {{name: d, kind: {kind}, inputs: [input, g]}}\n")
    assert rep.layers[1].output_shape == [3, 3, 4] and rep.layers[1].flops == 36
    x = np.random.default_rng(0).uniform(0.5, 2.0, (1, 3, 3, 4)).astype(np.float32)
    want = op(x, x.mean(axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(executor.run(rep.graph, x, {}).output, want, rtol=1e-6)
    with pytest.raises(SpecError, match="takes 2 inputs, received 3"):
        analyze_text("input: [3, 3, 4]\nlayers:\n  - {name: d, kind: subtract, inputs: [input, input, input]}\n")


def test_crop_takes_the_centre():
    import numpy as np
    from cnncost.runtime import executor
    g = analyze_text("input: [5, 6, 1]\nlayers:\n  - {name: c, kind: crop, size: [2, 3]}\n").graph
    x = np.arange(30, dtype=np.float32).reshape(1, 5, 6, 1)
    # offsets floor((5-2)/2) = 1, floor((6-3)/2) = 1: rows 1-2, columns 1-3
    assert executor.run(g, x, {}).output[0, :, :, 0].tolist() == [[7, 8, 9], [13, 14, 15]]


def test_kind_and_fn_names_in_any_case_with_did_you_mean():
    rep = analyze_text("input: [8, 8, 4]\nlayers:\n  - {name: a, kind: Conv, filters: 4, kernel: 3}\n"
                       "  - {name: b, kind: GELU}\n  - {name: c, kind: activation, fn: Leaky_ReLU, slope: 0.1}\n"
                       "  - {name: d, kind: upsample, mode: Bilinear, scale: 2}\n")
    assert [r.flops for r in rep.layers][1:] == [5 * 144, 2 * 144, 7 * 576]   # after a valid 3x3: 6x6x4
    with pytest.raises(SpecError, match="Did you mean gelu"):
        one_layer((4, 4, 8), "kind: activation, fn: gleu")
    with pytest.raises(SpecError, match="did you mean 'conv_transpose'"):
        one_layer((4, 4, 8), "kind: conv_transpos, filters: 2, kernel: 2")
