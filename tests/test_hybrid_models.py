"""Optional (skipped without torch, timm or ultralytics): today's detectors and hybrid
CNN-attention networks, exported to ONNX as their users export them, go in exactly.

mults = the MACs of every Conv, ConvTranspose, Gemm, MatMul and Einsum of the file with
the shapes onnxruntime produces (attention's activation x activation products included),
and our executor on the file's weights gives every output onnxruntime gives (relative
error <= 1e-4). The bundled yolov8n and deit_tiny are the frameworks' models, counted."""
import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import cnncost  # noqa: E402


def export(model, shape, path):
    model.eval()
    torch.onnx.export(model, (torch.randn(*shape),), str(path), opset_version=17, dynamo=False,
                      input_names=["input"])
    return str(path)


def file_macs(path):
    """The file's own MACs, from onnxruntime's shapes of every multiplying node."""
    m = onnx.load(path)
    inits = {i.name: list(i.dims) for i in m.graph.initializer}
    ops = [n for n in m.graph.node if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum")]
    names = {x for n in ops for x in (*n.input[:2], n.output[0]) if x and x not in inits}
    have = {o.name for o in m.graph.output}
    for name in sorted(names - have):
        m.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32) for i in sess.get_inputs()}
    shapes = dict(inits)
    shapes.update({o.name: list(v.shape) for o, v in zip(sess.get_outputs(), sess.run(None, feed))})
    total = 0
    for n in ops:
        out = shapes[n.output[0]]
        if n.op_type == "Conv":
            total += math.prod(out) * math.prod(shapes[n.input[1]][1:])
        elif n.op_type == "ConvTranspose":
            w = shapes[n.input[1]]
            total += math.prod(shapes[n.input[0]]) * w[1] * w[2] * w[3]
        elif n.op_type in ("MatMul", "Gemm"):
            a = shapes[n.input[0]]
            trans = next((x.i for x in n.attribute if x.name == "transA"), 0)
            total += math.prod(out) * (a[-2] if trans else a[-1])
        else:
            eq = next(x.s for x in n.attribute if x.name == "equation").decode().replace(" ", "")
            size = {}
            for letters, name in zip(eq.split("->")[0].split(","), n.input):
                size.update(zip(letters, shapes[name]))
            total += (len(n.input) - 1) * math.prod(size.values())
    return total


def exact_and_agrees(path):
    rep = cnncost.report(path)
    assert rep.totals["mults"] == file_macs(path)
    v = cnncost.verify(path, engine="onnxruntime")
    assert v.ok, v.failures()
    files = [r for r in v.to_dict()["engine"]["layers"] if "(the file, end to end)" in r["name"]]
    assert files and max(r["rel_error"] for r in files) <= 1e-4
    return rep


TIMM = ["deit_tiny_patch16_224", "mobilevit_xxs", "efficientformer_l1", "levit_128s", "poolformer_s12",
        "swin_tiny_patch4_window7_224", "maxvit_tiny_tf_224", "edgenext_xx_small"]


@pytest.mark.parametrize("name", TIMM)
def test_timm_hybrids(name, tmp_path):
    timm = pytest.importorskip("timm")
    m = timm.create_model(name, pretrained=False)
    rep = exact_and_agrees(export(m, (1, *m.pretrained_cfg.get("input_size", (3, 224, 224))), tmp_path / "m.onnx"))
    if name in ("deit_tiny_patch16_224", "poolformer_s12", "edgenext_xx_small"):    # no BatchNorm to fold
        # the exporter merges parameters of equal values (an untrained model's LayerNorm weights):
        # the file holds them once, and each later use is counted as shared
        assert rep.totals["params"] + rep.totals.get("shared_params", 0) == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", ["swin_t", "maxvit_t"])
def test_torchvision_windowed_attention(name, tmp_path):
    torchvision = pytest.importorskip("torchvision")
    exact_and_agrees(export(getattr(torchvision.models, name)(), (1, 3, 224, 224), tmp_path / "m.onnx"))


def _yolo(cfg):
    os.environ["YOLO_OFFLINE"] = "1"
    ultralytics = pytest.importorskip("ultralytics")
    m = ultralytics.YOLO(cfg).model.eval()
    for module in m.modules():          # the export forward: the decode inside the graph
        if hasattr(module, "export"):
            module.export = True
        if hasattr(module, "format"):
            module.format = "onnx"
    return m


@pytest.mark.parametrize("cfg", ["yolov8n.yaml", "yolov8n-seg.yaml", "yolov8n-pose.yaml", "yolo11n.yaml",
                                 "yolov10n.yaml"])
def test_ultralytics_detectors(cfg, tmp_path):
    rep = exact_and_agrees(export(_yolo(cfg), (1, 3, 640, 640), tmp_path / "m.onnx"))
    if "seg" in cfg:
        assert len(rep.report.outputs) == 2          # detections and mask prototypes


def test_bundled_yolov8n_deit_tiny_and_mobilevit_xxs_are_the_frameworks_models(tmp_path):
    yolo = _yolo("yolov8n.yaml")
    rep = cnncost.report("yolov8n")
    assert rep.totals["params"] == sum(p.numel() for p in yolo.parameters())
    assert rep.totals["mults"] == file_macs(export(yolo, (1, 3, 640, 640), tmp_path / "y.onnx"))
    timm = pytest.importorskip("timm")
    for spec, name, size in (("deit_tiny", "deit_tiny_patch16_224", 224), ("mobilevit_xxs", "mobilevit_xxs", 256)):
        m = timm.create_model(name, pretrained=False)
        rep = cnncost.report(spec)
        assert rep.totals["params"] == sum(p.numel() for p in m.parameters()), spec
        assert rep.totals["mults"] == file_macs(export(m, (1, 3, size, size), tmp_path / f"{spec}.onnx")), spec
    torchvision = pytest.importorskip("torchvision")
    swin = torchvision.models.swin_t()
    rep = cnncost.report("swin_t")
    assert rep.totals["params"] == sum(p.numel() for p in swin.parameters())
    assert rep.totals["mults"] == file_macs(export(swin, (1, 3, 224, 224), tmp_path / "swin.onnx"))
