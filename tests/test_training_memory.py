"""Training memory: what autograd keeps for the backward pass, per kind (Kind.saved), each
tensor once, nothing below the earliest trainable layer. The bundled resnet18 and
mobilenet_v2 figures are PyTorch's own (the saved tensors of torchvision's modules, walked
from the output's grad_fn, parameters excluded; tests/test_training_memory.py measures them
again where torch is installed)."""
import pytest

import cnncost
from conftest import analyze_text

NET = """
    input: [8, 8, 3]
    layers:
      - {name: conv, kind: conv, filters: 4, kernel: 3, bias: false}
      - {name: bn, kind: batch_norm}
      - {name: relu, kind: relu}
      - {name: pool, kind: max_pool, kernel: 2, stride: 2}
      - {name: flat, kind: flatten}
      - {name: drop, kind: dropout, rate: 0.5}
      - {name: fc, kind: dense, units: 5}
"""


def saved(training_from=None, batch=1):
    rep = analyze_text(NET, training=True, batch=batch, trainable_from=training_from)
    return rep.totals["training"]["stored_activation_bytes"], {r.name: r.training["saved_bytes"] for r in rep.layers}


def test_saved_tensors_by_hand():
    # conv keeps the image (its weights train): 8*8*3; bn its input, the conv's output 6*6*4, and
    # 2*4 statistics; relu its output 6*6*4; max_pool its input (relu's output: kept already) and
    # 3*3*4 int64 indices; dropout a mask of 36; fc its input (the mask's output) 36
    total, rows = saved()
    assert rows == {"conv": 192 * 4, "bn": (144 + 8) * 4, "relu": 144 * 4, "pool": 36 * 8, "flat": 0,
                    "drop": 36 * 4, "fc": 36 * 4}
    assert total == sum(rows.values())
    # at batch 2 every per-example tensor doubles; BN's statistics are per channel
    total2, _ = saved(batch=2)
    assert total2 == 2 * total - 8 * 4


def test_nothing_is_kept_below_the_earliest_trained_layer():
    total, rows = saved("fc")
    assert total == 36 * 4 and rows["fc"] == 36 * 4         # the head's input only
    total, rows = saved("pool")      # pool and dropout need their gradient for nothing: no weights below
    assert total == 36 * 4


def test_the_training_line_states_the_rule():
    from click.testing import CliRunner

    from cnncost.cli import cli

    out = CliRunner().invoke(cli, ["report", "resnet18", "--training", "--trainable-from", "fc"]).output
    assert "tensors saved for the backward pass 2.05kB" in out
    kinds = CliRunner().invoke(cli, ["kinds", "batch_norm"]).output
    assert "backward keeps: its input and 2 x C statistics" in kinds


# PyTorch's saved bytes (float32, batch 2, train mode), measured from torchvision's modules
PYTORCH = {("resnet18", None): 44_398_080, ("resnet18", "fc"): 4_096, ("resnet18", "layer4"): 2_232_320,
           ("mobilenet_v2", None): 156_555_520, ("mobilenet_v2", "classifier"): 10_240,
           ("mobilenet_v2", "stage7"): 3_623_680}


@pytest.mark.parametrize("name, cut", list(PYTORCH))
def test_bundled_networks_keep_what_pytorch_keeps(name, cut):
    t = cnncost.analyze(name, training=True, batch=2, trainable_from=cut).totals
    assert t["training"]["stored_activation_bytes"] == PYTORCH[name, cut]
    assert t["training"]["gradient_bytes"] == t["trainable_params"] * 4


TORCH_CUTS = {"resnet18": {None: None, "fc": "fc", "layer4": ("layer4", "fc")},
              "mobilenet_v2": {None: None, "classifier": "classifier",
                               "stage7": ("features.17", "features.18", "classifier")}}


def pytorch_saved_bytes(torch, module, x) -> int:
    """Bytes of the tensors autograd keeps for the backward pass: every `_saved_*` tensor of
    every node reachable from the output's grad_fn, each storage once, parameters and buffers
    excluded."""
    skip = {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}
    seen: dict[int, int] = {}
    stack, visited = [module(x).grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in visited:
            continue
        visited.add(fn)
        for attr in dir(fn):
            if not attr.startswith("_saved_"):
                continue
            try:
                value = getattr(fn, attr)
            except RuntimeError:
                continue
            for t in value if isinstance(value, (tuple, list)) else [value]:
                if isinstance(t, torch.Tensor) and t.numel():
                    ptr = t.untyped_storage().data_ptr()
                    if ptr not in skip:
                        seen[ptr] = t.untyped_storage().nbytes()
        stack += [f for f, _ in fn.next_functions]
    return sum(seen.values())


@pytest.mark.parametrize("name", list(TORCH_CUTS))
def test_within_ten_percent_of_what_pytorch_saves(name):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    module = getattr(torchvision.models, name)().train()
    x = torch.randn(2, 3, 224, 224)
    for cut, trained in TORCH_CUTS[name].items():
        for pname, p in module.named_parameters():
            p.requires_grad_(trained is None or pname.startswith(trained))
        measured = pytorch_saved_bytes(torch, module, x)
        ours = cnncost.analyze(name, training=True, batch=2, trainable_from=cut).totals["training"]
        assert abs(ours["stored_activation_bytes"] - measured) <= 0.1 * measured, (cut, measured)
        # the live module itself: its frozen parameters are frozen in its report
        live = cnncost.report(module, input_shape=(2, 3, 224, 224), training=True).report.totals
        assert live["trainable_params"] == sum(p.numel() for p in module.parameters() if p.requires_grad)
        assert abs(live["training"]["stored_activation_bytes"] - measured) <= 0.1 * measured, (cut, measured)
