"""The check every hostile-file test makes: the CLI refuses the file in one line of stderr,
exit 2, naming the file and what is wrong, within 5 s, and never with a traceback."""
from __future__ import annotations

import time

from click.testing import CliRunner

from cnncost.cli import cli


def refused(target: str, *needles, command: str = "report") -> str:
    start = time.perf_counter()
    r = CliRunner().invoke(cli, [command, target])
    seconds = time.perf_counter() - start
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), r.output
    for needle in (target, *needles):
        assert needle in lines[0], lines[0]
    assert seconds < 5, seconds
    return lines[0]
