"""What a report of a bundled network loads: the start-up goals (benchmarks/bench_startup.py)
rest on modules a report does not need staying unloaded. A regression here is a slower
start for every user, so it is tested by what is imported, never by a timing."""
import json
import os
import subprocess
import sys

NOT_ON_THE_REPORT_PATH = ("numpy", "yaml", "dataclasses", "cnncost.results.commands", "cnncost.analyses.sweep",
                          "cnncost.interop.torch.module", "csv", "textwrap")
CODE = ("import sys; sys.argv = ['cnncost'] + sys.argv[1:]\n"
        "from cnncost.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('MODULES' + __import__('json').dumps(sorted(sys.modules)))\n")


def loaded(tmp_path, *args):
    env = {**os.environ, "CNNCOST_CACHE_DIR": str(tmp_path)}
    for _ in range(2):                           # the first run fills the spec cache
        p = subprocess.run([sys.executable, "-c", CODE, *args], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return set(json.loads(p.stderr.rsplit("MODULES", 1)[1]))


def test_a_json_report_loads_nothing_it_does_not_use(tmp_path):
    modules = loaded(tmp_path, "report", "resnet50", "--format", "json")
    assert "cnncost.core.analysis" in modules
    assert sorted(m for m in NOT_ON_THE_REPORT_PATH if m in modules) == []
    assert "rich" not in modules


def test_a_table_report_loads_nothing_it_does_not_use(tmp_path):
    modules = loaded(tmp_path, "report", "resnet50")
    assert "cnncost.render.boxes" in modules
    assert sorted(m for m in NOT_ON_THE_REPORT_PATH if m in modules) == []


def test_the_cli_leaves_the_collector_on_when_imported(tmp_path):
    code = "import gc; import cnncost.cli; print(gc.isenabled())"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "True\n"
