"""Run an ncnn model with the ncnn Python package (in its own venv, e.g. /work/venv-ncnn):
    python run_ncnn.py MODEL.param INPUT.npy OUT.npz [BLOB ...]
feeds INPUT (ncnn's c, h, w, no batch; an .npz of one array per Input blob for several)
to the Input layers' blobs and writes each named
output blob (default: every blob no layer reads) to OUT.npz, in ncnn's c, h, w order.
float32 throughout (fp16 and bf16 storage and arithmetic off), one thread."""
import sys

import ncnn
import numpy as np

param, given, out = sys.argv[1:4]
lines = open(param).read().splitlines()[2:]
tops, bottoms, inputs = [], set(), []
for line in lines:
    f = line.split()
    if not f:
        continue
    n_in, n_out = int(f[2]), int(f[3])
    bottoms.update(f[4:4 + n_in])
    tops += f[4 + n_in:4 + n_in + n_out]
    if f[0] == "Input":
        inputs.append(f[4])
wanted = sys.argv[4:] or [t for t in tops if t not in bottoms]
net = ncnn.Net()
net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = net.opt.use_fp16_packed = False
net.opt.use_bf16_storage = False
net.opt.num_threads = 1
net.opt.lightmode = False          # keep every blob, so any can be extracted
assert net.load_param(param) == 0
assert net.load_model(param[:-len(".param")] + ".bin") == 0
ex = net.create_extractor()
fed = dict(np.load(given)) if given.endswith(".npz") else {inputs[0]: np.load(given)}
arrays = {name: np.ascontiguousarray(fed[name].astype(np.float32)) for name in inputs}
mats = {name: ncnn.Mat(a).clone() for name, a in arrays.items()}    # held until the last extract
for name in inputs:
    ex.input(name, mats[name])
results = {}
for name in wanted:
    ret, m = ex.extract(name)
    assert ret == 0, f"extract {name}: {ret}"
    results[name] = np.array(m)
np.savez(out, **results)
