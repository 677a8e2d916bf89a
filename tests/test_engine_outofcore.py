"""Out-of-core engine: partitions, completion marker, and findings equal to the in-memory path."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from engine_support import engine_demo

from irkit.analysis.findings import compute_findings
from irkit.engine import get_engine, settings
from irkit.engine.partitions import MARKER, load_file, open_partitions
from irkit.errors import IrkitError

pytestmark = pytest.mark.xdist_group("engine-demo")


def _without_clock(findings: dict) -> dict:
    return {k: v for k, v in findings.items() if k != "generated_at"}


@pytest.fixture(scope="module")
def demo_incident(tmp_path_factory):
    return engine_demo(tmp_path_factory.mktemp("engine-demo"))


def test_out_of_core_findings_equal_in_memory(demo_incident, tmp_path):
    inc, paths, loaded = demo_incident
    expected = compute_findings(incident_id="INC-1", severity="SEV2", events=loaded.events,
                                deployments=loaded.deployments, metrics=loaded.metrics,
                                rejected_count=len(loaded.rejected))
    engine = get_engine("local", memory_limit="1GB")
    # small batches: many parts per hour, requests split across batches and files
    engine.batch_rows = 1_000
    parts, loads = engine.load(paths, tmp_path / "events")
    assert parts.rows == len(loaded.events)
    assert len(parts.files()) > 10
    got = engine.findings(parts, incident_id="INC-1", severity="SEV2",
                          deployments=loaded.deployments, metrics=loaded.metrics,
                          rejected_count=sum(f.rejected for f in loads))
    assert _without_clock(got) == _without_clock(expected)
    # the demo's truth is found, so the equality above is not two empty answers
    assert got["suspect_deployments"][0]["deployment_id"] == inc.truth["bad_deployment_id"]
    assert got["events"]["errors"] > 0 and got["top_patterns"]


def test_hour_layout_and_marker(demo_incident, tmp_path):
    _, paths, loaded = demo_incident
    parts, _ = get_engine("local").load(paths, tmp_path / "events")
    marker = json.loads((parts.root / MARKER).read_text())
    hours = sorted(p.name for p in parts.root.glob("hour=*"))
    expected = sorted("hour=" + h for h in
                      loaded.events["timestamp"].dt.strftime("%Y-%m-%dT%H").unique())
    assert hours == expected
    assert marker["rows"] == len(loaded.events) == sum(marker["hours"].values())
    assert not list(parts.root.rglob(".*.tmp"))


def test_killed_load_is_not_complete(demo_incident, tmp_path):
    """A load that wrote parts but died before the marker is refused, not read as complete."""
    _, paths, _ = demo_incident
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    item = load_file(paths[0], str(events_dir), 0, batch_rows=500)  # parts, no marker
    assert item.rows > 0 and list(events_dir.glob("hour=*/part-*.parquet"))
    with pytest.raises(IrkitError, match="incomplete load"):
        open_partitions(events_dir)


def test_removed_part_is_detected(demo_incident, tmp_path):
    _, paths, _ = demo_incident
    parts, _ = get_engine("local").load(paths[:1], tmp_path / "events")
    parts.files()[-1].unlink()
    with pytest.raises(IrkitError, match="row counts"):
        open_partitions(parts.root)


def test_disk_full_is_one_line_error(demo_incident, tmp_path, monkeypatch):
    import errno

    import pyarrow.parquet as pq

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    _, paths, _ = demo_incident
    with pytest.raises(IrkitError, match="disk full") as info:
        get_engine("local").load(paths[:1], tmp_path / "events")
    assert str(tmp_path / "events") in str(info.value)
    assert "\n" not in str(info.value)


def test_engine_settings_from_environment(monkeypatch):
    monkeypatch.setenv("IRKIT_ENGINE", "dask")
    monkeypatch.setenv("IRKIT_SCHEDULER", "tcp://10.0.0.1:8786")
    conf = settings()
    assert (conf.name, conf.scheduler) == ("dask", "tcp://10.0.0.1:8786")
    assert settings("local").name == "local"
    with pytest.raises(IrkitError, match="expected one of"):
        settings("spark")
    with pytest.raises(IrkitError, match="memory-limit"):
        get_engine("local", memory_limit="4 gigs; DROP")


def test_window_clips_like_compute_findings(demo_incident, tmp_path):
    inc, paths, loaded = demo_incident
    start = pd.Timestamp(inc.truth["onset"]) - pd.Timedelta("20min")
    end = pd.Timestamp(inc.truth["onset"]) + pd.Timedelta("20min")
    expected = compute_findings(incident_id="I", severity="SEV3", events=loaded.events,
                                deployments=loaded.deployments, metrics=None,
                                rejected_count=0, window=(start, end))
    engine = get_engine("local")
    parts, _ = engine.load(paths, Path(tmp_path / "events"))
    got = engine.findings(parts, incident_id="I", severity="SEV3",
                          deployments=loaded.deployments, metrics=None, rejected_count=0,
                          window=(start, end))
    assert _without_clock(got) == _without_clock(expected)
    assert got["events"]["total"] < len(loaded.events)


def _drain(rid: str, ts: int, **extra) -> str:
    record = {"id": f"{ts}", "deploymentId": "dpl_1", "projectId": "prj_1", "source": "lambda",
              "host": "x.vercel.app", "timestamp": ts, "requestId": rid, "level": "info",
              "message": "hello", **extra}
    return json.dumps(record)


def test_report_line_in_another_file_fills_the_request(tmp_path):
    """A REPORT line in a later file gives the earlier rows their duration, as in pandas."""
    from irkit.analysis import buckets
    from irkit.engine import local
    from irkit.sources import load_report

    first = tmp_path / "a.ndjson"
    second = tmp_path / "b.ndjson"
    first.write_text("\n".join([
        _drain("r1", 1_773_000_000_000, source="edge", proxy={"statusCode": 200,
                                                               "clientIp": "1.2.3.4"}),
        _drain("r2", 1_773_000_001_000, level="error", message="boom 42"),
    ]) + "\n")
    second.write_text("\n".join([
        _drain("r1", 1_773_000_002_000, message="REPORT RequestId: aws-1\tDuration: 123.4 ms\t"
                                                "Billed Duration: 124 ms"),
        _drain("r2", 1_773_000_003_000, message="END RequestId: aws-2"),
    ]) + "\n")
    expected = buckets.requests(load_report([str(first), str(second)]).events)
    parts, _ = get_engine("local").load([str(first), str(second)], tmp_path / "events")
    con = local.connect()
    local.events_view(con, parts)
    got = buckets._typed(local.frame(con, local.requests_sql("ev")))
    pd.testing.assert_frame_equal(got, expected)
    assert got.loc[got["request_id"] == "r1", "duration_ms"].item() == 123.4


def test_spooled_reductions_keep_ids_on_disk_not_in_memory(demo_incident, tmp_path):
    """``spool_to``: DuckDB writes the whole request table (ids included) to Parquet, and the
    frame the analyses get leaves the ids out — with the same findings as without spooling."""
    from irkit.engine import local

    _, paths, _ = demo_incident
    engine = get_engine("local")
    parts, _ = engine.load(paths, tmp_path / "events")
    plain: dict = {}
    spooled: dict = {}
    files = {"requests": tmp_path / "requests.parquet", "security": tmp_path / "rows.parquet"}
    expected = engine.findings(parts, incident_id="I", severity="SEV3", deployments=None,
                               metrics=None, rejected_count=0, extras=plain)
    got = engine.findings(parts, incident_id="I", severity="SEV3", deployments=None,
                          metrics=None, rejected_count=0, extras=spooled, spool_to=files)
    assert _without_clock(got) == _without_clock(expected)
    on_disk = local.read_compact(files["requests"])
    assert on_disk["request_id"].notna().sum() == plain["requests"]["request_id"].notna().sum() > 0
    assert spooled["requests"]["request_id"].isna().all()
    assert list(spooled["requests"].columns) == list(plain["requests"].columns)
    assert local.read_compact(files["security"])["request_id"].notna().any()


def test_reduced_table_that_cannot_be_written_is_one_line(demo_incident, tmp_path):

    _, paths, _ = demo_incident
    engine = get_engine("local")
    parts, _ = engine.load(paths, tmp_path / "events")
    target = tmp_path / "gone" / "requests.parquet"  # its folder does not exist
    with pytest.raises(IrkitError, match=r"requests\.parquet: cannot write a reduced table"):
        engine.findings(parts, incident_id="I", severity="SEV3", deployments=None,
                        metrics=None, rejected_count=0, spool_to={"requests": target})
