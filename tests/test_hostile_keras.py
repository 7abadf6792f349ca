"""Keras files made to break the reader (issue 34), each refused in one line naming the file,
within 5 s, reading nothing outside the file and allocating no more than the network needs:

- HDF5 that reaches outside itself: a weight stored in an external file (it copied the
  system's password file into a kernel), a virtual dataset, an external link (verify passed
  on another file's weights), a soft link;
- a .keras whose model.weights.h5 decompresses far past what the network's weights take
  (a 3 GiB member was read whole), the directory telling the truth or lying;
- hangs: a damaged .h5 whose attribute read never returned from libhdf5, an .h5 naming two
  million weights (past 10 s), a child that crashes;
- what raised tracebacks: a uint64 or undecodable config, a damaged deflate or LZMA member.

`python tests/test_hostile_keras.py FOLDER` writes each hostile file into FOLDER (the 3 GiB
archive included), for measuring with /usr/bin/time."""
from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
import zipfile
import zlib

import numpy as np
import pytest
from cnncost.sources import open_source

HERE = os.path.join(os.path.dirname(__file__), "keras_files")
SECRET = b"root:x:0:0:root:/root:/bin/bash\n" * 100            # 3,200 bytes: dense kernel 800 x 1 float32


def fixture(name):
    return os.path.join(HERE, name)


# ---- the hostile files ------------------------------------------------------------------------
def legacy(folder, name, change):
    """course_k2.h5 (tf.keras 2's Sequential: ..., flatten, dense 800 -> 1) changed by `change(f)`."""
    import h5py

    out = os.path.join(folder, name)
    shutil.copy(fixture("course_k2.h5"), out)
    with h5py.File(out, "r+") as f:
        change(f)
    return out


def _kernel(f):
    return f["model_weights/dense_6/dense_6"], "kernel:0"


def external_storage(folder):
    """The dense kernel's values kept in another file (HDF5 external storage)."""
    secret = os.path.join(folder, "secret.txt")
    with open(secret, "wb") as fh:
        fh.write(SECRET)

    def change(f):
        group, name = _kernel(f)
        del group[name]
        group.create_dataset(name, shape=(800, 1), dtype="<f4", external=[(secret, 0, len(SECRET))])
    return legacy(folder, "external_storage.h5", change)


def _other_file(folder):
    """Another HDF5 file holding weights of the dense layer's shapes."""
    import h5py

    other = os.path.join(folder, "other.h5")
    with h5py.File(other, "w") as f:
        f.create_dataset("dense_6/kernel:0", data=np.full((800, 1), 0.5, "f4"))
        f.create_dataset("dense_6/bias:0", data=np.full((1,), 0.5, "f4"))
    return other


def external_link(folder):
    """The dense layer's group of weights an external link into another file."""
    import h5py

    other = _other_file(folder)

    def change(f):
        del f["model_weights/dense_6/dense_6"]
        f["model_weights/dense_6/dense_6"] = h5py.ExternalLink(other, "/dense_6")
    return legacy(folder, "external_link.h5", change)


def virtual(folder):
    """The dense kernel a virtual dataset over another file's."""
    import h5py

    other = _other_file(folder)

    def change(f):
        group, name = _kernel(f)
        del group[name]
        layout = h5py.VirtualLayout(shape=(800, 1), dtype="f4")
        layout[...] = h5py.VirtualSource(other, "dense_6/kernel:0", shape=(800, 1))
        group.create_virtual_dataset(name, layout)
    return legacy(folder, "virtual.h5", change)


def soft_link(folder):
    import h5py

    def change(f):
        group, name = _kernel(f)
        del group[name]
        group[name] = h5py.SoftLink("/model_weights/conv2d_10/conv2d_10/kernel:0")
    return legacy(folder, "soft_link.h5", change)


def _archive(out, members, methods=None):
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data,
                       compress_type=(methods or {}).get(name, zipfile.ZIP_STORED))
    return str(out)


def _members(name="course_k2.keras"):
    with zipfile.ZipFile(fixture(name)) as z:
        return {n: z.read(n) for n in z.namelist()}


def archive_external(folder):
    """A .keras whose model.weights.h5 keeps the dense kernel in an external file."""
    import h5py

    secret = os.path.join(folder, "secret.txt")
    with open(secret, "wb") as fh:
        fh.write(SECRET)
    members = _members()
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "r+") as f:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(800, 1), dtype="<f4",
                                              external=[(secret, 0, len(SECRET))])
    members["model.weights.h5"] = buf.getvalue()
    return _archive(os.path.join(folder, "archive_external.keras"), members)


def bomb(folder, padding: int, lie: bool = False, name="bomb.keras"):
    """A .keras whose model.weights.h5 (deflated) is the real weights and `padding` zero
    bytes: an HDF5 file reads past its end as nothing, so it is a valid member. `lie`: the
    local header and the directory say the member is the weights' size alone."""
    import struct

    members = _members()
    weights = members.pop("model.weights.h5")
    out = os.path.join(folder, name)
    with zipfile.ZipFile(out, "w") as z:
        for n, data in members.items():
            z.writestr(zipfile.ZipInfo(n, (1980, 1, 1, 0, 0, 0)), data)
        info = zipfile.ZipInfo("model.weights.h5", (1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=padding >= 2 ** 31) as w:
            w.write(weights)
            block, left = bytes(2 ** 24), padding
            while left:
                w.write(block[:min(left, len(block))])
                left -= min(left, len(block))
    if lie:
        raw = bytearray(open(out, "rb").read())
        struct.pack_into("<I", raw, info.header_offset + 22, len(weights))
        struct.pack_into("<I", raw, raw.rfind(b"PK\x01\x02") + 24, len(weights))
        open(out, "wb").write(bytes(raw))
    return out


def hang(folder):
    """course_k2.h5 with 700 zero bytes at offset 5,084: libhdf5 2.0's read of its
    model_config attribute never returns (found by reader_fuzzing)."""
    raw = open(fixture("course_k2.h5"), "rb").read()
    out = os.path.join(folder, "hang.h5")
    with open(out, "wb") as fh:
        fh.write(raw[:5084] + b"\0" * 700 + raw[5084:])
    return out


def many_names(folder, count=2_000_000):
    """A dense layer whose weight_names lists its kernel `count` times, in the chunks
    (weight_names0, 1, ...) Keras writes a long list in."""
    def change(f):
        group = f["model_weights/dense_6"]
        del group.attrs["weight_names"]
        chunk = np.array([b"dense_6/kernel:0"] * 4000)
        for i in range(-(-count // len(chunk))):
            group.attrs[f"weight_names{i}"] = chunk
    return legacy(folder, "many_names.h5", change)


def uint64_config(folder):
    return legacy(folder, "uint64_config.h5", lambda f: f.attrs.__setitem__("model_config", np.uint64(2 ** 63)))


def undecodable_config(folder):
    def change(f):
        f.attrs["model_config"] = np.bytes_(b"\xed\xa0\x80" + f.attrs["model_config"].encode()[3:])
    return legacy(folder, "undecodable_config.h5", change)


def damaged_member(folder, method):
    """course_k2.keras with its model.weights.h5 compressed by `method` and its stream damaged."""
    members = _members()
    out = _archive(os.path.join(folder, f"damaged_{method}.keras"), members,
                   {"model.weights.h5": method})
    raw = bytearray(open(out, "rb").read())
    with zipfile.ZipFile(out) as z:
        info = z.getinfo("model.weights.h5")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 40, start + 200):
        raw[i] ^= 0x5A
    open(out, "wb").write(bytes(raw))
    return out


# ---- the tests --------------------------------------------------------------------------------
@pytest.fixture
def cli():
    from click.testing import CliRunner

    from cnncost.cli import cli as command

    def invoke(*args):
        start = time.perf_counter()
        res = CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)
        res.seconds = time.perf_counter() - start
        return res
    return invoke


def refused(res, *words):
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert res.seconds < 5, res.seconds
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


h5py = pytest.importorskip("h5py")


@pytest.mark.parametrize("make, words", [
    (external_storage, ["external file", "secret.txt"]),
    (external_link, ["external link", "other.h5"]),
    (virtual, ["virtual dataset"]),
    (soft_link, ["soft link"]),
    (archive_external, ["external file", "secret.txt"]),
])
def test_nothing_is_read_outside_the_model_file(make, words, cli, tmp_path):
    """import --weights-out copied the secret's bytes into the dense kernel (external storage),
    verify passed on other.h5's weights (external link): now each is refused by name, and
    neither output is written."""
    evil = make(str(tmp_path))
    out, npz = tmp_path / "o.yaml", tmp_path / "o.npz"
    refused(cli("import", evil, "-o", out, "--weights-out", npz), os.path.basename(evil), *words)
    assert not out.exists() and not npz.exists()
    refused(cli("verify", evil), *words)


def test_a_weights_member_past_what_the_network_needs_is_refused_before_reading_it(cli, tmp_path):
    """64 MB of zeros after course_k2's weights (3,200 parameters): the directory says so, and
    the member is refused before a byte is decompressed; when the directory lies, reading stops
    at the bound. The network's weights allow at most a few MB."""
    honest = bomb(str(tmp_path), 64 * 2 ** 20)
    line = refused(cli("verify", honest), "model.weights.h5 is 67,", "need at most")
    assert os.path.getsize(honest) < 2 ** 20, line
    liar = bomb(str(tmp_path), 64 * 2 ** 20, lie=True, name="liar.keras")
    refused(cli("verify", liar), "model.weights.h5")
    assert cli("report", honest).exit_code == 0          # counting reads no weights


def test_a_stored_weights_member_is_read_in_place(cli, tmp_path):
    """Both savers store model.weights.h5 uncompressed: it is read where it lies in the archive
    (a window on the file), and a deflated copy reads the same."""
    members = _members()
    deflated = _archive(tmp_path / "deflated.keras", members, {"model.weights.h5": zipfile.ZIP_DEFLATED})
    from cnncost import api
    from cnncost.runtime import executor

    a, b = (executor.weights_for(api.analyze(p).graph, open_source(p, with_weights=True)) for p in (fixture("course_k2.keras"), deflated))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_damaged_h5_whose_attribute_read_never_returns_is_refused_within_5_s(cli, tmp_path):
    line = refused(cli("report", hang(str(tmp_path))), "hang.h5")
    assert "did not finish" in line or "damaged" in line


def test_a_native_read_that_hangs_or_crashes_is_stopped():
    """The time limit itself: a child that never returns is killed after hdf5_guard.SECONDS;
    one that dies (a crash in libhdf5) is a refusal naming the file."""
    import signal

    from cnncost.errors import CnnCostError
    from cnncost.interop.keras import hdf5_guard as guard

    start = time.perf_counter()
    with pytest.raises(CnnCostError, match="x.h5: libhdf5 did not finish reading it within 1 s"):
        guard.isolated(lambda shared: time.sleep(60), "x.h5", seconds=1, memory=0)
    assert time.perf_counter() - start < 2
    with pytest.raises(CnnCostError, match="x.h5: libhdf5 failed reading it .signal 11"):
        guard.isolated(lambda shared: os.kill(os.getpid(), signal.SIGSEGV), "x.h5", seconds=5, memory=0)
    result, shared = guard.isolated(lambda shared: shared.__setitem__(slice(0, 3), b"abc") or "done", "x.h5",
                                    seconds=5, memory=0, shared_bytes=3)
    assert result == "done" and bytes(shared[:3]) == b"abc"


def _children() -> list[int]:
    mine = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                    mine.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return mine


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_a_signal_while_waiting_leaves_no_child_behind():
    """Ctrl-C (here an alarm) while the child reads: the child is killed, not left running on
    (it was, blocked on a FIFO for ever)."""
    import signal

    from cnncost.interop.keras import hdf5_guard as guard

    class Stop(Exception):
        pass

    def stop(*_):
        raise Stop()
    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(Stop):
            guard.isolated(lambda shared: time.sleep(30), "x.h5", seconds=10, memory=0)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert _children() == []


def test_an_h5_naming_many_weights_is_refused_by_their_count(cli, tmp_path):
    """200,000 here (two million took past 10 s before; `__main__` writes that one): the count
    of names is read from the attribute's header and held to the network's 100."""
    evil = many_names(str(tmp_path), 200_000)
    assert cli("report", evil).exit_code == 0
    refused(cli("verify", evil), "weight_names", "could need")


@pytest.mark.parametrize("make, words", [
    (uint64_config, ["model_config", "uint64", "not text"]),
    (undecodable_config, ["not valid JSON"]),
])
def test_a_config_attribute_that_is_not_text_is_one_line(make, words, cli, tmp_path):
    refused(cli("report", make(str(tmp_path))), *words)


def _nested_config_text(cfg):
    layer = cfg["config"]["layers"][3]["config"]["layers"][1]
    layer["config"] = "x"
    del layer["name"]


def _kwargs_number(cfg):
    cfg["config"]["layers"][2]["inbound_nodes"][0]["kwargs"] = 5


def _args_number(cfg):
    cfg["config"]["layers"][2]["inbound_nodes"][0]["args"] = 5


def _node_index_text(cfg):
    cfg["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][1] = "0"


def _output_node_list(cfg):
    cfg["config"]["output_layers"] = [["prediction", [0], 0]]


@pytest.mark.parametrize("change, words", [
    (_nested_config_text, ["no config object"]),
    (_output_node_list, ["output_layers", "two numbers"]),
    (_kwargs_number, ["preprocess", "kwargs"]),
    (_args_number, ["preprocess", "args"]),
    (_node_index_text, ["preprocess", "are numbers"]),
], ids=["nested config a string", "output node a list", "kwargs a number", "args a number",
        "node index a string"])
def test_a_damaged_config_is_one_line_naming_the_layer(change, words, cli, tmp_path):
    """What the reader fuzzing's config mutants raised (AttributeError: 'str' object has no
    attribute 'get'; 'int' object has no attribute 'items'; 'int' object is not iterable;
    TypeError: unhashable type: 'list')."""
    cfg = json.loads(open(fixture("transfer.json")).read())
    change(cfg)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(cfg))
    refused(cli("report", bad), "bad.json", *words)


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA, zipfile.ZIP_BZIP2],
                         ids=["deflate", "lzma", "bzip2"])
def test_a_damaged_weights_member_is_one_line(method, cli, tmp_path):
    """zlib.error, LZMAError and bz2's OSError from the weights member were tracebacks."""
    refused(cli("verify", damaged_member(str(tmp_path), method)), "model.weights.h5")


def test_a_fifo_is_refused_not_waited_on(cli, tmp_path):
    for name in ("model.h5", "model.keras"):
        fifo = tmp_path / name
        os.mkfifo(fifo)
        refused(cli("report", fifo), "not a regular file")


if __name__ == "__main__":
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    for make in (external_storage, external_link, virtual, archive_external, hang, many_names, uint64_config,
                 undecodable_config):
        print(make(folder))
    print(bomb(folder, 3 * 2 ** 30, name="bomb_3gib.keras"))
    print(damaged_member(folder, zipfile.ZIP_DEFLATED))
