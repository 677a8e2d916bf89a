"""End to end: ``irkit open`` on demo evidence, the archive it leaves, and ``irkit verify``.

One default-scenario run and one "quiet" run (no errors at all, one deployment, no attackers:
the edge cases) of the same incident are shared by these tests (see ``incident_support``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from incident_support import ID, SENTINEL, demo_runs, irkit, open_args, snapshot

from irkit.incident import archive as arc

pytestmark = pytest.mark.xdist_group("e2e")

SPEC_KEYS = {"incident_id", "severity", "generated_at", "irkit_version", "window", "events",
             "error_onset", "suspect_deployments", "top_patterns", "latency_ms", "impact",
             "security", "timeline"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    return demo_runs(tmp_path_factory)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_layout_and_json_result(runs) -> None:
    run = Path(runs.first["run_dir"])
    assert run.parent == runs.archive / ID / "runs"
    for rel in ("findings.json", "manifest.json", "evidence/evidence.json",
                "tables/events.parquet", "tables/deployments.parquet", "tables/metrics.parquet",
                "tables/rejected.parquet", "reports/pir.md", "reports/blocklist.csv"):
        assert (run / rel).is_file(), rel
    for name in ("investigation", "security_evidence", "pir"):
        assert (run / "notebooks" / f"{name}.ipynb").is_file()
        assert str(run / "reports" / f"{name}.html") in runs.first["reports"]
    assert runs.first["ok"] is True
    assert set(runs.first["findings"]) >= SPEC_KEYS


def test_evidence_is_byte_for_byte(runs) -> None:
    run = Path(runs.first["run_dir"])
    inventory = json.loads((run / "evidence/evidence.json").read_text())["files"]
    originals = {Path(item["original_path"]).name: item for item in inventory}
    for src in [*sorted((runs.raw / "logs").iterdir()), runs.raw / "deployments.json",
                runs.raw / "metrics.prom", runs.raw / "traces.json"]:
        item = originals[src.name]
        assert (run / item["path"]).read_bytes() == src.read_bytes()
        assert item["sha256"] == sha(src)


def test_findings_come_from_the_package(runs) -> None:
    findings = runs.first["findings"]
    assert findings["incident_id"] == ID and findings["severity"] == "SEV-2"
    assert findings["events"]["errors"] > 0
    assert findings["error_onset"] is not None
    assert findings["suspect_deployments"], "the bad deploy should be a suspect"
    quiet = runs.second["findings"]
    assert quiet["events"]["errors"] == 0 and quiet["error_onset"] is None
    assert quiet["security"]["suspicious_ips"] == []


def test_templates_ran_on_edge_case_without_errors(runs) -> None:
    run = Path(runs.second["run_dir"])
    assert runs.second["ok"] is True, runs.second["templates"]
    for name in ("investigation", "security_evidence", "pir"):
        nb = nbformat.read(run / "notebooks" / f"{name}.ipynb", as_version=4)
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, (name, errors[:1])
        assert nb.metadata["papermill"]["parameters"]["events_path"] == "../tables/events.parquet"


def test_manifest_and_chain(runs) -> None:
    first, second = Path(runs.first["run_dir"]), Path(runs.second["run_dir"])
    manifest = json.loads((second / "manifest.json").read_text())
    assert manifest["previous_run"] == first.name
    assert manifest["previous_manifest_sha256"] == sha(first / "manifest.json")
    listed = set(manifest["files"])
    on_disk = {p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file()}
    assert listed == on_disk - {"manifest.json"}
    assert manifest["params"]["severity"] == "SEV-2"
    assert {"started_at", "finished_at", "seconds"} <= set(manifest["times"])
    assert manifest["command"][:2] == ["irkit", "open"]
    result = irkit("verify", str(runs.archive / ID))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("intact:") == 2


def test_second_run_never_touches_the_first(runs) -> None:
    first = Path(runs.first["run_dir"])
    assert snapshot(first) == runs.first_manifest_before
    assert runs.first["run_dir"] != runs.second["run_dir"]


def test_sentinel_token_in_no_archived_file(runs) -> None:
    needle = SENTINEL.encode()
    for path in (runs.archive / ID).rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path


def test_verify_names_changed_deleted_and_added_files(runs, tmp_path: Path) -> None:
    src = Path(runs.first["run_dir"])
    copy = tmp_path / src.name
    shutil.copytree(src, copy)
    arc.make_writable(copy)
    assert irkit("verify", str(copy)).returncode == 0
    target = copy / "tables" / "events.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x40
    target.write_bytes(bytes(data))
    (copy / "reports" / "pir.md").unlink()
    (copy / "reports" / "extra.html").write_text("<p>planted</p>")
    result = irkit("verify", str(copy))
    assert result.returncode == 1
    assert f"changed: {copy / 'tables/events.parquet'}" in result.stdout
    assert f"missing: {copy / 'reports/pir.md'}" in result.stdout
    assert f"extra: {copy / 'reports/extra.html'}" in result.stdout
    assert "3 problem(s)" in result.stderr


def test_reports_small_enough(runs) -> None:
    for report in runs.first["reports"]:
        assert Path(report).stat().st_size <= 8 * 1024 * 1024, report


def test_archived_files_are_read_only(runs) -> None:
    run = Path(runs.first["run_dir"])
    assert all(not p.stat().st_mode & 0o222 for p in run.rglob("*"))


@pytest.mark.parametrize("bad", ["../x", "incident-2025-02-30-001", "incident-25-01-31-001"])
def test_bad_incident_id_exit_2(bad: str, tmp_path: Path) -> None:
    log = tmp_path / "a.ndjson"
    log.write_text("{}\n")
    result = irkit("open", bad, "--severity", "SEV-2", "--logs", str(log),
                   "--archive", str(tmp_path / "arch"))
    assert result.returncode == 2
    assert "incident id" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "arch").exists() or not any((tmp_path / "arch").rglob("*.json"))


def test_missing_input_exit_2(tmp_path: Path) -> None:
    result = irkit("open", ID, "--severity", "SEV-2", "--logs", str(tmp_path / "nope.ndjson"),
                   "--archive", str(tmp_path / "arch"))
    assert result.returncode == 2 and "nope.ndjson" in result.stderr


def test_secret_in_evidence_fails_loudly_and_leaves_no_run(runs, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(runs.quiet_raw, raw)
    leaky = raw / "logs" / "drain-1.ndjson"
    with open(leaky, "a") as fh:
        fh.write(json.dumps({"message": f"token={SENTINEL}"}) + "\n")
    archive = tmp_path / "arch"
    result = irkit(*open_args(raw, archive), env={"VERCEL_TOKEN": SENTINEL})
    assert result.returncode == 3, result.stderr
    assert "VERCEL_TOKEN" in result.stderr and "drain-1.ndjson" in result.stderr
    assert SENTINEL not in result.stderr + result.stdout
    assert arc.list_runs(arc.archive_root(archive), ID) == []
    assert not list((archive / ID / "runs").iterdir())


def test_logs_alone_are_a_whole_incident(runs, tmp_path: Path) -> None:
    """A runbook that has only drain logs at hand (no deployments, metrics or traces) still
    gets its run: empty side tables, findings, three reports, an intact manifest."""
    archive = tmp_path / "arch"
    logs = sorted((runs.quiet_raw / "logs").glob("*.ndjson"))
    result = irkit("open", ID, "--severity", "SEV-3", "--logs", *map(str, logs),
                   "--archive", str(archive), "--json")
    assert result.returncode == 0, result.stderr
    (run,) = arc.list_runs(arc.archive_root(archive), ID)
    findings = json.loads((run / "findings.json").read_text())
    assert findings["events"]["total"] > 0 and findings["suspect_deployments"] == []
    assert all((run / "reports" / f"{name}.html").is_file()
               for name in ("investigation", "security_evidence", "pir"))
    assert irkit("verify", str(run)).returncode == 0


def test_template_workers_follow_evidence_size_and_environment(tmp_path: Path,
                                                               monkeypatch) -> None:
    from irkit.errors import IrkitError
    from irkit.incident import runner

    log = tmp_path / "drain.ndjson"
    log.write_bytes(b"{}\n" * 1000)
    monkeypatch.delenv("IRKIT_TEMPLATE_WORKERS", raising=False)
    assert runner.template_workers({"logs": [log]}) == len(runner.TEMPLATES)
    monkeypatch.setattr(runner, "PARALLEL_TEMPLATES_MAX_BYTES", 100)  # "big" evidence
    assert runner.template_workers({"logs": [log]}) == 1
    monkeypatch.setenv("IRKIT_TEMPLATE_WORKERS", "2")
    assert runner.template_workers({"logs": [log]}) == 2
    monkeypatch.setenv("IRKIT_TEMPLATE_WORKERS", "9")
    assert runner.template_workers({"logs": [log]}) == len(runner.TEMPLATES)
    monkeypatch.setenv("IRKIT_TEMPLATE_WORKERS", "none")
    with pytest.raises(IrkitError, match="IRKIT_TEMPLATE_WORKERS"):
        runner.template_workers({"logs": [log]})
