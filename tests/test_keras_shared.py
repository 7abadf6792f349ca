"""A Keras layer applied more than once (tests/keras_files/shared_k3.* and shared_k2.*, made by
`make_keras_files.py --saved-late --only shared` with and without `--legacy`): one Conv2D,
BatchNormalization and SeparableConv2D applied to two inputs, a nested Functional and a
Sequential each called on both branches (a Siamese network), one Dense applied four times.

Read as one of our layers per application: the first owns the weights, later ones `shares:`
them (no params, the owner named), their MACs counted at every application; params as
Keras' count_params(), `run` and `verify` as Keras' predict."""
from __future__ import annotations

import json

import numpy as np
import pytest

from cnncost import api
from cnncost.runtime import executor

from test_keras import expect, path
from cnncost.sources import open_source

pytest.importorskip("h5py")          # the weights and every .h5

FILES = [f"shared_{s}.{ext}" for s in ("k3", "k2") for ext in ("keras", "h5")]
# every application's MACs (6x6 maps, 3 -> 4 channels, 4-unit Dense, 6- and 3-unit head)
MACS = 2 * (6 * 6 * 4 * 27) + 2 * (6 * 6 * 4 * 9 + 6 * 6 * 4 * 4) + 2 * (6 * 6 * 4 * 36) + 4 * 16 + 2 * (24 + 18)
OWNED = (4 * 27 + 4) + (4 + 4) + (36 + 4 * 4 + 4) + (4 * 36 + 4 + 4 + 4) + (16 + 4) + (24 + 6 + 18 + 3)


@pytest.mark.parametrize("name", FILES)
def test_params_are_keras_count_params_and_macs_count_every_application(name):
    total, trainable, non_trainable = (int(v) for v in expect(name)["params"])
    rep = api.analyze(path(name))
    k = rep.totals["framework_params"]
    assert (k["total"], k["trainable"], k["non_trainable"]) == (total, trainable, non_trainable)
    assert rep.totals["params"] == trainable == OWNED
    assert rep.totals["mults"] == MACS


@pytest.mark.parametrize("name", FILES)
def test_later_applications_share_the_first_ones_weights(name):
    rows = {r.name: r for r in api.analyze(path(name)).layers}
    convs = sorted(n for n in rows if rows[n].kind.startswith("conv") and "." not in n)
    owner, later = convs
    assert later == f"{owner}_call2" and rows[later].shares == {"kernel": f"{owner}/kernel", "bias": f"{owner}/bias"}
    assert rows[owner].params == 4 * 27 + 4 and rows[later].params == 0
    assert rows[owner].mults == rows[later].mults == 6 * 6 * 4 * 27
    dense = [n for n in rows if rows[n].kind.startswith("dense") and rows[n].output_shape == [4]]
    assert len(dense) == 4 and [rows[n].params for n in dense] == [20, 0, 0, 0]
    # a shared nested model: each of its layers at the second call shares its own at the first
    tower = [n for n in rows if n.endswith("_call2") is False and "_call2." in n and rows[n].kind.startswith("conv")
             and not n.startswith("separable")]
    assert len(tower) == 1 and rows[tower[0]].shares["kernel"] == tower[0].replace("_call2.", ".") + "/kernel"
    # a separable conv applied twice: its two parts, each sharing its own tensor
    parts = [n for n in rows if n.startswith("separable") and "_call2." in n]
    assert [n.rsplit(".", 1)[1] for n in parts] == ["depthwise", "pointwise"]
    assert all(rows[n].params == 0 and rows[n].shares for n in parts)


@pytest.mark.parametrize("name", FILES)
def test_run_on_the_files_weights_is_keras_predict(name):
    e = expect(name)
    graph = api.analyze(path(name)).graph
    given = {k[len("input_"):]: e[k] for k in e.files if k.startswith("input_")}
    assert sorted(given) == ["left", "right"]
    outs = list(executor.run(graph, given, executor.weights_for(graph, open_source(path(name), with_weights=True))).outputs.values())
    ref = e["output0"]
    assert len(outs) == 1 and outs[0].shape == ref.shape
    assert np.max(np.abs(outs[0] - ref)) <= 1e-4 * max(1.0, float(np.max(np.abs(ref))))


@pytest.mark.parametrize("name", FILES)
def test_verify_passes(name, cli):
    res = cli("verify", path(name))
    assert res.exit_code == 0, res.output


def test_json_names_the_owner_and_import_round_trips(cli, tmp_path):
    name = "shared_k3.keras"
    data = json.loads(cli("report", path(name), "--format", "json").output)
    shares = {r["name"]: r["shares"] for r in data["layers"] if "shares" in r}
    assert len(shares) == 11 and data["totals"]["params"] == OWNED
    yaml_out, npz_out = tmp_path / "shared.yaml", tmp_path / "shared.npz"
    res = cli("import", path(name), "-o", str(yaml_out), "--weights-out", str(npz_out))
    assert res.exit_code == 0, res.output
    assert "shares:" in yaml_out.read_text()
    back = api.analyze(str(yaml_out))
    assert back.totals["params"] == OWNED and back.totals["mults"] == MACS
    e = expect(name)
    given = {k[len("input_"):]: e[k] for k in e.files if k.startswith("input_")}
    out = list(executor.run(back.graph, given, executor.load_weights(back.graph, str(npz_out))).outputs.values())
    assert np.max(np.abs(out[0] - e["output0"])) <= 1e-4


def _config(name):
    import zipfile

    with zipfile.ZipFile(path(name)) as z:
        return json.loads(z.read("config.json")), {n: z.read(n) for n in z.namelist()}


def _rezip(tmp_path, members, cfg, name="bad.keras"):
    import zipfile

    out = tmp_path / name
    with zipfile.ZipFile(out, "w") as z:
        for n, data in members.items():
            z.writestr(n, json.dumps(cfg) if n == "config.json" else data)
    return str(out)


def test_a_reference_to_an_application_that_does_not_exist_is_one_line(cli, tmp_path):
    cfg, members = _config("shared_k3.keras")
    for layer in cfg["config"]["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["inbound_nodes"][1]["args"][0]["config"]["keras_history"][1] = 7
    res = cli("report", _rezip(tmp_path, members, cfg))
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert "application 7 of layer 'conv2d_" in res.output and "applied 2 time(s)" in res.output


def test_a_later_application_to_another_shape_is_refused_by_name(cli, tmp_path):
    """The right input given 5 channels: the stem's second application would need a
    3x3x5x4 kernel where the first owns 3x3x3x4 (Keras refuses such a call too)."""
    cfg, members = _config("shared_k3.keras")
    right = next(layer for layer in cfg["config"]["layers"] if layer["name"] == "right")
    right["config"]["batch_shape"][-1] = 5
    res = cli("report", _rezip(tmp_path, members, cfg))
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert "_call2' (conv)" in res.output and "not one tensor" in res.output


@pytest.fixture
def cli():
    from click.testing import CliRunner

    from cnncost.cli import cli as command

    def invoke(*args):
        return CliRunner().invoke(command, list(args), catch_exceptions=False)
    return invoke
