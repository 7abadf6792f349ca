"""Every file we read or write, attacked: each case ends with exit 1 or 2 and one line,
quickly, without a traceback, without reading more than it needs and without touching
anything but the named output. Large files are faked by their headers."""
import io
import json
import os
import stat
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from cnncost.runtime import executor
from cnncost.api import analyze
from cnncost.cli import cli

from conftest import spec_text


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line(r, code=2, *needles):
    assert r.exit_code == code, r.output
    lines = [l for l in r.output.splitlines() if l.strip() and not l.startswith("note:")]
    assert len(lines) == 1, r.output
    assert lines[0].startswith("error: ") and "Traceback" not in r.output
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def npy_bytes(array=None, *, header_shape=None, dtype="<f4", payload=b""):
    """A real .npy, or one whose header declares `header_shape` over a tiny payload."""
    if array is not None:
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=True)
        return buf.getvalue()
    header = repr({"descr": dtype, "fortran_order": False, "shape": tuple(header_shape)})
    header = header.encode("latin1")
    pad = 64 - (10 + len(header) + 1) % 64
    return b"\x93NUMPY\x01\x00" + (len(header) + pad + 1).to_bytes(2, "little") + header + b" " * pad + b"\n" + payload


def npz(path, members: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def lenet():
    graph = analyze("lenet5").graph
    return graph, executor.init_weights(graph, 0)


def good_members(weights, skip=()):
    return {f"{k}.npy": npy_bytes(v) for k, v in weights.items() if k not in skip}


# ---- --weights .npz --------------------------------------------------------------------
@pytest.mark.parametrize("bad, needle", [
    (np.array(["abc"] * 150).reshape(5, 5, 1, 6), "not a real number type"),
    (np.array([b"x"] * 150).reshape(5, 5, 1, 6), "not a real number type"),
    (np.zeros((5, 5, 1, 6), dtype=[("a", "<f4")]), "not a real number type"),
    (np.zeros((5, 5, 1, 6), dtype="V4"), "not a real number type"),
    (np.zeros((5, 5, 1, 6), dtype=complex), "not a real number type"),
    (np.zeros((5, 5, 1, 6), dtype="datetime64[s]"), "not a real number type"),
    (np.zeros((5, 5, 1, 6), dtype=bool), "not a real number type"),
    (np.array([None] * 150, dtype=object).reshape(5, 5, 1, 6), "not a real number type"),
])
def test_weights_of_a_wrong_dtype(tmp_path, lenet, bad, needle):
    members = good_members(lenet[1])
    members["c1/kernel.npy"] = npy_bytes(bad)
    path = npz(tmp_path / "w.npz", members)
    one_line(run("verify", "lenet5", "--weights", path), 2, "c1/kernel", needle)


def test_weights_archive_damage(tmp_path, lenet):
    members = good_members(lenet[1])
    cases = {}
    cases["npy as npz"] = (tmp_path / "a.npz", npy_bytes(np.zeros(3, np.float32)), "single .npy array")
    cases["empty"] = (tmp_path / "b.npz", b"", "empty")
    full = (npz(tmp_path / "c.npz", members)).read_bytes()
    cases["truncated"] = (tmp_path / "c.npz", full[: len(full) // 2], "not a readable .npz")
    cases["not a zip"] = (tmp_path / "d.npz", b"hello world, not a zip", "not a readable .npz")
    for path, data, needle in cases.values():
        path.write_bytes(data)
        one_line(run("verify", "lenet5", "--weights", path), 2, needle)
    # a device or FIFO is judged by its first bytes, never read on to its end
    quick_one_line(["verify", "lenet5", "--weights", "/dev/zero"], "not a readable .npz archive")
    odd = dict(members, **{"readme.txt": b"hi"})
    one_line(run("verify", "lenet5", "--weights", npz(tmp_path / "e.npz", odd)), 2, "not an .npy array")
    magic = dict(members, **{"c1/kernel.npy": b"\x93NOTNPY" + b"\0" * 100})
    one_line(run("verify", "lenet5", "--weights", npz(tmp_path / "f.npz", magic)), 2, "not a valid .npy")


def test_weights_with_a_bad_crc(tmp_path, lenet):
    path = npz(tmp_path / "w.npz", good_members(lenet[1]))
    data = bytearray(path.read_bytes())
    at = data.index(b"\x93NUMPY", data.index(b"c1/kernel.npy")) + 200   # inside the data, past the header
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    one_line(run("verify", "lenet5", "--weights", path), 2, "c1/kernel.npy", "CRC")


def test_weights_headers_are_checked_before_any_data_is_read(tmp_path, lenet):
    """A member declaring 100000 x 100000 (40 GB), or a zip bomb of zeros: refused by its
    header, in well under a second, without decompressing it."""
    members = good_members(lenet[1])
    members["c1/kernel.npy"] = npy_bytes(header_shape=(100000, 100000), payload=b"\0" * 64)
    t0 = time.perf_counter()
    one_line(run("verify", "lenet5", "--weights", npz(tmp_path / "big.npz", members)), 2,
             "'c1/kernel' has shape 100000x100000")
    bomb = good_members(lenet[1])
    bomb["c1/kernel.npy"] = npy_bytes(header_shape=(6, 1024, 1024, 256), payload=b"\0" * (64 << 20))
    path = npz(tmp_path / "bomb.npz", bomb, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2 << 20
    one_line(run("verify", "lenet5", "--weights", path), 2, "6x1024x1024x256")
    assert time.perf_counter() - t0 < 5


def test_weights_never_unpickle(tmp_path, lenet, monkeypatch):
    import pickle
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    members = good_members(lenet[1])
    members["c1/kernel.npy"] = npy_bytes(np.array([{"x": 1}], dtype=object))
    one_line(run("verify", "lenet5", "--weights", npz(tmp_path / "p.npz", members)), 2)


# ---- run --input ---------------------------------------------------------------------
@pytest.mark.parametrize("data, needle", [
    (npy_bytes(np.float32(3.0)), "does not fit the network's input 32x32x1"),
    (npy_bytes(np.zeros((0, 32, 32, 1), np.float32)), "the batch is empty"),
    (npy_bytes(np.zeros((32, 32, 1), complex)), "not a real number type"),
    (npy_bytes(np.zeros((32, 32, 3), np.float32)), "does not fit"),
    (npy_bytes(header_shape=(100000, 100000, 3)), "does not fit"),
    (b"", "empty"),
    (b"PK\x03\x04 an npz", ".npz (zip) archive"),
    (b"\x93NUMPY\x01\x00\xff\xff{garbage", "not a valid .npy"),
])
def test_hostile_inputs(tmp_path, data, needle):
    path = tmp_path / "x.npy"
    path.write_bytes(data)
    one_line(run("run", "lenet5", "--input", path), 2, needle)


def test_input_batch_is_guarded_before_reading(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(npy_bytes(header_shape=(10**9, 32, 32, 1), payload=b"\0" * 16))
    t0 = time.perf_counter()
    one_line(run("run", "lenet5", "--input", path), 2, "batch 1000000000", "the limit is")
    assert time.perf_counter() - t0 < 5


def test_a_good_input_still_runs(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((2, 32, 32, 1), np.float64))
    r = run("run", "lenet5", "--input", path)
    assert r.exit_code == 0 and "output 2x10" in r.output and "weights are random" in r.output


# ---- baselines -----------------------------------------------------------------------
def report_json():
    return json.loads(run("report", "lenet5", "--format", "json").output)


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d["totals"].update(params="61706"), "totals.params"),
    (lambda d: d["totals"].update(params=None), "totals.params"),
    (lambda d: d["layers"][0].update(params="6"), "layers[0].params"),
    (lambda d: d.update(totals="x"), "`totals`"),
    (lambda d: d.update(layers={}), "`layers`"),
    (lambda d: d["totals"].update(params=-1), "negative"),
    (lambda d: d["totals"].update(params=1.5), "totals.params"),
])
def test_bad_baselines(tmp_path, mutate, needle):
    data = report_json()
    mutate(data)
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    r = run("check", "lenet5", "--baseline", path)
    assert r.exit_code == 2 and "not a cnncost JSON report" in r.output and needle in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("text, needle", [
    ('{"totals": {"params": NaN}, "layers": []}', "NaN"),
    ('{"totals": {"params": Infinity}, "layers": []}', "Infinity"),
    ('{"totals": {"params": 1e400}, "layers": []}', "totals.params"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ('{"totals": {}, "layers": []}', "has none of"),
    ("\xff\xfe", "not UTF-8"),
])
def test_malformed_baseline_json(tmp_path, text, needle):
    path = tmp_path / "b.json"
    path.write_bytes(text.encode("latin1"))
    r = run("check", "lenet5", "--baseline", path)
    assert r.exit_code == 2 and "not a cnncost JSON report" in r.output and needle in r.output, r.output


# ---- unbounded reads -------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["report", "/dev/zero"],
    ["report", "lenet5", "--profile", "/dev/zero"],
    ["check", "lenet5", "--baseline", "/dev/zero", "--limit", "max_baseline_bytes=1000000"],
])
def test_dev_zero_is_read_only_up_to_the_limit(args):
    t0 = time.perf_counter()
    r = run(*args)
    assert r.exit_code == 2 and "larger than the limit" in r.output and "Traceback" not in r.output
    assert time.perf_counter() - t0 < 5


def test_sparse_8_gib_spec(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:
        fh.truncate(8 << 30)             # sparse: takes no disk
    t0 = time.perf_counter()
    one_line(run("report", path), 2, "larger than the limit of 5,242,880 bytes")
    assert time.perf_counter() - t0 < 5


# ---- numbers -------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["check", "lenet5", "--max-params", "1e999999999"],
    ["check", "lenet5", "--max-mults", "9" * 5000],
    ["verify", "lenet5", "--max-memory", "1e999999999"],
])
def test_absurd_quantities_are_refused_at_once(args):
    t0 = time.perf_counter()
    r = run(*args)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert time.perf_counter() - t0 < 5


def test_absurd_max_increase_and_profile_values(tmp_path):
    base = tmp_path / "b.json"
    base.write_text(run("report", "lenet5", "--format", "json").output)
    r = run("check", "lenet5", "--baseline", base, "--max-increase", "1e999999999%")
    assert r.exit_code == 2 and "out of range" in r.output
    for value in ('"1e999"', "1e999", '"1e999999999"'):
        prof = tmp_path / "p.yaml"
        prof.write_text(f"peak_flops: {value}\nbandwidth: 1e10\n")
        r = run("report", "lenet5", "--profile", prof)
        assert r.exit_code == 2 and "peak_flops" in r.output and "Traceback" not in r.output


def test_sweep_grid_is_bounded_and_announced():
    r = run("sweep", "mobilenet_v1", "--set", "alpha=" + ",".join(str(i) for i in range(1, 1001)),
            "--set", "resolution=" + ",".join(str(i) for i in range(32, 1032)))
    assert r.exit_code == 2 and "1,000,000 cells" in r.output and "--limit max_sweep_cells=1000000" in r.output
    r = run("sweep", "mobilenet_v1", "--set", "width=,,,")
    assert r.exit_code == 2 and "empty value" in r.output
    r = run("sweep", "mobilenet_v1", "--set", "alpha=1,0.5,0.25", "--jobs", "200", "--format", "json")
    assert r.exit_code == 0 and "sweeping 3 cell(s) with 2 worker(s)" in r.stderr


# ---- memory ---------------------------------------------------------------------------
def test_guard_honours_the_address_space_limit(tmp_path):
    """Under RLIMIT_AS of 3 GB a 25000 x 25000 input is refused by the guard (exit 2),
    not left to die in MemoryError, whatever --max-memory says."""
    spec = tmp_path / "big.yaml"
    spec.write_text(spec_text("""
        input: [25000, 25000, 3]
        layers:
          - {name: c, kind: conv, filters: 4, kernel: 3}
    """))
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
            "from cnncost.cli import main; sys.argv = ['cnncost'] + sys.argv[1:]; main(sys.argv[1:])")
    for extra in ([], ["--max-memory", "100G"]):
        p = subprocess.run([sys.executable, "-c", code, "verify", str(spec), *extra],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, p.stderr
        assert "what this process can allocate" in p.stderr and "Traceback" not in p.stderr


def test_memory_error_is_exit_2(monkeypatch):
    def boom(*a, **k):
        raise MemoryError
    monkeypatch.setattr(executor, "run", boom)
    one_line(run("verify", "lenet5", "--max-memory", "100G"), 2, "out of memory")


# ---- files we write --------------------------------------------------------------------
def test_output_to_devices_is_written_not_replaced():
    before = os.stat("/dev/null")
    r = run("report", "lenet5", "-o", "/dev/null")
    assert r.exit_code == 0
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    if os.path.exists("/dev/full"):
        one_line(run("report", "lenet5", "-o", "/dev/full"), 2, "/dev/full")
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_output_through_a_symlink_and_a_fifo(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert run("report", "lenet5", "--format", "json", "-o", link).exit_code == 0
    assert link.is_symlink() and json.loads(target.read_text())["name"] == "lenet5"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    assert run("report", "lenet5", "--format", "json", "-o", fifo).exit_code == 0
    reader.join(10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and b'"lenet5"' in got[0]


def test_output_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        assert run("report", "lenet5", "-o", tmp_path / "r.txt").exit_code == 0
        assert run("check", "lenet5", "--junit", tmp_path / "j.xml").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "r.txt").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(tmp_path / "j.xml").st_mode) == 0o640
    os.chmod(tmp_path / "r.txt", 0o604)            # an existing file keeps its mode
    assert run("report", "lenet5", "-o", tmp_path / "r.txt").exit_code == 0
    assert stat.S_IMODE(os.stat(tmp_path / "r.txt").st_mode) == 0o604


# ---- terminal --------------------------------------------------------------------------
def test_control_characters_are_escaped_in_messages():
    r = run("explain", "resnet50", "\x1b]0;pwned\x07\x1b[2Jconv1")
    assert r.exit_code == 2 and "\x1b" not in r.output and "\x07" not in r.output
    assert "\\x1b]0;pwned\\x07\\x1b[2Jconv1" in r.output


# ---- ONNX models ------------------------------------------------------------------------
def onnx_model(tmp_path, *, nodes=None, inputs=None, opset=17, inits=None):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes = nodes or [helper.make_node("Conv", ["x", "k"], ["y"], name="conv", kernel_shape=[1, 1])]
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])]
    inits = {"k": np.ones((3, 2, 1, 1), np.float32)} if inits is None else inits
    g = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    return path


def quick_one_line(args, *needles):
    t0 = time.perf_counter()
    line = one_line(run(*args), 2, *needles)
    assert time.perf_counter() - t0 < 5, line
    return line


def test_onnx_truncated_empty_and_foreign_files(tmp_path):
    good = onnx_model(tmp_path).read_bytes()
    for i, data in enumerate([good[:len(good) // 2], good[:7], b"", b"\x89PNG\r\n\x1a\n" + bytes(200),
                              b"name: lenet\nlayers: []\n", os.urandom(4096), b"\x00" * 1000]):
        path = tmp_path / f"bad{i}.onnx"
        path.write_bytes(data)
        quick_one_line(["report", path], str(path))


def test_onnx_from_a_device_is_bounded(tmp_path):
    link = tmp_path / "zero.onnx"
    link.symlink_to("/dev/zero")
    quick_one_line(["report", link], "device or pipe")


def test_onnx_opsets_control_flow_and_inputs(tmp_path):
    from onnx import TensorProto, helper

    for opset in (6, 30):
        quick_one_line(["report", onnx_model(tmp_path, opset=opset)], f"ONNX opset {opset} is not one cnncost reads")
    branch = helper.make_graph([helper.make_node("Identity", ["x"], ["z"])], "b", [],
                               [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
    flow = [helper.make_node("ReduceMax", ["x"], ["c"], keepdims=0),
            helper.make_node("If", ["c"], ["y"], name="branch", then_branch=branch, else_branch=branch)]
    quick_one_line(["report", onnx_model(tmp_path, nodes=flow)], "control flow (If x1)")
    two = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, "h", "w"]),
           helper.make_tensor_value_info("x2", TensorProto.FLOAT, None)]
    add = [helper.make_node("Add", ["x", "x2"], ["y"])]
    quick_one_line(["report", onnx_model(tmp_path, nodes=add, inputs=two)],
                   "input 'x' has dynamic dimensions [n, 2, h, w]; fix them with --input-shape, e.g. --input-shape x=")
    dyn = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, "h", 4])]
    path = onnx_model(tmp_path, inputs=dyn)
    quick_one_line(["report", path], "input 'x' has dynamic dimensions [batch, 2, h, 4]", "--input-shape")
    assert run("report", path, "--input-shape", "1x2x4x4", "--format", "json").exit_code == 0
    # a dynamic batch alone is the report's --batch (1 unless given)
    batch_only = onnx_model(tmp_path, inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 4, 4])])
    assert run("report", batch_only, "--batch", "3", "--format", "json").exit_code == 0
    quick_one_line(["report", path, "--input-shape", "1x2x4"], "--input-shape has 3 dimensions, input 'x' 4")
    damaged = [helper.make_node("Relu", ["nowhere"], ["y"], name="r")]
    quick_one_line(["report", onnx_model(tmp_path, nodes=damaged)], "reads 'nowhere', which no earlier node makes")


def test_onnx_2_gib_initializers(tmp_path):
    """A model file past protobuf's 2 GiB (sparse here) and a raw_data field declaring 2 GiB
    in a small file: refused at once; dims that the data does not fill: refused on running."""
    big = tmp_path / "big.onnx"
    with open(big, "wb") as f:
        f.truncate(2 ** 31 + 16)
    quick_one_line(["report", big], "more than an ONNX file can hold")
    # field 7 (graph) of ModelProto: length-delimited, declaring 2 GiB, then a few bytes
    lying = tmp_path / "lying.onnx"
    lying.write_bytes(b"\x08\x08" + b"\x3a" + bytes([0x80, 0x80, 0x80, 0x80, 0x08]) + bytes(64))
    quick_one_line(["report", lying], "runs past the end")
    from onnx import TensorProto
    path = onnx_model(tmp_path, inits={})
    import onnx
    m = onnx.load(str(path))
    t = TensorProto(name="k", data_type=TensorProto.FLOAT, raw_data=b"\x00" * 16)
    t.dims.extend([65536, 2, 1, 1])          # 512 kB of float32 declared, as its use takes them
    m.graph.initializer.append(t)
    onnx.save(m, str(path))
    np.save(tmp_path / "x.npy", np.ones((4, 4, 2), np.float32))
    quick_one_line(["run", path, "--input", tmp_path / "x.npy"], "need 524,288 bytes, the file holds 16")
    # dims its use cannot take (8,192 input channels for 2) are refused when the file is read
    m.graph.initializer[-1].dims[1] = 8192
    onnx.save(m, str(path))
    quick_one_line(["report", path], "kernel 'k' has dims [65536, 8192, 1, 1]", "the file is damaged")


def test_onnx_missing_external_data_when_running(tmp_path):
    onnx = pytest.importorskip("onnx")
    path = onnx_model(tmp_path)
    m = onnx.load(str(path))
    onnx.save(m, str(path), save_as_external_data=True, location="w.bin", size_threshold=0)
    (tmp_path / "w.bin").unlink()
    assert run("report", path).exit_code == 0
    np.save(tmp_path / "x.npy", np.ones((4, 4, 2), np.float32))
    quick_one_line(["run", path, "--input", tmp_path / "x.npy"], "cannot read its external data")
    m.graph.initializer[0].external_data[0].value = "../../etc/passwd"
    onnx.save(m, str(path))
    quick_one_line(["run", path, "--input", tmp_path / "x.npy"], "must be a file beside the model")


def test_a_limit_stops_expansion_as_soon_as_it_is_known_exceeded(tmp_path):
    """A million repetitions, or 1000 x 1000 nested, stop at the first repetition that shows
    the total, not after building 200,000 layers."""
    one = tmp_path / "one.yaml"
    one.write_text("input: [4, 4, 1]\nlayers:\n  - {kind: relu, repeat: 1000000}\n")
    quick_one_line(["--limit", "max_repeat=1000000", "report", one], "1,000,000 layers, above the limit of 200,000")
    nested = tmp_path / "nested.yaml"
    nested.write_text("input: [4, 4, 1]\nlayers:\n  - repeat: 1000\n    layers:\n      - {kind: relu, repeat: 1000}\n")
    quick_one_line(["--limit", "max_repeat=1000000", "report", nested], "repeat 1,000 of 1,000 layers each")
    # a repetition whose layers `when:` switches is not assumed constant: built, then counted
    varying = tmp_path / "varying.yaml"
    varying.write_text("input: [4, 4, 1]\nlayers:\n  - repeat: 3\n    layers:\n"
                       "      - {kind: relu, repeat: 2, when: 'i > 0'}\n")
    assert run("report", varying, "--format", "json").exit_code == 0


def test_a_spec_string_never_runs_code_unless_asked(tmp_path, monkeypatch):
    """`report 'os:system(command=...)'` ran the command wherever torch was installed; and
    `report models:net.onnx` imported ./models.py when no such file was there."""
    import cnncost

    marker = tmp_path / "ran"
    (tmp_path / "models.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nnet = None\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec in (f'os:system(command="touch {marker}")', "models:net.onnx", "models:net"):
        for command in (["report", spec], ["compare", "lenet5", spec], ["check", spec], ["verify", spec]):
            r = run(*command)
            assert r.exit_code == 2 and "--allow-code" in r.output, (command, r.output)
        with pytest.raises(cnncost.CnnCostError, match="allow_code=True"):
            cnncost.report(spec)
    assert not marker.exists()
