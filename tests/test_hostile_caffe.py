"""Hostile Caffe files: each is refused in one line (exit 2) within 5 s, without reading
more than it needs: nesting 10,000 deep, a kernel of 10^12, texts past the size and token
bounds, FIFOs and devices, binary junk, and .caffemodels whose lengths, dims and links lie."""
from __future__ import annotations

import os
import struct
import time

import pytest
from click.testing import CliRunner

from cnncost.cli import cli

from caffe_wire import blob, caffemodel, field

HERE = os.path.join(os.path.dirname(__file__), "caffe_files")
NET = 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
CONV = 'layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 2 kernel_size: 1 } }\n'
SECONDS = 5


def refused(args, *needles):
    start = time.perf_counter()
    r = CliRunner().invoke(cli, [str(a) for a in args])
    seconds = time.perf_counter() - start
    lines = [line for line in r.output.splitlines() if line.strip() and not line.startswith("note:")]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert "Traceback" not in r.output and seconds < SECONDS, (seconds, r.output)
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def text_file(tmp_path, text: str, name="net.prototxt"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, needles", [
    ("layer {" * 10_000, ("net.prototxt:1:", "nested more than 32 deep")),
    (NET + 'layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 8 '
     'kernel_size: 1000000000000 } }', ("kernel_size: 1,000,000,000,000 is over the limit",)),
    (NET + 'layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 8 '
     'kernel_size: 99999999999999999999999 } }', ("larger than a 64-bit integer",)),
    ('input: "data"\ninput_shape { dim: 1 dim: 3 dim: 1099511627776 dim: 8 }\n' + CONV, ("over the limit",)),
    ('input: "data"\ninput_shape { dim: 1 dim: 3 dim: 65536 dim: 65536 }\n'
     'layer { name: "r" type: "Reshape" bottom: "data" top: "r" reshape_param { shape { dim: 0 dim: -1 dim: 7 } } }',
     ("cannot infer -1",)),
    (NET + 'layer { name: "s" type: "Split" bottom: "data" ' + 'top: "t" ' * 1001 + "}", ("more than 1,000",)),
    ("a: 1 " * 500_001, ("more than 500,000 tokens",)),
    ("#\n" * 500_001, ("more than 500,000 tokens",)),
    (NET + 'layer { name: "\x1b]0;pwned\x07" type: "\x1b[2J" bottom: "data" top: "x" }', ("\\x1b",)),
])
def test_a_hostile_net_text_is_one_line(tmp_path, text, needles):
    line = refused(["report", text_file(tmp_path, text)], *needles)
    assert "\x1b" not in line


def test_too_many_layers_are_refused_before_any_is_read(tmp_path):
    text = NET + 'layer{type:"ReLU"bottom:"data"top:"data"}' * 20_001
    refused(["report", text_file(tmp_path, text)], "20,001 layers")


def test_a_text_past_the_size_bound_is_refused_unread(tmp_path):
    big = tmp_path / "big.prototxt"
    with open(big, "wb") as fh:                  # sparse: 64 MB that cost nothing
        fh.truncate(64 * 2 ** 20)
    refused(["report", big], "larger than the limit")
    zero = tmp_path / "zero.prototxt"
    zero.symlink_to("/dev/zero")
    refused(["report", zero], "larger than the limit")


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "pipe.prototxt"
    os.mkfifo(fifo)
    refused(["report", fifo], "a FIFO or socket")


def test_binary_junk_and_a_caffemodel_given_as_the_net(tmp_path):
    junk = tmp_path / "junk.prototxt"
    junk.write_bytes(bytes(range(256)) * 8)
    refused(["report", junk], "not protobuf text")
    model = tmp_path / "model.prototxt"
    model.write_bytes(open(os.path.join(HERE, "tiny.caffemodel"), "rb").read())
    refused(["report", model], "a binary .caffemodel holds weights")


# ---- .caffemodel -------------------------------------------------------------------------
def with_weights(tmp_path, raw: bytes):
    net = text_file(tmp_path, NET + CONV)
    (tmp_path / "net.caffemodel").write_bytes(raw)
    return net


def conv_layer(*blobs: bytes) -> bytes:
    return caffemodel("net", {"c": blobs})[len(field(1, b"net")):]


@pytest.mark.parametrize("raw, needles", [
    (b"\xff" * 11, ("not a readable .caffemodel",)),
    (field(100, b"\x0a\xff\xff\xff\xff\x0f"), ("runs past the end",)),
    (conv_layer(blob((2, 3, 1, 1), b"\0" * 8), blob((2,), b"\0" * 8)), ("dims [2, 3, 1, 1] hold 6 values, the file 2",)),
    (conv_layer(blob((2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1), b"\0" * 8)), ("hold",)),
    (conv_layer(blob((2 ** 40,), b"")), ("dims",)),
    (conv_layer(blob((3, 2, 1, 1), b"\0" * 24), blob((2,), b"\0" * 8)), ("blob 0 is 3x2x1x1; the net makes it 2x3x1x1",)),
    (conv_layer(blob((2, 3, 1, 1), b"\0" * 24)), ("holds 1 blob(s); the net's Convolution takes 2",)),
    (conv_layer(*[blob((1,), b"\0" * 4)] * 65), ("65 blobs",)),
    (field(100, field(1, b"other")), ("no weights for layer 'c'",)),
    (conv_layer(blob((2, 3, 1, 1), b"\0" * 24), blob((2,), b"\0" * 8)) * 2, ("two layers are named 'c'",)),
    (struct.pack("<I", 0) * 4, ("not a readable .caffemodel",)),
])
def test_a_hostile_caffemodel_is_one_line(tmp_path, raw, needles):
    refused(["verify", with_weights(tmp_path, raw)], "net.caffemodel", *needles)


def test_a_caffemodel_that_is_a_fifo_or_a_link_out_of_the_folder(tmp_path):
    folder = tmp_path / "net"
    folder.mkdir()
    net = text_file(folder, NET + CONV)
    os.mkfifo(folder / "net.caffemodel")
    refused(["verify", net], "not a regular file")
    (folder / "net.caffemodel").unlink()
    (tmp_path / "outside.caffemodel").write_bytes(b"")
    (folder / "net.caffemodel").symlink_to(tmp_path / "outside.caffemodel")
    refused(["verify", net], "outside the model's folder")
