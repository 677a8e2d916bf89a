"""``irkit open --engine dask --scheduler ADDRESS`` as a user runs it, against a real cluster.

A ``LocalCluster`` with two worker processes is started by the test; the run's findings must
equal a default (local out-of-core engine) run of the same evidence, and the manifest must
record which engine produced them.  An unreachable scheduler is a one-line error, exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from incident_support import generate, irkit, open_args

pytestmark = pytest.mark.xdist_group("engine-dask")

_CLOCKED = ("generated_at",)


def _findings(result: dict) -> dict:
    return {k: v for k, v in result["findings"].items() if k not in _CLOCKED}


def test_open_on_dask_cluster_matches_local_engine(tmp_path: Path) -> None:
    from distributed import LocalCluster

    raw = generate(tmp_path / "raw", "default")
    local = irkit(*open_args(raw, tmp_path / "local"), "--engine", "local")
    assert local.returncode == 0, local.stderr[-3000:]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        remote = irkit(*open_args(raw, tmp_path / "dask"), "--engine", "dask",
                       "--scheduler", cluster.scheduler_address)
    assert remote.returncode == 0, remote.stderr[-3000:]
    expected, got = json.loads(local.stdout), json.loads(remote.stdout)
    assert _findings(got) == _findings(expected)
    assert got["findings"]["events"]["total"] > 10_000
    assert got["findings"]["suspect_deployments"]  # the demo's bad deploy: not an empty answer
    manifest = json.loads((Path(got["run_dir"]) / "manifest.json").read_text())
    assert manifest["params"]["engine"]["name"] == "dask"
    assert manifest["params"]["engine"]["scheduler"] == cluster.scheduler_address
    local_manifest = json.loads((Path(expected["run_dir"]) / "manifest.json").read_text())
    assert local_manifest["params"]["engine"]["name"] == "local"
    # the templates read the same events table either way
    import pandas as pd

    a = pd.read_parquet(Path(expected["run_dir"]) / "tables" / "events.parquet")
    b = pd.read_parquet(Path(got["run_dir"]) / "tables" / "events.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_open_with_unreachable_scheduler_names_it(tmp_path: Path) -> None:
    raw = tmp_path / "logs.ndjson"
    raw.write_text('{"id":"1","timestamp":1773000000000,"level":"info","message":"hi",'
                   '"source":"lambda","deploymentId":"dpl_1","projectId":"p","host":"h"}\n')
    out = irkit("open", "incident-2025-01-31-009", "--severity", "SEV-3", "--logs", str(raw),
                "--archive", str(tmp_path / "arch"), "-q",
                env={"IRKIT_ENGINE": "dask", "IRKIT_SCHEDULER": "tcp://127.0.0.1:9"})
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "tcp://127.0.0.1:9" in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not list((tmp_path / "arch").rglob("findings.json"))  # nothing half-written
