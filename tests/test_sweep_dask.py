"""`sweep --scheduler`: a counted sweep on Dask's distributed scheduler (optional extra
`dask`), on a LocalCluster of worker processes: the same cells as the local pool."""
import pytest
from click.testing import CliRunner

distributed = pytest.importorskip("dask.distributed")

from cnncost import api  # noqa: E402
from cnncost.cli import cli  # noqa: E402

AXES = {"alpha": [0.25, 0.5, 1.0], "resolution": [96, 128]}    # alpha changes the network: counted per cell


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def test_dask_cells_equal_the_local_pool(cluster):
    local = api.sweep("mobilenet_v2", AXES, metric="mults").grid
    remote = api.sweep("mobilenet_v2", AXES, metric="mults", scheduler=cluster.scheduler_address).grid
    assert remote.cells == local.cells and len(remote.cells) == 6


def test_the_command_line_takes_an_address_and_refuses_a_dead_one(cluster):
    r = CliRunner().invoke(cli, ["sweep", "mobilenet_v2", "--set", "alpha=0.5,1", "--scheduler",
                                 cluster.scheduler_address, "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert len(r.output.strip().splitlines()) >= 3
    bad = CliRunner().invoke(cli, ["sweep", "mobilenet_v2", "--set", "alpha=0.5,1", "--scheduler",
                                   "tcp://127.0.0.1:9"])
    assert bad.exit_code != 0 and "no Dask scheduler answers" in bad.output and "Traceback" not in bad.output
