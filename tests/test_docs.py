"""Every YAML example in docs/spec.md is a runnable spec (and its expectations hold)."""
import re
from pathlib import Path

import pytest

import cnncost
from cnncost.analyses.check import check_expect

DOC = Path(__file__).resolve().parent.parent / "docs" / "spec.md"
EXAMPLES = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)


def test_docs_have_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_doc_example_runs(index):
    spec = cnncost.parse_spec(EXAMPLES[index], f"spec.md example {index}")
    report = cnncost.analyze(spec)
    assert report.totals["layers"] > 0
    if spec.expect:
        assert all(item.ok for item in check_expect(report, spec.expect))


README = Path(__file__).resolve().parent.parent / "README.md"
PYTHON = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_readme_python_runs(index):
    """The README's Python examples run as written (and their test functions pass)."""
    scope: dict = {}
    exec(compile(PYTHON[index], f"README.md python block {index}", "exec"), scope)
    for name, fn in list(scope.items()):
        if name.startswith("test_") and callable(fn):
            fn()


def test_readme_python_uses_only_the_api():
    import cnncost.api
    for block in PYTHON:
        for name in re.findall(r"cnncost\.(\w+)", block):
            assert name in cnncost.api.__all__ or name == "to_text", name


def test_readme_kinds_table_is_the_registry():
    """The README's per-kind table is generated from the registry: regenerate it with
    `cnncost kinds --format markdown` when a kind changes."""
    from cnncost import api
    text = README.read_text()
    table = text.split("<!-- kinds table: generated")[1].split("-->", 1)[1].split("<!-- end kinds table -->")[0]
    from cnncost.render import render
    assert [l.strip() for l in table.strip().splitlines()] == render(api.kinds(), "markdown").strip().splitlines()


def test_readme_bundled_table_is_the_bundled_specs():
    """Names, `--set` variables and sources come from the specs: regenerate the table with
    `cnncost list --format markdown` when a spec changes."""
    from cnncost import api
    from cnncost.render import render
    text = README.read_text()
    table = text.split("<!-- bundled table: generated")[1].split("-->", 1)[1].split("<!-- end bundled table -->")[0]
    assert table.strip() == render(api.bundled(), "markdown").strip()


def test_readme_console_examples_are_what_the_tool_prints():
    """The marked console examples are regenerated from the tool (`python
    tests/readme_examples.py` rewrites them); a change of output fails here, not in a reader."""
    import readme_examples
    text = README.read_text()
    assert text.count(readme_examples.MARK) >= 5
    assert readme_examples.regenerate(text) == text, "README examples drifted: run python tests/readme_examples.py"


def test_readme_regeneration_catches_drift():
    import readme_examples
    block = f"{readme_examples.MARK}\n```console\n$ cnncost report separable_example --format csv\nname,kind\n...\nnormal,conv,4x4x5\n```\n"
    with pytest.raises(readme_examples.Drift, match="no longer in its output"):
        readme_examples.regenerate(block)
    whole = f"{readme_examples.MARK}\n```console\n$ cnncost report separable_example --format csv\nold\n```\n"
    assert "depthwise,depthwise_conv,4x4x3" in readme_examples.regenerate(whole)
