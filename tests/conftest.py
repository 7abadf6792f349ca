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
