import os
import tempfile
import textwrap

import pytest

# the cache of parsed bundled specs (spec/cache.py) lives in a folder of this run's own,
# for the suite's subprocesses too: a run never reads, or leaves, entries in the home folder
os.environ.setdefault("CNNCOST_CACHE_DIR", tempfile.mkdtemp(prefix="cnncost-cache-"))

import cnncost
from cnncost.spec import parse_spec


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/* from the current output")


@pytest.fixture
def update_golden(request):
    return request.config.getoption("--update-golden") or bool(os.environ.get("CNNCOST_UPDATE_GOLDEN"))


def spec_text(body: str) -> str:
    return textwrap.dedent(body).strip() + "\n"


def analyze_text(body: str, path="test.yaml", **kw):
    """Analyse a spec given as (indented) YAML text."""
    return cnncost.analyze(parse_spec(spec_text(body), path), **kw)


def one_layer(input_shape, layer: str, **kw):
    """Report row of a single layer applied to `input_shape`."""
    rep = analyze_text(f"input: {list(input_shape)}\nlayers:\n  - {{name: x, {layer}}}\n", **kw)
    return rep.layers[0]


KERAS_FILES = os.path.join(os.path.dirname(__file__), "keras_files")


def keras_expect(name: str):
    """A Keras fixture's .expect.npz (make_keras_files.py): its input, Keras' predict and split."""
    import numpy as np

    return np.load(os.path.join(KERAS_FILES, name.rsplit(".", 1)[0] + ".expect.npz"))


def keras_split(path: str) -> tuple[int, int, int]:
    """Our report's Keras split of a file: total, trainable, non-trainable, as the npz's `params`."""
    from cnncost import api

    k = api.analyze(path).totals["framework_params"]
    return k["total"], k["trainable"], k["non_trainable"]


def keras_predict_error(path: str, e) -> float:
    """`run` on a file's own weights against Keras' predict on the npz's input: the largest
    error of the first output, relative to max(1, its largest value)."""
    import numpy as np

    from cnncost import api
    from cnncost.runtime import executor
    from cnncost.sources import open_source

    graph = api.analyze(path).graph
    result = executor.run(graph, e["input"], executor.weights_for(graph, open_source(path, with_weights=True)))
    ours, ref = list(result.outputs.values())[0], e["output0"]
    assert ours.shape == ref.shape
    return float(np.max(np.abs(ours - ref))) / max(1.0, float(np.max(np.abs(ref))))
