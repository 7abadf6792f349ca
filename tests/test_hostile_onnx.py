"""Hostile ONNX files found by fuzzing: bytes from outside the model's folder, wire-type
confusion, quadratic parsing. Each refused in one line, quickly, reading nothing else."""
import os
import time

import numpy as np
import pytest
from click.testing import CliRunner

from cnncost.cli import cli

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(r, *needles):
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    for needle in needles:
        assert needle in r.output, r.output


def gemm_model(path, weight: TensorProto):
    nodes = [helper.make_node("Gemm", ["x", weight.name], ["y"], name="/fc/Gemm", transB=1)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [weight])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def external(name, location, offset="0", length="48"):
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[3, 4])
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


def test_external_data_through_a_symlink_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "secret.bin"
    outside.write_bytes(np.arange(12, dtype=np.float32).tobytes())
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "w.bin").symlink_to(outside)
    gemm_model(model_dir / "m.onnx", external("w", "w.bin"))
    refused(run("verify", model_dir / "m.onnx"), "outside the model's folder")
    # the same bytes as a regular file beside the model are read
    (model_dir / "w.bin").unlink()
    (model_dir / "w.bin").write_bytes(outside.read_bytes())
    assert run("verify", model_dir / "m.onnx").exit_code == 0


def test_external_data_that_is_a_fifo_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "w.bin")
    gemm_model(tmp_path / "m.onnx", external("w", "w.bin"))
    start = time.monotonic()
    refused(run("verify", tmp_path / "m.onnx"), "not a regular file")
    assert time.monotonic() - start < 5


def test_a_non_numeric_external_offset_is_one_line(tmp_path):
    (tmp_path / "w.bin").write_bytes(bytes(48))
    gemm_model(tmp_path / "m.onnx", external("w", "w.bin", offset="twelve"))
    refused(run("verify", tmp_path / "m.onnx"), "offset or length is not a number")


def test_a_million_unpacked_floats_parse_in_linear_time(tmp_path):
    """float_data written one fixed32 entry at a time: the list was copied per entry."""
    n = 250_000
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[n // 4, 4])
    body = t.SerializeToString() + b"".join(b"\x25" + np.float32(i).tobytes() for i in range(n))  # field 4, wire 5
    t = TensorProto.FromString(body)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="/fc/Gemm")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n // 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [t])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    start = time.monotonic()
    assert run("verify", path).exit_code == 0
    assert time.monotonic() - start < 5


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    def varint(n):
        out = b""
        while True:
            out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
            n >>= 7
            if not n:
                return out
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def test_attribute_ints_written_as_fixed32_are_one_line(tmp_path):
    """An attribute's ints (field 8) as fixed32 entries (wire type 5) instead of varints: a
    traceback in the parser before."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="/conv/Conv")
    attr = helper.make_attribute("kernel_shape", [3, 3])
    attr.ClearField("ints")
    hostile = attr.SerializeToString() + b"\x45\x03\x00\x00\x00\x45\x03\x00\x00\x00"
    g = helper.make_graph([], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 6, 6])], [w])
    graph = g.SerializeToString() + _field(1, node.SerializeToString() + _field(5, hostile))
    model = helper.make_model(helper.make_graph([], "empty", [], []), opset_imports=[helper.make_opsetid("", 17)])
    model.ClearField("graph")
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString() + _field(7, graph))
    refused(run("report", path), "wire type 5")
