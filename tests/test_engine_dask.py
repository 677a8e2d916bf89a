"""Dask engine on a real LocalCluster (2 worker processes): same findings as the local engine."""

from __future__ import annotations

import time

import pytest

from irkit.engine import get_engine
from irkit.errors import IrkitError

pytestmark = pytest.mark.xdist_group("engine-dask")


def test_unreachable_scheduler_names_the_address():
    t0 = time.perf_counter()
    with pytest.raises(IrkitError, match=r"tcp://127\.0\.0\.1:9") as info:
        get_engine("dask", scheduler="tcp://127.0.0.1:9")
    assert "\n" not in str(info.value)
    assert time.perf_counter() - t0 < 30


def test_dask_needs_a_scheduler(monkeypatch):
    monkeypatch.delenv("IRKIT_SCHEDULER", raising=False)
    with pytest.raises(IrkitError, match="--scheduler"):
        get_engine("dask")


def test_local_cluster_findings_match_local_engine(tmp_path):
    from distributed import LocalCluster

    from irkit.demo import generate
    from irkit.sources import load_report

    inc = generate(tmp_path / "demo", seed=5, events=8_000)
    paths = [str(p) for p in inc.logs] + [str(inc.traces)]
    side = load_report([str(inc.deployments), str(inc.metrics)])
    kwargs = dict(incident_id="INC-D", severity="SEV2", deployments=side.deployments,
                  metrics=side.metrics, rejected_count=0)

    local = get_engine("local")
    lparts, lloads = local.load(paths, tmp_path / "local" / "events")
    expected = local.findings(lparts, **kwargs)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        engine = get_engine("dask", scheduler=cluster.scheduler_address)
        try:
            dparts, dloads = engine.load(paths, tmp_path / "dask" / "events")
            workers = engine.client.run(lambda: __import__("os").getpid())
            got = engine.findings(dparts, **kwargs)
        finally:
            engine.close()
    assert len(set(workers.values())) == 2  # two real worker processes did the load
    assert [f.rows for f in dloads] == [f.rows for f in lloads]
    assert sorted(p.relative_to(dparts.root) for p in dparts.files()) == sorted(
        p.relative_to(lparts.root) for p in lparts.files())
    got.pop("generated_at")
    expected.pop("generated_at")
    assert got == expected
    assert got["error_onset"] is not None
