"""The scheduler a run is handed: connected, with workers, and workers that see the folders."""

import pytest

from emokd.errors import EmokdError
from emokd.evaluation.cluster import scheduler_client

distributed = pytest.importorskip("distributed")
#: a Dask cluster in this process: the slow suite, as every test that starts one
pytestmark = pytest.mark.slow


def test_workers_that_cannot_see_a_folder_are_named(tmp_path):
    missing = tmp_path / "not-shared"
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        (worker,) = cluster.workers.values()
        with pytest.raises(EmokdError, match=rf"worker\(s\) {worker.address} cannot read {missing}: the workers "
                                             "must see the data and run folders at the same paths"):
            with scheduler_client(cluster.scheduler_address, read=[missing]):
                pass
        with scheduler_client(cluster.scheduler_address, read=[tmp_path], write=[tmp_path]) as client:
            assert client.status == "running"


def test_a_scheduler_without_workers_is_named(tmp_path):
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        with pytest.raises(EmokdError, match=r"the scheduler has no worker after 1 s; start some \(dask worker \S+\)$"):
            with scheduler_client(cluster.scheduler_address, timeout_s=1):
                pass


def test_a_scheduler_file_is_read(tmp_path):
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        sched = tmp_path / "scheduler.json"
        sched.write_text('{"address": "%s"}' % cluster.scheduler_address)
        with scheduler_client(str(sched)) as client:
            assert client.scheduler.address == cluster.scheduler_address
