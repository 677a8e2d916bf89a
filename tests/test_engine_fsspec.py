"""Partitions on shared storage end to end: ``irkit open --partitions s3://…`` on a real S3 API.

A moto server on 127.0.0.1 plays S3 (real HTTP, real S3 API); credentials and the endpoint come
from the environment only, as they would on a cluster.  The findings with partitions in S3 —
written and read by this process, or by the two worker processes of a real ``LocalCluster`` —
must equal a run on local disk; a load killed half-way into S3 is refused; a bad URL or an
unreachable endpoint is one line naming it, before anything is written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from incident_support import generate, irkit, open_args
from test_engine_storage import BUCKET, s3_endpoint  # noqa: F401  (the moto server fixture)

from irkit.engine import get_engine
from irkit.engine.partitions import MARKER, load_partitions, open_partitions, start_partitions
from irkit.engine.storage import Storage, public_url
from irkit.errors import IrkitError

pytestmark = pytest.mark.xdist_group("moto-s3")

#: A secret access key that must appear nowhere in an archived run (moto accepts any key).
AWS_SECRET = "irkit-aws-secret-sentinel-5d1e9b"


@pytest.fixture
def aws_env(s3_endpoint, monkeypatch):  # noqa: F811
    """The moto endpoint and credentials in this process's environment (inherited by the CLI
    subprocesses and by LocalCluster workers started afterwards)."""
    import fsspec

    for key, value in {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "irkit-test",
                       "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    for key in ("IRKIT_PARTITIONS", "IRKIT_ENGINE", "IRKIT_SCHEDULER"):
        monkeypatch.delenv(key, raising=False)
    fsspec.filesystem("s3").clear_instance_cache()
    yield s3_endpoint
    fsspec.filesystem("s3").clear_instance_cache()


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """The generated demo incident (logs, deployments, metrics, traces) in fixed file names."""
    return generate(tmp_path_factory.mktemp("fsspec-demo") / "raw", "default")


def _inputs(raw: Path) -> dict[str, list[Path]]:
    return {"logs": sorted((raw / "logs").iterdir()), "deployments": [raw / "deployments.json"],
            "metrics": [raw / "metrics.prom"], "traces": [raw / "traces.json"]}


def _without_clock(findings: dict) -> dict:
    return {k: v for k, v in findings.items() if k != "generated_at"}


@pytest.fixture(scope="module")
def local_run(raw, tmp_path_factory) -> dict:
    """The data half of ``irkit open`` on local disk (default partitions): the reference."""
    from irkit.incident.ingest import ingest_evidence

    run_dir = tmp_path_factory.mktemp("fsspec-local-run")
    ingest_evidence(_inputs(raw), run_dir, incident_id="incident-2025-01-31-001",
                    severity="SEV-2", engine="local")
    return {"findings": json.loads((run_dir / "findings.json").read_text()),
            "events": run_dir / "tables" / "events.parquet", "run_dir": run_dir}


def test_open_with_s3_partitions_matches_local_run(aws_env, raw, local_run, tmp_path):
    import pandas as pd

    base = f"s3://{BUCKET}/{tmp_path.name}/runs"
    out = irkit(*open_args(raw, tmp_path / "archive"), "--engine", "local",
                "--partitions", base)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    run_dir = Path(result["run_dir"])
    assert _without_clock(result["findings"]) == _without_clock(local_run["findings"])
    assert result["findings"]["events"]["total"] > 10_000
    assert result["findings"]["suspect_deployments"]

    # the partitions are in S3, under this run's own folder, and complete
    engine = json.loads((run_dir / "manifest.json").read_text())["params"]["engine"]
    assert engine["partitions"] == f"{base}/{result['incident_id']}/{result['run_id']}/events"
    parts = open_partitions(engine["partitions"])
    assert parts.rows == open_partitions(local_run["run_dir"] / "tables" / "events").rows
    assert all(str(f).startswith(f"{base}/") for f in parts.files())
    assert not (run_dir / "tables" / "events").exists()  # nothing written locally instead
    assert not (run_dir / "tables" / ".duckdb-spill").exists()
    # the templates' table is exported into the archive as before, identical
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / "tables" / "events.parquet"),
                                  pd.read_parquet(local_run["events"]))
    # credentials only from the environment: the secret key is nowhere in the archived run
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert AWS_SECRET.encode() not in path.read_bytes(), path
    Storage.of(base).rm(recursive=True)


def test_local_cluster_with_s3_partitions_matches_local(aws_env, raw, tmp_path):
    """Two worker processes write the parts to S3 and reduce them from there."""
    from distributed import LocalCluster

    from irkit.sources import load_report

    paths = [str(p) for p in _inputs(raw)["logs"]] + [str(raw / "traces.json")]
    side = load_report([str(raw / "deployments.json"), str(raw / "metrics.prom")])
    kwargs = dict(incident_id="INC-F", severity="SEV2", deployments=side.deployments,
                  metrics=side.metrics, rejected_count=0)
    local = get_engine("local")
    local.batch_rows = 2_000  # several parts per hour and file
    lparts, lloads = local.load(paths, tmp_path / "local" / "events")
    expected = local.findings(lparts, **kwargs)

    base = f"s3://{BUCKET}/{tmp_path.name}/shared"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        engine = get_engine("dask", scheduler=cluster.scheduler_address, partitions=base,
                            batch_rows=2_000)
        engine.run_key = "INC-F/run-1"
        try:
            dparts, dloads = engine.load(paths, tmp_path / "not-used" / "events")
            writers = engine.client.run(lambda: __import__("os").getpid())
            got = engine.findings(dparts, **kwargs)
        finally:
            engine.close()
    assert len(set(writers.values())) == 2
    assert dparts.root == f"{base}/INC-F/run-1/events"
    assert not (tmp_path / "not-used").exists()
    assert [f.rows for f in dloads] == [f.rows for f in lloads]
    names = sorted(str(f).removeprefix(f"{dparts.root}/") for f in dparts.files())
    assert names == sorted(str(p.relative_to(lparts.root)) for p in lparts.files())
    assert len(names) > 3
    assert _without_clock(got) == _without_clock(expected)
    assert got["error_onset"] is not None
    Storage.of(base).rm(recursive=True)


_KILLED_LOADER = """
import sys
from irkit.engine.partitions import load_partitions
load_partitions([sys.argv[1]], sys.argv[2], batch_rows=200)
"""


def test_load_killed_half_way_into_s3_is_refused(aws_env, tmp_path):
    """A real loader process is killed once parts are in S3: its partitions must not open; a
    fresh load into the same folder clears them and opens."""
    from irkit.demo import write_drain_ndjson

    url = f"s3://{BUCKET}/{tmp_path.name}/events"
    store = Storage.of(url)
    log = str(write_drain_ndjson(tmp_path / "drain.ndjson", 30_000))  # ~150 batches of 200
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_LOADER, log, url],
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(store.glob("hour=*/part-*.parquet")) < 3:
            assert proc.poll() is None, "the loader finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert store.glob("hour=*/part-*.parquet") and not store.exists(MARKER)
    with pytest.raises(IrkitError, match=r"incomplete load \(no _SUCCESS") as info:
        open_partitions(url)
    assert url in str(info.value) and "\n" not in str(info.value)

    # the killed load's parts are cleared first: left over, they would break the row counts
    parts, loads = load_partitions([log], url, batch_rows=5_000)
    assert parts.rows == loads[0].rows > 0
    # a part removed afterwards: the marker's row counts no longer hold
    store.rm(parts.names[0])
    with pytest.raises(IrkitError, match="row counts"):
        open_partitions(url)
    store.rm(recursive=True)


def test_start_partitions_removes_only_the_layout(aws_env, tmp_path):
    """On a shared bucket the prefix may hold other things: only irkit's names are cleared."""
    store = Storage.of(f"s3://{BUCKET}/{tmp_path.name}/events")
    store.write_bytes(b"x", "hour=2026-01-01T00", "part-00000-000000.parquet")
    store.write_bytes(b"{}", MARKER)
    store.write_bytes(b"keep me", "README.txt")
    start_partitions(store)
    assert store.glob("*") == ["README.txt"]
    store.rm(recursive=True)


def _one_line_exit_2(out: subprocess.CompletedProcess[str], needle: str) -> str:
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2, out.stderr[-2000:]
    assert len(lines) == 1 and needle in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


def test_bad_partitions_url_is_one_line_before_anything_is_written(aws_env, raw, tmp_path):
    archive = tmp_path / "archive"
    out = irkit(*open_args(raw, archive), "--partitions", "nosuchproto://bucket/x")
    _one_line_exit_2(out, "nosuchproto://bucket/x")
    out = irkit(*open_args(raw, archive), env={"IRKIT_PARTITIONS": "s3://no-such-bucket-irk/x"})
    _one_line_exit_2(out, "s3://no-such-bucket-irk/x")
    assert not list(archive.rglob("findings.json"))  # no run was started
    assert not list(archive.rglob("runs/*"))


def test_unreachable_endpoint_is_one_line_naming_the_url(aws_env, raw, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    out = irkit(*open_args(raw, tmp_path / "archive"), "--partitions", f"s3://{BUCKET}/x",
                env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    line = _one_line_exit_2(out, f"s3://{BUCKET}/x")
    assert "connect" in line.lower()
    assert time.perf_counter() - t0 < 90
    assert not list((tmp_path / "archive").rglob("findings.json"))


def test_credentials_in_urls_are_refused_and_never_printed():
    with pytest.raises(IrkitError, match="password in the URL") as info:
        get_engine("local", partitions="s3://AKIAXX:topsecret@bucket/prefix")
    assert "topsecret" not in str(info.value) and "AKIAXX" not in str(info.value)
    assert public_url("s3://user@bucket/p/events?sig=abc#x") == "s3://bucket/p/events"
    assert public_url("/local/path") == "/local/path"
    from irkit.incident.runner import _public_command

    assert _public_command(["irkit", "open", "--partitions", "s3://me@b/p?sig=x",
                            "--partitions=gs://me@b/q", "--logs", "a=b.ndjson"]) == [
        "irkit", "open", "--partitions", "s3://b/p", "--partitions=gs://b/q",
        "--logs", "a=b.ndjson"]


def test_memory_url_layout_round_trip(raw, tmp_path):
    """The whole load → marker → open cycle on another fsspec filesystem (in-process)."""
    url = f"memory://{tmp_path.name}/events"
    log = str(min(_inputs(raw)["logs"], key=lambda p: p.stat().st_size))
    try:
        parts, loads = load_partitions([log], url, batch_rows=500)
        assert parts.root == Storage.of(url).url() and parts.rows == loads[0].rows > 0
        assert sum(len(v) for v in parts.by_hour().values()) == len(parts.files()) > 1
        assert all(f.startswith(f"{parts.root}/hour=") for f in parts.files())
        marker = json.loads(Storage.of(url).read_bytes(MARKER))
        assert sum(marker["hours"].values()) == parts.rows
    finally:
        Storage.of("memory://").rm(tmp_path.name, recursive=True)
