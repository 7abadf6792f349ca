"""Wall-clock timing of a repeated call, one way for every command that measures (calibrate,
latency, onnxruntime's forward): a warm-up run left out, then `repeat` timed runs."""
from __future__ import annotations

import time
from collections.abc import Callable


def times(fn: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    """Seconds of each of `repeat` runs of `fn`, after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """The fastest run: what a kernel costs when nothing else is in the way."""
    return min(times(fn, repeat))
