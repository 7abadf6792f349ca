"""Fuzzing: mutated bundled specs must end in success, or in one CnnCostError line with a
location (exit 2 on the command line) -- never another exception, never a hang.

CI profile: CNNCOST_FUZZ_EXAMPLES (default 200) examples per mutation class; a longer run
is one variable away: CNNCOST_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py
"""
import os
import re
import signal
from collections import Counter

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncost.render import report as render
from cnncost.api import analyze
from cnncost.analyses.check import check_expect
from cnncost.cli import cli
from cnncost.errors import CnnCostError
from cnncost.spec import parse_spec

from fuzzing import MUTATORS, SPECS, mutate

EXAMPLES = int(os.environ.get("CNNCOST_FUZZ_EXAMPLES", "200"))
SECONDS_PER_CASE = 10
LOCATED = re.compile(r"^(fuzz\.yaml|cnncost/blocks\.yaml):\d+:\d+: ")
OUTCOMES: Counter = Counter()


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def outcome(text) -> str:
    """'ok' or 'error'; raises on a crash, a hang or an unlocated / multi-line message."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS_PER_CASE)
    try:
        spec = parse_spec(text, "fuzz.yaml")
        report = analyze(spec)
        render.to_json(report)
        render.to_csv(report, depth=2)
        if spec.expect:
            try:
                check_expect(report, spec.expect)
            except CnnCostError:
                pass
        return "ok"
    except CnnCostError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert LOCATED.match(message), f"error without a location: {message}"
        return "error"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("mutator", list(MUTATORS))
def test_fuzz_mutation_class(mutator):
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(seed=st.integers(0, 2**32 - 1), spec=st.sampled_from(sorted(SPECS)))
    def run(seed, spec):
        text = mutate(seed, mutator, spec)
        OUTCOMES[(mutator, outcome(text))] += 1

    run()


@pytest.mark.parametrize("mutator", list(MUTATORS))
def test_fuzz_through_the_cli_exit_codes(tmp_path, mutator):
    """A few cases per class through the real command: exit 0 or 2, no traceback."""
    runner = CliRunner()
    for seed in range(5):
        text = mutate(seed, mutator, "resnet18" if seed % 2 else "googlenet")
        path = tmp_path / "fuzz.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        r = runner.invoke(cli, ["report", str(path), "--format", "json"])
        assert r.exit_code in (0, 2), (r.output, r.exception)
        assert "Traceback" not in r.output
        if r.exit_code == 2:
            assert r.output.startswith("error: ") and r.output.count("\n") == 1


def test_report_outcome_counts(capsys):
    """Prints how many cases of each class ended in success or in a located error."""
    if OUTCOMES:
        with capsys.disabled():
            print("\nfuzz outcomes:", dict(sorted(OUTCOMES.items())))
