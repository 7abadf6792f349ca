"""`cnncost sweep`: one metric over a grid of variable values (MobileNet Tables 6-7)."""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

from cnncost.errors import LimitError, SpecError

from cnncost.analyses.sweep_metrics import METRICS as METRICS   # re-exported: the API names it here


@dataclass
class Grid:
    spec: str              # the SPEC as the user gave it
    names: list[str]
    values: list[list]
    cells: dict            # tuple of values -> {metric: value}


def parse_axes(pairs) -> tuple[list[str], list[list]]:
    """The grid's axes: the command line's `NAME=V1,V2,...` texts (each a --set), or from
    Python a mapping {NAME: [V1, V2, ...]} (a single value, or the text "V1,V2", too)."""
    if isinstance(pairs, Mapping):
        return _parse_mapping(pairs)
    names, values = [], []
    for pair in pairs:
        if not isinstance(pair, str):
            raise SpecError(f"sweep axis {pair!r}: expected 'NAME=V1,V2,...' or a mapping {{NAME: [V1, V2, ...]}}")
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not text.strip():
            raise SpecError(f"bad --set '{pair}': expected NAME=V1,V2,...")
        if name in names:
            raise SpecError(f"--set {name} given twice")
        names.append(name)
        items = [v.strip() for v in text.split(",")]
        if not all(items):
            raise SpecError(f"bad --set '{pair}': an empty value between commas")
        from cnncost.core.options import parse_override
        values.append([x for v in items for x in (_integer_range(name, v) or [parse_override(v)])])
    if not names:
        raise SpecError("sweep needs at least one --set NAME=V1,V2,...")
    return names, values


def _integer_range(name: str, text: str) -> range | None:
    """'96..1095' (both ends included) or '96..1095:8' (every 8th), else None."""
    import re

    m = re.fullmatch(r"(\d+)\.\.(\d+)(?::(\d+))?", text)
    if m is None:
        return None
    lo, hi, step = int(m[1]), int(m[2]), int(m[3] or 1)
    if hi < lo or step < 1:
        raise SpecError(f"--set {name}={text}: a range is LOW..HIGH (or LOW..HIGH:STEP) with LOW <= HIGH")
    return range(lo, hi + 1, step)


def _parse_mapping(axes: Mapping) -> tuple[list[str], list[list]]:
    """{NAME: values} from the Python API, refused in its own words (there is no --set)."""
    from cnncost.core.options import parse_override

    names, values = [], []
    for name, vals in axes.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"sweep axis {name!r}: a variable name (an identifier) maps to its values")
        if isinstance(vals, str):
            items = [v.strip() for v in vals.split(",")]
            if not all(items):
                raise SpecError(f"sweep axis '{name}': an empty value between commas in {vals!r}")
            vals = [parse_override(v) for v in items]
        elif isinstance(vals, (list, tuple, range)):
            vals = list(vals)
        else:
            vals = [vals]
        if not vals:
            raise SpecError(f"sweep axis '{name}': no values (give a list, e.g. {{'{name}': [1, 2]}})")
        names.append(name)
        values.append(vals)
    if not names:
        raise SpecError("sweep needs at least one axis: a mapping {NAME: [V1, V2, ...]}, "
                        "e.g. {'resolution': [128, 160, 192]}")
    return names, values


def axis_word(pairs, name: str) -> str:
    """How a message names one axis: as its --set on the command line, as itself from Python."""
    return f"sweep axis '{name}'" if isinstance(pairs, Mapping) else f"--set {name}"


def grid_size(values) -> int:
    return math.prod(len(v) for v in values)


_WORKER_SPEC: list = []      # a worker process's spec, given once when the pool starts it


def _start_worker(spec) -> None:
    _WORKER_SPEC.append(spec)


def _cell(args, spec=None):
    names, combo, limits = args
    from cnncost.core.analysis import analyze

    sets = dict(zip(names, combo))
    batch = sets.pop("batch", None)          # the batch is the report's, not a spec variable
    t = analyze(spec if spec is not None else _WORKER_SPEC[0], overrides=sets, batch=batch, limits=limits).totals
    return combo, {k: t[k] for k in METRICS}


def check_grid(values, limits, from_formula: bool = False) -> int:
    """The number of cells, refused above --limit max_sweep_cells before any work (a sweep
    evaluated from a formula is checked against max_formula_cells where it is made)."""
    cells = grid_size(values)
    if from_formula and cells > limits.max_formula_cells:
        raise LimitError(f"the grid has {cells:,} cells, more than the limit of {limits.max_formula_cells:,} "
                         f"(raise it with --limit max_formula_cells={cells})")
    if cells > limits.max_sweep_cells and not from_formula:
        raise LimitError(f"the grid has {cells:,} cells, more than the limit of {limits.max_sweep_cells:,} "
                         f"(raise it with --limit max_sweep_cells={cells})")
    return cells


def workers(jobs: int, cells: int) -> int:
    """Never more worker processes than cells left after the first, or CPUs."""
    import os

    return max(1, min(jobs, cells - 1, os.cpu_count() or 1))


def sweep(spec, label: str, pairs, *, jobs: int = 1, on_cell=None, limits=None, scheduler: str | None = None) -> Grid:
    """`spec` (an ArchSpec, parsed once) over the grid; worker processes are handed it when
    they start, or, with `scheduler` (a Dask distributed scheduler's address), Dask's
    workers each get it once and count the cells."""
    from cnncost.spec.limits import DEFAULT

    limits = limits or DEFAULT
    names, values = parse_axes(pairs)
    jobs = workers(jobs, check_grid(values, limits))
    combos = list(itertools.product(*values))
    tasks = [(names, combo, limits) for combo in combos]
    # the first cell runs here, so a bad spec or variable fails once, in this process
    first, result = _cell(tasks[0], spec)
    cells = {first: result}
    if on_cell:
        on_cell()
    rest = tasks[1:]
    if scheduler is not None:
        from cnncost.analyses.sweep_dask import on_scheduler
        for combo, result in on_scheduler(scheduler, spec, rest, _cell):
            cells[combo] = result
            if on_cell:
                on_cell()
    elif jobs > 1 and len(rest) > 1:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker, initargs=(spec,)) as pool:
            results = pool.map(_cell, rest, chunksize=max(1, len(rest) // (4 * jobs)))
            for combo, result in results:
                cells[combo] = result
                if on_cell:
                    on_cell()
    else:
        for task in rest:
            combo, result = _cell(task, spec)
            cells[combo] = result
            if on_cell:
                on_cell()
    return Grid(label, names, values, cells)


SHAPE_AXES = ("batch", "resolution")


def sweep_shapes(label: str, model_at, base_shape, pairs, *, on_cell=None, limits=None) -> Grid:
    """A model that has no variables (a PyTorch module) over the batch and the resolution:
    `model_at(shape)` gives what `analyze` reads for one NCHW input shape. In this process
    (a live module does not travel to workers)."""
    from cnncost.core.analysis import analyze
    from cnncost.spec.limits import DEFAULT

    limits = limits or DEFAULT
    names, values = parse_axes(pairs)
    wrong = [n for n in names if n not in SHAPE_AXES]
    if wrong:
        raise SpecError(f"a PyTorch module is swept over {' and '.join(SHAPE_AXES)} (its input shape), "
                        f"not {', '.join(wrong)}")
    if base_shape is None or len(base_shape) != 4:
        raise SpecError("sweeping a PyTorch module needs its NCHW input shape (input_shape=(1, 3, 224, 224), "
                        "--input-shape 1x3x224x224): the axes change its N and its H x W")
    for name, vals in zip(names, values):
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in vals):
            raise SpecError(f"{axis_word(pairs, name)}: positive integers, received {vals}")
    check_grid(values, limits)
    cells = {}
    for combo in itertools.product(*values):
        chosen = dict(zip(names, combo))
        n, c, h, w = base_shape
        n = chosen.get("batch", n)
        h, w = (chosen["resolution"],) * 2 if "resolution" in chosen else (h, w)
        t = analyze(model_at((n, c, h, w)), limits=limits).totals
        cells[combo] = {k: t[k] for k in METRICS}
        if on_cell:
            on_cell()
    return Grid(label, names, values, cells)


def to_dict(grid: Grid) -> dict:
    return {"spec": grid.spec, "axes": dict(zip(grid.names, grid.values)),
            "cells": [{**dict(zip(grid.names, combo)), **vals} for combo, vals in grid.cells.items()]}
