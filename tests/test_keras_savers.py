"""Keras files as a user's notebook saves them (tests/keras_files/*_k3.* and *_k2.*, made by
`make_keras_files.py --saved-late`): after other models were built in the same process, so
that Keras names the layers conv2d_9, sequential_4, ..., and each saved both ways by each
saver: Keras 3 `.keras` and legacy `.h5`, tf.keras 2 (tf-keras) `.keras` and legacy `.h5`.

Weights are found by the layer's name and by each weight's name (in a `.keras` archive, by
the key Keras files the layer under where the file gives no names), never by the order in
which the file holds them: the files below are also altered to hold the same weights in
another order, with the names split into chunks, or without Keras 3's name attributes, and
must give Keras' own outputs still."""
from __future__ import annotations

import io
import os
import shutil
import zipfile

import numpy as np
import pytest

from cnncost import api
from cnncost.errors import CnnCostError
from cnncost.runtime import executor
from cnncost.sources import open_source

h5py = pytest.importorskip("h5py")

HERE = os.path.join(os.path.dirname(__file__), "keras_files")
MODELS = ("course", "branches", "nested", "squeeze")
SAVERS = ("k3", "k2")
FILES = [f"{m}_{s}.{ext}" for m in MODELS for s in SAVERS for ext in ("keras", "h5")]


def path(name):
    return os.path.join(HERE, name)


def expect(name):
    return np.load(path(name.rsplit(".", 1)[0] + ".expect.npz"))


def outputs_match(file, e):
    graph = api.analyze(file).graph
    outs = list(executor.run(graph, e["input"], executor.weights_for(graph, open_source(file, with_weights=True))).outputs.values())
    assert len(outs) == 1
    ref = e["output0"]
    assert outs[0].shape == ref.shape
    assert np.max(np.abs(outs[0] - ref)) <= 1e-4 * max(1.0, float(np.max(np.abs(ref))))


@pytest.mark.parametrize("name", FILES)
def test_params_split_is_keras_own(name):
    total, trainable, non_trainable = (int(v) for v in expect(name)["params"])
    k = api.analyze(path(name)).totals["framework_params"]
    assert (k["total"], k["trainable"], k["non_trainable"]) == (total, trainable, non_trainable)


@pytest.mark.parametrize("name", FILES)
def test_run_on_the_files_weights_is_keras_predict(name):
    outputs_match(path(name), expect(name))


@pytest.mark.parametrize("name", FILES)
def test_verify_passes(name, cli):
    res = cli("verify", path(name))
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("model", MODELS)
def test_four_files_of_a_model_count_the_same(model):
    reports = [api.analyze(path(f"{model}_{s}.{ext}")) for s in SAVERS for ext in ("keras", "h5")]
    for key in ("params", "trainable_params", "non_trainable_params", "mults", "flops", "activations"):
        assert len({r.totals[key] for r in reports}) == 1, key


def test_layer_names_are_keras_own_and_not_the_archive_keys():
    """The fixtures are what they claim: Keras' numbered names, which are not the keys the
    archive files the weights under."""
    with zipfile.ZipFile(path("course_k2.keras")) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
        assert "conv2d" in f["layers"] and "conv2d_1" in f["layers"]
    names = [r.name for r in api.analyze(path("course_k2.keras")).layers]
    assert not any(n in ("conv2d", "conv2d_1") for n in names)
    assert any(n.startswith("conv2d_") for n in names)


def test_a_layer_named_as_the_end_of_another_keeps_its_own_weights():
    """tf.keras 2's nested model with layers 'bn' and 'conv/bn' (DenseNet's names): both
    weights' paths end in 'bn/gamma', each layer takes its own."""
    rows = {r.name: r for r in api.analyze(path("nested_k2.h5")).layers}
    assert any(n.endswith(".conv_bn") for n in rows) and any(n.endswith(".bn") for n in rows)
    for name in ("nested_k2.h5", "nested_k2.keras"):
        outputs_match(path(name), expect(name))


def test_keras3_h5_operations_are_read_as_operations():
    """`x + 3.0` saved by Keras 3 in a legacy .h5 keeps no module: it is the operation Add on
    a tensor and a number, not the layer Add of one input."""
    rep = api.analyze(path("squeeze_k3.h5"))
    kinds = {r.name: r.kind for r in rep.layers}
    ops = [n for n in kinds if n.startswith("add") and kinds[n] == "binary"]
    layers = [n for n in kinds if n.startswith("add") and kinds[n] == "add"]
    assert ops and layers
    assert rep.totals["mults"] == api.analyze(path("squeeze_k3.keras")).totals["mults"]


# ---- the same weights, held otherwise -----------------------------------------------------
def _rewrite_h5(src, dst, change):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        change(f)
    return str(dst)


def _rewrite_archive(src, dst, change):
    """A copy of a .keras whose model.weights.h5 `change` alters."""
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "r+") as f:
        change(f)
    members["model.weights.h5"] = buf.getvalue()
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in members.items():
            z.writestr(n, data)
    return str(dst)


def _groups(f):
    out = []
    f.visititems(lambda name, obj: out.append(obj) if isinstance(obj, h5py.Group) else None)
    return out


@pytest.mark.parametrize("name", ["branches_k2.h5", "branches_k3.h5", "nested_k2.h5", "nested_k3.h5"])
def test_legacy_h5_weights_listed_in_another_order(name, tmp_path):
    """weight_names and layer_names reversed: the same datasets, listed in another order (a
    reader by order swaps BatchNorm's gamma and beta, of one shape, without a word)."""
    def reverse(f):
        root = f["model_weights"]
        root.attrs["layer_names"] = list(reversed(list(root.attrs["layer_names"])))
        for g in _groups(root):
            if "weight_names" in g.attrs and len(g.attrs["weight_names"]) > 1:
                g.attrs["weight_names"] = list(reversed(list(g.attrs["weight_names"])))
    outputs_match(_rewrite_h5(path(name), tmp_path / name, reverse), expect(name))


@pytest.mark.parametrize("name", ["nested_k2.h5", "nested_k3.h5", "course_k3.h5"])
def test_legacy_h5_names_split_into_chunks(name, tmp_path):
    """Past HDF5's 64 kB header Keras writes a long list of names as weight_names0,
    weight_names1, ... (a large base model's group): read as one list."""
    def chunk(f):
        for g in [f["model_weights"]] + _groups(f["model_weights"]):
            for attr in ("layer_names", "weight_names"):
                if attr in g.attrs and len(g.attrs[attr]) > 1:
                    names = list(g.attrs[attr])
                    del g.attrs[attr]
                    g.attrs[f"{attr}0"], g.attrs[f"{attr}1"] = names[:1], names[1:]
    outputs_match(_rewrite_h5(path(name), tmp_path / name, chunk), expect(name))


@pytest.mark.parametrize("name", ["branches_k3.keras", "nested_k3.keras"])
def test_archive_without_layer_names_is_read_by_keys(name, tmp_path):
    """An archive without Keras 3's `name` attributes (tf.keras 2's, early Keras 3's): each
    layer is found by the key saving_lib files it under, its class numbered in the model."""
    def strip(f):
        for g in _groups(f):
            if g.name.endswith("/vars") and "name" in g.attrs:
                del g.attrs["name"]
    outputs_match(_rewrite_archive(path(name), tmp_path / name, strip), expect(name))


def test_archive_keys_numbered_otherwise_found_by_name(tmp_path):
    """Keys that do not follow the model's order (conv2d and conv2d_1 swapped) but carry
    Keras 3's names: the names decide."""
    def swap(f):
        layers = f["layers"]
        layers.move("conv2d", "tmp")
        layers.move("conv2d_1", "conv2d")
        layers.move("tmp", "conv2d_1")
    name = "course_k3.keras"
    outputs_match(_rewrite_archive(path(name), tmp_path / name, swap), expect(name))


def test_a_weight_missing_by_name_is_named(tmp_path, cli):
    """A legacy .h5 whose BatchNorm holds 'gamma' twice over (beta's entry renamed): refused
    in one line naming the layer and the weight it lacks."""
    def rename(f):
        for g in _groups(f["model_weights"]):
            names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs.get("weight_names", [])]
            if any(n.endswith("/beta") for n in names):
                beta = next(n for n in names if n.endswith("/beta"))
                g.move(beta, beta[:-len("beta")] + "offset")
                g.attrs["weight_names"] = [n[:-len("beta")] + "offset" if n == beta else n for n in names]
                return
    bad = _rewrite_h5(path("course_k3.h5"), tmp_path / "renamed.h5", rename)
    res = cli("verify", bad)
    assert res.exit_code == 2, res.output
    assert "none named beta" in res.output and "batch_normalization" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_weights_of_a_layer_the_config_lacks_are_refused(tmp_path):
    def extra(f):
        g = f["model_weights"].create_group("ghost")
        g.attrs["weight_names"] = [b"ghost/kernel"]
        g.create_dataset("ghost/kernel", data=np.zeros((2, 2), "f4"))
        names = [n if isinstance(n, bytes) else n.encode() for n in f["model_weights"].attrs["layer_names"]]
        f["model_weights"].attrs["layer_names"] = names + [b"ghost"]
    bad = _rewrite_h5(path("course_k2.h5"), tmp_path / "ghost.h5", extra)
    graph = api.analyze(bad).graph
    with pytest.raises(CnnCostError, match="ghost"):
        executor.weights_for(graph, open_source(bad, with_weights=True))


@pytest.fixture
def cli():
    from click.testing import CliRunner

    from cnncost.cli import cli as command

    def invoke(*args):
        return CliRunner().invoke(command, list(args), catch_exceptions=False)
    return invoke
