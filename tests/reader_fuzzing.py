"""Mutation fuzzing of every model-file reader, over the project's own fixtures.

Each reader gets seeded mutants of real files (fixed seeds: a failure is reproduced by its
seed): byte flips and runs, truncations, duplicated or deleted chunks, integers scaled up
(a length or an offset made huge), and, inside a zip (.keras, .npz), the members mutated and
recompressed so the damage reaches the parser behind the archive. Every mutant is read by
`cnncost report`, and every third by `cnncost verify` (weights too). The outcome must be
"ok" (exit 0), or a refusal of one line on stderr (exit 1 or 2) within SECONDS: never a
traceback, never a hang.

Why a seeded mutator, not hypothesis or atheris: the inputs are binary files of 10 kB to
1 MB where shrinking buys little and costs seconds a case; atheris needs an instrumented
build and finds its way by coverage over hours, which is a campaign, not a CI check. A
seeded mutator over real files reaches the parsers' corners at a few milliseconds a case.

    python tests/reader_fuzzing.py [--mutants N] [--reader onnx] [--seed S]

runs a longer campaign and prints, per reader, mutants, clean refusals, tracebacks, runs
past SECONDS and the peak memory of the process (each reader in its own process).
"""
from __future__ import annotations

import io
import json
import os
import random
import signal
import struct
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECONDS = 5


class Hang(Exception):
    pass


# ---- the fixtures ------------------------------------------------------------------------
def fixtures(folder: Path) -> dict[str, list[Path]]:
    """reader -> its seed files: the committed Keras and TFLite fixtures, ONNX files exported
    here from bundled networks, weights (.npz) and an input (.npy)."""
    from click.testing import CliRunner

    from cnncost.cli import cli

    out: dict[str, list[Path]] = {"keras_zip": [], "keras_h5": [], "keras_json": [], "tflite": [], "onnx": [],
                                  "openvino": [], "npz": [], "npy": [], "ncnn": [], "coreml": [], "pt2": [], "caffe": [], "caffemodel": []}
    keras = HERE / "keras_files"
    # every layer class (zoo), shared layers (shared), nested models, both savers, operations
    out["keras_zip"] = [keras / f for f in ("zoo.keras", "shared_k3.keras", "nested_k2.keras", "course_k2.keras",
                                            "arithmetic.keras")]
    out["keras_h5"] = [keras / f for f in ("zoo_k2.h5", "shared_k2.h5", "nested_k3.h5", "course_k2.h5",
                                           "arithmetic_k2.h5")]
    out["keras_json"] = sorted(keras.glob("*.json"))[:3]
    out["tflite"] = sorted((HERE / "tflite_files").glob("*.tflite"))
    for param in sorted((HERE / "ncnn_files").glob("*.param")):       # pnnx writes no input shape: given here
        text = param.read_text().replace("Input                    in0                      0 1 in0",
                                         "Input in0 0 1 in0 0=16 1=16 2=3")
        (folder / param.name).write_text(text)
        (folder / param.name.replace(".param", ".bin")).write_bytes(param.with_suffix(".bin").read_bytes())
        out["ncnn"].append(folder / param.name)
    # Core ML: NeuralNetwork files, and an ML Program's spec with its weights/ beside the mutant
    import shutil

    coreml = HERE / "coreml_files"
    out["coreml"] = sorted(coreml.glob("*.mlmodel"))
    inner = coreml / "tiny_fp32.mlpackage" / "Data" / "com.apple.CoreML"
    shutil.copytree(inner / "weights", folder / "weights", dirs_exist_ok=True)
    shutil.copy(inner / "model.mlmodel", folder / "tiny_mlprogram.mlmodel")
    out["coreml"].append(folder / "tiny_mlprogram.mlmodel")
    out["pt2"] = sorted((HERE / "pt2_files").glob("*.pt2"))
    caffe = HERE / "caffe_files"          # every layer type, V1 layers, BatchNorm + Scale, inception
    out["caffe"] = [caffe / f for f in ("tiny.prototxt", "tiny_v1.prototxt", "resnet50.prototxt", "googlenet.prototxt")]
    out["caffemodel"] = [caffe / "tiny.caffemodel"]
    # PyTorch's exports of a recurrence, a 1-D and a 3-D convolutional net
    out["onnx"] = [HERE / "onnx_files" / f for f in ("lstm_bidir2_bf.onnx", "m5_tiny.onnx", "r2plus1d_tiny.onnx")]
    # OpenVINO's conversions of one CNN: float32, float16 and NNCF's int8 (NAME.bin beside each)
    out["openvino"] = sorted((HERE / "openvino_files").glob("*.xml"))
    runner = CliRunner()
    for name in ("lenet5", "mobilenet_v2@resolution=32"):
        target = folder / f"{name.split('@')[0]}.onnx"
        args = ["export", name.split("@")[0], "-o", str(target)]
        if "@" in name:
            args += ["--set", name.split("@")[1]]
        if runner.invoke(cli, args).exit_code == 0:
            out["onnx"].append(target)
    weights = folder / "lenet5.npz"
    if runner.invoke(cli, ["import", str(folder / "lenet5.onnx"), "-o", str(folder / "lenet5_spec.yaml"),
                           "--weights-out", str(weights)]).exit_code == 0:
        out["npz"].append(weights)
    import numpy as np

    x = folder / "input.npy"
    np.save(x, np.zeros((1, 1, 32, 32), np.float32))
    out["npy"].append(x)
    return {k: v for k, v in out.items() if v}


# ---- mutations ---------------------------------------------------------------------------
def _flip(rng, data: bytearray):
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)


def _run(rng, data: bytearray):
    i = rng.randrange(len(data))
    data[i:i + rng.randint(1, 16)] = bytes([rng.choice((0x00, 0xFF, 0x7F, 0x80))]) * rng.randint(1, 16)


def _truncate(rng, data: bytearray):
    if len(data) > 1:                  # a one-byte member (a .pt2's archive_version) has nothing to cut
        del data[rng.randrange(1, len(data)):]


def _chunk(rng, data: bytearray):
    i, n = rng.randrange(len(data)), rng.randint(1, 256)
    piece = bytes(data[i:i + n])
    if rng.random() < 0.5:
        del data[i:i + n]
    else:
        j = rng.randrange(len(data))
        data[j:j] = piece * rng.randint(1, 4)


def _big_int(rng, data: bytearray):
    """A little-endian 32-bit word (a FlatBuffer offset, an HDF5 size, a length) made huge."""
    if len(data) < 8:
        return _flip(rng, data)
    i = rng.randrange(0, len(data) - 4) & ~3
    (v,) = struct.unpack_from("<I", data, i)
    struct.pack_into("<I", data, i, min(0xFFFFFFFF, max(1, v) * rng.choice((2, 16, 4096, 1 << 20))))


def _varint(rng, data: bytearray):
    """A protobuf length or tag stretched: 0xff continuation bytes, or a field number swapped."""
    i = rng.randrange(len(data))
    data[i:i + 1] = b"\xff" * rng.randint(1, 10) + b"\x0f" if rng.random() < 0.6 else bytes([rng.randrange(256)])


BYTE_MUTATIONS = (_flip, _run, _truncate, _chunk, _big_int, _varint)


def mutate_bytes(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        if data:
            rng.choice(BYTE_MUTATIONS)(rng, data)
    return bytes(data)


def mutate_json(rng: random.Random, raw: bytes) -> bytes:
    """A JSON document with one value replaced by a hostile one (types, sizes, nesting)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return mutate_bytes(rng, raw)
    spots = []

    def walk(node):
        if isinstance(node, dict):
            for k in list(node):
                spots.append((node, k))
                walk(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                spots.append((node, i))
                walk(node[i])
    walk(doc)
    if not spots:
        return mutate_bytes(rng, raw)
    for _ in range(rng.randint(1, 3)):
        node, key = rng.choice(spots)
        node[key] = rng.choice([None, [], {}, "", -1, 0, 2**63, 1e308, "x" * 10_000, [[[]]], "3rc1",
                                {"class_name": "Lambda"}, [2**40, 2**40], True, "../../etc/passwd", "\x1b[2J"])
    return json.dumps(doc).encode()


def mutate_zip(rng: random.Random, raw: bytes) -> bytes:
    """An archive whose members are mutated (JSON as JSON, the rest as bytes) and written back
    compressed, so the damage passes the zip layer; sometimes the archive itself instead."""
    if rng.random() < 0.3:
        return mutate_bytes(rng, raw)
    try:
        src = zipfile.ZipFile(io.BytesIO(raw))
        members = [(info, src.read(info)) for info in src.infolist()]
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError):
        return mutate_bytes(rng, raw)
    out = io.BytesIO()
    target = rng.randrange(len(members)) if members else -1
    with zipfile.ZipFile(out, "w") as dst:
        for i, (info, data) in enumerate(members):
            if i == target:
                data = (mutate_json if info.filename.endswith(".json") else mutate_bytes)(rng, data)
            dst.writestr(info, data, compress_type=rng.choice((zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)))
    return out.getvalue()


def mutate_tflite(rng: random.Random, raw: bytes) -> bytes:
    """Edits that reach the schema (tests/tflite_surgery.py): operators' inputs and outputs cut
    short or out of range, low-rank or huge shapes, opcode indices out of range, codes turned
    into other operators, buffers huge or outside the file, vectors of offsets all to one
    table, options and quantization made hostile; a quarter of the time bytes, as above."""
    from tflite_surgery import mutate_tflite as schema_aware

    return schema_aware(rng, raw, mutate_bytes)


MUTATOR = {"keras_zip": mutate_zip, "npz": mutate_zip, "keras_json": mutate_json, "tflite": mutate_tflite,
           "pt2": mutate_zip}


def mutate_keras_json(rng: random.Random, raw: bytes) -> bytes:
    """A Keras config edited by its structure (tests/keras_mutators.py); a third of the time
    any value, as above."""
    from keras_mutators import mutate_config

    return mutate_json(rng, raw) if rng.random() < 0.3 else mutate_config(rng, raw, mutate_bytes)


def mutate_keras_h5(rng: random.Random, raw: bytes) -> bytes:
    """A legacy .h5 edited by its structure: attributes, datasets, links, groups."""
    from keras_mutators import mutate_hdf5

    return mutate_hdf5(rng, raw, mutate_bytes)


def mutate_keras_zip(rng: random.Random, raw: bytes) -> bytes:
    """A .keras whose config or weights are edited by structure, or whose zip layer is bent."""
    from keras_mutators import mutate_archive

    return mutate_archive(rng, raw, mutate_bytes, mutate_zip)


MUTATOR.update({"keras_zip": mutate_keras_zip, "keras_h5": mutate_keras_h5, "keras_json": mutate_keras_json})


def mutate_onnx(rng: random.Random, raw: bytes) -> bytes:
    """A model edited by its structure with the onnx package (tests/onnx_mutators.py):
    initializers' dims, attributes, node inputs and outputs, op types, memory bombs; a quarter
    of the time bytes, as above."""
    from onnx_mutators import mutate_onnx as structural

    return structural(rng, raw, mutate_bytes)


MUTATOR["onnx"] = mutate_onnx

HOSTILE_VALUES = ("-1", "0", "-233", "-234", "2147483647", "99999999", "1e38", "-1e38", "nan", "x", "1.5", "0,0",
                  "-23300=2,1", "3,1,2", "in0", "9999")


def mutate_ncnn(rng: random.Random, raw: tuple) -> tuple:
    """(.param, .bin): a token of the text replaced by a hostile one (a count, a key, a value,
    a blob's name), a line dropped or doubled, or the .bin's bytes mutated as above."""
    param, weights = raw
    if rng.random() < 0.3:
        return param, mutate_bytes(rng, weights)
    lines = param.decode("utf-8", "replace").split("\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(1, max(2, len(lines) - 1))
        fields = lines[i].split()
        roll = rng.random()
        if roll < 0.15 and len(lines) > 3:
            del lines[i]
        elif roll < 0.25:
            lines.insert(i, lines[i])
        elif fields:
            j = rng.randrange(len(fields))
            key = fields[j].partition("=")[0] + "=" if "=" in fields[j] and rng.random() < 0.7 else ""
            fields[j] = key + rng.choice(HOSTILE_VALUES)
            lines[i] = " ".join(fields)
    text = "\n".join(lines).encode()
    return (mutate_bytes(rng, text) if rng.random() < 0.1 else text), weights


MUTATOR["ncnn"] = mutate_ncnn


OV_BIN = b"\0--the .bin--\0"      # an OpenVINO mutant is its XML, this, then its .bin


def mutate_openvino(rng: random.Random, raw: bytes) -> bytes:
    """An IR's XML edited where a reader trusts it (attribute values: offsets, sizes, shapes,
    element types, ids, ports; dims; layer types), or its XML or its .bin as bytes."""
    import re

    xml, _, weights = raw.partition(OV_BIN)
    roll = rng.random()
    if roll < 0.15:
        return mutate_bytes(rng, xml) + OV_BIN + weights
    if roll < 0.3:
        return xml + OV_BIN + (mutate_bytes(rng, weights) if weights else weights)
    text = xml.decode("utf-8", "replace")
    spots = list(re.finditer(r'="([^"]*)"|<dim>([^<]*)</dim>', text))
    for _ in range(rng.randint(1, 4)):
        if not spots:
            break
        m = rng.choice(spots)
        group = 1 if m.group(1) is not None else 2
        value = rng.choice(["-1", "0", "1", "2", str(2 ** 31), str(2 ** 63), "1e9", "", "?", "x", "u4", "f16", "i8",
                            "Convolution", "Const", "FakeQuantize", "1,1,1", "0, 0, 0, 0", "../../etc/passwd",
                            "ceil", "same_upper", "&amp;", str(rng.randrange(200))])
        text = text[:m.start(group)] + value + text[m.end(group):]
        spots = list(re.finditer(r'="([^"]*)"|<dim>([^<]*)</dim>', text))
    return text.encode() + OV_BIN + weights


MUTATOR["openvino"] = mutate_openvino


def mutate_caffe(rng: random.Random, raw: bytes) -> bytes:
    """A net's text edited by its tokens and lines (tests/caffe_mutators.py)."""
    from caffe_mutators import mutate_prototxt

    return mutate_prototxt(rng, raw, mutate_bytes)


MUTATOR["caffe"] = mutate_caffe


def mutants(reader: str, seeds: list[Path], count: int, seed: int = 0):
    """(case id, suffix, bytes) of `count` mutants of the reader's seed files."""
    rng = random.Random(f"{reader}:{seed}")
    mutator = MUTATOR.get(reader, mutate_bytes)
    for i in range(count):
        source = seeds[i % len(seeds)]
        raw = (source.read_bytes(), source.with_suffix(".bin").read_bytes()) if reader == "ncnn" else \
            source.read_bytes()
        if reader == "openvino":
            raw += OV_BIN + source.with_suffix(".bin").read_bytes()
        yield f"{reader}#{seed}.{i} of {source.name}", source.suffix, mutator(rng, raw)


# ---- one case ----------------------------------------------------------------------------
def _alarm(signum, frame):
    raise Hang()


def _args(reader: str, path: str, verify: bool, folder: Path) -> list[str]:
    if reader == "npz":
        return ["run", str(folder / "lenet5_spec.yaml"), "--input", str(folder / "input_hwc.npy"), "--weights", path]
    if reader == "npy":
        return ["run", "lenet5", "--input", path]
    if reader == "caffemodel":           # the weights beside the net they are read for, under its stem
        import shutil

        shutil.copyfile(path, folder / "caffe" / "tiny.caffemodel")
        return ["verify", str(folder / "caffe" / "tiny.prototxt")]
    return ["verify" if verify else "report", path]


def outcome(reader: str, raw: bytes, suffix: str, folder: Path, verify: bool) -> tuple[str, float, str]:
    """('ok' | 'refused' | 'traceback' | 'hang', seconds, detail) of reading one mutant."""
    from click.testing import CliRunner

    from cnncost.cli import cli

    path = folder / f"case{suffix}"
    if isinstance(raw, tuple):            # a model of two files (ncnn's .param and .bin)
        raw, beside = raw
        path.with_suffix(".bin").write_bytes(beside)
    if reader == "openvino":
        raw, _, weights = raw.partition(OV_BIN)
        (folder / "case.bin").write_bytes(weights)
    path.write_bytes(raw)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS)
    start = time.perf_counter()
    try:
        r = CliRunner().invoke(cli, _args(reader, str(path), verify, folder), catch_exceptions=True)
        seconds = time.perf_counter() - start
        if isinstance(r.exception, Hang):
            return "hang", seconds, ""
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            return "traceback", seconds, "".join(traceback.format_exception(r.exception))[-1500:]
        if r.exit_code == 0:
            return "ok", seconds, ""
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        if r.exit_code in (1, 2) and lines and lines[-1].startswith(("error:", "FAIL", "verification")):
            return "refused", seconds, lines[-1][:200]
        if r.exit_code == 1:
            return "refused", seconds, (lines or ["exit 1"])[-1][:200]
        return "traceback", seconds, f"exit {r.exit_code}: {r.output[-800:]}"
    except Hang:
        return "hang", time.perf_counter() - start, ""
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        path.unlink(missing_ok=True)


def prepare(folder: Path) -> dict[str, list[Path]]:
    import numpy as np

    seeds = fixtures(folder)
    np.save(folder / "input_hwc.npy", np.zeros((32, 32, 1), np.float32))
    caffe = HERE / "caffe_files"          # a mutated net is verified with tiny's weights beside it
    (folder / "case.caffemodel").write_bytes((caffe / "tiny.caffemodel").read_bytes())
    (folder / "caffe").mkdir(exist_ok=True)
    (folder / "caffe" / "tiny.prototxt").write_bytes((caffe / "tiny.prototxt").read_bytes())
    return seeds


def campaign(reader: str, count: int, seed: int = 0) -> dict:
    """Every outcome of `count` mutants of one reader, with the process's peak memory."""
    import resource

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seeds = prepare(folder).get(reader, [])
        tally = {"mutants": 0, "ok": 0, "refused": 0, "traceback": 0, "hang": 0, "slowest_s": 0.0, "failures": []}
        for i, (case, suffix, raw) in enumerate(mutants(reader, seeds, count, seed)):
            kind, seconds, detail = outcome(reader, raw, suffix, folder, verify=i % 3 == 2)
            tally["mutants"] += 1
            tally[kind] += 1
            tally["slowest_s"] = max(tally["slowest_s"], round(seconds, 2))
            if kind in ("traceback", "hang") or seconds > SECONDS:
                tally["failures"].append((case, kind, round(seconds, 2), detail.strip().splitlines()[-1:] or [""]))
        tally["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return tally


if __name__ == "__main__":
    import argparse
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=int, default=300)
    parser.add_argument("--reader", action="append")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", help=argparse.SUPPRESS)        # a reader in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(campaign(args.one, args.mutants, args.seed)))
        sys.exit(0)
    readers = args.reader or ["onnx", "tflite", "openvino", "keras_zip", "keras_h5", "keras_json", "npz", "npy",
                              "ncnn", "coreml", "pt2", "caffe", "caffemodel"]
    print(f"{'reader':11s} {'mutants':>7s} {'ok':>5s} {'refused':>7s} {'traceback':>9s} {'>5 s':>5s} "
          f"{'slowest':>8s} {'peak MB':>8s}")
    for reader in readers:
        proc = subprocess.run([sys.executable, __file__, "--one", reader, "--mutants", str(args.mutants),
                               "--seed", str(args.seed)], capture_output=True, text=True, cwd=HERE)
        if proc.returncode:
            print(f"{reader:11s} crashed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        t = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{reader:11s} {t['mutants']:7d} {t['ok']:5d} {t['refused']:7d} {t['traceback']:9d} {t['hang']:5d} "
              f"{t['slowest_s']:8.2f} {t['peak_rss_mb']:8.1f}")
        for case, kind, seconds, detail in t["failures"][:12]:
            print(f"    {kind} {seconds}s {case}: {detail[0][:160] if detail else ''}")
