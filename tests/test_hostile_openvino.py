"""Hostile and damaged OpenVINO IRs: each refused in one line (exit 2, no traceback) within
5 s: entity bombs and external entities, offsets and sizes outside the .bin, a .bin that is
missing or a link out of the folder, deep nesting, graphs that are not graphs, layers we do
not read."""
from __future__ import annotations

import os
import struct
import time

import pytest
from click.testing import CliRunner

from cnncost.cli import cli
from openvino_irs import layer as _layer


def conv_ir(*, offset=0, size=4 * 4 * 3 * 9, element="f32", conv_type="Convolution", version=11, extra_edges="",
            prolog=""):
    """input 1x3x8x8 -> a 3x3 conv of 4 filters -> output: the smallest IR a reader reads."""
    layers = [
        _layer(0, "x", "Parameter", 'shape="1,3,8,8" element_type="f32"', outputs=[(0, (1, 3, 8, 8))]),
        _layer(1, "w", "Const", f'element_type="{element}" shape="4,3,3,3" offset="{offset}" size="{size}"',
               outputs=[(0, (4, 3, 3, 3))]),
        _layer(2, "conv", conv_type, 'strides="1,1" dilations="1,1" pads_begin="1,1" pads_end="1,1" auto_pad="explicit"',
               inputs=[(0, (1, 3, 8, 8)), (1, (4, 3, 3, 3))], outputs=[(2, (1, 4, 8, 8))]),
        _layer(3, "out", "Result", inputs=[(0, (1, 4, 8, 8))]),
    ]
    edges = ('<edge from-layer="0" from-port="0" to-layer="2" to-port="0"/>'
             '<edge from-layer="1" from-port="0" to-layer="2" to-port="1"/>'
             '<edge from-layer="2" from-port="2" to-layer="3" to-port="0"/>' + extra_edges)
    return (f'<?xml version="1.0"?>{prolog}<net name="t" version="{version}"><layers>{"".join(layers)}</layers>'
            f"<edges>{edges}</edges><rt_info/></net>")


def write(tmp_path, xml, weights=struct.pack("<108f", *range(108)), name="m"):
    (tmp_path / f"{name}.xml").write_text(xml)
    if weights is not None:
        (tmp_path / f"{name}.bin").write_bytes(weights)
    return str(tmp_path / f"{name}.xml")


def refused(file, needle):
    start = time.perf_counter()
    res = CliRunner().invoke(cli, ["report", file])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert needle in res.output, res.output
    assert time.perf_counter() - start < 5


def test_the_smallest_ir_reads(tmp_path):
    res = CliRunner().invoke(cli, ["report", write(tmp_path, conv_ir()), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert '"mults": 6912' in res.output                  # 8 x 8 x 4 x 3 x 9


BOMB = ('<!DOCTYPE net [<!ENTITY a "aaaaaaaaaa">' +
        "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)) + "]>")


def test_billion_laughs(tmp_path):
    xml = conv_ir(prolog=BOMB).replace('name="t"', 'name="&j;"')
    refused(write(tmp_path, xml), "DOCTYPE")


def test_external_entity(tmp_path):
    xml = conv_ir(prolog='<!DOCTYPE net [<!ENTITY e SYSTEM "file:///etc/passwd">]>').replace('name="t"', 'name="&e;"')
    refused(write(tmp_path, xml), "entities are never expanded")


def test_offset_past_the_file(tmp_path):
    refused(write(tmp_path, conv_ir(offset=10 ** 12)), "outside m.bin")


def test_size_unlike_the_shape(tmp_path):
    refused(write(tmp_path, conv_ir(size=2 ** 40)), "the file is damaged")


def test_missing_bin(tmp_path):
    refused(write(tmp_path, conv_ir(), weights=None), "m.bin is missing")


def test_bin_linked_out_of_the_folder(tmp_path):
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(struct.pack("<108f", *range(108)))
    (tmp_path / "model").mkdir()
    xml = write(tmp_path / "model", conv_ir(), weights=None)
    os.symlink(outside, tmp_path / "model" / "m.bin")
    refused(xml, "outside the model's folder")


def test_bin_that_is_a_fifo(tmp_path):
    xml = write(tmp_path, conv_ir(), weights=None)
    os.mkfifo(tmp_path / "m.bin")
    refused(xml, "not a regular file")


def test_deep_nesting(tmp_path):
    refused(write(tmp_path, "<net version='11'>" + "<a>" * 100_000 + "</a>" * 100_000 + "</net>"), "nested")


@pytest.mark.parametrize("xml,needle", [
    ("not xml at all", "not a readable OpenVINO IR"),
    ("<?xml version='1.0'?><model/>", "not <net>"),
    (conv_ir()[:300], "not a readable OpenVINO IR"),
    (conv_ir(version=7), "IR version 7"),
    (conv_ir(element="u4", size=54), "4-bit"),
    (conv_ir(element="x9"), "element type"),
    (conv_ir(conv_type="Frobnicate"), "Frobnicate x1"),
    (conv_ir(conv_type="TensorIterator"), "control flow"),
    (conv_ir(extra_edges='<edge from-layer="9" from-port="0" to-layer="3" to-port="5"/>'), "does not exist"),
    (conv_ir(extra_edges='<edge from-layer="0" from-port="0" to-layer="2" to-port="0"/>'), "two edges"),
    (conv_ir(extra_edges='<edge from-layer="2" from-port="7" to-layer="3" to-port="1"/>'), "no such output port"),
    (conv_ir().replace('<edge from-layer="2" from-port="2" to-layer="3" to-port="0"/>', ""), "connected to nothing"),
    (conv_ir().replace("<dim>8</dim>", f"<dim>{2 ** 40}</dim>", 1), "a dim"),
    (conv_ir().replace('id="3"', 'id="2"'), "two layers have id 2"),
    (conv_ir().replace('strides="1,1"', 'strides="x"'), "not integers"),
])
def test_damaged(tmp_path, xml, needle):
    refused(write(tmp_path, xml), needle)


def test_cycle(tmp_path):
    """conv reads its own output (through a second input port made for it)."""
    xml = conv_ir().replace('<port id="1" precision="FP32"><dim>4</dim><dim>3</dim><dim>3</dim><dim>3</dim></port>'
                            '</input>', '<port id="1" precision="FP32"><dim>4</dim><dim>3</dim><dim>3</dim><dim>3</dim>'
                            '</port><port id="3" precision="FP32"><dim>1</dim></port></input>')
    xml = xml.replace("</edges>", '<edge from-layer="2" from-port="2" to-layer="2" to-port="3"/></edges>')
    refused(write(tmp_path, xml), "cycle")


def test_huge_xml_refused_before_parsing(tmp_path):
    xml = tmp_path / "big.xml"
    with open(xml, "wb") as fh:
        fh.truncate(300 * 2 ** 20)          # sparse: 300 MiB of nothing
    refused(str(xml), "MiB of XML")


def fq_ir(lows, highs):
    """input 1x3x4x4 -> FakeQuantize(256 levels, ranges `lows`..`highs`, one or one per channel) -> output."""
    n = len(lows)
    dims = (1, n, 1, 1) if n > 1 else ()
    layers = [_layer(0, "x", "Parameter", 'shape="1,3,4,4" element_type="f32"', outputs=[(0, (1, 3, 4, 4))])]
    for k, name in enumerate(("il", "ih", "ol", "oh")):
        offset = 0 if name.endswith("l") else 4 * n
        layers.append(_layer(1 + k, name, "Const", f'element_type="f32" shape="{",".join(map(str, dims))}" '
                             f'offset="{offset}" size="{4 * n}"', outputs=[(0, dims)]))
    layers.append(_layer(5, "fq", "FakeQuantize", 'levels="256" auto_broadcast="numpy"',
                         inputs=[(0, (1, 3, 4, 4))] + [(k, dims) for k in range(1, 5)], outputs=[(5, (1, 3, 4, 4))]))
    layers.append(_layer(6, "out", "Result", inputs=[(0, (1, 3, 4, 4))]))
    edges = '<edge from-layer="0" from-port="0" to-layer="5" to-port="0"/>' + "".join(
        f'<edge from-layer="{k}" from-port="0" to-layer="5" to-port="{k}"/>' for k in range(1, 5)) + \
        '<edge from-layer="5" from-port="5" to-layer="6" to-port="0"/>'
    xml = f'<?xml version="1.0"?><net name="t" version="11"><layers>{"".join(layers)}</layers><edges>{edges}</edges></net>'
    return xml, struct.pack(f"<{2 * n}f", *lows, *highs)


def test_fake_quantize_per_tensor_and_per_channel(tmp_path):
    from cnncost import api

    xml, weights = fq_ir([0.0], [2.55])
    rows = api.analyze(write(tmp_path, xml, weights)).graph.layers
    q = rows[0].precision
    assert (q.dtype, q.zero_point, round(q.scale, 6)) == ("uint8", 0, 0.01)
    xml, weights = fq_ir([-1.28, -2.56, -0.64], [1.27, 2.54, 0.635])        # signed, one range a channel
    rows = api.analyze(write(tmp_path, xml, weights, name="pc")).graph.layers
    assert rows[0].precision.dtype == "int8" and rows[0].precision.scale is None      # stored, not rounded
    xml, weights = fq_ir([0.0], [0.0])
    refused(write(tmp_path, xml, weights, name="empty"), "output range is its input range")
