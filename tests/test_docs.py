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
