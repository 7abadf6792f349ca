"""A counted sweep's cells on Dask's distributed scheduler (optional extra `dask`): for
grids a formula cannot express (widths, depths, a factory's arguments) that outgrow one
machine. The spec is sent to the workers once (scattered), each cell is one task of the
same function the local pool runs, results return in the grid's order."""
from __future__ import annotations

from cnncost.errors import CnnCostError


def on_scheduler(address: str, spec, tasks: list, cell):
    """(combo, result) of every task, counted by `cell(task, spec)` on the cluster at
    `address` (tcp://host:8786, or a dask.distributed.Client's own scheduler)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise CnnCostError("--scheduler needs Dask's distributed scheduler: pip install 'cnncost[dask]'") from None
    try:
        client = Client(address, timeout=5)
    except (OSError, TimeoutError) as exc:
        raise CnnCostError(f"--scheduler {address}: no Dask scheduler answers there ({exc})") from None
    try:
        shared = client.scatter(spec, broadcast=True)
        futures = client.map(cell, tasks, spec=shared, pure=False)
        for future in futures:            # in the grid's order
            yield future.result()
    finally:
        client.close()
