"""OpenVINO IRs written by hand for the reader's tests (tests/test_hostile_openvino.py,
tests/test_openvino_ops.py): a layer's XML, and an IR of one layer with its constants."""
from __future__ import annotations

import struct


def port(pid, dims, precision="FP32"):
    return f'<port id="{pid}" precision="{precision}">' + "".join(f"<dim>{d}</dim>" for d in dims) + "</port>"


def layer(lid, name, type_, data="", inputs=(), outputs=(), version="opset1"):
    ins = f"<input>{''.join(port(i, d) for i, d in inputs)}</input>" if inputs else ""
    outs = f"<output>{''.join(port(i, d) for i, d in outputs)}</output>" if outputs else ""
    return f'<layer id="{lid}" name="{name}" type="{type_}" version="{version}"><data {data}/>{ins}{outs}</layer>'


PACK = {"f32": "f", "i64": "q", "i32": "i"}


def one_layer_ir(type_, data, x_dims, consts, out_dims, version="opset1", outputs=1):
    """input (x_dims) and constants [(element, dims, values)] -> one `type_` layer of
    `outputs` outputs -> its first output."""
    layers = [layer(0, "x", "Parameter", f'shape="{",".join(map(str, x_dims))}" element_type="f32"',
                    outputs=[(0, x_dims)])]
    weights, edges = b"", ['<edge from-layer="0" from-port="0" to-layer="99" to-port="0"/>']
    for k, (element, dims, values) in enumerate(consts, 1):
        blob = struct.pack(f"<{len(values)}{PACK[element]}", *values)
        layers.append(layer(k, f"c{k}", "Const", f'element_type="{element}" shape="{",".join(map(str, dims))}" '
                            f'offset="{len(weights)}" size="{len(blob)}"', outputs=[(0, dims)]))
        weights += blob
        edges.append(f'<edge from-layer="{k}" from-port="0" to-layer="99" to-port="{k}"/>')
    n = len(consts) + 1
    outs = [(n + i, out_dims) for i in range(outputs)]
    layers.append(layer(99, "op", type_, data, inputs=[(0, x_dims)] + [(k, c[1]) for k, c in enumerate(consts, 1)],
                        outputs=outs, version=version))
    layers.append(layer(100, "out", "Result", inputs=[(0, out_dims)]))
    edges.append(f'<edge from-layer="99" from-port="{n}" to-layer="100" to-port="0"/>')
    xml = (f'<?xml version="1.0"?><net name="t" version="11"><layers>{"".join(layers)}</layers>'
           f'<edges>{"".join(edges)}</edges></net>')
    return xml, weights


