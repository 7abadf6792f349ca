"""Which sizes of a network are free, and how to count it at any of them: a spec's
variables that its `input:` is written with (`[$resolution, $resolution, 3]`), or a model
file's spatial axes (H and W of an image, T of a sequence, D, H, W of a volume), and N, the
batch, for both."""
from __future__ import annotations

import re
from typing import Callable

from cnncost.errors import SpecError

AXES = {4: ("H", "W"), 3: ("T",), 5: ("D", "H", "W")}     # the spatial axes of a file's input by rank
MAX_SIZE = 2 ** 31 - 1


def spec_variables(spec) -> dict:
    """{name: default} of the variables a spec's input is written with."""
    raw = spec.input if isinstance(spec.input, (list, tuple)) else []
    names = []
    for entry in raw:
        for name in re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", str(entry)):
            if name not in names:
                names.append(name)
    return {n: spec.vars[n] for n in names if n in spec.vars and isinstance(spec.vars[n], int)}


def spec_counter(spec, analyze: Callable, overrides: dict, **options) -> tuple[dict, Callable]:
    """(free sizes with their values, sizes -> Report) of a spec."""
    free = {**spec_variables(spec), "N": 1}
    fixed = {k: v for k, v in overrides.items() if k != "N"}
    for name in list(free):
        if name in fixed:
            free[name] = int(fixed.pop(name))
    if len(free) == 1:
        raise SpecError(f"{spec.name}: its input is not written with variables ($name): its cost varies with the "
                        "batch only; write the input as [$resolution, $resolution, 3] to get it as a formula of size")

    def count(sizes: dict):
        return analyze(spec, overrides={**fixed, **{k: v for k, v in sizes.items() if k != "N"}}, batch=sizes["N"],
                       **options)
    return free, count


def file_counter(opened_at: Callable, probe_shape: tuple, channels_first: bool) -> tuple[dict, Callable]:
    """(free sizes, sizes -> Report) of a model file read at `probe_shape` (its --input-shape,
    batch first): the spatial axes by the input's rank and N."""
    rank = len(probe_shape)
    names = AXES.get(rank)
    if names is None:
        raise SpecError(f"an input of rank {rank}: formula takes images, sequences and volumes (ranks 3, 4, 5)")
    spatial = list(range(2, rank)) if channels_first else list(range(1, rank - 1))
    if rank == 3 and not channels_first:
        spatial = [1]
    free = {name: probe_shape[axis] for name, axis in zip(names, spatial)}
    free["N"] = probe_shape[0]

    def count(sizes: dict):
        shape = list(probe_shape)
        shape[0] = sizes["N"]
        for name, axis in zip(names, spatial):
            shape[axis] = sizes[name]
        return opened_at(tuple(shape))
    return free, count
