"""Bundled architectures: reference numbers (via their expect blocks), golden reports,
rows that sum to totals, and the MobileNet width x resolution grid."""
import json
from pathlib import Path

import pytest

import cnncost
from cnncost.render import report as render
from cnncost.analyses.check import check_one
from cnncost.sources import open_source

GOLDEN = Path(__file__).parent / "golden"
NAMES = cnncost.bundled_names()

REQUIRED = {"lenet5", "alexnet", "alexnet_original", "alexnet_hml", "zfnet", "vgg16", "vgg19",
            "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
            "resnet50_v1", "plain34", "se_resnet50", "mobilenet_v1", "mobilenet_v1_conv",
            "mobilenet_v2", "xception", "fashion_mnist_cnn", "separable_example",
            "inception_bottleneck_example", "fnn_example", "espcn", "dcgan_generator", "unet",
            "convnext_tiny", "fcn_resnet50"}


def test_library_is_complete():
    assert REQUIRED <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_expectations_hold(name):
    spec = cnncost.load_spec(name)
    assert spec.expect and spec.expect.get("source"), f"{name} needs an expect block with a source"
    result = check_one(lambda: open_source(spec), label=name)
    assert result.error is None, result.error
    failed = [f"{i.check}: expected {i.expected}, actual {i.actual}" for i in result.items if not i.ok]
    assert not failed, failed
    assert any(i.check in ("params", "mults") or i.check.endswith(".mults") for i in result.items)


@pytest.mark.parametrize("name", NAMES)
def test_golden_report(name, update_golden):
    """The whole per-layer report, compared with the one committed in tests/golden: numbers
    only (the conventions' prose lives in one place, not in 24 files)."""
    text = render.to_csv(cnncost.analyze(name))
    path = GOLDEN / f"{name}.csv"
    if update_golden or not path.exists():
        path.write_text(text)
        if not update_golden:
            pytest.fail(f"golden file {path.name} was missing and has been written; re-run")
    assert text == path.read_text(), f"{name} differs from {path}; run pytest --update-golden if intended"


@pytest.mark.parametrize("name", NAMES)
def test_rows_sum_to_totals_in_every_format(name):
    rep = cnncost.analyze(name)
    for field in ("params", "trainable_params", "frozen_params", "non_trainable_params",
                  "mults", "flops", "activations"):
        assert sum(getattr(r, field) for r in rep.layers) == rep.totals[field]
    data = json.loads(render.to_json(rep))
    assert sum(r["mults"] for r in data["layers"]) == data["totals"]["mults"] == rep.totals["mults"]
    grouped = json.loads(render.to_json(rep, depth=1))
    assert sum(r["params"] for r in grouped["layers"]) == rep.totals["params"]
    csv_rows = [line.split(",") for line in render.to_csv(rep, totals=True).splitlines()]
    header, body, total = csv_rows[0], csv_rows[1:-1], csv_rows[-1]
    col = header.index("mults")
    assert sum(int(r[col]) for r in body) == int(total[col]) == rep.totals["mults"]


GRID = {
    1.0: [568_740_352, 418_121_728, 290_675_200, 186_400_768],
    0.75: [325_400_448, 239_273_472, 166_396_800, 106_770_432],
    0.5: [149_497_088, 109_970_432, 76_524_800, 49_160_192],
    0.25: [41_030_272, 30_212_608, 21_059_200, 13_570_048],
}


@pytest.mark.parametrize("alpha", GRID)
def test_mobilenet_v1_width_resolution_grid(alpha):
    got = [cnncost.analyze("mobilenet_v1", overrides={"alpha": alpha, "resolution": r}).totals["mults"]
           for r in (224, 192, 160, 128)]
    assert got == GRID[alpha]


def test_resnet152_is_short_and_uses_blocks():
    from cnncost.spec import read_spec
    lines = read_spec("resnet152")[1].decode().splitlines()
    assert len(lines) < 100 and any("use: bottleneck, repeat: 36" in line for line in lines)
