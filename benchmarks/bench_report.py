"""Report-path performance, printed as ratios against baselines measured in the same run.

1. Wall time of `cnncost report resnet18` and `resnet152 --format json` as subprocesses
   next to bare `python -c pass` (target: resnet18 under 0.3 s; numpy must not be imported
   on this path). The start-up goals, against the floor of the stack (click, PyYAML, rich)
   rather than bare Python, are benchmarks/bench_startup.py's. Run it from a regular install (an
   editable install adds its import hook to every interpreter start).
2. Analysis time of synthetic sequential and residual graphs of 1k, 10k and 100k layers
   (target: linear in layers; 10k layers under 1 s), with YAML parsing timed apart.

Run: python benchmarks/bench_report.py [--quick]
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time

import cnncost
from cnncost.spec.limits import Limits
from cnncost.spec import parse_spec


def wall(cmd, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sequential_yaml(n):
    lines = ["input: [16, 16, 8]", "layers:"]
    for i in range(n):
        if i % 2 == 0:
            lines.append(f"  - {{name: c{i}, kind: conv, filters: 8, kernel: 3, padding: same, bias: false}}")
        else:
            lines.append(f"  - {{name: r{i}, kind: relu}}")
    return "\n".join(lines) + "\n"


def residual_yaml(n):
    # each unit: conv, relu, add(unit input) = 3 layers
    lines = ["input: [16, 16, 8]", "layers:", "  - {name: stem, kind: relu}"]
    prev = "stem"
    for i in range(n // 3):
        lines += [f"  - {{name: c{i}, kind: conv, filters: 8, kernel: 3, padding: same, bias: false}}",
                  f"  - {{name: r{i}, kind: relu}}",
                  f"  - {{name: a{i}, kind: add, inputs: [r{i}, {prev}]}}"]
        prev = f"a{i}"
    return "\n".join(lines) + "\n"


def time_analysis(text, runs=3):
    limits = Limits(max_layers=10**6)
    parse_t, analyse_t = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        spec = parse_spec(text, "synthetic.yaml", max_bytes=len(text))
        t1 = time.perf_counter()
        report = cnncost.analyze(spec, limits=limits)
        t2 = time.perf_counter()
        parse_t.append(t1 - t0)
        analyse_t.append(t2 - t1)
    return statistics.median(parse_t), statistics.median(analyse_t), report.totals["layers"]


def main():
    quick = "--quick" in sys.argv
    runs = 5 if quick else 15
    base = wall([sys.executable, "-c", "pass"], runs)
    rep = wall([sys.executable, "-m", "cnncost", "report", "resnet18", "--format", "json"], runs)
    big = wall([sys.executable, "-m", "cnncost", "report", "resnet152", "--format", "json"], runs)
    imp = wall([sys.executable, "-c", "import cnncost.cli"], runs)
    imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "cnncost", "report", "resnet18",
                              "--format", "json"], capture_output=True, text=True).stderr
    numpy_loaded = any(line.rstrip().endswith(" numpy") for line in imports.splitlines())
    print(f"python -c pass                          {base * 1000:8.1f} ms")
    print(f"cnncost report resnet18 --format json   {rep * 1000:8.1f} ms  "
          f"({rep / base:.1f}x bare python; target < 300 ms: {'met' if rep < 0.3 else 'NOT met'})")
    print(f"cnncost report resnet152 --format json  {big * 1000:8.1f} ms  "
          f"({big / base:.1f}x bare python; against the stack's floor: bench_startup.py)")
    print(f"import cnncost.cli                      {imp * 1000:8.1f} ms  ({(imp - base) * 1000:.0f} ms over bare python)")
    print(f"numpy imported on the report path: {'yes (BAD)' if numpy_loaded else 'no'}")
    print()
    print(f"{'graph':12s} {'layers':>8s} {'parse s':>9s} {'analyse s':>10s} {'us/layer':>9s}")
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    per_layer = {}
    for label, make in (("sequential", sequential_yaml), ("residual", residual_yaml)):
        for n in sizes:
            p, a, layers = time_analysis(make(n), runs=1 if n >= 100_000 else 3)
            per_layer[(label, n)] = a / layers
            print(f"{label:12s} {layers:8d} {p:9.3f} {a:10.3f} {a / layers * 1e6:9.1f}")
    for label in ("sequential", "residual"):
        lo, hi = per_layer[(label, sizes[0])], per_layer[(label, sizes[-1])]
        print(f"{label}: time per layer at {sizes[-1]:,} vs {sizes[0]:,} layers = {hi / lo:.2f}x "
              "(1.0 = perfectly linear)")
    print(f"cnncost {cnncost.__version__}, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
