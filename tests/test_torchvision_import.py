"""Optional: torchvision models exported by torch.onnx.export (eval mode, legacy exporter)
go through `cnncost import` exactly. Skipped without torch and torchvision.

mults must equal the multiply-accumulates of the model's conv, transposed-conv and linear
layers, counted here by forward hooks on the PyTorch model; params must equal the
tensors the file holds that layers use; `run` on the file's weights must give the
model's output. Also a script: `python tests/test_torchvision_import.py [model ...]`
prints the figures for each model and opset.
"""
import os
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytest.importorskip("onnxruntime")

from cnncost.api import analyze  # noqa: E402
from cnncost.interop.onnx.proto import read_model  # noqa: E402
from cnncost.runtime import executor  # noqa: E402
from cnncost.sources import open_source

SIZES = {"inception_v3": 299}
SEGMENTATION = ("fcn_resnet50", "deeplabv3_resnet50", "lraspp_mobilenet_v3_large")


def build(name):
    """A torchvision model by name, or a timm one as timm/NAME (the script only)."""
    torch.manual_seed(0)
    if name.startswith("timm/"):
        import timm
        return timm.create_model(name[5:], pretrained=False).eval()
    if name in SEGMENTATION:
        model = getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None)
    elif name in ("googlenet", "inception_v3"):
        model = getattr(torchvision.models, name)(weights=None, aux_logits=False, init_weights=False)
    else:
        model = getattr(torchvision.models, name)(weights=None)
    return model.eval()


class Out(torch.nn.Module):
    """Segmentation models return a dict; the export takes its 'out'."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        y = self.model(x)
        return y["out"] if isinstance(y, dict) else y


def torch_macs(model, x) -> int:
    total = []

    def hook(m, inputs, out):
        if isinstance(m, torch.nn.Conv2d):
            total.append(out[0].numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])
        elif isinstance(m, torch.nn.ConvTranspose2d):
            total.append(inputs[0][0].numel() * m.out_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])
        elif isinstance(m, torch.nn.Linear):
            total.append(out[0].numel() * m.in_features)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return sum(total)


def export(name, path, opset):
    model = Out(build(name)).eval()
    size = SIZES.get(name, getattr(model.model, "default_cfg", {}).get("input_size", (3, 224, 224))[-1])
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).numpy()
    torch.onnx.export(model, (x,), str(path), opset_version=opset, dynamo=False,
                      input_names=["image"], output_names=["out"])
    model.eval()            # the exporter restores the wrapper's mode on every submodule
    return model, x, y


def file_params(path, report) -> int:
    """The elements of the initializers that layers use as weights (each use counted)."""
    return report.totals["params"] + report.totals["non_trainable_params"]


def check(name, tmp, opset=17):
    path = tmp / f"{name.replace('/', '_')}_{opset}.onnx"
    model, x, y = export(name, path, opset)
    t0 = time.perf_counter()
    rep = analyze(str(path))
    seconds = time.perf_counter() - t0
    want = torch_macs(model, x)
    graph = read_model(str(path)).graph
    inits = graph.initializers
    # each use of a float tensor: exporters share equal tensors (torch 2.14 keeps one copy of
    # identical zero biases), and the report counts a shared tensor for each layer using it
    held = sum(inits[i].size for n in graph.nodes for i in n.inputs
               if i in inits and inits[i].data_type == 1 and len(inits[i].dims) >= 1 and inits[i].size > 1)
    ours = executor.run(rep.graph, x.numpy().transpose(0, 2, 3, 1), executor.weights_for(rep.graph, open_source(str(path), with_weights=True))).output
    got = ours.transpose(0, 3, 1, 2) if ours.ndim == 4 else ours
    err = float(np.max(np.abs(got - y)) / max(1.0, np.max(np.abs(y))))
    return {"model": name, "opset": opset, "mults": rep.totals["mults"], "torch_macs": want,
            "params": file_params(path, rep), "file_float_tensors": held,
            "torch_params": sum(p.numel() for p in model.parameters()), "rel_err": err,
            "report_seconds": seconds, "layers": rep.totals["layers"]}


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "googlenet", "vgg11"])
def test_torchvision_models_count_exactly_and_run_alike(name, tmp_path):
    r = check(name, tmp_path)
    assert r["mults"] == r["torch_macs"]
    assert r["params"] <= r["file_float_tensors"] and r["rel_err"] < 1e-4, r


if __name__ == "__main__":
    import pathlib
    import tempfile

    names = sys.argv[1:] or ["resnet18", "mobilenet_v2", "googlenet", "vgg11"]
    with tempfile.TemporaryDirectory() as d:
        for name in names:
            for opset in [int(o) for o in os.environ.get("OPSETS", "13,17,20").split(",")]:
                try:
                    r = check(name, pathlib.Path(d), opset)
                    ok = "exact" if r["mults"] == r["torch_macs"] else "DIFF"
                    print(f"{name:28} opset {opset}: mults {r['mults']:,} ({ok} vs torch {r['torch_macs']:,}), "
                          f"params {r['params']:,} (torch {r['torch_params']:,}), rel err {r['rel_err']:.1e}, "
                          f"report {r['report_seconds'] * 1000:.0f} ms", flush=True)
                except Exception as exc:   # a figure per model; one failure does not hide the rest
                    print(f"{name:28} opset {opset}: {type(exc).__name__}: {str(exc)[:400]}", flush=True)
